/**
 * Token buckets keyed by caller (an API token id): each key may spend `burst` operations at once and
 * regains `ratePerSecond` of them per second. Pure: the clock is injected, nothing is scheduled.
 *
 * Memory stays bounded: a bucket that has refilled completely is indistinguishable from a missing one,
 * so such buckets are dropped on a sweep, and at most `maxBuckets` are kept at all (when that many keys
 * are active at once, the least recently used bucket is dropped, which only ever forgives that caller).
 */
export interface TokenBucketOptions {
  /** Tokens regained per second (> 0). */
  ratePerSecond: number;
  /** Capacity: what an idle caller may spend at once (≥ 1). */
  burst: number;
  /** Most buckets held in memory (default 10,000). */
  maxBuckets?: number;
  /** Milliseconds clock; `Date.now` unless a test drives the time. */
  now?: () => number;
}

export interface TakeResult {
  allowed: boolean;
  /** Tokens left after this take (fractional while refilling). */
  remaining: number;
  /** When refused: how long until `cost` tokens are available again, in ms (0 when allowed). */
  retryAfterMs: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function createTokenBuckets(options: TokenBucketOptions) {
  const { ratePerSecond, burst } = options;
  if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be > 0');
  if (!(burst >= 1)) throw new RangeError('burst must be ≥ 1');
  const maxBuckets = options.maxBuckets ?? 10_000;
  const now = options.now ?? Date.now;
  const perMs = ratePerSecond / 1000;
  // After this long without a take, any bucket is full again, so a sweep may drop it.
  const refillMs = burst / perMs;
  // Map iteration order is insertion order; re-inserting on every take keeps it least-recently-used first.
  const buckets = new Map<string, Bucket>();
  let lastSweep = now();

  function level(bucket: Bucket, t: number): number {
    return Math.min(burst, bucket.tokens + Math.max(0, t - bucket.at) * perMs);
  }

  function sweep(t: number): void {
    lastSweep = t;
    for (const [key, bucket] of buckets) if (level(bucket, t) >= burst) buckets.delete(key);
  }

  return {
    /** Spends `cost` tokens of `key`'s bucket if it holds them; a refused take spends nothing. */
    take(key: string, cost = 1): TakeResult {
      const t = now();
      // Amortised: one O(n) sweep per refill period, or when the table is full.
      if (t - lastSweep >= refillMs || buckets.size >= maxBuckets) sweep(t);
      const existing = buckets.get(key);
      const tokens = existing ? level(existing, t) : burst;
      if (existing) buckets.delete(key);
      if (tokens >= cost) {
        buckets.set(key, { tokens: tokens - cost, at: t });
        if (buckets.size > maxBuckets) buckets.delete(buckets.keys().next().value as string);
        return { allowed: true, remaining: tokens - cost, retryAfterMs: 0 };
      }
      buckets.set(key, { tokens, at: t });
      if (buckets.size > maxBuckets) buckets.delete(buckets.keys().next().value as string);
      return { allowed: false, remaining: tokens, retryAfterMs: Math.ceil((cost - tokens) / perMs) };
    },
    /** Buckets currently held (for tests and metrics). */
    get size(): number {
      return buckets.size;
    },
  };
}

export type TokenBuckets = ReturnType<typeof createTokenBuckets>;
