/**
 * Devices coming and going: registration (with the first secret) and deletion, each in one transaction
 * with its `device.registered` / `device.deleted` webhook events (src/services/outbox/fanout.ts).
 */
import { randomUUID } from 'node:crypto';
import { AlreadyExistsError, NotFoundError, ValidationError, type FieldIssue } from '../../domain/errors.ts';
import { isValidDeviceId, isValidModelName, isValidTag } from '../../domain/ids.ts';
import type { Actor } from '../../domain/principal.ts';
import { PROVISIONING_USERNAME } from '../../domain/provisioning/policy.ts';
import { generateSecret, hashSecret } from '../../security/secrets.ts';
import { DEVICE_FACTS_SQL, eventsWrittenCounter, eventsWrittenSql, eventTypeSql, webhookFanoutCte } from '../outbox/fanout.ts';
import type { DeviceServiceOptions, DeviceWithCredentials, RegisterDeviceInput } from './types.ts';

const MAX_TAGS = 32;

export interface DeviceRegistry {
  /** Registers a device of the actor's tenant, with its twin; the password is returned here only. */
  register(actor: Actor, input: RegisterDeviceInput): Promise<DeviceWithCredentials>;
  /** Deletes a device of the actor's tenant and everything it stored; returns its UUID. */
  remove(actor: Actor, deviceId: string): Promise<string>;
}

/** Field-level problems with a registration (paths as the GraphQL `input` argument names them). */
export function validateRegistration(input: RegisterDeviceInput): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isValidDeviceId(input.deviceId)) {
    issues.push({
      path: ['input', 'deviceId'],
      code: 'INVALID_DEVICE_ID',
      message: 'deviceId must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"',
    });
  } else if (input.deviceId === PROVISIONING_USERNAME) {
    // The MQTT username of provisioning clients (docs/onboarding.md "Provisioning"): no device may have it.
    issues.push({ path: ['input', 'deviceId'], code: 'INVALID_DEVICE_ID', message: `deviceId "${PROVISIONING_USERNAME}" is reserved for provisioning` });
  }
  if (input.name != null && input.name.length > 200) {
    issues.push({ path: ['input', 'name'], code: 'TOO_LONG', message: 'name must be at most 200 characters' });
  }
  const tags = input.tags ?? [];
  if (tags.length > MAX_TAGS) {
    issues.push({ path: ['input', 'tags'], code: 'TOO_MANY', message: `at most ${MAX_TAGS} tags` });
  }
  tags.forEach((tag, i) => {
    if (!isValidTag(tag)) {
      issues.push({
        path: ['input', 'tags', String(i)],
        code: 'INVALID_TAG',
        message: `tag ${JSON.stringify(tag)} must be 1–64 characters of A–Z, a–z, 0–9 and . _ : = / -`,
      });
    }
  });
  if (input.modelName != null && !isValidModelName(input.modelName)) {
    issues.push({ path: ['input', 'model'], code: 'INVALID_MODEL', message: 'model must be 1–100 characters of letters, digits, space, ".", "_" or "-"' });
  }
  return issues;
}

/**
 * The registry event of the device `$1` (uuid) as it is in the transaction's snapshot, one statement
 * returning the rows written. Run after the create (the device exists) and before the delete (the
 * filters still see its tags and model).
 */
function deviceEventSql(type: 'device.registered' | 'device.deleted', occurredAt: string, devices = 'd.id = $1::uuid'): string {
  return `WITH ${webhookFanoutCte(
    'device_events',
    `SELECT gen_random_uuid() AS event_id, ${DEVICE_FACTS_SQL}, ${eventTypeSql(type)} AS type, ${occurredAt} AS occurred_at,
                  jsonb_build_object('deviceId', d."deviceId", 'name', d.name, 'tags', to_jsonb(d.tags), 'model', m.name) AS data, 0 AS ord
             FROM "Device" d
             LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
            WHERE ${devices}`,
  )}
       SELECT ${eventsWrittenSql('device_events')} AS events`;
}

