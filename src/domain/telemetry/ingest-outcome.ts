/**
 * What ingesting one telemetry message comes to: stored, or refused with a stable code. The parser's
 * refusals (src/domain/telemetry/message.ts) carry the path to the offending field; the pipeline adds
 * refusals of its own, which concern the message as a whole.
 */
import { DoppelError, type Failed } from '../errors.ts';
import type { TelemetryErrorCode, TelemetryValidationError } from './message.ts';

/**
 * Refusals the pipeline adds to the parser's. Stable codes, like the parser's: they are counted in
 * metrics and logged, so they must never be renamed.
 */
export type TelemetryPipelineCode =
  /** The device does not exist (any more): deleted while its messages were in flight. */
  | 'DEVICE_NOT_FOUND'
  /** No room in the pipeline within `backpressureTimeoutMs`. */
  | 'OVERLOADED'
  /** The service has drained for shutdown. */
  | 'SHUTTING_DOWN'
  /** The store refuses the device's points for good: writing them fails even alone, on a database that takes other writes. */
  | 'STORE_REFUSED';

/** Why a telemetry message was not stored. The parser's codes, plus what the pipeline adds. */
export type TelemetryRefusalCode = TelemetryErrorCode | TelemetryPipelineCode;

/** A well-formed message the pipeline could not store (see `TelemetryPipelineCode`). */
export class TelemetryRefusedError extends DoppelError {
  declare readonly code: TelemetryPipelineCode;
  constructor(code: TelemetryPipelineCode, message: string) {
    super(code, message);
  }
}

/** Either refusal; `code` tells them apart, `path` exists only on the parser's. */
export type TelemetryIngestError = TelemetryValidationError | TelemetryRefusedError;

export type IngestOutcome = { ok: true; /** Distinct (metric, ts) points in the message. */ points: number } | Failed<TelemetryIngestError>;
