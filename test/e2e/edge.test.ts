/**
 * The hardened GraphQL edge (docs/security.md): every limit and refusal over HTTP and graphql-ws —
 * its code and message, that nothing ran (a refused mutation stores nothing), that it is counted in
 * /metrics, and that the server still answers afterwards.
 */
import http from 'node:http';
import { getIntrospectionQuery } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_REFUSED_METRIC } from '../../src/http/edge.ts';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

interface Result {
  data?: Record<string, unknown> | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

/** Runs one operation over graphql-ws; protocol `error` messages come back as `errors`. */
function wsRun(client: WsClient, query: string, variables: Record<string, unknown> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    let result: Result = {};
    client.subscribe(
      { query, variables },
      {
        next: (value) => {
          result = value as Result;
        },
        error: (error) => {
          if (Array.isArray(error)) resolve({ errors: error as Result['errors'] });
          else reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
        },
        complete: () => resolve(result),
      },
    );
  });
}

const refused = (t: TestServer, reason: string, transport: 'http' | 'ws') => t.running.metrics.get(EDGE_REFUSED_METRIC, { reason, transport });

const REGISTER = `mutation Register($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { __typename ... on DeviceWithCredentials { device { deviceId } } }
}`;

async function deviceExists(t: TestServer, deviceId: string): Promise<boolean> {
  const found = await t.gql(`query D($id: String!) { device(deviceId: $id) { deviceId } }`, { id: deviceId });
  expect(found.errors).toBeUndefined();
  return found.data !== undefined && (found.data as { device: unknown }).device !== null;
}

async function stillAnswers(t: TestServer, ws?: WsClient): Promise<void> {
  const http = await t.gql(`{ devices(first: 1) { totalCount } }`);
  expect(http.status).toBe(200);
  expect(http.errors).toBeUndefined();
  if (ws) expect((await wsRun(ws, `{ devices(first: 1) { totalCount } }`)).errors).toBeUndefined();
}

