import {
  applyPatch as applySectionPatch,
  computeDelta,
  canonicalJson,
  materialize,
  metadataTree,
  type JsonObject,
  type SectionMeta,
  type SectionState,
} from '../domain/twin.ts';
import type { TwinLimits } from '../config.ts';
import type { SqlExecutor } from '../db/client.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import { DoppelError, NotFoundError, SchemaValidationError, ValidationError, VersionConflictError } from '../domain/errors.ts';
import { SerialBatcher } from './serial-batcher.ts';
import type { CompiledModel } from '../domain/models.ts';

/** Where the twin service gets the compiled state schemas of device models (src/services/models.ts). */
export interface TwinSchemaSource {
  /** Compiled models for these (model id, version) pairs, keyed `${modelId}@${version}`. */
  compiled(keys: Array<{ modelId: string; version: number }>): Promise<Map<string, CompiledModel>>;
}

export type TwinSection = 'reported' | 'desired';

/** A consistent view of one twin, as stored after a write. */
export interface TwinSnapshot {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  version: number;
  reported: JsonObject;
  desired: JsonObject;
  delta: JsonObject;
  metadata: { reported: JsonObject; desired: JsonObject };
  updatedAt: Date;
}

export interface PatchRequest {
  /** The device id (MQTT username), not the internal UUID. */
  deviceId: string;
  section: TwinSection;
  /** Untrusted: validated by the twin reducer before anything is merged. */
  patch: unknown;
  /** Timestamp of the change (epoch ms); defaults to the time the service receives it. */
  ts?: number;
  source: 'device' | 'api';
  actor?: string | null;
  /** Optimistic concurrency: refuse with VersionConflict unless the twin is at this version. */
  ifVersion?: number;
}

export type PatchOutcome =
  | { ok: true; version: number; changed: boolean; twin: TwinSnapshot }
  | { ok: false; error: DoppelError };

export type GetOutcome = { ok: true; twin: TwinSnapshot } | { ok: false; error: DoppelError };

/** Called after a commit whenever a device's delta changed (the bridge publishes it, retained). */
export type DeltaListener = (deviceId: string, version: number, delta: JsonObject) => void;

export interface TwinServiceOptions {
  sql: SqlExecutor;
  bus: EventBus;
  limits: TwinLimits;
  logger: Logger;
  /** Largest number of operations written in one statement. */
  maxBatch?: number;
  /** Operations allowed to wait before submitters are held back. */
  maxPending?: number;
  now?: () => number;
  /** Typed twins: the merged document of a section must satisfy the device model's schema for it. */
  schemas?: TwinSchemaSource;
}

type Op =
  | { kind: 'patch'; request: PatchRequest; receivedAt: number }
  | { kind: 'get'; deviceId: string };

type OpOutcome = PatchOutcome | GetOutcome;

interface WorkingTwin {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  revision: string;
  version: number;
  reported: SectionState;
  desired: SectionState;
  delta: JsonObject;
  deltaBefore: string;
  updatedAt: Date;
  dirty: boolean;
  modelId: string | null;
  modelVersion: number | null;
  model?: CompiledModel;
}

