/**
 * Poison messages are dead-lettered, never dropped — over real MQTT and GraphQL. The deterministic
 * failure is real: a trigger on the test server's database rejects one device's rows, as a constraint
 * or a bug would. The message is kept (exact bytes, topic, error), listed to the tenant's admins,
 * replayed once the cause is removed, and then stored.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { until } from '../support/commands.ts';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

interface DeadLetterNode {
  id: string;
  deviceId: string;
  topic: string;
  kind: string;
  payloadText: string | null;
  payloadBase64: string;
  errorCode: string;
  error: string;
  replayCount: number;
  lastReplayResult: string | null;
  resolvedAt: string | null;
}

const LIST = `query L($d: String, $k: DeadLetterKind, $u: Boolean) {
  deadLetters(first: 10, deviceId: $d, kind: $k, unresolvedOnly: $u) {
    edges { node { id deviceId topic kind payloadText payloadBase64 errorCode error replayCount lastReplayResult resolvedAt } }
  }
}`;

const REPLAY = `mutation R($id: ID!) {
  replayDeadLetter(id: $id) {
    __typename
    ... on ReplayedDeadLetter { resolved failure { code message } deadLetter { replayCount lastReplayResult resolvedAt } }
    ... on Error { code }
  }
}`;

async function deadLetters(deviceId: string, unresolvedOnly = false): Promise<DeadLetterNode[]> {
  const r = await t.gql<{ deadLetters: { edges: Array<{ node: DeadLetterNode }> } }, unknown>(LIST, { d: deviceId, u: unresolvedOnly });
  expect(r.errors).toBeUndefined();
  return r.data!.deadLetters.edges.map((e) => e.node);
}

async function replay(id: string) {
  const r = await t.gql<{ replayDeadLetter: Record<string, unknown> }, unknown>(REPLAY, { id });
  expect(r.errors).toBeUndefined();
  return r.data!.replayDeadLetter;
}

async function device(): Promise<{ deviceId: string; uuid: string; client: MqttClient }> {
  const deviceId = uniqueDeviceId('dead');
  const r = await t.gql(`mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`, {
    id: deviceId,
  });
  const { password } = (r.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  const client = await t.mqtt({ username: deviceId, password, clientId: `${deviceId}-dl` });
  const { id: uuid } = await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId }, select: { id: true } });
  return { deviceId, uuid, client };
}

/** Makes the database refuse every write of `table` rows of one device (a deterministic failure). */
async function refuseDevice(table: string, uuid: string): Promise<() => Promise<void>> {
  const name = `refuse_${Math.random().toString(36).slice(2, 10)}`;
  await t.database.sql.query(
    `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NEW."deviceId"::text = '${uuid}' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF;
       RETURN NEW;
     END $$`,
  );
  await t.database.sql.query(`CREATE TRIGGER ${name} BEFORE INSERT OR UPDATE ON "${table}" FOR EACH ROW EXECUTE FUNCTION ${name}()`);
  return async () => {
    await t.database.sql.query(`DROP TRIGGER ${name} ON "${table}"`);
    await t.database.sql.query(`DROP FUNCTION ${name}()`);
  };
}

async function metricsText(): Promise<string> {
  return (await fetch(`${t.running.url}/metrics`)).text();
}

async function reported(deviceId: string): Promise<unknown> {
  const r = await t.gql<{ device: { twin: { reported: unknown } } }, unknown>(`query Q($d: String!) { device(deviceId: $d) { twin { reported } } }`, {
    d: deviceId,
  });
  return r.data?.device.twin.reported;
}

