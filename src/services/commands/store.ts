/**
 * Command rows: how they are read from the database into values the state machine takes, and the
 * guarded statements that write lifecycle changes back. Every write is guarded on the status the change
 * was computed from, so a row another writer moved meanwhile is left alone and reported as not written.
 */
import type { Database } from '../../db/client.ts';
import { deadlineOf } from '../../domain/commands/deadlines.ts';
import { isFinalStatus, type CommandEvent, type CommandLifecycle, type CommandStatus } from '../../domain/commands/state-machine.ts';
import type { Actor } from '../../domain/principal.ts';
import type { JsonObject, JsonValue } from '../../domain/twin.ts';
import { DEVICE_FACTS_SQL, eventsWrittenSql, eventTypeSql, isoTimestampSql, webhookFanoutCte, type EventsWrittenCounter } from '../outbox/fanout.ts';

/** A command as loaded for a transition. */
export interface CommandRow extends CommandLifecycle {
  id: string;
  /** Creation order among commands created in the same millisecond. */
  seq: bigint;
  tenantId: string;
  deviceUuid: string;
  deviceId: string;
  fleetCommandId: string | null;
  name: string;
  params: JsonObject;
  /** When the device's current session announced `online` (epoch ms), as loaded; null when it has not. */
  deviceReadyAt: number | null;
  result?: JsonValue;
  error?: JsonValue;
  canceledBy?: string;
  /** The W3C traceparent of the span that sent it, when tracing was on (src/tracing/traceparent.ts). */
  traceparent?: string | null;
}

/** One lifecycle change to store: the row as loaded and the row the state machine made of it. */
export interface RowChange {
  from: CommandRow;
  to: CommandRow;
}

/** A change that was stored: the status it left, and the command as it now is. */
export interface StoredStep {
  from: CommandStatus;
  to: CommandRow;
}

export interface CommandStore {
  /** The commands with these ids (unknown ids are left out). */
  loadByIds(ids: string[]): Promise<CommandRow[]>;
  /**
   * PENDING and SENT commands of these devices, for those connected whose session announced `online`
   * (subscribed), in creation order per device.
   */
  loadDeliverable(deviceIds: string[]): Promise<CommandRow[]>;
  /** Unfinished commands whose deadline is at or before `at`, oldest deadline first, at most `limit`. */
  loadDue(at: number, limit: number): Promise<CommandRow[]>;
  /** Devices (ids) that are connected, announced `online` and still have PENDING commands. */
  devicesWaiting(): Promise<string[]>;
  /** Stores each change guarded on its `from` status; returns the ids actually written. */
  writeTransitions(changes: RowChange[]): Promise<Set<string>>;
  /** SENT → PENDING for claims whose publish failed, guarded on SENT (an ack meanwhile wins); returns the ids released. */
  releaseClaims(rows: CommandRow[]): Promise<Set<string>>;
  /** Appends a refused event to the command's `refusals` (the newest kept up to a bound). */
  recordRefusal(row: CommandRow, reason: string, event: CommandEvent, at: number): Promise<void>;
  /** The command a device was sent with this idempotency key, if any. */
  findByKey(deviceUuid: string, key: string): Promise<string | undefined>;
}

const MAX_REFUSALS_KEPT = 50;

/**
 * A data-modifying CTE writing the `command.updated` webhook events of the commands a statement just
 * wrote: `changed` is a CTE over the rows it returned, with columns id, device_uuid, name, seq,
 * from_status (NULL on creation), to_status and at (timestamptz). Only rows the guarded statement
 * actually returned get an event, so a change lost to a concurrent writer has none.
 */
export function commandEventsCte(name: string, changed: string): string {
  return webhookFanoutCte(
    name,
    `SELECT gen_random_uuid() AS event_id, ${DEVICE_FACTS_SQL}, ${eventTypeSql('command.updated')} AS type, c.at AS occurred_at,
                  jsonb_build_object('deviceId', d."deviceId", 'commandId', c.id, 'name', c.name, 'from', c.from_status, 'to', c.to_status,
                                     'at', ${isoTimestampSql('c.at')}) AS data,
                  c.seq AS ord
             FROM ${changed} c
             JOIN "Device" d ON d.id = c.device_uuid
             LEFT JOIN "DeviceModel" m ON m.id = d."modelId"`,
  );
}

