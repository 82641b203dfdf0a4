/**
 * Provisioning through the HTTP authentication / ACL endpoints an external broker calls
 * (src/http/broker-auth.ts), spoken to as EMQX 5 and mosquitto-go-auth speak to them: the `provision`
 * user with a claim token, its topic ACL bound to its client id (refusals stored as TOPIC_DENIED), and a
 * group-key device's first connect.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const SECRET = randomBytes(24).toString('hex');
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ MQTT_HTTP_AUTH_SECRET: SECRET });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

async function post(path: string, body: Record<string, string | number>) {
  const response = await fetch(`${t.running.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function createPolicy(input: Record<string, unknown>) {
  const r = await t.gql(
    `mutation C($input: CreateProvisioningPolicyInput!) { createProvisioningPolicy(input: $input) { ... on CreateProvisioningPolicyPayload { claimToken groupKey policy { id } } } }`,
    { input: { name: uniqueDeviceId('policy'), ...input } },
  );
  const p = (r.data as { createProvisioningPolicy: { claimToken: string | null; groupKey: string | null; policy: { id: string } } }).createProvisioningPolicy;
  return { id: p.policy.id, claimToken: p.claimToken, groupKey: p.groupKey };
}

async function reasons(policyId: string): Promise<string[]> {
  const rows = await t.database.sql.query<{ reason: string }>(`SELECT reason FROM "ProvisioningAttempt" WHERE "policyId" = $1::uuid ORDER BY id`, [policyId]);
  return rows.map((r) => r.reason);
}

describe(`provisioning through the broker HTTP auth endpoints (${modeName})`, () => {
  it('the provision user: a valid claim token is allowed, a bad or expired one denied; the client id is required', async () => {
    const policy = await createPolicy({ mode: 'CLAIM_TOKEN' });
    const clientid = uniqueDeviceId('ha-req');
    expect((await post('/mqtt/emqx/auth', { username: 'provision', password: policy.claimToken!, clientid })).body).toMatchObject({ result: 'allow' });
    expect((await post('/mqtt/go-auth/user', { username: 'provision', password: policy.claimToken!, clientid })).status).toBe(200);
    expect((await post('/mqtt/emqx/auth', { username: 'provision', password: 'dpc_wrong', clientid })).body).toMatchObject({ result: 'deny' });
    expect((await post('/mqtt/go-auth/user', { username: 'provision', password: 'dpc_wrong', clientid })).status).toBe(403);
    expect((await post('/mqtt/emqx/auth', { username: 'provision', password: policy.claimToken! })).status).toBe(400);
    const r = await t.gql(`mutation U($id: ID!) { updateProvisioningPolicy(id: $id, input: {maxDevices: 1, enabled: false}) { __typename } }`, {
      id: policy.id,
    });
    expect(r.errors).toBeUndefined();
    expect((await post('/mqtt/emqx/auth', { username: 'provision', password: policy.claimToken!, clientid })).body).toMatchObject({ result: 'deny' });
    expect(await reasons(policy.id)).toEqual(['POLICY_DISABLED']);
  }, 60_000);

  it("the provision user's ACL: only its own request topic and replies; anything else denied and stored as TOPIC_DENIED", async () => {
    const clientid = uniqueDeviceId('ha-req');
    const acl = (action: string, topic: string) => post('/mqtt/emqx/acl', { username: 'provision', clientid, action, topic });
    const goAcl = (acc: number, topic: string) => post('/mqtt/go-auth/acl', { username: 'provision', clientid, acc, topic });
    expect((await acl('publish', `provision/${clientid}/request`)).body).toEqual({ result: 'allow' });
    expect((await acl('subscribe', `provision/${clientid}/+`)).body).toEqual({ result: 'allow' });
    expect((await goAcl(1, `provision/${clientid}/accepted`)).status).toBe(200);
    expect((await goAcl(4, `provision/${clientid}/rejected`)).status).toBe(200);
    expect((await acl('publish', `provision/${clientid}/accepted`)).body).toEqual({ result: 'deny' });
    expect((await acl('subscribe', 'provision/+/accepted')).body).toEqual({ result: 'deny' });
    expect((await acl('publish', 'provision/someone-else/request')).body).toEqual({ result: 'deny' });
    expect((await goAcl(1, 'provision/someone-else/accepted')).status).toBe(403);
    expect((await acl('subscribe', '#')).body).toEqual({ result: 'deny' });
    for (let i = 0; i < 100; i++) {
      const rows = await t.database.sql.query(`SELECT 1 FROM "ProvisioningAttempt" WHERE "requestId" = $1 AND reason = 'TOPIC_DENIED'`, [clientid]);
      if (rows.length === 5) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const rows = await t.database.sql.query(`SELECT 1 FROM "ProvisioningAttempt" WHERE "requestId" = $1 AND reason = 'TOPIC_DENIED'`, [clientid]);
    expect(rows).toHaveLength(5);
  }, 60_000);

  it('a group-key device: its first login with the derived key is allowed and registers it; a wrong key is denied', async () => {
    const policy = await createPolicy({ mode: 'GROUP_KEY', tags: ['via-http-auth'] });
    const deviceId = uniqueDeviceId('ha-grp');
    const key = createHmac('sha256', Buffer.from(policy.groupKey!, 'utf8')).update(deviceId, 'utf8').digest('base64');
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password: `${key}x`, clientid: deviceId })).body).toMatchObject({ result: 'deny' });
    expect(await t.database.prisma.device.count({ where: { deviceId } })).toBe(0);
    expect((await post('/mqtt/go-auth/user', { username: deviceId, password: key, clientid: deviceId })).status).toBe(200);
    expect((await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } })).tags).toEqual(['via-http-auth']);
    // From now on an ordinary device: the same key, no new attempt.
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password: key, clientid: deviceId })).body).toMatchObject({ result: 'allow' });
    expect(await reasons(policy.id)).toEqual(['ACCEPTED']);
  }, 60_000);
});
