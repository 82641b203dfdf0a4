import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareCreation,
  deadlineOf,
  deliveryOrder,
  dueAt,
  dueEvents,
  isExpired,
  isTimedOut,
  nextDeadline,
  type OrderedCommand,
} from '../../../src/domain/commands/deadlines.ts';
import { COMMAND_STATUSES, transition, type CommandStatus, type StateTimes } from '../../../src/domain/commands/state-machine.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);

function cmd(
  id: string,
  status: CommandStatus,
  opts: { createdAt?: number; seq?: number | bigint; expiresAt?: number | null; timeoutMs?: number | null; sentAt?: number } = {},
): OrderedCommand {
  const createdAt = opts.createdAt ?? 0;
  const stateTimes: StateTimes = { PENDING: createdAt };
  if (status !== 'PENDING' && status !== 'EXPIRED' && status !== 'CANCELED') stateTimes.SENT = opts.sentAt ?? createdAt + 10;
  if (status !== 'PENDING' && status !== 'SENT') stateTimes[status] = (opts.sentAt ?? createdAt + 10) + 5;
  const c: OrderedCommand = {
    id,
    status,
    createdAt,
    expiresAt: opts.expiresAt === undefined ? createdAt + 1000 : opts.expiresAt,
    timeoutMs: opts.timeoutMs === undefined ? 100 : opts.timeoutMs,
    stateTimes,
  };
  if (opts.seq !== undefined) c.seq = opts.seq;
  return c;
}

const ids = (cs: OrderedCommand[]) => cs.map((c) => c.id);

describe('deadlines', () => {
  it('deadlineOf: expiry for PENDING, timeout (from SENT) for SENT/ACCEPTED, nothing for final states', () => {
    expect(deadlineOf(cmd('a', 'PENDING', { createdAt: 5 }))).toEqual({ kind: 'expire', at: 1005 });
    expect(deadlineOf(cmd('a', 'SENT', { sentAt: 50 }))).toEqual({ kind: 'timeout', at: 150 });
    expect(deadlineOf(cmd('a', 'ACCEPTED', { sentAt: 50 }))).toEqual({ kind: 'timeout', at: 150 });
    expect(deadlineOf(cmd('a', 'PENDING', { expiresAt: null }))).toBeNull();
    expect(deadlineOf(cmd('a', 'SENT', { timeoutMs: null }))).toBeNull();
    for (const s of ['SUCCEEDED', 'FAILED', 'REJECTED', 'EXPIRED', 'CANCELED', 'TIMED_OUT'] as const) expect(deadlineOf(cmd('a', s))).toBeNull();
  });

  it('isExpired / isTimedOut: inclusive boundaries, only in the states they apply to', () => {
    expect(isExpired(cmd('a', 'PENDING'), 999)).toBe(false);
    expect(isExpired(cmd('a', 'PENDING'), 1000)).toBe(true);
    expect(isExpired(cmd('a', 'SENT'), 1e9)).toBe(false); // delivered commands never expire
    expect(isTimedOut(cmd('a', 'SENT'), 109)).toBe(false);
    expect(isTimedOut(cmd('a', 'SENT'), 110)).toBe(true);
    expect(isTimedOut(cmd('a', 'PENDING'), 1e9)).toBe(false);
    expect(isTimedOut(cmd('a', 'SUCCEEDED'), 1e9)).toBe(false);
  });

  it('dueAt: expired PENDING and timed-out SENT/ACCEPTED, each in creation order', () => {
    const commands = [
      cmd('p-late', 'PENDING', { createdAt: 30, expiresAt: 100 }),
      cmd('p-early', 'PENDING', { createdAt: 10, expiresAt: 100 }),
      cmd('p-fresh', 'PENDING', { createdAt: 0, expiresAt: 101 }),
      cmd('s', 'SENT', { createdAt: 20, sentAt: 0 }),
      cmd('a', 'ACCEPTED', { createdAt: 5, sentAt: 0 }),
      cmd('s-fresh', 'SENT', { createdAt: 1, sentAt: 1 }),
      cmd('done', 'SUCCEEDED', { createdAt: 0, sentAt: 0 }),
      cmd('x', 'EXPIRED', { createdAt: 0, expiresAt: 0 }),
    ];
    const due = dueAt(commands, 100);
    expect(ids(due.expired)).toEqual(['p-early', 'p-late']);
    expect(ids(due.timedOut)).toEqual(['a', 's']);
    expect(dueEvents(commands, 100).map(({ command, event }) => [command.id, event])).toEqual([
      ['a', { type: 'timeout', now: 100 }],
      ['p-early', { type: 'expire', now: 100 }],
      ['s', { type: 'timeout', now: 100 }],
      ['p-late', { type: 'expire', now: 100 }],
    ]);
  });

  it('deliveryOrder: PENDING in creation order (createdAt, then seq, then id), expired ones skipped', () => {
    const commands = [
      cmd('b', 'PENDING', { createdAt: 10 }),
      cmd('a', 'PENDING', { createdAt: 10 }),
      cmd('z', 'PENDING', { createdAt: 10, seq: 1n }),
      cmd('y', 'PENDING', { createdAt: 10, seq: 2 }),
      cmd('first', 'PENDING', { createdAt: 1 }),
      cmd('old', 'PENDING', { createdAt: 0, expiresAt: 500 }),
      cmd('sent', 'SENT', { createdAt: 2, sentAt: 400 }),
      cmd('acc', 'ACCEPTED', { createdAt: 3, sentAt: 400 }),
      cmd('gone', 'CANCELED', { createdAt: 4 }),
    ];
    expect(ids(deliveryOrder(commands, 500))).toEqual(['first', 'a', 'b', 'z', 'y']);
    expect(ids(deliveryOrder(commands, 499))).toEqual(['old', 'first', 'a', 'b', 'z', 'y']);
    expect(ids(deliveryOrder(commands, 499, { includeSent: true }))).toEqual(['old', 'first', 'sent', 'a', 'b', 'z', 'y']);
    // A SENT command past its timeout is not redelivered: it is due to time out.
    expect(ids(deliveryOrder(commands, 500, { includeSent: true }))).toEqual(['first', 'a', 'b', 'z', 'y']);
  });

  it('nextDeadline: the earliest pending deadline', () => {
    expect(nextDeadline([])).toBeNull();
    expect(nextDeadline([cmd('a', 'SUCCEEDED'), cmd('b', 'PENDING', { expiresAt: null })])).toBeNull();
    expect(nextDeadline([cmd('a', 'PENDING', { expiresAt: 700 }), cmd('b', 'SENT', { sentAt: 550 }), cmd('c', 'FAILED')])).toBe(650);
  });
});

