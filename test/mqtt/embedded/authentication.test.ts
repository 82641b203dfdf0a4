import type { ConnectPacket } from 'aedes';
import { describe, expect, it } from 'vitest';
import { createAuthentication, type Authentication } from '../../../src/mqtt/embedded/authentication.ts';
import { createAuthorization } from '../../../src/mqtt/embedded/authorization.ts';
import type { SessionExpiry } from '../../../src/mqtt/embedded/expiry.ts';
import { topics } from '../../../src/mqtt/topics.ts';
import type { AuthDecision } from '../../../src/mqtt/transport.ts';
import { fakeClient, log, partsFor } from './parts.ts';

/** Authentication with an authenticator answering `decision` for password "ok" (or throwing), and recorded expiries. */
function setup(decision: AuthDecision | Error = true, admission: { maxConnectsPerSecond?: number; now?: () => number } = {}) {
  const { counters, sessions } = partsFor();
  const expiries: Array<{ deviceId: string; at: number }> = [];
  const expiry: Pick<SessionExpiry, 'expireAt'> = { expireAt: (_client, deviceId, at) => void expiries.push({ deviceId, at }) };
  const authentication = createAuthentication({
    authenticator: {
      async authenticate(_deviceId, password) {
        lookups++;
        if (decision instanceof Error) throw decision;
        return password?.toString() === 'ok' ? decision : false;
      },
    },
    log,
    counters,
    sessions,
    expiry,
    authorization: createAuthorization({ identity: sessions, counters, maxPayloadBytes: 64 }),
    ...admission,
  });
  let lookups = 0;
  return { authentication, counters, sessions, expiries, lookups: () => lookups };
}

/** Runs CONNECT through preConnect and authenticate; resolves with the CONNACK code refused (or 0) and the client. */
async function connect(auth: Authentication, packet: Partial<ConnectPacket> & { username?: string }, password?: string) {
  const client = fakeClient(packet.clientId ?? '');
  const full = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: '', ...packet } as ConnectPacket;
  auth.preConnect(client, full, () => undefined);
  const code = await new Promise<number>((resolve) =>
    auth.authenticate(client, packet.username, password === undefined ? undefined : Buffer.from(password), (err) => resolve(err?.returnCode ?? 0)),
  );
  return { code, client, packet: full };
}

