import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_REFUSED_METRIC, REVOKED_SESSIONS_METRIC } from '../../src/http/graphql.ts';
import { hashSecret } from '../../src/security/secrets.ts';
import { graphql } from '../generated/gql.ts';
import type { AuditLogQuery } from '../generated/graphql.ts';
import { modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const CreateToken = graphql(`
  mutation CreateToken($input: CreateApiTokenInput!) {
    createApiToken(input: $input) {
      __typename
      ... on CreatedApiToken { token apiToken { id name role tenantId createdBy expiresAt revokedAt } }
      ... on ValidationError { code fieldErrors { path code message } }
    }
  }
`);

const RevokeToken = graphql(`
  mutation RevokeToken($id: ID!) {
    revokeApiToken(id: $id) {
      __typename
      ... on RevokedApiToken { apiToken { id revokedAt } }
      ... on NotFound { code resource key }
    }
  }
`);

const ListTokens = graphql(`
  query ListTokens($includeRevoked: Boolean) {
    apiTokens(includeRevoked: $includeRevoked) { id name role tenantId createdAt createdBy expiresAt revokedAt lastUsedAt }
  }
`);

const AuditLog = graphql(`
  query AuditLog($first: Int, $after: String, $action: String, $target: String) {
    auditLog(first: $first, after: $after, action: $action, target: $target) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { id actor actorName action target details createdAt } }
    }
  }
`);

const TWIN_CHANGED = `subscription { twinChanged { deviceId version } }`;

let t: TestServer;
beforeAll(async () => {
  // A short re-check so revocations made behind the API's back (another instance, the CLI) show quickly.
  t = await startTestServer({ API_TOKEN_RECHECK_MS: '200' });
});
afterAll(async () => {
  await t?.stop();
});

async function create(input: { name: string; role: 'ADMIN' | 'OPERATOR' | 'VIEWER'; tenantId?: string; expiresAt?: string }, as = t.token) {
  const r = await t.gql(CreateToken, { input }, as);
  const p = r.data?.createApiToken;
  if (p?.__typename !== 'CreatedApiToken') throw new Error(`createApiToken failed: ${JSON.stringify(r)}`);
  return p;
}

async function registerDevice(): Promise<string> {
  const deviceId = uniqueDeviceId('tok');
  const r = await t.gql(`mutation R($d: String!) { registerDevice(input: {deviceId: $d}) { __typename } }`, { d: deviceId });
  expect(r.data).toEqual({ registerDevice: { __typename: 'DeviceWithCredentials' } });
  return deviceId;
}

/** Resolves with the close code of a graphql-ws client's socket. */
function closeCode(client: ReturnType<TestServer['ws']>): Promise<number> {
  return new Promise((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
}

async function activeWs(): Promise<number> {
  return t.running.metrics.get('doppel_graphql_ws_operations_active');
}

describe(`API tokens over GraphQL (${modeName})`, () => {
  it('creates a token that works with its role, shows it once and stores only its SHA-256', async () => {
    const created = await create({ name: 'dashboard', role: 'VIEWER' });
    expect(created.token).toMatch(/^dpl_[A-Za-z0-9_-]{43}$/);
    expect(created.apiToken).toMatchObject({ name: 'dashboard', role: 'VIEWER', tenantId: 'default', revokedAt: null, expiresAt: null });
    expect(created.apiToken.createdBy).toMatch(/^token:[0-9a-f-]{36}$/);
    const row = await t.database.prisma.apiToken.findUniqueOrThrow({ where: { id: created.apiToken.id } });
    expect(row.tokenHash).toBe(hashSecret(created.token));

    const read = await t.gql(`{ devices { totalCount } }`, {}, created.token);
    expect(read.errors).toBeUndefined();
    const forbiddenBefore = t.running.metrics.get(AUTH_REFUSED_METRIC, { code: 'FORBIDDEN' });
    const write = await t.gql(`mutation { registerDevice(input: {deviceId: "${uniqueDeviceId()}"}) { __typename } }`, {}, created.token);
    expect(write.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(write.errors?.[0]?.message).toMatch(/needs the admin role; this token has viewer/);
    expect(t.running.metrics.get(AUTH_REFUSED_METRIC, { code: 'FORBIDDEN' })).toBe(forbiddenBefore + 1);

    // Listed without the secret, in the caller's tenant only.
    const list = await t.gql(ListTokens, {});
    const listed = list.data?.apiTokens.find((tok) => tok.id === created.apiToken.id);
    expect(listed).toMatchObject({ name: 'dashboard', role: 'VIEWER' });
    expect(JSON.stringify(list)).not.toContain(created.token);
    expect(JSON.stringify(list)).not.toContain(row.tokenHash.slice(7));
  });

  it('refuses bad requests field by field and tokens for another tenant; creates nothing', async () => {
    const before = await t.database.prisma.apiToken.count();
    const bad = await t.gql(CreateToken, { input: { name: ' ', role: 'ADMIN', tenantId: 'bad tenant!', expiresAt: '2001-01-01T00:00:00Z' } });
    expect(bad.data?.createApiToken).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      fieldErrors: [
        { path: ['input', 'name'], code: 'INVALID_NAME' },
        { path: ['input', 'tenantId'], code: 'INVALID_TENANT' },
        { path: ['input', 'expiresAt'], code: 'IN_THE_PAST' },
      ],
    });
    const foreign = await t.gql(CreateToken, { input: { name: 'x', role: 'ADMIN', tenantId: 'acme' } });
    expect(foreign.data?.createApiToken).toMatchObject({ __typename: 'ValidationError', fieldErrors: [{ path: ['input', 'tenantId'], code: 'OTHER_TENANT' }] });
    const badRole = await t.gql(`mutation { createApiToken(input: {name: "x", role: ROOT}) { __typename } }`);
    expect(badRole.errors?.[0]?.message).toMatch(/ROOT/);
    expect(await t.database.prisma.apiToken.count()).toBe(before);
  });

  it('revokes a token: refused at once, listed only with includeRevoked, revoking again changes nothing', async () => {
    const created = await create({ name: 'short-lived', role: 'OPERATOR' });
    const revoked = await t.gql(RevokeToken, { id: created.apiToken.id });
    expect(revoked.data?.revokeApiToken).toMatchObject({ __typename: 'RevokedApiToken', apiToken: { id: created.apiToken.id } });
    const revokedAt = revoked.data?.revokeApiToken.__typename === 'RevokedApiToken' ? revoked.data.revokeApiToken.apiToken.revokedAt : null;
    expect(revokedAt).toBeTruthy();

    const unauthenticatedBefore = t.running.metrics.get(AUTH_REFUSED_METRIC, { code: 'UNAUTHENTICATED', transport: 'http' });
    const refused = await t.gql(`{ devices { totalCount } }`, {}, created.token);
    expect(refused.status).toBe(401);
    expect(t.running.metrics.get(AUTH_REFUSED_METRIC, { code: 'UNAUTHENTICATED', transport: 'http' })).toBe(unauthenticatedBefore + 1);
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    expect((await t.gql(ListTokens, {})).data?.apiTokens.map((tok) => tok.id)).not.toContain(created.apiToken.id);
    expect((await t.gql(ListTokens, { includeRevoked: true })).data?.apiTokens.map((tok) => tok.id)).toContain(created.apiToken.id);

    const again = await t.gql(RevokeToken, { id: created.apiToken.id });
    expect(again.data?.revokeApiToken).toMatchObject({ __typename: 'RevokedApiToken', apiToken: { revokedAt } });
    const audits = await t.gql(AuditLog, { action: 'apiToken.revoke', target: `apiToken:${created.apiToken.id}` });
    expect(audits.data?.auditLog.edges).toHaveLength(1);

    for (const id of ['not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      expect((await t.gql(RevokeToken, { id })).data?.revokeApiToken).toMatchObject({
        __typename: 'NotFound',
        code: 'NOT_FOUND',
        resource: 'ApiToken',
        key: id,
      });
    }
  });

  it('records when a token was last used, at most once a minute', async () => {
    const created = await create({ name: 'last used', role: 'VIEWER' });
    const listed = async () => (await t.gql(ListTokens, {})).data!.apiTokens.find((tok) => tok.id === created.apiToken.id)!;
    expect((await listed()).lastUsedAt).toBeNull();
    const before = Date.now();
    expect((await t.gql(`{ devices(first: 1) { totalCount } }`, {}, created.token)).status).toBe(200);
    const first = (await listed()).lastUsedAt;
    expect(Date.parse(first as string)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(first as string)).toBeLessThanOrEqual(Date.now());
    // Used again within the minute: not written again.
    expect((await t.gql(`{ devices(first: 1) { totalCount } }`, {}, created.token)).status).toBe(200);
    expect((await listed()).lastUsedAt).toBe(first);
  });

  it('an expired token is refused', async () => {
    const created = await create({ name: 'expiring', role: 'VIEWER', expiresAt: new Date(Date.now() + 60_000).toISOString() });
    expect((await t.gql(`{ devices { totalCount } }`, {}, created.token)).status).toBe(200);
    await t.database.prisma.apiToken.update({ where: { id: created.apiToken.id }, data: { expiresAt: new Date(Date.now() - 1) } });
    expect((await t.gql(`{ devices { totalCount } }`, {}, created.token)).status).toBe(401);
  });
});

describe(`revocation ends open subscriptions (${modeName})`, () => {
  it("graphql-ws: revokeApiToken closes the token's sockets with 4403; other tokens keep streaming", async () => {
    const victim = await create({ name: 'ws victim', role: 'VIEWER' });
    const bystander = await create({ name: 'ws bystander', role: 'VIEWER' });
    const base = await activeWs();
    const victimClient = t.ws(victim.token);
    const victimClosed = closeCode(victimClient);
    const victimSub = subscribe<{ twinChanged: { deviceId: string } }>(victimClient, TWIN_CHANGED);
    const otherSub = subscribe<{ twinChanged: { deviceId: string } }>(t.ws(bystander.token), TWIN_CHANGED);
    await t.waitForSubscriptions(base + 2);
    const endedBefore = t.running.metrics.get(REVOKED_SESSIONS_METRIC, { kind: 'ws_connection' });

    expect((await t.gql(RevokeToken, { id: victim.apiToken.id })).data?.revokeApiToken.__typename).toBe('RevokedApiToken');
    expect(await victimClosed).toBe(4403);
    expect(t.running.metrics.get(REVOKED_SESSIONS_METRIC, { kind: 'ws_connection' })).toBe(endedBefore + 1);

    const deviceId = await registerDevice();
    await t.gql(`mutation M($d: String!) { updateDesired(deviceId: $d, patch: {after: "revoke"}) { __typename } }`, { d: deviceId });
    let event = await otherSub.next();
    while (event.data?.twinChanged.deviceId !== deviceId) event = await otherSub.next();
    expect(victimSub.error).toBeTruthy();
    otherSub.unsubscribe();
  });

  it('SSE: the stream ends with an UNAUTHENTICATED error', async () => {
    const victim = await create({ name: 'sse victim', role: 'VIEWER' });
    const response = await fetch(t.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${victim.token}` },
      body: JSON.stringify({ query: TWIN_CHANGED }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const deviceId = await registerDevice();
    const probe = async () => t.gql(`mutation M($d: String!) { updateDesired(deviceId: $d, patch: {p: ${Date.now()}}) { __typename } }`, { d: deviceId });
    // Keep changing the twin until the stream shows an event: from then on the subscription is live.
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += decoder.decode(value, { stream: true });
      }
    })();
    while (!text.includes(deviceId)) {
      await probe();
      await new Promise((r) => setTimeout(r, 50));
    }
    await t.gql(RevokeToken, { id: victim.apiToken.id });
    const all = await reading;
    const lastData = all
      .trim()
      .split('\n\n')
      .filter((chunk) => chunk.includes('event: next'))
      .at(-1)!;
    expect(lastData).toMatch(/UNAUTHENTICATED/);
    expect(all).toMatch(/event: complete/);
  });

  it("a token revoked behind the API's back (another instance, the CLI) or expiring ends its subscriptions too", async () => {
    const revokedElsewhere = await create({ name: 'revoked elsewhere', role: 'VIEWER' });
    const expiring = await create({ name: 'expiring', role: 'VIEWER', expiresAt: new Date(Date.now() + 60 * 60_000).toISOString() });
    const base = await activeWs();
    const a = t.ws(revokedElsewhere.token);
    const aClosed = closeCode(a);
    subscribe(a, TWIN_CHANGED);
    const b = t.ws(expiring.token);
    const bClosed = closeCode(b);
    subscribe(b, TWIN_CHANGED);
    await t.waitForSubscriptions(base + 2);

    // Straight in the database, as another instance's revokeApiToken or `npm run token -- revoke` would.
    await t.database.prisma.apiToken.update({ where: { id: revokedElsewhere.apiToken.id }, data: { revokedAt: new Date() } });
    expect(await aClosed).toBe(4403);
    // An expiry moved into the past is noticed by the same periodic re-check.
    await t.database.prisma.apiToken.update({ where: { id: expiring.apiToken.id }, data: { expiresAt: new Date(Date.now() - 1) } });
    expect(await bClosed).toBe(4403);
  });
});

describe(`audit log (${modeName})`, () => {
  it('records token, device and desired-state actions with their actor, and never a secret', async () => {
    const admin = await create({ name: 'auditor', role: 'ADMIN' });
    const adminId = admin.apiToken.id;
    const as = admin.token;
    const deviceId = uniqueDeviceId('aud');
    const reg = await t.gql(
      `mutation R($d: String!) { registerDevice(input: {deviceId: $d, tags: ["a"]}) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { d: deviceId },
      as,
    );
    const password = (reg.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials.password;
    await t.gql(`mutation M($d: String!) { updateDesired(deviceId: $d, patch: {fan: "on"}) { __typename } }`, { d: deviceId }, as);
    await t.gql(`mutation M($d: String!) { rotateDeviceCredentials(deviceId: $d) { __typename } }`, { d: deviceId }, as);
    const tok = await create({ name: 'made by auditor', role: 'VIEWER' }, as);
    await t.gql(RevokeToken, { id: tok.apiToken.id }, as);
    await t.gql(`mutation M($d: String!) { deleteDevice(deviceId: $d) { __typename } }`, { d: deviceId }, as);
    expect(password).toBeTruthy();

    const log = await t.gql(AuditLog, { first: 500 });
    const mine = log.data!.auditLog.edges.map((e) => e.node).filter((e) => e.actor === `token:${adminId}`);
    expect(mine.map((e) => [e.action, e.target]).reverse()).toEqual([
      ['device.register', `device:${deviceId}`],
      ['twin.updateDesired', `device:${deviceId}`],
      ['device.rotateCredentials', `device:${deviceId}`],
      ['apiToken.create', `apiToken:${tok.apiToken.id}`],
      ['apiToken.revoke', `apiToken:${tok.apiToken.id}`],
      ['device.delete', `device:${deviceId}`],
    ]);
    expect(mine.every((e) => e.actorName === 'auditor')).toBe(true);
    expect(mine.find((e) => e.action === 'twin.updateDesired')?.details).toMatchObject({ patch: { fan: 'on' }, changed: true });
    expect(mine.find((e) => e.action === 'apiToken.create')?.details).toMatchObject({ name: 'made by auditor', role: 'viewer' });
    // No secret ever lands in the log.
    expect(JSON.stringify(log)).not.toContain(password);
    expect(JSON.stringify(log)).not.toContain(tok.token);
    // The admin token itself was created by the test's admin token.
    const creation = await t.gql(AuditLog, { action: 'apiToken.create', target: `apiToken:${adminId}` });
    expect(creation.data?.auditLog.edges.map((e) => e.node.actor)).toEqual([expect.stringMatching(/^token:/)]);
  });

  it('pages newest first with first/after and filters by action and target', async () => {
    const deviceId = await registerDevice();
    for (let i = 0; i < 5; i++) await t.gql(`mutation M($d: String!) { updateDesired(deviceId: $d, patch: {i: ${i}}) { __typename } }`, { d: deviceId });
    const target = `device:${deviceId}`;
    const seen: unknown[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Awaited<ReturnType<typeof t.gql<AuditLogQuery, unknown>>> = await t.gql(AuditLog, { first: 2, after, action: 'twin.updateDesired', target });
      seen.push(...page.data!.auditLog.edges.map((e) => (e.node.details as { patch: { i: number } }).patch.i));
      if (!page.data!.auditLog.pageInfo.hasNextPage) break;
      after = page.data!.auditLog.pageInfo.endCursor ?? null;
    }
    expect(seen).toEqual([4, 3, 2, 1, 0]);
    const bad = await t.gql(AuditLog, { first: 2, after: 'x' });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const tooMany = await t.gql(AuditLog, { first: 501 });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
