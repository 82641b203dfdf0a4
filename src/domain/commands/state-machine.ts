/**
 * The command lifecycle (docs/commands.md) as a pure state machine: no I/O, no clocks, never throws.
 *
 *   PENDING ──published──▶ SENT ──ack ACCEPTED──▶ ACCEPTED ──ack SUCCEEDED|FAILED|REJECTED──▶ final
 *      │                     │                        │
 *      │                     └── ack final ───────────┼──▶ SUCCEEDED | FAILED | REJECTED
 *      ├── ack (any) ──▶ that state (delivery is implied by the ack)
 *      ├── expire ──▶ EXPIRED      (TTL passed before delivery)
 *      └── cancel ──▶ CANCELED     (a user, before delivery)
 *   SENT | ACCEPTED ──timeout──▶ TIMED_OUT   (no final status in time)
 *
 * Why these choices:
 *
 * - EXPIRED means "never delivered, so certainly never executed"; it applies only to PENDING. Once a
 *   command is SENT the device may be acting on it, so calling it expired would be a lie: from then on
 *   only the timeout applies (TIMED_OUT = "outcome unknown"), counted from the time it was SENT. The
 *   device receives `expiresAt` in the payload and is expected to REJECT a command it picks up late.
 * - An ack may arrive while the command is still PENDING: the edge stores, publishes, then records
 *   `published`, and a fast device can ack in between. The ack proves delivery, so it is taken, and
 *   the SENT time is filled in with the ack's time.
 * - A device may skip ACCEPTED and send only the final status.
 * - `published` on a SENT command is a redelivery (e.g. on reconnect): accepted, `changed: false`.
 * - An ack is taken whenever the command is not final, even past its timeout deadline: until TIMED_OUT
 *   is recorded, the device's answer wins. Likewise a cancel wins over an expiry not yet recorded.
 *   Once final, a command never changes again.
 * - Deadline events (`expire`, `timeout`) re-check the deadline against the `now` they carry, so a
 *   sweeper working from stale rows cannot expire or time out a command early (`NOT_DUE`).
 *
 * Refusals are values (`ok: false`) with a stable `reason`, so the edge can ignore, record and count
 * them. Commands are immutable values: nothing here mutates its input, and a no-op returns the input.
 */
import type { JsonValue } from '../twin.ts';

