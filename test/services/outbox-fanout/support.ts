/**
 * Fixtures for the fan-out tests: endpoints and devices written with SQL (the endpoint API is another
 * service's), and the WEBHOOK rows the producers wrote, read back.
 */
import type { Database } from '../../../src/db/client.ts';
import type { EventType } from '../../../src/domain/webhooks/envelope.ts';

export interface EndpointFixture {
  tenantId?: string;
  eventTypes: EventType[];
  filterDeviceIds?: string[];
  filterTags?: string[];
  filterModel?: string | null;
  enabled?: boolean;
}

/** Inserts an endpoint (no secret: nothing here delivers); returns its id. */
export async function createEndpoint(db: Database, fixture: EndpointFixture): Promise<string> {
  const rows = await db.sql.query<{ id: string }>(
    `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", "filterDeviceIds", "filterTags", "filterModel", enabled, "disabledReason")
     VALUES (gen_random_uuid(), $1, 'https://hooks.example.com/doppel', $2::text[], $3::text[], $4::text[], $5, $6, $7)
     RETURNING id`,
    [
      fixture.tenantId ?? 'default',
      fixture.eventTypes,
      fixture.filterDeviceIds ?? [],
      fixture.filterTags ?? [],
      fixture.filterModel ?? null,
      fixture.enabled ?? true,
      fixture.enabled === false ? 'ADMIN' : null,
    ],
  );
  return rows[0]!.id;
}

/** Disables every endpoint of the database, so a test starts from "nobody subscribes". */
export async function disableAllEndpoints(db: Database): Promise<void> {
  await db.sql.query(`UPDATE "WebhookEndpoint" SET enabled = false, "disabledReason" = 'ADMIN' WHERE enabled`);
}

/** A device with a twin, tags and (optionally) a model, created directly; returns its uuid. */
export async function createDevice(db: Database, deviceId: string, options: { tenantId?: string; tags?: string[]; model?: string } = {}): Promise<string> {
  const tenantId = options.tenantId ?? 'default';
  let modelId: string | null = null;
  if (options.model) {
    const model = await db.prisma.deviceModel.upsert({
      where: { tenantId_name: { tenantId, name: options.model } },
      create: { tenantId, name: options.model },
      update: {},
      select: { id: true },
    });
    modelId = model.id;
  }
  const device = await db.prisma.device.create({
    data: { deviceId, tenantId, tags: options.tags ?? [], modelId, secretHash: 'x', twin: { create: {} } },
    select: { id: true },
  });
  return device.id;
}

export interface OutboxRow {
  eventId: string;
  tenantId: string;
  kind: string;
  endpointId: string;
  actionKey: string | null;
  deviceKey: string | null;
  type: string;
  occurredAt: Date;
  data: Record<string, unknown>;
  status: string;
  seq: string;
}

/** The WEBHOOK rows about a device (by uuid), optionally of one type, in seq order. */
export async function outboxRows(db: Database, deviceKey: string, type?: EventType): Promise<OutboxRow[]> {
  const rows = await db.sql.query<OutboxRow>(
    `SELECT "eventId", "tenantId", kind, "endpointId", "actionKey", "deviceKey", type, "occurredAt", data, status, seq::text AS seq
       FROM "Outbox" WHERE "deviceKey" = $1 AND ($2::text IS NULL OR type = $2) ORDER BY seq`,
    [deviceKey, type ?? null],
  );
  return rows.map((r) => ({ ...r, occurredAt: new Date(r.occurredAt) }));
}

/** The endpoints that received rows, sorted, for comparing with the expected set. */
export function endpointsOf(rows: OutboxRow[]): string[] {
  return [...new Set(rows.map((r) => r.endpointId))].sort();
}
