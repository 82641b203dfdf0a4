/**
 * The registry as the broker sees it: who may connect, who is connected, and the device list an
 * external broker mirrors. No actor and no audit here: this is device traffic, not an API action.
 */
import { isValidDeviceId } from '../../domain/ids.ts';
import { verifySecret } from '../../security/secrets.ts';
import { ItemFailure } from '../poison.ts';
import { SerialBatcher } from '../serial-batcher.ts';
import type { DomainHooks } from '../hooks.ts';
import { DEVICE_FACTS_SQL, eventsWrittenCounter, eventsWrittenSql, eventTypeSql, webhookFanoutCte } from '../outbox/fanout.ts';
import type { AuthDecision, BrokerSyncRow, ConnectionState, DeviceServiceOptions } from './types.ts';

export interface DeviceBrokerView {
  /**
   * Broker authentication: username = device id, password = its current secret, or the previous one
   * inside its grace period (then accepted until the grace ends). Disabled devices and revoked
   * credentials are refused whatever the password. A CONNECT whose client has `abandoned` it by the
   * time its batch is looked up is left out of the statement and rejected (no answer can reach it).
   */
  authenticate(deviceId: string, password: Buffer | undefined, connect?: { abandoned(): boolean }): Promise<AuthDecision>;
  /**
   * Records a connection change and publishes it live; stale events (older than the last seen) are
   * ignored. When `connected` flips, the same statement writes the `device.connected` /
   * `device.disconnected` webhook events.
   */
  setConnection(deviceId: string, state: ConnectionState, at: number): Promise<void>;
  /**
   * Marks offline, as of `asOf`, every device the database shows connected that was not seen since
   * then (`lastSeenAt` before it): after a crash of the embedded broker, its sessions are gone and a
   * device that did not come back would otherwise show `connected: true` for ever. One statement with
   * the `device.disconnected` webhook events; the changes are published live and to the rules like
   * any disconnect. A device that reconnected after `asOf` has a later `lastSeenAt` and is left alone.
   * Returns the number of devices marked offline.
   */
  disconnectStale(asOf: Date): Promise<number>;
  /** Devices ordered by device id, after `after` (exclusive), at most `limit`: a page of the broker mirror's reconcile. */
  listForBrokerSync(after: string | null, limit: number): Promise<BrokerSyncRow[]>;
}

/**
 * Most CONNECTs or connection changes one statement carries. Far above what arrives in one turn of the
 * event loop in a storm (bench:farm); it bounds a statement's parameter arrays, not the throughput.
 */
const MAX_PER_STATEMENT = 2000;

/**
 * The credentials of every device that CONNECTed in one turn of the event loop (see `authenticate`):
 * one indexed lookup by the unique "deviceId" for all of them. Times as epoch ms so both drivers
 * (PGlite, node-postgres) hand back the same numbers.
 */
const AUTHENTICATE_SQL = `SELECT "deviceId" AS device_id, "secretHash" AS secret_hash, "previousSecretHash" AS previous_secret_hash,
         (extract(epoch FROM "previousSecretExpiresAt") * 1000)::float8 AS previous_expires_ms,
         ("disabledAt" IS NOT NULL OR "credentialsRevokedAt" IS NOT NULL) AS refused
    FROM "Device" WHERE "deviceId" = ANY($1::text[])`;

/**
 * The connection UPDATE with its webhook events, for a batch of changes (at most one per device: see
 * `layers`). `previous` reads (and locks, in id order) the rows first, so the UPDATE can tell a flip
 * from a repeat: an UPDATE's RETURNING sees only the new values. A change is applied only where the
 * time guard lets it through (older than the last seen: ignored), and an event is written only for an
 * applied change whose `connected` differs from the stored one.
 */
