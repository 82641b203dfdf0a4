/**
 * Moving stored commands through the state machine: decide in memory, store with one guarded UPDATE,
 * re-read and re-decide the rows another writer moved meanwhile, then announce what was stored (the
 * transitions metric, a `commandUpdated` event each, and a fleet-progress kick for fleet members).
 */
import { transition, type CommandEvent, type CommandStatus, type TransitionReason } from '../../domain/commands/state-machine.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Metrics } from '../../metrics.ts';
import { createLatencyMetrics } from '../latency-metrics.ts';
import type { CommandRow, CommandStore, RowChange, StoredStep } from './store.ts';

export const TRANSITIONS_METRIC = 'doppel_command_transitions_total';

/** The final states a device's ack reaches (the others — EXPIRED, CANCELED, TIMED_OUT — are Doppel's). */
const DEVICE_FINAL = new Set<CommandStatus>(['SUCCEEDED', 'FAILED', 'REJECTED']);

/** How often a batch of changes is re-decided after losing races before it is given up as a bug. */
const MAX_ATTEMPTS = 8;

export type RefusalHandler = (row: CommandRow, reason: TransitionReason | 'INVALID_INPUT', message: string) => void;

export interface CommandTransitions {
  /**
   * Applies `eventFor(row)` to each row and stores the changes; rows that moved meanwhile are re-read
   * and re-decided. Refusals go to `onRefused`. Returns the commands as stored.
   */
  apply(rows: CommandRow[], eventFor: (row: CommandRow) => CommandEvent, at: number, onRefused?: RefusalHandler): Promise<CommandRow[]>;
  /** Announces stored changes: counts them, publishes `commandUpdated` each, kicks the progress of their fleets. */
  announce(steps: StoredStep[]): void;
  /** Announces commands just stored PENDING: a `commandUpdated` each, `from: null` (creation is not counted as a transition). */
  announceCreated(commands: CreatedCommand[], at: number): void;
}

/** A command as its creation announces it. */
export type CreatedCommand = Pick<CommandRow, 'id' | 'deviceUuid' | 'deviceId' | 'tenantId' | 'fleetCommandId'>;

/** Gives up (throws) when changes still conflict after MAX_ATTEMPTS rounds: something keeps writing the same rows. */
export function throwIfStillConflicting(attempt: number, conflicted: Iterable<string>, what: string): void {
  const ids = [...conflicted];
  if (ids.length > 0 && attempt >= MAX_ATTEMPTS) throw new Error(`${what} kept conflicting: ${ids.join(', ')}`);
}

export interface TransitionsOptions {
  store: CommandStore;
  bus: EventBus;
  metrics: Metrics;
  now: () => number;
  /** Fleets whose members changed (their progress is to be recomputed and published). */
  fleetsChanged: (fleetIds: string[]) => void;
}

export function createTransitions(options: TransitionsOptions): CommandTransitions {
  const { store, bus, metrics, now } = options;
  const latency = createLatencyMetrics(metrics);

  /** One `commandUpdated` event: the same shape for a created command and for every later step. */
  function publishUpdate(c: CreatedCommand, from: CommandStatus | null, status: CommandStatus, at: number): void {
    bus.publish('commandUpdated', {
      commandId: c.id,
      deviceUuid: c.deviceUuid,
      deviceId: c.deviceId,
      tenantId: c.tenantId,
      fleetCommandId: c.fleetCommandId,
      from,
      status,
      at,
    });
  }

  function announce(steps: StoredStep[]): void {
    const fleets = new Set<string>();
    for (const { from, to: c } of steps) {
      metrics.inc(TRANSITIONS_METRIC, { status: c.status });
      // The device's final answer: creation to the answer's stored time.
      if (DEVICE_FINAL.has(c.status)) latency.commandRoundTrip(c.status, ((c.stateTimes[c.status] ?? now()) - c.createdAt) / 1000);
      publishUpdate(c, from, c.status, c.stateTimes[c.status] ?? now());
      if (c.fleetCommandId) fleets.add(c.fleetCommandId);
    }
    if (fleets.size > 0) options.fleetsChanged([...fleets]);
  }

  function announceCreated(commands: CreatedCommand[], at: number): void {
    for (const c of commands) publishUpdate(c, null, 'PENDING', at);
  }

  async function apply(initial: CommandRow[], eventFor: (row: CommandRow) => CommandEvent, at: number, onRefused?: RefusalHandler): Promise<CommandRow[]> {
    const stored: StoredStep[] = [];
    let rows = initial;
    for (let attempt = 0; rows.length > 0; attempt++) {
      const changes: RowChange[] = [];
      for (const row of rows) {
        const result = transition(row, eventFor(row), at);
        if (!result.ok) onRefused?.(row, result.reason, result.message);
        else if (result.changed) changes.push({ from: row, to: result.command });
      }
      if (changes.length === 0) break;
      const updated = await store.writeTransitions(changes);
      for (const c of changes) if (updated.has(c.to.id)) stored.push({ from: c.from.status, to: c.to });
      const conflicted = changes.filter((c) => !updated.has(c.to.id)).map((c) => c.to.id);
      throwIfStillConflicting(attempt, conflicted, 'command transitions');
      rows = await store.loadByIds(conflicted);
    }
    announce(stored);
    return stored.map((s) => s.to);
  }

  return { apply, announce, announceCreated };
}
