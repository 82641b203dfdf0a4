/**
 * Fleet search: what a `DeviceFilter` (the `devices` query, `sendFleetCommand`) means, checked and
 * typed before anything reaches SQL. The one SQL rendering of these conditions is
 * `deviceFilterSql` in src/services/device-reads.ts; the meaning of each condition is documented in
 * docs/onboarding.md ("Fleet search") and here.
 *
 * Conditions on twin paths (`reported`, `desired`):
 *
 * - `path` names object keys from the section's root (`["fw", "version"]`). Arrays are leaves: a path
 *   never steps into an array, so `["a", "0"]` is the key "0" of object `a`, never an array element.
 * - Values are JSON scalars: strings, finite numbers and booleans. `null` is refused: a twin never
 *   holds null (null in a patch deletes the leaf), so "is absent" is `exists: false`.
 * - `eq v`: the leaf is `v`, of the same JSON type (`"1"` is not `1`; `1` is `1.0`).
 * - `ne v`: the leaf is not `v`, **including devices without the leaf** (add `{path, exists: true}` to
 *   require it).
 * - `in [v…]`: `eq` one of them (1 to {@link FLEET_FILTER_LIMITS}.maxInValues values).
 * - `lt v` / `gt v` (strict): `v` is a number or a string, and only leaves of the same type compare:
 *   numbers numerically, strings by Unicode code point ("1.10" < "1.9"). A leaf of another type (or
 *   an object, an array) does not match either way.
 * - `exists true|false`: the leaf (or object) at the path is present / absent.
 *
 * Every condition holds at once (AND), with the membership fields (`tag`, `tags`, `connected`,
 * `model`) and the device fields: `hasDelta` (desired not yet reached: the twin's delta is not empty),
 * `lastSeenBefore` / `lastSeenAfter` (strict; a device never seen matches neither) and `alarmActive`
 * (the device has an open alarm: ACTIVE, ACKNOWLEDGED or LATCHED, i.e. not CLEARED, docs/rules.md).
 */
import { failed, ValidationError, type Failed, type FieldIssue } from './errors.ts';

export type TwinSection = 'reported' | 'desired';
export type JsonScalar = string | number | boolean;
export const TWIN_OPERATORS = ['eq', 'ne', 'lt', 'gt', 'in', 'exists'] as const;
export type TwinOperator = (typeof TWIN_OPERATORS)[number];

export type TwinCondition = { section: TwinSection; path: string[] } & (
  { op: 'eq' | 'ne'; value: JsonScalar } | { op: 'lt' | 'gt'; value: number | string } | { op: 'in'; values: JsonScalar[] } | { op: 'exists'; exists: boolean }
);

/** A checked filter: every field holds at once; null / empty means "no condition". */
export interface FleetFilter {
  /** Devices carrying all of these tags. */
  tags: string[];
  connected: boolean | null;
  /** Name of the device model. */
  model: string | null;
  twin: TwinCondition[];
  hasDelta: boolean | null;
  lastSeenBefore: Date | null;
  lastSeenAfter: Date | null;
  alarmActive: boolean | null;
}

/** The filter as clients send it (the GraphQL `DeviceFilter` input); anything may be wrong in it. */
export interface FleetFilterInput {
  tag?: string | null;
  tags?: readonly string[] | null;
  connected?: boolean | null;
  model?: string | null;
  reported?: readonly unknown[] | null;
  desired?: readonly unknown[] | null;
  hasDelta?: boolean | null;
  lastSeenBefore?: Date | null;
  lastSeenAfter?: Date | null;
  alarmActive?: boolean | null;
}

/**
 * Bounds that keep one search one cheap statement. A path deeper than a twin can be
 * (TWIN_MAX_DEPTH is at most 64) is refused too; keys follow the twin's own key rules.
 */
export const FLEET_FILTER_LIMITS = {
  /** Conditions per section. */
  maxConditions: 16,
  /** Keys in one path. */
  maxPathDepth: 16,
  /** Characters of one key (the twin's TWIN_MAX_KEY_LENGTH cannot exceed this either). */
  maxKeyLength: 256,
  /** Values of one `in`. */
  maxInValues: 100,
  /** Characters of one string value. */
  maxStringLength: 1024,
} as const;

export type FleetFilterCode =
  | 'INVALID_PATH'
  | 'PATH_TOO_DEEP'
  | 'INVALID_PATH_KEY'
  | 'NO_OPERATOR'
  | 'TOO_MANY_OPERATORS'
  | 'NOT_SCALAR'
  | 'NULL_VALUE'
  | 'NOT_ORDERED'
  | 'EMPTY_IN'
  | 'TOO_MANY_VALUES'
  | 'VALUE_TOO_LONG'
  | 'TOO_MANY_CONDITIONS'
  | 'INVALID_CONDITION'
  | 'INVALID_DATE'
  | 'EMPTY_RANGE';

export type FleetFilterResult = { ok: true; filter: FleetFilter } | Failed<ValidationError>;

