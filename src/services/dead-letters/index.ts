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
import type { DeadLettersConfig } from '../../config.ts';
import type { SqlExecutor } from '../../db/client.ts';
import { DoppelError, failed, NotFoundError, type Failed } from '../../domain/errors.ts';
import { isTransientFailure, UnavailableError } from '../../domain/faults.ts';
import { isUuid } from '../../domain/ids.ts';
import type { Actor } from '../../domain/principal.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { AuditLog } from '../audit.ts';
import { createDeadLetterRetention, type DeadLetterRetention } from './retention.ts';

export const DEAD_LETTERS_METRIC = 'doppel_dead_letters_total';
export const DEAD_LETTER_REPLAYS_METRIC = 'doppel_dead_letter_replays_total';

/** The inbound topic kinds a dead letter can come from (src/mqtt/topics.ts, InboundKind). */
export const DEAD_LETTER_KINDS = ['telemetry', 'twinReported', 'twinGet', 'status', 'commandAck'] as const;
export type DeadLetterKind = (typeof DEAD_LETTER_KINDS)[number];

/** Longest error text kept: a stack-sized message says nothing more than its first lines. */
export const MAX_ERROR_LENGTH = 2000;

/** A device message as it arrived. */
export interface DeadMessage {
  /** The device id as in the topic. */
  deviceId: string;
  topic: string;
  kind: DeadLetterKind;
  /** The exact bytes received. */
  payload: Uint8Array;
  /** When it was received, epoch ms. */
  receivedAt: number;
}

/** Why it failed: a stable code (STORE_REFUSED, INTERNAL, …) and the error's message. */
export interface DeadLetterFailure {
  code: string;
  message: string;
  /** The error itself, for the one log line (its stack); not stored. */
  cause?: unknown;
}

export interface DeadLetter extends DeadMessage {
  id: string;
  /** Null when no device had this id when the message failed (kept for operators, listed to no tenant). */
  tenantId: string | null;
  errorCode: string;
  error: string;
  createdAt: Date;
  replayCount: number;
  lastReplayedAt: Date | null;
  /** "resolved", or "<code>: <message>" of the last replay that failed again. */
  lastReplayResult: string | null;
  resolvedAt: Date | null;
}

/** How running a message again through the bridge ended. A refusal (validation, unknown device) is a failure too. */
export type ReplayResult = { ok: true } | { ok: false; code: string; message: string };

/** Runs a message through the path the bridge uses for live messages; throws only on a transient failure. */
export type MessageReplayer = (message: DeadMessage) => Promise<ReplayResult>;

export interface ReplayOutcome {
  ok: true;
  /** The row after the replay. */
  deadLetter: DeadLetter;
  /** Whether the message is stored now (this replay, or an earlier one, succeeded). */
  resolved: boolean;
  /** The new failure when it failed again. */
  failure: { code: string; message: string } | null;
}

export interface DeadLetterQuery {
  tenantId: string;
  /** Newest first; at most this many. */
  limit: number;
  /** Only rows older than this one (the cursor of the previous page). */
  after?: { receivedAt: Date; id: string } | null;
  deviceId?: string | null;
  kind?: DeadLetterKind | null;
  /** Only rows no replay has resolved. */
  unresolvedOnly?: boolean;
}

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

export interface DeadLetterServiceOptions {
  sql: SqlExecutor;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  config: DeadLettersConfig;
  /** The bridge's path, bound late: the bridge itself records dead letters through this service. */
  replayer: MessageReplayer;
  now?: () => number;
}

interface Row {
  id: string;
  tenantId: string | null;
  deviceId: string;
  topic: string;
  kind: string;
  payload: Uint8Array;
  errorCode: string;
  error: string;
  receivedAt: Date | string;
  createdAt: Date | string;
  replayCount: number;
  lastReplayedAt: Date | string | null;
  lastReplayResult: string | null;
  resolvedAt: Date | string | null;
}

