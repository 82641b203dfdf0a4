/**
 * Applies a batch's operations to the loaded twins, in order, in memory. The merge itself is the pure
 * reducer of src/domain/twin.ts; this part adds what a stored twin has on top of it: versions,
 * `ifVersion`, model schemas, the change log and the snapshots callers get back.
 */
import { NotFoundError, SchemaValidationError, ValidationError, VersionConflictError, failed } from '../../domain/errors.ts';
import { applyPatch, computeDelta, metadataTree, type TwinLimits } from '../../domain/twin.ts';
import { deviceIdOf, type TwinChange, type TwinOp, type TwinOpOutcome, type TwinSnapshot, type WorkingTwin } from './types.ts';

export interface MergeResult {
  /**
   * One per op, in order: builds the op's outcome. Called only once the batch is stored, so a snapshot
   * shows the twin as committed (later ops of the same batch included, with their version).
   */
  outcomes: Array<() => TwinOpOutcome>;
  /** Every accepted change that moved a twin's version, in order. */
  changes: TwinChange[];
}

/** Applies `ops` to `twins` (mutating them and marking written ones dirty). */
export function mergeOps(ops: TwinOp[], twins: Map<string, WorkingTwin>, limits: TwinLimits): MergeResult {
  const changes: TwinChange[] = [];
  const outcomes = ops.map((op): (() => TwinOpOutcome) => {
    const twin = twins.get(deviceIdOf(op));
    if (!twin) {
      const refusal = failed(new NotFoundError('Device', deviceIdOf(op)));
      return () => refusal;
    }
    if (op.kind === 'get') return () => ({ ok: true, twin: snapshot(twin) });

    const { request } = op;
    if (request.ifVersion !== undefined && request.ifVersion !== twin.version) {
      const refusal = failed(new VersionConflictError(request.ifVersion, twin.version));
      return () => refusal;
    }
    const ts = request.ts ?? op.receivedAt;
    const result = applyPatch(twin[request.section], request.patch, request.seq === undefined ? { ts } : { ts, seq: request.seq }, limits);
    if (!result.ok) {
      const { code, message, path } = result.error;
      const refusal = failed(new ValidationError(message, [{ path, message, code }]));
      return () => refusal;
    }
    // Typed twins: the document as it would be after the patch must satisfy the model's schema;
    // checked before anything is applied, so a refused patch leaves no trace.
    if (result.changed && twin.model) {
      const issues = request.section === 'desired' ? twin.model.validateDesired(result.state.doc) : twin.model.validateReported(result.state.doc);
      if (issues.length > 0) {
        const refusal = failed(new SchemaValidationError(`the ${request.section} state would not match the device model's schema`, issues));
        return () => refusal;
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
  return { outcomes, changes };
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
