import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenWatch, type TokenWatch } from '../../src/auth/token-watch.ts';
import { createApiToken, resolveApiToken } from '../../src/auth/tokens.ts';
import type { Principal } from '../../src/domain/principal.ts';
import type { Database } from '../../src/db/client.ts';
import { createEventBus, type EventBus } from '../../src/events/bus.ts';
import { createLogger } from '../../src/logger.ts';
import { openTestDatabase } from '../support/harness.ts';

let db: Database;
let close: () => Promise<void>;
let bus: EventBus;
let watch: TokenWatch;

beforeAll(async () => {
  ({ db, close } = await openTestDatabase());
  bus = createEventBus();
  // No periodic re-check during these tests: each path is triggered explicitly.
  watch = createTokenWatch({ bus, sql: db.sql, logger: createLogger('silent'), recheckIntervalMs: 3_600_000 });
});
afterAll(async () => {
  await watch?.stop();
  await close?.();
});

/** A principal of a fresh token; `expiresInMs` sets the expiry the watch sees (the row gets a far one, so resolving never races it). */
async function principal(expiresInMs: number | null = null): Promise<Principal> {
  const expiresAt = expiresInMs == null ? null : new Date(Date.now() + 3_600_000);
  const { token } = await createApiToken(db.prisma, { name: 'w', role: 'viewer', tenantId: 'default', expiresAt });
  const p = (await resolveApiToken(db.prisma, token))!;
  return expiresInMs == null ? p : { ...p, expiresAt: new Date(Date.now() + expiresInMs) };
}

function fired(p: Principal): { promise: Promise<void>; count: () => number; unwatch: () => void } {
  let n = 0;
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  const unwatch = watch.watch(p, () => {
    n++;
    resolve();
  });
  return { promise, count: () => n, unwatch };
}

describe('token watch', () => {
  it("a tokenRevoked event ends exactly that token's sessions, once", async () => {
    const [a, b] = [await principal(), await principal()];
    const a1 = fired(a);
    const a2 = fired(a);
    const b1 = fired(b);
    bus.publish('tokenRevoked', { tokenId: a.tokenId, tenantId: 'default', at: Date.now() });
    await Promise.all([a1.promise, a2.promise]);
    bus.publish('tokenRevoked', { tokenId: a.tokenId, tenantId: 'default', at: Date.now() });
    await watch.recheck();
    expect([a1.count(), a2.count(), b1.count()]).toEqual([1, 1, 0]);
    b1.unwatch();
  });

  it('the database re-check ends sessions of tokens revoked or deleted elsewhere, and keeps valid ones', async () => {
    const [revoked, deleted, valid] = [await principal(), await principal(), await principal()];
    const r = fired(revoked);
    const d = fired(deleted);
    const v = fired(valid);
    await db.prisma.apiToken.update({ where: { id: revoked.tokenId }, data: { revokedAt: new Date() } });
    await db.prisma.apiToken.delete({ where: { id: deleted.tokenId } });
    await watch.recheck();
    await Promise.all([r.promise, d.promise]);
    expect(v.count()).toBe(0);
    v.unwatch();
  });

  it('a timer ends a session when its token expires, without waiting for the re-check', async () => {
    const p = await principal(200);
    await fired(p).promise;
  });

  it('unwatching stops notifications and forgets the token', async () => {
    const before = watch.watchedTokens();
    const p = await principal(60_000);
    const w = fired(p);
    expect(watch.watchedTokens()).toBe(before + 1);
    w.unwatch();
    expect(watch.watchedTokens()).toBe(before);
    bus.publish('tokenRevoked', { tokenId: p.tokenId, tenantId: 'default', at: Date.now() });
    await db.prisma.apiToken.update({ where: { id: p.tokenId }, data: { revokedAt: new Date() } });
    await watch.recheck();
    expect(w.count()).toBe(0);
  });
});
