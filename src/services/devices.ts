import { isValidDeviceId } from '../domain/ids.ts';
import type { Database } from '../db/client.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import type { AuthDecision } from '../mqtt/transport.ts';
import { generateSecret, hashSecret, verifySecret } from '../security/secrets.ts';
import { AlreadyExistsError, NotFoundError, ValidationError, type FieldIssue } from '../domain/errors.ts';

export interface RegisterDeviceInput {
  tenantId: string;
  deviceId: string;
  name?: string | null;
  tags?: string[] | null;
  /** Name of the device model in the tenant; created on first use. */
  modelName?: string | null;
}

/** MQTT credentials of a device. The password is only ever returned here, once. */
export interface DeviceCredentials {
  username: string;
  password: string;
}

const TAG_PATTERN = /^[A-Za-z0-9._:=/-]{1,64}$/;
const MAX_TAGS = 32;

/** Longest grace period a rotation may give the old secret: 7 days. */
export const MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 3600;

/**
 * A change to what a device may do on the broker, after it is stored. External brokers mirror it
 * (src/mqtt/dynsec.ts). `active` is false while the device is disabled or its credentials revoked.
 */
export type DeviceSecurityEvent =
  | { type: 'registered'; deviceId: string; password: string }
  | { type: 'rotated'; deviceId: string; password: string; active: boolean; gracePeriodSeconds: number }
  | { type: 'revoked'; deviceId: string }
  | { type: 'disabled'; deviceId: string }
  | { type: 'enabled'; deviceId: string; active: boolean }
  | { type: 'deleted'; deviceId: string };

export interface DeviceServiceOptions {
  db: Database;
  bus: EventBus;
  logger: Logger;
  /** Kicks a device off the broker (after deletion, revocation, disabling or an immediate rotation). */
  disconnect?: (deviceId: string) => Promise<unknown>;
  /** Closes the device's current sessions at `at` (epoch ms): the end of a rotation grace period. */
  retireSessions?: (deviceId: string, at: number) => void;
  /**
   * Mirrors a stored change on an external broker. Awaited: a mutation returns once the broker has it.
   * Failures are the listener's to log and count; the next reconcile heals them.
   */
  onSecurityEvent?: (event: DeviceSecurityEvent) => Promise<void>;
  /**
   * Encrypts a new secret for storage in `brokerSecret` (only with Mosquitto dynamic security, which
   * needs plaintext passwords on reconcile). Unset: nothing but the hash is stored.
   */
  sealSecret?: (deviceId: string, secret: string) => string;
  /** Clears the retained messages the server published for a device (after deletion). */
  clearRetained?: (deviceId: string) => Promise<unknown>;
}

export function validateRegistration(input: RegisterDeviceInput): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isValidDeviceId(input.deviceId)) {
    issues.push({
      path: ['input', 'deviceId'],
      code: 'INVALID_DEVICE_ID',
      message: 'deviceId must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"',
    });
  }
  if (input.name != null && input.name.length > 200) {
    issues.push({ path: ['input', 'name'], code: 'TOO_LONG', message: 'name must be at most 200 characters' });
  }
  const tags = input.tags ?? [];
  if (tags.length > MAX_TAGS) {
    issues.push({ path: ['input', 'tags'], code: 'TOO_MANY', message: `at most ${MAX_TAGS} tags` });
  }
  tags.forEach((tag, i) => {
    if (!TAG_PATTERN.test(tag)) {
      issues.push({
        path: ['input', 'tags', String(i)],
        code: 'INVALID_TAG',
        message: `tag ${JSON.stringify(tag)} must be 1–64 characters of A–Z, a–z, 0–9 and . _ : = / -`,
      });
    }
  });
  if (input.modelName != null && !/^[A-Za-z0-9._ -]{1,100}$/.test(input.modelName)) {
    issues.push({ path: ['input', 'model'], code: 'INVALID_MODEL', message: 'model must be 1–100 characters of letters, digits, space, ".", "_" or "-"' });
  }
  return issues;
}