const REGISTERED_EVENT_SQL = deviceEventSql('device.registered', 'd."createdAt"');
const DELETED_EVENT_SQL = deviceEventSql('device.deleted', 'now()');
/** The registry events of the devices `$1` (uuid[]) of one bulk registration (./bulk.ts). */
export const REGISTERED_EVENTS_SQL = deviceEventSql('device.registered', 'd."createdAt"', 'd.id = ANY($1::uuid[])');

export function createDeviceRegistry(options: DeviceServiceOptions): DeviceRegistry {
  const { db, logger, sessions, audit } = options;
  const { prisma } = db;
  const countEvents = eventsWrittenCounter(options.metrics);

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

  async function register(actor: Actor, input: RegisterDeviceInput): Promise<DeviceWithCredentials> {
    const issues = validateRegistration(input);
    if (issues.length > 0) throw new ValidationError('invalid device registration', issues);
    const password = generateSecret();
    const existing = await prisma.device.findUnique({ where: { deviceId: input.deviceId }, select: { id: true } });
    if (existing) throw new AlreadyExistsError('Device', input.deviceId);
    try {
      const modelId = input.modelName ? await ensureModel(actor.tenantId, input.modelName) : null;
      // The id is chosen here so the event statement, batched in the same transaction, can name it.
      const id = randomUUID();
      const [device, events] = await prisma.$transaction([
        prisma.device.create({
          data: {
            id,
            tenantId: actor.tenantId,
            deviceId: input.deviceId,
            name: input.name ?? null,
            tags: [...new Set(input.tags ?? [])],
            secretHash: hashSecret(password),
            brokerSecret: options.sealSecret?.(input.deviceId, password) ?? null,
            twin: { create: {} },
            modelId,
          },
        }),
        prisma.$queryRawUnsafe<Array<{ events: number }>>(REGISTERED_EVENT_SQL, id),
      ]);
      countEvents('device.registered', Number(events[0]?.events ?? 0));
      logger.info({ deviceId: device.deviceId, tenantId: device.tenantId }, 'device registered');
      await options.onSecurityEvent?.({ type: 'registered', deviceId: device.deviceId, password });
      await audit.record({
        ...actor,
        action: 'device.register',
        target: `device:${device.deviceId}`,
        details: { name: device.name, tags: device.tags, model: input.modelName ?? null },
      });
      return { device, credentials: { username: device.deviceId, password } };
    } catch (error) {
      // A concurrent registration of the same id loses the unique-index race.
      if ((error as { code?: string }).code === 'P2002') throw new AlreadyExistsError('Device', input.deviceId);
      throw error;
    }
  }

  async function remove(actor: Actor, deviceId: string): Promise<string> {
    const { tenantId } = actor;
    const device = await prisma.device.findFirst({ where: { tenantId, deviceId }, select: { id: true } });
    if (!device) throw new NotFoundError('Device', deviceId);
    // Its device.deleted event first, in the same transaction, while the filters still see its tags and
    // model (a delete that then fails, e.g. a concurrent one won, rolls the event back with it). Then the
    // device: its row lock waits for any ingest statement holding the device (FOR KEY SHARE) and keeps
    // later ones out; then, in a fresh snapshot that sees what those stored, its points (they have no
    // foreign key to cascade from). Twin, latest values, rollups and commands cascade.
    const [events] = await prisma.$transaction([
      prisma.$queryRawUnsafe<Array<{ events: number }>>(DELETED_EVENT_SQL, device.id),
      prisma.device.delete({ where: { id: device.id } }),
      prisma.$executeRaw`DELETE FROM "TelemetryPoint" WHERE "deviceId" = ${device.id}::uuid`,
    ]);
    countEvents('device.deleted', Number(events[0]?.events ?? 0));
    await sessions.disconnect(deviceId);
    await options.onSecurityEvent?.({ type: 'deleted', deviceId });
    await sessions.clearRetained(deviceId);
    logger.info({ deviceId, tenantId }, 'device deleted');
    await audit.record({ ...actor, action: 'device.delete', target: `device:${deviceId}` });
    return device.id;
  }

  return { register, remove };
}
