/**
 * Changing what a device is called, how it is tagged and which model it follows (`updateDevice`).
 * Tags and model decide which rules, webhook filters and fleet commands reach the device; they take
 * effect from the next message or query, since those read them from the device row each time.
 */
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import type { Device } from '../../generated/prisma/client.ts';
import { validateRegistration } from './registry.ts';
import type { DeviceServiceOptions } from './types.ts';

/** Fields left undefined keep their value; `name: null` and `modelName: null` clear it, `tags: []` removes every tag. */
export interface DeviceUpdateInput {
  name?: string | null;
  tags?: string[];
  modelName?: string | null;
}

export interface DeviceUpdater {
  /** Updates a device of the actor's tenant. Audited as `device.update` with the fields given. */
  update(actor: Actor, deviceId: string, input: DeviceUpdateInput): Promise<Device>;
}

export function createDeviceUpdater(options: DeviceServiceOptions): DeviceUpdater {
  const { db, logger, audit } = options;

  async function update(actor: Actor, deviceId: string, input: DeviceUpdateInput): Promise<Device> {
    const { tenantId } = actor;
    // The registration's checks, minus the id (the device exists; its id never changes).
    const issues = validateRegistration({ deviceId, name: input.name ?? null, tags: input.tags ?? [], modelName: input.modelName ?? null }).filter(
      (issue) => issue.path[1] !== 'deviceId',
    );
    if (issues.length > 0) throw new ValidationError('invalid device update', issues);
    // One statement: the model (created on first use, as at registration) and the device row together.
    const setName = input.name !== undefined;
    const setTags = input.tags !== undefined;
    const setModel = input.modelName !== undefined;
    const rows = await db.sql.query<{ id: string }>(
      `WITH model AS (
         INSERT INTO "DeviceModel" (id, "tenantId", name, "updatedAt")
         SELECT gen_random_uuid(), $1, $7, now() WHERE $6 AND $7::text IS NOT NULL
         ON CONFLICT ("tenantId", name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id
       )
       UPDATE "Device" SET
         name = CASE WHEN $3 THEN $4::text ELSE name END,
         tags = CASE WHEN $5 THEN $8::text[] ELSE tags END,
         "modelId" = CASE WHEN $6 THEN (SELECT id FROM model) ELSE "modelId" END,
         "updatedAt" = now()
       WHERE "tenantId" = $1 AND "deviceId" = $2
       RETURNING id`,
      [tenantId, deviceId, setName, input.name ?? null, setTags, setModel, input.modelName ?? null, [...new Set(input.tags ?? [])]],
    );
    if (rows.length === 0) throw new NotFoundError('Device', deviceId);
    const device = await db.prisma.device.findUniqueOrThrow({ where: { id: rows[0]!.id } });
    logger.info({ tenantId, deviceId }, 'device updated');
    const details: Record<string, string | string[] | null> = {};
    if (setName) details.name = input.name ?? null;
    if (setTags) details.tags = device.tags;
    if (setModel) details.model = input.modelName ?? null;
    await audit.record({ ...actor, action: 'device.update', target: `device:${deviceId}`, details });
    return device;
  }

  return { update };
}
