/** What an admin does with a dead letter: replay it through the bridge, or discard it. Both audited. */
import { failed, NotFoundError, type Failed } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { Actor } from '../../domain/principal.ts';
import { boundedErrorText } from './record.ts';
import { COLUMNS, toDeadLetter, type Row } from './rows.ts';
import { DEAD_LETTER_REPLAYS_METRIC, type DeadLetter, type DeadLetterServiceOptions, type ReplayOutcome, type ReplayResult } from './types.ts';

export function createDeadLetterManagement(
  options: Pick<DeadLetterServiceOptions, 'sql' | 'metrics' | 'audit' | 'replayer'> & {
    now: () => number;
    load: (tenantId: string, id: string) => Promise<DeadLetter | undefined>;
  },
) {
  const { sql, metrics, audit, now, load } = options;

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

  return { replay, discard };
}
