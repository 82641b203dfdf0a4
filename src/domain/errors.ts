/**
 * Typed, expected failures of the twin domain. They are values the edges turn into replies
 * (`…/twin/reported/rejected` on MQTT, a `ValidationError` result in GraphQL), never crashes.
 */

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
  | 'INVALID_TIMESTAMP';

/**
 * A refused input of the pure domain modules (twin patches, telemetry messages): a stable code, a
 * human message and the path to the offending field. Returned, not thrown, so the edges turn it into
 * replies (`…/rejected` on MQTT, a `ValidationError` result in GraphQL) instead of crashes.
 */
export class DomainValidationError<Code extends string> extends Error {
  constructor(
    /** Stable machine-readable code. */
    readonly code: Code,
    message: string,
    /** Keys from the root to the offending key or value (array indexes as decimal strings); `[]` for the whole input. */
    readonly path: string[] = [],
  ) {
    super(message);
  }

  /** `Error` fields are not enumerable; this keeps `JSON.stringify` (logs, MQTT replies) useful. */
  toJSON(): { code: Code; message: string; path: string[] } {
    return { code: this.code, message: this.message, path: this.path };
  }
}

/** A refused twin patch (or device timestamp). */
export class TwinValidationError extends DomainValidationError<TwinErrorCode> {
  override readonly name = 'TwinValidationError';
}
