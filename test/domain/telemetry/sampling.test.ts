import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkSampleInterval,
  MAX_SAMPLE_INTERVAL_MS,
  MIN_SAMPLE_INTERVAL_MS,
  TelemetrySampler,
  type SampledEvent,
} from '../../../src/domain/telemetry/sampling.ts';

type Ev = SampledEvent & { tenantId: string };

function ev(deviceId: string, at: number, ...points: Array<[metric: string, ts: number, value: number]>): Ev {
  return { deviceId, tenantId: 't', at, points: points.map(([metric, ts, value]) => ({ metric, ts, value, isBool: false })) };
}

/** Everything due at `now`. */
function drain(s: TelemetrySampler<Ev>, now: number): Ev[] {
  const out: Ev[] = [];
  for (let e = s.take(now); e; e = s.take(now)) out.push(e);
  return out;
}

const values = (e: Ev) => e.points.map((p) => [p.metric, p.ts, p.value]);

describe('checkSampleInterval', () => {
  it('accepts null (no sampling) and integers within the bounds, refuses the rest with a clear message', () => {
    expect(checkSampleInterval(null)).toBeNull();
    expect(checkSampleInterval(undefined)).toBeNull();
    expect(checkSampleInterval(MIN_SAMPLE_INTERVAL_MS)).toBeNull();
    expect(checkSampleInterval(MAX_SAMPLE_INTERVAL_MS)).toBeNull();
    for (const bad of [0, -1, MIN_SAMPLE_INTERVAL_MS - 1, MAX_SAMPLE_INTERVAL_MS + 1, 12.5, Number.NaN]) {
      expect(checkSampleInterval(bad)).toMatch(/sampleIntervalMs must be an integer between 10 and 3600000/);
    }
    expect(() => new TelemetrySampler(0)).toThrow(RangeError);
  });
});