const SELECT_ROWS = `
  SELECT c.id, c.seq::text AS seq, c."tenantId", c."deviceId" AS "deviceUuid", d."deviceId", c."fleetCommandId", c.name, c.params,
         c.status, c."timeoutMs", c."expiresAt", c."createdAt", c."stateTimes", d."commandsReadyAt", c.traceparent
    FROM "Command" c JOIN "Device" d ON d.id = c."deviceId"`;

/** A command as SELECT_ROWS returns it. */
interface RawRow {
  id: string;
  seq: string;
  tenantId: string;
  deviceUuid: string;
  deviceId: string;
  fleetCommandId: string | null;
  name: string;
  params: JsonObject;
  status: CommandStatus;
  timeoutMs: number | null;
  expiresAt: Date | string | null;
  createdAt: Date | string;
  stateTimes: Record<string, number>;
  commandsReadyAt: Date | string | null;
  traceparent: string | null;
}

/** Epoch ms of a timestamp column (drivers return a Date or a string); null stays null. */
export function epochMs(value: Date | string | null): number | null {
  return value === null ? null : new Date(value).getTime();
}

function toRow(r: RawRow): CommandRow {
  return {
    id: r.id,
    seq: BigInt(r.seq),
    tenantId: r.tenantId,
    deviceUuid: r.deviceUuid,
    deviceId: r.deviceId,
    fleetCommandId: r.fleetCommandId,
    name: r.name,
    params: r.params,
    status: r.status,
    timeoutMs: r.timeoutMs === null ? null : Number(r.timeoutMs),
    expiresAt: epochMs(r.expiresAt),
    createdAt: epochMs(r.createdAt)!,
    stateTimes: r.stateTimes ?? {},
    deviceReadyAt: epochMs(r.commandsReadyAt),
    traceparent: r.traceparent,
  };
}

/** The `deadlineAt` column of a command: when the sweeper must next look at it. */
function deadlineColumn(c: CommandLifecycle): Date | null {
  const d = deadlineOf(c);
  return d === null ? null : new Date(d.at);
}

/** When the command reached the first of `states` it went through, as a timestamp column. */
function timeOf(c: CommandLifecycle, ...states: CommandStatus[]): Date | null {
  for (const s of states) {
    const t = c.stateTimes?.[s];
    if (typeof t === 'number') return new Date(t);
  }
  return null;
}

/**
 * How an actor is written on a command: `requestedBy` is the token's name and `requestedById` its id,
 * and `canceledBy` reads "<name> (<token id>)". Other actors (Doppel itself) have no token id.
 */
export function requesterColumns(actor: Actor): { requestedBy: string; requestedById: string | null; label: string } {
  const tokenId = actor.actor.startsWith('token:') ? actor.actor.slice('token:'.length) : null;
  const requestedBy = actor.actorName ?? actor.actor;
  return { requestedBy, requestedById: tokenId, label: `${requestedBy} (${tokenId ?? actor.actor})` };
}

