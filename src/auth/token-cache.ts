/**
 * Verified API tokens kept in memory, so an HTTP request authenticates without a database round trip
 * (issue 19: the lookup was most of what `{ __typename }` cost). What keeps it honest:
 *
 * - keyed by the token's SHA-256 (the hash the database stores), never the token itself;
 * - bounded: at most `maxEntries`, the least recently used evicted first; unknown, revoked and expired
 *   tokens are never cached (random garbage cannot push valid entries out for more than one lookup);
 * - expiry at once: an entry whose `expiresAt` has passed is refused and dropped, whatever its age;
 * - revocation at once: `tokenRevoked` on the bus (published by this instance's revokeApiToken, and by
 *   every other instance's through the Redis fan-out, src/events/redis-fanout.ts) drops the entry; so
 *   does a database notification on `API_TOKEN_CHANGED_CHANNEL` (a trigger on "ApiToken" sends it for
 *   every change to a token's validity, e.g. the CLI's revocations; see `watchDatabase`);
 * - and the bound for anything those miss (an instance without Redis while its notification connection
 *   was down): an entry older than `recheckMs` (API_TOKEN_RECHECK_MS) is verified in the database again.
 */
import type { Database, PrismaClient } from '../db/client.ts';
import { listenToDatabase, type DatabaseListener } from '../db/notifications.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import type { Principal } from '../domain/principal.ts';
import { hashSecret } from '../security/secrets.ts';
import { isTokenShaped, LAST_USED_RESOLUTION_MS, touchLastUsed, verifyApiToken, type VerifiedToken } from './tokens.ts';

/** The channel the "ApiToken" trigger notifies with a token's id (prisma/migrations/*_api_token_changed). */
export const API_TOKEN_CHANGED_CHANNEL = 'doppel_api_token_changed';

/** Entries by default: ≈ 300 bytes each, so a few MB at most, and more tokens than a deployment has in use. */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;

export interface TokenCacheOptions {
  prisma: PrismaClient;
  /** Where `start()` listens for token changes made outside this instance's API (unset: no listening). */
  database?: Pick<Database, 'driver'>;
  bus: EventBus;
  logger: Logger;
  /** The longest a cached verification is trusted without asking the database again, in ms. */
  recheckMs: number;
  /** Entries at most (least recently used evicted first). */
  maxEntries: number;
  /** The clock (tests). */
  now?: () => number;
}

export interface TokenCache {
  /** The principal of a bearer token, or null when it is unknown, revoked or expired. */
  resolve: (token: string) => Promise<Principal | null>;
  /** Drops the cached entry of a token id (revoked or changed elsewhere). */
  forget(tokenId: string): void;
  /** Drops every entry (after a gap in the notifications, to be safe). */
  clear(): void;
  /** Entries cached now (metrics, tests). */
  size(): number;
  /** Starts listening for database notifications of token changes (when given a database). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const { prisma, bus, logger, recheckMs, maxEntries } = options;
  const now = options.now ?? Date.now;
  if (!(maxEntries >= 1)) throw new Error('maxEntries must be at least 1');
  /** By token hash; Map keeps insertion order, so the first key is the least recently used. */
  const entries = new Map<string, VerifiedToken>();
  /** Token id → its hash, so a revocation (which names the id) finds the entry. */
  const hashOfId = new Map<string, string>();
  /**
   * Bumped by every revocation and change: a database lookup that started before one may have read
   * the row before it, so its answer is used for that request but not cached.
   */
  let generation = 0;

  function remember(hash: string, verified: VerifiedToken): void {
    entries.delete(hash);
    entries.set(hash, verified);
    hashOfId.set(verified.principal.tokenId, hash);
    while (entries.size > maxEntries) {
      const [oldest, evicted] = entries.entries().next().value!;
      entries.delete(oldest);
      if (hashOfId.get(evicted.principal.tokenId) === oldest) hashOfId.delete(evicted.principal.tokenId);
    }
  }

  function forget(tokenId: string): void {
    generation++;
    const hash = hashOfId.get(tokenId);
    if (hash === undefined) return;
    hashOfId.delete(tokenId);
    entries.delete(hash);
  }

  // Applied inside publish itself (the filter runs synchronously and queues nothing): once the
  // revoking mutation has published, no later request of this instance can be served from the cache.
  const revocations = bus.subscribe('tokenRevoked', (event) => {
    forget(event.tokenId);
    return false;
  });

  let listener: DatabaseListener | undefined;
  const cache: TokenCache = {
    async resolve(token) {
      if (!isTokenShaped(token)) return null;
      const hash = hashSecret(token);
      const cached = entries.get(hash);
      const at = now();
      if (cached) {
        const expiresAt = cached.principal.expiresAt?.getTime();
        if (expiresAt !== undefined && expiresAt <= at) {
          forget(cached.principal.tokenId);
          return null;
        }
        if (at - cached.verifiedAt < recheckMs && at >= cached.verifiedAt) {
          // Most recently used goes last.
          entries.delete(hash);
          entries.set(hash, cached);
          if (at - cached.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
            // Off the request's path: a failure never fails the authentication (touchLastUsed swallows it).
            cached.lastUsedAt = at;
            void touchLastUsed(prisma, cached.principal.tokenId);
          }
          return cached.principal;
        }
      }
      const started = generation;
      const verified = await verifyApiToken(prisma, hash);
      if (!verified) {
        if (cached) forget(cached.principal.tokenId);
        return null;
      }
      // Trusted from when the lookup started: a change committed during it is within the bound.
      if (generation === started) remember(hash, { ...verified, verifiedAt: at });
      return verified.principal;
    },
    forget,
    clear() {
      generation++;
      entries.clear();
      hashOfId.clear();
    },
    size: () => entries.size,
    async start() {
      if (!options.database || listener) return;
      listener = await listenToDatabase(options.database, API_TOKEN_CHANGED_CHANNEL, (tokenId) => forget(tokenId), {
        logger,
        // Changes made while the listener was reconnecting were not heard: verify everything afresh.
        onGap: () => cache.clear(),
      });
    },
    async stop() {
      await listener?.close();
      listener = undefined;
      await revocations.return?.();
    },
  };
  return cache;
}