export const EMPTY_FLEET_FILTER: FleetFilter = Object.freeze({
  tags: [],
  connected: null,
  model: null,
  twin: [],
  hasDelta: null,
  lastSeenBefore: null,
  lastSeenAfter: null,
  alarmActive: null,
}) as FleetFilter;

/**
 * Checks a filter; every problem is reported at once, each with its path under `at` (e.g.
 * `['filter', 'reported', '0', 'lt']`), so a client can point at the field.
 */
export function parseFleetFilter(input: FleetFilterInput | null | undefined, at: readonly string[] = ['filter']): FleetFilterResult {
  if (!input) return { ok: true, filter: EMPTY_FLEET_FILTER };
  const issues: FieldIssue[] = [];
  const issue = (path: readonly string[], code: FleetFilterCode, message: string) => issues.push({ path: [...at, ...path], code, message });

  const twin: TwinCondition[] = [];
  for (const section of ['reported', 'desired'] as const) {
    const list = input[section];
    if (list == null) continue;
    if (list.length > FLEET_FILTER_LIMITS.maxConditions) {
      issue([section], 'TOO_MANY_CONDITIONS', `at most ${FLEET_FILTER_LIMITS.maxConditions} conditions on ${section} (got ${list.length})`);
      continue;
    }
    list.forEach((raw, i) => {
      const condition = parseCondition(section, raw, (path, code, message) => issue([section, String(i), ...path], code, message));
      if (condition) twin.push(condition);
    });
  }

  const lastSeenBefore = checkDate(input.lastSeenBefore, ['lastSeenBefore'], issue);
  const lastSeenAfter = checkDate(input.lastSeenAfter, ['lastSeenAfter'], issue);
  if (lastSeenBefore && lastSeenAfter && lastSeenAfter.getTime() >= lastSeenBefore.getTime()) {
    issue(['lastSeenAfter'], 'EMPTY_RANGE', 'lastSeenAfter must be earlier than lastSeenBefore: no device can match');
  }

  if (issues.length > 0) return failed(new ValidationError('invalid device filter', issues));
  return {
    ok: true,
    filter: {
      tags: [...(input.tags ?? []), ...(input.tag ? [input.tag] : [])],
      connected: input.connected ?? null,
      model: input.model || null,
      twin,
      hasDelta: input.hasDelta ?? null,
      lastSeenBefore,
      lastSeenAfter,
      alarmActive: input.alarmActive ?? null,
    },
  };
}

type Report = (path: readonly string[], code: FleetFilterCode, message: string) => void;

function parseCondition(section: TwinSection, raw: unknown, report: Report): TwinCondition | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    report([], 'INVALID_CONDITION', 'a condition is an object {path, and one of eq, ne, lt, gt, in, exists}');
    return null;
  }
  const fields = raw as Record<string, unknown>;
  const path = checkPath(fields.path, report);
  // An operator is given when its field is present; an explicit null counts (and is refused below),
  // so `{eq: null}` is never silently read as "no condition".
  const given = TWIN_OPERATORS.filter((op) => fields[op] !== undefined);
  if (given.length === 0) {
    report([], 'NO_OPERATOR', `give exactly one of ${TWIN_OPERATORS.join(', ')}`);
    return null;
  }
  if (given.length > 1) {
    report([], 'TOO_MANY_OPERATORS', `give exactly one of ${TWIN_OPERATORS.join(', ')} (got ${given.join(', ')}); combine conditions in the list instead`);
    return null;
  }
  const op = given[0]!;
  const value = fields[op];
  let condition: TwinCondition | null = null;
  switch (op) {
    case 'eq':
    case 'ne': {
      const scalar = checkScalar(value, [op], report);
      if (scalar !== undefined && path) condition = { section, path, op, value: scalar };
      break;
    }
    case 'lt':
    case 'gt': {
      const scalar = checkScalar(value, [op], report);
      if (typeof scalar === 'boolean') report([op], 'NOT_ORDERED', `${op} compares numbers or strings; a boolean has no order`);
      else if (scalar !== undefined && path) condition = { section, path, op, value: scalar };
      break;
    }
    case 'in': {
      if (!Array.isArray(value)) {
        report([op], 'NOT_SCALAR', 'in takes a list of JSON scalars');
        break;
      }
      if (value.length === 0) {
        report([op], 'EMPTY_IN', 'in needs at least one value');
        break;
      }
      if (value.length > FLEET_FILTER_LIMITS.maxInValues) {
        report([op], 'TOO_MANY_VALUES', `in takes at most ${FLEET_FILTER_LIMITS.maxInValues} values (got ${value.length})`);
        break;
      }
      const values = value.map((v, i) => checkScalar(v, [op, String(i)], report));
      if (path && values.every((v) => v !== undefined)) condition = { section, path, op, values: values as JsonScalar[] };
      break;
    }
    case 'exists':
      if (typeof value !== 'boolean') report([op], 'NOT_SCALAR', 'exists is true or false');
      else if (path) condition = { section, path, op, exists: value };
      break;
  }
  return condition;
}

