import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACK_STATUSES,
  COMMAND_EVENT_TYPES,
  COMMAND_STATUSES,
  commandEvents,
  createCommand,
  isFinalStatus,
  transition,
  type CommandEvent,
  type CommandLifecycle,
  type CommandStatus,
  type StateTimes,
  type TransitionReason,
} from '../../../src/domain/commands/state-machine.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);

// One timeline for every fixture: created at 1000, sent at 1100, accepted at 1200, final at 1300.
// Expires at 5000; times out 2000 ms after SENT, i.e. at 3100.
const CREATED = 1000;
const EXPIRES = 5000;
const TIMEOUT_MS = 2000;
const TIMES_OUT = 1100 + TIMEOUT_MS;
const NOW = 1500; // the transition time for events that carry no clock
const DUE = 10_000; // past every deadline
const NOT_DUE = 1400; // before every deadline

/** A command that reached `status` along its usual path, with the times it went through. */
function commandIn(status: CommandStatus): CommandLifecycle & { id: string; name: string } {
  const path: Record<CommandStatus, CommandStatus[]> = {
    PENDING: [],
    SENT: ['SENT'],
    ACCEPTED: ['SENT', 'ACCEPTED'],
    SUCCEEDED: ['SENT', 'ACCEPTED', 'SUCCEEDED'],
    FAILED: ['SENT', 'ACCEPTED', 'FAILED'],
    REJECTED: ['SENT', 'REJECTED'],
    EXPIRED: ['EXPIRED'],
    CANCELED: ['CANCELED'],
    TIMED_OUT: ['SENT', 'TIMED_OUT'],
  };
  const stateTimes: StateTimes = { PENDING: CREATED };
  path[status].forEach((s, i) => (stateTimes[s] = CREATED + 100 * (i + 1)));
  return { id: 'c1', name: 'reboot', status, createdAt: CREATED, expiresAt: EXPIRES, timeoutMs: TIMEOUT_MS, stateTimes };
}

/** Recursively freezes, so any mutation of an input fails the test loudly. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// The full matrix
// ---------------------------------------------------------------------------------------------

/** Every event variant that can behave differently: each ack status, and deadlines due or not. */
const EVENT_VARIANTS: Record<string, { event: CommandEvent; now: number }> = Object.fromEntries(
  COMMAND_EVENT_TYPES.flatMap((type): Array<[string, { event: CommandEvent; now: number }]> => {
    switch (type) {
      case 'published':
        return [['published', { event: commandEvents.published(), now: NOW }]];
      case 'deviceAck':
        return ACK_STATUSES.map((s) => [`ack:${s}`, { event: commandEvents.deviceAck(s, { ok: s }), now: NOW }]);
      case 'expire':
      case 'timeout':
        return [
          [`${type}:due`, { event: { type, now: DUE }, now: DUE }],
          [`${type}:notDue`, { event: { type, now: NOT_DUE }, now: NOT_DUE }],
        ];
      case 'cancel':
        return [['cancel', { event: commandEvents.cancel('token:alice'), now: NOW }]];
    }
  }),
);

type Outcome = { to: CommandStatus } | { same: true } | { refused: TransitionReason };
const to = (s: CommandStatus): Outcome => ({ to: s });
const same: Outcome = { same: true };
const no = (reason: TransitionReason): Outcome => ({ refused: reason });
const ILLEGAL = no('ILLEGAL_TRANSITION');