// Small values so that deadlines, ties in createdAt and statuses collide often.
const commandArb: fc.Arbitrary<OrderedCommand> = fc
  .record({
    id: fc.constantFrom('a', 'b', 'c', 'd'),
    status: fc.constantFrom(...COMMAND_STATUSES),
    createdAt: fc.integer({ min: 0, max: 20 }),
    seq: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    expiresAt: fc.option(fc.integer({ min: 0, max: 40 }), { nil: null }),
    timeoutMs: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null }),
    sentAfter: fc.integer({ min: 0, max: 10 }),
  })
  .map(({ sentAfter, seq, ...c }) => {
    const stateTimes: StateTimes = { PENDING: c.createdAt };
    if (!['PENDING', 'EXPIRED', 'CANCELED'].includes(c.status)) stateTimes.SENT = c.createdAt + sentAfter;
    return seq === undefined ? { ...c, stateTimes } : { ...c, seq, stateTimes };
  });

describe('deadlines: properties', () => {
  it('what is due is exactly what transition accepts as due; nothing delivered is expired', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 12 }), fc.integer({ min: 0, max: 60 }), (commands, now) => {
        const due = dueEvents(commands, now);
        for (const { command, event } of due) {
          const r = transition(command, event, now);
          expect(r.ok && r.changed).toBe(true);
        }
        // Everything else refuses its deadline event: the sweeper and the machine agree.
        const dueSet = new Set(due.map((d) => d.command));
        for (const c of commands) {
          if (dueSet.has(c)) continue;
          for (const event of [{ type: 'expire', now } as const, { type: 'timeout', now } as const]) expect(transition(c, event, now).ok).toBe(false);
        }
        const delivered = deliveryOrder(commands, now, { includeSent: true });
        for (const c of delivered) expect(isExpired(c, now) || isTimedOut(c, now)).toBe(false);
        for (let i = 1; i < delivered.length; i++) expect(compareCreation(delivered[i - 1]!, delivered[i]!)).toBeLessThanOrEqual(0);
        const next = nextDeadline(commands);
        if (next !== null && now < next) expect(due).toEqual([]);
      }),
      { numRuns },
    );
  });
});