interface ChangeRow {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  version: number;
  section: TwinSection;
  patch: JsonObject;
  source: 'device' | 'api';
  actor: string | null;
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

const MAX_CONFLICT_RETRIES = 8;

/**
 * Applies twin patches and reads twins in arrival order, in batches: one SELECT loads every twin a
 * batch touches, the pure reducer merges in memory, and one statement writes all twins and their
 * change-log rows. Writes are guarded by the row's `revision`, so two instances handling the same
 * device never lose an update: the loser reloads and re-merges (the merge is order-independent).
 */
export function createTwinService(options: TwinServiceOptions) {
  const { sql, bus, limits, logger } = options;
  const now = options.now ?? Date.now;
  const deltaListeners: DeltaListener[] = [];

  const batcher = new SerialBatcher<Op, OpOutcome>({
    maxBatch: options.maxBatch ?? 1000,
    maxPending: options.maxPending ?? 20_000,
    flush: (ops) => processBatch(ops),
  });

  async function loadTwins(deviceIds: string[]): Promise<Map<string, WorkingTwin>> {
    const rows = await sql.query<TwinRow>(
      `SELECT d.id AS "deviceUuid", d."deviceId", d."tenantId", t.revision::text AS revision, t.version,
              t."reportedMeta", t."desiredMeta", t."updatedAt", d."modelId", m.version AS "modelVersion"
         FROM "Device" d JOIN "Twin" t ON t."deviceId" = d.id
         LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
        WHERE d."deviceId" = ANY($1::text[])`,
      [deviceIds],
    );
    const twins = new Map<string, WorkingTwin>();
    for (const row of rows) {
      // The documents are derived from the metadata, so the metadata is the single source of truth.
      const reported = { meta: row.reportedMeta, doc: materialize(row.reportedMeta) };
      const desired = { meta: row.desiredMeta, doc: materialize(row.desiredMeta) };
      const delta = computeDelta(desired.doc, reported.doc);
      twins.set(row.deviceId, {
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
      });
    }
    if (options.schemas) {
      const keys = [...twins.values()].flatMap((t) => (t.modelId && t.modelVersion !== null ? [{ modelId: t.modelId, version: t.modelVersion }] : []));
      if (keys.length > 0) {
        const compiled = await options.schemas.compiled(keys);
        for (const t of twins.values()) if (t.modelId) t.model = compiled.get(`${t.modelId}@${t.modelVersion}`);
      }
    }
    return twins;
  }

  function snapshot(twin: WorkingTwin): TwinSnapshot {
    return {
      deviceUuid: twin.deviceUuid,
      deviceId: twin.deviceId,
      tenantId: twin.tenantId,
      version: twin.version,
      reported: twin.reported.doc,
      desired: twin.desired.doc,
      delta: twin.delta,
      metadata: { reported: metadataTree(twin.reported.meta), desired: metadataTree(twin.desired.meta) },
      updatedAt: twin.updatedAt,
    };
  }

  /** Applies ops to the loaded twins in order; returns a thunk per op that builds its outcome after commit. */
  function applyOps(ops: Op[], twins: Map<string, WorkingTwin>, changes: ChangeRow[]): Array<() => OpOutcome> {
    return ops.map((op): (() => OpOutcome) => {
      const deviceId = op.kind === 'get' ? op.deviceId : op.request.deviceId;
      const twin = twins.get(deviceId);
      if (!twin) {
        const error = new NotFoundError('Device', deviceId);
        return () => ({ ok: false, error });
      }
      if (op.kind === 'get') return () => ({ ok: true, twin: snapshot(twin) });

      const { request } = op;
      if (request.ifVersion !== undefined && request.ifVersion !== twin.version) {
        const error = new VersionConflictError(request.ifVersion, twin.version);
        return () => ({ ok: false, error });
      }
      const ts = request.ts ?? op.receivedAt;
      const result = applySectionPatch(twin[request.section], request.patch, ts, limits);
      if (!result.ok) {
        const { code, message, path } = result.error;
        const error = new ValidationError(message, [{ path, message, code }]);
        return () => ({ ok: false, error });
      }
      // Typed twins: the document as it would be after the patch must satisfy the model's schema;
      // checked before anything is applied, so a refused patch leaves no trace.
      if (result.changed && twin.model) {
        const issues = request.section === 'desired' ? twin.model.validateDesired(result.state.doc) : twin.model.validateReported(result.state.doc);
        if (issues.length > 0) {
          const error = new SchemaValidationError(`the ${request.section} state would not match the device model's schema`, issues);
          return () => ({ ok: false, error });
        }
      }
      if (result.metaChanged) {
        twin[request.section] = result.state;
        twin.dirty = true;
      }
      if (result.changed) {
        twin.version += 1;
        twin.delta = computeDelta(twin.desired.doc, twin.reported.doc);
        changes.push({
          deviceUuid: twin.deviceUuid,
          deviceId: twin.deviceId,
          tenantId: twin.tenantId,
          version: twin.version,
          section: request.section,
          patch: result.applied,
          source: request.source,
          actor: request.actor ?? null,
        });
      }
      const version = twin.version;
      const changed = result.changed;
      return () => ({ ok: true, version, changed, twin: snapshot(twin) });
    });
  }

  /** Writes dirty twins and their change rows in one statement; returns the UUIDs that were written. */
  async function writeTwins(dirty: WorkingTwin[], changes: ChangeRow[], at: Date): Promise<Set<string>> {
    if (dirty.length === 0) return new Set();
    const rows = await sql.query<{ device_uuid: string }>(
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::int[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::jsonb[], $8::jsonb[])
           AS i(device_uuid, revision, version, reported, desired, delta, reported_meta, desired_meta)
       ), updated AS (
         UPDATE "Twin" t
            SET revision = t.revision + 1, version = i.version, reported = i.reported, desired = i.desired,
                delta = i.delta, "reportedMeta" = i.reported_meta, "desiredMeta" = i.desired_meta, "updatedAt" = $9
           FROM input i
          WHERE t."deviceId" = i.device_uuid AND t.revision = i.revision
         RETURNING t."deviceId"
       ), logged AS (
         INSERT INTO "TwinChange" ("deviceId", version, section, patch, source, actor, "createdAt")
         SELECT c.device_uuid, c.version, c.section, c.patch, c.source, c.actor, $9
           FROM unnest($10::uuid[], $11::int[], $12::text[], $13::jsonb[], $14::text[], $15::text[])
             AS c(device_uuid, version, section, patch, source, actor)
          WHERE c.device_uuid IN (SELECT "deviceId" FROM updated)
       )
       SELECT "deviceId" AS device_uuid FROM updated`,
      [
        dirty.map((t) => t.deviceUuid),
        dirty.map((t) => t.revision),
        dirty.map((t) => t.version),
        dirty.map((t) => JSON.stringify(t.reported.doc)),
        dirty.map((t) => JSON.stringify(t.desired.doc)),
        dirty.map((t) => JSON.stringify(t.delta)),
        dirty.map((t) => JSON.stringify(t.reported.meta)),
        dirty.map((t) => JSON.stringify(t.desired.meta)),
        at,
        changes.map((c) => c.deviceUuid),
        changes.map((c) => c.version),
        changes.map((c) => c.section),
        changes.map((c) => JSON.stringify(c.patch)),
        changes.map((c) => c.source),
        changes.map((c) => c.actor),
      ],
    );
    return new Set(rows.map((r) => r.device_uuid));
  }

  async function processBatch(ops: Op[]): Promise<OpOutcome[]> {
    const outcomes: OpOutcome[] = new Array(ops.length);
    let remaining = ops.map((op, index) => ({ op, index }));

    for (let attempt = 0; remaining.length > 0; attempt++) {
      const deviceIds = [...new Set(remaining.map(({ op }) => (op.kind === 'get' ? op.deviceId : op.request.deviceId)))];
      const twins = await loadTwins(deviceIds);
      const changes: ChangeRow[] = [];
      const builders = applyOps(
        remaining.map((r) => r.op),
        twins,
        changes,
      );
      const dirty = [...twins.values()].filter((t) => t.dirty);
      const at = new Date(now());
      for (const t of dirty) t.updatedAt = at;
      const written = await writeTwins(dirty, changes, at);
      const conflicted = new Set(dirty.filter((t) => !written.has(t.deviceUuid)).map((t) => t.deviceId));
      if (conflicted.size > 0 && attempt >= MAX_CONFLICT_RETRIES) {
        throw new Error(`twin write kept conflicting for ${[...conflicted].join(', ')}`);
      }

      const retry: typeof remaining = [];
      remaining.forEach((r, i) => {
        const deviceId = r.op.kind === 'get' ? r.op.deviceId : r.op.request.deviceId;
        if (conflicted.has(deviceId)) retry.push(r);
        else outcomes[r.index] = builders[i]!();
      });
      afterCommit(
        [...twins.values()].filter((t) => !conflicted.has(t.deviceId)),
        changes.filter((c) => !conflicted.has(c.deviceId)),
        at.getTime(),
      );
      if (retry.length > 0) logger.debug({ devices: [...conflicted], attempt }, 'twin write conflict, re-merging');
      remaining = retry;
    }
    return outcomes;
  }

  function afterCommit(twins: WorkingTwin[], changes: ChangeRow[], at: number): void {
    for (const c of changes) {
      bus.publish('twinChanged', {
        deviceUuid: c.deviceUuid,
        deviceId: c.deviceId,
        tenantId: c.tenantId,
        version: c.version,
        section: c.section,
        patch: c.patch,
        source: c.source,
        actor: c.actor,
        at,
      });
    }
    for (const twin of twins) {
      const deltaNow = canonicalJson(twin.delta);
      if (deltaNow === twin.deltaBefore) continue;
      for (const listener of deltaListeners) {
        try {
          listener(twin.deviceId, twin.version, twin.delta);
        } catch (error) {
          logger.error({ err: error, deviceId: twin.deviceId }, 'delta listener failed');
        }
      }
    }
  }

  return {
    /** Merges a patch into a twin section. Resolves after the change is stored. */
    applyPatch(request: PatchRequest): Promise<PatchOutcome> {
      return batcher.submit({ kind: 'patch', request, receivedAt: now() }) as Promise<PatchOutcome>;
    },
    /** Reads a twin in order with pending writes (what `twin/get` must answer). */
    get(deviceId: string): Promise<GetOutcome> {
      return batcher.submit({ kind: 'get', deviceId }) as Promise<GetOutcome>;
    },
    onDeltaChanged(listener: DeltaListener): void {
      deltaListeners.push(listener);
    },
    /** Waits for queued operations to be written (graceful shutdown). */
    drain(): Promise<void> {
      return batcher.drain();
    },
    get pending(): number {
      return batcher.pending;
    },
  };
}

export type TwinService = ReturnType<typeof createTwinService>;
