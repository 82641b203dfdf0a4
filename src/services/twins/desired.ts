/**
 * The API's write to a twin: an actor changes the desired state of a device of its tenant, and the
 * accepted change is audited. Devices write `reported` through `applyPatch` directly (no audit on the
 * MQTT hot path).
 */
import type { SqlExecutor } from '../../db/client.ts';
import { NotFoundError, ValidationError, failed, type Failed } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import type { JsonObject } from '../../domain/twin.ts';
import type { AuditLog } from '../audit.ts';
import type { PatchError, PatchOutcome, PatchRequest } from './types.ts';

export interface DesiredUpdate {
  deviceId: string;
  /** A JSON merge patch, untrusted. */
  patch: unknown;
  /** Refuse with VersionConflict unless the twin is at this version. */
  ifVersion?: number | null;
}

export type UpdateDesiredOutcome = { ok: true; deviceUuid: string; changed: boolean; version: number } | Failed<PatchError>;

export interface DesiredStateUpdater {
  updateDesired: (actor: Actor, update: DesiredUpdate) => Promise<UpdateDesiredOutcome>;
}

export function createDesiredStateUpdater(options: {
  sql: SqlExecutor;
  audit: AuditLog;
  applyPatch: (request: PatchRequest) => Promise<PatchOutcome>;
  /** While the process's writers hold through an outage, the API answers UNAVAILABLE without trying. */
  recovery?: { readonly holding: boolean; unavailable(what: string): Error } | undefined;
}): DesiredStateUpdater {
  const { sql, audit, applyPatch, recovery } = options;

  async function updateDesired(actor: Actor, update: DesiredUpdate): Promise<UpdateDesiredOutcome> {
    const { deviceId, patch, ifVersion } = update;
    if (recovery?.holding) throw recovery.unavailable('twin update');
    // Tenant check before the write: a device of another tenant is simply not found.
    const devices = await sql.query<{ id: string }>(`SELECT id FROM "Device" WHERE "tenantId" = $1 AND "deviceId" = $2 LIMIT 1`, [actor.tenantId, deviceId]);
    const device = devices[0];
    if (!device) return failed(new NotFoundError('Device', deviceId));
    const outcome = await applyPatch({
      deviceId,
      section: 'desired',
      patch,
      source: 'api',
      actor: actor.actor,
      ...(ifVersion != null ? { ifVersion } : {}),
    });
    if (!outcome.ok) {
      const { error } = outcome;
      // Issue paths are relative to the patch; the caller knows it as the `patch` argument.
      if (error instanceof ValidationError)
        return failed(
          new ValidationError(
            error.message,
            error.issues.map((i) => ({ ...i, path: ['patch', ...i.path] })),
          ),
        );
      return outcome;
    }
    // Refused patches change nothing and are not audited; accepted ones are, with the patch as sent.
    await audit.record({
      ...actor,
      action: 'twin.updateDesired',
      target: `device:${deviceId}`,
      details: { patch: patch as JsonObject, changed: outcome.changed, version: outcome.version, ...(ifVersion != null ? { ifVersion } : {}) },
    });
    return { ok: true, deviceUuid: device.id, changed: outcome.changed, version: outcome.version };
  }

  return { updateDesired };
}
