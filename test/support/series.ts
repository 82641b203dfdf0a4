/** Shared by the series and rollup tests: reproducible random data, and the GraphQL ↔ reference interval names. */
import type { BucketInterval } from '../../src/domain/telemetry/buckets.ts';
import type { SeriesInterval } from '../generated/graphql.ts';

/** mulberry32: reproducible random numbers in [0, 1) (the seed is in the test name if it fails). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The GraphQL `SeriesInterval` values and the reference implementation's names for them. */
export const INTERVALS: Record<SeriesInterval, BucketInterval> = {
  MINUTE: 'minute',
  FIVE_MINUTES: '5 minutes',
  FIFTEEN_MINUTES: '15 minutes',
  HOUR: 'hour',
  DAY: 'day',
  WEEK: 'week',
  MONTH: 'month',
};
