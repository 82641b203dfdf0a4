/**
 * The hot read path of the API: a device with its twin, by device id or as a page, for one request.
 *
 * Through Prisma a device with its twin costs two statements (the device, then the twin by the
 * device's uuid) plus Prisma's per-call planning and row mapping; a page of 100 devices costs the same
 * two statements with 100 bind parameters. Here each read is one parameterized statement (the twin
 * joined to its device) on the driver Prisma uses, and device-id reads made in the same tick share one
 * statement (DataLoader), as do those of concurrent requests (see {@link DeviceReadBatches}). Every
 * statement is scoped by tenant, and every loader is keyed by tenant: a request never sees another
 * tenant's device, whatever ids it asks for.
 *
 * Nothing is cached across requests: each request gets a new reader, so a read after an accepted
 * change (a twin update, a device report) sees it.
 */
import DataLoader from 'dataloader';
import type { SqlExecutor } from '../db/client.ts';
import { isUuid } from '../domain/ids.ts';
import type { Device, Twin } from '../generated/prisma/client.ts';

/**
 * A twin as these reads return it: without its per-leaf metadata, which only `Twin.metadata` shows
 * and which is several times the size of the state (the field loads it with {@link DeviceReader.twinMetadata}).
 */
export type TwinState = Omit<Twin, 'reportedMeta' | 'desiredMeta'>;
export type TwinMetadata = Pick<Twin, 'reportedMeta' | 'desiredMeta'>;

export type DeviceWithTwin = Device & { twin: TwinState | null };

/** Filters of a device page; the same meaning as `deviceWhere` in src/schema/device.ts. */
export interface DevicePageFilter {
  /** Devices carrying all of these tags. */
  tags: string[];
  connected: boolean | null;
  /** Name of the device model. */
  model: string | null;
}

/**
 * A window of a page with Prisma's cursor semantics (what Pothos' connections pass): `take` rows in
 * id order (negative: the rows before, returned in ascending order), starting at the `cursor` row
 * (inclusive) after skipping `skip` rows.
 */
export interface PageWindow {
  take: number;
  skip: number;
  /** The device uuid the window starts at; a window at an unknown device is empty. */
  cursor?: string;
}

/** The reads of one request. Create one per request: its loaders batch within the request only. */
export interface DeviceReader {
  /** The tenant's device with this device id and its twin, or null. Calls in one tick share one statement. */
  byDeviceId(tenantId: string, deviceId: string): Promise<DeviceWithTwin | null>;
  /** A page of the tenant's devices with their twins, in one statement. */
  page(tenantId: string, filter: DevicePageFilter, window: PageWindow): Promise<DeviceWithTwin[]>;
  /** The twin (without metadata) of the tenant's device, by uuid, or null. Calls in one tick share one statement. */
  twinOf(tenantId: string, deviceUuid: string): Promise<TwinState | null>;
  /** The per-leaf metadata of the twin of the tenant's device (by uuid), or null. Calls in one tick share one statement. */
  twinMetadata(tenantId: string, deviceUuid: string): Promise<TwinMetadata | null>;
}

/** Every column of a device: the rows are the same as Prisma's. */
export const DEVICE_COLUMNS = [
  'id',
  'tenantId',
  'deviceId',
  'name',
  'tags',
  'modelId',
  'secretHash',
  'previousSecretHash',
  'previousSecretExpiresAt',
  'credentialsRevokedAt',
  'disabledAt',
  'brokerSecret',
  'connected',
  'commandsReadyAt',
  'lastSeenAt',
  'createdAt',
  'updatedAt',
] as const satisfies ReadonlyArray<keyof Device>;

const TWIN_STATE_COLUMNS = ['version', 'reported', 'desired', 'delta', 'updatedAt'] as const satisfies ReadonlyArray<keyof Twin>;