export function createCommandStore(db: Database, countEvents?: EventsWrittenCounter): CommandStore {
  const load = async (where: string, params: unknown[]) => (await db.sql.query<RawRow>(`${SELECT_ROWS} ${where}`, params)).map(toRow);

  return {
    loadByIds: (ids) => (ids.length === 0 ? Promise.resolve([]) : load(`WHERE c.id = ANY($1::uuid[])`, [ids])),

    // Only devices whose current session announced `online` (subscribed): a command published between
    // CONNECT and SUBSCRIBE would be lost, and would have to be sent again (a duplicate) on `online`.
    loadDeliverable: (deviceIds) =>
      load(
        `WHERE d."deviceId" = ANY($1::text[]) AND d.connected AND d."commandsReadyAt" IS NOT NULL AND c.status IN ('PENDING', 'SENT')
         ORDER BY c."deviceId", c."createdAt", c.seq`,
        [deviceIds],
      ),

    loadDue: (at, limit) =>
      load(`WHERE c."deadlineAt" <= $1 AND c.status IN ('PENDING', 'SENT', 'ACCEPTED') ORDER BY c."deadlineAt" LIMIT $2`, [new Date(at), limit]),

    async devicesWaiting() {
      const rows = await db.sql.query<{ deviceId: string }>(
        `SELECT DISTINCT d."deviceId" FROM "Command" c JOIN "Device" d ON d.id = c."deviceId"
          WHERE c.status = 'PENDING' AND d.connected AND d."commandsReadyAt" IS NOT NULL LIMIT 10000`,
      );
      return rows.map((r) => r.deviceId);
    },

    async writeTransitions(changes) {
      if (changes.length === 0) return new Set();
      // The transition and its command.updated events, one statement: a row the guard refused returns
      // nothing and so has no event.
      const out = await db.sql.query<{ id: string; events: number }>(
        `WITH changed AS (
           UPDATE "Command" c
              SET status = i.status, "stateTimes" = i.state_times, result = COALESCE(i.result, c.result), error = COALESCE(i.error, c.error),
                  "canceledBy" = COALESCE(i.canceled_by, c."canceledBy"), "deadlineAt" = i.deadline_at,
                  "sentAt" = i.sent_at, "acceptedAt" = i.accepted_at, "completedAt" = i.completed_at, "updatedAt" = now()
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::text[], $8::timestamptz[],
                         $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[])
               AS i(id, from_status, status, state_times, result, error, canceled_by, deadline_at, sent_at, accepted_at, completed_at, at)
            WHERE c.id = i.id AND c.status = i.from_status
           RETURNING c.id, c."deviceId" AS device_uuid, c.name, c.seq, i.from_status, c.status AS to_status, i.at
         ), ${commandEventsCte('command_events', 'changed')}
         SELECT id, ${eventsWrittenSql('command_events')} AS events FROM changed`,
        [
          changes.map((c) => c.to.id),
          changes.map((c) => c.from.status),
          changes.map((c) => c.to.status),
          changes.map((c) => JSON.stringify(c.to.stateTimes)),
          changes.map((c) => (c.to.result !== undefined ? JSON.stringify(c.to.result) : null)),
          changes.map((c) => (c.to.error !== undefined ? JSON.stringify(c.to.error) : null)),
          changes.map((c) => c.to.canceledBy ?? null),
          changes.map((c) => deadlineColumn(c.to)),
          changes.map((c) => timeOf(c.to, 'SENT')),
          changes.map((c) => timeOf(c.to, 'ACCEPTED')),
          changes.map((c) => (isFinalStatus(c.to.status) ? timeOf(c.to, c.to.status) : null)),
          changes.map((c) => timeOf(c.to, c.to.status) ?? new Date()),
        ],
      );
      if (out.length > 0) countEvents?.('command.updated', Number(out[0]!.events));
      return new Set(out.map((r) => r.id));
    },

    async releaseClaims(rows) {
      const released = await db.sql.query<{ id: string }>(
        `UPDATE "Command" c
            SET status = 'PENDING', "stateTimes" = c."stateTimes" - 'SENT', "sentAt" = NULL, "deadlineAt" = i.deadline_at, "updatedAt" = now()
           FROM unnest($1::uuid[], $2::timestamptz[]) AS i(id, deadline_at)
          WHERE c.id = i.id AND c.status = 'SENT'
         RETURNING c.id`,
        [rows.map((r) => r.id), rows.map(deadlineColumn)],
      );
      return new Set(released.map((r) => r.id));
    },

    async recordRefusal(row, reason, event, at) {
      await db.sql.query(`UPDATE "Command" SET refusals = refusals || $2::jsonb WHERE id = $1 AND jsonb_array_length(refusals) < $3`, [
        row.id,
        JSON.stringify([{ reason, from: row.status, event, at }]),
        MAX_REFUSALS_KEPT,
      ]);
    },

    async findByKey(deviceUuid, key) {
      const rows = await db.sql.query<{ id: string }>(`SELECT id FROM "Command" WHERE "deviceId" = $1 AND "idempotencyKey" = $2`, [deviceUuid, key]);
      return rows[0]?.id;
    },
  };
}