/** Device registry: registration, credentials, deletion, broker authentication and presence. */
export function createDeviceService(options: DeviceServiceOptions) {
  const { db, bus, logger } = options;
  const { prisma } = db;

  /**
   * The id of a device model, created on first use. One statement, so concurrent registrations that
   * name the same new model both get it (a nested Prisma connectOrCreate races on the unique index).
   */
  async function ensureModel(tenantId: string, name: string): Promise<string> {
    const rows = await db.sql.query<{ id: string }>(
      `INSERT INTO "DeviceModel" (id, "tenantId", name, "updatedAt") VALUES (gen_random_uuid(), $1, $2, now())
       ON CONFLICT ("tenantId", name) DO UPDATE SET name = EXCLUDED.name
       RETURNING id`,
      [tenantId, name],
    );
    return rows[0]!.id;
  }

  async function register(input: RegisterDeviceInput) {
    const issues = validateRegistration(input);
    if (issues.length > 0) throw new ValidationError('invalid device registration', issues);
    const password = generateSecret();
    const existing = await prisma.device.findUnique({ where: { deviceId: input.deviceId }, select: { id: true } });
    if (existing) throw new AlreadyExistsError('Device', input.deviceId);
    try {
      const device = await prisma.device.create({
        data: {
          tenantId: input.tenantId,
          deviceId: input.deviceId,
          name: input.name ?? null,
          tags: [...new Set(input.tags ?? [])],
          secretHash: hashSecret(password),
          brokerSecret: options.sealSecret?.(input.deviceId, password) ?? null,
          twin: { create: {} },
          modelId: input.modelName ? await ensureModel(input.tenantId, input.modelName) : null,
        },
      });
      logger.info({ deviceId: device.deviceId, tenantId: device.tenantId }, 'device registered');
      await options.onSecurityEvent?.({ type: 'registered', deviceId: device.deviceId, password });
      return { device, credentials: { username: device.deviceId, password } satisfies DeviceCredentials };
    } catch (error) {
      // A concurrent registration of the same id loses the unique-index race.
      if ((error as { code?: string }).code === 'P2002') throw new AlreadyExistsError('Device', input.deviceId);
      throw error;
    }
  }

  /**
   * Issues a new secret. With `gracePeriodSeconds` (default 0 = the old secret stops working now and open
   * sessions are closed), the old secret keeps working until the grace period ends, and sessions opened
   * with it are closed then — time to roll the new secret out to a fleet. Only the last old secret is
   * kept: a second rotation ends the first one's grace. Clears a revocation.
   */
  async function rotateCredentials(tenantId: string, deviceId: string, gracePeriodSeconds = 0) {
    if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0 || gracePeriodSeconds > MAX_GRACE_PERIOD_SECONDS) {
      throw new ValidationError('invalid grace period', [
        { path: ['gracePeriodSeconds'], code: 'OUT_OF_RANGE', message: `gracePeriodSeconds must be a whole number from 0 to ${MAX_GRACE_PERIOD_SECONDS} (7 days)` },
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
    if (gracePeriodSeconds === 0) await options.disconnect?.(deviceId);
    else options.retireSessions?.(deviceId, graceEnds.getTime());
    await options.onSecurityEvent?.({ type: 'rotated', deviceId, password, active: !row.disabled, gracePeriodSeconds });
    const device = await prisma.device.findUniqueOrThrow({ where: { id: row.id } });
    logger.info({ deviceId, tenantId, gracePeriodSeconds }, 'device credentials rotated');
    return { device, credentials: { username: deviceId, password } satisfies DeviceCredentials };
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
    if (on) await options.disconnect?.(deviceId);
    return row;
  }

  /** No secret works until the next rotation; open sessions are closed at once. */
  async function revokeCredentials(tenantId: string, deviceId: string) {
    const row = await setFlag(tenantId, deviceId, 'credentialsRevokedAt', true);
    await options.onSecurityEvent?.({ type: 'revoked', deviceId });
    logger.info({ deviceId, tenantId }, 'device credentials revoked');
    return prisma.device.findUniqueOrThrow({ where: { id: row.id } });
  }

  /** Refuses the device whatever its secret, and closes its sessions at once, until enableDevice. */
  async function disable(tenantId: string, deviceId: string) {
    const row = await setFlag(tenantId, deviceId, 'disabledAt', true);
    await options.onSecurityEvent?.({ type: 'disabled', deviceId });
    logger.info({ deviceId, tenantId }, 'device disabled');
    return prisma.device.findUniqueOrThrow({ where: { id: row.id } });
  }

  /** Lets a disabled device connect again (a revocation, if any, still holds until a rotation). */
  async function enable(tenantId: string, deviceId: string) {
    const row = await setFlag(tenantId, deviceId, 'disabledAt', false);
    await options.onSecurityEvent?.({ type: 'enabled', deviceId, active: row.active });
    logger.info({ deviceId, tenantId }, 'device enabled');
    return prisma.device.findUniqueOrThrow({ where: { id: row.id } });
  }

  async function remove(tenantId: string, deviceId: string): Promise<string> {
    const device = await prisma.device.findFirst({ where: { tenantId, deviceId }, select: { id: true } });
    if (!device) throw new NotFoundError('Device', deviceId);
    // Device first: its row lock waits for any ingest statement holding the device (FOR KEY SHARE) and
    // keeps later ones out; then, in a fresh snapshot that sees what those stored, its points (they have
    // no foreign key to cascade from). Twin, latest values, rollups and commands cascade.
    await prisma.$transaction([
      prisma.device.delete({ where: { id: device.id } }),
      prisma.$executeRaw`DELETE FROM "TelemetryPoint" WHERE "deviceId" = ${device.id}::uuid`,
    ]);
    await options.disconnect?.(deviceId);
    await options.onSecurityEvent?.({ type: 'deleted', deviceId });
    await options.clearRetained?.(deviceId);
    logger.info({ deviceId, tenantId }, 'device deleted');
    return device.id;
  }

  /**
   * Broker authentication: username = device id, password = its current secret, or the previous one
   * inside its grace period (then accepted until the grace ends). Disabled devices and revoked
   * credentials are refused whatever the password.
   */
  async function authenticate(deviceId: string, password: Buffer | undefined): Promise<AuthDecision> {
    if (!password || !isValidDeviceId(deviceId)) return false;
    const device = await prisma.device.findUnique({
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

  /** Records a broker connect/disconnect (or a status message) and publishes it live. */
  /**
   * Records a connection change: `connected` (CONNECT seen, not yet subscribed), `ready` (the device
   * announced `online`, which it does after subscribing, so commands may be published to it) or
   * `disconnected` (`offline`, Last Will or a dropped connection).
   */
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
    bus.publish('deviceConnection', { deviceUuid: row.id, deviceId, tenantId: row.tenantId, connected, at });
  }

  return { register, rotateCredentials, revokeCredentials, disable, enable, remove, authenticate, setConnection };
}

export type DeviceService = ReturnType<typeof createDeviceService>;

export type ConnectionState = 'connected' | 'ready' | 'disconnected';