// The twin's key says whether there is one; revision (int8) as text, since the drivers differ on int8
// (pg: string, PGlite: number) and Prisma's type is bigint.
const SELECT = [
  ...DEVICE_COLUMNS.map((c) => `d."${c}"`),
  `t."deviceId" AS "twin.deviceId"`,
  `t.revision::text AS "twin.revision"`,
  ...TWIN_STATE_COLUMNS.map((c) => `t."${c}" AS "twin.${c}"`),
].join(', ');
const FROM = `FROM "Device" d LEFT JOIN "Twin" t ON t."deviceId" = d.id`;

type Row = Record<string, unknown>;

const TWIN_SELECT = `t."deviceId", t.revision::text AS revision, ${TWIN_STATE_COLUMNS.map((c) => `t."${c}"`).join(', ')}`;

/** A joined row as Prisma would have returned `device` with `include: { twin: true }`. */
function toDevice(row: Row): DeviceWithTwin {
  const device: Record<string, unknown> = {};
  for (const column of DEVICE_COLUMNS) device[column] = row[column];
  let twin: Record<string, unknown> | null = null;
  if (row['twin.deviceId'] != null) {
    twin = { deviceId: row['twin.deviceId'], revision: BigInt(row['twin.revision'] as string) };
    for (const column of TWIN_STATE_COLUMNS) twin[column] = row[`twin.${column}`];
  }
  device.twin = twin;
  return device as unknown as DeviceWithTwin;
}

/**
 * The statements of the by-key reads, shared by every request of the process. A read asked for in one
 * turn of the event loop waits for the end of that turn (setImmediate) and goes out in one statement
 * with the reads the other requests asked for meanwhile: embedded, each PGlite statement costs about a
 * millisecond whatever its size, so concurrent dashboards reading twins share it instead of queueing.
 * Nothing is cached (`cache: false`): a statement starts after every read in it was asked for, so each
 * sees every change committed before it asked (read-your-writes holds as with a statement per read).
 */
export interface DeviceReadBatches {
  devices(tenantId: string): DataLoader<string, DeviceWithTwin | null>;
  twins(tenantId: string): DataLoader<string, TwinState | null>;
  metadata(tenantId: string): DataLoader<string, TwinMetadata | null>;
}

/** The most keys one statement carries (a bound on the `= ANY($2)` array). */
const MAX_KEYS_PER_STATEMENT = 1000;

/** Keys batched over the current turn of the event loop, not cached: see {@link DeviceReadBatches}. */
const SHARED: DataLoader.Options<string, never> = {
  cache: false,
  maxBatchSize: MAX_KEYS_PER_STATEMENT,
  batchScheduleFn: (callback) => setImmediate(callback),
};

export function createDeviceReadBatches(sql: SqlExecutor): DeviceReadBatches {
  // One loader per tenant: a key never crosses tenants, and the statement of a batch filters by it.
  return {
    devices: perTenant(
      (tenantId) =>
        new DataLoader<string, DeviceWithTwin | null>(async (deviceIds) => {
          const rows = await sql.query<Row>(`SELECT ${SELECT} ${FROM} WHERE d."tenantId" = $1 AND d."deviceId" = ANY($2::text[])`, [
            tenantId,
            [...new Set(deviceIds)],
          ]);
          const byId = new Map(rows.map((row) => [row.deviceId as string, row]));
          // A fresh object per key: two requests in one statement never share (and mutate) one row.
          return deviceIds.map((id) => {
            const row = byId.get(id);
            return row ? toDevice(row) : null;
          });
        }, SHARED),
    ),
    twins: perTenant(
      (tenantId) =>
        new DataLoader<string, TwinState | null>(async (uuids) => {
          const rows = await sql.query<Row>(
            `SELECT ${TWIN_SELECT} FROM "Twin" t JOIN "Device" d ON d.id = t."deviceId" WHERE d."tenantId" = $1 AND t."deviceId" = ANY($2::uuid[])`,
            [tenantId, [...new Set(uuids)]],
          );
          const byUuid = new Map(rows.map((row) => [row.deviceId as string, row]));
          return uuids.map((uuid) => {
            const row = byUuid.get(uuid);
            return row ? ({ ...row, revision: BigInt(row.revision as string) } as unknown as TwinState) : null;
          });
        }, SHARED),
    ),
    metadata: perTenant(
      (tenantId) =>
        new DataLoader<string, TwinMetadata | null>(async (uuids) => {
          const rows = await sql.query<TwinMetadata & { deviceId: string }>(
            `SELECT t."deviceId", t."reportedMeta", t."desiredMeta" FROM "Twin" t JOIN "Device" d ON d.id = t."deviceId" WHERE d."tenantId" = $1 AND t."deviceId" = ANY($2::uuid[])`,
            [tenantId, [...new Set(uuids)]],
          );
          const byUuid = new Map(rows.map((row) => [row.deviceId, row]));
          return uuids.map((uuid) => {
            const row = byUuid.get(uuid);
            return row ? { reportedMeta: row.reportedMeta, desiredMeta: row.desiredMeta } : null;
          });
        }, SHARED),
    ),
  };
}

