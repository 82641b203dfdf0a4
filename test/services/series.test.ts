import { describe, expect, it } from 'vitest';
import { bucketEnd, bucketStart, type BucketInterval } from '../../src/domain/telemetry/buckets.ts';
import { seriesRange } from '../../src/services/series.ts';

describe('seriesRange', () => {
  // The lookups replace bucketStart/bucketEnd calls per row and bucket: they must agree exactly.
  it.each([
    ['Europe/Berlin', 'hour'],
    ['America/New_York', 'day'],
    ['Asia/Kathmandu', '15 minutes'],
    ['Australia/Lord_Howe', 'hour'],
    ['America/Santiago', 'week'],
    ['Europe/Berlin', 'month'],
  ] as Array<[string, BucketInterval]>)('agrees with bucketStart/bucketEnd in %s for %s buckets', (timeZone, interval) => {
    const from = Date.parse('2024-03-05T13:07:11.123Z');
    const to = Date.parse('2024-11-20T00:00:00Z');
    const range = seriesRange({ from, to, interval, timeZone }, 100_000);
    expect(range.starts[0]).toBe(bucketStart(from, interval, timeZone));
    for (const start of range.starts) expect(range.endOf(start)).toBe(bucketEnd(start, interval, timeZone));
    let seed = 42;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const ts = from + Math.floor((seed / 2 ** 31) * (to - from));
      expect(range.startOf(ts)).toBe(bucketStart(ts, interval, timeZone));
    }
  });

  it('refuses more buckets than the maximum', () => {
    expect(() => seriesRange({ from: 0, to: 86_400_000, interval: 'minute', timeZone: 'UTC' }, 1000)).toThrow(RangeError);
  });
});
