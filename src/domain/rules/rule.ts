/**
 * What a rule is (docs/rules.md) and the check that runs when one is saved. Pure: no I/O, no clock.
 *
 * A rule watches one source (a telemetry metric, a reported or desired twin path, or the connection
 * state) of the devices in its scope, raises an alarm when its raise condition has held for the raise
 * duration, and clears it when its clear condition (by default the negation of the raise condition)
 * has held for the clear duration. Actions run on raise and on clear.
 *
 * `checkRule` reports every problem at once, each with the path of the offending field, so an operator
 * fixes a refused rule in one round trip. It checks what can be checked without the database: syntax,
 * bounds, operators against the value type (the caller passes in the JSON Schema type the device model
 * declares for the source, if any), and that explicit raise and clear conditions cannot both hold for
 * one value (they would raise and clear in turn on every sample). Whether an action's target device
 * exists in the tenant, whether its model has the command and whether the params fit the schema is for
 * the rules service, which knows the models.
 */
import { failed, ValidationError, type Failed, type FieldIssue } from '../errors.ts';
import { isValidDeviceId, isValidModelName, isValidTag } from '../ids.ts';
import { COMMAND_NAME_PATTERN, MAX_DURATION_MS } from '../models.ts';
import { METRIC_NAME } from '../telemetry/message.ts';
import { applyPatch, emptySection, isPlainObject, type JsonObject, type JsonValue, type TwinLimits } from '../twin.ts';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/**
 * Which devices a rule watches: the membership fields of the API's `DeviceFilter`
 * (src/schema/device.ts) plus explicit device ids. Every field given must match (AND); none given means
 * every device of the tenant. `connected` is not a scope: it changes all the time, and a rule about it
 * uses the `connection` source instead.
 */
export interface RuleScope {
  /** These devices (each 1–64 chars of `[A-Za-z0-9._-]`). */
  deviceIds?: string[] | null;
  /** Devices carrying this tag. */
  tag?: string | null;
  /** Devices carrying all of these tags. */
  tags?: string[] | null;
  /** Name of the device model. */
  model?: string | null;
}

/** What a rule watches on each device in scope. */
export type RuleSource =
  /** A telemetry metric: numbers, and booleans (sent as `true`/`false`). */
  | { type: 'telemetry'; metric: string }
  /** A key path in the reported or desired twin section, e.g. `['battery', 'level']`. */
  | { type: 'reported' | 'desired'; path: string[] }
  /** Whether the device is connected: a boolean. */
  | { type: 'connection' };

export const SOURCE_TYPES = ['telemetry', 'reported', 'desired', 'connection'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

export const COMPARISON_OPERATORS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];
export const CONDITION_OPERATORS = [...COMPARISON_OPERATORS, 'between', 'outside', 'changed', 'noData'] as const;
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/**
 * A condition on the source's value. `forMs` (optional, 1 ms – 30 days) is how long it must hold
 * without interruption before it counts ("temp > 30 for 5 min"); absent, it counts at once.
 */
export type Condition =
  /** The value compared with `value`. Ordering operators need numbers; `==` and `!=` also take booleans and strings. */
  | { op: ComparisonOperator; value: number | boolean | string; forMs?: number }
  /** `low ≤ value ≤ high` (between) or `value < low || value > high` (outside), on numbers. */
  | { op: 'between' | 'outside'; low: number; high: number; forMs?: number }
  /** The value differs from the previous one. An event, not a level: it takes no duration. */
  | { op: 'changed' }
  /** Nothing arrived from the source for `forMs` (required here: it is the condition itself). */
  | { op: 'noData'; forMs: number };

