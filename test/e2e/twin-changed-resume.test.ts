/**
 * `twinChanged(deviceId, sinceVersion)` (src/services/twin-replay/): the change log after sinceVersion, then
 * live, with no gap and no duplicate, over real graphql-ws clients; RESYNC_REQUIRED when the log cannot
 * bring the client up to date; bad arguments refused and counted. The last suite runs two servers behind
 * Redis fan-out (PostgreSQL + Mosquitto + Redis only).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createHistoryRetention } from '../../src/services/retention.ts';
import { RESUME_DUPLICATES_METRIC, RESUMES_METRIC, twinReplayProbe } from '../../src/services/twin-replay/index.ts';
import { externalRedisUrl, modeName, scaleOutPossible, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const RESUME = `subscription Resume($d: String, $since: Int) {
  twinChanged(deviceId: $d, sinceVersion: $since) { deviceId version section patch source actor at }
}`;

interface Change {
  deviceId: string;
  version: number;
  section: string;
  patch: unknown;
  source: string;
  actor: string | null;
  at: string;
}

interface GraphQLErrorShape {
  message: string;
  extensions?: Record<string, unknown>;
}

/** A graphql-ws subscription whose events and end (an `error` message or `complete`) the test can await. */
function resume(client: WsClient, variables: Record<string, unknown>) {
  const events: Change[] = [];
  let wake: (() => void) | undefined;
  let ended: { errors?: GraphQLErrorShape[] } | undefined;
  const unsubscribe = client.subscribe<{ twinChanged: Change }>(
    { query: RESUME, variables },
    {
      next: (r) => {
        if (r.errors) ended = { errors: r.errors as GraphQLErrorShape[] };
        else if (r.data) events.push(r.data.twinChanged);
        wake?.();
      },
      error: (e) => {
        ended = { errors: Array.isArray(e) ? (e as GraphQLErrorShape[]) : [{ message: String(e) }] };
        wake?.();
      },
      complete: () => {
        ended ??= {};
        wake?.();
      },
    },
  );
  const until = async (done: () => boolean, what: string) => {
    const deadline = Date.now() + 30_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`${what}: got ${JSON.stringify(events.map((e) => e.version))}, ended ${JSON.stringify(ended)}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 200);
      });
    }
  };
  return {
    events,
    unsubscribe,
    /** Waits until `n` events arrived. */
    async count(n: number): Promise<Change[]> {
      await until(() => events.length >= n || ended !== undefined, `${n} events`);
      return events;
    },
    /** Waits for the end of the operation and returns its errors. */
    async end(): Promise<GraphQLErrorShape[]> {
      await until(() => ended !== undefined, 'the end of the subscription');
      return ended!.errors ?? [];
    },
  };
}

async function register(t: TestServer, prefix: string): Promise<string> {
  const deviceId = uniqueDeviceId(prefix);
  const r = await t.gql(`mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { __typename } }`, { id: deviceId });
  expect(r.data).toEqual({ registerDevice: { __typename: 'DeviceWithCredentials' } });
  return deviceId;
}

async function change(t: TestServer, deviceId: string, patch: Record<string, unknown>): Promise<number> {
  const r = await t.gql(`mutation D($d: String!, $p: JSON!) { updateDesired(deviceId: $d, patch: $p) { ... on UpdateDesiredPayload { version } } }`, {
    d: deviceId,
    p: patch,
  });
  const version = (r.data as { updateDesired: { version?: number } } | undefined)?.updateDesired.version;
  if (version === undefined) throw new Error(`updateDesired failed: ${JSON.stringify(r)}`);
  return version;
}

async function history(t: TestServer, deviceId: string): Promise<Change[]> {
  const r = await t.gql(
    `query H($d: String!) { device(deviceId: $d) { twinHistory(first: 500) { edges { node { deviceId version section patch source actor at } } } } }`,
    {
      d: deviceId,
    },
  );
  return (r.data as { device: { twinHistory: { edges: Array<{ node: Change }> } } }).device.twinHistory.edges.map((e) => e.node);
}

const versions = (events: Change[]) => events.map((e) => e.version);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

afterEach(() => {
  delete twinReplayProbe.afterSubscribe;
});

describe(`twinChanged resumed from a version (${modeName})`, () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('replays the logged changes after sinceVersion, oldest first and as the log has them, then goes live', async () => {
    const deviceId = await register(t, 'resume');
    for (let i = 1; i <= 4; i++) await change(t, deviceId, { step: i });
    const sub = resume(t.ws(), { d: deviceId, since: 1 });
    expect(versions(await sub.count(3))).toEqual([2, 3, 4]);
    // The same TwinChange objects twinHistory reads from the log.
    expect(sub.events).toEqual((await history(t, deviceId)).slice(1));
    expect(await change(t, deviceId, { step: 5 })).toBe(5);
    expect(versions(await sub.count(4))).toEqual([2, 3, 4, 5]);
    expect(sub.events[3]).toMatchObject({ deviceId, version: 5, section: 'desired', patch: { step: 5 }, source: 'api' });
    sub.unsubscribe();
  });

  it('sinceVersion equal to the current version replays nothing and goes live; 0 replays everything', async () => {
    const deviceId = await register(t, 'resume0');
    await change(t, deviceId, { a: 1 });
    await change(t, deviceId, { a: 2 });
    const fromNow = resume(t.ws(), { d: deviceId, since: 2 });
    const everything = resume(t.ws(), { d: deviceId, since: 0 });
    expect(versions(await everything.count(2))).toEqual([1, 2]);
    await t.waitForSubscriptions(2);
    await change(t, deviceId, { a: 3 });
    expect(versions(await fromNow.count(1))).toEqual([3]);
    expect(versions(await everything.count(3))).toEqual([1, 2, 3]);
    fromNow.unsubscribe();
    everything.unsubscribe();
  });

  it('a change that lands between the live subscription and the log read is delivered once, in order', async () => {
    const deviceId = await register(t, 'resumerace');
    for (let i = 1; i <= 3; i++) await change(t, deviceId, { n: i });
    const duplicatesBefore = t.running.metrics.get(RESUME_DUPLICATES_METRIC);
    // Version 4 commits after the stream listens and before it reads the log: it is both in the log
    // and in the live buffer.
    twinReplayProbe.afterSubscribe = async (id) => {
      if (id === deviceId) expect(await change(t, deviceId, { n: 4 })).toBe(4);
    };
    const sub = resume(t.ws(), { d: deviceId, since: 2 });
    expect(versions(await sub.count(2))).toEqual([3, 4]);
    delete twinReplayProbe.afterSubscribe;
    await change(t, deviceId, { n: 5 });
    expect(versions(await sub.count(3))).toEqual([3, 4, 5]);
    // Version 4's live event reached the buffer and was dropped as a duplicate (it arrived before 5's).
    expect(t.running.metrics.get(RESUME_DUPLICATES_METRIC)).toBe(duplicatesBefore + 1);
    expect(sub.events.map((e) => e.patch)).toEqual([{ n: 3 }, { n: 4 }, { n: 5 }]);
    sub.unsubscribe();
  });

  it('many changes racing the replay arrive exactly once each, in version order', async () => {
    const deviceId = await register(t, 'resumeburst');
    for (let i = 1; i <= 5; i++) await change(t, deviceId, { burst: i });
    // Twenty changes in flight while the stream subscribes and replays: some land before the log read,
    // some after; none may be missing or repeated.
    twinReplayProbe.afterSubscribe = async (id) => {
      if (id === deviceId) await change(t, deviceId, { burst: 6 });
    };
    const sub = resume(t.ws(), { d: deviceId, since: 3 });
    const writes = Promise.all(range(7, 26).map((i) => change(t, deviceId, { [`k${i}`]: i })));
    await writes;
    expect(versions(await sub.count(23))).toEqual(range(4, 26));
    sub.unsubscribe();
  });

  it('tells the client to resync when retention deleted versions after sinceVersion, or the twin is behind it', async () => {
    const deviceId = await register(t, 'resync');
    for (let i = 1; i <= 5; i++) await change(t, deviceId, { r: i });
    const before = t.running.metrics.get(RESUMES_METRIC, { result: 'resync_required' });
    // Retention (TWIN_HISTORY_RETENTION_DAYS=30) after versions 1 and 2 aged 40 days: the log now starts at 3.
    const { id: uuid } = await t.database.prisma.device.findFirstOrThrow({ where: { deviceId }, select: { id: true } });
    await t.database.prisma.twinChange.updateMany({
      where: { deviceId: uuid, version: { lte: 2 } },
      data: { createdAt: new Date(Date.now() - 40 * 86_400_000) },
    });
    const retention = createHistoryRetention({
      sql: t.database.sql,
      logger: createLogger('silent'),
      metrics: new Metrics(),
      config: { ...t.config.historyRetention, twinChangeDays: 30 },
    });
    expect((await retention.runOnce()).twin_change).toBe(2);

    const stale = resume(t.ws(), { d: deviceId, since: 1 });
    const [error] = await stale.end();
    expect(error).toMatchObject({
      extensions: { code: 'RESYNC_REQUIRED', deviceId, sinceVersion: 1, currentVersion: 5, oldestVersion: 3, reason: 'HISTORY_DELETED' },
    });
    expect(error!.message).toContain('retention deleted it');
    expect(stale.events).toEqual([]);

    // From version 2 on the log is whole: the resume works.
    const fine = resume(t.ws(), { d: deviceId, since: 2 });
    expect(versions(await fine.count(3))).toEqual([3, 4, 5]);
    fine.unsubscribe();

    const ahead = resume(t.ws(), { d: deviceId, since: 9 });
    expect(await ahead.end()).toMatchObject([{ extensions: { code: 'RESYNC_REQUIRED', currentVersion: 5, reason: 'AHEAD_OF_TWIN' } }]);
    expect(t.running.metrics.get(RESUMES_METRIC, { result: 'resync_required' })).toBe(before + 2);
  });

  it('refuses bad arguments and unknown devices with a clear error, counted', async () => {
    const deviceId = await register(t, 'resumebad');
    const bad = () => t.running.metrics.get(RESUMES_METRIC, { result: 'bad_input' });
    const before = bad();
    const client = t.ws();
    expect(await resume(client, { since: 1 }).end()).toMatchObject([
      { message: expect.stringContaining('sinceVersion needs deviceId'), extensions: { code: 'BAD_USER_INPUT' } },
    ]);
    expect(await resume(client, { d: deviceId, since: -1 }).end()).toMatchObject([
      { message: expect.stringContaining('sinceVersion must be an integer ≥ 0'), extensions: { code: 'BAD_USER_INPUT' } },
    ]);
    expect(bad()).toBe(before + 2);
    const notFound = t.running.metrics.get(RESUMES_METRIC, { result: 'not_found' });
    expect(await resume(client, { d: uniqueDeviceId('nobody'), since: 0 }).end()).toMatchObject([{ extensions: { code: 'NOT_FOUND' } }]);
    expect(t.running.metrics.get(RESUMES_METRIC, { result: 'not_found' })).toBe(notFound + 1);
    // Another tenant's device is as unknown as a missing one.
    const otherTenant = await t.createToken('viewer', `tenant-${uniqueDeviceId('x')}`);
    expect(await resume(t.ws(otherTenant), { d: deviceId, since: 0 }).end()).toMatchObject([{ extensions: { code: 'NOT_FOUND' } }]);
  });
});

const scaleOutSuite = externalRedisUrl && scaleOutPossible ? describe : describe.skip;

scaleOutSuite(`twinChanged resumed on one instance while another writes, through Redis (${modeName})`, () => {
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const channel = `doppel:test:resume:${Date.now()}`;
    a = await startTestServer({ REDIS_URL: externalRedisUrl!, REDIS_EVENTS_CHANNEL: channel });
    b = await startTestServer({ REDIS_URL: externalRedisUrl!, REDIS_EVENTS_CHANNEL: channel }, { peer: a });
  }, 120_000);
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('changes written on the other instance, during the replay and after it, arrive once each, in order', async () => {
    const deviceId = await register(a, 'resumefan');
    for (let i = 1; i <= 3; i++) await change(b, deviceId, { i });
    // Version 4 commits on B after A listens and before A reads the log; its live event comes back
    // through Redis whenever it does.
    twinReplayProbe.afterSubscribe = async (id) => {
      if (id === deviceId) expect(await change(b, deviceId, { i: 4 })).toBe(4);
    };
    const sub = resume(a.ws(), { d: deviceId, since: 1 });
    expect(versions(await sub.count(3))).toEqual([2, 3, 4]);
    delete twinReplayProbe.afterSubscribe;
    for (let i = 5; i <= 8; i++) await change(b, deviceId, { i });
    expect(versions(await sub.count(7))).toEqual(range(2, 8));
    expect(sub.events.map((e) => e.patch)).toEqual(range(2, 8).map((i) => ({ i })));
    sub.unsubscribe();
  });
});
