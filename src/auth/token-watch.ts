import type { SqlExecutor } from '../db/client.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import type { Principal } from '../domain/principal.ts';

export interface TokenWatchOptions {
  bus: EventBus;
  sql: SqlExecutor;
  logger: Logger;
  /**
   * How often the tokens behind open subscriptions are re-checked against the database, in ms. This is
   * what ends them when another instance (or the CLI) revoked the token, or when it expired; a
   * revocation through this instance's API ends them at once via the bus.
   */
  recheckIntervalMs: number;
}

/** Timers longer than this overflow Node's 32-bit delay: later expiries are left to the periodic re-check. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Long-lived things opened with an API token (graphql-ws connections, SSE subscriptions) register here
 * and are told when the token stops being valid: revoked through the API (`tokenRevoked` on the bus),
 * revoked elsewhere or deleted (periodic re-check), or expired (a timer at `expiresAt`).
 * HTTP queries and mutations need none of this: every request authenticates afresh.
 */
export function createTokenWatch(options: TokenWatchOptions) {
  const { bus, sql, logger } = options;
  const watchers = new Map<string, Set<() => void>>();
  const revocations = bus.subscribe('tokenRevoked');
  let stopped = false;

  function fire(tokenId: string): void {
    const set = watchers.get(tokenId);
    if (!set) return;
    watchers.delete(tokenId);
    for (const onRevoked of set) {
      try {
        onRevoked();
      } catch (error) {
        logger.warn({ err: error, tokenId }, "ending a revoked token's session failed");
      }
    }
  }

  void (async () => {
    for await (const event of revocations) fire(event.tokenId);
  })().catch((error: unknown) => logger.error({ err: error }, 'token revocation listener stopped'));

  async function recheck(): Promise<void> {
    const ids = [...watchers.keys()];
    if (ids.length === 0) return;
    const valid = await sql.query<{ id: string }>(
      `SELECT id::text AS id FROM "ApiToken"
        WHERE id = ANY($1::uuid[]) AND "revokedAt" IS NULL AND ("expiresAt" IS NULL OR "expiresAt" > now())`,
      [ids],
    );
    const stillValid = new Set(valid.map((r) => r.id));
    for (const id of ids) if (!stillValid.has(id)) fire(id);
  }

  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = recheck()
      .catch((error: unknown) => logger.warn({ err: error }, 'token re-check failed; will retry'))
      .finally(() => {
        running = null;
      });
  }, options.recheckIntervalMs);
  timer.unref();

  return {
    /**
     * Calls `onRevoked` once when the principal's token stops being valid. Returns the function that
     * unregisters it (call it when the connection or subscription ends first).
     */
    watch(principal: Principal, onRevoked: () => void): () => void {
      let set = watchers.get(principal.tokenId);
      if (!set) watchers.set(principal.tokenId, (set = new Set()));
      let expiry: NodeJS.Timeout | undefined;
      let done = false;
      const forget = () => {
        clearTimeout(expiry);
        set.delete(once);
        if (set.size === 0 && watchers.get(principal.tokenId) === set) watchers.delete(principal.tokenId);
      };
      // Revocation and expiry may both fire: the session ends once.
      const once = () => {
        if (done) return;
        done = true;
        forget();
        onRevoked();
      };
      set.add(once);
      if (principal.expiresAt) {
        const inMs = principal.expiresAt.getTime() - Date.now();
        if (inMs <= MAX_TIMER_MS) {
          expiry = setTimeout(once, Math.max(0, inMs));
          expiry.unref();
        }
      }
      return () => {
        done = true;
        forget();
      };
    },
    /** Runs the database re-check now (tests; the timer calls it every `recheckIntervalMs`). */
    recheck,
    /** Tokens with something open (metrics, tests). */
    watchedTokens(): number {
      return watchers.size;
    },
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      await revocations.return?.();
      await running;
    },
  };
}

export type TokenWatch = ReturnType<typeof createTokenWatch>;
