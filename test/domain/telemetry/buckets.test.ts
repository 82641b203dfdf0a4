import { describe, expect, it } from 'vitest';
import {
  aggregate,
  bucketEnd,
  bucketRange,
  bucketStart,
  isValidTimeZone,
  localIso,
  utcOffset,
  type BucketInterval,
} from '../../../src/domain/telemetry/buckets.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const at = (iso: string) => Date.parse(iso);

/** The buckets overlapping [from, to) as "local start (length in minutes)". */
function buckets(timeZone: string, interval: BucketInterval, from: string, to: string): string[] {
  return bucketRange(at(from), at(to), interval, timeZone).map((s) => `${localIso(s, timeZone)} (${(bucketEnd(s, interval, timeZone) - s) / MIN})`);
}

describe('Europe/Berlin (CET/CEST, one hour at 01:00 UTC)', () => {
  const tz = 'Europe/Berlin';

  it('spring forward 2024-03-31: 02:00 does not exist, the day has 23 hours', () => {
    expect(buckets(tz, 'hour', '2024-03-31T00:00Z', '2024-03-31T02:00Z')).toEqual(['2024-03-31T01:00:00+01:00 (60)', '2024-03-31T03:00:00+02:00 (60)']);
    expect(buckets(tz, 'day', '2024-03-30T12:00Z', '2024-04-01T12:00Z')).toEqual([
      '2024-03-30T00:00:00+01:00 (1440)',
      '2024-03-31T00:00:00+01:00 (1380)',
      '2024-04-01T00:00:00+02:00 (1440)',
    ]);
  });

  it('fall back 2024-10-27: the repeated 02:00 hour is two buckets, the day has 25 hours', () => {
    expect(buckets(tz, 'hour', '2024-10-26T23:00Z', '2024-10-27T03:00Z')).toEqual([
      '2024-10-27T01:00:00+02:00 (60)',
      '2024-10-27T02:00:00+02:00 (60)',
      '2024-10-27T02:00:00+01:00 (60)',
      '2024-10-27T03:00:00+01:00 (60)',
    ]);
    expect(buckets(tz, '15 minutes', '2024-10-27T00:30Z', '2024-10-27T01:30Z')).toEqual([
      '2024-10-27T02:30:00+02:00 (15)',
      '2024-10-27T02:45:00+02:00 (15)',
      '2024-10-27T02:00:00+01:00 (15)',
      '2024-10-27T02:15:00+01:00 (15)',
    ]);
    expect(buckets(tz, 'day', '2024-10-27T12:00Z', '2024-10-27T13:00Z')).toEqual(['2024-10-27T00:00:00+02:00 (1500)']);
    // Both occurrences of 02:30 are in the same day, in different hours.
    expect(bucketStart(at('2024-10-27T00:30Z'), 'day', tz)).toBe(bucketStart(at('2024-10-27T01:30Z'), 'day', tz));
    expect(bucketStart(at('2024-10-27T00:30Z'), 'hour', tz)).toBe(at('2024-10-27T00:00Z'));
    expect(bucketStart(at('2024-10-27T01:30Z'), 'hour', tz)).toBe(at('2024-10-27T01:00Z'));
  });

  it('months across a year boundary and a leap February', () => {
    expect(buckets(tz, 'month', '2023-11-15T00:00Z', '2024-03-02T00:00Z')).toEqual([
      '2023-11-01T00:00:00+01:00 (43200)',
      '2023-12-01T00:00:00+01:00 (44640)',
      '2024-01-01T00:00:00+01:00 (44640)',
      '2024-02-01T00:00:00+01:00 (41760)',
      '2024-03-01T00:00:00+01:00 (44580)', // 31 days less the hour lost on the 31st
    ]);
    // New Year in Berlin is still 2023 in UTC.
    expect(bucketStart(at('2023-12-31T23:30Z'), 'month', tz)).toBe(at('2023-12-31T23:00Z'));
    expect(bucketStart(at('2023-12-31T22:59:59.999Z'), 'month', tz)).toBe(at('2023-11-30T23:00Z'));
  });

  it('ISO weeks start on Monday, and the week with the change is an hour shorter or longer', () => {
    expect(buckets(tz, 'week', '2024-03-25T12:00Z', '2024-04-01T12:00Z')).toEqual(['2024-03-25T00:00:00+01:00 (10020)', '2024-04-01T00:00:00+02:00 (10080)']);
    // Sunday 2024-01-07 belongs to the week of Monday 2024-01-01; Monday 2024-01-08 starts the next.
    expect(localIso(bucketStart(at('2024-01-07T22:59:59Z'), 'week', tz), tz)).toBe('2024-01-01T00:00:00+01:00');
    expect(localIso(bucketStart(at('2024-01-07T23:00:00Z'), 'week', tz), tz)).toBe('2024-01-08T00:00:00+01:00');
  });
});