describe('embedded broker authentication', () => {
  it('scopes a chosen client id by the claimed username, so devices cannot take each other over', async () => {
    const { authentication } = setup();
    expect((await connect(authentication, { username: 'd1', clientId: 'sensor' }, 'ok')).packet.clientId).toBe('d1:sensor');
    expect((await connect(authentication, { username: 'd1', clientId: 'd1' }, 'ok')).packet.clientId).toBe('d1');
    expect((await connect(authentication, { username: 'not a device id', clientId: 'x' }, 'ok')).packet.clientId).toBe('x');
  });

  it('accepts the right secret and binds the client to its device', async () => {
    const { authentication, sessions, expiries } = setup();
    const { code, client } = await connect(authentication, { username: 'd1' }, 'ok');
    expect(code).toBe(0);
    expect(sessions.deviceOf(client)).toBe('d1');
    expect(expiries).toEqual([]);
  });

  it('gives a session opened with an old secret its closing time', async () => {
    const { authentication, expiries } = setup({ expiresAt: 1_900_000_000_000 });
    expect((await connect(authentication, { username: 'd1' }, 'ok')).code).toBe(0);
    expect(expiries).toEqual([{ deviceId: 'd1', at: 1_900_000_000_000 }]);
  });

  it('refuses bad credentials and invalid usernames with CONNACK 4, counted', async () => {
    const { authentication, counters, sessions } = setup();
    const refused = await connect(authentication, { username: 'd1' }, 'wrong');
    expect(refused.code).toBe(4);
    expect(sessions.deviceOf(refused.client)).toBeUndefined();
    expect((await connect(authentication, { username: '#' }, 'ok')).code).toBe(4);
    expect((await connect(authentication, {}, 'ok')).code).toBe(4);
    expect(counters.snapshot().authFailures).toBe(3);
  });

  it('answers "server unavailable" (CONNACK 3) when the authenticator fails', async () => {
    const { authentication, counters } = setup(new Error('database down'));
    expect((await connect(authentication, { username: 'd1' }, 'ok')).code).toBe(3);
    expect(counters.snapshot().authFailures).toBe(0);
  });

  it('refuses CONNECTs beyond the admission rate with CONNACK 3 before looking anything up, counted, and admits again as the bucket refills', async () => {
    let now = 1_000_000;
    const { authentication, counters, lookups } = setup(true, { maxConnectsPerSecond: 3, now: () => now });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await connect(authentication, { username: `d${i}` }, 'ok')).code);
    expect(codes).toEqual([0, 0, 0, 3, 3]);
    expect(lookups()).toBe(3);
    expect(counters.snapshot()).toMatchObject({ connectsThrottled: 2, authFailures: 0 });
    now += 1000; // a second later: three more
    expect((await connect(authentication, { username: 'd5' }, 'ok')).code).toBe(0);
    // Invalid usernames are refused as before, without spending admission.
    expect((await connect(authentication, { username: '#' }, 'ok')).code).toBe(4);
  });

  it('admits every CONNECT without a rate (the default)', async () => {
    const { authentication, counters } = setup();
    for (let i = 0; i < 50; i++) expect((await connect(authentication, { username: `d${i}` }, 'ok')).code).toBe(0);
    expect(counters.snapshot().connectsThrottled).toBe(0);
  });

  it("refuses a Last Will outside the device's topics or too large with CONNACK 5", async () => {
    const { authentication, counters } = setup();
    const will = (topic: string, payload: string) => ({ will: { topic, payload: Buffer.from(payload), qos: 1 as const, retain: true } });
    expect((await connect(authentication, { username: 'd1', ...will(topics.status('d1'), 'offline') }, 'ok')).code).toBe(0);
    expect((await connect(authentication, { username: 'd1', ...will(topics.status('d2'), 'offline') }, 'ok')).code).toBe(5);
    expect((await connect(authentication, { username: 'd1', ...will(topics.status('d1'), 'x'.repeat(65)) }, 'ok')).code).toBe(5);
    expect(counters.snapshot()).toMatchObject({ aclDenials: 1, oversize: 1 });
  });

  describe('a CONNECT whose client already gave up (closed its socket)', () => {
    /** Authentication whose lookups wait for `release`, recording what each was asked and whether its client was gone by then. */
    function held(decision: AuthDecision = { expiresAt: 1_900_000_000_000 }) {
      const { counters, sessions } = partsFor();
      const expiries: string[] = [];
      const asked: Array<{ deviceId: string; goneAtLookup: boolean | undefined }> = [];
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      const authentication = createAuthentication({
        authenticator: {
          async authenticate(deviceId, _password, attempt) {
            await released;
            asked.push({ deviceId, goneAtLookup: attempt?.abandoned() });
            return decision;
          },
        },
        log,
        counters,
        sessions,
        expiry: { expireAt: (_client, deviceId) => void expiries.push(deviceId) },
        authorization: createAuthorization({ identity: sessions, counters, maxPayloadBytes: 64 }),
        maxConnectsPerSecond: 1,
      });
      return { authentication, counters, sessions, expiries, asked, release };
    }

    /** An Aedes client stand-in whose socket can be destroyed. */
    function closableClient(id: string) {
      const conn = { remoteAddress: '192.0.2.1', destroyed: false };
      const client = Object.assign(fakeClient(id), { conn });
      return { client, destroy: () => void (conn.destroyed = true) };
    }

    function authenticate(auth: Authentication, client: ReturnType<typeof fakeClient>, username: string) {
      auth.preConnect(
        client,
        { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: '', username } as ConnectPacket,
        () => undefined,
      );
      return new Promise<number>((resolve) => auth.authenticate(client, username, Buffer.from('ok'), (err) => resolve(err?.returnCode ?? 0)));
    }

    it('is dropped before any lookup and without spending admission, counted', async () => {
      const { authentication, counters, asked, release } = held();
      const { client, destroy } = closableClient('d1');
      destroy();
      release();
      expect(await authenticate(authentication, client, 'd1')).toBe(3);
      expect(asked).toEqual([]);
      expect(counters.snapshot()).toMatchObject({ connectsAbandoned: 1, connectsThrottled: 0, authFailures: 0 });
      // The one admission token of this second is still there for a live client.
      expect(await authenticate(authentication, closableClient('d2').client, 'd2')).toBe(0);
    });

    it('tells the authenticator at lookup time, and keeps nothing of it when it left during the lookup', async () => {
      const { authentication, counters, sessions, expiries, asked, release } = held();
      const { client, destroy } = closableClient('d1');
      const answer = authenticate(authentication, client, 'd1');
      destroy();
      release();
      expect(await answer).toBe(3);
      expect(asked).toEqual([{ deviceId: 'd1', goneAtLookup: true }]);
      // No identity and no closing timer: nothing to announce as connected, nothing to clean up.
      expect(sessions.deviceOf(client)).toBeUndefined();
      expect(expiries).toEqual([]);
      expect(counters.snapshot()).toMatchObject({ connectsAbandoned: 1, authFailures: 0 });
    });

    it('is counted as abandoned, not logged as an authenticator failure, when the lookup rejects it', async () => {
      const { counters, sessions } = partsFor();
      const errors: unknown[] = [];
      const authentication = createAuthentication({
        authenticator: {
          authenticate: () => Promise.reject(new Error('CONNECT abandoned')),
        },
        log: Object.assign(Object.create(log) as typeof log, { error: (...args: unknown[]) => void errors.push(args) }),
        counters,
        sessions,
        expiry: { expireAt: () => undefined },
        authorization: createAuthorization({ identity: sessions, counters, maxPayloadBytes: 64 }),
      });
      const { client, destroy } = closableClient('d1');
      const answer = authenticate(authentication, client, 'd1');
      destroy();
      expect(await answer).toBe(3);
      expect(errors).toEqual([]);
      expect(counters.snapshot().connectsAbandoned).toBe(1);
    });
  });
});
