import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  BUCKET_INTERVALS,
  bucketEnd,
  bucketRange,
  bucketStart,
  utcOffset,
  type AggregateFunction,
  type BucketInterval,
} from '../../../src/domain/telemetry/buckets.ts';

/**
 * An independent statement of what a bucket is, for the tests: the bucket *key* of an instant (see
 * src/domain/telemetry/buckets.ts), computed from `Intl` parts and the zone's own offset name rather
 * than from the module's arithmetic. Two instants are in the same bucket exactly when they have the
 * same key and every instant between them has it too.
 */
const formats = new Map<string, Intl.DateTimeFormat>();

function format(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZoneName: 'longOffset',
    });
    formats.set(timeZone, f);
  }
  return f;
}

function localParts(ts: number, timeZone: string): { year: number; month: number; day: number; hour: number; minute: number; offset: string } {
  const parts = Object.fromEntries(
    format(timeZone)
      .formatToParts(ts)
      .map((p) => [p.type, p.value]),
  );
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    offset: parts.timeZoneName!,
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

function oracleKey(ts: number, interval: BucketInterval, timeZone: string): string {
  const p = localParts(ts, timeZone);
  const date = `${p.year}-${pad(p.month)}-${pad(p.day)}`;
  switch (interval) {
    case 'minute':
      return `${date}T${pad(p.hour)}:${pad(p.minute)} ${p.offset}`;
    case '5 minutes':
      return `${date}T${pad(p.hour)}:${pad(p.minute - (p.minute % 5))} ${p.offset}`;
    case '15 minutes':
      return `${date}T${pad(p.hour)}:${pad(p.minute - (p.minute % 15))} ${p.offset}`;
    case 'hour':
      return `${date}T${pad(p.hour)} ${p.offset}`;
    case 'day':
      return date;
    case 'week': {
      // The Monday on or before the local date.
      const d = new Date(Date.UTC(p.year, p.month - 1, p.day));
      d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
      return `week of ${d.toISOString().slice(0, 10)}`;
    }
    case 'month':
      return `${p.year}-${pad(p.month)}`;
  }
}

// PROP_RUNS=2000 for a deeper search when touching the bucket code.
const numRuns = Number(process.env.PROP_RUNS ?? 150);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe',
  'Asia/Kathmandu',
  'Asia/Kolkata',
  'America/Santiago',
  'Pacific/Chatham', // +12:45 / +13:45
  'Africa/Casablanca', // DST suspended during Ramadan: two changes a month apart
] as const;

/** Offset changes of each zone in 2023–2025, found here by brute force on the minute, so instants near them are tried often. */
const transitions = new Map<string, number[]>();
function transitionsOf(timeZone: string): number[] {
  let list = transitions.get(timeZone);
  if (list === undefined) {
    list = [];
    const f = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'longOffset' });
    const name = (t: number) => f.formatToParts(t).find((p) => p.type === 'timeZoneName')!.value;
    let prev = name(Date.UTC(2023, 0, 1));
    for (let t = Date.UTC(2023, 0, 1) + HOUR; t <= Date.UTC(2026, 0, 1); t += HOUR) {
      const cur = name(t);
      if (cur !== prev) {
        let m = t - HOUR;
        while (name(m + 60_000) === prev) m += 60_000;
        list.push(m + 60_000);
      }
      prev = cur;
    }
    transitions.set(timeZone, list);
  }
  return list;
}

const zone = fc.constantFrom(...ZONES);
const interval = fc.constantFrom(...BUCKET_INTERVALS);
const anyTs = fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2040, 0, 1) });

/** An instant for `timeZone`: anywhere in 1970–2040, or within two days of one of its transitions. */
function instant(timeZone: string): fc.Arbitrary<number> {
  const near = transitionsOf(timeZone);
  if (near.length === 0) return anyTs;
  return fc.oneof(
    anyTs,
    fc.tuple(fc.constantFrom(...near), fc.integer({ min: -2 * DAY, max: 2 * DAY })).map(([t, d]) => t + d),
    fc.tuple(fc.constantFrom(...near), fc.integer({ min: -2000, max: 2000 })).map(([t, d]) => t + d),
  );
}

const case_ = zone.chain((tz) => fc.record({ tz: fc.constant(tz), interval, ts: instant(tz) }));

