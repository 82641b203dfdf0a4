/**
 * Poison isolation for batched writes. A batch is written with one statement; when that statement fails
 * deterministically (a constraint, a trigger, a bug in one op's data), retrying the batch would fail
 * again and failing it would fail every message in it, the innocent with the guilty. Instead the items
 * still without a result are split in halves and each half is run again, down to single items: only an
 * item that fails alone — on a database that just wrote its neighbours — gets the failure, as an
 * `ItemFailure` (SerialBatcher rejects just that item; the bridge dead-letters its message). One poison
 * item in a batch of n costs about 2·log2(n) more statements; a healthy batch costs nothing.
 *
 * Transient failures are not isolated: they say nothing about the items, and are rethrown as they came
 * (the caller holds them, src/services/store-retry.ts).
 */
import { isTransientFailure } from '../domain/faults.ts';

/** The result of one item that failed alone: the batcher rejects that item with `error`. */
export class ItemFailure {
  constructor(readonly error: unknown) {}
}

/**
 * Runs `attempt` on `indices`. `attempt` stores each item's result in `results[index]` as soon as that
 * item is done (stored and announced), so that what completed before a failure is never run twice.
 * `onPoison` is called once per item isolated as failing alone.
 */
export async function isolateFailures<R>(
  indices: number[],
  results: Array<R | ItemFailure | undefined>,
  attempt: (indices: number[]) => Promise<void>,
  onPoison: (index: number, error: unknown) => void,
): Promise<void> {
  try {
    await attempt(indices);
  } catch (error) {
    if (isTransientFailure(error)) throw error;
    const open = indices.filter((i) => results[i] === undefined);
    if (open.length === 0) return;
    if (open.length === 1) {
      results[open[0]!] = new ItemFailure(error);
      onPoison(open[0]!, error);
      return;
    }
    // In order: the first half's items arrived first, so a device's ops keep their order.
    const half = Math.ceil(open.length / 2);
    await isolateFailures(open.slice(0, half), results, attempt, onPoison);
    await isolateFailures(open.slice(half), results, attempt, onPoison);
  }
}
