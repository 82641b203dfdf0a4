/**
 * Two instances on one database and one shared subscription group (docs/rules.md "How the engine
 * runs it"): a device's readings split between them, each judging what it stored, and the device
 * crossing a threshold — with its readings replayed through both — opens exactly one alarm. The
 * sweepers of both instances race for the same due window and fire it once. PostgreSQL + Mosquitto only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDLED_METRIC } from '../../src/mqtt/bridge.ts';
import { until } from '../support/commands.ts';
import { scaleOutPossible, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { insertRule } from '../services/rules/engine/support.ts';

const suite = scaleOutPossible ? describe : describe.skip;

let a: TestServer;
let b: TestServer;
beforeAll(async () => {
  if (!scaleOutPossible) return;
  a = await startTestServer({ RULES_SWEEP_INTERVAL_MS: '50' });
  b = await startTestServer({ RULES_SWEEP_INTERVAL_MS: '50' }, { peer: a });
});
afterAll(async () => {
  await b?.stop();
  await a?.stop();
});

async function device(): Promise<{ deviceId: string; publish: (entries: unknown) => Promise<void> }> {
  const deviceId = uniqueDeviceId('scale-alarm');
  const registered = await a.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    {
      id: deviceId,
    },
  );
  const { password } = (registered.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  const client = await a.mqtt({ username: deviceId, password, clientId: `${deviceId}-c` });
  return { deviceId, publish: async (entries) => void (await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(entries), { qos: 1 })) };
}

const alarmCount = async (deviceId: string) =>
  (
    await a.database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Alarm" al JOIN "Device" d ON d.id = al."deviceId" WHERE d."deviceId" = $1`, [
      deviceId,
    ])
  )[0]!.n;
const historyCount = async (deviceId: string) =>
  (
    await a.database.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "AlarmEvent" e JOIN "Alarm" al ON al.id = e."alarmId" JOIN "Device" d ON d.id = al."deviceId" WHERE d."deviceId" = $1`,
      [deviceId],
    )
  )[0]!.n;

suite('alarms with two instances', () => {
  it('opens exactly one alarm for a threshold crossing replayed through both instances', async () => {
    const d = await device();
    await insertRule(a.database.sql, {
      scope: { deviceIds: [d.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30 },
      severity: 'MAJOR',
    });
    const base = Date.now() - 60_000;
    const entries = Array.from({ length: 40 }, (_, i) => ({ ts: base + i, values: { temp: i < 10 ? 20 : 35 } }));
    const handledBefore = [a, b].map((s) => s.running.metrics.get(HANDLED_METRIC, { kind: 'telemetry' }));
    // Each entry as its own message, pipelined and sent twice (a device replaying after a lost PUBACK).
    await Promise.all([...entries, ...entries].map((e) => d.publish([e])));
    const handled = () => [a, b].map((s, i) => s.running.metrics.get(HANDLED_METRIC, { kind: 'telemetry' }) - handledBefore[i]!);
    await until(() => handled()[0]! + handled()[1]! >= 2 * entries.length, 'every message handled');
    expect(handled().every((n) => n > 0)).toBe(true); // the broker split them between the instances
    await until(async () => (await alarmCount(d.deviceId)) >= 1, 'the alarm');
    // The newest reading has been judged by whichever instance stored it.
    await until(
      async () =>
        (
          await a.database.sql.query(`SELECT 1 FROM "RuleState" s JOIN "Device" d ON d.id = s."deviceId" WHERE d."deviceId" = $1 AND s."lastTs" = $2`, [
            d.deviceId,
            new Date(base + entries.length - 1).toISOString(),
          ])
        ).length === 1,
      'the newest reading judged',
    );
    expect(await alarmCount(d.deviceId)).toBe(1);
    expect(await historyCount(d.deviceId)).toBe(1);
  });

  it('fires a due window once when both sweepers race for it', async () => {
    const d = await device();
    await insertRule(a.database.sql, {
      scope: { deviceIds: [d.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30, forMs: 200 },
      severity: 'MAJOR',
    });
    await d.publish([{ ts: Date.now(), values: { temp: 35 } }]);
    await until(async () => (await alarmCount(d.deviceId)) >= 1, 'the swept alarm');
    expect(await alarmCount(d.deviceId)).toBe(1);
    expect(await historyCount(d.deviceId)).toBe(1);
  });
});