describe(`GraphQL edge limits (${modeName})`, () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      GRAPHQL_MAX_DEPTH: '5',
      GRAPHQL_MAX_ALIASES: '3',
      GRAPHQL_MAX_TOKENS: '300',
      GRAPHQL_MAX_COST: '500',
      GRAPHQL_MAX_BODY_BYTES: '8192',
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const DEEP = `{ devices(first: 1) { edges { node { telemetry(metric: "t", first: 1) { edges { node { value } } } } } } }`;

  it('refuses a query deeper than GRAPHQL_MAX_DEPTH before it runs, over HTTP and WebSocket', async () => {
    const before = { http: refused(t, 'depth', 'http'), ws: refused(t, 'depth', 'ws') };
    const viaHttp = await t.gql(DEEP);
    expect(viaHttp.status).toBe(400);
    expect(viaHttp.data).toBeUndefined();
    expect(viaHttp.errors?.[0]).toMatchObject({ message: 'Query depth limit of 5 exceeded, found 7.', extensions: { code: 'DEPTH_LIMIT_EXCEEDED' } });
    expect(viaHttp.errors?.[0]?.extensions).not.toHaveProperty('http');

    const ws = t.ws();
    const viaWs = await wsRun(ws, DEEP);
    expect(viaWs.errors?.[0]).toMatchObject({ message: 'Query depth limit of 5 exceeded, found 7.', extensions: { code: 'DEPTH_LIMIT_EXCEEDED' } });
    expect(viaWs.errors?.[0]?.extensions).toEqual({ code: 'DEPTH_LIMIT_EXCEEDED' }); // no HTTP status on a socket
    // A subscription too: refused before it listens.
    const deepSub = await wsRun(ws, `subscription { deviceConnection { device { twin { version } telemetry(metric: "t") { edges { node { value } } } } } }`);
    expect(deepSub.errors?.[0]).toMatchObject({ extensions: { code: 'DEPTH_LIMIT_EXCEEDED' } });

    // Counted every time, also when Yoga answers the same document from its validation cache.
    await t.gql(DEEP);
    expect(refused(t, 'depth', 'http')).toBe(before.http + 2);
    expect(refused(t, 'depth', 'ws')).toBe(before.ws + 2);
    await stillAnswers(t, ws);
  });

  it('does not apply the depth limit to introspection while introspection is on', async () => {
    const result = await t.gql(getIntrospectionQuery());
    expect(result.errors).toBeUndefined();
    expect((result.data as { __schema: { types: unknown[] } }).__schema.types.length).toBeGreaterThan(10);
  });

  it('refuses more aliases than GRAPHQL_MAX_ALIASES, counting those in fragments', async () => {
    const query = `{ a: devices(first: 1) { totalCount } b: devices(first: 1) { totalCount } ...F }
      fragment F on Query { c: deviceModels { name } d: deviceModels { name } }`;
    const viaHttp = await t.gql(query);
    expect(viaHttp.status).toBe(400);
    expect(viaHttp.errors?.[0]).toMatchObject({ message: 'Aliases limit of 3 exceeded, found 4.', extensions: { code: 'ALIAS_LIMIT_EXCEEDED' } });
    const ws = t.ws();
    expect((await wsRun(ws, query)).errors?.[0]).toMatchObject({ extensions: { code: 'ALIAS_LIMIT_EXCEEDED' } });
    expect(refused(t, 'aliases', 'http')).toBeGreaterThanOrEqual(1);
    expect(refused(t, 'aliases', 'ws')).toBe(1);
    // Three are fine.
    expect((await t.gql(`{ a: devices(first: 1) { totalCount } b: devices(first: 1) { totalCount } c: deviceModels { name } }`)).errors).toBeUndefined();
  });

  it('stops parsing a document with more than GRAPHQL_MAX_TOKENS tokens', async () => {
    const query = `{ ${'__typename '.repeat(400)} }`;
    const before = refused(t, 'tokens', 'http');
    const viaHttp = await t.gql(query);
    expect(viaHttp.status).toBe(400);
    expect(viaHttp.errors?.[0]).toMatchObject({ message: 'Document has more than 300 tokens; parsing stopped', extensions: { code: 'TOKEN_LIMIT_EXCEEDED' } });
    await t.gql(query);
    expect(refused(t, 'tokens', 'http')).toBe(before + 2);

    const ws = t.ws();
    expect((await wsRun(ws, query)).errors?.[0]).toMatchObject({ extensions: { code: 'TOKEN_LIMIT_EXCEEDED' } });
    expect(refused(t, 'tokens', 'ws')).toBe(1);
    // A plain syntax error over WebSocket is an `error` message too, and the socket stays open.
    expect((await wsRun(ws, `{ devices {`)).errors?.[0]?.message).toMatch(/Syntax Error/);
    await stillAnswers(t, ws);
  });

  it('prices an operation from its document and variables, and refuses it above GRAPHQL_MAX_COST', async () => {
    const page = `query Page($n: Int) { devices(first: $n) { edges { node { deviceId name } } } }`;
    // 1 + edges (1 + n × (node 1 + 2 fields))
    expect((await t.gql(page, { n: 100 })).errors).toBeUndefined();
    const tooMany = await t.gql(page, { n: 200 });
    expect(tooMany.status).toBe(400);
    expect(tooMany.data).toBeUndefined();
    expect(tooMany.errors?.[0]).toMatchObject({ extensions: { code: 'COST_LIMIT_EXCEEDED' } });
    expect(tooMany.errors?.[0]?.message).toMatch(/^Query cost 602 exceeds the limit of 500/);
    // Costs are remembered per document and variables (src/http/edge.ts): the same document keeps its
    // price per variable set, and a remembered refusal is still refused and counted each time.
    const refusedBefore = refused(t, 'cost', 'http');
    expect((await t.gql(page, { n: 100 })).errors).toBeUndefined();
    expect((await t.gql(page, { n: 200 })).errors?.[0]).toMatchObject({ extensions: { code: 'COST_LIMIT_EXCEEDED' } });
    expect(refused(t, 'cost', 'http')).toBe(refusedBefore + 1);
    // Without first, a connection counts as its default page size (100): 302.
    expect((await t.gql(`{ devices { edges { node { deviceId name } } } }`)).errors).toBeUndefined();
    expect(refused(t, 'cost', 'http')).toBeGreaterThanOrEqual(1);
  });

  it('stores nothing when a mutation is over the cost limit, over HTTP and WebSocket', async () => {
    const costly = `mutation Register($input: RegisterDeviceInput!) {
      registerDevice(input: $input) {
        __typename
        ... on DeviceWithCredentials { device { telemetry(metric: "t", first: 500) { edges { cursor } } } }
      }
    }`;
    const viaHttpId = uniqueDeviceId('costly');
    const viaHttp = await t.gql(costly, { input: { deviceId: viaHttpId } });
    expect(viaHttp.status).toBe(400);
    expect(viaHttp.errors?.[0]).toMatchObject({ extensions: { code: 'COST_LIMIT_EXCEEDED' } });
    expect(await deviceExists(t, viaHttpId)).toBe(false);

    const ws = t.ws();
    const viaWsId = uniqueDeviceId('costly');
    const before = refused(t, 'cost', 'ws');
    const viaWs = await wsRun(ws, costly, { input: { deviceId: viaWsId } });
    expect(viaWs.errors?.[0]).toMatchObject({ extensions: { code: 'COST_LIMIT_EXCEEDED' } });
    expect(await deviceExists(t, viaWsId)).toBe(false);
    // An expensive subscription is refused before it starts listening.
    const sub = await wsRun(ws, `subscription { deviceConnection { device { telemetry(metric: "t", first: 1000) { edges { cursor } } } } }`);
    expect(sub.errors?.[0]).toMatchObject({ extensions: { code: 'COST_LIMIT_EXCEEDED' } });
    expect(refused(t, 'cost', 'ws')).toBe(before + 2);

    // The same mutation within the limit does store the device.
    const cheapId = uniqueDeviceId('cheap');
    const cheap = await t.gql(REGISTER, { input: { deviceId: cheapId } });
    expect(cheap.errors).toBeUndefined();
    expect(await deviceExists(t, cheapId)).toBe(true);
    await stillAnswers(t, ws);
  });

  it('masks unexpected errors: no SQL, table or stack reaches the client', async () => {
    await t.database.sql.query('ALTER TABLE "DeviceModel" RENAME TO "DeviceModel_hidden"');
    try {
      const result = await t.gql(`{ deviceModels { name } }`);
      expect(result.errors).toHaveLength(1);
      expect(result.errors?.[0]?.message).toBe('Unexpected error.');
      const text = JSON.stringify({ message: result.errors?.[0]?.message, extensions: result.errors?.[0]?.extensions });
      expect(text).not.toMatch(/DeviceModel_hidden|relation|does not exist|prisma|stack/i);
      expect(result.errors?.[0]?.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    } finally {
      await t.database.sql.query('ALTER TABLE "DeviceModel_hidden" RENAME TO "DeviceModel"');
    }
    expect((await t.gql(`{ deviceModels { name } }`)).errors).toBeUndefined();
  });

  it('refuses a body over GRAPHQL_MAX_BODY_BYTES with 413, with or without Content-Length', async () => {
    const before = refused(t, 'body_size', 'http');
    const big = await fetch(t.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ query: `{ devices { totalCount } }`, variables: { pad: 'x'.repeat(10_000) } }),
    });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
    expect(refused(t, 'body_size', 'http')).toBe(before + 1);

    // Chunked (no Content-Length): counted while it is read. A small chunked body still works.
    const chunked = (chunks: string[]) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(t.httpUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (const chunk of chunks) req.write(chunk);
        req.end();
      });
    const ids = [uniqueDeviceId('chunked'), uniqueDeviceId('chunked')];
    const register = (id: string, pad: string) => JSON.stringify({ query: REGISTER, variables: { input: { deviceId: id }, pad } });
    const tooBig = register(ids[0]!, 'x'.repeat(10_000));
    const large = await chunked([tooBig.slice(0, 4000), tooBig.slice(4000, 8000), tooBig.slice(8000)]);
    expect(large.status).toBe(413);
    expect(JSON.parse(large.body)).toMatchObject({ errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
    expect(refused(t, 'body_size', 'http')).toBe(before + 2);
    expect(await deviceExists(t, ids[0]!)).toBe(false);
    const small = register(ids[1]!, '');
    const fine = await chunked([small.slice(0, 20), small.slice(20)]);
    expect(fine.status).toBe(200);
    expect(await deviceExists(t, ids[1]!)).toBe(true);
    await stillAnswers(t);
  });

  it('bounds GET query strings by the HTTP header limit', async () => {
    const query = `{ ${'__typename '.repeat(2000)} }`;
    const response = await fetch(`${t.httpUrl}?query=${encodeURIComponent(query)}`, {
      headers: { authorization: `Bearer ${t.token}`, 'x-graphql-yoga-csrf': '1' },
    });
    expect(response.status).toBe(431);
    await stillAnswers(t);
  });

  it('does not batch: an array of operations is refused and none of them runs', async () => {
    const ids = [uniqueDeviceId('batch'), uniqueDeviceId('batch')];
    const response = await fetch(t.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` },
      body: JSON.stringify(ids.map((deviceId) => ({ query: REGISTER, variables: { input: { deviceId } } }))),
    });
    expect(response.status).toBe(400);
    for (const id of ids) expect(await deviceExists(t, id)).toBe(false);
  });

  it('closes a WebSocket that sends a message over GRAPHQL_MAX_BODY_BYTES', async () => {
    const socket = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(10_000) } }));
    expect(await closed).toBe(1009);
    await stillAnswers(t, t.ws());
  });

  it('prevents CSRF: GET and simple-content-type POSTs need the x-graphql-yoga-csrf header', async () => {
    const auth = { authorization: `Bearer ${t.token}` };
    const query = encodeURIComponent(`{ devices(first: 1) { totalCount } }`);
    const before = refused(t, 'csrf', 'http');

    const get = await fetch(`${t.httpUrl}?query=${query}`, { headers: auth });
    expect(get.status).toBe(403);
    expect(await get.json()).toMatchObject({ errors: [{ extensions: { code: 'CSRF_PREVENTED' } }] });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const simple = await fetch(t.httpUrl, {
        method: 'POST',
        headers: { ...auth, 'content-type': contentType },
        body: JSON.stringify({ query: REGISTER, variables: { input: { deviceId: 'csrf-victim' } } }),
      });
      expect(simple.status).toBe(403);
    }
    expect(await deviceExists(t, 'csrf-victim')).toBe(false);
    expect(refused(t, 'csrf', 'http')).toBe(before + 4);

    // With the header, GET works; POST application/json never needed it.
    const withHeader = await fetch(`${t.httpUrl}?query=${query}`, { headers: { ...auth, 'x-graphql-yoga-csrf': '1' } });
    expect(withHeader.status).toBe(200);
    expect(await withHeader.json()).toMatchObject({ data: { devices: { totalCount: expect.any(Number) } } });
    await stillAnswers(t);
  });

  it('keeps GraphiQL and SSE subscriptions working with CSRF prevention on', async () => {
    const page = await fetch(t.httpUrl, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/graphiql/i);

    // GraphiQL sends its operations as POST application/json, subscriptions as SSE over the same POST.
    const deviceId = uniqueDeviceId('sse');
    expect((await t.gql(REGISTER, { input: { deviceId } })).errors).toBeUndefined();
    const controller = new AbortController();
    const sse = await fetch(t.httpUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ query: `subscription S($id: String) { twinChanged(deviceId: $id) { deviceId version } }`, variables: { id: deviceId } }),
    });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = sse.body!.getReader();
    const decoder = new TextDecoder();
    // The stream is open; change the twin until its event arrives (the subscription may start after the first change).
    let text = '';
    const waitForEvent = (async () => {
      while (!text.includes('"twinChanged"')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    })();
    for (let i = 0; !text.includes('"twinChanged"') && i < 50; i++) {
      const update = await t.gql(`mutation U($id: String!, $p: JSON!) { updateDesired(deviceId: $id, patch: $p) { __typename } }`, {
        id: deviceId,
        p: { n: i },
      });
      expect(update.errors).toBeUndefined();
      await Promise.race([waitForEvent, new Promise((r) => setTimeout(r, 100))]);
    }
    await waitForEvent;
    expect(text).toMatch(/event: next/);
    expect(text).toContain(`"deviceId":"${deviceId}"`);
    controller.abort();
  });
});

describe(`GraphQL per-token rate limit (${modeName})`, () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ GRAPHQL_RATE_LIMIT_PER_S: '1', GRAPHQL_RATE_LIMIT_BURST: '3' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const QUERY = `{ devices(first: 1) { totalCount } }`;

  it('refuses an API token over its burst with 429 and Retry-After, and leaves other tokens alone', async () => {
    const token = await t.createToken('viewer');
    const statuses: number[] = [];
    let refusal: Response | undefined;
    // Refills 1/s: the first three pass, and one of the next few is refused however slow the machine is.
    for (let i = 0; i < 50 && !refusal; i++) {
      const response = await fetch(t.httpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: QUERY }),
      });
      statuses.push(response.status);
      if (response.status === 429) refusal = response;
      else expect(response.status).toBe(200);
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(refusal).toBeDefined();
    expect(Number(refusal!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refusal!.json()) as Result;
    expect(body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(body.errors?.[0]?.message).toMatch(/Rate limit of 1 operations\/s \(burst 3\) for this API token exceeded; retry in \d+ s/);
    expect(refused(t, 'rate_limited', 'http')).toBeGreaterThanOrEqual(1);

    // Another token has its own bucket: the server still answers.
    const other = await t.gql(QUERY, {}, await t.createToken('viewer'));
    expect(other.status).toBe(200);
    expect(other.errors).toBeUndefined();
  });

  it('refuses a mutation over the limit without running it', async () => {
    const token = await t.createToken('admin');
    let refusedId: string | undefined;
    for (let i = 0; i < 50 && !refusedId; i++) {
      const deviceId = uniqueDeviceId('rl');
      const result = await t.gql(REGISTER, { input: { deviceId } }, token);
      if (result.status === 429) refusedId = deviceId;
    }
    expect(refusedId).toBeDefined();
    expect(await deviceExists(t, refusedId!)).toBe(false);
  });

  it('spends one token per graphql-ws operation and refuses with RATE_LIMITED, keeping the socket open', async () => {
    const token = await t.createToken('viewer');
    const ws = t.ws(token);
    const results: Result[] = [];
    for (let i = 0; i < 50 && !results.some((r) => r.errors); i++) results.push(await wsRun(ws, QUERY));
    expect(results.slice(0, 3).every((r) => r.errors === undefined)).toBe(true);
    const refusal = results.find((r) => r.errors)!;
    expect(refusal.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED' });
    expect(refusal.errors?.[0]?.message).toMatch(/Rate limit of 1 operations\/s/);
    expect(refused(t, 'rate_limited', 'ws')).toBeGreaterThanOrEqual(1);
    // Same socket, other token's socket: both still usable (the first once its bucket refills, which we do not wait for).
    expect((await wsRun(t.ws(await t.createToken('viewer')), QUERY)).errors).toBeUndefined();
  });

  it('shows the refusals on /metrics', async () => {
    const text = await (await fetch(`${t.running.url}/metrics`)).text();
    expect(text).toMatch(/# TYPE doppel_graphql_refused_total counter/);
    expect(text).toMatch(/doppel_graphql_refused_total\{reason="rate_limited",transport="http"\} [1-9]/);
    expect(text).toMatch(/doppel_graphql_refused_total\{reason="rate_limited",transport="ws"\} [1-9]/);
  });
});

describe(`GraphQL edge in production (${modeName})`, () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ NODE_ENV: 'production' });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('turns introspection off: __schema and __type are refused over HTTP and WebSocket', async () => {
    const schema = await t.gql(getIntrospectionQuery());
    expect(schema.status).toBe(400);
    expect(schema.data).toBeUndefined();
    expect(schema.errors?.[0]).toMatchObject({
      message: 'GraphQL introspection is disabled on this server (GRAPHQL_INTROSPECTION)',
      extensions: { code: 'INTROSPECTION_DISABLED' },
    });
    expect((await t.gql(`{ __type(name: "Device") { name } }`)).errors?.[0]?.extensions?.code).toBe('INTROSPECTION_DISABLED');
    expect((await wsRun(t.ws(), `{ __schema { queryType { name } } }`)).errors?.[0]).toMatchObject({ extensions: { code: 'INTROSPECTION_DISABLED' } });
    expect(t.running.metrics.get(EDGE_REFUSED_METRIC, { reason: 'introspection', transport: 'http' })).toBe(2);
    expect(t.running.metrics.get(EDGE_REFUSED_METRIC, { reason: 'introspection', transport: 'ws' })).toBe(1);
    // __typename is not introspection of the schema; clients need it for unions.
    expect((await t.gql(`{ __typename devices(first: 1) { totalCount } }`)).errors).toBeUndefined();
  });

  it('serves no GraphiQL page', async () => {
    const page = await fetch(t.httpUrl, { headers: { accept: 'text/html' } });
    expect(page.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(await page.text()).not.toMatch(/graphiql/i);
  });
});