describe('America/New_York (EST/EDT, at 02:00 local)', () => {
  const tz = 'America/New_York';

  it('spring forward 2024-03-10 and fall back 2024-11-03', () => {
    expect(buckets(tz, 'hour', '2024-03-10T06:00Z', '2024-03-10T08:00Z')).toEqual(['2024-03-10T01:00:00-05:00 (60)', '2024-03-10T03:00:00-04:00 (60)']);
    expect(buckets(tz, 'hour', '2024-11-03T04:00Z', '2024-11-03T07:00Z')).toEqual([
      '2024-11-03T00:00:00-04:00 (60)',
      '2024-11-03T01:00:00-04:00 (60)',
      '2024-11-03T01:00:00-05:00 (60)',
    ]);
    expect(buckets(tz, 'day', '2024-11-02T12:00Z', '2024-11-04T12:00Z')).toEqual([
      '2024-11-02T00:00:00-04:00 (1440)',
      '2024-11-03T00:00:00-04:00 (1500)',
      '2024-11-04T00:00:00-05:00 (1440)',
    ]);
    expect(buckets(tz, 'day', '2024-03-10T12:00Z', '2024-03-10T13:00Z')).toEqual(['2024-03-10T00:00:00-05:00 (1380)']);
  });

  it('the local day differs from the UTC day', () => {
    // 2024-07-01T02:00Z is still June 30 in New York.
    expect(localIso(bucketStart(at('2024-07-01T02:00Z'), 'day', tz), tz)).toBe('2024-06-30T00:00:00-04:00');
    expect(localIso(bucketStart(at('2024-07-01T02:00Z'), 'month', tz), tz)).toBe('2024-06-01T00:00:00-04:00');
  });
});

describe('Australia/Lord_Howe (+10:30 / +11, a 30-minute DST)', () => {
  const tz = 'Australia/Lord_Howe';

  it('fall back 2024-04-07 02:00 → 01:30: the repeated half hour is its own 30-minute bucket', () => {
    expect(buckets(tz, 'hour', '2024-04-06T13:00Z', '2024-04-06T17:00Z')).toEqual([
      '2024-04-07T00:00:00+11:00 (60)',
      '2024-04-07T01:00:00+11:00 (60)',
      '2024-04-07T01:30:00+10:30 (30)',
      '2024-04-07T02:00:00+10:30 (60)',
      '2024-04-07T03:00:00+10:30 (60)',
    ]);
    expect(buckets(tz, 'day', '2024-04-07T01:00Z', '2024-04-07T02:00Z')).toEqual(['2024-04-07T00:00:00+11:00 (1470)']);
  });

  it('spring forward 2024-10-06 02:00 → 02:30: the "02:00" hour is 30 minutes, the day 23.5 hours', () => {
    expect(buckets(tz, 'hour', '2024-10-05T13:00Z', '2024-10-05T17:00Z')).toEqual([
      '2024-10-05T23:00:00+10:30 (60)',
      '2024-10-06T00:00:00+10:30 (60)',
      '2024-10-06T01:00:00+10:30 (60)',
      '2024-10-06T02:30:00+11:00 (30)',
      '2024-10-06T03:00:00+11:00 (60)',
    ]);
    expect(buckets(tz, 'day', '2024-10-05T12:00Z', '2024-10-06T12:00Z')).toEqual(['2024-10-05T00:00:00+10:30 (1440)', '2024-10-06T00:00:00+10:30 (1410)']);
    // 5-minute labels inside the gap (02:00–02:25) have no bucket at all.
    expect(buckets(tz, '5 minutes', '2024-10-05T15:20Z', '2024-10-05T15:40Z')).toEqual([
      '2024-10-06T01:50:00+10:30 (5)',
      '2024-10-06T01:55:00+10:30 (5)',
      '2024-10-06T02:30:00+11:00 (5)',
      '2024-10-06T02:35:00+11:00 (5)',
    ]);
  });
});

