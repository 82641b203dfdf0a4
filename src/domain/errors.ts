/**
 * Expected failures, one shape for every layer: an error with a stable `code` (part of the public
 * contract: clients switch on it, so it is never renamed) and a human message. Services and domain
 * modules return them as `Failed` values (or throw them where a caller cannot go on) and each edge
 * maps them once: GraphQL to typed union members (Pothos errors plugin, src/schema/errors.ts) or a
 * GraphQL error carrying `extensions.code` (src/http/graphql.ts), MQTT to `…/rejected` replies and
 * refusal counters (src/mqtt/bridge.ts).
 */

export interface FieldIssue {
  /** Path of the offending field, e.g. ['patch', 'a', '$b']. */
  path: string[];
  message: string;
  code: string;
}

export class DoppelError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends DoppelError {
  constructor(
    message: string,
    readonly issues: FieldIssue[],
  ) {
    super('VALIDATION_FAILED', message);
  }
}

/** A document or params that break a device model's JSON Schema; `issues` holds every failing path. */
export class SchemaValidationError extends ValidationError {}

/** Too many commands for one device in the rate-limit window. */
export class RateLimitedError extends DoppelError {
  constructor(
    readonly deviceId: string,
    readonly limit: number,
    readonly windowMs: number,
    readonly retryAfterMs: number,
  ) {
    super('RATE_LIMITED', `device ${JSON.stringify(deviceId)} may receive at most ${limit} commands per ${windowMs} ms; retry in ${retryAfterMs} ms`);
  }
}

/** The command is past the state in which the operation is allowed (e.g. canceling a delivered command). */
export class CommandStateError extends DoppelError {
  constructor(
    readonly commandId: string,
    readonly status: string,
    message: string,
  ) {
    super('ILLEGAL_COMMAND_STATE', message);
  }
}

export class NotFoundError extends DoppelError {
  constructor(
    readonly resource: string,
    readonly key: string,
  ) {
    super('NOT_FOUND', `${resource} ${JSON.stringify(key)} not found`);
  }
}

export class AlreadyExistsError extends DoppelError {
  constructor(
    readonly resource: string,
    readonly key: string,
  ) {
    super('ALREADY_EXISTS', `${resource} ${JSON.stringify(key)} already exists`);
  }
}

/** Something still in use cannot be removed (a device model with devices): move them off it first. */
export class InUseError extends DoppelError {
  constructor(
    readonly resource: string,
    readonly key: string,
    /** How many things use it (devices of a model). */
    readonly usedBy: number,
  ) {
    super('IN_USE', `${resource} ${JSON.stringify(key)} is used by ${usedBy} device(s)`);
  }
}

export class VersionConflictError extends DoppelError {
  constructor(
    readonly expectedVersion: number,
    readonly currentVersion: number,
  ) {
    super('VERSION_CONFLICT', `twin is at version ${currentVersion}, not ${expectedVersion}`);
  }
}

/** The failure half of every outcome type: `{ ok: true, … } | Failed<E>`. */
export interface Failed<E extends DoppelError = DoppelError> {
  readonly ok: false;
  readonly error: E;
}

export function failed<E extends DoppelError>(error: E): Failed<E> {
  return { ok: false, error };
}

/**
 * Stable codes: clients switch on them, so they are part of the public contract and must never be
 * renamed. The message is for humans and may be reworded.
 */
export type TwinErrorCode =
  /** The patch is not a plain JSON object (an array, null, a string, …). */
  | 'NOT_AN_OBJECT'
  /** Objects/arrays nested deeper than `TwinLimits.maxDepth`. */
  | 'TOO_DEEP'
  /** An empty key, one longer than `TwinLimits.maxKeyLength`, one starting with `$`, `__proto__`, or one PostgreSQL cannot store. */
  | 'INVALID_KEY'
  /** Something that is not a JSON value (undefined, a function, NaN, Infinity, a Date, …) or a string PostgreSQL cannot store. */
  | 'INVALID_VALUE'
  /** The section would serialize to more than `TwinLimits.maxSectionBytes` bytes. */
  | 'TOO_LARGE'
  /** A device `ts` that is not an epoch-ms number or an ISO-8601 string with a time zone. */
  | 'INVALID_TIMESTAMP'
  /** The section's metadata (values, objects and deletions still remembered) would exceed `TwinLimits.maxMetadataEntries`. */
  | 'METADATA_TOO_LARGE';

/**
 * A refused input of the pure domain modules (twin patches, telemetry messages): a stable code, a
 * human message and the path to the offending field. Returned, not thrown, so the edges turn it into
 * replies (`…/rejected` on MQTT, a `ValidationError` result in GraphQL) instead of crashes.
 */
export class DomainValidationError<Code extends string> extends DoppelError {
  declare readonly code: Code;
  constructor(
    code: Code,
    message: string,
    /** Keys from the root to the offending key or value (array indexes as decimal strings); `[]` for the whole input. */
    readonly path: string[] = [],
  ) {
    super(code, message);
  }

  /** `Error` fields are not enumerable; this keeps `JSON.stringify` (logs, MQTT replies) useful. */
  toJSON(): { code: Code; message: string; path: string[] } {
    return { code: this.code, message: this.message, path: this.path };
  }
}

/** A refused twin patch (or device timestamp). */
export class TwinValidationError extends DomainValidationError<TwinErrorCode> {}
