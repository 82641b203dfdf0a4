/**
 * The registry as the broker sees it: who may connect, who is connected, and the device list an
 * external broker mirrors. No actor and no audit here: this is device traffic, not an API action.
 */
import { isValidDeviceId } from '../../domain/ids.ts';
import { verifySecret } from '../../security/secrets.ts';
import type { DomainHooks } from '../hooks.ts';
import { DEVICE_FACTS_SQL, eventsWrittenCounter, eventsWrittenSql, eventTypeSql, webhookFanoutCte } from '../outbox/fanout.ts';
import type { AuthDecision, BrokerSyncRow, ConnectionState, DeviceServiceOptions } from './types.ts';

export interface DeviceBrokerView {
  /**
   * Broker authentication: username = device id, password = its current secret, or the previous one
   * inside its grace period (then accepted until the grace ends). Disabled devices and revoked
   * credentials are refused whatever the password.
   */
  authenticate(deviceId: string, password: Buffer | undefined): Promise<AuthDecision>;
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
 * The connection UPDATE with its webhook events. `previous` reads (and locks) the row first, so the
 * UPDATE can tell a flip from a repeat: an UPDATE's RETURNING sees only the new values. The event is
 * written only for a row the time guard let through and whose `connected` changed.
 */
const SET_CONNECTION_SQL = `WITH previous AS (
         SELECT id, connected FROM "Device" WHERE "deviceId" = $1 FOR UPDATE
       ), updated AS (
         UPDATE "Device" d SET connected = $2, "commandsReadyAt" = $4, "lastSeenAt" = GREATEST(COALESCE(d."lastSeenAt", $3), $3)
           FROM previous p
          WHERE d.id = p.id AND (d."lastSeenAt" IS NULL OR d."lastSeenAt" <= $3)
         RETURNING d.id, d."tenantId", p.connected AS was_connected
       ), ${webhookFanoutCte(
         'connection_events',
         `SELECT gen_random_uuid() AS event_id, ${DEVICE_FACTS_SQL},
                  CASE WHEN $2 THEN ${eventTypeSql('device.connected')} ELSE ${eventTypeSql('device.disconnected')} END AS type,
                  $3::timestamptz AS occurred_at, jsonb_build_object('deviceId', d."deviceId", 'at', $5::text) AS data, 0 AS ord
             FROM updated u
             JOIN "Device" d ON d.id = u.id
             LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
            WHERE u.was_connected IS DISTINCT FROM $2`,
       )}
       SELECT id, "tenantId", ${eventsWrittenSql('connection_events')} AS events FROM updated`;

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

export function createDeviceBrokerView(
  options: Pick<DeviceServiceOptions, 'db' | 'bus' | 'metrics'> & { hooks?: Pick<DomainHooks, 'connectionStored'> },
): DeviceBrokerView {
  const { db, bus, hooks } = options;
  const countEvents = eventsWrittenCounter(options.metrics);

  async function authenticate(deviceId: string, password: Buffer | undefined): Promise<AuthDecision> {
    if (!password || !isValidDeviceId(deviceId)) return false;
    const device = await db.prisma.device.findUnique({
      where: { deviceId },
      select: { secretHash: true, previousSecretHash: true, previousSecretExpiresAt: true, credentialsRevokedAt: true, disabledAt: true },
    });
    if (!device || device.disabledAt || device.credentialsRevokedAt) return false;
    const presented = password.toString('utf8');
    if (verifySecret(presented, device.secretHash)) return true;
    const graceEnds = device.previousSecretExpiresAt?.getTime();
    if (device.previousSecretHash && graceEnds !== undefined && graceEnds > Date.now() && verifySecret(presented, device.previousSecretHash)) {
      return { expiresAt: graceEnds };
    }
    return false;
  }

  async function setConnection(deviceId: string, state: ConnectionState, at: number): Promise<void> {
    const seen = new Date(at);
    const connected = state !== 'disconnected';
    // Ignores stale events (an old disconnect arriving after a newer connect) by comparing times.
    const rows = await db.sql.query<{ id: string; tenantId: string; events: number }>(SET_CONNECTION_SQL, [
      deviceId,
      connected,
      seen,
      state === 'ready' ? seen : null,
      seen.toISOString(),
    ]);
    const row = rows[0];
    if (!row) return;
    countEvents(connected ? 'device.connected' : 'device.disconnected', Number(row.events));
    const event = { deviceUuid: row.id, deviceId, tenantId: row.tenantId, connected, at };
    bus.publish('deviceConnection', event);
    hooks?.connectionStored.emit({ at: Date.now(), changes: [event] });
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
