/**
 * A rule window survives SIGKILL (docs/rules.md "Windows and alarms"): "temp > 30 for 8 s" starts on
 * one server process, the process is killed before the deadline, and the restarted process fires the
 * window from the database, stamped at the deadline (not at the restart). Embedded mode only (the
 * subject is the process on its own data directory), like test/e2e/process.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { until } from '../support/commands.ts';
import { externalDatabaseUrl, externalMqttUrl, uniqueDeviceId } from '../support/harness.ts';
import { processGql, startOnDataDir, type ServerProcess } from '../support/process.ts';
import { insertRule } from '../services/rules/engine/support.ts';

const suite = externalDatabaseUrl || externalMqttUrl ? describe.skip : describe;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-rules-'));
const children: ChildProcess[] = [];
const FOR_MS = 8000;

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function start(): Promise<ServerProcess> {
  const started = await startOnDataDir(dataDir, { RULES_SWEEP_INTERVAL_MS: '100' });
  children.push(started.child);
  return started;
}

async function metric(server: ServerProcess, name: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

suite('rule windows across a SIGKILL', () => {
  it('fires "temp > 30 for N" after a restart, at the deadline time, once', { timeout: 240_000 }, async () => {
    const first = await start();
    const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const deviceId = uniqueDeviceId('kill');
    const registered = await processGql<{ registerDevice: { credentials: { password: string } } }>(
      first,
      token,
      `mutation R($d: String!) { registerDevice(input: { deviceId: $d }) { ... on DeviceWithCredentials { credentials { password } } } }`,
      { d: deviceId },
    );
    first.child.kill('SIGTERM');
    await first.exited;

    // The rule is stored while no process holds the data directory (the rules API is another service).
    const db = await openDatabase(loadConfig({ DOPPEL_DATA_DIR: dataDir, DATABASE_URL: '' }).database);
    await insertRule(db.sql, {
      scope: { deviceIds: [deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30, forMs: FOR_MS },
      severity: 'MAJOR',
    });
    await db.close();

    const second = await start();
    const device = await mqtt.connectAsync(second.mqttUrl, {
      username: deviceId,
      password: registered.registerDevice.credentials.password,
      clientId: deviceId,
      reconnectPeriod: 0,
    });
    const ts = Date.now();
    await device.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ts, values: { temp: 35 } }), { qos: 1 });
    // The window is stored (pending until ts + FOR_MS) once the engine wrote the state; then the process dies.
    await until(async () => (await metric(second, 'doppel_rule_state_writes_total')) >= 1, 'the rule state write', 30_000);
    await device.endAsync(true);
    second.child.kill('SIGKILL');
    await second.exited;

    const third = await start();
    type Alarms = { alarms: { totalCount: number; edges: Array<{ node: { status: string; raisedAt: string; raisedValue: unknown } }> } };
    let alarms: Alarms | undefined;
    await until(
      async () => {
        alarms = await processGql<Alarms>(third, token, `{ alarms(first: 5) { totalCount edges { node { status raisedAt raisedValue } } } }`);
        return alarms.alarms.totalCount > 0;
      },
      'the alarm after the restart',
      120_000,
    );
    expect(alarms!.alarms.edges.map((e) => e.node)).toEqual([{ status: 'ACTIVE', raisedAt: new Date(ts + FOR_MS).toISOString(), raisedValue: 35 }]);
    third.child.kill('SIGTERM');
    await third.exited;
  });
});
