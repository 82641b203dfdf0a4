import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenCache, type TokenCache } from '../../src/auth/token-cache.ts';
import { createApiToken } from '../../src/auth/tokens.ts';
import type { Database } from '../../src/db/client.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { createRedisFanout, type FanoutBus } from '../../src/events/redis-fanout.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { systemActor } from '../../src/domain/principal.ts';
import { createTokenService } from '../../src/services/tokens.ts';
import { until } from '../support/commands.ts';
import { externalRedisUrl, modeName, openTestDatabase } from '../support/harness.ts';

// The in-memory cache of verified API tokens (src/auth/token-cache.ts): the database is read on a miss
// and once the recheck bound has passed, never in between; revocations and expiries apply at once.
// A fake clock drives the bound, so no test waits for time to pass.

const logger = createLogger('silent');
const RECHECK_MS = 30_000;

let db: Database;
let close: () => Promise<void>;
const caches: TokenCache[] = [];

beforeAll(async () => {
  ({ db, close } = await openTestDatabase());
}, 120_000);
afterAll(async () => {
  for (const cache of caches) await cache.stop();
  await close?.();
});

function clock() {
  let now = Date.now();
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function cache(options: { bus?: ReturnType<typeof createEventBus>; maxEntries?: number; now?: () => number; listen?: boolean } = {}) {
  const created = createTokenCache({
    prisma: db.prisma,
    ...(options.listen ? { database: db } : {}),
    bus: options.bus ?? createEventBus(),
    logger,
    recheckMs: RECHECK_MS,
    maxEntries: options.maxEntries ?? 100,
    ...(options.now ? { now: options.now } : {}),
  });
  caches.push(created);
  return created;
}

const token = (expiresAt: Date | null = null) => createApiToken(db.prisma, { name: 'cached', role: 'operator', tenantId: 'default', expiresAt });
/** As `npm run token -- revoke` does it: straight in the database, no event on any bus. */
const revokeInDatabase = (id: string) => db.prisma.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });

describe(`API token cache (${modeName})`, () => {
  it('answers from memory within the recheck bound and verifies in the database after it', async () => {
    const time = clock();
    const c = cache({ now: time.now });
    const t = await token();
    expect(await c.resolve(t.token)).toMatchObject({ tokenId: t.id, role: 'operator', tenantId: 'default' });
    // Revoked behind the cache's back with no notification (nothing listens): still the cached answer…
    await revokeInDatabase(t.id);
    time.advance(RECHECK_MS - 1);
    expect(await c.resolve(t.token)).toMatchObject({ tokenId: t.id });
    // …until the bound passes: then the database says no, and the entry is gone.
    time.advance(1);
    expect(await c.resolve(t.token)).toBeNull();
    expect(c.size()).toBe(0);
  });

  it('a CLI revocation is applied at once when the cache listens to the database', async () => {
    const c = cache({ listen: true });
    await c.start();
    const t = await token();
    expect(await c.resolve(t.token)).not.toBeNull();
    await revokeInDatabase(t.id);
    await until(() => c.size() === 0, 'the database notification to drop the entry', 60_000);
    expect(await c.resolve(t.token)).toBeNull();
  }, 120_000);

  it('a revocation through this instance is applied at once, before the database is asked again', async () => {
    const bus = createEventBus();
    const c = cache({ bus });
    const tokens = createTokenService({ prisma: db.prisma, bus });
    const t = await token();
    expect(await c.resolve(t.token)).not.toBeNull();
    await tokens.revoke(systemActor('default', 'test'), t.id);
    expect(c.size()).toBe(0);
    expect(await c.resolve(t.token)).toBeNull();
  });

  it('an expired token is refused at once, even cached and well within the bound', async () => {
    const time = clock();
    const c = cache({ now: time.now });
    const t = await token(new Date(time.now() + 5_000));
    expect(await c.resolve(t.token)).not.toBeNull();
    time.advance(5_000);
    expect(await c.resolve(t.token)).toBeNull();
    expect(c.size()).toBe(0);
  });

  it('is bounded: the least recently used entry goes first, and an evicted token still resolves', async () => {
    const c = cache({ maxEntries: 2 });
    const [a, b, d] = [await token(), await token(), await token()];
    await c.resolve(a.token);
    await c.resolve(b.token);
    await c.resolve(a.token); // a is now the most recently used
    await c.resolve(d.token); // evicts b
    expect(c.size()).toBe(2);
    // b was evicted: revoking it in the database is seen at once (it is looked up), a and d are cached.
    await revokeInDatabase(b.id);
    expect(await c.resolve(b.token)).toBeNull();
    expect(await c.resolve(a.token)).toMatchObject({ tokenId: a.id });
    expect(await c.resolve(d.token)).toMatchObject({ tokenId: d.id });
  });

  it('caches no refusals: unknown, malformed and revoked tokens take no room', async () => {
    const c = cache();
    const t = await token();
    await revokeInDatabase(t.id);
    expect(await c.resolve(t.token)).toBeNull();
    expect(await c.resolve(`dpl_${randomBytes(24).toString('base64url')}`)).toBeNull();
    expect(await c.resolve('not-a-token')).toBeNull();
    expect(c.size()).toBe(0);
  });

  it('a revocation that lands while the token is being looked up is not undone by caching the lookup', async () => {
    const bus = createEventBus();
    const c = cache({ bus });
    const t = await token();
    const lookup = c.resolve(t.token);
    bus.publish('tokenRevoked', { tokenId: t.id, tenantId: 'default', at: Date.now() });
    await lookup;
    expect(c.size()).toBe(0);
  });
});

const redisSuite = externalRedisUrl ? describe : describe.skip;

redisSuite(`API token cache across instances through Redis (${modeName})`, () => {
  const channel = `doppel:test:${randomBytes(4).toString('hex')}`;
  let here: FanoutBus;
  let other: FanoutBus;
  beforeAll(async () => {
    const options = { url: externalRedisUrl!, channel, logger, metrics: new Metrics() };
    here = await createRedisFanout(createEventBus(), options);
    other = await createRedisFanout(createEventBus(), options);
  });
  afterAll(async () => {
    await other?.close();
    await here?.close();
  });

  it('a revocation through another instance drops the entry here as soon as Redis delivers it', async () => {
    const c = cache({ bus: here });
    const t = await token();
    expect(await c.resolve(t.token)).not.toBeNull();
    // What the other instance's revokeApiToken publishes; the row itself is left valid, so only the
    // event can have dropped the entry.
    other.publish('tokenRevoked', { tokenId: t.id, tenantId: 'default', at: Date.now() });
    await until(() => c.size() === 0, 'the revocation to arrive through Redis', 60_000);
  }, 120_000);
});