const SET_CONNECTIONS_SQL = `WITH input AS (
         SELECT * FROM unnest($1::text[], $2::boolean[], $3::timestamptz[], $4::timestamptz[], $5::text[])
                AS s(device_id, connected, seen, ready_at, at_text)
       ), previous AS (
         SELECT d.id, d.connected AS was_connected, i.connected, i.seen, i.ready_at, i.at_text
           FROM "Device" d JOIN input i ON i.device_id = d."deviceId"
          ORDER BY d.id
            FOR UPDATE OF d
       ), updated AS (
         UPDATE "Device" d SET connected = p.connected, "commandsReadyAt" = p.ready_at, "lastSeenAt" = GREATEST(COALESCE(d."lastSeenAt", p.seen), p.seen)
           FROM previous p
          WHERE d.id = p.id AND (d."lastSeenAt" IS NULL OR d."lastSeenAt" <= p.seen)
         RETURNING d.id, d."deviceId", d."tenantId", p.was_connected, p.connected, p.seen, p.at_text
       ), ${webhookFanoutCte(
         'connection_events',
         `SELECT gen_random_uuid() AS event_id, ${DEVICE_FACTS_SQL},
                  CASE WHEN u.connected THEN ${eventTypeSql('device.connected')} ELSE ${eventTypeSql('device.disconnected')} END AS type,
                  u.seen AS occurred_at, jsonb_build_object('deviceId', d."deviceId", 'at', u.at_text) AS data, 0 AS ord
             FROM updated u
             JOIN "Device" d ON d.id = u.id
             LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
            WHERE u.was_connected IS DISTINCT FROM u.connected`,
       )}
       SELECT id, "deviceId", "tenantId", connected,
              (SELECT count(*) FROM connection_events WHERE type = ${eventTypeSql('device.connected')})::int AS connected_events,
              (SELECT count(*) FROM connection_events WHERE type = ${eventTypeSql('device.disconnected')})::int AS disconnected_events
         FROM updated`;

/** One connection change waiting for its statement. */
interface ConnectionChange {
  deviceId: string;
  state: ConnectionState;
  at: number;
}

/**
 * Splits a batch so that no statement holds a device twice (an UPDATE changes a row once per
 * statement): a device's first change goes into the first layer, its second into the second, and so
 * on, so each device's changes are applied in the order they came. In a storm nearly every batch is a
 * single layer.
 */
export function layers<T extends { deviceId: string }>(items: readonly T[]): Array<Array<{ item: T; index: number }>> {
  const out: Array<Array<{ item: T; index: number }>> = [];
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const layer = seen.get(item.deviceId) ?? 0;
    seen.set(item.deviceId, layer + 1);
    (out[layer] ??= []).push({ item, index });
  });
  return out;
}

/** The stale-presence sweep (see `disconnectStale`): `$1` is the moment the broker started. */
const DISCONNECT_STALE_SQL = `WITH updated AS (
         UPDATE "Device" d SET connected = false, "commandsReadyAt" = NULL
          WHERE d.connected AND (d."lastSeenAt" IS NULL OR d."lastSeenAt" < $1)
         RETURNING d.id, d."deviceId", d."tenantId"
       ), ${webhookFanoutCte(
         'connection_events',
         `SELECT gen_random_uuid() AS event_id, ${DEVICE_FACTS_SQL}, ${eventTypeSql('device.disconnected')} AS type,
                  $1::timestamptz AS occurred_at, jsonb_build_object('deviceId', d."deviceId", 'at', $2::text) AS data, 0 AS ord
             FROM updated u
             JOIN "Device" d ON d.id = u.id
             LEFT JOIN "DeviceModel" m ON m.id = d."modelId"`,
       )}
       SELECT id, "deviceId", "tenantId", ${eventsWrittenSql('connection_events')} AS events FROM updated`;

/** One CONNECT waiting for its credentials. */
interface CredentialLookup {
  deviceId: string;
  connect: { abandoned(): boolean } | undefined;
}

/** The rejection of a CONNECT left out of its credentials lookup because its client had gone. */
export class ConnectAbandonedError extends Error {
  constructor(readonly deviceId: string) {
    super(`CONNECT of ${deviceId} abandoned: the client closed its connection before its credentials were looked up`);
    this.name = 'ConnectAbandonedError';
  }
}

interface CredentialRow {
  device_id: string;
  secret_hash: string;
  previous_secret_hash: string | null;
  previous_expires_ms: number | string | null;
  refused: boolean;
}

