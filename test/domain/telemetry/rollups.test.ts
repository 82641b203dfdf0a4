import { describe, expect, it } from 'vitest';
import { bucketEnd, bucketRange, bucketStart, type BucketInterval } from '../../../src/domain/telemetry/buckets.ts';
import { planSegments, ROLLUP_GRAINS, type RollupGrain, type Segment } from '../../../src/domain/telemetry/rollups.ts';

const ALL = ROLLUP_GRAINS.map((grain) => ({ grain, completeFrom: -Infinity }));

function plan(from: string | number, to: string | number, interval: BucketInterval, timeZone: string, grains = ALL): Segment[] {
  const f = typeof from === 'number' ? from : Date.parse(from);
  const t = typeof to === 'number' ? to : Date.parse(to);
  const starts = bucketRange(f, t, interval, timeZone);
  return planSegments({ from: f, to: t, starts, end: bucketEnd(starts.at(-1)!, interval, timeZone), grains });
}

const grainsOf = (segments: Segment[]) => segments.filter((s) => s.source === 'rollup').map((s) => (s as { grain: RollupGrain }).grain);

/** The invariants every plan keeps: the segments tile [from, to), and no rollup segment crosses a bucket boundary or its grain. */
function checkTiling(segments: Segment[], from: number, to: number, interval: BucketInterval, timeZone: string) {
  expect(segments[0]!.from).toBe(from);
  expect(segments.at(-1)!.to).toBe(to);
  for (let i = 1; i < segments.length; i++) expect(segments[i]!.from).toBe(segments[i - 1]!.to);
  for (const s of segments) {
    expect(s.to).toBeGreaterThan(s.from);
    if (s.source !== 'rollup') continue;
    const g = s.grain * 1000;
    expect(s.from % g).toBe(0);
    expect(s.to % g).toBe(0);
    // Each rollup row [b, b + g) of the segment lies in one bucket.
    for (let b = s.from; b < s.to; b += g) expect(bucketStart(b + g - 1, interval, timeZone)).toBe(bucketStart(b, interval, timeZone));
  }
}

describe('planSegments', () => {
  it('reads hour rollups for hourly buckets in a whole-hour zone, across both DST changes', () => {
    const from = '2024-03-01T00:00:00Z';
    const to = '2024-11-30T00:00:00Z';
    const segments = plan(from, to, 'hour', 'Europe/Berlin');
    expect(segments).toEqual([{ source: 'rollup', grain: 3600, from: Date.parse(from), to: Date.parse(to) }]);
  });

  it('reads 15-minute rollups in :45 and :30 zones (Kathmandu, Chatham, Kolkata), where hour buckets start at :15, :45 or :30 UTC', () => {
    for (const zone of ['Asia/Kathmandu', 'Pacific/Chatham', 'Asia/Kolkata']) {
      const from = Date.parse('2024-01-01T00:00:00Z');
      const to = Date.parse('2024-03-31T00:00:00Z');
      for (const interval of ['hour', 'day', 'week', 'month'] as const) {
        const segments = plan(from, to, interval, zone);
        expect(
          segments.every((s) => s.source === 'rollup'),
          `${zone} ${interval}`,
        ).toBe(true);
        expect(grainsOf(segments)).toContain(900);
        checkTiling(segments, from, to, interval, zone);
      }
    }
  });

  it('reads day rollups for days in UTC, hour rollups for days in whole-hour zones', () => {
    expect(grainsOf(plan('2024-01-01T00:00:00Z', '2024-04-01T00:00:00Z', 'day', 'UTC'))).toEqual([86400]);
    expect(grainsOf(plan('2024-01-01T00:00:00Z', '2024-04-01T00:00:00Z', 'month', 'UTC'))).toEqual([86400]);
    // Berlin: local midnights are 23:00Z or 22:00Z; from/to at 00:00Z cut the first and last day.
    expect(new Set(grainsOf(plan('2024-01-01T00:00:00Z', '2024-04-01T00:00:00Z', 'day', 'Europe/Berlin')))).toEqual(new Set([900, 3600]));
  });

  it('reads raw rows only for the sub-15-minute ends of an unaligned range ("the last 90 days")', () => {
    const from = Date.parse('2024-02-01T10:07:31.250Z');
    const to = from + 90 * 86_400_000;
    for (const zone of ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu']) {
      const segments = plan(from, to, 'hour', zone);
      checkTiling(segments, from, to, 'hour', zone);
      const raw = segments.filter((s) => s.source === 'raw');
      expect(raw.map((s) => s.to - s.from).every((ms) => ms < 15 * 60_000)).toBe(true);
      expect(raw).toHaveLength(2);
    }
  });

  it('reads raw rows for minute and 5-minute buckets, and for ranges inside one rollup row', () => {
    expect(plan('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', 'minute', 'UTC')).toEqual([
      { source: 'raw', from: Date.parse('2024-01-01T00:00:00Z'), to: Date.parse('2024-01-02T00:00:00Z') },
    ]);
    expect(plan('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', '5 minutes', 'Asia/Kathmandu').every((s) => s.source === 'raw')).toBe(true);
    expect(plan('2024-01-01T00:01:00Z', '2024-01-01T00:14:00Z', 'hour', 'UTC').every((s) => s.source === 'raw')).toBe(true);
    // 15-minute buckets in a whole-hour zone read the 15-minute grain.
    expect(grainsOf(plan('2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', '15 minutes', 'Europe/Berlin'))).toEqual([900]);
  });

  it('reads raw rows in a zone whose offset is not a multiple of 15 minutes (Monrovia, -00:44:30 until 1972)', () => {
    const segments = plan('1970-01-01T00:00:00Z', '1970-03-01T00:00:00Z', 'day', 'Africa/Monrovia');
    expect(segments.every((s) => s.source === 'raw')).toBe(true);
  });

  it('uses a grain only where its retention still holds complete rows', () => {
    const from = Date.parse('2024-01-01T00:00:00Z');
    const to = Date.parse('2024-04-01T00:00:00Z');
    // The hour grain is complete only from February: the 15-minute grain (complete forever) serves instead.
    const grains = [
      { grain: 900 as const, completeFrom: -Infinity },
      { grain: 3600 as const, completeFrom: Date.parse('2024-02-01T00:00:00Z') },
    ];
    expect(grainsOf(plan(from, to, 'hour', 'Europe/Berlin', grains))).toEqual([900]);
    expect(plan(from, to, 'hour', 'Europe/Berlin', [])).toEqual([{ source: 'raw', from, to }]);
  });

  it('tiles random ranges in many zones and intervals', () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Australia/Lord_Howe', 'America/Santiago', 'Pacific/Chatham'];
    const intervals: BucketInterval[] = ['15 minutes', 'hour', 'day', 'week', 'month'];
    for (let i = 0; i < 60; i++) {
      const zone = zones[i % zones.length]!;
      const interval = intervals[i % intervals.length]!;
      const from = Date.parse('2024-01-01T00:00:00Z') + Math.floor(random() * 300 * 86_400_000);
      const span = interval === '15 minutes' ? 3 * 86_400_000 : Math.floor(random() * 60 * 86_400_000) + 1;
      checkTiling(plan(from, from + span, interval, zone), from, from + span, interval, zone);
    }
  });
});