function checkPath(raw: unknown, report: Report): string[] | null {
  if (!Array.isArray(raw) || raw.length === 0) {
    report(['path'], 'INVALID_PATH', 'path is a non-empty list of keys, e.g. ["fw", "version"]');
    return null;
  }
  if (raw.length > FLEET_FILTER_LIMITS.maxPathDepth) {
    report(['path'], 'PATH_TOO_DEEP', `path has ${raw.length} keys; the limit is ${FLEET_FILTER_LIMITS.maxPathDepth}`);
    return null;
  }
  let ok = true;
  raw.forEach((key: unknown, i) => {
    const why =
      typeof key !== 'string'
        ? 'is not a string'
        : key === ''
          ? 'is empty'
          : key.startsWith('$')
            ? "starts with '$' (no twin key does)"
            : key.length > FLEET_FILTER_LIMITS.maxKeyLength
              ? `is longer than ${FLEET_FILTER_LIMITS.maxKeyLength} characters`
              : unstorableText(key)
                ? 'holds U+0000 or a lone surrogate (no twin key does)'
                : null;
    if (why) {
      ok = false;
      report(['path', String(i)], 'INVALID_PATH_KEY', `key ${i} of the path ${why}`);
    }
  });
  return ok ? (raw as string[]) : null;
}

function checkScalar(value: unknown, path: readonly string[], report: Report): JsonScalar | undefined {
  if (value === null) {
    report(path, 'NULL_VALUE', 'a twin never holds null (null deletes a leaf): use exists: false');
    return undefined;
  }
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    report(path, 'NOT_SCALAR', 'numbers must be finite');
    return undefined;
  }
  if (typeof value === 'string') {
    if (value.length > FLEET_FILTER_LIMITS.maxStringLength) {
      report(path, 'VALUE_TOO_LONG', `strings are at most ${FLEET_FILTER_LIMITS.maxStringLength} characters`);
      return undefined;
    }
    if (unstorableText(value)) {
      report(path, 'NOT_SCALAR', 'the string holds U+0000 or a lone surrogate, which no twin holds');
      return undefined;
    }
    return value;
  }
  report(path, 'NOT_SCALAR', 'values are JSON scalars (string, number, boolean), not objects or lists');
  return undefined;
}

/** Text PostgreSQL's jsonb cannot hold (and so no twin holds): it would fail the statement instead of matching nothing. */
function unstorableText(text: string): boolean {
  // With the u flag a well-formed pair is one code point, so \p{Cs} matches lone surrogates only.
  return /[\u0000\p{Cs}]/u.test(text);
}

function checkDate(value: Date | null | undefined, path: readonly string[], report: Report): Date | null {
  if (value == null) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    report(path, 'INVALID_DATE', 'not a valid date-time');
    return null;
  }
  return value;
}

/** Whether the filter needs the twin or other tables beyond the device row (the fleet-search part). */
export function searchesTwin(filter: FleetFilter): boolean {
  return filter.twin.length > 0 || filter.hasDelta !== null;
}

/**
 * `{fw: {version: v}}` for path ["fw", "version"]: the document a section contains (`@>`) exactly
 * when its leaf at the path is `v`. Containment never steps into arrays for an object key, so it
 * means the same as {@link jsonPathOf}.
 */
export function containmentDocument(path: readonly string[], value: JsonScalar): Record<string, unknown> {
  let doc: unknown = value;
  for (let i = path.length - 1; i >= 0; i--) doc = { [path[i]!]: doc };
  return doc as Record<string, unknown>;
}

/**
 * The path as a strict SQL/JSON path (`strict $."fw"."version"`): strict, so it never unwraps arrays
 * (the keys address objects only, as in {@link containmentDocument}). Keys are quoted as JSON strings,
 * whose escapes the SQL/JSON path grammar shares; the text is passed as a bound parameter.
 */
export function jsonPathOf(path: readonly string[]): string {
  return `strict $${path.map((key) => `.${JSON.stringify(key)}`).join('')}`;
}

/**
 * Whether one condition holds for a section document: the reference meaning the SQL rendering is
 * tested against (test/domain/fleet-filter.test.ts, test/e2e/fleet-search.test.ts).
 */
export function conditionHolds(condition: TwinCondition, section: unknown): boolean {
  let leaf: unknown = section;
  for (const key of condition.path) {
    if (typeof leaf !== 'object' || leaf === null || Array.isArray(leaf) || !Object.hasOwn(leaf, key)) {
      leaf = undefined;
      break;
    }
    leaf = (leaf as Record<string, unknown>)[key];
  }
  switch (condition.op) {
    case 'exists':
      return (leaf !== undefined) === condition.exists;
    case 'eq':
      return leaf === condition.value;
    case 'ne':
      return leaf !== condition.value;
    case 'in':
      return condition.values.includes(leaf as JsonScalar);
    case 'lt':
    case 'gt': {
      if (typeof leaf !== typeof condition.value) return false;
      const order = typeof leaf === 'number' ? leaf - (condition.value as number) : compareCodePoints(leaf as string, condition.value as string);
      return condition.op === 'lt' ? order < 0 : order > 0;
    }
  }
}

/** String order by Unicode code point (PostgreSQL's SQL/JSON path compares strings this way in UTF-8). */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
