import { isValidDeviceId } from '../mqtt/topics.ts';
import type { Database } from '../db/client.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import { generateSecret, hashSecret, verifySecret } from '../security/secrets.ts';
import { AlreadyExistsError, NotFoundError, ValidationError, type FieldIssue } from './errors.ts';

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

export interface DeviceServiceOptions {
  db: Database;
  bus: EventBus;
  logger: Logger;
  /** Kicks a device off the broker (after deletion or credential rotation). */
  disconnect?: (deviceId: string) => Promise<unknown>;
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
          twin: { create: {} },
          modelId: input.modelName ? await ensureModel(input.tenantId, input.modelName) : null,
        },
      });
      logger.info({ deviceId: device.deviceId, tenantId: device.tenantId }, 'device registered');
      return { device, credentials: { username: device.deviceId, password } satisfies DeviceCredentials };
    } catch (error) {
      // A concurrent registration of the same id loses the unique-index race.
      if ((error as { code?: string }).code === 'P2002') throw new AlreadyExistsError('Device', input.deviceId);
      throw error;
    }
  }

  async function rotateCredentials(tenantId: string, deviceId: string) {
    const password = generateSecret();
    const { count } = await prisma.device.updateMany({ where: { tenantId, deviceId }, data: { secretHash: hashSecret(password) } });
    if (count === 0) throw new NotFoundError('Device', deviceId);
    // The old secret stops working now; a session opened with it must not outlive it.
    await options.disconnect?.(deviceId);
    const device = await prisma.device.findUniqueOrThrow({ where: { deviceId } });
    logger.info({ deviceId, tenantId }, 'device credentials rotated');
    return { device, credentials: { username: deviceId, password } satisfies DeviceCredentials };
  }

  async function remove(tenantId: string, deviceId: string): Promise<string> {
    const device = await prisma.device.findFirst({ where: { tenantId, deviceId }, select: { id: true } });
    if (!device) throw new NotFoundError('Device', deviceId);
    await prisma.device.delete({ where: { id: device.id } });
    await options.disconnect?.(deviceId);
    await options.clearRetained?.(deviceId);
    logger.info({ deviceId, tenantId }, 'device deleted');
    return device.id;
  }

  /** Broker authentication: username = device id, password = its secret. */
  async function authenticate(deviceId: string, password: Buffer | undefined): Promise<boolean> {
    if (!password || !isValidDeviceId(deviceId)) return false;
    const device = await prisma.device.findUnique({ where: { deviceId }, select: { secretHash: true } });
    if (!device) return false;
    return verifySecret(password.toString('utf8'), device.secretHash);
  }

  /** Records a broker connect/disconnect (or a status message) and publishes it live. */
  async function setConnection(deviceId: string, connected: boolean, at: number): Promise<void> {
    const seen = new Date(at);
    const rows = await db.sql.query<{ id: string; tenantId: string }>(
      // Ignore stale events (an old disconnect arriving after a newer connect) by comparing times.
      `UPDATE "Device" SET connected = $2, "lastSeenAt" = GREATEST(COALESCE("lastSeenAt", $3), $3)
        WHERE "deviceId" = $1 AND ("lastSeenAt" IS NULL OR "lastSeenAt" <= $3)
        RETURNING id, "tenantId"`,
      [deviceId, connected, seen],
    );
    const row = rows[0];
    if (!row) return;
    bus.publish('deviceConnection', { deviceUuid: row.id, deviceId, tenantId: row.tenantId, connected, at });
  }

  return { register, rotateCredentials, remove, authenticate, setConnection };
}

export type DeviceService = ReturnType<typeof createDeviceService>;
