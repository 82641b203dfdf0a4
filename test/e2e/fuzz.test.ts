/**
 * Property-based fuzzing through the real protocols (issue 5, point 6): arbitrary MQTT payloads and
 * GraphQL inputs never crash the server, never half-write, and the server still answers afterwards.
 * Runs are few (these go through a broker and a database); the generators lean on the shapes the
 * parsers care about (JSON objects, deep nesting, odd numbers, bytes that are not UTF-8).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.stop();
});

const RUNS = 40;

async function registerAndConnect() {
  const deviceId = uniqueDeviceId('fz');
  const r = await t.gql(`mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`, {
    id: deviceId,
  });
  const { password } = (r.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-fuzz` });
  const messages = messageWaiter(client);
  await client.subscribeAsync(`devices/${deviceId}/twin/reported/+`, { qos: 1 });
  return { deviceId, client, messages };
}

async function twinOf(deviceId: string) {
  const d = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId }, include: { twin: true } });
  return { uuid: d.id, version: d.twin?.version ?? 0, reported: d.twin?.reported ?? {}, desired: d.twin?.desired ?? {} };
}

async function stillAnswers() {
  const r = await t.gql(`{ devices(first: 1) { totalCount } }`);
  expect(r.status).toBe(200);
  expect(r.errors).toBeUndefined();
}

/** Anything a device might send: text, JSON of any shape, objects with a `state`, raw bytes. */
const anyPayload = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v) ?? 'null'),
  fc.record({ state: fc.jsonValue({ maxDepth: 8 }), clientToken: fc.option(fc.string({ maxLength: 20 })) }).map((v) => JSON.stringify(v)),
  fc
    .record({ state: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.double(), fc.string(), fc.constant(null), fc.boolean())) })
    .map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
);

describe(`fuzzing (${modeName})`, () => {
  it('twin/reported: every payload is answered; a refused one changes nothing', async () => {
    const { deviceId, client, messages } = await registerAndConnect();
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(anyPayload, async (payload) => {
        const before = await twinOf(deviceId);
        await client.publishAsync(`devices/${deviceId}/twin/reported`, payload, { qos: 1 });
        const reply = await messages.nextOf([`devices/${deviceId}/twin/reported/accepted`, `devices/${deviceId}/twin/reported/rejected`]);
        if (reply.topic.endsWith('/rejected')) {
          rejected++;
          expect((reply.json as { code: string }).code).toMatch(/^[A-Z_]+$/);
          expect(await twinOf(deviceId)).toEqual(before);
        } else {
          accepted++;
        }
      }),
      { numRuns: RUNS },
    );
    expect(accepted + rejected).toBe(RUNS);
    await stillAnswers();
  });

  it('telemetry: a message with one bad value stores none of its values', async () => {
    const { deviceId, client } = await registerAndConnect();
    const { uuid } = await twinOf(deviceId);
    const badValue = fc.oneof(fc.string(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.double({ noNaN: true, noDefaultInfinity: true }), { maxKeys: 5 }),
        badValue,
        async (good, bad) => {
          run++;
          const prefix = `r${run}_`;
          const values: Record<string, unknown> = Object.fromEntries(Object.entries(good).map(([k, v]) => [prefix + k, v]));
          values[`${prefix}bad`] = bad;
          await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ values }), { qos: 1 });
          // A valid sentinel after it: once stored, the bad message (same device, earlier) was handled.
          const sentinel = `${prefix}sentinel`;
          await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ values: { [sentinel]: 1 } }), { qos: 1 });
          for (let i = 0; i < 200; i++) {
            if ((await t.database.prisma.telemetryPoint.count({ where: { deviceId: uuid, metric: sentinel } })) === 1) break;
            await new Promise((r) => setTimeout(r, 25));
          }
          expect(await t.database.prisma.telemetryPoint.count({ where: { deviceId: uuid, metric: sentinel } })).toBe(1);
          expect(await t.database.prisma.telemetryPoint.count({ where: { deviceId: uuid, metric: { startsWith: prefix, not: sentinel } } })).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
    await stillAnswers();
  });

  it('GraphQL: arbitrary desired patches are applied whole or not at all', async () => {
    const { deviceId } = await registerAndConnect();
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 7 }), async (patch) => {
        const before = await twinOf(deviceId);
        const r = await t.gql(`mutation M($d: String!, $p: JSON!) { updateDesired(deviceId: $d, patch: $p) { __typename ... on Error { code } } }`, {
          d: deviceId,
          p: patch,
        });
        expect(r.status).toBeLessThan(500);
        for (const e of r.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
        const typename = (r.data as { updateDesired?: { __typename: string } } | null | undefined)?.updateDesired?.__typename;
        if (typename !== 'UpdateDesiredPayload') expect(await twinOf(deviceId)).toEqual(before);
      }),
      { numRuns: RUNS },
    );
    await stillAnswers();
  });

  it('GraphQL: arbitrary device ids, names and tags are refused precisely or registered, never a server error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 80 }),
        fc.option(fc.string({ maxLength: 300 })),
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 5 }),
        async (id, name, tags) => {
          const r = await t.gql(`mutation R($input: RegisterDeviceInput!) { registerDevice(input: $input) { __typename ... on Error { code } } }`, {
            input: { deviceId: id, name, tags },
          });
          expect(r.status).toBeLessThan(500);
          for (const e of r.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
          const typename = (r.data as { registerDevice?: { __typename: string } } | null | undefined)?.registerDevice?.__typename;
          if (typename !== 'DeviceWithCredentials') {
            expect(await t.database.prisma.device.count({ where: { deviceId: id, name: name ?? null } })).toBe(0);
          }
        },
      ),
      { numRuns: RUNS },
    );
    await stillAnswers();
  });

  it('GraphQL: arbitrary documents get a GraphQL error, never a server error', async () => {
    const doc = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc
        .array(
          fc.constantFrom('{', '}', '(', ')', 'devices', 'device', 'first:', '1', '"x"', '...', 'on', 'Device', 'mutation', '$v', ':', 'twin', 'id', '@skip'),
          { maxLength: 60 },
        )
        .map((p) => p.join(' ')),
    );
    await fc.assert(
      fc.asyncProperty(doc, async (query) => {
        const r = await t.gql(query);
        expect(r.status).toBeLessThan(500);
        for (const e of r.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
      }),
      { numRuns: RUNS },
    );
    await stillAnswers();
  });
});
