/**
 * Fleet progress: how many members of a fleet command are in each state, recomputed from the database
 * when members change and published as `fleetProgress` until every member is final.
 */
import type { Database } from '../../db/client.ts';
import { fromCounts, type FleetProgress } from '../../domain/commands/fleet.ts';
import type { CommandStatus } from '../../domain/commands/state-machine.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Logger } from '../../logger.ts';
import { coalescingWorker } from './coalescing.ts';

export interface FleetProgressWorker {
  /** The progress of each of these fleets, now (an unknown id counts no members). */
  progressOf(fleetIds: string[]): Promise<Map<string, FleetProgress>>;
  /** Members of these fleets changed: recompute and publish their progress (coalesced). */
  kick(fleetIds: Iterable<string>): void;
  /** A fleet was just created in this tenant: saves looking its tenant up for each progress event. */
  remember(fleetId: string, tenantId: string): void;
  /** Resolves once no round runs and none waits. */
  idle(): Promise<void>;
}

export interface FleetProgressOptions {
  db: Database;
  bus: EventBus;
  logger: Logger;
  now: () => number;
}

export function createFleetProgress(options: FleetProgressOptions): FleetProgressWorker {
  const { db, bus, now } = options;
  /** Tenants of the unfinished fleets this instance has published progress of; dropped once a fleet finishes. */
  const fleetTenants = new Map<string, string>();

  async function progressOf(fleetIds: string[]): Promise<Map<string, FleetProgress>> {
    const rows = await db.sql.query<{ fleetCommandId: string; status: CommandStatus; n: number }>(
      `SELECT "fleetCommandId", status, count(*)::int AS n FROM "Command" WHERE "fleetCommandId" = ANY($1::uuid[]) GROUP BY 1, 2`,
      [fleetIds],
    );
    const counts = new Map<string, Partial<Record<CommandStatus, number>>>(fleetIds.map((id) => [id, {}]));
    for (const r of rows) counts.get(r.fleetCommandId)![r.status] = Number(r.n);
    return new Map([...counts].map(([id, c]) => [id, fromCounts(c)]));
  }

  async function round(fleetIds: string[]): Promise<void> {
    const progress = await progressOf(fleetIds);
    const missing = fleetIds.filter((id) => !fleetTenants.has(id));
    if (missing.length > 0) {
      const rows = await db.sql.query<{ id: string; tenantId: string }>(`SELECT id, "tenantId" FROM "FleetCommand" WHERE id = ANY($1::uuid[])`, [missing]);
      for (const r of rows) fleetTenants.set(r.id, r.tenantId);
    }
    const at = now();
    for (const [id, p] of progress) {
      const tenantId = fleetTenants.get(id);
      if (tenantId) bus.publish('fleetProgress', { fleetCommandId: id, tenantId, progress: p, at });
      if (p.finished) fleetTenants.delete(id);
    }
  }

  const worker = coalescingWorker<string>('fleet-progress', options.logger, round);

  return {
    progressOf,
    kick: (fleetIds) => worker.kick(fleetIds),
    remember: (fleetId, tenantId) => void fleetTenants.set(fleetId, tenantId),
    idle: () => worker.idle(),
  };
}