/** Every state a command can be in. Stable names: they are stored and exposed through GraphQL. */
export const COMMAND_STATUSES = ['PENDING', 'SENT', 'ACCEPTED', 'SUCCEEDED', 'FAILED', 'REJECTED', 'EXPIRED', 'CANCELED', 'TIMED_OUT'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

/** States a command never leaves. */
export const FINAL_STATUSES = ['SUCCEEDED', 'FAILED', 'REJECTED', 'EXPIRED', 'CANCELED', 'TIMED_OUT'] as const satisfies readonly CommandStatus[];
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** The statuses a device may send in `devices/{id}/commands/{commandId}/ack` (docs/device-contract.md). */
export const ACK_STATUSES = ['ACCEPTED', 'SUCCEEDED', 'FAILED', 'REJECTED'] as const satisfies readonly CommandStatus[];
export type AckStatus = (typeof ACK_STATUSES)[number];

/** The kinds of event, in the order the tests enumerate them. */
export const COMMAND_EVENT_TYPES = ['published', 'deviceAck', 'expire', 'cancel', 'timeout'] as const;
export type CommandEventType = (typeof COMMAND_EVENT_TYPES)[number];

export type CommandEvent =
  /** The command was handed to the broker for the device (first delivery or a redelivery). */
  | { type: 'published' }
  /** The device acknowledged the command. `result` and `error` are the device's, stored as given. */
  | { type: 'deviceAck'; status: AckStatus; result?: JsonValue; error?: JsonValue }
  /** A sweeper found the TTL passed; `now` is the clock reading it judged by. */
  | { type: 'expire'; now: number }
  /** A user canceled; `actor` as in the twin change log (e.g. `token:<id>`). */
  | { type: 'cancel'; actor: string }
  /** A sweeper found the timeout passed; `now` is the clock reading it judged by. */
  | { type: 'timeout'; now: number };

/** Event constructors, so call sites read like the design: `transition(c, commandEvents.deviceAck('SUCCEEDED'), now)`. */
export const commandEvents = {
  published: (): CommandEvent => ({ type: 'published' }),
  deviceAck: (status: AckStatus, result?: JsonValue, error?: JsonValue): CommandEvent => {
    const event: { type: 'deviceAck'; status: AckStatus; result?: JsonValue; error?: JsonValue } = { type: 'deviceAck', status };
    if (result !== undefined) event.result = result;
    if (error !== undefined) event.error = error;
    return event;
  },
  expire: (now: number): CommandEvent => ({ type: 'expire', now }),
  cancel: (actor: string): CommandEvent => ({ type: 'cancel', actor }),
  timeout: (now: number): CommandEvent => ({ type: 'timeout', now }),
};

/** When each state was reached (epoch ms). Only states the command went through are present. */
export type StateTimes = Partial<Record<CommandStatus, number>>;

/**
 * The part of a command the lifecycle reads and writes. Real commands carry more (id, deviceId, name,
 * params, requestedBy, …); `transition` keeps every other field as it is.
 */
export interface CommandLifecycle {
  status: CommandStatus;
  /** Epoch ms; also the PENDING time. */
  createdAt: number;
  /** Epoch ms after which an undelivered command must never be delivered; `null` = never expires. */
  expiresAt: number | null;
  /** How long after SENT a final status must arrive; `null` = never times out. */
  timeoutMs: number | null;
  /** Monotone: later states never carry earlier times (see `transition`). */
  stateTimes: StateTimes;
  /** From the device's ack, when it sent one. */
  result?: JsonValue;
  error?: JsonValue;
  /** Who canceled it (set with CANCELED). */
  canceledBy?: string;
}

/** One stored transition: what the edge appends to the command's history and publishes to `commandUpdated`. */
export interface TransitionRecord {
  from: CommandStatus;
  to: CommandStatus;
  /** Epoch ms; equals `stateTimes[to]` of the new command when the state changed. */
  at: number;
  cause: CommandEventType;
  /** Who caused it, for `cancel`. */
  actor?: string;
}

export type TransitionReason =
  /** The lifecycle forbids this event in this state (cancel after SENT, an ack after EXPIRED, CANCELED or TIMED_OUT, a final ack contradicting another, …). */
  | 'ILLEGAL_TRANSITION'
  /** The command is already where this event would take it: the same final ack twice, ACCEPTED twice, cancel twice, …. Idempotent: no change. */
  | 'DUPLICATE'
  /** The event belongs to an earlier state than the command is in: an ACCEPTED ack after a final one, a `published` after the device already acked. Reordering, not misbehaviour. */
  | 'STALE'
  /** An `expire` or `timeout` before its deadline. */
  | 'NOT_DUE';

export type TransitionResult<C extends CommandLifecycle = CommandLifecycle> =
  | {
      ok: true;
      /** The new command; the input itself when `changed` is false. */
      command: C;
      /** The status changed (store it, append the record, publish it). False only for a redelivery of a SENT command. */
      changed: boolean;
      record: TransitionRecord;
    }
  | { ok: false; reason: TransitionReason; from: CommandStatus; event: CommandEvent; message: string }
  /** Input that is not a command or an event (a bug at the edge, or a corrupt row); `from` is null when the command has no known status. */
  | { ok: false; reason: 'INVALID_INPUT'; from: CommandStatus | null; event: unknown; message: string };

export function isCommandStatus(value: unknown): value is CommandStatus {
  return typeof value === 'string' && (COMMAND_STATUSES as readonly string[]).includes(value);
}

export function isFinalStatus(value: unknown): value is FinalStatus {
  return typeof value === 'string' && (FINAL_STATUSES as readonly string[]).includes(value);
}

export function isAckStatus(value: unknown): value is AckStatus {
  return typeof value === 'string' && (ACK_STATUSES as readonly string[]).includes(value);
}

/**
 * A new command, PENDING since `createdAt`. Every other field of `fields` is kept as is.
 */
export function createCommand<T extends { createdAt: number; expiresAt: number | null; timeoutMs: number | null }>(fields: T): T & CommandLifecycle {
  return { ...fields, status: 'PENDING', stateTimes: { PENDING: fields.createdAt } };
}

/** Epoch ms at which `c` was SENT (the start of its timeout), or undefined if it never was. */
export function sentAt(c: CommandLifecycle): number | undefined {
  if (!isRecord(c)) return undefined;
  const times = isRecord(c.stateTimes) ? c.stateTimes : {};
  for (const s of ['SENT', 'ACCEPTED', 'SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT'] as const) {
    const t = times[s];
    // A SENT time is filled in whenever a command leaves PENDING towards delivery; the fallbacks only
    // keep rows written by hand (or by older code) usable.
    if (isTime(t)) return t;
  }
  return undefined;
}

/** When `c` times out, or null if it cannot (not SENT/ACCEPTED, or no timeout). */
export function timeoutAt(c: CommandLifecycle): number | null {
  if (!isRecord(c) || (c.status !== 'SENT' && c.status !== 'ACCEPTED') || !isTime(c.timeoutMs)) return null;
  const sent = sentAt(c) ?? c.createdAt;
  return isTime(sent) ? sent + c.timeoutMs : null;
}

/** When `c` expires, or null if it cannot (not PENDING, or no TTL). */
export function expiryAt(c: CommandLifecycle): number | null {
  return isRecord(c) && c.status === 'PENDING' && isTime(c.expiresAt) ? c.expiresAt : null;
}

// ---------------------------------------------------------------------------------------------
// The transition function
// ---------------------------------------------------------------------------------------------

/**
 * What `event` does to `command` at time `now` (epoch ms; the time recorded for a new state).
 *
 * Recorded times never go backwards: if `now` is earlier than a time already on the command (clocks of
 * two instances disagree), the new state is stamped with the latest time already there. Never throws,
 * whatever it is given.
 */
export function transition<C extends CommandLifecycle>(command: C, event: CommandEvent, now: number): TransitionResult<C> {
  const invalid = (from: CommandStatus | null, message: string): TransitionResult<C> => ({ ok: false, reason: 'INVALID_INPUT', from, event, message });
  if (!isRecord(command)) return invalid(null, `the command is ${describe(command)}, not an object`);
  const from = command.status;
  if (!isCommandStatus(from)) return invalid(null, `the command's status ${describe(from)} is not one of ${COMMAND_STATUSES.join(', ')}`);
  if (!isTime(now)) return invalid(from, `now must be a finite, non-negative epoch-ms number (got ${describe(now)})`);
  const problem = eventProblem(event);
  if (problem !== undefined) return invalid(from, problem);

  const refuse = (reason: TransitionReason, message: string): TransitionResult<C> => ({ ok: false, reason, from, event, message });
  const illegal = (what: string) => refuse('ILLEGAL_TRANSITION', `${what} is not allowed in ${from}`);
  const at = Math.max(now, latestTime(command.stateTimes));
  const move = (to: CommandStatus, extra: Partial<CommandLifecycle> = {}, implied: StateTimes = {}): TransitionResult<C> => {
    const stateTimes: StateTimes = { ...(isRecord(command.stateTimes) ? command.stateTimes : {}), ...implied, [to]: at };
    const next = { ...command, ...extra, status: to, stateTimes } as C;
    const record: TransitionRecord = { from, to, at, cause: event.type };
    if (event.type === 'cancel') record.actor = event.actor;
    return { ok: true, command: next, changed: true, record };
  };

  switch (event.type) {
    case 'published':
      if (from === 'PENDING') return move('SENT');
      if (from === 'SENT') return { ok: true, command, changed: false, record: { from, to: from, at, cause: 'published' } };
      if (from === 'ACCEPTED' || from === 'SUCCEEDED' || from === 'FAILED' || from === 'REJECTED') {
        return refuse('STALE', `the device already acknowledged the command (${from}); a late 'published' changes nothing`);
      }
      return illegal(`publishing a command`);

    case 'deviceAck': {
      const to = event.status;
      if (from === 'EXPIRED' || from === 'CANCELED' || from === 'TIMED_OUT') return illegal(`an ack (${to})`);
      if (from === to) return refuse('DUPLICATE', `the command is already ${from}`);
      if (isFinalStatus(from)) {
        if (to === 'ACCEPTED') return refuse('STALE', `an ACCEPTED ack after the final status ${from} changes nothing`);
        return illegal(`an ack (${to}) contradicting the final status`);
      }
      // PENDING, SENT or ACCEPTED, and a different status: always forward.
      const extra: Partial<CommandLifecycle> = {};
      if (event.result !== undefined) extra.result = event.result;
      if (event.error !== undefined) extra.error = event.error;
      const implied: StateTimes = from === 'PENDING' ? { SENT: at } : {};
      return move(to, extra, implied);
    }

    case 'expire': {
      if (from === 'EXPIRED') return refuse('DUPLICATE', 'the command already expired');
      if (from !== 'PENDING') return illegal(`expiring a command (only undelivered commands expire; delivered ones time out)`);
      const due = expiryAt(command);
      if (due === null) return refuse('NOT_DUE', 'the command has no expiry time');
      if (event.now < due) return refuse('NOT_DUE', `the command expires at ${due}, after ${event.now}`);
      return move('EXPIRED');
    }

    case 'cancel':
      if (from === 'CANCELED') return refuse('DUPLICATE', 'the command is already canceled');
      if (from !== 'PENDING') return illegal(`canceling (only commands not yet delivered can be canceled)`);
      return move('CANCELED', { canceledBy: event.actor });

    case 'timeout': {
      if (from === 'TIMED_OUT') return refuse('DUPLICATE', 'the command already timed out');
      if (from !== 'SENT' && from !== 'ACCEPTED') return illegal(`timing out (only SENT or ACCEPTED commands time out)`);
      const due = timeoutAt(command);
      if (due === null) return refuse('NOT_DUE', 'the command has no timeout');
      if (event.now < due) return refuse('NOT_DUE', `the command times out at ${due}, after ${event.now}`);
      return move('TIMED_OUT');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A usable epoch-ms value (also used for durations). */
function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function latestTime(times: unknown): number {
  let latest = 0;
  if (!isRecord(times)) return latest;
  for (const s of COMMAND_STATUSES) {
    const t = times[s];
    if (isTime(t) && t > latest) latest = t;
  }
  return latest;
}

function eventProblem(event: unknown): string | undefined {
  if (!isRecord(event)) return `the event is ${describe(event)}, not an object`;
  switch (event.type) {
    case 'published':
      return undefined;
    case 'deviceAck':
      return isAckStatus(event.status) ? undefined : `ack status ${describe(event.status)} is not one of ${ACK_STATUSES.join(', ')}`;
    case 'expire':
    case 'timeout':
      return isTime(event.now) ? undefined : `${event.type} needs a finite, non-negative epoch-ms 'now' (got ${describe(event.now)})`;
    case 'cancel':
      return typeof event.actor === 'string' ? undefined : `cancel needs an actor string (got ${describe(event.actor)})`;
    default:
      return `unknown event type ${describe(event.type)}`;
  }
}

/** For messages: short, and safe for anything (objects without a prototype cannot be turned into strings). */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 32)}…` : value);
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}
