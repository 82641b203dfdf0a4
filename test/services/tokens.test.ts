import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveApiToken } from '../../src/auth/tokens.ts';
import type { Database } from '../../src/db/client.ts';
import { NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { systemActor } from '../../src/domain/principal.ts';
import { createEventBus, type TokenRevokedEvent } from '../../src/events/bus.ts';
import { createTokenService } from '../../src/services/tokens.ts';
import { modeName, openTestDatabase } from '../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

function service() {
  const bus = createEventBus();
  const revoked: TokenRevokedEvent[] = [];
  const publish = bus.publish.bind(bus);
  bus.publish = ((type, event) => {
    if (type === 'tokenRevoked') revoked.push(event as TokenRevokedEvent);
    publish(type, event);
  }) as typeof bus.publish;
  return { tokens: createTokenService({ prisma: db.prisma, bus }), revoked };
}

async function audited(target: string) {
  const rows = await db.prisma.auditEvent.findMany({ where: { target }, orderBy: { id: 'asc' } });
  return rows.map((r) => ({ tenantId: r.tenantId, actor: r.actor, actorName: r.actorName, action: r.action, details: r.details }));
}

describe(`the token service on a database (${modeName})`, () => {
  const admin = { tenantId: 'acme', actor: 'token:00000000-0000-4000-8000-000000000001', actorName: 'ops admin' };

  it('creates a token in the actor tenant that then authenticates, audited with it', async () => {
    const { tokens } = service();
    const created = await tokens.create(admin, { name: ' ci deploy ', role: 'operator' });
    expect(created.apiToken).toMatchObject({ tenantId: 'acme', name: 'ci deploy', role: 'operator', createdBy: admin.actor, revokedAt: null });
    expect(created.apiToken).not.toHaveProperty('tokenHash');
    expect(await resolveApiToken(db.prisma, created.token)).toMatchObject({ tokenId: created.apiToken.id, tenantId: 'acme', role: 'operator' });
    expect(await audited(`apiToken:${created.apiToken.id}`)).toEqual([
      {
        tenantId: 'acme',
        actor: admin.actor,
        actorName: 'ops admin',
        action: 'apiToken.create',
        details: { name: 'ci deploy', role: 'operator', expiresAt: null },
      },
    ]);
    expect((await tokens.list('acme')).map((t) => t.id)).toContain(created.apiToken.id);
  });

  it('refuses bad requests and other tenants with issues under input, creating nothing', async () => {
    const { tokens } = service();
    const before = await db.prisma.apiToken.count();
    const refusal = (request: Parameters<typeof tokens.create>[1]) =>
      tokens.create(admin, request).then(
        () => null,
        (error: unknown) => error,
      );

    const bad = await refusal({ name: '', role: 'admin', expiresAt: new Date(Date.now() - 1000) });
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).issues.map((i) => [i.path.join('.'), i.code])).toEqual([
      ['input.name', 'INVALID_NAME'],
      ['input.expiresAt', 'IN_THE_PAST'],
    ]);
    const other = await refusal({ name: 'x', role: 'admin', tenantId: 'elsewhere' });
    expect((other as ValidationError).issues.map((i) => [i.path.join('.'), i.code])).toEqual([['input.tenantId', 'OTHER_TENANT']]);
    expect(await db.prisma.apiToken.count()).toBe(before);
  });

  it('revokes a token of the actor tenant once, announces every revocation, and does not see other tenants', async () => {
    const { tokens, revoked } = service();
    const { apiToken } = await tokens.create(admin, { name: 'to revoke', role: 'viewer' });
    const first = await tokens.revoke(admin, apiToken.id);
    expect(first.revokedAt).toBeInstanceOf(Date);
    const again = await tokens.revoke(admin, apiToken.id);
    expect(again.revokedAt).toEqual(first.revokedAt);
    expect(revoked.map((e) => [e.tokenId, e.tenantId])).toEqual([
      [apiToken.id, 'acme'],
      [apiToken.id, 'acme'],
    ]);
    expect((await audited(`apiToken:${apiToken.id}`)).map((a) => [a.action, a.details])).toEqual([
      ['apiToken.create', { name: 'to revoke', role: 'viewer', expiresAt: null }],
      ['apiToken.revoke', { name: 'to revoke', role: 'viewer' }],
    ]);
    expect((await tokens.list('acme')).map((t) => t.id)).not.toContain(apiToken.id);
    expect((await tokens.list('acme', { includeRevoked: true })).map((t) => t.id)).toContain(apiToken.id);

    const foreign = await tokens.create(systemActor('other', 'test'), { name: 'theirs', role: 'viewer' });
    await expect(tokens.revoke(admin, foreign.apiToken.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(tokens.revoke(admin, 'not-a-uuid')).rejects.toBeInstanceOf(NotFoundError);
  });
});
