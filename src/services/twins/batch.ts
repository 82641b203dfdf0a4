/**
 * One batch, start to finish: load every twin it touches (one SELECT), merge in memory, write (one
 * statement), and announce what was stored. Ops on twins whose write lost the revision race to another
 * instance are run again on a fresh load; the merge is order-independent, so nothing is lost, and
 * their changes are announced only by the attempt that stores them.
 *
 * Each statement (the load, the write) is held through transient database failures until it succeeds
 * (../store-retry.ts): one statement, so running it again is safe — a write that did commit before its
 * answer was lost reads as a revision conflict on the next try and is re-merged like any other.
 *
 * A statement that fails deterministically is narrowed down to the ops that fail alone (../poison.ts):
 * those get an `ItemFailure` (their messages are dead-lettered), every other op of the batch is stored.
 */
import type { TwinLimits } from '../../domain/twin.ts';
import type { Logger } from '../../logger.ts';
import { isolateFailures, type ItemFailure } from '../poison.ts';
import type { StoreRetry } from '../store-retry.ts';
import type { TwinAnnouncer } from './announce.ts';
import type { TwinLoader } from './loader.ts';
import { mergeOps } from './merge.ts';
import { deviceIdOf, type TwinOp, type TwinOpOutcome } from './types.ts';
import type { TwinWriter } from './writer.ts';

/** Attempts per batch before a twin that keeps conflicting fails the batch. */
export const MAX_CONFLICT_RETRIES = 8;

export interface TwinBatchProcessor {
  /**
   * Runs the ops in order and returns one outcome per op once everything is stored, however long the
   * database is unavailable; an op that fails deterministically even alone gets an `ItemFailure`
   * instead. Throws `UnavailableError` after the retry was stopped.
   */
  process(ops: TwinOp[]): Promise<Array<TwinOpOutcome | ItemFailure>>;
}

export interface TwinBatchParts {
  loader: TwinLoader;
  writer: TwinWriter;
  announcer: TwinAnnouncer;
  limits: TwinLimits;
  logger: Logger;
  /** Holds each statement through transient failures (not the whole batch: what was stored stays announced once). */
  retry: StoreRetry;
  now: () => number;
}

export function createTwinBatchProcessor(parts: TwinBatchParts): TwinBatchProcessor {
  const { loader, writer, announcer, limits, logger, retry: held, now } = parts;

  async function process(ops: TwinOp[]): Promise<Array<TwinOpOutcome | ItemFailure>> {
    const outcomes = new Array<TwinOpOutcome | ItemFailure | undefined>(ops.length);
    await isolateFailures(
      ops.map((_, index) => index),
      outcomes,
      (indices) => processSome(ops, indices, outcomes),
      (index, error) => logger.warn({ err: error, deviceId: deviceIdOf(ops[index]!) }, 'twin op fails alone: poison, the rest of its batch is stored'),
    );
    return outcomes as Array<TwinOpOutcome | ItemFailure>;
  }

  /** The ops at `indices`, written together; each outcome is set once its op is stored and announced. */
  async function processSome(ops: TwinOp[], indices: number[], outcomes: Array<TwinOpOutcome | ItemFailure | undefined>): Promise<void> {
    let remaining = indices.map((index) => ({ op: ops[index]!, index }));

    for (let attempt = 0; remaining.length > 0; attempt++) {
      const deviceIds = [...new Set(remaining.map(({ op }) => deviceIdOf(op)))];
      const twins = await held.run(() => loader.load(deviceIds));
      const merged = mergeOps(
        remaining.map((r) => r.op),
        twins,
        limits,
      );
      const dirty = [...twins.values()].filter((t) => t.dirty);
      const at = new Date(now());
      for (const t of dirty) t.updatedAt = at;
      const written = await held.run(() => writer.write(dirty, merged.changes, at));
      const conflicted = new Set(dirty.filter((t) => !written.has(t.deviceUuid)).map((t) => t.deviceId));
      if (conflicted.size > 0 && attempt >= MAX_CONFLICT_RETRIES) {
        // A lost race, not a poison op: classified transient like PostgreSQL's serialization failure
        // (40001), so the messages stay unacknowledged and come again instead of being dead-lettered.
        throw Object.assign(new Error(`twin write kept conflicting for ${[...conflicted].join(', ')}`), { code: '40001' });
      }

      const retry: typeof remaining = [];
      remaining.forEach((r, i) => {
        if (conflicted.has(deviceIdOf(r.op))) retry.push(r);
        else outcomes[r.index] = merged.outcomes[i]!();
      });
      announcer.announce(
        [...twins.values()].filter((t) => !conflicted.has(t.deviceId)),
        merged.changes.filter((c) => !conflicted.has(c.deviceId)),
        at.getTime(),
      );
      if (retry.length > 0) logger.debug({ devices: [...conflicted], attempt }, 'twin write conflict, re-merging');
      remaining = retry;
    }
  }

  return { process };
}
