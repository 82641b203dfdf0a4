/**
 * Writes a batch: every dirty twin, its change-log rows and their `twin.changed` webhook events
 * (src/services/outbox/fanout.ts) in one statement. Each twin is guarded by the `revision` it was
 * loaded at, so a twin another instance wrote in the meantime is left alone (with its change rows and
 * events) and reported back as not written; the caller reloads and re-merges it.
 */
import type { SqlExecutor } from '../../db/client.ts';
import { DEVICE_FACTS_SQL, eventsWrittenSql, eventTypeSql, webhookFanoutCte, type EventsWrittenCounter } from '../outbox/fanout.ts';
import type { TwinChange, WorkingTwin } from './types.ts';

export interface TwinWriter {
  /** Writes `dirty` and the `changes` of the twins that could be written; returns the UUIDs written. */
  write(dirty: WorkingTwin[], changes: TwinChange[], at: Date): Promise<Set<string>>;
}

/**
 * One `twin.changed` event per change row of a written twin: its own event id (generated per change,
 * before the endpoint join, so every endpoint gets the same one), the device's filter facts and the thin
 * data of docs/outbox.md.
 */
const TWIN_EVENTS = webhookFanoutCte(
  'twin_events',
  `SELECT gen_random_uuid() AS event_id, ${DEVICE_FACTS_SQL}, ${eventTypeSql('twin.changed')} AS type, $9::timestamptz AS occurred_at,
                  jsonb_build_object('deviceId', d."deviceId", 'version', c.version, 'section', c.section, 'patch', c.patch,
                                     'source', c.source, 'actor', c.actor) AS data,
                  c.n AS ord
             FROM changes c
             JOIN "Device" d ON d.id = c.device_uuid
             LEFT JOIN "DeviceModel" m ON m.id = d."modelId"`,
);

export function createTwinWriter(sql: SqlExecutor, countEvents?: EventsWrittenCounter): TwinWriter {
  async function write(dirty: WorkingTwin[], changes: TwinChange[], at: Date): Promise<Set<string>> {
    if (dirty.length === 0) return new Set();
    const rows = await sql.query<{ device_uuid: string; events: number }>(
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::int[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::jsonb[], $8::jsonb[])
           AS i(device_uuid, revision, version, reported, desired, delta, reported_meta, desired_meta)
       ), updated AS (
         UPDATE "Twin" t
            SET revision = t.revision + 1, version = i.version, reported = i.reported, desired = i.desired,
                delta = i.delta, "reportedMeta" = i.reported_meta, "desiredMeta" = i.desired_meta, "updatedAt" = $9
           FROM input i
          WHERE t."deviceId" = i.device_uuid AND t.revision = i.revision
         RETURNING t."deviceId"
       ), changes AS (
         SELECT c.* FROM unnest($10::uuid[], $11::int[], $12::text[], $13::jsonb[], $14::text[], $15::text[])
             WITH ORDINALITY AS c(device_uuid, version, section, patch, source, actor, n)
          WHERE c.device_uuid IN (SELECT "deviceId" FROM updated)
       ), logged AS (
         INSERT INTO "TwinChange" ("deviceId", version, section, patch, source, actor, "createdAt")
         SELECT c.device_uuid, c.version, c.section, c.patch, c.source, c.actor, $9
           FROM changes c
          ORDER BY c.n
       ), ${TWIN_EVENTS}
       SELECT "deviceId" AS device_uuid, ${eventsWrittenSql('twin_events')} AS events FROM updated`,
      [
        dirty.map((t) => t.deviceUuid),
        dirty.map((t) => t.revision),
        dirty.map((t) => t.version),
        dirty.map((t) => JSON.stringify(t.reported.doc)),
        dirty.map((t) => JSON.stringify(t.desired.doc)),
        dirty.map((t) => JSON.stringify(t.delta)),
        dirty.map((t) => JSON.stringify(t.reported.meta)),
        dirty.map((t) => JSON.stringify(t.desired.meta)),
        at,
        changes.map((c) => c.deviceUuid),
        changes.map((c) => c.version),
        changes.map((c) => c.section),
        changes.map((c) => JSON.stringify(c.patch)),
        changes.map((c) => c.source),
        changes.map((c) => c.actor),
      ],
    );
    if (rows.length > 0) countEvents?.('twin.changed', Number(rows[0]!.events));
    return new Set(rows.map((r) => r.device_uuid));
  }

  return { write };
}
