/**
 * Provisioning over MQTT (docs/onboarding.md "Provisioning"), end to end with mqtt.js against the real
 * broker: claim token, allow-list and group key, every refusal path with its stored reason code, the
 * re-provisioning policies, and the concurrency guarantees (one winner per id, maxDevices never
 * exceeded).
 *
 * Embedded (Aedes): Doppel is the broker, so it refuses bad tokens at CONNECT and foreign topics itself.
 * External (Mosquitto of the test setup, anonymous): the broker's authentication is its own (the HTTP
 * auth endpoints are tested in provisioning-broker-auth.test.ts); the requests reach Doppel through its
 * shared subscription and name their policy with `claimToken`, which these tests always send.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connackCode, embeddedBroker, messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

interface PolicyOptions {
  mode: 'CLAIM_TOKEN' | 'GROUP_KEY' | 'ALLOW_LIST';
  reprovision?: 'REFUSE' | 'ROTATE';
  maxDevices?: number;
  expiresAt?: string;
  model?: string;
  tags?: string[];
  allowedDeviceIds?: string[];
}

const CREATE = `mutation C($input: CreateProvisioningPolicyInput!) {
  createProvisioningPolicy(input: $input) {
    __typename
    ... on CreateProvisioningPolicyPayload { claimToken groupKey policy { id mode reprovision enabled devicesProvisioned } }
    ... on ValidationError { message fieldErrors { path code } }
    ... on Error { code }
  }
}`;

async function createPolicy(options: PolicyOptions) {
  const r = await t.gql(CREATE, { input: { name: uniqueDeviceId('policy'), ...options } });
  const p = (r.data as { createProvisioningPolicy: { __typename: string; claimToken: string | null; groupKey: string | null; policy: { id: string } } })
    .createProvisioningPolicy;
  if (p.__typename !== 'CreateProvisioningPolicyPayload') throw new Error(`createProvisioningPolicy failed: ${JSON.stringify(r)}`);
  return { id: p.policy.id, claimToken: p.claimToken, groupKey: p.groupKey };
}

type Reply = { topic: string; json: { deviceId?: string; username?: string; password?: string; code?: string; message?: string } };

/** A device's first boot in claim-token mode: connect as `provision`, subscribe, request, read the answer. */
async function provision(token: string, deviceId: string, clientId = uniqueDeviceId('req')): Promise<Reply> {
  const client = await t.mqtt({ username: 'provision', password: token, clientId });
  const messages = messageWaiter(client);
  await client.subscribeAsync(`provision/${clientId}/+`, { qos: 1 });
  await client.publishAsync(`provision/${clientId}/request`, JSON.stringify({ deviceId, claimToken: token }), { qos: 1 });
  const reply = (await messages.nextOf([`provision/${clientId}/accepted`, `provision/${clientId}/rejected`], 30_000)) as Reply;
  await client.endAsync();
  return reply;
}

async function attempts(policyId: string): Promise<Array<{ reason: string; deviceId: string | null; accepted: boolean }>> {
  const r = await t.gql(`query A($p: ID) { provisioningAttempts(policyId: $p, first: 100) { edges { node { reason deviceId accepted } } } }`, { p: policyId });
  const edges = (r.data as { provisioningAttempts: { edges: Array<{ node: { reason: string; deviceId: string | null; accepted: boolean } }> } })
    .provisioningAttempts.edges;
  return edges.map((e) => e.node).reverse();
}

const reasons = async (policyId: string) => (await attempts(policyId)).map((a) => a.reason);
const derive = (groupKey: string, deviceId: string) => createHmac('sha256', Buffer.from(groupKey, 'utf8')).update(deviceId, 'utf8').digest('base64');

/** Connects as the device with its credentials and reports once: it is an ordinary device now. */
async function reportAs(deviceId: string, password: string): Promise<void> {
  const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-check` });
  const messages = messageWaiter(client);
  await client.subscribeAsync(`devices/${deviceId}/twin/#`, { qos: 1 });
  await client.publishAsync(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { booted: true }, clientToken: 'p1' }), { qos: 1 });
  const reply = await messages.nextOf([`devices/${deviceId}/twin/reported/accepted`, `devices/${deviceId}/twin/reported/rejected`], 30_000);
  expect(reply.topic).toBe(`devices/${deviceId}/twin/reported/accepted`);
  await client.endAsync();
}

