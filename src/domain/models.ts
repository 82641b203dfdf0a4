/**
 * Device model capabilities (command definitions, desired/reported state schemas) and the JSON Schema
 * validation built on them. Pure: no I/O. Schemas are checked when a model is saved (meta-validation
 * plus a trial compile, so a typo such as `"minimun"` is refused then, not when a command is sent), and
 * compiled once per (model, version) by `createValidatorCache`.
 *
 * Validation failures become issues with a path from the root of the validated document, so the edges
 * can prefix them (`['input', 'params', 'power']`, `['patch', 'temp']`, `['state', 'temp']`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/** One failing field: path from the root of the validated value, stable code, human message. */
export interface SchemaIssue {
  path: string[];
  code: string;
  message: string;
}

/** A command a model declares. */
export interface CommandDefinition {
  /** 1–64 chars of `[A-Za-z0-9_.-]`, unique within the model. */
  name: string;
  description?: string | null;
  /** JSON Schema of `params` (an object schema). Extra params are refused unless it sets `additionalProperties`. */
  params: Record<string, unknown>;
  /** How long a SENT command may wait for its final ack before it is TIMED_OUT (null: forever). */
  timeoutMs?: number | null;
  /** Default time to live of a command that has not been delivered (null: never expires). */
  ttlMs?: number | null;
}

export interface ModelCapabilities {
  commands: CommandDefinition[];
  desiredSchema?: Record<string, unknown> | null;
  reportedSchema?: Record<string, unknown> | null;
}

export const COMMAND_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Upper bound of timeouts and TTLs: 30 days. */
export const MAX_DURATION_MS = 30 * 24 * 3600 * 1000;
const MAX_COMMANDS = 100;

function newAjv(): Ajv {
  // allErrors: every failing path, not the first. Strict schema mode: unknown keywords and formats are
  // errors at save time. addUsedSchema false: user schemas with `$id` never collide in the shared cache.
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false, addUsedSchema: false, logger: false });
  addFormats(ajv);
  return ajv;
}

