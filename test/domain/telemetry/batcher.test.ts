import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TelemetryBatcher, type BatcherOptions } from '../../../src/domain/telemetry/batcher.ts';
import type { TelemetryPoint } from '../../../src/domain/telemetry/message.ts';

const options: BatcherOptions = { maxBatchPoints: 4, maxBatchAgeMs: 100, maxPending: 10 };

function pts(n: number, metric = 'm', ts0 = 0): TelemetryPoint[] {
  return Array.from({ length: n }, (_, i) => ({ metric, ts: ts0 + i, value: i, isBool: false }));
}

describe('TelemetryBatcher', () => {
  it('is not due while small and young, due by age at exactly maxBatchAgeMs after the oldest offer', () => {
    const b = new TelemetryBatcher<string>(options);
    expect(b.due(0)).toBe(false);
    expect(b.nextDueAt()).toBeUndefined();
    expect(b.offer('d1', pts(1), 1000, 't1')).toBe('accepted');
    expect(b.offer('d1', pts(1, 'n'), 1050, 't2')).toBe('accepted');
    expect(b.nextDueAt()).toBe(1100);
    expect(b.due(1099)).toBe(false);
    expect(b.due(1100)).toBe(true);
    const batch = b.take()!;
    expect(batch.points.map((p) => p.metric)).toEqual(['m', 'n']);
    expect(batch.tickets).toEqual(['t1', 't2']);
    expect(b.due(5000)).toBe(false);
    expect(b.take()).toBeUndefined();
  });

  it('is due by size once maxBatchPoints are pending, whatever their age', () => {
    const b = new TelemetryBatcher(options);
    b.offer('d1', pts(3), 0);
    expect(b.due(0)).toBe(false);
    b.offer('d2', pts(1), 0);
    expect(b.due(0)).toBe(true);
  });

  it('takes whole offers up to maxBatchPoints, oldest first, and never splits an offer', () => {
    const b = new TelemetryBatcher<number>(options);
    b.offer('a', pts(2), 0, 1);
    b.offer('b', pts(1), 1, 2);
    b.offer('c', pts(2), 2, 3); // would make 5 > 4: next batch
    b.offer('d', pts(1), 3, 4);
    const first = b.take()!;
    expect(first.points.map((p) => p.device)).toEqual(['a', 'a', 'b']);
    expect(first.tickets).toEqual([1, 2]);
    expect(first.offered).toBe(3);
    expect(b.nextDueAt()).toBe(102); // now the oldest pending is c's
    const second = b.take()!;
    expect(second.points.map((p) => p.device)).toEqual(['c', 'c', 'd']);
    expect(second.tickets).toEqual([3, 4]);
    expect(second.id).toBeGreaterThan(first.id);
  });

  it('an offer larger than maxBatchPoints makes a batch of its own', () => {
    const b = new TelemetryBatcher(options);
    b.offer('a', pts(1), 0);
    b.offer('b', pts(6), 0);
    expect(b.take()!.offered).toBe(1);
    expect(b.take()!.offered).toBe(6);
  });

  it('dedups on (device, metric, ts) within a batch, keeping the value offered last at the first position', () => {
    const b = new TelemetryBatcher<string>({ ...options, maxBatchPoints: 10 });
    b.offer(
      'd1',
      [
        { metric: 'm', ts: 1, value: 1, isBool: false, seq: 1 },
        { metric: 'n', ts: 1, value: 1, isBool: false },
      ],
      0,
      'x',
    );
    b.offer('d2', [{ metric: 'm', ts: 1, value: 7, isBool: false }], 0, 'y'); // another device: kept
    b.offer('d1', [{ metric: 'm', ts: 1, value: 2, isBool: true }], 0, 'z'); // replay with a new value: wins
    const batch = b.take()!;
    expect(batch.points).toEqual([
      { device: 'd1', metric: 'm', ts: 1, value: 2, isBool: true },
      { device: 'd1', metric: 'n', ts: 1, value: 1, isBool: false },
      { device: 'd2', metric: 'm', ts: 1, value: 7, isBool: false },
    ]);
    // Every submitter is still told, including the one whose point was superseded.
    expect(batch.tickets).toEqual(['x', 'y', 'z']);
    expect(batch.offered).toBe(4);
  });

  it("keeps each point's seq", () => {
    const b = new TelemetryBatcher(options);
    b.offer('d', [{ metric: 'm', ts: 1, value: 1, isBool: false, seq: 9 }], 0);
    expect(b.take()!.points[0]).toEqual({ device: 'd', metric: 'm', ts: 1, value: 1, isBool: false, seq: 9 });
  });

  it('answers full, adding nothing, when pending + in flight would pass maxPending; release makes room', () => {
    const b = new TelemetryBatcher<string>(options);
    expect(b.offer('a', pts(4), 0, 'a')).toBe('accepted');
    expect(b.offer('b', pts(4), 0, 'b')).toBe('accepted');
    expect(b.offer('c', pts(3), 0, 'c')).toBe('full'); // 8 + 3 > 10
    expect(b.offer('c', pts(2), 0, 'c')).toBe('accepted'); // exactly 10
    expect(b.offer('e', [], 0, 'e')).toBe('accepted'); // no points take no room
    expect(b.offer('f', pts(1), 0, 'f')).toBe('full');
    expect(b.pendingPoints).toBe(10);

    const batch = b.take()!;
    expect(b.pendingPoints).toBe(6);
    expect(b.inFlightPoints).toBe(4);
    // Taken but not stored yet: the room is still held.
    expect(b.offer('f', pts(1), 0, 'f')).toBe('full');
    b.release(batch);
    expect(b.inFlightPoints).toBe(0);
    expect(b.offer('f', pts(1), 0, 'f')).toBe('accepted');
  });

  it('carries tickets of offers with no points and makes them due by age', () => {
    const b = new TelemetryBatcher<string>(options);
    b.offer('d', [], 10, 'empty');
    expect(b.due(109)).toBe(false);
    expect(b.due(110)).toBe(true);
    expect(b.take()).toMatchObject({ points: [], tickets: ['empty'], offered: 0 });
  });

  it('refuses an offer that could never fit, and a release of an unknown or released batch', () => {
    const b = new TelemetryBatcher(options);
    expect(() => b.offer('d', pts(11), 0)).toThrow(RangeError);
    b.offer('d', pts(1), 0);
    const batch = b.take()!;
    b.release(batch);
    expect(() => b.release(batch)).toThrow(/not in flight/);
    const other = new TelemetryBatcher(options);
    other.offer('d', pts(1), 0);
    expect(() => b.release(other.take()!)).toThrow(/not in flight/);
  });

  it('validates its options', () => {
    expect(() => new TelemetryBatcher({ ...options, maxBatchPoints: 0 })).toThrow(RangeError);
    expect(() => new TelemetryBatcher({ ...options, maxBatchAgeMs: -1 })).toThrow(RangeError);
    expect(() => new TelemetryBatcher({ ...options, maxPending: 3 })).toThrow(RangeError);
    expect(() => new TelemetryBatcher({ ...options, maxPending: 1.5 })).toThrow(RangeError);
    expect(() => new TelemetryBatcher({ ...options, maxBatchAgeMs: 0 })).not.toThrow();
  });

  it('a batch does not change when the caller reuses its array', () => {
    const b = new TelemetryBatcher(options);
    const mine = pts(2);
    b.offer('d', mine, 0);
    mine.length = 0;
    expect(b.take()!.points).toHaveLength(2);
  });

  it('property: never holds more than maxPending, loses no offer, tickets come out once and in order', () => {
    type Op = { kind: 'offer'; n: number; device: string } | { kind: 'take' } | { kind: 'release' } | { kind: 'tick'; ms: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('offer' as const), n: fc.integer({ min: 0, max: 6 }), device: fc.constantFrom('a', 'b') }),
      fc.constant({ kind: 'take' as const }),
      fc.constant({ kind: 'release' as const }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 150 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 6 }), (ops, maxBatchPoints, extra) => {
        const opts = { maxBatchPoints, maxBatchAgeMs: 100, maxPending: Math.max(6, maxBatchPoints) + extra };
        const b = new TelemetryBatcher<number>(opts);
        let now = 0;
        let ticket = 0;
        const accepted: number[] = [];
        const sizes = new Map<number, number>();
        const out: number[] = [];
        const inFlight: ReturnType<typeof b.take>[] = [];
        let tsCounter = 0;
        for (const o of ops) {
          if (o.kind === 'offer') {
            const before = b.pendingPoints;
            const overflows = b.pendingPoints + b.inFlightPoints + o.n > opts.maxPending;
            const t = ticket++;
            // Distinct timestamps, so dedup never hides a point and counts can be checked exactly.
            const r = b.offer(o.device, pts(o.n, 'm', (tsCounter += 10)), now, t);
            expect(r).toBe(overflows ? 'full' : 'accepted');
            sizes.set(t, o.n);
            if (r === 'accepted') accepted.push(t);
            else expect(b.pendingPoints).toBe(before);
          } else if (o.kind === 'take') {
            const wasDue = b.due(now);
            const batch = b.take();
            if (batch) {
              inFlight.push(batch);
              out.push(...batch.tickets);
              expect(batch.points.length).toBe(batch.offered);
              // Either within the size, or a single oversize offer (plus empty ones, which are free).
              if (batch.offered > maxBatchPoints) expect(batch.tickets.filter((t) => sizes.get(t)! > 0)).toHaveLength(1);
            } else expect(wasDue).toBe(false);
          } else if (o.kind === 'release') {
            const batch = inFlight.shift();
            if (batch) b.release(batch);
          } else now += o.ms;
          expect(b.pendingPoints + b.inFlightPoints).toBeLessThanOrEqual(opts.maxPending);
        }
        for (let batch = b.take(); batch; batch = b.take()) out.push(...batch.tickets);
        expect(out).toEqual(accepted);
        expect(b.pendingPoints).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
