/** Reads twins from the database: the working copies a batch merges into, and a device's stored delta. */
import type { SqlExecutor } from '../../db/client.ts';
import { canonicalJson, computeDelta, materialize, type JsonObject, type SectionMeta } from '../../domain/twin.ts';
import { SerialBatcher } from '../serial-batcher.ts';
import type { TwinDelta, TwinSchemaSource, WorkingTwin } from './types.ts';

/** Most deltas one hand-over statement reads (bounds its parameter array, not the throughput). */
const MAX_DELTAS_PER_STATEMENT = 2000;

export interface TwinLoader {
  /**
   * One SELECT for every twin of a batch, keyed by device id; devices that do not exist are absent.
   * With a schema source, each twin of a typed device carries its model's compiled validators.
   */
  load: (deviceIds: string[]) => Promise<Map<string, WorkingTwin>>;
  /** The stored delta of a device and its twin version, or null when there is no such device (reads made together share one statement). */
  readDelta: (deviceId: string) => Promise<TwinDelta | null>;
}

interface TwinRow {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  revision: string;
  version: number;
  reportedMeta: SectionMeta;
  desiredMeta: SectionMeta;
  updatedAt: Date;
  modelId: string | null;
  modelVersion: number | null;
}

export function createTwinLoader(options: { sql: SqlExecutor; schemas?: TwinSchemaSource | undefined }): TwinLoader {
  const { sql, schemas } = options;

  async function load(deviceIds: string[]): Promise<Map<string, WorkingTwin>> {
    const rows = await sql.query<TwinRow>(
      `SELECT d.id AS "deviceUuid", d."deviceId", d."tenantId", t.revision::text AS revision, t.version,
              t."reportedMeta", t."desiredMeta", t."updatedAt", d."modelId", m.version AS "modelVersion"
         FROM "Device" d JOIN "Twin" t ON t."deviceId" = d.id
         LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
        WHERE d."deviceId" = ANY($1::text[])`,
      [deviceIds],
    );
    const twins = new Map<string, WorkingTwin>();
    for (const row of rows) twins.set(row.deviceId, workingTwin(row));
    if (schemas) await attachModels([...twins.values()], schemas);
    return twins;
  }

  /**
   * Deltas are read together: every read asked for while one runs (or in the same turn of the event
   * loop) shares the next statement. They are asked for on every CONNECT and every `online` (the
   * hand-over of src/mqtt/bridge.ts), so a farm coming back costs one statement per batch, not one per
   * device.
   */
  const deltaReads = new SerialBatcher<string, TwinDelta | null>({
    maxBatch: MAX_DELTAS_PER_STATEMENT,
    // Bounded by the connections that can be open: at most two hand-overs per connection in flight.
    maxPending: Number.MAX_SAFE_INTEGER,
    async flush(deviceIds) {
      const rows = await sql.query<{ deviceId: string; version: number; delta: JsonObject }>(
        `SELECT d."deviceId", t.version, t.delta FROM "Twin" t JOIN "Device" d ON d.id = t."deviceId" WHERE d."deviceId" = ANY($1::text[])`,
        [[...new Set(deviceIds)]],
      );
      const byId = new Map(rows.map((row) => [row.deviceId, { version: Number(row.version), delta: row.delta }]));
      return deviceIds.map((deviceId) => byId.get(deviceId) ?? null);
    },
  });

  function readDelta(deviceId: string): Promise<TwinDelta | null> {
    return deltaReads.submit(deviceId);
  }

  return { load, readDelta };
}

function workingTwin(row: TwinRow): WorkingTwin {
  // The documents are derived from the metadata, so the metadata is the single source of truth.
  const reported = { meta: row.reportedMeta, doc: materialize(row.reportedMeta) };
  const desired = { meta: row.desiredMeta, doc: materialize(row.desiredMeta) };
  const delta = computeDelta(desired.doc, reported.doc);
  return {
    deviceUuid: row.deviceUuid,
    deviceId: row.deviceId,
    tenantId: row.tenantId,
    revision: String(row.revision),
    version: Number(row.version),
    reported,
    desired,
    delta,
    deltaBefore: canonicalJson(delta),
    updatedAt: new Date(row.updatedAt),
    dirty: false,
    modelId: row.modelId,
    modelVersion: row.modelVersion === null ? null : Number(row.modelVersion),
  };
}

/** Typed twins: one lookup for the compiled models of every typed device in the batch. */
async function attachModels(twins: WorkingTwin[], schemas: TwinSchemaSource): Promise<void> {
  const keys = twins.flatMap((t) => (t.modelId && t.modelVersion !== null ? [{ modelId: t.modelId, version: t.modelVersion }] : []));
  if (keys.length === 0) return;
  const compiled = await schemas.compiled(keys);
  for (const t of twins) if (t.modelId) t.model = compiled.get(`${t.modelId}@${t.modelVersion}`);
}
