import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addMembers, applyRecord, emptyCounts, fleetProgress, fromCounts, sameProgress, type FleetProgress } from '../../../src/domain/commands/fleet.ts';
import {
  ACK_STATUSES,
  commandEvents,
  createCommand,
  isFinalStatus,
  transition,
  type CommandEvent,
  type CommandLifecycle,
} from '../../../src/domain/commands/state-machine.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);

describe('fleet progress', () => {
  it('counts every state, done and finished', () => {
    const p = fleetProgress(['PENDING', 'SENT', 'SUCCEEDED', 'SUCCEEDED', 'TIMED_OUT']);
    expect(p).toEqual({
      counts: { ...emptyCounts(), PENDING: 1, SENT: 1, SUCCEEDED: 2, TIMED_OUT: 1 },
      total: 5,
      done: 3,
      finished: false,
    });
    expect(fleetProgress(['FAILED', 'CANCELED']).finished).toBe(true);
  });

  it('an empty fleet is finished', () => {
    expect(fleetProgress([])).toEqual({ counts: emptyCounts(), total: 0, done: 0, finished: true });
  });

  it('fromCounts reads a GROUP BY result and ignores nonsense', () => {
    expect(fromCounts({ SENT: 2, FAILED: 1 })).toEqual(fleetProgress(['SENT', 'SENT', 'FAILED']));
    expect(fromCounts({ SENT: -1, FAILED: 1.5, PENDING: Number.NaN } as never)).toEqual(fleetProgress([]));
  });

  it('addMembers adds PENDING members (or another state)', () => {
    const p = addMembers(addMembers(fleetProgress([]), 3), 1, 'CANCELED');
    expect(p).toEqual(fleetProgress(['PENDING', 'PENDING', 'PENDING', 'CANCELED']));
  });

  it('applyRecord moves one member; a from === to record is a no-op; inconsistent records are refused', () => {
    const p = fleetProgress(['PENDING', 'SENT']);
    expect(applyRecord(p, { from: 'SENT', to: 'SUCCEEDED' })).toEqual({ ok: true, progress: fleetProgress(['PENDING', 'SUCCEEDED']) });
    expect(applyRecord(p, { from: 'SENT', to: 'SENT' })).toEqual({ ok: true, progress: p });
    expect(applyRecord(p, { from: 'ACCEPTED', to: 'FAILED' })).toMatchObject({ ok: false, reason: 'INCONSISTENT', progress: p });
    expect(applyRecord(p, { from: 'NOPE', to: 'FAILED' } as never)).toMatchObject({ ok: false, reason: 'INVALID_RECORD', progress: p });
  });
});

const eventArb: fc.Arbitrary<CommandEvent> = fc.oneof(
  { arbitrary: fc.constant(commandEvents.published()), weight: 3 },
  { arbitrary: fc.constantFrom(...ACK_STATUSES).map((s) => commandEvents.deviceAck(s)), weight: 3 },
  fc.integer({ min: 0, max: 300 }).map(commandEvents.expire),
  fc.constant(commandEvents.cancel('token:t')),
  fc.integer({ min: 0, max: 300 }).map(commandEvents.timeout),
);

describe('fleet progress: properties', () => {
  it('incremental (records applied one by one) equals from scratch, after every step', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.array(fc.tuple(fc.nat(), eventArb, fc.integer({ min: 0, max: 300 })), { maxLength: 40 }),
        (size, steps) => {
          const members: CommandLifecycle[] = Array.from({ length: size }, (_, i) => createCommand({ createdAt: i, expiresAt: 100 + i * 10, timeoutMs: 50 }));
          let progress: FleetProgress = addMembers(fleetProgress([]), size);
          expect(sameProgress(progress, fleetProgress(members.map((m) => m.status)))).toBe(true);
          if (size === 0) return;
          for (const [pick, event, now] of steps) {
            const i = pick % size;
            const r = transition(members[i]!, event, now);
            if (!r.ok) continue;
            members[i] = r.command;
            // Redeliveries (changed: false) carry from === to records; applying them must be harmless.
            const applied = applyRecord(progress, r.record);
            expect(applied.ok).toBe(true);
            progress = applied.progress;
            const scratch = fleetProgress(members.map((m) => m.status));
            expect(progress).toEqual(scratch);
            expect(progress.finished).toBe(members.every((m) => isFinalStatus(m.status)));
            expect(progress.done).toBe(members.filter((m) => isFinalStatus(m.status)).length);
          }
        },
      ),
      { numRuns },
    );
  });
});
