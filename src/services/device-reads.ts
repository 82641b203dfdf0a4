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
import { failed, type Failed, type ValidationError } from '../domain/errors.ts';
import { containmentDocument, jsonPathOf, parseFleetFilter, type FleetFilter, type FleetFilterInput, type TwinCondition } from '../domain/fleet-filter.ts';
import { isUuid } from '../domain/ids.ts';
import type { Device, Twin } from '../generated/prisma/client.ts';
import type { Metrics } from '../metrics.ts';

/**
 * A twin as these reads return it: without its per-leaf metadata, which only `Twin.metadata` shows
 * and which is several times the size of the state (the field loads it with {@link DeviceReader.twinMetadata}).
 */
export type TwinState = Omit<Twin, 'reportedMeta' | 'desiredMeta'>;
export type TwinMetadata = Pick<Twin, 'reportedMeta' | 'desiredMeta'>;

export type DeviceWithTwin = Device & { twin: TwinState | null };

/** Device filters refused before reaching SQL, by the code of their first issue. */
export const DEVICE_FILTER_REFUSED_METRIC = 'doppel_device_filter_refused_total';

export function describeDeviceReaderMetrics(metrics: Pick<Metrics, 'describe'>): void {
  metrics.describe(DEVICE_FILTER_REFUSED_METRIC, 'Device filters (devices query, sendFleetCommand) refused as invalid, by the code of the first issue.');
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
  /**
   * Checks a client's device filter (src/domain/fleet-filter.ts); a refusal is counted in
   * `doppel_device_filter_refused_total{code}` and its issues point under `at`.
   */
  parseFilter(input: FleetFilterInput | null | undefined, at: readonly string[]): { ok: true; filter: FleetFilter } | Failed<ValidationError>;
  /**
   * A page of the tenant's devices matching the filter, with their twins, in one statement. With
   * `withCount` the statement also counts the matches, and {@link count} answers from it.
   */
  page(tenantId: string, filter: FleetFilter, window: PageWindow, options?: { withCount?: boolean }): Promise<DeviceWithTwin[]>;
  /**
   * The same page as {@link page}, reading only the given columns (and the core ones, see
   * {@link PageColumns}): the rows carry those properties and no others, the twin (when asked for)
   * its key and the chosen columns.
   */
  pageOf(tenantId: string, filter: FleetFilter, window: PageWindow, columns: PageColumns, options?: { withCount?: boolean }): Promise<PartialDevice[]>;
  /** The ids (uuids) of the same page as {@link page}, in the same order, in one statement. */
  pageIds(tenantId: string, filter: FleetFilter, window: PageWindow, options?: { withCount?: boolean }): Promise<string[]>;
  /** How many of the tenant's devices match the filter: counted by this request's page statement, or in one statement. */
  count(tenantId: string, filter: FleetFilter): Promise<number>;
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

export const TWIN_STATE_COLUMNS = ['version', 'reported', 'desired', 'delta', 'updatedAt'] as const satisfies ReadonlyArray<keyof Twin>;

export type DeviceColumn = (typeof DEVICE_COLUMNS)[number];
export type TwinStateColumn = (typeof TWIN_STATE_COLUMNS)[number];

/**
 * Read by every page whatever it selects: the key and the cursor (`id`), the tenant the device's
 * `authScopes` check compares (src/schema/device.ts), and the device id most fields around a device
 * name it by.
 */
export const CORE_DEVICE_COLUMNS = ['id', 'tenantId', 'deviceId'] as const satisfies readonly DeviceColumn[];

/**
 * The columns a page reads beyond the core ones. A page of 100 reading all 24 columns spent most of
 * its database and driver time on columns no field of the query showed: three secrets, seven
 * timestamps each parsed into a `Date`, the twin's `desired` when only `delta` was asked for.
 */
export interface PageColumns {
  device: readonly DeviceColumn[];
  /** The twin's columns besides its key; null: the twin is not read (its field loads it if asked). */
  twin: readonly TwinStateColumn[] | null;
}

/** Every column, as {@link DeviceReader.page} reads. */
export const EVERY_PAGE_COLUMN: PageColumns = { device: DEVICE_COLUMNS, twin: TWIN_STATE_COLUMNS };

/** A device read with {@link DeviceReader.pageOf}: the core columns, the chosen ones, and the twin if asked for. */
export type PartialDevice = Pick<Device, (typeof CORE_DEVICE_COLUMNS)[number]> &
  Partial<Omit<Device, (typeof CORE_DEVICE_COLUMNS)[number]>> & { twin?: (Pick<Twin, 'deviceId'> & Partial<TwinState>) | null };

// The twin's key says whether there is one; revision (int8) as text, since the drivers differ on int8
// (pg: string, PGlite: number) and Prisma's type is bigint.
const SELECT = [
  ...DEVICE_COLUMNS.map((c) => `d."${c}"`),
  `t."deviceId" AS "twin.deviceId"`,
  `t.revision::text AS "twin.revision"`,
  ...TWIN_STATE_COLUMNS.map((c) => `t."${c}" AS "twin.${c}"`),
].join(', ');
/**
 * What {@link deviceFilterSql} conditions are written against: `d` the device, `t` its twin. The
 * planner drops the join when no condition reads the twin (the twin's key is the device's id).
 */
export const DEVICE_TWIN_FROM = `FROM "Device" d LEFT JOIN "Twin" t ON t."deviceId" = d.id`;
const FROM = DEVICE_TWIN_FROM;

/** Twin sections as columns: a closed set, so a section never reaches the statement as text from outside. */
const SECTION_COLUMN = { reported: 't.reported', desired: 't.desired' } as const;

/**
 * The one SQL rendering of a device filter (src/domain/fleet-filter.ts gives the meaning): a WHERE
 * condition over {@link DEVICE_TWIN_FROM} whose every value is a bound parameter appended to
 * `params`. The devices query (pages and totalCount, both paths) and fleet commands
 * (src/services/commands/send-fleet.ts) use it, so the same filter selects the same devices.
 *
 * Index use (EXPLAIN in docs/onboarding.md): `eq` and `in` are containment tests (`@>`, one per
 * value, OR-ed so each is a bitmap scan) answered by the GIN jsonb_path_ops indexes on the sections;
 * `hasDelta: true` repeats the predicate of the partial index "Twin_has_delta_idx"; lastSeen bounds
 * use (tenantId, lastSeenAt); `alarmActive` probes "Alarm" by device. `ne`, `lt`, `gt`, `exists` and
 * the negations are filters on the rows the other conditions leave (jsonb_path_ops indexes values,
 * not the presence of keys or ranges).
 */
export function deviceFilterSql(tenantId: string, filter: FleetFilter, params: unknown[]): string {
  const bind = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where = [`d."tenantId" = ${bind(tenantId)}`];
  if (filter.tags.length > 0) where.push(`d.tags @> ${bind(filter.tags)}::text[]`);
  if (filter.connected !== null) where.push(`d.connected = ${bind(filter.connected)}`);
  // Model names are unique per tenant; a device of another tenant's model cannot be in this tenant.
  if (filter.model !== null) where.push(`EXISTS (SELECT 1 FROM "DeviceModel" m WHERE m.id = d."modelId" AND m.name = ${bind(filter.model)})`);
  for (const condition of filter.twin) where.push(twinConditionSql(condition, bind));
  // Written exactly as the partial index's predicate, so the planner can use it.
  if (filter.hasDelta === true) where.push(`t.delta <> '{}'::jsonb`);
  if (filter.hasDelta === false) where.push(`NOT COALESCE(t.delta <> '{}'::jsonb, false)`);
  if (filter.lastSeenBefore) where.push(`d."lastSeenAt" < ${bind(filter.lastSeenBefore)}::timestamptz`);
  if (filter.lastSeenAfter) where.push(`d."lastSeenAt" > ${bind(filter.lastSeenAfter)}::timestamptz`);
  if (filter.alarmActive !== null) {
    // Open = not CLEARED (ACTIVE, ACKNOWLEDGED, LATCHED): the statuses "Alarm_open_key" keeps unique.
    where.push(`${filter.alarmActive ? '' : 'NOT '}EXISTS (SELECT 1 FROM "Alarm" a WHERE a."deviceId" = d.id AND a.status <> 'CLEARED')`);
  }
  return where.join(' AND ');
}

function twinConditionSql(condition: TwinCondition, bind: (value: unknown) => string): string {
  const column = SECTION_COLUMN[condition.section];
  const contains = (value: unknown) => `${column} @> ${bind(JSON.stringify(containmentDocument(condition.path, value as never)))}::jsonb`;
  switch (condition.op) {
    case 'eq':
      return contains(condition.value);
    case 'ne':
      // A device without the leaf (or without a twin) is "not equal" too.
      return `NOT COALESCE(${contains(condition.value)}, false)`;
    case 'in':
      // One containment per value, OR-ed: a bitmap OR over the GIN index (`@> ANY(array)` is not indexable).
      return `(${condition.values.map(contains).join(' OR ')})`;
    case 'exists': {
      const present = `${column} @? ${bind(jsonPathOf(condition.path))}::jsonpath`;
      return condition.exists ? present : `NOT COALESCE(${present}, false)`;
    }
    case 'lt':
    case 'gt': {
      // SQL/JSON path comparison: same-type only (a string never compares with a number: unknown →
      // no match), strings by code point; `silent` turns a missing key in strict mode into no match.
      const path = `${jsonPathOf(condition.path)} ${condition.op === 'lt' ? '<' : '>'} $v`;
      return `COALESCE(jsonb_path_match(${column}, ${bind(path)}::jsonpath, ${bind(JSON.stringify({ v: condition.value }))}::jsonb, true), false)`;
    }
  }
}

type Row = Record<string, unknown>;

const DEVICE_COLUMN_NAMES = new Set<string>(DEVICE_COLUMNS);
const TWIN_COLUMN_NAMES = new Set<string>(TWIN_STATE_COLUMNS);

/** A page's select list and how to shape its rows, per column set (made once per set, see {@link pageShapeOf}). */
interface PageShape {
  select: string;
  deviceColumns: readonly string[];
  /** [twin property, row alias] pairs, or null when the twin is not read. */
  twinColumns: ReadonlyArray<readonly [string, string]> | null;
}

/** Few distinct sets exist (one per shape of query a client sends); bounded all the same. */
const PAGE_SHAPES = new Map<string, PageShape>();
const MAX_PAGE_SHAPES = 256;

function pageShapeOf(columns: PageColumns): PageShape {
  const key = `${columns.device.join(',')}|${columns.twin === null ? '-' : columns.twin.join(',')}`;
  let shape = PAGE_SHAPES.get(key);
  if (shape) return shape;
  // The names go into the statement's text: only the closed sets of column names ever do.
  for (const column of columns.device) if (!DEVICE_COLUMN_NAMES.has(column)) throw new Error(`not a device column: ${column}`);
  for (const column of columns.twin ?? []) if (!TWIN_COLUMN_NAMES.has(column)) throw new Error(`not a twin state column: ${column}`);
  const deviceColumns = [...new Set<string>([...CORE_DEVICE_COLUMNS, ...columns.device])];
  const twinColumns = columns.twin === null ? null : [...new Set<string>(columns.twin)].map((c) => [c, `twin.${c}`] as const);
  const select = [
    ...deviceColumns.map((c) => `d."${c}"`),
    ...(twinColumns === null ? [] : [`t."deviceId" AS "twin.deviceId"`, ...twinColumns.map(([c, alias]) => `t."${c}" AS "${alias}"`)]),
  ].join(', ');
  shape = { select, deviceColumns, twinColumns };
  if (PAGE_SHAPES.size >= MAX_PAGE_SHAPES) PAGE_SHAPES.clear();
  PAGE_SHAPES.set(key, shape);
  return shape;
}

/** A row of a {@link pageShapeOf} statement as a device object with exactly the chosen properties. */
function toPartialDevice(row: Row, shape: PageShape): PartialDevice {
  const device: Record<string, unknown> = {};
  for (const column of shape.deviceColumns) device[column] = row[column];
  if (shape.twinColumns !== null) {
    const twinKey = row['twin.deviceId'];
    let twin: Record<string, unknown> | null = null;
    if (twinKey != null) {
      twin = { deviceId: twinKey };
      for (const [column, alias] of shape.twinColumns) twin[column] = row[alias];
    }
    device.twin = twin;
  }
  return device as PartialDevice;
}

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
export function createDeviceReader(sql: SqlExecutor, shared: DeviceReadBatches = createDeviceReadBatches(sql), metrics?: Pick<Metrics, 'inc'>): DeviceReader {
  const devices = perTenant((tenantId) => new DataLoader<string, DeviceWithTwin | null>((keys) => shared.devices(tenantId).loadMany(keys)));
  const twins = perTenant((tenantId) => new DataLoader<string, TwinState | null>((keys) => shared.twins(tenantId).loadMany(keys)));
  const metadata = perTenant((tenantId) => new DataLoader<string, TwinMetadata | null>((keys) => shared.metadata(tenantId).loadMany(keys)));

  // Counts a page statement brought along (withCount), for the same request's totalCount. The reader
  // lives for one request, so a count is never older than the request that asked for it.
  const counted = new Map<string, number>();
  const countKey = (tenantId: string, filter: FleetFilter) => JSON.stringify([tenantId, filter]);

  return {
    byDeviceId: (tenantId, deviceId) => devices(tenantId).load(deviceId),
    // A malformed uuid names no device (and would fail the statement's cast).
    twinOf: (tenantId, deviceUuid) => (isUuid(deviceUuid) ? twins(tenantId).load(deviceUuid) : Promise.resolve(null)),
    twinMetadata: (tenantId, deviceUuid) => (isUuid(deviceUuid) ? metadata(tenantId).load(deviceUuid) : Promise.resolve(null)),

    parseFilter(input, at) {
      const parsed = parseFleetFilter(input, at);
      if (!parsed.ok) metrics?.inc(DEVICE_FILTER_REFUSED_METRIC, { code: parsed.error.issues[0]?.code ?? 'INVALID' });
      return parsed.ok ? parsed : failed(parsed.error);
    },

    async page(tenantId, filter, window, options) {
      const { rows, matchCount } = await pageQuery<Row>(sql, SELECT, tenantId, filter, window, options?.withCount ?? false);
      if (matchCount !== null) counted.set(countKey(tenantId, filter), matchCount);
      return rows.map(toDevice);
    },

    async pageOf(tenantId, filter, window, columns, options) {
      const shape = pageShapeOf(columns);
      const { rows, matchCount } = await pageQuery<Row>(sql, shape.select, tenantId, filter, window, options?.withCount ?? false);
      if (matchCount !== null) counted.set(countKey(tenantId, filter), matchCount);
      return rows.map((row) => toPartialDevice(row, shape));
    },

    async pageIds(tenantId, filter, window, options) {
      const { rows, matchCount } = await pageQuery<{ id: string }>(sql, 'd.id', tenantId, filter, window, options?.withCount ?? false);
      if (matchCount !== null) counted.set(countKey(tenantId, filter), matchCount);
      return rows.map((row) => row.id);
    },

    async count(tenantId, filter) {
      const known = counted.get(countKey(tenantId, filter));
      if (known !== undefined) return known;
      const { text, params } = deviceCountStatement(tenantId, filter);
      return (await sql.query<{ n: number }>(text, params))[0]!.n;
    },
  };
}

/** A window of matching devices in id order (ascending, also for a backward window), one statement. */
async function pageQuery<R extends Row>(
  sql: SqlExecutor,
  select: string,
  tenantId: string,
  filter: FleetFilter,
  window: PageWindow,
  withCount: boolean,
): Promise<{ rows: R[]; matchCount: number | null }> {
  const statement = devicePageStatement(tenantId, filter, window, { select, withCount });
  if (!statement) return { rows: [], matchCount: null };
  const rows = await sql.query<R & { matchCount?: number }>(statement.text, statement.params);
  return { rows: statement.backward ? rows.reverse() : rows, matchCount: rows[0]?.matchCount ?? null };
}

/**
 * The statement of a page of matching devices (the rows come in DESC order for a backward window),
 * or null when the cursor names no device. Exported for bench/lib/onboarding-fleet.ts, which times
 * and EXPLAINs exactly what the API runs.
 *
 * `withCount` (the request also asks for totalCount): the matching ids are collected once, counted,
 * and the window is cut from them before the rows are joined back — one statement and one pass over
 * the matches instead of a page and a count each finding them, and the page and its count come from
 * the same snapshot. Without it the plain form lets the planner stop after the window's rows.
 */
export function devicePageStatement(
  tenantId: string,
  filter: FleetFilter,
  window: PageWindow,
  options: { select?: string; withCount?: boolean } = {},
): { text: string; params: unknown[]; backward: boolean } | null {
  const select = options.select ?? SELECT;
  const params: unknown[] = [];
  const matches = deviceFilterSql(tenantId, filter, params);
  const backward = window.take < 0;
  const order = `ORDER BY d.id ${backward ? 'DESC' : 'ASC'}`;
  let cursor = 'true';
  if (window.cursor !== undefined) {
    // Like Prisma: the window starts at the cursor row; an id that names no row gives an empty page.
    if (!isUuid(window.cursor)) return null;
    params.push(window.cursor);
    cursor = `d.id ${backward ? '<=' : '>='} (SELECT c.id FROM "Device" c WHERE c.id = $${params.length}::uuid)`;
  }
  params.push(Math.abs(window.take), window.skip);
  const limit = `LIMIT $${params.length - 1} OFFSET $${params.length}`;
  // In the counted form `m` is aliased `d` while the window is cut, so the cursor condition reads the same.
  const text = options.withCount
    ? `WITH m AS MATERIALIZED (SELECT d.id ${FROM} WHERE ${matches}),
            w AS (SELECT d.id FROM m d WHERE ${cursor} ${order} ${limit})
       SELECT ${select}, (SELECT count(*) FROM m)::int AS "matchCount"
         FROM w JOIN "Device" d ON d.id = w.id LEFT JOIN "Twin" t ON t."deviceId" = d.id ${order}`
    : `SELECT ${select} ${FROM} WHERE ${matches} AND ${cursor} ${order} ${limit}`;
  return { text, params, backward };
}

/** The statement counting the tenant's devices that match (the connection's totalCount). */
export function deviceCountStatement(tenantId: string, filter: FleetFilter): { text: string; params: unknown[] } {
  const params: unknown[] = [];
  return { text: `SELECT count(*)::int AS n ${FROM} WHERE ${deviceFilterSql(tenantId, filter, params)}`, params };
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