describe('bucket properties', () => {
  it('transitions were found for the zones with DST (guards the generator itself)', () => {
    for (const tz of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'America/Santiago', 'Pacific/Chatham', 'Africa/Casablanca']) {
      expect(transitionsOf(tz).length).toBeGreaterThanOrEqual(6);
    }
  });

  it('start ≤ ts < end; start and end are fixed points; the next bucket starts at the end', () => {
    fc.assert(
      fc.property(case_, ({ tz, interval, ts }) => {
        const start = bucketStart(ts, interval, tz);
        const end = bucketEnd(ts, interval, tz);
        expect(start).toBeLessThanOrEqual(ts);
        expect(end).toBeGreaterThan(ts);
        expect(bucketStart(start, interval, tz)).toBe(start);
        expect(bucketStart(end - 1, interval, tz)).toBe(start);
        expect(bucketEnd(start, interval, tz)).toBe(end);
        expect(bucketStart(end, interval, tz)).toBe(end);
        expect(bucketEnd(start - 1, interval, tz)).toBe(start);
      }),
      { numRuns },
    );
  });

  it('a bucket is exactly a maximal run of one key (checked against an independent Intl oracle)', () => {
    fc.assert(
      fc.property(case_, fc.double({ min: 0, max: 1, noNaN: true }), ({ tz, interval, ts }, frac) => {
        const start = bucketStart(ts, interval, tz);
        const end = bucketEnd(ts, interval, tz);
        const key = oracleKey(ts, interval, tz);
        expect(oracleKey(start, interval, tz)).toBe(key);
        expect(oracleKey(end - 1, interval, tz)).toBe(key);
        expect(oracleKey(start + Math.floor(frac * (end - start - 1)), interval, tz)).toBe(key);
        // Maximal: the instants just outside have another key.
        expect(oracleKey(start - 1, interval, tz)).not.toBe(key);
        expect(oracleKey(end, interval, tz)).not.toBe(key);
      }),
      { numRuns },
    );
  });

  it('bucket starts are monotonic in ts', () => {
    fc.assert(
      fc.property(
        zone.chain((tz) => fc.record({ tz: fc.constant(tz), interval, a: instant(tz), d: fc.integer({ min: 0, max: 3 * DAY }) })),
        ({ tz, interval, a, d }) => {
          expect(bucketStart(a, interval, tz)).toBeLessThanOrEqual(bucketStart(a + d, interval, tz));
        },
      ),
      { numRuns },
    );
  });

  it('every ts in a range lies in exactly one bucket [start, nextStart) of bucketRange, the one bucketStart names', () => {
    const span: Record<BucketInterval, number> = {
      minute: 3 * HOUR,
      '5 minutes': 6 * HOUR,
      '15 minutes': DAY,
      hour: 3 * DAY,
      day: 20 * DAY,
      week: 60 * DAY,
      month: 400 * DAY,
    };
    fc.assert(
      fc.property(case_, fc.double({ min: 0, max: 1, noNaN: true }), ({ tz, interval, ts }, frac) => {
        const from = ts - Math.floor(frac * span[interval]);
        const to = from + span[interval];
        const starts = bucketRange(from, to, interval, tz);
        for (let i = 1; i < starts.length; i++) expect(starts[i]!).toBeGreaterThan(starts[i - 1]!);
        expect(starts[0]!).toBeLessThanOrEqual(from);
        const ends = starts.map((s, i) => starts[i + 1] ?? bucketEnd(s, interval, tz));
        expect(ends.at(-1)!).toBeGreaterThanOrEqual(to);
        const containing = starts.filter((s, i) => s <= ts && ts < ends[i]!);
        expect(containing).toEqual([bucketStart(ts, interval, tz)]);
      }),
      { numRuns },
    );
  });
});

