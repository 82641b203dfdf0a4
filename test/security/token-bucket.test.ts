import { describe, expect, it } from 'vitest';
import { createTokenBuckets } from '../../src/security/token-bucket.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('token buckets', () => {
  it('lets an idle caller spend its burst at once, then refuses with the wait until the next token', () => {
    const c = clock();
    const buckets = createTokenBuckets({ ratePerSecond: 2, burst: 3, now: c.now });
    expect([1, 2, 3].map(() => buckets.take('a').allowed)).toEqual([true, true, true]);
    const refused = buckets.take('a');
    expect(refused).toEqual({ allowed: false, remaining: 0, retryAfterMs: 500 });
    c.advance(499);
    expect(buckets.take('a').allowed).toBe(false);
    c.advance(1);
    expect(buckets.take('a')).toMatchObject({ allowed: true });
    expect(buckets.take('a').allowed).toBe(false);
  });

  it('refills at the configured rate up to the burst, never beyond', () => {
    const c = clock();
    const buckets = createTokenBuckets({ ratePerSecond: 10, burst: 5, now: c.now });
    for (let i = 0; i < 5; i++) buckets.take('a');
    c.advance(60_000);
    const allowed = Array.from({ length: 7 }, () => buckets.take('a').allowed);
    expect(allowed).toEqual([true, true, true, true, true, false, false]);
  });

  it('keeps one bucket per key: one caller cannot spend another one’s tokens', () => {
    const c = clock();
    const buckets = createTokenBuckets({ ratePerSecond: 1, burst: 1, now: c.now });
    expect(buckets.take('a').allowed).toBe(true);
    expect(buckets.take('a').allowed).toBe(false);
    expect(buckets.take('b').allowed).toBe(true);
  });

  it('spends nothing on a refused take, and charges a cost above one whole', () => {
    const c = clock();
    const buckets = createTokenBuckets({ ratePerSecond: 1, burst: 4, now: c.now });
    expect(buckets.take('a', 3)).toMatchObject({ allowed: true, remaining: 1 });
    expect(buckets.take('a', 2)).toEqual({ allowed: false, remaining: 1, retryAfterMs: 1000 });
    expect(buckets.take('a', 1)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('drops buckets that have refilled, so idle callers cost no memory', () => {
    const c = clock();
    const buckets = createTokenBuckets({ ratePerSecond: 10, burst: 10, now: c.now });
    for (let i = 0; i < 100; i++) buckets.take(`key-${i}`);
    expect(buckets.size).toBe(100);
    c.advance(1000); // a full refill: every bucket is as good as new
    buckets.take('fresh');
    expect(buckets.size).toBe(1);
  });

  it('never holds more than maxBuckets, dropping the least recently used', () => {
    const c = clock();
    const buckets = createTokenBuckets({ ratePerSecond: 1, burst: 2, maxBuckets: 3, now: c.now });
    for (const key of ['a', 'b', 'c']) buckets.take(key, 2);
    buckets.take('a', 0); // touch a: b is now the least recently used
    buckets.take('d', 2);
    expect(buckets.size).toBeLessThanOrEqual(3);
    // a and c kept their (empty) buckets; b was dropped and starts full again.
    expect(buckets.take('c').allowed).toBe(false);
    expect(buckets.take('a').allowed).toBe(false);
    expect(buckets.take('b', 2).allowed).toBe(true);
    expect(buckets.size).toBe(3);
  });

  it('refuses nonsense options', () => {
    expect(() => createTokenBuckets({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
    expect(() => createTokenBuckets({ ratePerSecond: 1, burst: 0 })).toThrow(RangeError);
  });
});
