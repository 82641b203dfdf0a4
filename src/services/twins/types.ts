/**
 * The values the parts of the twin service hand each other: requests and outcomes as callers see them,
 * and the working copy of a twin that lives for one batch.
 */
import type { Failed, NotFoundError, SchemaValidationError, ValidationError, VersionConflictError } from '../../domain/errors.ts';
import type { CompiledModel } from '../../domain/models.ts';
import type { TwinChangedEvent } from '../../events/bus.ts';
import type { JsonObject, SectionState } from '../../domain/twin.ts';

/** Where the twin service gets the compiled state schemas of device models (src/services/models.ts). */
export interface TwinSchemaSource {
  /** Compiled models for these (model id, version) pairs, keyed `${modelId}@${version}`. */
  compiled(keys: Array<{ modelId: string; version: number }>): Promise<Map<string, CompiledModel>>;
}

export type TwinSection = TwinChangedEvent['section'];

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
  /** The device's sequence number of the change (contract v1.1), which orders it before `ts` does. */
  seq?: number;
  source: 'device' | 'api';
  actor?: string | null;
  /** Optimistic concurrency: refuse with VersionConflict unless the twin is at this version. */
  ifVersion?: number;
}

/** Why a patch can be refused: an unknown device, a stale `ifVersion`, a bad patch or a model's schema. */
export type PatchError = NotFoundError | VersionConflictError | ValidationError | SchemaValidationError;

export type PatchOutcome = { ok: true; version: number; changed: boolean; twin: TwinSnapshot } | Failed<PatchError>;

export type GetOutcome = { ok: true; twin: TwinSnapshot } | Failed<NotFoundError>;

/** A device's delta as stored, with the twin version it belongs to. */
export interface TwinDelta {
  version: number;
  delta: JsonObject;
}

/** Called after a commit whenever a device's delta changed (the bridge publishes it, retained). */
export type DeltaListener = (deviceId: string, version: number, delta: JsonObject) => void;

/** One queued operation: reads go through the queue too, so they see every write submitted before them. */
export type TwinOp = { kind: 'patch'; request: PatchRequest; receivedAt: number } | { kind: 'get'; deviceId: string };

export type TwinOpOutcome = PatchOutcome | GetOutcome;

export function deviceIdOf(op: TwinOp): string {
  return op.kind === 'get' ? op.deviceId : op.request.deviceId;
}

/** A twin loaded for one batch and merged into in memory; written back only if `dirty`. */
export interface WorkingTwin {
  deviceUuid: string;
  deviceId: string;
  tenantId: string;
  /** The row's write counter as loaded: the write succeeds only if nobody moved it since. */
  revision: string;
  version: number;
  reported: SectionState;
  desired: SectionState;
  delta: JsonObject;
  /** The delta as loaded (canonical JSON), to tell whether a commit changed it. */
  deltaBefore: string;
  updatedAt: Date;
  dirty: boolean;
  modelId: string | null;
  modelVersion: number | null;
  model?: CompiledModel;
}

/** One accepted change, for the change log and the announcements (the live event without its commit time). */
export type TwinChange = Omit<TwinChangedEvent, 'at'>;