describe('TelemetrySampler', () => {
  it('sends the first event of an idle device at once (leading edge)', () => {
    const s = new TelemetrySampler<Ev>(100);
    expect(s.nextDueAt()).toBeUndefined();
    s.offer(ev('d1', 5, ['temp', 1, 20]), 1000);
    expect(s.nextDueAt()).toBe(-Infinity);
    const [e] = drain(s, 1000);
    expect(values(e!)).toEqual([['temp', 1, 20]]);
    expect(e!.tenantId).toBe('t');
    expect(s.nextDueAt()).toBeUndefined();
  });

  it('sends at most one event per device per interval, with the newest value of each metric, and the trailing value when the interval ends', () => {
    const s = new TelemetrySampler<Ev>(100);
    s.offer(ev('d1', 1, ['temp', 1, 20]), 1000);
    expect(drain(s, 1000)).toHaveLength(1);
    s.offer(ev('d1', 2, ['temp', 2, 21], ['hum', 2, 50]), 1010);
    s.offer(ev('d1', 3, ['temp', 3, 22]), 1020);
    s.offer(ev('d1', 4, ['temp', 4, 23]), 1090);
    expect(drain(s, 1099)).toEqual([]);
    expect(s.nextDueAt()).toBe(1100);
    const [e, more] = drain(s, 1100);
    expect(more).toBeUndefined();
    expect(values(e!)).toEqual([
      ['hum', 2, 50],
      ['temp', 4, 23],
    ]);
    expect(e!.at).toBe(4);
    // Nothing new: nothing more, however long we wait.
    expect(drain(s, 5000)).toEqual([]);
    expect(s.nextDueAt()).toBeUndefined();
  });

  it('keeps devices independent', () => {
    const s = new TelemetrySampler<Ev>(100);
    s.offer(ev('d1', 1, ['temp', 1, 1]), 1000);
    s.offer(ev('d2', 1, ['temp', 1, 2]), 1000);
    expect(drain(s, 1000).map((e) => e.deviceId)).toEqual(['d1', 'd2']);
    s.offer(ev('d1', 2, ['temp', 2, 3]), 1050);
    s.offer(ev('d3', 2, ['temp', 2, 4]), 1050);
    expect(drain(s, 1050).map((e) => e.deviceId)).toEqual(['d3']);
    expect(drain(s, 1100).map((e) => e.deviceId)).toEqual(['d1']);
    expect(s.deviceCount).toBe(3);
  });

  it('never sends a value older than one already sent (late catch-up data), and keeps the newest ts within an interval', () => {
    const s = new TelemetrySampler<Ev>(100);
    s.offer(ev('d1', 1, ['temp', 50, 5]), 1000);
    drain(s, 1000);
    s.offer(ev('d1', 2, ['temp', 40, 4], ['temp', 50, 99]), 1010); // older, and equal ts: both already superseded
    expect(s.nextDueAt()).toBeUndefined();
    s.offer(ev('d1', 3, ['temp', 70, 7]), 1020);
    s.offer(ev('d1', 4, ['temp', 60, 6]), 1030); // arrives later but measured earlier than the pending 70
    const [e] = drain(s, 1100);
    expect(values(e!)).toEqual([['temp', 70, 7]]);
  });

  it('lets a client that reads late get one fresh event per device, not a backlog', () => {
    const s = new TelemetrySampler<Ev>(10);
    for (let i = 0; i < 1000; i++) s.offer(ev('d1', i, ['temp', i, i]), 1000 + i);
    const out = drain(s, 3000);
    expect(out).toHaveLength(1);
    expect(values(out[0]!)).toEqual([['temp', 999, 999]]);
  });

  it('property: every subscriber ends on the newest value of every metric, sees each metric move forward only, and gets at most one event per device per interval', () => {
    const interval = 50;
    const arbEvent = fc.record({
      device: fc.constantFrom('a', 'b', 'c'),
      dt: fc.integer({ min: 0, max: 80 }),
      points: fc.array(fc.record({ metric: fc.constantFrom('x', 'y'), ts: fc.integer({ min: 0, max: 100 }), value: fc.integer() }), {
        minLength: 1,
        maxLength: 4,
      }),
      read: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(arbEvent, { maxLength: 60 }), (script) => {
        const s = new TelemetrySampler<Ev>(interval);
        let now = 0;
        const delivered: Array<{ now: number; e: Ev }> = [];
        // Reference: the newest (ts, last stored) point per device and metric.
        const newest = new Map<string, { ts: number; value: number }>();
        // The store keeps (device, metric, ts) once, and events carry only what it newly stored.
        const stored = new Set<string>();
        script.forEach((step, i) => {
          now += step.dt;
          const fresh = step.points.filter((p) => {
            const key = `${step.device}/${p.metric}/${p.ts}`;
            if (stored.has(key)) return false;
            stored.add(key);
            return true;
          });
          if (fresh.length === 0) return;
          const e = ev(step.device, i, ...fresh.map((p) => [p.metric, p.ts, p.value] as [string, number, number]));
          for (const p of e.points) {
            const key = `${e.deviceId}/${p.metric}`;
            const cur = newest.get(key);
            if (!cur || p.ts > cur.ts) newest.set(key, { ts: p.ts, value: p.value });
          }
          s.offer(e, now);
          if (step.read) for (const out of drain(s, now)) delivered.push({ now, e: out });
        });
        // The edge's timer: wake at nextDueAt until nothing is pending.
        for (let due = s.nextDueAt(); due !== undefined; due = s.nextDueAt()) {
          now = Math.max(now, due);
          for (const out of drain(s, now)) delivered.push({ now, e: out });
        }
        const shown = new Map<string, { ts: number; value: number }>();
        const lastSent = new Map<string, number>();
        for (const { now: t, e } of delivered) {
          const prev = lastSent.get(e.deviceId);
          if (prev !== undefined && t - prev < interval) return false;
          lastSent.set(e.deviceId, t);
          for (const p of e.points) {
            const key = `${e.deviceId}/${p.metric}`;
            const before = shown.get(key);
            if (before && p.ts <= before.ts) return false;
            shown.set(key, { ts: p.ts, value: p.value });
          }
        }
        expect(shown).toEqual(newest);
        return true;
      }),
    );
  });
});
