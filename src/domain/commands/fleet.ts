/**
 * Progress of a fleet command: one command per targeted device, aggregated as counts per state.
 * Pure. Two ways to get it, which always agree (a property test holds them to it):
 *
 * - from scratch, `fleetProgress(statuses)` — e.g. from `SELECT status, count(*) … GROUP BY status`;
 * - incrementally, `applyRecord(progress, record)` with each `TransitionRecord` of a member command,
 *   so a `commandUpdated` on one member can update the fleet's progress without reading all members.
 *
 * A fleet with no members is finished (there is nothing left to do).
 */
import { COMMAND_STATUSES, isCommandStatus, isFinalStatus, type CommandStatus, type TransitionRecord } from './state-machine.ts';

export type StatusCounts = Record<CommandStatus, number>;

export interface FleetProgress {
  /** Members per state; every state is present, zero or not. */
  counts: StatusCounts;
  /** Number of member commands. */
  total: number;
  /** Members in a final state (SUCCEEDED, FAILED, REJECTED, EXPIRED, CANCELED, TIMED_OUT). */
  done: number;
  /** Every member is final. */
  finished: boolean;
}

export type ApplyRecordResult =
  | { ok: true; progress: FleetProgress }
  /**
   * The record does not fit the counts (no member is in `from`) or is not a record. `progress` is
   * the input, unchanged: recompute from scratch.
   */
  | { ok: false; reason: 'INCONSISTENT' | 'INVALID_RECORD'; progress: FleetProgress; message: string };

export function emptyCounts(): StatusCounts {
  return Object.fromEntries(COMMAND_STATUSES.map((s) => [s, 0])) as StatusCounts;
}

/** Progress from the current statuses of all members. Values that are not statuses are skipped. */
export function fleetProgress(statuses: Iterable<CommandStatus>): FleetProgress {
  const counts = emptyCounts();
  if (isIterable(statuses)) for (const s of statuses) if (isCommandStatus(s)) counts[s]++;
  return fromCounts(counts);
}

/**
 * Progress from counts per state (missing states count zero; negative, fractional or non-numbers are
 * read as zero). For a `GROUP BY status` result.
 */
export function fromCounts(counts: Partial<Record<CommandStatus, number>>): FleetProgress {
  const clean = emptyCounts();
  let total = 0;
  let done = 0;
  for (const s of COMMAND_STATUSES) {
    const raw = typeof counts === 'object' && counts !== null ? counts[s] : undefined;
    const n = typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0 ? raw : 0;
    clean[s] = n;
    total += n;
    if (isFinalStatus(s)) done += n;
  }
  return { counts: clean, total, done, finished: done === total };
}

/** `progress` with `n` more members in `status` (new members are PENDING). */
export function addMembers(progress: FleetProgress, n: number, status: CommandStatus = 'PENDING'): FleetProgress {
  const base = isProgress(progress) ? progress.counts : emptyCounts();
  if (!Number.isSafeInteger(n) || n <= 0 || !isCommandStatus(status)) return fromCounts(base);
  return fromCounts({ ...base, [status]: base[status] + n });
}

/**
 * `progress` after one member moved `record.from → record.to`. A record with `from === to` (a
 * redelivery) changes nothing. Apply each record of a member exactly once: the edge applies the
 * records `transition` returned with `changed: true`, never refusals.
 */
export function applyRecord(progress: FleetProgress, record: Pick<TransitionRecord, 'from' | 'to'>): ApplyRecordResult {
  const current = isProgress(progress) ? progress : fromCounts(emptyCounts());
  if (typeof record !== 'object' || record === null || !isCommandStatus(record.from) || !isCommandStatus(record.to)) {
    return { ok: false, reason: 'INVALID_RECORD', progress: current, message: 'not a transition record with a known from and to' };
  }
  const { from, to } = record;
  if (current.counts[from] <= 0) {
    return { ok: false, reason: 'INCONSISTENT', progress: current, message: `no member is ${from}, so none can move to ${to}` };
  }
  if (from === to) return { ok: true, progress: current };
  return { ok: true, progress: fromCounts({ ...current.counts, [from]: current.counts[from] - 1, [to]: current.counts[to] + 1 }) };
}

/** Same progress (for tests and for deciding whether to publish an update). */
export function sameProgress(a: FleetProgress, b: FleetProgress): boolean {
  if (!isProgress(a) || !isProgress(b)) return false;
  return COMMAND_STATUSES.every((s) => a.counts[s] === b.counts[s]) && a.total === b.total && a.done === b.done && a.finished === b.finished;
}

function isProgress(value: unknown): value is FleetProgress {
  if (typeof value !== 'object' || value === null) return false;
  const counts = (value as { counts?: unknown }).counts;
  return typeof counts === 'object' && counts !== null && COMMAND_STATUSES.every((s) => Number.isSafeInteger((counts as Record<string, unknown>)[s]));
}

function isIterable(value: unknown): value is Iterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
}
