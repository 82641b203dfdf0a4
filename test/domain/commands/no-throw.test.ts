/**
 * Nothing in the command domain throws, whatever it is given: a corrupt row or a malformed event is a
 * refusal or a skipped element, never a crash at the edge.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import * as deadlines from '../../../src/domain/commands/deadlines.ts';
import * as fleet from '../../../src/domain/commands/fleet.ts';
import * as sm from '../../../src/domain/commands/state-machine.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);

// Fields with the right names but any values, so the functions get past "not an object" checks.
const anyValue = fc.oneof(
  fc.anything(),
  fc.constantFrom(...sm.COMMAND_STATUSES, ...sm.ACK_STATUSES, ...sm.COMMAND_EVENT_TYPES, Number.NaN, Infinity, -Infinity, -1, 0, 1e300, 10n),
);
const nearlyCommand = fc.record(
  {
    id: anyValue,
    seq: anyValue,
    status: fc.oneof(fc.constantFrom(...sm.COMMAND_STATUSES), anyValue),
    createdAt: anyValue,
    expiresAt: anyValue,
    timeoutMs: anyValue,
    stateTimes: fc.oneof(fc.dictionary(fc.constantFrom(...sm.COMMAND_STATUSES), anyValue), anyValue),
  },
  { requiredKeys: [] },
);
const nearlyEvent = fc.record(
  { type: fc.oneof(fc.constantFrom(...sm.COMMAND_EVENT_TYPES), anyValue), status: anyValue, now: anyValue, actor: anyValue, result: anyValue, error: anyValue },
  { requiredKeys: [] },
);
const command = fc.oneof(nearlyCommand, fc.anything());
const event = fc.oneof(nearlyEvent, fc.anything());
const commands = fc.oneof(fc.array(command, { maxLength: 6 }), fc.anything());
const counts = fc.oneof(fc.dictionary(fc.constantFrom(...sm.COMMAND_STATUSES), anyValue), fc.anything());
const progress = fc.oneof(fc.record({ counts, total: anyValue, done: anyValue, finished: anyValue }, { requiredKeys: [] }), fc.anything());
const record = fc.oneof(fc.record({ from: anyValue, to: anyValue }, { requiredKeys: [] }), fc.anything());

/** Calls `f` with loosely typed arguments: the point is to pass what the types forbid. */
const call = (f: (...args: never[]) => unknown, ...args: unknown[]): unknown => (f as (...a: unknown[]) => unknown)(...args);

describe('no function throws on any input', () => {
  it('state machine', () => {
    fc.assert(
      fc.property(command, event, anyValue, (c, e, now) => {
        call(sm.transition, c, e, now);
        call(sm.sentAt, c);
        call(sm.timeoutAt, c);
        call(sm.expiryAt, c);
        call(sm.isCommandStatus, c);
        call(sm.isFinalStatus, c);
        call(sm.isAckStatus, c);
      }),
      { numRuns },
    );
  });

  it('deadlines', () => {
    fc.assert(
      fc.property(commands, command, command, anyValue, anyValue, (cs, a, b, now, options) => {
        call(deadlines.deadlineOf, a);
        call(deadlines.isExpired, a, now);
        call(deadlines.isTimedOut, a, now);
        call(deadlines.compareCreation, a, b);
        call(deadlines.dueAt, cs, now);
        call(deadlines.dueEvents, cs, now);
        call(deadlines.deliveryOrder, cs, now, options);
        call(deadlines.deliveryOrder, cs, now);
        call(deadlines.nextDeadline, cs);
      }),
      { numRuns },
    );
  });

  it('fleet', () => {
    fc.assert(
      fc.property(progress, progress, record, counts, anyValue, anyValue, fc.oneof(fc.array(anyValue), anyValue), (p, q, r, c, n, s, statuses) => {
        call(fleet.fleetProgress, statuses);
        call(fleet.fromCounts, c);
        call(fleet.addMembers, p, n, s);
        call(fleet.addMembers, p, n);
        call(fleet.applyRecord, p, r);
        call(fleet.sameProgress, p, q);
      }),
      { numRuns },
    );
  });
});