describe(`dead letters over MQTT and GraphQL (${modeName})`, () => {
  it('a twin report the store refuses is dead-lettered while the others are stored; replayed after the cause is removed, it is stored', async () => {
    const [poison, healthy] = [await device(), await device()];
    const lift = await refuseDevice('Twin', poison.uuid);
    const body = JSON.stringify({ state: { firmware: '1.2.3' }, clientToken: 'c1' });
    await Promise.all([
      poison.client.publishAsync(`devices/${poison.deviceId}/twin/reported`, body, { qos: 1 }),
      healthy.client.publishAsync(`devices/${healthy.deviceId}/twin/reported`, JSON.stringify({ state: { ok: true } }), { qos: 1 }),
    ]);
    await until(async () => (await deadLetters(poison.deviceId)).length === 1, 'the dead letter', 60_000);
    await until(async () => JSON.stringify(await reported(healthy.deviceId)) === '{"ok":true}', 'the healthy report', 60_000);

    const [letter] = await deadLetters(poison.deviceId);
    expect(letter).toMatchObject({
      deviceId: poison.deviceId,
      topic: `devices/${poison.deviceId}/twin/reported`,
      kind: 'TWIN_REPORTED',
      payloadText: body,
      payloadBase64: Buffer.from(body).toString('base64'),
      errorCode: 'INTERNAL',
      replayCount: 0,
      resolvedAt: null,
    });
    expect(letter!.error).toMatch(/refused by the test trigger/);
    expect(await reported(poison.deviceId)).toEqual({});
    expect(await metricsText()).toMatch(/doppel_dead_letters_total\{code="INTERNAL",kind="twinReported"\} 1/);

    // Still broken: the replay fails again and updates the same row.
    const failedAgain = await replay(letter!.id);
    expect(failedAgain).toMatchObject({ __typename: 'ReplayedDeadLetter', resolved: false, failure: { code: 'INTERNAL' }, deadLetter: { replayCount: 1 } });
    expect(await deadLetters(poison.deviceId)).toHaveLength(1);

    await lift();
    const fixed = await replay(letter!.id);
    expect(fixed).toMatchObject({
      __typename: 'ReplayedDeadLetter',
      resolved: true,
      failure: null,
      deadLetter: { replayCount: 2, lastReplayResult: 'resolved' },
    });
    expect(await reported(poison.deviceId)).toEqual({ firmware: '1.2.3' });
    expect(await deadLetters(poison.deviceId, true)).toEqual([]);
    const [resolved] = await deadLetters(poison.deviceId);
    expect(resolved!.resolvedAt).not.toBeNull();

    const audit = await t.database.prisma.auditEvent.findMany({ where: { target: `deadLetter:${letter!.id}` }, orderBy: { id: 'asc' } });
    expect(audit.map((e) => e.action)).toEqual(['deadLetter.replay', 'deadLetter.replay']);
  }, 120_000);

  it('telemetry the store refuses even alone (STORE_REFUSED) is dead-lettered and stored by a replay once the cause is gone', async () => {
    const d = await device();
    const lift = await refuseDevice('TelemetryPoint', d.uuid);
    const body = JSON.stringify({ ts: 1_700_000_000_000, values: { temp: 21.5 } });
    await d.client.publishAsync(`devices/${d.deviceId}/telemetry`, body, { qos: 1 });
    await until(async () => (await deadLetters(d.deviceId)).length === 1, 'the dead letter', 60_000);
    const [letter] = await deadLetters(d.deviceId);
    expect(letter).toMatchObject({ kind: 'TELEMETRY', errorCode: 'STORE_REFUSED', payloadText: body });
    expect(await t.database.prisma.telemetryPoint.count({ where: { deviceId: d.uuid } })).toBe(0);

    await lift();
    expect(await replay(letter!.id)).toMatchObject({ resolved: true });
    expect(await t.database.prisma.telemetryPoint.count({ where: { deviceId: d.uuid } })).toBe(1);
  }, 120_000);

  it('a validation refusal is answered and counted, not dead-lettered', async () => {
    const d = await device();
    await d.client.publishAsync(`devices/${d.deviceId}/twin/reported`, 'not json', { qos: 1 });
    await d.client.publishAsync(`devices/${d.deviceId}/telemetry`, 'not json either', { qos: 1 });
    await until(async () => /doppel_mqtt_rejected_total\{code="[A-Z_]+",kind="telemetry"\}/.test(await metricsText()), 'the refusal counted', 60_000);
    expect(await deadLetters(d.deviceId)).toEqual([]);
  }, 120_000);

  it('refuses NOT_FOUND an unknown or malformed id, for replay and discard', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'nope']) {
      expect(await replay(id)).toEqual({ __typename: 'NotFound', code: 'NOT_FOUND' });
      const r = await t.gql(`mutation D($id: ID!) { discardDeadLetter(id: $id) { __typename ... on Error { code } } }`, { id });
      expect(r.data).toEqual({ discardDeadLetter: { __typename: 'NotFound', code: 'NOT_FOUND' } });
    }
  });
});
