/**
 * What a device may do on the broker: its secret (rotation with an optional grace period), revocation
 * and disabling. Every change is audited, mirrored to an external broker if there is one, and closes
 * the sessions that must not outlive it.
 */
import type { AuditAction } from '../audit.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import type { Device } from '../../generated/prisma/client.ts';
import { generateSecret, hashSecret } from '../../security/secrets.ts';
import type { DeviceSecurityEvent, DeviceServiceOptions, DeviceWithCredentials } from './types.ts';

/** Longest grace period a rotation may give the old secret: 7 days. */
export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 3600;

export interface DeviceCredentialsManager {
  /**
   * Issues a new secret. With `gracePeriodSeconds` (default 0 = the old secret stops working now and open
   * sessions are closed), the old secret keeps working until the grace period ends, and sessions opened
   * with it are closed then — time to roll the new secret out to a fleet. Only the last old secret is
   * kept: a second rotation ends the first one's grace. Clears a revocation.
   */
  rotateCredentials(actor: Actor, deviceId: string, gracePeriodSeconds?: number): Promise<DeviceWithCredentials>;
  /** No secret works until the next rotation; open sessions are closed at once. */
  revokeCredentials(actor: Actor, deviceId: string): Promise<Device>;
  /** Refuses the device whatever its secret, and closes its sessions at once, until `enable`. */
  disable(actor: Actor, deviceId: string): Promise<Device>;
  /** Lets a disabled device connect again (a revocation, if any, still holds until a rotation). */
  enable(actor: Actor, deviceId: string): Promise<Device>;
}

export function createDeviceCredentialsManager(options: DeviceServiceOptions): DeviceCredentialsManager {
  const { db, logger, sessions, audit } = options;
  const { prisma } = db;

  async function rotateCredentials(actor: Actor, deviceId: string, gracePeriodSeconds = 0): Promise<DeviceWithCredentials> {
    const { tenantId } = actor;
    if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0 || gracePeriodSeconds > MAX_GRACE_PERIOD_SECONDS) {
      throw new ValidationError('invalid grace period', [
        {
          path: ['gracePeriodSeconds'],
          code: 'OUT_OF_RANGE',
          message: `gracePeriodSeconds must be a whole number from 0 to ${MAX_GRACE_PERIOD_SECONDS} (7 days)`,
        },
      ]);
    }
    const password = generateSecret();
    const now = Date.now();
    const graceEnds = new Date(now + gracePeriodSeconds * 1000);
    // One statement: the old hash moves to previousSecretHash in the same row update that replaces it.
    const rows = await db.sql.query<{ id: string; disabled: boolean }>(
      `UPDATE "Device" SET
         "previousSecretHash" = CASE WHEN $4::int > 0 AND "credentialsRevokedAt" IS NULL THEN "secretHash" END,
         "previousSecretExpiresAt" = CASE WHEN $4::int > 0 AND "credentialsRevokedAt" IS NULL THEN $5::timestamptz END,
         "secretHash" = $3, "brokerSecret" = $6, "credentialsRevokedAt" = NULL, "updatedAt" = now()
       WHERE "tenantId" = $1 AND "deviceId" = $2
       RETURNING id, "disabledAt" IS NOT NULL AS disabled`,
      [tenantId, deviceId, hashSecret(password), gracePeriodSeconds, graceEnds, options.sealSecret?.(deviceId, password) ?? null],
    );
    const row = rows[0];
    if (!row) throw new NotFoundError('Device', deviceId);
    if (gracePeriodSeconds === 0) await sessions.disconnect(deviceId);
    else sessions.retireSessions(deviceId, graceEnds.getTime());
    await options.onSecurityEvent?.({ type: 'rotated', deviceId, password, active: !row.disabled, gracePeriodSeconds });
    const device = await prisma.device.findUniqueOrThrow({ where: { id: row.id } });
    logger.info({ deviceId, tenantId, gracePeriodSeconds }, 'device credentials rotated');
    await audit.record({ ...actor, action: 'device.rotateCredentials', target: `device:${deviceId}`, details: { gracePeriodSeconds } });
    return { device, credentials: { username: deviceId, password } };
  }

  /** Sets or clears a state column and kicks the device when it becomes unable to connect. */
  async function setFlag(tenantId: string, deviceId: string, column: 'credentialsRevokedAt' | 'disabledAt', on: boolean) {
    const rows = await db.sql.query<{ id: string; active: boolean }>(
      `UPDATE "Device" SET "${column}" = CASE WHEN $3 THEN COALESCE("${column}", now()) END,
         ${column === 'credentialsRevokedAt' ? `"previousSecretHash" = NULL, "previousSecretExpiresAt" = NULL, "brokerSecret" = NULL,` : ''}
         "updatedAt" = now()
       WHERE "tenantId" = $1 AND "deviceId" = $2
       RETURNING id, ("credentialsRevokedAt" IS NULL AND "disabledAt" IS NULL) AS active`,
      [tenantId, deviceId, on],
    );
    const row = rows[0];
    if (!row) throw new NotFoundError('Device', deviceId);
    // Refused from now on by authenticate(); sessions already open must not outlive that.
    if (on) await sessions.disconnect(deviceId);
    return row;
  }

  /** The rest of a flag change: mirror it, log it, audit it, and hand back the device as stored. */
  async function finish(actor: Actor, id: string, event: DeviceSecurityEvent, action: AuditAction, done: string): Promise<Device> {
    const { deviceId } = event;
    await options.onSecurityEvent?.(event);
    logger.info({ deviceId, tenantId: actor.tenantId }, done);
    const device = await prisma.device.findUniqueOrThrow({ where: { id } });
    await audit.record({ ...actor, action, target: `device:${deviceId}` });
    return device;
  }

  return {
    rotateCredentials,
    async revokeCredentials(actor, deviceId) {
      const row = await setFlag(actor.tenantId, deviceId, 'credentialsRevokedAt', true);
      return finish(actor, row.id, { type: 'revoked', deviceId }, 'device.revokeCredentials', 'device credentials revoked');
    },
    async disable(actor, deviceId) {
      const row = await setFlag(actor.tenantId, deviceId, 'disabledAt', true);
      return finish(actor, row.id, { type: 'disabled', deviceId }, 'device.disable', 'device disabled');
    },
    async enable(actor, deviceId) {
      const row = await setFlag(actor.tenantId, deviceId, 'disabledAt', false);
      return finish(actor, row.id, { type: 'enabled', deviceId, active: row.active }, 'device.enable', 'device enabled');
    },
  };
}