const COLUMNS = `id::text AS id, "tenantId", "deviceId", topic, kind, payload, "errorCode", error, "receivedAt", "createdAt",
  "replayCount", "lastReplayedAt", "lastReplayResult", "resolvedAt"`;

const date = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));
const dateOrNull = (value: Date | string | null): Date | null => (value === null ? null : date(value));

function toDeadLetter(row: Row): DeadLetter {
  return {
    id: row.id,
    tenantId: row.tenantId,
    deviceId: row.deviceId,
    topic: row.topic,
    kind: row.kind as DeadLetterKind,
    payload: row.payload,
    receivedAt: date(row.receivedAt).getTime(),
    errorCode: row.errorCode,
    error: row.error,
    createdAt: date(row.createdAt),
    replayCount: Number(row.replayCount),
    lastReplayedAt: dateOrNull(row.lastReplayedAt),
    lastReplayResult: row.lastReplayResult,
    resolvedAt: dateOrNull(row.resolvedAt),
  };
}

/** The error text kept: bounded, so one pathological message cannot make a row huge. */
export function boundedErrorText(message: string): string {
  return message.length <= MAX_ERROR_LENGTH ? message : `${message.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}

/** The stable code of a thrown error: a DoppelError's own, INTERNAL for anything else (a bug of ours, a constraint). */
export function failureOf(error: unknown): DeadLetterFailure {
  if (error instanceof DoppelError) return { code: error.code, message: error.message, cause: error };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), cause: error };
}

export function createDeadLetterService(options: DeadLetterServiceOptions): DeadLetterService {
  const { sql, logger, metrics, audit } = options;
  const now = options.now ?? Date.now;
  metrics.describe(DEAD_LETTERS_METRIC, 'Device messages that failed deterministically and were kept as dead letters, by topic kind and code.');
  metrics.describe(DEAD_LETTER_REPLAYS_METRIC, 'Dead-letter replays, by result (resolved, failed).');
  const retention = createDeadLetterRetention({ sql, logger, metrics, config: options.config, now });

  async function record(message: DeadMessage, failure: DeadLetterFailure): Promise<string> {
    const context = { deviceId: message.deviceId, kind: message.kind, topic: message.topic, code: failure.code };
    let id: string;
    try {
      // One statement: the tenant is the device's at the time, or null when there is no such device.
      const rows = await sql.query<{ id: string }>(
        `INSERT INTO "DeadLetter" (id, "tenantId", "deviceId", topic, kind, payload, "errorCode", error, "receivedAt")
         VALUES (gen_random_uuid(), (SELECT "tenantId" FROM "Device" WHERE "deviceId" = $1), $1, $2, $3, $4::bytea, $5, $6, $7::timestamptz)
         RETURNING id::text AS id`,
        [
          message.deviceId,
          message.topic,
          message.kind,
          Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength),
          failure.code,
          boundedErrorText(failure.message),
          new Date(message.receivedAt).toISOString(),
        ],
      );
      id = rows[0]!.id;
    } catch (error) {
      if (isTransientFailure(error)) {
        logger.warn({ ...context, err: error }, 'dead letter not recorded (database unavailable): message left unacknowledged');
        throw new UnavailableError('the database is unavailable (dead letter not recorded)', { cause: error });
      }
      // The log is the record of last resort: the whole message, so an operator can still replay it by hand.
      logger.error(
        { ...context, err: error, failure: failure.message, payloadBase64: Buffer.from(message.payload).toString('base64'), receivedAt: message.receivedAt },
        'dead letter could not be recorded',
      );
      throw error;
    }
    metrics.inc(DEAD_LETTERS_METRIC, { kind: message.kind, code: failure.code });
    logger.error({ ...context, err: failure.cause, reason: failure.message, deadLetterId: id }, 'device message failed deterministically: dead-lettered');
    return id;
  }

  async function list(query: DeadLetterQuery): Promise<DeadLetter[]> {
    const params: unknown[] = [query.tenantId, query.limit];
    const where = [`"tenantId" = $1`];
    if (query.after) {
      params.push(query.after.receivedAt.toISOString(), query.after.id);
      where.push(`("receivedAt", id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    if (query.deviceId != null) {
      params.push(query.deviceId);
      where.push(`"deviceId" = $${params.length}`);
    }
    if (query.kind != null) {
      params.push(query.kind);
      where.push(`kind = $${params.length}`);
    }
    if (query.unresolvedOnly) where.push(`"resolvedAt" IS NULL`);
    const rows = await sql.query<Row>(
      `SELECT ${COLUMNS} FROM "DeadLetter" WHERE ${where.join(' AND ')} ORDER BY "receivedAt" DESC, id DESC LIMIT $2::int`,
      params,
    );
    return rows.map(toDeadLetter);
  }

  async function load(tenantId: string, id: string): Promise<DeadLetter | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = await sql.query<Row>(`SELECT ${COLUMNS} FROM "DeadLetter" WHERE id = $1::uuid AND "tenantId" = $2`, [id, tenantId]);
    return rows[0] ? toDeadLetter(rows[0]) : undefined;
  }

  const notFound = (id: string) => failed(new NotFoundError('DeadLetter', id));

  async function replay(actor: Actor, id: string): Promise<ReplayOutcome | Failed<NotFoundError>> {
    const letter = await load(actor.tenantId, id);
    if (!letter) return notFound(id);
    if (letter.resolvedAt) return { ok: true, deadLetter: letter, resolved: true, failure: null };

    // A device id re-registered in another tenant must not receive this tenant's message.
    const owner = await sql.query<{ tenantId: string }>(`SELECT "tenantId" FROM "Device" WHERE "deviceId" = $1`, [letter.deviceId]);
    const result: ReplayResult =
      owner[0]?.tenantId === actor.tenantId
        ? await options.replayer(letter)
        : { ok: false, code: 'DEVICE_NOT_FOUND', message: `device ${letter.deviceId} does not exist in this tenant` };

    const at = new Date(now()).toISOString();
    const summary = result.ok ? 'resolved' : boundedErrorText(`${result.code}: ${result.message}`);
    const rows = await sql.query<Row>(
      `UPDATE "DeadLetter"
          SET "replayCount" = "replayCount" + 1, "lastReplayedAt" = $2::timestamptz, "lastReplayResult" = $3,
              "resolvedAt" = CASE WHEN $4::boolean THEN COALESCE("resolvedAt", $2::timestamptz) ELSE "resolvedAt" END
        WHERE id = $1::uuid
        RETURNING ${COLUMNS}`,
      [letter.id, at, summary, result.ok],
    );
    metrics.inc(DEAD_LETTER_REPLAYS_METRIC, { result: result.ok ? 'resolved' : 'failed' });
    await audit.record({
      ...actor,
      action: 'deadLetter.replay',
      target: `deadLetter:${letter.id}`,
      details: { deviceId: letter.deviceId, kind: letter.kind, result: result.ok ? 'resolved' : result.code },
    });
    // Discarded while it ran: the replay's effect stands, the row is gone.
    const after = rows[0] ? toDeadLetter(rows[0]) : { ...letter, replayCount: letter.replayCount + 1, lastReplayResult: summary };
    return {
      ok: true,
      deadLetter: after,
      resolved: result.ok,
      failure: result.ok ? null : { code: result.code, message: result.message },
    };
  }

  async function discard(actor: Actor, id: string): Promise<{ ok: true; id: string } | Failed<NotFoundError>> {
    if (!isUuid(id)) return notFound(id);
    const rows = await sql.query<{ deviceId: string; kind: string }>(
      `DELETE FROM "DeadLetter" WHERE id = $1::uuid AND "tenantId" = $2 RETURNING "deviceId", kind`,
      [id, actor.tenantId],
    );
    const row = rows[0];
    if (!row) return notFound(id);
    await audit.record({ ...actor, action: 'deadLetter.discard', target: `deadLetter:${id}`, details: { deviceId: row.deviceId, kind: row.kind } });
    return { ok: true, id };
  }

  return { record, list, replay, discard, retention };
}