/**
 * The reads of one request: its own loaders (a key asked twice in one request is read once and the
 * same object answers both), whose batches go through the process-wide {@link DeviceReadBatches}.
 */
export function createDeviceReader(sql: SqlExecutor, shared: DeviceReadBatches = createDeviceReadBatches(sql)): DeviceReader {
  const devices = perTenant((tenantId) => new DataLoader<string, DeviceWithTwin | null>((keys) => shared.devices(tenantId).loadMany(keys)));
  const twins = perTenant((tenantId) => new DataLoader<string, TwinState | null>((keys) => shared.twins(tenantId).loadMany(keys)));
  const metadata = perTenant((tenantId) => new DataLoader<string, TwinMetadata | null>((keys) => shared.metadata(tenantId).loadMany(keys)));

  return {
    byDeviceId: (tenantId, deviceId) => devices(tenantId).load(deviceId),
    // A malformed uuid names no device (and would fail the statement's cast).
    twinOf: (tenantId, deviceUuid) => (isUuid(deviceUuid) ? twins(tenantId).load(deviceUuid) : Promise.resolve(null)),
    twinMetadata: (tenantId, deviceUuid) => (isUuid(deviceUuid) ? metadata(tenantId).load(deviceUuid) : Promise.resolve(null)),

    async page(tenantId, filter, window) {
      const params: unknown[] = [tenantId];
      const where = [`d."tenantId" = $1`];
      if (filter.tags.length > 0) {
        params.push(filter.tags);
        where.push(`d.tags @> $${params.length}::text[]`);
      }
      if (filter.connected !== null) {
        params.push(filter.connected);
        where.push(`d.connected = $${params.length}`);
      }
      if (filter.model !== null) {
        // Model names are unique per tenant; a device of another tenant's model cannot be in this tenant.
        params.push(filter.model);
        where.push(`EXISTS (SELECT 1 FROM "DeviceModel" m WHERE m.id = d."modelId" AND m.name = $${params.length})`);
      }
      const backward = window.take < 0;
      if (window.cursor !== undefined) {
        // Like Prisma: the window starts at the cursor row; an id that names no row gives an empty page.
        if (!isUuid(window.cursor)) return [];
        params.push(window.cursor);
        where.push(`d.id ${backward ? '<=' : '>='} (SELECT c.id FROM "Device" c WHERE c.id = $${params.length}::uuid)`);
      }
      params.push(Math.abs(window.take), window.skip);
      const rows = await sql.query<Row>(
        `SELECT ${SELECT} ${FROM} WHERE ${where.join(' AND ')} ORDER BY d.id ${backward ? 'DESC' : 'ASC'} LIMIT $${params.length - 1} OFFSET $${params.length}`,
        params,
      );
      const page = rows.map(toDevice);
      return backward ? page.reverse() : page;
    },
  };
}

/** A loader per tenant, made on first use. */
function perTenant<L>(make: (tenantId: string) => L): (tenantId: string) => L {
  const loaders = new Map<string, L>();
  return (tenantId) => {
    let loader = loaders.get(tenantId);
    if (!loader) loaders.set(tenantId, (loader = make(tenantId)));
    return loader;
  };
}
