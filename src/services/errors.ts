/**
 * Expected failures of the service layer. Each has a stable `code`; the GraphQL layer maps them to
 * typed results (Pothos errors plugin) and MQTT replies carry the same codes.
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

export class VersionConflictError extends DoppelError {
  constructor(
    readonly expectedVersion: number,
    readonly currentVersion: number,
  ) {
    super('VERSION_CONFLICT', `twin is at version ${currentVersion}, not ${expectedVersion}`);
  }
}