export const SEVERITIES = ['CRITICAL', 'MAJOR', 'MINOR', 'WARNING', 'INFO'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * A template: a string value in an action's params or patch that is exactly one of these is replaced,
 * when the action fires, by the triggering value (keeping its JSON type) or the triggering device's id.
 * Nothing else is templated.
 */
export const TEMPLATES = ['{{value}}', '{{deviceId}}'] as const;

/**
 * What a rule does on raise or on clear. Only the shape is checked here; the rules service checks the
 * target device and the command against the target's model, when the rule is saved and when it fires.
 */
export type RuleAction =
  /** Send a command to `deviceId` (absent: the device that triggered the rule). */
  | { type: 'sendCommand'; deviceId?: string; command: string; params: JsonObject }
  /** Merge `patch` into the desired state of `deviceId` (absent: the triggering device). */
  | { type: 'updateDesired'; deviceId?: string; patch: JsonObject }
  /** Notify a webhook endpoint of the tenant. */
  | { type: 'notifyWebhook'; endpointId: string };

export const ACTION_TYPES = ['sendCommand', 'updateDesired', 'notifyWebhook'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** A checked rule, as `checkRule` returns it: optional fields absent rather than null. */
export interface RuleDefinition {
  scope: RuleScope;
  source: RuleSource;
  raise: Condition;
  /** Absent: the negation of `raise`, with no duration (see `clearConditionOf` in ./evaluate.ts). */
  clear?: Condition;
  severity: Severity;
  onRaise: RuleAction[];
  onClear: RuleAction[];
}

/** Bounds of a rule. */
export interface RuleLimits {
  /** Longest `forMs` (default: 30 days, as command timeouts). */
  maxDurationMs: number;
  /** Most device ids in a scope. */
  maxScopeDeviceIds: number;
  /** Most actions on raise, and again on clear. */
  maxActions: number;
  /** Longest string a condition compares with. */
  maxStringLength: number;
}

export const DEFAULT_RULE_LIMITS: Readonly<RuleLimits> = Object.freeze({
  maxDurationMs: MAX_DURATION_MS,
  maxScopeDeviceIds: 1000,
  maxActions: 10,
  maxStringLength: 256,
});

export interface RuleCheckOptions {
  /** The twin's key and document rules apply to twin paths, command params and desired patches. */
  twin: TwinLimits;
  /**
   * The JSON Schema `type` the device model declares for the source's value (for a twin path, read
   * from the model's reported or desired schema by the caller); absent when nothing is declared.
   */
  declaredType?: string | readonly string[] | null;
  limits?: RuleLimits;
  /** Prefix of every issue path (default `['input']`, as the GraphQL argument is named). */
  at?: string[];
}

export type RuleCheck = { ok: true; rule: RuleDefinition } | Failed<ValidationError>;

/**
 * Stable issue codes of a refused rule (clients switch on them).
 *
 * REQUIRED, INVALID_TYPE (a field of the wrong JSON type), UNKNOWN_FIELD, INVALID_VALUE (not one of the
 * allowed names), INVALID_DEVICE_ID, INVALID_TAG, INVALID_MODEL, INVALID_METRIC, INVALID_PATH (with the
 * twin's own code in the message), OUT_OF_RANGE (a duration outside 1 ms – the limit, a non-finite
 * number), INVALID_RANGE (between/outside with low > high), DURATION_NOT_ALLOWED, TYPE_MISMATCH (an
 * operator or operand the value type cannot have), NOT_APPLICABLE (an operator the source cannot have),
 * OVERLAPPING_CONDITIONS, TOO_MANY, DUPLICATE, INVALID_COMMAND, INVALID_TEMPLATE, and the twin's codes
 * (INVALID_KEY, INVALID_VALUE, TOO_DEEP, TOO_LARGE, …) for params and patches.
 */
export type RuleIssueCode = string;

// ---------------------------------------------------------------------------------------------
// Value kinds: what a source can produce and what an operator needs
// ---------------------------------------------------------------------------------------------

/** The JSON kinds conditions distinguish; `other` is null, objects and arrays. */
export type ValueKind = 'number' | 'boolean' | 'string' | 'other';
const ALL_KINDS: readonly ValueKind[] = ['number', 'boolean', 'string', 'other'];

/** The kind of a comparison operand. */
export function kindOf(value: unknown): ValueKind {
  switch (typeof value) {
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    default:
      return 'other';
  }
}

/** JSON Schema type names to kinds (`integer` is a number). Unknown names are ignored. */
function kindsOfDeclared(declared: string | readonly string[]): ValueKind[] {
  const names = typeof declared === 'string' ? [declared] : declared;
  const kinds = new Set<ValueKind>();
  for (const name of names) {
    if (name === 'number' || name === 'integer') kinds.add('number');
    else if (name === 'boolean') kinds.add('boolean');
    else if (name === 'string') kinds.add('string');
    else if (name === 'null' || name === 'object' || name === 'array') kinds.add('other');
  }
  return [...kinds];
}

/** What kinds of value the source can carry, narrowed by the declared type where there is one. */
export function sourceKinds(source: RuleSource, declaredType?: string | readonly string[] | null): ValueKind[] {
  // Telemetry stores numbers and booleans only (src/domain/telemetry/message.ts); presence is a boolean.
  const possible: readonly ValueKind[] = source.type === 'telemetry' ? ['number', 'boolean'] : source.type === 'connection' ? ['boolean'] : ALL_KINDS;
  if (declaredType === undefined || declaredType === null || (typeof declaredType !== 'string' && !Array.isArray(declaredType))) return [...possible];
  const declared = kindsOfDeclared(declaredType);
  // A declaration naming nothing this module knows says nothing: keep what the source allows.
  return declared.length === 0 ? [...possible] : possible.filter((k) => declared.includes(k));
}

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

const RULE_FIELDS = ['scope', 'source', 'raise', 'clear', 'severity', 'onRaise', 'onClear'];
const SCOPE_FIELDS = ['deviceIds', 'tag', 'tags', 'model'];

/**
 * Every problem with `input` as a rule, or the rule (a normalized copy: nulls dropped, action lists
 * present). Never throws, whatever `input` is.
 */
export function checkRule(input: unknown, options: RuleCheckOptions): RuleCheck {
  const checker = new Checker(options);
  const rule = checker.rule(input, options.at ?? ['input']);
  if (rule === undefined || checker.issues.length > 0) {
    const n = checker.issues.length;
    return failed(new ValidationError(`the rule was refused: ${n} problem${n === 1 ? '' : 's'}`, checker.issues));
  }
  return { ok: true, rule };
}

class Checker {
  readonly issues: FieldIssue[] = [];
  private readonly limits: RuleLimits;

  constructor(private readonly options: RuleCheckOptions) {
    this.limits = options.limits ?? DEFAULT_RULE_LIMITS;
  }

  private issue(path: string[], code: RuleIssueCode, message: string): undefined {
    this.issues.push({ path, code, message });
    return undefined;
  }

  /** An object with only `allowed` keys; unknown keys are reported, and the object is still checked. */
  private object(value: unknown, path: string[], allowed: readonly string[], what: string): Record<string, unknown> | undefined {
    if (!isPlainObject(value)) return this.issue(path, value === undefined || value === null ? 'REQUIRED' : 'INVALID_TYPE', `${what} must be an object`);
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) this.issue([...path, key], 'UNKNOWN_FIELD', `${what} has no field ${show(key)}; the fields are ${allowed.join(', ')}`);
    }
    return value;
  }

  rule(input: unknown, at: string[]): RuleDefinition | undefined {
    const obj = this.object(input, at, RULE_FIELDS, 'a rule');
    if (obj === undefined) return undefined;
    const scope = this.scope(obj.scope, [...at, 'scope']);
    const source = this.source(obj.source, [...at, 'source']);
    const kinds = source === undefined ? undefined : sourceKinds(source, this.options.declaredType);
    const raise = this.condition(obj.raise, [...at, 'raise'], source, kinds);
    const clear = obj.clear === undefined || obj.clear === null ? undefined : this.condition(obj.clear, [...at, 'clear'], source, kinds);
    if (raise !== undefined && clear !== undefined && conditionsOverlap(raise, clear)) {
      this.issue(
        [...at, 'clear'],
        'OVERLAPPING_CONDITIONS',
        'a value (or a silence) can satisfy both the raise and the clear condition, so the alarm would raise and clear in turn; leave a gap between them (e.g. raise > 30, clear < 28)',
      );
    }
    const severity = this.severity(obj.severity, [...at, 'severity']);
    const onRaise = this.actions(obj.onRaise, [...at, 'onRaise']);
    const onClear = this.actions(obj.onClear, [...at, 'onClear']);
    if (scope === undefined || source === undefined || raise === undefined || severity === undefined || onRaise === undefined || onClear === undefined) {
      return undefined;
    }
    if (obj.clear !== undefined && obj.clear !== null && clear === undefined) return undefined;
    const rule: RuleDefinition = { scope, source, raise, severity, onRaise, onClear };
    if (clear !== undefined) rule.clear = clear;
    return rule;
  }

  private scope(value: unknown, at: string[]): RuleScope | undefined {
    // An absent scope is not "every device" by accident: the caller must say `{}` to mean it.
    const obj = this.object(value, at, SCOPE_FIELDS, 'a scope');
    if (obj === undefined) return undefined;
    const before = this.issues.length;
    const scope: RuleScope = {};
    if (obj.deviceIds !== undefined && obj.deviceIds !== null) {
      const ids = this.stringList(obj.deviceIds, [...at, 'deviceIds'], 'deviceIds');
      if (ids !== undefined) {
        if (ids.length === 0) this.issue([...at, 'deviceIds'], 'REQUIRED', 'deviceIds, when given, must name at least one device (omit it for every device)');
        if (ids.length > this.limits.maxScopeDeviceIds) this.issue([...at, 'deviceIds'], 'TOO_MANY', `at most ${this.limits.maxScopeDeviceIds} device ids`);
        const seen = new Set<string>();
        ids.forEach((id, i) => {
          if (!isValidDeviceId(id))
            this.issue(
              [...at, 'deviceIds', String(i)],
              'INVALID_DEVICE_ID',
              `${show(id)} is not a device id (1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-")`,
            );
          else if (seen.has(id)) this.issue([...at, 'deviceIds', String(i)], 'DUPLICATE', `${show(id)} is listed twice`);
          seen.add(id);
        });
        scope.deviceIds = ids;
      }
    }
    if (obj.tag !== undefined && obj.tag !== null) {
      if (!isValidTag(obj.tag)) this.issue([...at, 'tag'], 'INVALID_TAG', 'tag must be 1–64 characters of A–Z, a–z, 0–9 and . _ : = / -');
      else scope.tag = obj.tag;
    }
    if (obj.tags !== undefined && obj.tags !== null) {
      const tags = this.stringList(obj.tags, [...at, 'tags'], 'tags');
      if (tags !== undefined) {
        tags.forEach((tag, i) => {
          if (!isValidTag(tag))
            this.issue([...at, 'tags', String(i)], 'INVALID_TAG', `tag ${show(tag)} must be 1–64 characters of A–Z, a–z, 0–9 and . _ : = / -`);
        });
        scope.tags = tags;
      }
    }
    if (obj.model !== undefined && obj.model !== null) {
      if (!isValidModelName(obj.model))
        this.issue([...at, 'model'], 'INVALID_MODEL', 'model must be 1–100 characters of letters, digits, space, ".", "_" or "-"');
      else scope.model = obj.model;
    }
    return this.issues.length === before ? scope : undefined;
  }

  private stringList(value: unknown, at: string[], what: string): string[] | undefined {
    if (!Array.isArray(value)) return this.issue(at, 'INVALID_TYPE', `${what} must be a list of strings`);
    let ok = true;
    value.forEach((item: unknown, i) => {
      if (typeof item !== 'string') {
        ok = false;
        this.issue([...at, String(i)], 'INVALID_TYPE', `${what} must hold strings only`);
      }
    });
    return ok ? (value as string[]) : undefined;
  }

  private source(value: unknown, at: string[]): RuleSource | undefined {
    const obj = this.object(value, at, ['type', 'metric', 'path'], 'a source');
    if (obj === undefined) return undefined;
    const type = obj.type;
    if (!isOneOf(type, SOURCE_TYPES))
      return this.issue([...at, 'type'], type === undefined ? 'REQUIRED' : 'INVALID_VALUE', `source type must be one of ${SOURCE_TYPES.join(', ')}`);
    const extra = (field: 'metric' | 'path') => {
      if (obj[field] !== undefined && obj[field] !== null) this.issue([...at, field], 'UNKNOWN_FIELD', `a ${type} source has no ${field}`);
    };
    switch (type) {
      case 'telemetry': {
        extra('path');
        const metric = obj.metric;
        if (typeof metric !== 'string' || !METRIC_NAME.test(metric)) {
          return this.issue(
            [...at, 'metric'],
            metric === undefined ? 'REQUIRED' : 'INVALID_METRIC',
            'metric must be 1–64 characters of A–Z, a–z, 0–9, "_", "." or "-"',
          );
        }
        return obj.path === undefined || obj.path === null ? { type, metric } : undefined;
      }
      case 'reported':
      case 'desired': {
        extra('metric');
        const path = this.twinPath(obj.path, [...at, 'path']);
        return path === undefined || (obj.metric !== undefined && obj.metric !== null) ? undefined : { type, path };
      }
      case 'connection':
        extra('metric');
        extra('path');
        return (obj.metric === undefined || obj.metric === null) && (obj.path === undefined || obj.path === null) ? { type } : undefined;
    }
  }

  /**
   * A twin path is valid where a patch could write a value: each key obeys the twin's key rules and
   * the depth limit. Checked by the twin's own validator (`applyPatch` on an empty section), so the
   * two can never disagree.
   */
  private twinPath(value: unknown, at: string[]): string[] | undefined {
    if (value === undefined || value === null)
      return this.issue(at, 'REQUIRED', 'a twin source needs a path: the keys from the root, e.g. ["battery", "level"]');
    const keys = this.stringList(value, at, 'path');
    if (keys === undefined) return undefined;
    if (keys.length === 0) return this.issue(at, 'REQUIRED', 'path must have at least one key');
    let patch: JsonValue = null;
    for (let i = keys.length - 1; i >= 0; i--) patch = { [keys[i]!]: patch };
    const result = applyPatch(emptySection(), patch, 0, this.options.twin, 'path');
    if (result.ok) return keys;
    // The twin names the offending key, or for TOO_DEEP the object that is too deep: the key below it.
    const named = result.error.code === 'TOO_DEEP' ? result.error.path.length : result.error.path.length - 1;
    const index = Math.min(Math.max(named, 0), keys.length - 1);
    return this.issue([...at, String(index)], 'INVALID_PATH', `${result.error.message} (${result.error.code})`);
  }

  private condition(value: unknown, at: string[], source: RuleSource | undefined, kinds: ValueKind[] | undefined): Condition | undefined {
    const obj = this.object(value, at, ['op', 'value', 'low', 'high', 'forMs'], 'a condition');
    if (obj === undefined) return undefined;
    const before = this.issues.length;
    const op = obj.op;
    if (!isOneOf(op, CONDITION_OPERATORS)) {
      return this.issue([...at, 'op'], op === undefined ? 'REQUIRED' : 'INVALID_VALUE', `op must be one of ${CONDITION_OPERATORS.join(', ')}`);
    }
    const unexpected = (fields: string[]) => {
      for (const f of fields) if (obj[f] !== undefined && obj[f] !== null) this.issue([...at, f], 'UNKNOWN_FIELD', `${op} takes no ${f}`);
    };
    const needsKind = (kind: ValueKind, path: string[], what: string) => {
      if (kinds !== undefined && !kinds.includes(kind)) {
        this.issue(
          path,
          'TYPE_MISMATCH',
          `${what} needs ${kind === 'other' ? 'an object, array or null' : `a ${kind}`} value, and this source's values are ${describeKinds(kinds)}`,
        );
      }
    };
    const forMs = op === 'changed' ? undefined : this.duration(obj.forMs, [...at, 'forMs'], op === 'noData');
    let condition: Condition | undefined;

    if (isOneOf(op, COMPARISON_OPERATORS)) {
      unexpected(['low', 'high']);
      const operand = obj.value;
      const ordering = op !== '==' && op !== '!=';
      if (operand === undefined || operand === null) {
        this.issue([...at, 'value'], 'REQUIRED', `${op} needs a value to compare with`);
      } else if (typeof operand === 'number') {
        if (!Number.isFinite(operand)) this.issue([...at, 'value'], 'OUT_OF_RANGE', 'value must be a finite number');
        else needsKind('number', [...at, 'value'], `${op} ${operand}`);
      } else if (typeof operand === 'boolean' || typeof operand === 'string') {
        if (ordering) this.issue([...at, 'value'], 'TYPE_MISMATCH', `${op} compares numbers only; use == or != for ${typeof operand}s`);
        else if (typeof operand === 'string' && [...operand].length > this.limits.maxStringLength) {
          this.issue([...at, 'value'], 'OUT_OF_RANGE', `value is longer than ${this.limits.maxStringLength} characters`);
        } else needsKind(kindOf(operand), [...at, 'value'], `${op} ${JSON.stringify(operand)}`);
      } else {
        this.issue([...at, 'value'], 'INVALID_TYPE', 'value must be a number, a boolean or a string');
      }
      if (this.issues.length === before) condition = { op, value: operand as number | boolean | string };
    } else if (op === 'between' || op === 'outside') {
      unexpected(['value']);
      const low = this.finite(obj.low, [...at, 'low']);
      const high = this.finite(obj.high, [...at, 'high']);
      if (low !== undefined && high !== undefined && low > high) this.issue([...at, 'high'], 'INVALID_RANGE', `high (${high}) must not be below low (${low})`);
      needsKind('number', [...at, 'op'], op);
      if (this.issues.length === before) condition = { op, low: low!, high: high! };
    } else if (op === 'changed') {
      unexpected(['value', 'low', 'high']);
      if (obj.forMs !== undefined && obj.forMs !== null) {
        this.issue([...at, 'forMs'], 'DURATION_NOT_ALLOWED', 'changed is an event, not a state that lasts: it takes no duration');
      }
      if (this.issues.length === before) condition = { op };
    } else {
      unexpected(['value', 'low', 'high']);
      if (source?.type === 'connection') {
        this.issue([...at, 'op'], 'NOT_APPLICABLE', 'noData does not apply to the connection state; use {op: "==", value: false, forMs} for "offline for"');
      }
      if (this.issues.length === before) condition = { op: 'noData', forMs: forMs! };
    }
    if (condition !== undefined && forMs !== undefined && condition.op !== 'noData' && condition.op !== 'changed') condition.forMs = forMs;
    return condition;
  }

  /** A duration in ms: a whole number from 1 to the limit. `required` for noData, which is nothing but a duration. */
  private duration(value: unknown, at: string[], required: boolean): number | undefined {
    if (value === undefined || value === null) {
      if (required) this.issue(at, 'REQUIRED', 'noData needs forMs: how long a silence raises');
      return undefined;
    }
    if (typeof value !== 'number') return this.issue(at, 'INVALID_TYPE', 'forMs must be a number of milliseconds');
    if (!Number.isSafeInteger(value) || value < 1 || value > this.limits.maxDurationMs) {
      return this.issue(
        at,
        'OUT_OF_RANGE',
        `forMs must be a whole number of milliseconds from 1 to ${this.limits.maxDurationMs} (got ${value}); omit it to act at once`,
      );
    }
    return value;
  }

  private finite(value: unknown, at: string[]): number | undefined {
    if (value === undefined || value === null) return this.issue(at, 'REQUIRED', `${at[at.length - 1]} is required`);
    if (typeof value !== 'number') return this.issue(at, 'INVALID_TYPE', `${at[at.length - 1]} must be a number`);
    if (!Number.isFinite(value)) return this.issue(at, 'OUT_OF_RANGE', `${at[at.length - 1]} must be a finite number`);
    return value;
  }

  private severity(value: unknown, at: string[]): Severity | undefined {
    if (isOneOf(value, SEVERITIES)) return value;
    return this.issue(at, value === undefined || value === null ? 'REQUIRED' : 'INVALID_VALUE', `severity must be one of ${SEVERITIES.join(', ')}`);
  }

  private actions(value: unknown, at: string[]): RuleAction[] | undefined {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return this.issue(at, 'INVALID_TYPE', 'actions must be a list');
    if (value.length > this.limits.maxActions) return this.issue(at, 'TOO_MANY', `at most ${this.limits.maxActions} actions`);
    const before = this.issues.length;
    const out: RuleAction[] = [];
    value.forEach((item: unknown, i) => {
      const action = this.action(item, [...at, String(i)]);
      if (action !== undefined) out.push(action);
    });
    return this.issues.length === before ? out : undefined;
  }

  private action(value: unknown, at: string[]): RuleAction | undefined {
    const obj = this.object(value, at, ['type', 'deviceId', 'command', 'params', 'patch', 'endpointId'], 'an action');
    if (obj === undefined) return undefined;
    const type = obj.type;
    if (!isOneOf(type, ACTION_TYPES))
      return this.issue([...at, 'type'], type === undefined ? 'REQUIRED' : 'INVALID_VALUE', `action type must be one of ${ACTION_TYPES.join(', ')}`);
    const before = this.issues.length;
    const allowed = { sendCommand: ['deviceId', 'command', 'params'], updateDesired: ['deviceId', 'patch'], notifyWebhook: ['endpointId'] }[type];
    for (const f of ['deviceId', 'command', 'params', 'patch', 'endpointId']) {
      if (!allowed.includes(f) && obj[f] !== undefined && obj[f] !== null) this.issue([...at, f], 'UNKNOWN_FIELD', `${type} takes no ${f}`);
    }
    let deviceId: string | undefined;
    if (type !== 'notifyWebhook' && obj.deviceId !== undefined && obj.deviceId !== null) {
      if (!isValidDeviceId(obj.deviceId))
        this.issue(
          [...at, 'deviceId'],
          'INVALID_DEVICE_ID',
          'deviceId must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-" (omit it for the triggering device)',
        );
      else deviceId = obj.deviceId;
    }
    switch (type) {
      case 'sendCommand': {
        if (typeof obj.command !== 'string' || !COMMAND_NAME_PATTERN.test(obj.command)) {
          this.issue(
            [...at, 'command'],
            obj.command === undefined ? 'REQUIRED' : 'INVALID_COMMAND',
            'command must be 1–64 characters of A–Z, a–z, 0–9, "_", "." or "-"',
          );
        }
        const params = obj.params === undefined || obj.params === null ? {} : this.document(obj.params, [...at, 'params'], 'params');
        if (this.issues.length > before || params === undefined) return undefined;
        const action: RuleAction = { type, command: obj.command as string, params };
        if (deviceId !== undefined) action.deviceId = deviceId;
        return action;
      }
      case 'updateDesired': {
        if (obj.patch === undefined || obj.patch === null) return this.issue([...at, 'patch'], 'REQUIRED', 'updateDesired needs a patch');
        const patch = this.document(obj.patch, [...at, 'patch'], 'patch');
        if (this.issues.length > before || patch === undefined) return undefined;
        const action: RuleAction = { type, patch };
        if (deviceId !== undefined) action.deviceId = deviceId;
        return action;
      }
      case 'notifyWebhook': {
        const id = obj.endpointId;
        // The endpoint's own id format belongs to the webhooks service; here only its shape.
        if (typeof id !== 'string' || id.length === 0 || id.length > 100) {
          return this.issue(
            [...at, 'endpointId'],
            id === undefined ? 'REQUIRED' : 'INVALID_VALUE',
            'endpointId must be a webhook endpoint id (1–100 characters)',
          );
        }
        return this.issues.length > before ? undefined : { type, endpointId: id };
      }
    }
  }

  /**
   * Params or a patch: a JSON object under the twin's document rules (keys, values, depth, size), whose
   * templated strings are only those in `TEMPLATES`.
   */
  private document(value: unknown, at: string[], label: string): JsonObject | undefined {
    if (!isPlainObject(value)) return this.issue(at, 'INVALID_TYPE', `${label} must be a JSON object`);
    const result = applyPatch(emptySection(), value, 0, this.options.twin, label);
    if (!result.ok) return this.issue([...at, ...result.error.path], result.error.code, result.error.message);
    const before = this.issues.length;
    this.templates(value, at);
    return this.issues.length === before ? value : undefined;
  }

  private templates(value: JsonValue, at: string[]): void {
    if (typeof value === 'string') {
      if (value.includes('{{') && !(TEMPLATES as readonly string[]).includes(value)) {
        this.issue(at, 'INVALID_TEMPLATE', `${show(value)}: a templated value must be exactly ${TEMPLATES.join(' or ')}`);
      }
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => this.templates(v, [...at, String(i)]));
    } else if (isPlainObject(value)) {
      for (const key of Object.keys(value)) this.templates(value[key]!, [...at, key]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------

/**
 * An action's params or patch with its templates replaced: `{{value}}` by the triggering value (as is,
 * so a number stays a number; a missing value becomes null) and `{{deviceId}}` by the triggering
 * device's id. A new document; the input is not changed. The result must be validated against the
 * target's model again when the action fires, as every command is.
 */
export function expandTemplates(doc: JsonObject, trigger: { value: JsonValue | undefined; deviceId: string }): JsonObject {
  const expand = (v: JsonValue): JsonValue => {
    if (v === '{{value}}') return trigger.value === undefined ? null : trigger.value;
    if (v === '{{deviceId}}') return trigger.deviceId;
    if (Array.isArray(v)) return v.map(expand);
    if (isPlainObject(v)) {
      const out: JsonObject = {};
      // defineProperty: a key named __proto__ (refused by the check, but this must not depend on it) stays a key.
      for (const key of Object.keys(v)) Object.defineProperty(out, key, { value: expand(v[key]!), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return v;
  };
  return expand(doc) as JsonObject;
}

// ---------------------------------------------------------------------------------------------
// Overlap of explicit raise and clear conditions
// ---------------------------------------------------------------------------------------------

interface Interval {
  lo: number;
  loIn: boolean;
  hi: number;
  hiIn: boolean;
}

/** The numbers a numeric condition holds for, as a union of intervals; undefined if it is not numeric. */
function numericSet(c: Condition): Interval[] | undefined {
  const inf = Number.POSITIVE_INFINITY;
  const all = (lo: number, loIn: boolean, hi: number, hiIn: boolean): Interval => ({ lo, loIn, hi, hiIn });
  switch (c.op) {
    case '>':
    case '>=':
    case '<':
    case '<=':
    case '==':
    case '!=': {
      if (typeof c.value !== 'number') return undefined;
      const v = c.value;
      if (c.op === '>') return [all(v, false, inf, false)];
      if (c.op === '>=') return [all(v, true, inf, false)];
      if (c.op === '<') return [all(-inf, false, v, false)];
      if (c.op === '<=') return [all(-inf, false, v, true)];
      if (c.op === '==') return [all(v, true, v, true)];
      return [all(-inf, false, v, false), all(v, false, inf, false)];
    }
    case 'between':
      return [all(c.low, true, c.high, true)];
    case 'outside':
      return [all(-inf, false, c.low, false), all(c.high, false, inf, false)];
    default:
      return undefined;
  }
}

function intersects(a: Interval, b: Interval): boolean {
  const lo = Math.max(a.lo, b.lo);
  const hi = Math.min(a.hi, b.hi);
  if (lo < hi) return true;
  if (lo > hi) return false;
  const loIn = a.lo === lo ? a.loIn : true;
  const loIn2 = b.lo === lo ? b.loIn : true;
  const hiIn = a.hi === hi ? a.hiIn : true;
  const hiIn2 = b.hi === hi ? b.hiIn : true;
  return Number.isFinite(lo) && loIn && loIn2 && hiIn && hiIn2;
}

/**
 * Whether one value (or one silence) can satisfy both conditions, where that can be decided from the
 * conditions alone. Values of different kinds never satisfy both (a condition on the wrong kind does
 * not hold: ./evaluate.ts). `changed` is decided by the sequence, not one value: never refused here.
 */
export function conditionsOverlap(a: Condition, b: Condition): boolean {
  if (a.op === 'noData' || b.op === 'noData') return a.op === 'noData' && b.op === 'noData';
  if (a.op === 'changed' || b.op === 'changed') return false;
  const sa = numericSet(a);
  const sb = numericSet(b);
  if (sa !== undefined && sb !== undefined) return sa.some((x) => sb.some((y) => intersects(x, y)));
  if (sa !== undefined || sb !== undefined) return false;
  // Both are == or != with a boolean or string operand.
  const ea = a as { op: '==' | '!='; value: boolean | string };
  const eb = b as { op: '==' | '!='; value: boolean | string };
  if (typeof ea.value !== typeof eb.value) return false;
  if (ea.op === '==' && eb.op === '==') return ea.value === eb.value;
  if (ea.op !== eb.op) return ea.value !== eb.value;
  // != x and != y: some third value satisfies both, except for booleans, which have only two.
  return typeof ea.value === 'string' || ea.value === eb.value;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function isOneOf<T extends string>(value: unknown, options: readonly T[]): value is T {
  return typeof value === 'string' && (options as readonly string[]).includes(value);
}

function describeKinds(kinds: ValueKind[]): string {
  if (kinds.length === 0) return 'of no kind a condition can compare';
  return kinds.map((k) => (k === 'other' ? 'objects, arrays or null' : `${k}s`)).join(' or ');
}

/** How a string is shown in messages: readable, and short even for a 100 KB string. */
function show(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 32)}…` : s);
}
