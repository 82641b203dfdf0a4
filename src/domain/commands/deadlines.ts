/**
 * What is due at `now` for a set of commands, and in which order pending commands go out on reconnect.
 * Pure: the edge loads the rows (by `deadlineOf(c).at <= now` in SQL, ideally from an indexed column),
 * asks these helpers, and feeds the answers to `transition`.
 *
 * Boundaries are inclusive: a command is expired at `now === expiresAt`, and timed out at
 * `now === sentAt + timeoutMs`, matching the `NOT_DUE` check in `transition`.
 *
 * Creation order is `createdAt`, then `seq` (a monotone number the store assigns, e.g. a BIGSERIAL;
 * optional), then `id`. Without `seq`, commands created in the same millisecond go out in id order,
 * which is deterministic but not necessarily the order they were requested.
 *
 * Every function skips elements that are not commands (no known status) instead of throwing.
 */
import { commandEvents, expiryAt, isCommandStatus, timeoutAt, type CommandEvent, type CommandLifecycle } from './state-machine.ts';

/** What creation order needs besides the lifecycle. */
export interface OrderedCommand extends CommandLifecycle {
  id: string;
  /** Tie-breaker for equal `createdAt`; a store sequence. */
  seq?: number | bigint;
}

/** The single instant at which `c` next needs attention from a sweeper, and what happens then; null for commands that wait on nothing (final, or no TTL / timeout). */
export function deadlineOf(c: CommandLifecycle): { kind: 'expire' | 'timeout'; at: number } | null {
  if (!isCommand(c)) return null;
  const expires = expiryAt(c);
  if (expires !== null) return { kind: 'expire', at: expires };
  const times = timeoutAt(c);
  return times === null ? null : { kind: 'timeout', at: times };
}

/** A PENDING command whose TTL has passed: never deliver it. */
export function isExpired(c: CommandLifecycle, now: number): boolean {
  if (!isCommand(c) || !isNumber(now)) return false;
  const at = expiryAt(c);
  return at !== null && now >= at;
}

/** A SENT or ACCEPTED command whose final status is overdue. */
export function isTimedOut(c: CommandLifecycle, now: number): boolean {
  if (!isCommand(c) || !isNumber(now)) return false;
  const at = timeoutAt(c);
  return at !== null && now >= at;
}

/** Creation order (see the module comment): negative if `a` was created first. A total order on valid commands. */
export function compareCreation(a: OrderedCommand, b: OrderedCommand): number {
  if (!isRecord(a) || !isRecord(b)) return cmp(isRecord(a) ? 0 : 1, isRecord(b) ? 0 : 1);
  return cmp(num(a.createdAt), num(b.createdAt)) || cmp(seqOf(a), seqOf(b)) || cmp(idOf(a), idOf(b));
}

export interface Due<C> {
  /** PENDING commands past their TTL, in creation order: to `expire`, never to deliver. */
  expired: C[];
  /** SENT/ACCEPTED commands past their timeout, in creation order: to `timeout`. */
  timedOut: C[];
}

/** Which of `commands` are due at `now`. */
export function dueAt<C extends OrderedCommand>(commands: readonly C[], now: number): Due<C> {
  const valid = commandsIn(commands);
  return {
    expired: valid.filter((c) => isExpired(c, now)).sort(compareCreation),
    timedOut: valid.filter((c) => isTimedOut(c, now)).sort(compareCreation),
  };
}

/**
 * The same as `dueAt`, as events ready for `transition(command, event, now)`: all due commands in
 * creation order (expiries and timeouts interleaved), each with the event that settles it.
 */
export function dueEvents<C extends OrderedCommand>(commands: readonly C[], now: number): Array<{ command: C; event: CommandEvent }> {
  const { expired, timedOut } = dueAt(commands, now);
  return [
    ...expired.map((command) => ({ command, event: commandEvents.expire(now) })),
    ...timedOut.map((command) => ({ command, event: commandEvents.timeout(now) })),
  ].sort((x, y) => compareCreation(x.command, y.command));
}

export interface DeliveryOptions {
  /**
   * Also redeliver SENT commands (not timed out) — for a device that connected with a clean session,
   * whose broker dropped what was in flight. ACCEPTED ones are never redelivered: the device has them.
   * Default false.
   */
  includeSent?: boolean;
}

/**
 * The commands to publish to a device that (re)connects, in creation order: PENDING ones that have not
 * expired (and, with `includeSent`, SENT ones that have not timed out). The expired ones are `dueAt`'s.
 */
export function deliveryOrder<C extends OrderedCommand>(commands: readonly C[], now: number, options: DeliveryOptions = {}): C[] {
  if (!isNumber(now)) return [];
  const includeSent = isRecord(options) && options.includeSent === true;
  return commandsIn(commands)
    .filter((c) => (c.status === 'PENDING' && !isExpired(c, now)) || (includeSent && c.status === 'SENT' && !isTimedOut(c, now)))
    .sort(compareCreation);
}

/** The earliest deadline among `commands` (for arming a timer), or null if none waits on one. */
export function nextDeadline(commands: readonly CommandLifecycle[]): number | null {
  let next: number | null = null;
  for (const c of commandsIn(commands)) {
    const d = deadlineOf(c);
    if (d !== null && (next === null || d.at < next)) next = d.at;
  }
  return next;
}

// ---------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCommand(value: unknown): value is CommandLifecycle {
  return isRecord(value) && isCommandStatus(value.status);
}

function commandsIn<C extends CommandLifecycle>(commands: readonly C[]): C[] {
  return Array.isArray(commands) ? commands.filter((c): c is C => isCommand(c)) : [];
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && !Number.isNaN(value);
}

/** NaN or a non-number sorts last, so a corrupt row cannot make the sort inconsistent. */
function num(value: unknown): number {
  return isNumber(value) ? value : Infinity;
}

function seqOf(c: OrderedCommand): number | bigint {
  return typeof c.seq === 'bigint' || isNumber(c.seq) ? c.seq : -Infinity;
}

function idOf(c: OrderedCommand): string {
  return typeof c.id === 'string' ? c.id : '';
}

function cmp(a: number | bigint | string, b: number | bigint | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
