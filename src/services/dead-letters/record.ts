/** Recording a dead letter: one row per message that failed deterministically, counted and logged once. */
import { DoppelError } from '../../domain/errors.ts';
import { isTransientFailure, UnavailableError } from '../../domain/faults.ts';
import { DEAD_LETTERS_METRIC, MAX_ERROR_LENGTH, type DeadLetterFailure, type DeadLetterServiceOptions, type DeadMessage } from './types.ts';

/** The error text kept: bounded, so one pathological message cannot make a row huge. */
export function boundedErrorText(message: string): string {
  return message.length <= MAX_ERROR_LENGTH ? message : `${message.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}

/** The stable code of a thrown error: a DoppelError's own, INTERNAL for anything else (a bug of ours, a constraint). */
export function failureOf(error: unknown): DeadLetterFailure {
  if (error instanceof DoppelError) return { code: error.code, message: error.message, cause: error };
  return { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error), cause: error };
}

export function createDeadLetterRecorder(
  options: Pick<DeadLetterServiceOptions, 'sql' | 'logger' | 'metrics'>,
): (message: DeadMessage, failure: DeadLetterFailure) => Promise<string> {
  const { sql, logger, metrics } = options;

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

  return record;
}
