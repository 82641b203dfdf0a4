/**
 * The HTTP authentication / ACL endpoints for external brokers (src/http/broker-auth.ts), spoken to
 * the way EMQX 5 and mosquitto-go-auth's HTTP backend speak to them, through fetch against a real
 * server. The rules behind them are the ACL module's, as on the embedded broker.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBrokerAuth, BROKER_AUTH_METRIC } from '../../src/http/broker-auth.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { embeddedBroker, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const SECRET = randomBytes(24).toString('hex');
const SERVICE_USER = 'doppel-server-test';
const SERVICE_PASSWORD = randomBytes(16).toString('hex');

let t: TestServer;
let base: string;
beforeAll(async () => {
  t = await startTestServer({
    MQTT_HTTP_AUTH_SECRET: SECRET,
    // The service user only exists with an external broker (it is Doppel's own login there).
    ...(embeddedBroker ? {} : { MQTT_USERNAME: SERVICE_USER, MQTT_PASSWORD: SERVICE_PASSWORD }),
  });
  base = t.running.url;
});
afterAll(async () => {
  await t?.stop();
});

async function post(path: string, body: unknown, options: { secret?: string | null; form?: boolean; query?: string } = {}) {
  const secret = options.secret === undefined ? SECRET : options.secret;
  const headers: Record<string, string> = {
    'content-type': options.form ? 'application/x-www-form-urlencoded' : 'application/json',
    ...(secret && options.query === undefined ? { authorization: `Bearer ${secret}` } : {}),
  };
  const payload = options.form ? new URLSearchParams(body as Record<string, string>).toString() : typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${base}${path}${options.query ?? ''}`, { method: 'POST', headers, body: payload });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

async function register(deviceId = uniqueDeviceId('ha')) {
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    { id: deviceId },
  );
  return { deviceId, password: (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials.password };
}

function metric(endpoint: string, result: string): number {
  return t.running.metrics.get(BROKER_AUTH_METRIC, { endpoint, result });
}

describe(`broker HTTP auth endpoints (${modeName})`, () => {
  it('refuse callers without the shared secret (401), accept it as a bearer header or a ?secret= parameter', async () => {
    const { deviceId, password } = await register();
    const before = metric('emqx/auth', 'unauthorized');
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password }, { secret: null })).status).toBe(401);
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password }, { secret: `${SECRET}x` })).status).toBe(401);
    expect(metric('emqx/auth', 'unauthorized')).toBe(before + 2);
    const viaQuery = await post('/mqtt/go-auth/user', { username: deviceId, password }, { query: `?secret=${SECRET}` });
    expect(viaQuery).toEqual({ status: 200, body: { Ok: true, Error: '' } });
    expect((await post('/mqtt/go-auth/nope', {})).status).toBe(404);
  });

  it('EMQX authentication: allow with the secret, deny a wrong one, an unknown device, a disabled device and revoked credentials', async () => {
    const { deviceId, password } = await register();
    expect(await post('/mqtt/emqx/auth', { username: deviceId, password, clientid: 'c1' })).toEqual({
      status: 200,
      body: { result: 'allow', is_superuser: false },
    });
    expect(await post('/mqtt/emqx/auth', { username: deviceId, password: `${password}x` })).toEqual({
      status: 200,
      body: { result: 'deny', is_superuser: false },
    });
    expect((await post('/mqtt/emqx/auth', { username: uniqueDeviceId('ghost'), password })).body).toMatchObject({ result: 'deny' });
    expect((await post('/mqtt/emqx/auth', { username: 'devices/#', password })).body).toMatchObject({ result: 'deny' });

    await t.gql(`mutation D($id: String!) { disableDevice(deviceId: $id) { __typename } }`, { id: deviceId });
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password })).body).toMatchObject({ result: 'deny' });
    await t.gql(`mutation E($id: String!) { enableDevice(deviceId: $id) { __typename } }`, { id: deviceId });
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password })).body).toMatchObject({ result: 'allow' });
    await t.gql(`mutation V($id: String!) { revokeDeviceCredentials(deviceId: $id) { __typename } }`, { id: deviceId });
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password })).body).toMatchObject({ result: 'deny' });
  });

  it('a secret inside its rotation grace period is allowed with expire_at (EMQX disconnects the client then)', async () => {
    const { deviceId, password: old } = await register();
    const rotated = await t.gql(
      `mutation R($id: String!) { rotateDeviceCredentials(deviceId: $id, gracePeriodSeconds: 600) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { id: deviceId },
    );
    const fresh = (rotated.data as { rotateDeviceCredentials: { credentials: { password: string } } }).rotateDeviceCredentials.credentials.password;
    const withOld = await post('/mqtt/emqx/auth', { username: deviceId, password: old });
    expect(withOld.body).toMatchObject({ result: 'allow', is_superuser: false });
    const expireAt = withOld.body!.expire_at as number;
    expect(expireAt * 1000).toBeGreaterThan(Date.now());
    expect(expireAt * 1000).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(await post('/mqtt/emqx/auth', { username: deviceId, password: fresh })).toEqual({ status: 200, body: { result: 'allow', is_superuser: false } });
  });

  it('EMQX authorization follows the device ACL: own topics only; #, devices/#, $SYS/# and other devices denied', async () => {
    const me = uniqueDeviceId('me');
    const other = uniqueDeviceId('other');
    const cases: Array<[string, string, 'allow' | 'deny']> = [
      ['publish', `devices/${me}/telemetry`, 'allow'],
      ['publish', `devices/${me}/commands/c-1/ack`, 'allow'],
      ['publish', `devices/${me}/twin/delta`, 'deny'],
      ['publish', `devices/${other}/telemetry`, 'deny'],
      ['publish', '$SYS/broker/uptime', 'deny'],
      ['subscribe', `devices/${me}/twin/#`, 'allow'],
      ['subscribe', `devices/${me}/commands/#`, 'allow'],
      ['subscribe', '#', 'deny'],
      ['subscribe', 'devices/#', 'deny'],
      ['subscribe', '$SYS/#', 'deny'],
      ['subscribe', `devices/${other}/twin/#`, 'deny'],
      ['subscribe', 'devices/+/twin/delta', 'deny'],
      ['all', `devices/${me}/twin/#`, 'deny'], // may subscribe, but never publish there
    ];
    for (const [action, topic, result] of cases) {
      expect(await post('/mqtt/emqx/acl', { username: me, clientid: 'x', action, topic }), `${action} ${topic}`).toEqual({ status: 200, body: { result } });
    }
  });

  it('mosquitto-go-auth: user (JSON and form params), superuser and acl with acc 1/2/3/4, status + JSON body', async () => {
    const { deviceId, password } = await register();
    expect(await post('/mqtt/go-auth/user', { username: deviceId, password, clientid: 'c' })).toEqual({ status: 200, body: { Ok: true, Error: '' } });
    expect(await post('/mqtt/go-auth/user', { username: deviceId, password: 'nope', clientid: 'c' })).toEqual({
      status: 403,
      body: { Ok: false, Error: 'bad user name or password' },
    });
    expect((await post('/mqtt/go-auth/user', { username: deviceId, password, clientid: 'c' }, { form: true })).status).toBe(200);
    expect((await post('/mqtt/go-auth/superuser', { username: deviceId })).status).toBe(403);

    const acl = (topic: string, acc: number) => post('/mqtt/go-auth/acl', { username: deviceId, clientid: 'c', topic, acc }).then((r) => r.status);
    expect(await acl(`devices/${deviceId}/twin/delta`, 1)).toBe(200); // read: delivery of its own delta
    expect(await acl(`devices/${deviceId}/telemetry`, 1)).toBe(403); // never its own reports echoed back
    expect(await acl(`devices/${deviceId}/telemetry`, 2)).toBe(200);
    expect(await acl(`devices/${deviceId}/twin/delta`, 2)).toBe(403);
    expect(await acl(`devices/${deviceId}/twin/delta`, 3)).toBe(403); // read and write: both must hold
    expect(await acl(`devices/${deviceId}/commands/#`, 4)).toBe(200);
    for (const filter of ['#', 'devices/#', '$SYS/#', `devices/${uniqueDeviceId()}/twin/#`]) expect(await acl(filter, 4), filter).toBe(403);
    expect((await post('/mqtt/go-auth/acl', { username: deviceId, clientid: 'c', topic: 'x', acc: '4' }, { form: true })).status).toBe(403);
  });

  it.runIf(!embeddedBroker)("Doppel's own broker user is a superuser", async () => {
    expect(await post('/mqtt/emqx/auth', { username: SERVICE_USER, password: SERVICE_PASSWORD })).toEqual({
      status: 200,
      body: { result: 'allow', is_superuser: true },
    });
    expect((await post('/mqtt/emqx/auth', { username: SERVICE_USER, password: 'wrong' })).body).toMatchObject({ result: 'deny' });
    expect((await post('/mqtt/go-auth/superuser', { username: SERVICE_USER })).status).toBe(200);
    expect((await post('/mqtt/emqx/acl', { username: SERVICE_USER, action: 'subscribe', topic: '$share/doppel/devices/+/telemetry' })).body).toEqual({
      result: 'allow',
    });
  });

  it('bad requests are 400 with a clear error, counted, and the endpoints keep answering', async () => {
    const before = metric('emqx/auth', 'bad_request');
    expect(await post('/mqtt/emqx/auth', { password: 'x' })).toEqual({ status: 400, body: { error: 'missing "username"' } });
    expect(await post('/mqtt/emqx/auth', '{not json')).toEqual({ status: 400, body: { error: 'body is neither JSON nor form-encoded' } });
    expect(await post('/mqtt/emqx/auth', '[1,2]')).toEqual({ status: 400, body: { error: 'body must be a JSON object' } });
    expect((await post('/mqtt/emqx/auth', { username: 'x'.repeat(2000), password: 'y' })).status).toBe(400);
    expect((await post('/mqtt/emqx/auth', { username: 'a', password: 'b'.repeat(20_000) })).body).toEqual({ error: 'body over 16384 bytes' });
    expect(metric('emqx/auth', 'bad_request')).toBe(before + 5);
    expect((await post('/mqtt/emqx/acl', { username: 'a', topic: 't', action: 'delete' })).body).toEqual({ error: 'unknown action' });
    expect((await post('/mqtt/go-auth/acl', { username: 'a', topic: 't', acc: 9 })).body).toEqual({ error: 'unknown action' });
    const { deviceId, password } = await register();
    expect((await post('/mqtt/emqx/auth', { username: deviceId, password })).body).toMatchObject({ result: 'allow' });
  });
});

describe('broker HTTP auth endpoints without MQTT_HTTP_AUTH_SECRET', () => {
  it('are off: 404 for every route, whatever the caller sends', async () => {
    const auth = createBrokerAuth({
      secret: undefined,
      authenticator: { authenticate: async () => true },
      logger: createLogger('silent'),
      metrics: new Metrics(),
    });
    const server = http.createServer((req, res) => {
      void auth.handle(req, res).then((handled) => {
        if (!handled) res.writeHead(418).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (const path of ['/mqtt/emqx/auth', '/mqtt/go-auth/user', '/mqtt/go-auth/acl']) {
        const response = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { authorization: 'Bearer anything' },
          body: '{"username":"a","password":"b"}',
        });
        expect(response.status, path).toBe(404);
      }
      expect((await fetch(`${url}/graphql`)).status).toBe(418); // not ours: passed on
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