/** The transition table of record (docs/commands.md describes the same): state → event variant → outcome. */
const TABLE: Record<CommandStatus, Record<string, Outcome>> = {
  PENDING: {
    published: to('SENT'),
    'ack:ACCEPTED': to('ACCEPTED'),
    'ack:SUCCEEDED': to('SUCCEEDED'),
    'ack:FAILED': to('FAILED'),
    'ack:REJECTED': to('REJECTED'),
    'expire:due': to('EXPIRED'),
    'expire:notDue': no('NOT_DUE'),
    cancel: to('CANCELED'),
    'timeout:due': ILLEGAL,
    'timeout:notDue': ILLEGAL,
  },
  SENT: {
    published: same,
    'ack:ACCEPTED': to('ACCEPTED'),
    'ack:SUCCEEDED': to('SUCCEEDED'),
    'ack:FAILED': to('FAILED'),
    'ack:REJECTED': to('REJECTED'),
    'expire:due': ILLEGAL,
    'expire:notDue': ILLEGAL,
    cancel: ILLEGAL,
    'timeout:due': to('TIMED_OUT'),
    'timeout:notDue': no('NOT_DUE'),
  },
  ACCEPTED: {
    published: no('STALE'),
    'ack:ACCEPTED': no('DUPLICATE'),
    'ack:SUCCEEDED': to('SUCCEEDED'),
    'ack:FAILED': to('FAILED'),
    'ack:REJECTED': to('REJECTED'),
    'expire:due': ILLEGAL,
    'expire:notDue': ILLEGAL,
    cancel: ILLEGAL,
    'timeout:due': to('TIMED_OUT'),
    'timeout:notDue': no('NOT_DUE'),
  },
  SUCCEEDED: finalByAck('SUCCEEDED'),
  FAILED: finalByAck('FAILED'),
  REJECTED: finalByAck('REJECTED'),
  EXPIRED: finalByServer('expire'),
  CANCELED: finalByServer('cancel'),
  TIMED_OUT: finalByServer('timeout'),
};

/** A final state the device reported: its own ack repeats, an ACCEPTED is stale, the rest is illegal. */
function finalByAck(status: 'SUCCEEDED' | 'FAILED' | 'REJECTED'): Record<string, Outcome> {
  const row: Record<string, Outcome> = {
    published: no('STALE'),
    'ack:ACCEPTED': no('STALE'),
    'expire:due': ILLEGAL,
    'expire:notDue': ILLEGAL,
    cancel: ILLEGAL,
    'timeout:due': ILLEGAL,
    'timeout:notDue': ILLEGAL,
  };
  for (const s of ['SUCCEEDED', 'FAILED', 'REJECTED'] as const) row[`ack:${s}`] = s === status ? no('DUPLICATE') : ILLEGAL;
  return row;
}

/** A final state the server decided: only the event that led there repeats (DUPLICATE), everything else is illegal, acks included. */
function finalByServer(by: 'expire' | 'cancel' | 'timeout'): Record<string, Outcome> {
  const row: Record<string, Outcome> = {};
  for (const key of Object.keys(EVENT_VARIANTS)) row[key] = key === by || key.startsWith(`${by}:`) ? no('DUPLICATE') : ILLEGAL;
  return row;
}

describe('transition: every (state, event) pair', () => {
  it('the table covers exactly the product of states and event variants', () => {
    expect(Object.keys(TABLE).sort()).toEqual([...COMMAND_STATUSES].sort());
    for (const status of COMMAND_STATUSES) expect(Object.keys(TABLE[status]).sort()).toEqual(Object.keys(EVENT_VARIANTS).sort());
    expect(Object.keys(EVENT_VARIANTS)).toHaveLength(10);
  });

  const cases = COMMAND_STATUSES.flatMap((status) => Object.keys(EVENT_VARIANTS).map((variant) => ({ status, variant })));
  it.each(cases)('$status + $variant', ({ status, variant }) => {
    const { event, now } = EVENT_VARIANTS[variant]!;
    const expected = TABLE[status][variant]!;
    const before = deepFreeze(commandIn(status));
    const result = transition(before, event, now);

    if ('refused' in expected) {
      expect(result).toMatchObject({ ok: false, reason: expected.refused, from: status, event });
      if (!result.ok) expect(result.message).not.toBe('');
      return;
    }
    if (!result.ok) throw new Error(`refused: ${result.reason} ${result.message}`);
    const at = Math.max(now, ...Object.values(before.stateTimes));
    if ('same' in expected) {
      expect(result.changed).toBe(false);
      expect(result.command).toBe(before);
      expect(result.record).toEqual({ from: status, to: status, at, cause: event.type });
      return;
    }
    expect(result.changed).toBe(true);
    expect(result.command.status).toBe(expected.to);
    expect(result.record).toEqual({ from: status, to: expected.to, at, cause: event.type, ...(event.type === 'cancel' ? { actor: 'token:alice' } : {}) });
    // The reached state is stamped; earlier stamps stay; other fields survive.
    expect(result.command.stateTimes).toMatchObject({ ...before.stateTimes, [expected.to]: at });
    expect(result.command).toMatchObject({ id: 'c1', name: 'reboot', createdAt: CREATED, expiresAt: EXPIRES, timeoutMs: TIMEOUT_MS });
  });
});