describe('Asia/Kathmandu (+05:45) and Asia/Kolkata (+05:30)', () => {
  it('hour buckets start at :15 and :30 UTC', () => {
    expect(bucketStart(at('2024-06-01T10:14:59Z'), 'hour', 'Asia/Kathmandu')).toBe(at('2024-06-01T09:15Z'));
    expect(bucketStart(at('2024-06-01T10:15:00Z'), 'hour', 'Asia/Kathmandu')).toBe(at('2024-06-01T10:15Z'));
    expect(bucketStart(at('2024-06-01T10:29:59Z'), 'hour', 'Asia/Kolkata')).toBe(at('2024-06-01T09:30Z'));
    expect(bucketStart(at('2024-06-01T10:00Z'), '15 minutes', 'Asia/Kathmandu')).toBe(at('2024-06-01T10:00Z'));
    expect(bucketStart(at('2024-06-01T10:00Z'), 'day', 'Asia/Kathmandu')).toBe(at('2024-05-31T18:15Z'));
  });

  it('Kathmandu moved from +05:30 to +05:45 at 1986-01-01 00:00: that day starts at 00:15', () => {
    expect(buckets('Asia/Kathmandu', 'hour', '1985-12-31T16:30Z', '1985-12-31T20:00Z')).toEqual([
      '1985-12-31T22:00:00+05:30 (60)',
      '1985-12-31T23:00:00+05:30 (60)',
      '1986-01-01T00:15:00+05:45 (45)',
      '1986-01-01T01:00:00+05:45 (60)',
    ]);
    expect(buckets('Asia/Kathmandu', 'day', '1985-12-31T12:00Z', '1986-01-01T12:00Z')).toEqual([
      '1985-12-31T00:00:00+05:30 (1440)',
      '1986-01-01T00:15:00+05:45 (1425)',
    ]);
    expect(buckets('Asia/Kathmandu', 'month', '1985-12-15T00:00Z', '1986-01-15T00:00Z')).toEqual([
      '1985-12-01T00:00:00+05:30 (44640)',
      '1986-01-01T00:15:00+05:45 (44625)',
    ]);
  });
});

describe('America/Santiago (DST changes at midnight)', () => {
  it('a day whose midnight does not exist starts at 01:00', () => {
    expect(buckets('America/Santiago', 'day', '2024-09-07T12:00Z', '2024-09-09T12:00Z')).toEqual([
      '2024-09-07T00:00:00-04:00 (1440)',
      '2024-09-08T01:00:00-03:00 (1380)',
      '2024-09-09T00:00:00-03:00 (1440)',
    ]);
  });

  it('a day whose last hour repeats has 25 hours and ends at the second midnight', () => {
    expect(buckets('America/Santiago', 'day', '2024-04-06T12:00Z', '2024-04-07T12:00Z')).toEqual([
      '2024-04-06T00:00:00-03:00 (1500)',
      '2024-04-07T00:00:00-04:00 (1440)',
    ]);
  });
});