describe(`provisioning over MQTT (${modeName})`, () => {
  it('claim token: a device asks for its id, gets its credentials once, connects with them; model and tags of the policy', async () => {
    const model = uniqueDeviceId('prov-model');
    const policy = await createPolicy({ mode: 'CLAIM_TOKEN', model, tags: ['site:lab', 'provisioned'] });
    const deviceId = uniqueDeviceId('claimed');
    const reply = await provision(policy.claimToken!, deviceId);
    expect(reply.topic).toMatch(/\/accepted$/);
    expect(reply.json).toMatchObject({ deviceId, username: deviceId });
    await reportAs(deviceId, reply.json.password!);
    const device = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId }, include: { model: true } });
    expect(device.tags).toEqual(['site:lab', 'provisioned']);
    expect(device.model?.name).toBe(model);
    expect(await reasons(policy.id)).toEqual(['ACCEPTED']);
    const audit = await t.database.prisma.auditEvent.findMany({ where: { target: `device:${deviceId}` } });
    expect(audit.map((a) => [a.action, a.actor])).toEqual([['device.register', `provisioningPolicy:${policy.id}`]]);
  }, 60_000);

  it('re-provisioning: REFUSE answers ALREADY_PROVISIONED; ROTATE issues new credentials (the old ones stop working) and audits it', async () => {
    const refuse = await createPolicy({ mode: 'CLAIM_TOKEN', reprovision: 'REFUSE' });
    const a = uniqueDeviceId('reprov');
    expect((await provision(refuse.claimToken!, a)).topic).toMatch(/accepted$/);
    const again = await provision(refuse.claimToken!, a);
    expect(again.json).toMatchObject({ code: 'ALREADY_PROVISIONED' });
    expect(again.json.password).toBeUndefined();

    const rotate = await createPolicy({ mode: 'CLAIM_TOKEN', reprovision: 'ROTATE' });
    const b = uniqueDeviceId('reprov');
    const first = await provision(rotate.claimToken!, b);
    const second = await provision(rotate.claimToken!, b);
    expect(second.topic).toMatch(/accepted$/);
    expect(second.json.password).not.toBe(first.json.password);
    await reportAs(b, second.json.password!);
    if (embeddedBroker) expect(await connackCode(t.mqttUrl, b, first.json.password!)).toBe(4);
    expect(await reasons(rotate.id)).toEqual(['ACCEPTED', 'ROTATED']);
    const audit = await t.database.prisma.auditEvent.findMany({ where: { target: `device:${b}` }, orderBy: { id: 'asc' } });
    expect(audit.map((e) => e.action)).toEqual(['device.register', 'device.rotateCredentials', 'provisioning.rotate']);

    // ROTATE never takes an id another policy (or an admin) created.
    const taken = uniqueDeviceId('admin-made');
    await t.gql(`mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { __typename } }`, { id: taken });
    expect((await provision(rotate.claimToken!, taken)).json).toMatchObject({ code: 'ALREADY_PROVISIONED' });
  }, 90_000);

  it('refuses an exhausted and an expired policy, a disabled one, and an invalid device id, each stored with its reason', async () => {
    const one = await createPolicy({ mode: 'CLAIM_TOKEN', maxDevices: 1 });
    expect((await provision(one.claimToken!, uniqueDeviceId('lim'))).topic).toMatch(/accepted$/);
    if (embeddedBroker) {
      // The embedded broker refuses the exhausted token at CONNECT already.
      expect(await connackCode(t.mqttUrl, 'provision', one.claimToken!)).toBe(4);
    } else {
      expect((await provision(one.claimToken!, uniqueDeviceId('lim'))).json).toMatchObject({ code: 'TOKEN_EXHAUSTED' });
    }
    expect(await reasons(one.id)).toEqual(['ACCEPTED', 'TOKEN_EXHAUSTED']);

    const soon = await createPolicy({ mode: 'CLAIM_TOKEN', expiresAt: new Date(Date.now() + 1500).toISOString() });
    await new Promise((r) => setTimeout(r, 1600)); // past its expiry (no timing threshold: only "after")
    if (embeddedBroker) expect(await connackCode(t.mqttUrl, 'provision', soon.claimToken!)).toBe(4);
    else expect((await provision(soon.claimToken!, uniqueDeviceId('late'))).json).toMatchObject({ code: 'TOKEN_EXPIRED' });
    expect(await reasons(soon.id)).toEqual(['TOKEN_EXPIRED']);

    const off = await createPolicy({ mode: 'CLAIM_TOKEN' });
    const r = await t.gql(
      `mutation U($id: ID!) { updateProvisioningPolicy(id: $id, input: {enabled: false}) { __typename ... on ProvisioningPolicy { enabled } } }`,
      {
        id: off.id,
      },
    );
    expect(r.data).toEqual({ updateProvisioningPolicy: { __typename: 'ProvisioningPolicy', enabled: false } });
    if (embeddedBroker) expect(await connackCode(t.mqttUrl, 'provision', off.claimToken!)).toBe(4);
    else expect((await provision(off.claimToken!, uniqueDeviceId('off'))).json).toMatchObject({ code: 'POLICY_DISABLED' });
    expect(await reasons(off.id)).toEqual(['POLICY_DISABLED']);

    const open = await createPolicy({ mode: 'CLAIM_TOKEN' });
    expect((await provision(open.claimToken!, 'no/slashes')).json).toMatchObject({ code: 'INVALID_DEVICE_ID' });
    expect((await provision(open.claimToken!, 'provision')).json).toMatchObject({ code: 'INVALID_DEVICE_ID' });
    expect(await reasons(open.id)).toEqual(['INVALID_DEVICE_ID', 'INVALID_DEVICE_ID']);
  }, 90_000);

  it('a bad claim token is refused and counted', async () => {
    const before = t.running.metrics.get('doppel_provisioning_attempts_total', { mode: 'unknown', reason: 'BAD_TOKEN' });
    if (embeddedBroker) expect(await connackCode(t.mqttUrl, 'provision', 'dpc_not-a-token')).toBe(4);
    else expect((await provision('dpc_not-a-token', uniqueDeviceId('bad'))).json).toMatchObject({ code: 'BAD_TOKEN' });
    expect(t.running.metrics.get('doppel_provisioning_attempts_total', { mode: 'unknown', reason: 'BAD_TOKEN' })).toBe(before + 1);
  }, 60_000);

  it('allow-list: a listed serial is claimed once; an unlisted one is refused', async () => {
    const serial = uniqueDeviceId('serial');
    const policy = await createPolicy({ mode: 'ALLOW_LIST', allowedDeviceIds: [serial] });
    expect((await provision(policy.claimToken!, uniqueDeviceId('unlisted'))).json).toMatchObject({ code: 'NOT_ON_ALLOW_LIST' });
    const ok = await provision(policy.claimToken!, serial);
    expect(ok.topic).toMatch(/accepted$/);
    expect((await provision(policy.claimToken!, serial)).json).toMatchObject({ code: 'ALREADY_CLAIMED' });
    expect(await reasons(policy.id)).toEqual(['NOT_ON_ALLOW_LIST', 'ACCEPTED', 'ALREADY_CLAIMED']);
    const r = await t.gql(`{ provisioningPolicies { id allowedIds claimedIds devicesProvisioned } }`);
    expect((r.data as { provisioningPolicies: Array<{ id: string }> }).provisioningPolicies).toContainEqual({
      id: policy.id,
      allowedIds: 1,
      claimedIds: 1,
      devicesProvisioned: 1,
    });
  }, 60_000);

  it('concurrency: two claims for one id → one device, one ALREADY_PROVISIONED; maxDevices holds under simultaneous claims', async () => {
    const policy = await createPolicy({ mode: 'CLAIM_TOKEN' });
    const id = uniqueDeviceId('race');
    const both = await Promise.all([provision(policy.claimToken!, id), provision(policy.claimToken!, id)]);
    expect(both.map((r) => r.topic.split('/')[2]).sort()).toEqual(['accepted', 'rejected']);
    expect(both.find((r) => r.topic.endsWith('rejected'))!.json.code).toBe('ALREADY_PROVISIONED');
    expect(await t.database.prisma.device.count({ where: { deviceId: id } })).toBe(1);

    const limited = await createPolicy({ mode: 'CLAIM_TOKEN', maxDevices: 3 });
    const ids = Array.from({ length: 8 }, () => uniqueDeviceId('cap'));
    // Every client connects first (the embedded broker checks the counter at CONNECT), then all request at once.
    const clients = await Promise.all(
      ids.map(async (deviceId) => {
        const clientId = uniqueDeviceId('req');
        const client = await t.mqtt({ username: 'provision', password: limited.claimToken!, clientId });
        const messages = messageWaiter(client);
        await client.subscribeAsync(`provision/${clientId}/+`, { qos: 1 });
        return { client, clientId, deviceId, messages };
      }),
    );
    const replies = await Promise.all(
      clients.map(async ({ client, clientId, deviceId, messages }) => {
        await client.publishAsync(`provision/${clientId}/request`, JSON.stringify({ deviceId, claimToken: limited.claimToken }), { qos: 1 });
        return messages.nextOf([`provision/${clientId}/accepted`, `provision/${clientId}/rejected`], 30_000);
      }),
    );
    expect(replies.filter((r) => r.topic.endsWith('/accepted'))).toHaveLength(3);
    expect(replies.filter((r) => r.topic.endsWith('/rejected')).map((r) => (r.json as { code: string }).code)).toEqual(Array(5).fill('TOKEN_EXHAUSTED'));
    expect(await t.database.prisma.device.count({ where: { deviceId: { in: ids } } })).toBe(3);
    const row = await t.database.sql.query<{ devicesProvisioned: number }>(`SELECT "devicesProvisioned" FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [
      limited.id,
    ]);
    expect(row[0]?.devicesProvisioned).toBe(3);
  }, 120_000);
});

const embeddedOnly = embeddedBroker ? describe : describe.skip;

embeddedOnly('provisioning on the embedded broker: the broker side (aedes)', () => {
  it('a provisioning client touching any other topic is refused and the attempt stored as TOPIC_DENIED', async () => {
    const policy = await createPolicy({ mode: 'CLAIM_TOKEN' });
    const clientId = uniqueDeviceId('req');
    const client = await t.mqtt({ username: 'provision', password: policy.claimToken!, clientId });
    // Another client's replies, every reply, and a device topic: SUBACK 0x80 each.
    for (const filter of ['provision/someone-else/+', 'provision/+/accepted', 'devices/#']) {
      const granted = await client.subscribeAsync(filter, { qos: 1 }).then(
        (g) => g[0]?.qos,
        (error: { packet?: { granted?: number[] } }) => error.packet?.granted?.[0],
      );
      expect(granted, filter).toBe(128);
    }
    expect((await client.subscribeAsync(`provision/${clientId}/+`, { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    // Publishing outside its request topic closes the connection.
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(`provision/someone-else/request`, JSON.stringify({ deviceId: uniqueDeviceId('x') }), { qos: 1 });
    await closed;
    for (let i = 0; i < 100 && (await reasons(policy.id)).length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await reasons(policy.id)).toEqual(['TOPIC_DENIED', 'TOPIC_DENIED', 'TOPIC_DENIED', 'TOPIC_DENIED']);
  }, 60_000);

  it('a claim token is no device login, and a device id is no provisioning login', async () => {
    const policy = await createPolicy({ mode: 'CLAIM_TOKEN' });
    expect(await connackCode(t.mqttUrl, uniqueDeviceId('dev'), policy.claimToken!)).toBe(4);
    const r = await t.gql(`mutation { registerDevice(input: {deviceId: "provision"}) { __typename ... on ValidationError { fieldErrors { code } } } }`);
    expect(r.data).toEqual({ registerDevice: { __typename: 'ValidationError', fieldErrors: [{ code: 'INVALID_DEVICE_ID' }] } });
  }, 60_000);

  it('group key: the first connect with the derived key registers the device; a wrong key is refused (BAD_DERIVED_KEY); ROTATE vs REFUSE', async () => {
    const policy = await createPolicy({ mode: 'GROUP_KEY', tags: ['group'], reprovision: 'ROTATE' });
    expect(policy.claimToken).toBeNull();
    const deviceId = uniqueDeviceId('grp');
    const key = derive(policy.groupKey!, deviceId);
    await reportAs(deviceId, key);
    expect((await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } })).tags).toEqual(['group']);
    // It is an ordinary device now: the same key works without provisioning again.
    await reportAs(deviceId, key);
    expect(await reasons(policy.id)).toEqual(['ACCEPTED']);

    const stranger = uniqueDeviceId('grp');
    const before = t.running.metrics.get('doppel_provisioning_attempts_total', { mode: 'unknown', reason: 'BAD_DERIVED_KEY' });
    expect(await connackCode(t.mqttUrl, stranger, derive('not-the-group-key', stranger))).toBe(4);
    expect(await connackCode(t.mqttUrl, stranger, key)).toBe(4); // another device's key
    expect(t.running.metrics.get('doppel_provisioning_attempts_total', { mode: 'unknown', reason: 'BAD_DERIVED_KEY' })).toBe(before + 2);
    expect(await t.database.prisma.device.count({ where: { deviceId: stranger } })).toBe(0);

    // An admin rotated the device's secret; the factory-reset device comes back with its derived key: ROTATE lets it in.
    await t.gql(`mutation R($d: String!) { rotateDeviceCredentials(deviceId: $d) { __typename } }`, { d: deviceId });
    await reportAs(deviceId, key);
    expect(await reasons(policy.id)).toEqual(['ACCEPTED', 'ROTATED']);

    const strict = await createPolicy({ mode: 'GROUP_KEY', reprovision: 'REFUSE' });
    const other = uniqueDeviceId('grp');
    const otherKey = derive(strict.groupKey!, other);
    await reportAs(other, otherKey);
    await t.gql(`mutation R($d: String!) { rotateDeviceCredentials(deviceId: $d) { __typename } }`, { d: other });
    expect(await connackCode(t.mqttUrl, other, otherKey)).toBe(4);
    expect(await reasons(strict.id)).toEqual(['ACCEPTED', 'ALREADY_PROVISIONED']);

    // A revoked device is never let back in by its derived key, whatever the policy.
    await t.gql(`mutation R($d: String!) { revokeDeviceCredentials(deviceId: $d) { __typename } }`, { d: deviceId });
    expect(await connackCode(t.mqttUrl, deviceId, key)).toBe(4);
  }, 90_000);

  it('a group-key policy at its maxDevices refuses the next first connect (TOKEN_EXHAUSTED)', async () => {
    const policy = await createPolicy({ mode: 'GROUP_KEY', maxDevices: 1 });
    const a = uniqueDeviceId('grp');
    const b = uniqueDeviceId('grp');
    await reportAs(a, derive(policy.groupKey!, a));
    expect(await connackCode(t.mqttUrl, b, derive(policy.groupKey!, b))).toBe(4);
    expect(await reasons(policy.id)).toEqual(['ACCEPTED', 'TOKEN_EXHAUSTED']);
  }, 60_000);
});

describe(`provisioning policies over GraphQL (${modeName})`, () => {
  it('refuses bad input with field errors and writes nothing', async () => {
    const r = await t.gql(CREATE, {
      input: { name: 'bad/name', mode: 'CLAIM_TOKEN', maxDevices: 0, expiresAt: '2001-01-01T00:00:00Z', tags: ['no spaces'], allowedDeviceIds: ['x'] },
    });
    const payload = (r.data as { createProvisioningPolicy: { __typename: string; fieldErrors: Array<{ path: string[]; code: string }> } })
      .createProvisioningPolicy;
    expect(payload.__typename).toBe('ValidationError');
    expect(payload.fieldErrors.map((e) => e.code).sort()).toEqual(['INVALID_NAME', 'INVALID_TAG', 'IN_THE_PAST', 'NOT_ALLOW_LIST', 'OUT_OF_RANGE']);
    expect(await t.database.sql.query(`SELECT 1 FROM "ProvisioningPolicy" WHERE name = 'bad/name'`)).toHaveLength(0);
  });

  it('shows the secret once, stores only its hash (claim token) or sealed (group key), and refuses a duplicate name', async () => {
    const name = uniqueDeviceId('policy');
    const r = await t.gql(CREATE, { input: { name, mode: 'CLAIM_TOKEN' } });
    const { claimToken, policy } = (r.data as { createProvisioningPolicy: { claimToken: string; policy: { id: string } } }).createProvisioningPolicy;
    expect(claimToken).toMatch(/^dpc_/);
    const row = await t.database.sql.query<{ tokenHash: string; sealedGroupKey: string | null }>(
      `SELECT "tokenHash", "sealedGroupKey" FROM "ProvisioningPolicy" WHERE id = $1::uuid`,
      [policy.id],
    );
    expect(row[0]!.tokenHash).toMatch(/^sha256:/);
    expect(JSON.stringify(row)).not.toContain(claimToken);
    const dup = await t.gql(CREATE, { input: { name, mode: 'GROUP_KEY' } });
    expect((dup.data as { createProvisioningPolicy: { __typename: string } }).createProvisioningPolicy.__typename).toBe('AlreadyExists');
    const group = await createPolicy({ mode: 'GROUP_KEY' });
    const sealed = await t.database.sql.query<{ sealedGroupKey: string }>(`SELECT "sealedGroupKey" FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [group.id]);
    expect(sealed[0]!.sealedGroupKey).toMatch(/^aes256gcm:/);
    expect(sealed[0]!.sealedGroupKey).not.toContain(group.groupKey!);
    const audit = await t.database.prisma.auditEvent.findMany({ where: { target: `provisioningPolicy:${policy.id}` } });
    expect(audit.map((a) => a.action)).toEqual(['provisioning.createPolicy']);
    expect(JSON.stringify(audit.map((a) => a.details))).not.toContain(claimToken);
  });

  it('deletes a policy (its token stops working; its devices stay) and pages attempts', async () => {
    const policy = await createPolicy({ mode: 'CLAIM_TOKEN' });
    const ids = [uniqueDeviceId('page'), uniqueDeviceId('page'), uniqueDeviceId('page')];
    for (const id of ids) expect((await provision(policy.claimToken!, id)).topic).toMatch(/accepted$/);
    const page = await t.gql(
      `query A($p: ID) { provisioningAttempts(policyId: $p, first: 2) { edges { node { deviceId } } pageInfo { hasNextPage endCursor } } }`,
      {
        p: policy.id,
      },
    );
    const conn = (
      page.data as { provisioningAttempts: { edges: Array<{ node: { deviceId: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string } } }
    ).provisioningAttempts;
    expect(conn.edges.map((e) => e.node.deviceId)).toEqual([ids[2], ids[1]]);
    expect(conn.pageInfo.hasNextPage).toBe(true);
    const next = await t.gql(`query A($p: ID, $a: String) { provisioningAttempts(policyId: $p, first: 2, after: $a) { edges { node { deviceId } } } }`, {
      p: policy.id,
      a: conn.pageInfo.endCursor,
    });
    expect(
      (next.data as { provisioningAttempts: { edges: Array<{ node: { deviceId: string } }> } }).provisioningAttempts.edges.map((e) => e.node.deviceId),
    ).toEqual([ids[0]]);
    const bad = await t.gql(`{ provisioningAttempts(first: 2, after: "%%%") { edges { cursor } } }`);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const d = await t.gql(`mutation D($id: ID!) { deleteProvisioningPolicy(id: $id) { __typename } }`, { id: policy.id });
    expect(d.data).toEqual({ deleteProvisioningPolicy: { __typename: 'DeletedProvisioningPolicy' } });
    expect(await t.database.prisma.device.count({ where: { deviceId: { in: ids } } })).toBe(3);
    if (embeddedBroker) expect(await connackCode(t.mqttUrl, 'provision', policy.claimToken!)).toBe(4);
    else expect((await provision(policy.claimToken!, uniqueDeviceId('gone'))).json).toMatchObject({ code: 'BAD_TOKEN' });
  }, 60_000);
});
