/**
 * The sweeper drives what the clock decides from the database, so a restart loses nothing: expiries
 * and timeouts whose deadline (the indexed `deadlineAt` column) has passed, and delivery of PENDING
 * commands to connected devices (after a restart, when an external broker kept them connected, or
 * after a failed publish).
 */
import { dueEvents } from '../../domain/commands/deadlines.ts';
import { commandEvents } from '../../domain/commands/state-machine.ts';
import type { Logger } from '../../logger.ts';
import { periodic } from '../../periodic.ts';
import type { CommandDelivery } from './delivery.ts';
import type { CommandStore } from './store.ts';
import type { CommandTransitions } from './transitions.ts';

/** Due commands handled per statement; a sweep goes on while full batches change something. */
const DUE_BATCH = 1000;

export interface CommandSweeper {
  /** One sweep now; resolves at once when a sweep is already running. Never throws: failures are logged. */
  sweep(): Promise<void>;
  /** Sweeps at once (for what a previous run left), then every `intervalMs` after the previous sweep ends. */
  start(): void;
  /** Cancels the next sweep and waits for the one running. */
  stop(): Promise<void>;
}

export interface SweeperOptions {
  store: CommandStore;
  transitions: CommandTransitions;
  delivery: CommandDelivery;
  logger: Logger;
  intervalMs: number;
  now: () => number;
}

export function createSweeper(options: SweeperOptions): CommandSweeper {
  const { store, transitions, delivery, logger, now } = options;
  let running: Promise<void> | undefined;

  async function sweepOnce(): Promise<void> {
    const t = now();
    // Deadlines: expiries and timeouts that are due, oldest first, bounded per statement.
    for (;;) {
      const due = await store.loadDue(t, DUE_BATCH);
      if (due.length === 0) break;
      const events = new Map(dueEvents(due, t).map((e) => [e.command.id, e.event]));
      const stored = await transitions.apply(
        due.filter((r) => events.has(r.id)),
        (r) => events.get(r.id) ?? commandEvents.expire(t),
        t,
      );
      if (stored.length === 0 || due.length < DUE_BATCH) break;
    }
    const waiting = await store.devicesWaiting();
    if (waiting.length > 0) delivery.kick(waiting);
  }

  function sweep(): Promise<void> {
    if (running) return Promise.resolve();
    running = sweepOnce()
      .catch((error: unknown) => logger.error({ err: error }, 'command sweep failed'))
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  const job = periodic({
    intervalMs: options.intervalMs,
    firstDelayMs: 0,
    run: sweep,
    // sweep() logs its own failures; this only guards the job itself.
    onError: (error) => logger.error({ err: error }, 'command sweep failed'),
  });

  return {
    sweep,
    start: () => job.start(),
    async stop() {
      await job.stop();
      await running;
    },
  };
}
