/**
 * Dead letters (docs/operations.md, "Dead letters"): a device message that failed deterministically —
 * it fails alone, on a healthy database, so retrying it as it is would only fail again — is kept in the
 * `DeadLetter` table with its exact bytes, counted and logged once, and then acknowledged. An admin of
 * the device's tenant lists it, replays it through the bridge's own path once the cause is fixed (a bug
 * fixed, a device re-created), or discards it. Nothing a device sent is dropped silently.
 *
 * What is not a dead letter: a refusal of bad input (validation, unknown device, a stale command ack)
 * is answered on `…/rejected` or counted as `doppel_mqtt_rejected_total`, and a transient failure of
 * the store leaves the message unacknowledged for the broker to deliver again.
 *
 * The table is bounded by a background sweep (retention.ts): rows received longer ago than
 * DEAD_LETTER_RETENTION_DAYS go, and each tenant keeps at most DEAD_LETTER_MAX_PER_TENANT (the oldest
 * go first), so a poison storm cannot fill the database.
 */
import type { NotFoundError, Failed } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import { createDeadLetterManagement } from './manage.ts';
import { createDeadLetterQueries } from './queries.ts';
import { createDeadLetterRecorder } from './record.ts';
import { createDeadLetterRetention, type DeadLetterRetention } from './retention.ts';
import {
  DEAD_LETTER_REPLAYS_METRIC,
  DEAD_LETTERS_METRIC,
  type DeadLetter,
  type DeadLetterFailure,
  type DeadLetterQuery,
  type DeadLetterServiceOptions,
  type DeadMessage,
  type ReplayOutcome,
} from './types.ts';

export * from './types.ts';
export { boundedErrorText, failureOf } from './record.ts';

export interface DeadLetterService {
  /**
   * Keeps a message that failed deterministically (one row), counts it in `doppel_dead_letters_total{kind,code}`
   * and logs it once at error level. Resolves with the row's id once it is stored: only then may the
   * message be acknowledged. Throws `UnavailableError` when the database is unavailable (the caller
   * leaves the message unacknowledged, so the broker delivers it again); a deterministic failure of the
   * insert itself is thrown as it came, after logging the whole message (base64) as the record of last resort.
   */
  record(message: DeadMessage, failure: DeadLetterFailure): Promise<string>;
  /** A page of a tenant's dead letters, newest received first. */
  list(query: DeadLetterQuery): Promise<DeadLetter[]>;
  /**
   * Runs a dead letter again through the bridge (MessageReplayer). Success resolves the row; a new failure
   * updates the row (never a second row). A row already resolved is returned as it is, not run again. Only
   * a device of the actor's tenant is replayed to: a device id now registered in another tenant fails
   * DEVICE_NOT_FOUND. Audited as `deadLetter.replay`. NOT_FOUND for an id of another tenant or none;
   * throws UnavailableError when the database is unavailable.
   */
  replay(actor: Actor, id: string): Promise<ReplayOutcome | Failed<NotFoundError>>;
  /** Deletes a dead letter of the actor's tenant; resolves with its id. Audited as `deadLetter.discard`. */
  discard(actor: Actor, id: string): Promise<{ ok: true; id: string } | Failed<NotFoundError>>;
  /** The retention sweep (start/stop with the app; `runOnce` for tests and operators). */
  readonly retention: DeadLetterRetention;
}

export function createDeadLetterService(options: DeadLetterServiceOptions): DeadLetterService {
  const { sql, logger, metrics, audit } = options;
  const now = options.now ?? Date.now;
  metrics.describe(DEAD_LETTERS_METRIC, 'Device messages that failed deterministically and were kept as dead letters, by topic kind and code.');
  metrics.describe(DEAD_LETTER_REPLAYS_METRIC, 'Dead-letter replays, by result (resolved, failed).');
  const retention = createDeadLetterRetention({ sql, logger, metrics, config: options.config, now });
  const record = createDeadLetterRecorder({ sql, logger, metrics });
  const { list, load } = createDeadLetterQueries({ sql });
  const { replay, discard } = createDeadLetterManagement({ sql, metrics, audit, replayer: options.replayer, now, load });
  return { record, list, replay, discard, retention };
}