describe('aggregate equals a naive computation', () => {
  const ALL: AggregateFunction[] = ['avg', 'min', 'max', 'sum', 'count', 'first', 'last'];

  /** Groups by the oracle key and aggregates with the simplest code there is. */
  function naive(points: Array<{ ts: number; value: number }>, interval: BucketInterval, tz: string) {
    const groups = new Map<string, Array<{ ts: number; value: number }>>();
    for (const p of points) {
      const key = oracleKey(p.ts, interval, tz);
      groups.set(key, [...(groups.get(key) ?? []), p]);
    }
    return [...groups.values()]
      .map((g) => {
        const values = g.map((p) => p.value);
        const minTs = Math.min(...g.map((p) => p.ts));
        const maxTs = Math.max(...g.map((p) => p.ts));
        const sum = [...g].sort((a, b) => a.ts - b.ts || a.value - b.value).reduce((s, p) => s + p.value, 0);
        return {
          minTs,
          values: {
            avg: sum / g.length,
            min: Math.min(...values),
            max: Math.max(...values),
            sum,
            count: g.length,
            first: Math.min(...g.filter((p) => p.ts === minTs).map((p) => p.value)),
            last: Math.max(...g.filter((p) => p.ts === maxTs).map((p) => p.value)),
          },
        };
      })
      .sort((a, b) => a.minTs - b.minTs);
  }

  // -0 is mapped to 0, as the parser stores it.
  const value = fc
    .oneof(fc.integer({ min: -50, max: 50 }), fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, 1))
    .map((v) => (v === 0 ? 0 : v));

  const series = zone.chain((tz) =>
    fc.record({
      tz: fc.constant(tz),
      interval,
      origin: instant(tz),
      offsets: fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), value), { minLength: 1, maxLength: 40 }),
    }),
  );

  /** Spreads points over a few buckets of the interval around `origin`, so buckets get several points and DST edges get crossed. */
  const scale: Record<BucketInterval, number> = {
    minute: 300,
    '5 minutes': 1500,
    '15 minutes': 4500,
    hour: 18_000,
    day: 430_000,
    week: 3_000_000,
    month: 13_000_000,
  };

  it('for every zone, interval and random data (fill none)', () => {
    fc.assert(
      fc.property(series, ({ tz, interval, origin, offsets }) => {
        const points = offsets.map(([o, v]) => ({ ts: origin + o * scale[interval], value: v }));
        const got = aggregate(points, { interval, timeZone: tz, aggregates: ALL });
        const want = naive(points, interval, tz);
        expect(got).toHaveLength(want.length);
        got.forEach((bucket, i) => {
          const w = want[i]!;
          expect(bucket.filled).toBe(false);
          expect(bucket.start).toBe(bucketStart(w.minTs, interval, tz));
          expect(bucket.end).toBe(bucketEnd(w.minTs, interval, tz));
          expect(bucket.values).toEqual(w.values);
        });
      }),
      { numRuns },
    );
  });

  it('fill null and previous agree with fill none on buckets with points and cover the whole range', () => {
    fc.assert(
      fc.property(series, fc.constantFrom('null' as const, 'previous' as const), ({ tz, interval, origin, offsets }, fill) => {
        const points = offsets.map(([o, v]) => ({ ts: origin + o * scale[interval], value: v }));
        const from = origin + 100 * scale[interval];
        const to = origin + 900 * scale[interval];
        const opts = { interval, timeZone: tz, aggregates: ALL, from, to };
        const none = aggregate(points, opts);
        const filled = aggregate(points, { ...opts, fill });
        expect(filled.map((b) => b.start)).toEqual(bucketRange(from, to, interval, tz));
        const byStart = new Map(none.map((b) => [b.start, b]));
        let previous: (typeof filled)[number] | undefined;
        for (const b of filled) {
          const real = byStart.get(b.start);
          if (real) expect(b).toEqual(real);
          else {
            expect(b.filled).toBe(true);
            expect(b.values.count).toBe(0);
            for (const a of ALL.filter((x) => x !== 'count')) {
              expect(b.values[a]).toBe(fill === 'previous' && previous ? previous.values[a] : null);
            }
          }
          previous = b;
        }
        // Only points inside [from, to) count.
        const inside = points.filter((p) => p.ts >= from && p.ts < to).length;
        expect(filled.reduce((n, b) => n + (b.values.count ?? 0), 0)).toBe(inside);
      }),
      { numRuns: Math.ceil(numRuns / 2) },
    );
  });
});

describe('utcOffset (cached per stretch between transitions) equals what Intl says, at any instant', () => {
  const ZONES_TO_CHECK = [
    'Europe/Berlin',
    'America/New_York',
    'Asia/Kathmandu',
    'Australia/Lord_Howe',
    'Pacific/Chatham',
    'America/Sao_Paulo',
    'Europe/Dublin',
    'UTC',
  ];
  /** The offset from Intl's own `longOffset` name ("GMT+05:45"), independent of the module's parsing. */
  const offsetNames = new Map<string, Intl.DateTimeFormat>();
  function intlOffset(ts: number, timeZone: string): number {
    let format = offsetNames.get(timeZone);
    if (!format) offsetNames.set(timeZone, (format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })));
    const name = format.formatToParts(ts).find((p) => p.type === 'timeZoneName')!.value;
    const m = /^GMT(?:([+-])(\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(name)!;
    if (!m[1]) return 0;
    return (m[1] === '-' ? -1 : 1) * ((Number(m[2]) * 60 + Number(m[3])) * 60 + Number(m[4] ?? 0)) * 1000;
  }
  it('for random instants in random order, and for runs of consecutive ones across transitions', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES_TO_CHECK),
        fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2100, 0, 1) }),
        fc.integer({ min: 1, max: 48 }),
        (zone, start, steps) => {
          for (let i = 0; i < steps; i++) {
            const ts = start + i * 15 * 60_000;
            expect(utcOffset(ts, zone)).toBe(intlOffset(ts, zone));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