describe('UTC and fixed zones', () => {
  it('buckets are plain truncation', () => {
    const ts = at('2024-02-29T13:47:31.123Z');
    expect(bucketStart(ts, 'minute', 'UTC')).toBe(at('2024-02-29T13:47Z'));
    expect(bucketStart(ts, '5 minutes', 'UTC')).toBe(at('2024-02-29T13:45Z'));
    expect(bucketStart(ts, '15 minutes', 'UTC')).toBe(at('2024-02-29T13:45Z'));
    expect(bucketStart(ts, 'hour', 'UTC')).toBe(at('2024-02-29T13:00Z'));
    expect(bucketStart(ts, 'day', 'UTC')).toBe(at('2024-02-29T00:00Z'));
    expect(bucketStart(ts, 'week', 'UTC')).toBe(at('2024-02-26T00:00Z'));
    expect(bucketStart(ts, 'month', 'UTC')).toBe(at('2024-02-01T00:00Z'));
    expect(bucketEnd(ts, 'month', 'UTC')).toBe(at('2024-03-01T00:00Z'));
    expect(bucketEnd(at('2024-12-31T23:59:59.999Z'), 'month', 'UTC')).toBe(at('2025-01-01T00:00Z'));
  });
});

describe('argument checks and helpers', () => {
  it('unknown zones, intervals and out-of-range instants are RangeErrors', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(() => bucketStart(0, 'hour', 'Mars/Olympus_Mons')).toThrow(RangeError);
    expect(() => bucketStart(0, 'fortnight' as BucketInterval, 'UTC')).toThrow(RangeError);
    expect(() => bucketStart(NaN, 'hour', 'UTC')).toThrow(RangeError);
    expect(() => bucketStart(8e15, 'hour', 'UTC')).toThrow(RangeError);
    expect(() => bucketRange(0, 10 * HOUR, 'minute', 'UTC', { maxBuckets: 100 })).toThrow(RangeError);
  });

  it('bucketRange: empty for an empty range, the first bucket may start before from', () => {
    expect(bucketRange(1000, 1000, 'hour', 'UTC')).toEqual([]);
    expect(bucketRange(HOUR + 1, 2 * HOUR + 1, 'hour', 'UTC')).toEqual([HOUR, 2 * HOUR]);
  });

  it('utcOffset and localIso, including an offset with seconds', () => {
    expect(utcOffset(at('2024-07-01T00:00Z'), 'Europe/Berlin')).toBe(2 * HOUR);
    expect(utcOffset(at('2024-07-01T00:00Z'), 'America/New_York')).toBe(-4 * HOUR);
    expect(localIso(at('2024-07-01T00:00:00.5Z'), 'Asia/Kathmandu')).toBe('2024-07-01T05:45:00.500+05:45');
    expect(localIso(0, 'Africa/Monrovia')).toBe('1969-12-31T23:15:30-00:44:30');
    expect(localIso(0, 'UTC')).toBe('1970-01-01T00:00:00+00:00');
  });
});

