/**
 * The registry as the broker sees it: who may connect, who is connected, and the device list an
 * external broker mirrors. No actor and no audit here: this is device traffic, not an API action.
 */
import { isValidDeviceId } from '../../domain/ids.ts';
import { verifySecret } from '../../security/secrets.ts';
import type { DomainHooks } from '../hooks.ts';
import type { AuthDecision, BrokerSyncRow, ConnectionState, DeviceServiceOptions } from './types.ts';

export interface DeviceBrokerView {
  /**
   * Broker authentication: username = device id, password = its current secret, or the previous one
   * inside its grace period (then accepted until the grace ends). Disabled devices and revoked
   * credentials are refused whatever the password.
   */
  authenticate(deviceId: string, password: Buffer | undefined): Promise<AuthDecision>;
  /** Records a connection change and publishes it live; stale events (older than the last seen) are ignored. */
  setConnection(deviceId: string, state: ConnectionState, at: number): Promise<void>;
  /** Devices ordered by device id, after `after` (exclusive), at most `limit`: a page of the broker mirror's reconcile. */
  listForBrokerSync(after: string | null, limit: number): Promise<BrokerSyncRow[]>;
}

export function createDeviceBrokerView(
  options: Pick<DeviceServiceOptions, 'db' | 'bus'> & { hooks?: Pick<DomainHooks, 'connectionStored'> },
): DeviceBrokerView {
  const { db, bus, hooks } = options;

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
    const rows = await db.sql.query<{ id: string; tenantId: string }>(
      // Ignore stale events (an old disconnect arriving after a newer connect) by comparing times.
      `UPDATE "Device" SET connected = $2, "commandsReadyAt" = $4, "lastSeenAt" = GREATEST(COALESCE("lastSeenAt", $3), $3)
        WHERE "deviceId" = $1 AND ("lastSeenAt" IS NULL OR "lastSeenAt" <= $3)
        RETURNING id, "tenantId"`,
      [deviceId, connected, seen, state === 'ready' ? seen : null],
    );
    const row = rows[0];
    if (!row) return;
    const event = { deviceUuid: row.id, deviceId, tenantId: row.tenantId, connected, at };
    bus.publish('deviceConnection', event);
    hooks?.connectionStored.emit({ at: Date.now(), changes: [event] });
  }

  function listForBrokerSync(after: string | null, limit: number): Promise<BrokerSyncRow[]> {
    return db.sql.query<BrokerSyncRow>(
      `SELECT "deviceId", ("disabledAt" IS NULL AND "credentialsRevokedAt" IS NULL) AS active, "brokerSecret"
         FROM "Device" WHERE $1::text IS NULL OR "deviceId" > $1 ORDER BY "deviceId" LIMIT $2`,
      [after, limit],
    );
  }

  return { authenticate, setConnection, listForBrokerSync };
}
