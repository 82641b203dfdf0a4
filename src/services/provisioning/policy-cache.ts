/**
 * A short-lived cache of provisioning policies for the device side (./claims.ts), so a storm of
 * provisioning clients does not read the same policy row three times per device (CONNECT by token, the
 * request by the session's id, the request's own token) nor open every group key's seal per connect.
 *
 * The bound, and why it is safe:
 * - within this process, every policy change made through the admin side (./policies.ts: create,
 *   update, delete) clears the cache at once, before the admin's call returns;
 * - a change made by another Doppel process on the same database is seen after at most
 *   POLICY_CACHE_TTL_MS;
 * - a stale entry can admit a CONNECT or a request, never a device: every write decides on the
 *   database row — the creation batch's counter UPDATE grants nothing to a disabled, expired, deleted
 *   or exhausted policy (./creations.ts), and a re-provisioning (ROTATE) re-reads its policy uncached.
 * Misses (no policy has this token) are not cached: a policy created by another process works at once.
 */

/** How long a policy read stays usable without a change in this process. */
export const POLICY_CACHE_TTL_MS = 1000;

interface Entry<T> {
  value: T;
  expiresAt: number;
}

export interface PolicyCache<T> {
  /** The cached value under `key`, or `load()`'s (stored when it is defined). Concurrent misses share one load. */
  get(key: string, load: () => Promise<T | undefined>): Promise<T | undefined>;
  /** Forgets every entry (any policy changed). */
  clear(): void;
}

export function createPolicyCache<T>(ttlMs = POLICY_CACHE_TTL_MS, now: () => number = Date.now): PolicyCache<T> {
  let entries = new Map<string, Entry<T>>();
  let loading = new Map<string, Promise<T | undefined>>();
  // Bumped by clear(): a load that started before a change must not store what it read.
  let generation = 0;

  return {
    async get(key, load) {
      const hit = entries.get(key);
      if (hit && hit.expiresAt > now()) return hit.value;
      const pending = loading.get(key);
      if (pending) return pending;
      const startedIn = generation;
      const loads = loading;
      const promise = load().then(
        (value) => {
          if (loads.get(key) === promise) loads.delete(key);
          if (value !== undefined && startedIn === generation) entries.set(key, { value, expiresAt: now() + ttlMs });
          return value;
        },
        (error: unknown) => {
          if (loads.get(key) === promise) loads.delete(key);
          throw error;
        },
      );
      loading.set(key, promise);
      return promise;
    },
    clear() {
      generation += 1;
      entries = new Map();
      loading = new Map();
    },
  };
}
