/**
 * A background worker that runs one round at a time over a set of keys (device ids, fleet ids). Kicks
 * that arrive while a round runs are collected and handled by the next round, so a burst of kicks costs
 * one round, not one each.
 */
import type { Logger } from '../../logger.ts';

export interface CoalescingWorker<T> {
  /** Asks for a round over these items (joined with those already waiting); starts one unless one runs. */
  kick(items: Iterable<T>): void;
  /** Resolves once no round runs and nothing waits. */
  idle(): Promise<void>;
}

/** A failed round is logged and does not stop the worker: the next kick (or sweep) tries again. */
export function coalescingWorker<T>(name: string, logger: Logger, round: (items: T[]) => Promise<void>): CoalescingWorker<T> {
  const dirty = new Set<T>();
  let running: Promise<void> | null = null;

  async function loop(): Promise<void> {
    try {
      while (dirty.size > 0) {
        const items = [...dirty];
        dirty.clear();
        try {
          await round(items);
        } catch (error) {
          logger.error({ err: error, worker: name }, 'command worker round failed');
        }
      }
    } finally {
      running = null;
    }
  }

  return {
    kick(items) {
      for (const i of items) dirty.add(i);
      if (!running && dirty.size > 0) running = loop();
    },
    async idle() {
      while (running) await running;
    },
  };
}