// ---------------------------------------------------------------------------------------------
// Details
// ---------------------------------------------------------------------------------------------

describe('transition: details', () => {
  it('createCommand starts PENDING at createdAt and keeps other fields', () => {
    const c = createCommand({ id: 'x', deviceId: 'd', createdAt: 7, expiresAt: null, timeoutMs: null });
    expect(c).toEqual({ id: 'x', deviceId: 'd', createdAt: 7, expiresAt: null, timeoutMs: null, status: 'PENDING', stateTimes: { PENDING: 7 } });
  });

  it('an ack while still PENDING implies delivery: SENT is stamped with the ack time', () => {
    const r = transition(commandIn('PENDING'), commandEvents.deviceAck('SUCCEEDED', 42), 1234);
    expect(r).toMatchObject({ ok: true, command: { status: 'SUCCEEDED', result: 42, stateTimes: { PENDING: CREATED, SENT: 1234, SUCCEEDED: 1234 } } });
  });

  it('SUCCEEDED straight from SENT skips ACCEPTED (no ACCEPTED time)', () => {
    const r = transition(commandIn('SENT'), commandEvents.deviceAck('SUCCEEDED'), 1500);
    expect(r.ok && r.command.stateTimes).toEqual({ PENDING: CREATED, SENT: 1100, SUCCEEDED: 1500 });
  });

  it('stores result and error from the ack; the first final ack wins over a duplicate with another result', () => {
    const failed = transition(commandIn('ACCEPTED'), commandEvents.deviceAck('FAILED', null, { code: 'JAMMED' }), 1500);
    expect(failed).toMatchObject({ ok: true, command: { status: 'FAILED', result: null, error: { code: 'JAMMED' } } });
    if (!failed.ok) return;
    const again = transition(failed.command, commandEvents.deviceAck('FAILED', null, { code: 'OTHER' }), 1600);
    expect(again).toMatchObject({ ok: false, reason: 'DUPLICATE', from: 'FAILED' });
  });

  it('an ack without result or error leaves earlier ones alone', () => {
    const accepted = transition(commandIn('SENT'), commandEvents.deviceAck('ACCEPTED', { progress: 0 }), 1500);
    if (!accepted.ok) throw new Error('refused');
    const done = transition(accepted.command, commandEvents.deviceAck('SUCCEEDED'), 1600);
    expect(done).toMatchObject({ ok: true, command: { status: 'SUCCEEDED', result: { progress: 0 } } });
    expect(done.ok && 'error' in done.command).toBe(false);
  });

  it('cancel records who canceled', () => {
    const r = transition(commandIn('PENDING'), commandEvents.cancel('token:bob'), 1500);
    expect(r).toMatchObject({ ok: true, command: { status: 'CANCELED', canceledBy: 'token:bob' }, record: { actor: 'token:bob', cause: 'cancel' } });
  });

  it('deadline boundaries are inclusive, and the timeout counts from SENT, not ACCEPTED', () => {
    expect(transition(commandIn('PENDING'), commandEvents.expire(EXPIRES - 1), EXPIRES - 1)).toMatchObject({ ok: false, reason: 'NOT_DUE' });
    expect(transition(commandIn('PENDING'), commandEvents.expire(EXPIRES), EXPIRES)).toMatchObject({ ok: true, command: { status: 'EXPIRED' } });
    expect(transition(commandIn('ACCEPTED'), commandEvents.timeout(TIMES_OUT - 1), TIMES_OUT - 1)).toMatchObject({ ok: false, reason: 'NOT_DUE' });
    expect(transition(commandIn('ACCEPTED'), commandEvents.timeout(TIMES_OUT), TIMES_OUT)).toMatchObject({ ok: true, command: { status: 'TIMED_OUT' } });
  });

  it('no TTL never expires, no timeout never times out', () => {
    const pending = { ...commandIn('PENDING'), expiresAt: null };
    expect(transition(pending, commandEvents.expire(1e15), 1e15)).toMatchObject({ ok: false, reason: 'NOT_DUE' });
    const sent = { ...commandIn('SENT'), timeoutMs: null };
    expect(transition(sent, commandEvents.timeout(1e15), 1e15)).toMatchObject({ ok: false, reason: 'NOT_DUE' });
  });

  it('an ack past the timeout deadline still wins while TIMED_OUT is not recorded', () => {
    expect(transition(commandIn('SENT'), commandEvents.deviceAck('SUCCEEDED'), DUE)).toMatchObject({ ok: true, command: { status: 'SUCCEEDED' } });
  });

  it('recorded times never go backwards when clocks disagree', () => {
    const r = transition(commandIn('ACCEPTED'), commandEvents.deviceAck('SUCCEEDED'), 5);
    expect(r).toMatchObject({ ok: true, record: { at: 1200 }, command: { stateTimes: { ACCEPTED: 1200, SUCCEEDED: 1200 } } });
  });

  it('refuses malformed input as INVALID_INPUT', () => {
    const c = commandIn('SENT');
    const cases: Array<[unknown, unknown, unknown, CommandStatus | null]> = [
      [null, commandEvents.published(), 1, null],
      [{ ...c, status: 'LOST' }, commandEvents.published(), 1, null],
      [c, commandEvents.published(), Number.NaN, 'SENT'],
      [c, commandEvents.published(), -1, 'SENT'],
      [c, { type: 'deviceAck', status: 'DONE' }, 1, 'SENT'],
      [c, { type: 'deviceAck', status: 'PENDING' }, 1, 'SENT'],
      [c, { type: 'timeout', now: Infinity }, 1, 'SENT'],
      [c, { type: 'cancel' }, 1, 'SENT'],
      [c, { type: 'explode' }, 1, 'SENT'],
      [c, Object.create(null), 1, 'SENT'],
      [c, 'published', 1, 'SENT'],
    ];
    for (const [command, event, now, from] of cases) {
      const r = transition(command as CommandLifecycle, event as CommandEvent, now as number);
      expect(r).toMatchObject({ ok: false, reason: 'INVALID_INPUT', from });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over event sequences
// ---------------------------------------------------------------------------------------------

const eventArb: fc.Arbitrary<CommandEvent> = fc.oneof(
  fc.constant(commandEvents.published()),
  fc.tuple(fc.constantFrom(...ACK_STATUSES), fc.option(fc.jsonValue(), { nil: undefined })).map(([s, r]) => commandEvents.deviceAck(s, r as never)),
  fc.integer({ min: 0, max: 20_000 }).map(commandEvents.expire),
  fc.constant(commandEvents.cancel('token:t')),
  fc.integer({ min: 0, max: 20_000 }).map(commandEvents.timeout),
);

describe('transition: properties', () => {
  it('along any event sequence: final states stick, times are monotone, records describe the change', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(eventArb, fc.integer({ min: 0, max: 20_000 })), { maxLength: 12 }), (steps) => {
        let c: CommandLifecycle = createCommand({ createdAt: CREATED, expiresAt: EXPIRES, timeoutMs: TIMEOUT_MS });
        for (const [event, now] of steps) {
          const r = transition(c, event, now);
          if (!r.ok) {
            expect(r.reason).not.toBe('INVALID_INPUT');
            continue;
          }
          expect(isFinalStatus(c.status) && r.changed).toBe(false);
          expect(r.record.from).toBe(c.status);
          expect(r.record.to).toBe(r.command.status);
          expect(r.changed).toBe(r.command.status !== c.status);
          if (r.changed) {
            expect(r.command.stateTimes[r.command.status]).toBe(r.record.at);
            for (const t of Object.values(c.stateTimes)) expect(r.record.at).toBeGreaterThanOrEqual(t);
            // Anything past PENDING that is not an undelivered ending has a SENT time.
            if (!['EXPIRED', 'CANCELED'].includes(r.command.status)) expect(r.command.stateTimes.SENT).toBeTypeOf('number');
          }
          c = r.command;
        }
      }),
      { numRuns },
    );
  });
});