describe('aggregate', () => {
  const tz = 'Europe/Berlin';
  // Hourly readings through Berlin's 25-hour day, 2024-10-27 (value = hour index).
  const dayStart = at('2024-10-26T22:00Z');
  const hourly = Array.from({ length: 25 }, (_, i) => ({ ts: dayStart + i * HOUR, value: i }));

  it('a 25-hour day holds 25 hourly points', () => {
    const [day, ...rest] = aggregate(hourly, { interval: 'day', timeZone: tz, aggregates: ['count', 'sum', 'avg', 'min', 'max', 'first', 'last'] });
    expect(rest).toEqual([]);
    expect(day).toEqual({
      start: dayStart,
      end: dayStart + 25 * HOUR,
      filled: false,
      values: { count: 25, sum: 300, avg: 12, min: 0, max: 24, first: 0, last: 24 },
    });
  });

  it('hour buckets split the repeated hour by offset', () => {
    const series = aggregate(hourly, { interval: 'hour', timeZone: tz, aggregates: ['count'] });
    expect(series).toHaveLength(25);
    expect(series.every((b) => b.values.count === 1 && b.end - b.start === HOUR)).toBe(true);
  });

  it('first and last follow ts, not input order; equal ts are ordered by value', () => {
    const points = [
      { ts: 3000, value: 5 },
      { ts: 1000, value: 9 },
      { ts: 1000, value: 2 },
      { ts: 3000, value: 1 },
    ];
    expect(aggregate(points, { interval: 'minute', timeZone: 'UTC', aggregates: ['first', 'last', 'count'] })[0]!.values).toEqual({
      first: 2,
      last: 5,
      count: 4,
    });
  });

  it('booleans stored as 0/1 average to the fraction of true', () => {
    const points = [0, 1, 1, 1].map((value, i) => ({ ts: i * 1000, value, isBool: true }));
    expect(aggregate(points, { interval: 'hour', timeZone: 'UTC', aggregates: ['avg'] })[0]!.values).toEqual({ avg: 0.75 });
  });

  it('from/to cut the points; fill none / null / previous', () => {
    const points = [
      { ts: 10 * MIN, value: 1 },
      { ts: 70 * MIN, value: 3 },
      { ts: 250 * MIN, value: 7 },
      { ts: 400 * MIN, value: 100 }, // after `to`
    ];
    const base = { interval: 'hour' as const, timeZone: 'UTC', aggregates: ['avg', 'count'] as const, from: 0, to: 5 * HOUR };
    expect(aggregate(points, { ...base, fill: 'none' }).map((b) => [b.start / HOUR, b.values])).toEqual([
      [0, { avg: 1, count: 1 }],
      [1, { avg: 3, count: 1 }],
      [4, { avg: 7, count: 1 }],
    ]);
    expect(aggregate(points, { ...base, fill: 'null' }).map((b) => [b.start / HOUR, b.filled, b.values])).toEqual([
      [0, false, { avg: 1, count: 1 }],
      [1, false, { avg: 3, count: 1 }],
      [2, true, { avg: null, count: 0 }],
      [3, true, { avg: null, count: 0 }],
      [4, false, { avg: 7, count: 1 }],
    ]);
    expect(aggregate(points, { ...base, fill: 'previous' }).map((b) => [b.start / HOUR, b.values])).toEqual([
      [0, { avg: 1, count: 1 }],
      [1, { avg: 3, count: 1 }],
      [2, { avg: 3, count: 0 }],
      [3, { avg: 3, count: 0 }],
      [4, { avg: 7, count: 1 }],
    ]);
    // Leading gaps have nothing to carry.
    expect(aggregate([{ ts: 2 * HOUR, value: 4 }], { ...base, fill: 'previous' }).map((b) => b.values.avg)).toEqual([null, null, 4, 4, 4]);
  });

  it('fill without from/to spans the points; no points and no range is no buckets', () => {
    const points = [
      { ts: 0, value: 1 },
      { ts: 2 * HOUR, value: 2 },
    ];
    expect(aggregate(points, { interval: 'hour', timeZone: 'UTC', aggregates: ['count'], fill: 'null' }).map((b) => b.values.count)).toEqual([1, 0, 1]);
    expect(aggregate([], { interval: 'hour', timeZone: 'UTC', aggregates: ['count'], fill: 'null' })).toEqual([]);
    expect(aggregate([], { interval: 'hour', timeZone: 'UTC', aggregates: ['count'], fill: 'null', from: 0, to: 2 * HOUR })).toHaveLength(2);
  });

  it('refuses unknown aggregates and fills, and too many buckets', () => {
    expect(() => aggregate([], { interval: 'hour', timeZone: 'UTC', aggregates: ['median' as 'avg'] })).toThrow(RangeError);
    expect(() => aggregate([], { interval: 'hour', timeZone: 'UTC', aggregates: [], fill: 'linear' as 'null' })).toThrow(RangeError);
    expect(() => aggregate([], { interval: 'minute', timeZone: 'UTC', aggregates: [], fill: 'null', from: 0, to: HOUR, maxBuckets: 59 })).toThrow(RangeError);
  });
});