/** JSON Pointer (`/a/b~1c`) to path segments. */
function pointerToPath(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const CODES: Record<string, string> = {
  type: 'INVALID_TYPE',
  minimum: 'OUT_OF_RANGE',
  maximum: 'OUT_OF_RANGE',
  exclusiveMinimum: 'OUT_OF_RANGE',
  exclusiveMaximum: 'OUT_OF_RANGE',
  multipleOf: 'OUT_OF_RANGE',
  enum: 'INVALID_ENUM',
  const: 'INVALID_ENUM',
  required: 'REQUIRED',
  additionalProperties: 'UNKNOWN_FIELD',
  minLength: 'INVALID_LENGTH',
  maxLength: 'INVALID_LENGTH',
  minItems: 'INVALID_LENGTH',
  maxItems: 'INVALID_LENGTH',
  pattern: 'INVALID_FORMAT',
  format: 'INVALID_FORMAT',
};

/**
 * Ajv errors as issues: one per failing path and code, sorted by path. Ajv reports in schema order,
 * which is not stable once a schema went through a jsonb column (it reorders keys), so the order is
 * fixed here.
 */
export function ajvErrorsToIssues(errors: readonly ErrorObject[] | null | undefined): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors ?? []) {
    const path = pointerToPath(e.instancePath);
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      path.push(String((e.params as { missingProperty: string }).missingProperty));
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      path.push(String((e.params as { additionalProperty: string }).additionalProperty));
      message = 'is not a known field';
    } else if (e.keyword === 'enum') {
      message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
    }
    const code = CODES[e.keyword] ?? 'INVALID';
    const key = `${JSON.stringify(path)}|${code}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ path, code, message });
  }
  const key = (i: SchemaIssue) => i.path.join('\u0000');
  return issues.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Params schemas refuse unknown params unless they say otherwise: "extra params" must be an error. */
function closedParamsSchema(schema: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', ...schema, ...(schema.additionalProperties === undefined ? { additionalProperties: false } : {}) };
}

/** Problems with one schema (meta-schema and a trial compile), paths under `at`. */
function schemaIssues(ajv: Ajv, schema: unknown, at: string[]): SchemaIssue[] {
  if (!isRecord(schema)) return [{ path: at, code: 'INVALID_SCHEMA', message: 'must be a JSON Schema object' }];
  if (!ajv.validateSchema(schema)) {
    return (ajv.errors ?? []).map((e) => ({
      path: [...at, ...pointerToPath(e.instancePath)],
      code: 'INVALID_SCHEMA',
      message: `${e.instancePath || 'schema'} ${e.message ?? 'is invalid'}`,
    }));
  }
  try {
    ajv.compile(schema);
  } catch (error) {
    return [{ path: at, code: 'INVALID_SCHEMA', message: (error as Error).message }];
  }
  return [];
}

function durationIssue(value: unknown, path: string[]): SchemaIssue[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_DURATION_MS) {
    return [{ path, code: 'OUT_OF_RANGE', message: `must be a whole number of milliseconds, 1–${MAX_DURATION_MS}` }];
  }
  return [];
}

/**
 * Every problem with a model's capabilities, with paths relative to the capabilities object
 * (`['commands', '0', 'params', 'properties', 'power', 'type']`). Empty when they can be saved.
 */
export function checkCapabilities(caps: ModelCapabilities): SchemaIssue[] {
  const ajv = newAjv();
  const issues: SchemaIssue[] = [];
  const commands = Array.isArray(caps.commands) ? caps.commands : [];
  if (commands.length > MAX_COMMANDS) issues.push({ path: ['commands'], code: 'TOO_MANY', message: `at most ${MAX_COMMANDS} commands` });
  const names = new Set<string>();
  commands.forEach((c, i) => {
    const at = ['commands', String(i)];
    if (!isRecord(c)) {
      issues.push({ path: at, code: 'INVALID', message: 'must be an object' });
      return;
    }
    if (typeof c.name !== 'string' || !COMMAND_NAME_PATTERN.test(c.name)) {
      issues.push({ path: [...at, 'name'], code: 'INVALID_NAME', message: 'must be 1–64 characters of A–Z, a–z, 0–9, "_", "." or "-"' });
    } else if (names.has(c.name)) {
      issues.push({ path: [...at, 'name'], code: 'DUPLICATE', message: `command ${JSON.stringify(c.name)} is declared twice` });
    } else names.add(c.name);
    const params = c.params ?? {};
    const paramIssues = schemaIssues(ajv, params, [...at, 'params']);
    if (paramIssues.length === 0 && isRecord(params) && params.type !== undefined && params.type !== 'object') {
      paramIssues.push({ path: [...at, 'params', 'type'], code: 'INVALID_SCHEMA', message: 'params must be an object schema (type "object")' });
    }
    issues.push(...paramIssues);
    issues.push(...durationIssue(c.timeoutMs, [...at, 'timeoutMs']), ...durationIssue(c.ttlMs, [...at, 'ttlMs']));
  });
  if (caps.desiredSchema != null) issues.push(...schemaIssues(ajv, caps.desiredSchema, ['desiredSchema']));
  if (caps.reportedSchema != null) issues.push(...schemaIssues(ajv, caps.reportedSchema, ['reportedSchema']));
  return issues;
}

/** A model's validators, compiled once. */
export interface CompiledModel {
  /** The definition and params validator of a declared command, or undefined. */
  command(name: string): { definition: CommandDefinition; validate: (params: unknown) => SchemaIssue[] } | undefined;
  /** Issues of a whole desired document (empty when there is no schema). */
  validateDesired(doc: unknown): SchemaIssue[];
  validateReported(doc: unknown): SchemaIssue[];
  readonly hasDesiredSchema: boolean;
  readonly hasReportedSchema: boolean;
}

function run(fn: ValidateFunction | undefined, value: unknown): SchemaIssue[] {
  if (!fn) return [];
  return fn(value) ? [] : ajvErrorsToIssues(fn.errors);
}

/** Compiles a model's validators. Throws if the capabilities were never checked (see `checkCapabilities`). */
export function compileModel(caps: ModelCapabilities, ajv: Ajv = newAjv()): CompiledModel {
  const commands = new Map<string, { definition: CommandDefinition; validate: (params: unknown) => SchemaIssue[] }>();
  for (const definition of Array.isArray(caps.commands) ? caps.commands : []) {
    const fn = ajv.compile(closedParamsSchema(isRecord(definition.params) ? definition.params : {}));
    commands.set(definition.name, { definition, validate: (params) => run(fn, params) });
  }
  const desired = caps.desiredSchema ? ajv.compile(caps.desiredSchema) : undefined;
  const reported = caps.reportedSchema ? ajv.compile(caps.reportedSchema) : undefined;
  return {
    command: (name) => commands.get(name),
    validateDesired: (doc) => run(desired, doc),
    validateReported: (doc) => run(reported, doc),
    hasDesiredSchema: desired !== undefined,
    hasReportedSchema: reported !== undefined,
  };
}

/**
 * Compiled models keyed by (model id, version), least recently used evicted beyond `max`. A version is
 * immutable once saved, so an entry never goes stale; a new version is a new key.
 */
export function createValidatorCache(max = 1000) {
  const ajv = newAjv();
  const entries = new Map<string, CompiledModel>();
  return {
    get(modelId: string, version: number, caps: () => ModelCapabilities): CompiledModel {
      const key = `${modelId}@${version}`;
      let compiled = entries.get(key);
      if (compiled) {
        entries.delete(key);
        entries.set(key, compiled);
        return compiled;
      }
      compiled = compileModel(caps(), ajv);
      entries.set(key, compiled);
      if (entries.size > max) entries.delete(entries.keys().next().value!);
      return compiled;
    },
    has(modelId: string, version: number): boolean {
      return entries.has(`${modelId}@${version}`);
    },
    get size(): number {
      return entries.size;
    },
  };
}

export type ValidatorCache = ReturnType<typeof createValidatorCache>;