export function createDeviceBrokerView(
  options: Pick<DeviceServiceOptions, 'db' | 'bus' | 'metrics'> & { hooks?: Pick<DomainHooks, 'connectionStored'> },
): DeviceBrokerView {
  const { db, bus, hooks } = options;
  const countEvents = eventsWrittenCounter(options.metrics);

  /**
   * CONNECTs are looked up together: every authentication asked for while a lookup runs (or in the same
   * turn of the event loop) shares the next one. The secret check itself is a SHA-256 comparison
   * (src/security/secrets.ts), cheap next to the lookup, so nothing is cached: a rotation, revocation,
   * disabling or deletion counts from the next CONNECT on, as before.
   */
  const credentialLookups = new SerialBatcher<CredentialLookup, CredentialRow | undefined>({
    maxBatch: MAX_PER_STATEMENT,
    maxPending: Number.MAX_SAFE_INTEGER,
    async flush(lookups) {
      // In a storm a CONNECT can wait in this queue longer than its client does: one that gave up costs
      // no row (and a batch of them no statement). Decided here, at the last moment before the query.
      const abandoned = lookups.map((lookup) => lookup.connect?.abandoned() ?? false);
      const wanted = [...new Set(lookups.filter((_, i) => !abandoned[i]).map((lookup) => lookup.deviceId))];
      const rows = wanted.length === 0 ? [] : await db.sql.query<CredentialRow>(AUTHENTICATE_SQL, [wanted]);
      const byId = new Map(rows.map((row) => [row.device_id, row]));
      return lookups.map((lookup, i) => (abandoned[i] ? new ItemFailure(new ConnectAbandonedError(lookup.deviceId)) : byId.get(lookup.deviceId)));
    },
  });

  async function authenticate(deviceId: string, password: Buffer | undefined, connect?: { abandoned(): boolean }): Promise<AuthDecision> {
    if (!password || !isValidDeviceId(deviceId)) return false;
    const device = await credentialLookups.submit({ deviceId, connect });
    if (!device || device.refused) return false;
    const presented = password.toString('utf8');
    if (verifySecret(presented, device.secret_hash)) return true;
    const graceEnds = device.previous_expires_ms === null ? undefined : Number(device.previous_expires_ms);
    if (device.previous_secret_hash && graceEnds !== undefined && graceEnds > Date.now() && verifySecret(presented, device.previous_secret_hash)) {
      return { expiresAt: graceEnds };
    }
    return false;
  }

  /**
   * Connection changes are written together: every change asked for while a statement runs (or in the
   * same turn of the event loop) goes into the next one, so a storm of CONNECTs and `online`s costs one
   * statement per batch, not one per device. Each caller still resolves once its own change is stored.
   */
  const connectionWrites = new SerialBatcher<ConnectionChange, void>({
    maxBatch: MAX_PER_STATEMENT,
    // Bounded by the connections that can be open: every change is one CONNECT, disconnect or `online`.
    maxPending: Number.MAX_SAFE_INTEGER,
    async flush(changes) {
      for (const layer of layers(changes)) await writeConnections(layer.map(({ item }) => item));
      return changes.map(() => undefined);
    },
  });

  async function writeConnections(changes: ConnectionChange[]): Promise<void> {
    const seen = changes.map((c) => new Date(c.at));
    // Ignores stale events (an old disconnect arriving after a newer connect) by comparing times.
    const rows = await db.sql.query<{
      id: string;
      deviceId: string;
      tenantId: string;
      connected: boolean;
      connected_events: number;
      disconnected_events: number;
    }>(SET_CONNECTIONS_SQL, [
      changes.map((c) => c.deviceId),
      changes.map((c) => c.state !== 'disconnected'),
      seen,
      changes.map((c, i) => (c.state === 'ready' ? seen[i] : null)),
      seen.map((d) => d.toISOString()),
    ]);
    if (rows.length === 0) return;
    countEvents('device.connected', Number(rows[0]!.connected_events));
    countEvents('device.disconnected', Number(rows[0]!.disconnected_events));
    const atOf = new Map(changes.map((c) => [c.deviceId, c.at]));
    const events = rows.map((row) => ({
      deviceUuid: row.id,
      deviceId: row.deviceId,
      tenantId: row.tenantId,
      connected: row.connected,
      at: atOf.get(row.deviceId)!,
    }));
    for (const event of events) bus.publish('deviceConnection', event);
    hooks?.connectionStored.emit({ at: Date.now(), changes: events });
  }

  function setConnection(deviceId: string, state: ConnectionState, at: number): Promise<void> {
    return connectionWrites.submit({ deviceId, state, at });
  }

  async function disconnectStale(asOf: Date): Promise<number> {
    const rows = await db.sql.query<{ id: string; deviceId: string; tenantId: string; events: number }>(DISCONNECT_STALE_SQL, [asOf, asOf.toISOString()]);
    if (rows.length === 0) return 0;
    countEvents('device.disconnected', Number(rows[0]!.events));
    const at = asOf.getTime();
    const changes = rows.map((row) => ({ deviceUuid: row.id, deviceId: row.deviceId, tenantId: row.tenantId, connected: false, at }));
    for (const event of changes) bus.publish('deviceConnection', event);
    hooks?.connectionStored.emit({ at: Date.now(), changes });
    return rows.length;
  }

  function listForBrokerSync(after: string | null, limit: number): Promise<BrokerSyncRow[]> {
    return db.sql.query<BrokerSyncRow>(
      `SELECT "deviceId", ("disabledAt" IS NULL AND "credentialsRevokedAt" IS NULL) AS active, "brokerSecret"
         FROM "Device" WHERE $1::text IS NULL OR "deviceId" > $1 ORDER BY "deviceId" LIMIT $2`,
      [after, limit],
    );
  }

  return { authenticate, setConnection, disconnectStale, listForBrokerSync };
}
