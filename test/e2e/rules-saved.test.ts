/**
 * A rule is judged when it is saved (docs/rules.md "When a rule is saved"): createRule, enableRule and
 * updateRule over HTTP judge the rule at once on what the devices in its scope hold now — a twin
 * path's current value, the current connection state — and start a no-data rule's silence window, so
 * "desired.mode == 'off'" raises for a device already in that state without waiting for its next
 * change. The sweeper is slowed to ten minutes here: nothing below comes from it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVALUATION_ERRORS_METRIC } from '../../src/services/rules/engine/index.ts';
import { registerDevice, until, type Creds } from '../support/commands.ts';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ RULES_SWEEP_INTERVAL_MS: '600000' });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

const CREATE = `mutation C($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ruleId version enabled } ... on Error { code message } } }`;
const UPDATE = `mutation U($id: String!, $input: RuleInput!) { updateRule(ruleId: $id, input: $input) { __typename ... on Rule { version } ... on Error { code message } } }`;
const ENABLE = `mutation E($id: String!) { enableRule(ruleId: $id) { __typename ... on Rule { enabled } } }`;
const DESIRED = `mutation D($d: String!, $p: JSON!) { updateDesired(deviceId: $d, patch: $p) { __typename ... on Error { code message } } }`;

interface AlarmRow {
  status: string;
  raisedValue: unknown;
  device: { deviceId: string };
}

async function alarmsOfRule(ruleId: string): Promise<AlarmRow[]> {
  const r = await t.gql<{ alarms: { edges: Array<{ node: AlarmRow }> } }, unknown>(
    `query A($r: ID!) { alarms(filter: { ruleId: $r }, first: 20) { edges { node { status raisedValue device { deviceId } } } } }`,
    { r: ruleId },
  );
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.alarms.edges.map((e) => e.node);
}

async function createRule(input: Record<string, unknown>): Promise<string> {
  const r = await t.gql<{ createRule: { __typename: string; ruleId: string } }, unknown>(CREATE, {
    input: { name: `saved ${randomUUID()}`, severity: 'MAJOR', ...input },
  });
  if (r.data?.createRule.__typename !== 'Rule') throw new Error(`createRule: ${JSON.stringify(r)}`);
  return r.data.createRule.ruleId;
}

async function tagged(prefix: string, tag: string): Promise<Creds> {
  const creds = await registerDevice(t, null, uniqueDeviceId(prefix));
  await t.database.sql.query(`UPDATE "Device" SET tags = ARRAY[$2] WHERE "deviceId" = $1`, [creds.deviceId, tag]);
  return creds;
}

async function report(creds: Creds, state: Record<string, unknown>): Promise<void> {
  const client = await t.mqtt({ username: creds.username, password: creds.password, clientId: creds.deviceId });
  await client.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state }), { qos: 1 });
  await until(async () => {
    const rows = await t.database.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "Twin" t JOIN "Device" d ON d.id = t."deviceId" WHERE d."deviceId" = $1 AND t.version > 0`,
      [creds.deviceId],
    );
    return rows[0]!.n > 0;
  }, 'the report stored');
  await client.endAsync();
}

const byDevice = (alarms: AlarmRow[]) => Object.fromEntries(alarms.map((a) => [a.device.deviceId, [a.status, a.raisedValue]]));

describe(`a rule judged when it is saved (${modeName})`, () => {
  it('createRule raises at once for the devices whose desired state already holds the condition, and only for them', async () => {
    const tag = uniqueDeviceId('off');
    const off = await tagged('off', tag);
    const on = await tagged('on', tag);
    const unset = await tagged('unset', tag);
    expect((await t.gql(DESIRED, { d: off.deviceId, p: { mode: 'off' } })).data).toEqual({ updateDesired: { __typename: 'UpdateDesiredPayload' } });
    expect((await t.gql(DESIRED, { d: on.deviceId, p: { mode: 'on' } })).data).toEqual({ updateDesired: { __typename: 'UpdateDesiredPayload' } });

    const ruleId = await createRule({ scope: { tag }, source: { type: 'DESIRED', path: ['mode'] }, raise: { op: 'EQ', value: 'off' } });
    // No wait: the answer of createRule comes after the judgement.
    expect(byDevice(await alarmsOfRule(ruleId))).toEqual({ [off.deviceId]: ['ACTIVE', 'off'] });
    // Every device in scope was judged (a missing path is "cannot tell": a state, no alarm).
    const states = await t.database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "RuleState" WHERE "ruleId" = $1`, [ruleId]);
    expect(states[0]!.n).toBe(3);
    expect(unset.deviceId).toBeDefined();

    // The next change clears it as usual (the default clear: the raise condition no longer holds).
    await t.gql(DESIRED, { d: off.deviceId, p: { mode: 'eco' } });
    await until(async () => (await alarmsOfRule(ruleId))[0]?.status === 'LATCHED', 'latched by the next change');
  });

  it('enableRule and updateRule judge the current reported values; a value of the wrong kind raises nothing and breaks nothing', async () => {
    const tag = uniqueDeviceId('lvl');
    const low = await tagged('low', tag);
    const mid = await tagged('mid', tag);
    const odd = await tagged('odd', tag);
    await report(low, { battery: { level: 10 } });
    await report(mid, { battery: { level: 25 } });
    await report(odd, { battery: { level: 'low' } });

    const definition = { scope: { tag }, source: { type: 'REPORTED', path: ['battery', 'level'] }, raise: { op: 'LT', value: 20 } };
    const ruleId = await createRule({ ...definition, enabled: false });
    expect(await alarmsOfRule(ruleId)).toEqual([]);

    expect((await t.gql(ENABLE, { id: ruleId })).data).toEqual({ enableRule: { __typename: 'Rule', enabled: true } });
    expect(byDevice(await alarmsOfRule(ruleId))).toEqual({ [low.deviceId]: ['ACTIVE', 10] });

    const updated = await t.gql<{ updateRule: { __typename: string; version: number } }, unknown>(UPDATE, {
      id: ruleId,
      input: { name: `saved ${randomUUID()}`, severity: 'MAJOR', ...definition, raise: { op: 'LT', value: 30 } },
    });
    expect(updated.data?.updateRule).toEqual({ __typename: 'Rule', version: 2 });
    expect(byDevice(await alarmsOfRule(ruleId))).toEqual({ [low.deviceId]: ['ACTIVE', 10], [mid.deviceId]: ['ACTIVE', 25] });
    // The string "low" cannot be compared with < 30: no alarm, no evaluation error.
    expect(t.running.metrics.get(EVALUATION_ERRORS_METRIC, { rule: ruleId }) ?? 0).toBe(0);
  });

  it('judges the current connection state, and starts a no-data window at once for the devices in scope', async () => {
    const tag = uniqueDeviceId('conn');
    const online = await tagged('online', tag);
    const offline = await tagged('offline', tag);
    const client = await t.mqtt({ username: online.username, password: online.password, clientId: online.deviceId });
    await client.publishAsync(`devices/${online.deviceId}/status`, 'online', { qos: 1 });
    await until(async () => {
      const rows = await t.database.sql.query<{ connected: boolean }>(`SELECT connected FROM "Device" WHERE "deviceId" = $1`, [online.deviceId]);
      return rows[0]?.connected === true;
    }, 'the device connected');

    const connection = await createRule({ scope: { tag }, source: { type: 'CONNECTION' }, raise: { op: 'EQ', value: false } });
    expect(byDevice(await alarmsOfRule(connection))).toEqual({ [offline.deviceId]: ['ACTIVE', false] });

    const before = Date.now();
    const silence = await createRule({ scope: { tag }, source: { type: 'TELEMETRY', metric: 'hb' }, raise: { op: 'NO_DATA', forMs: 3_600_000 } });
    const windows = await t.database.sql.query<{ phase: string; pendingSince: Date; deadlineAt: Date }>(
      `SELECT phase, "pendingSince", "deadlineAt" FROM "RuleState" WHERE "ruleId" = $1`,
      [silence],
    );
    expect(windows).toHaveLength(2);
    for (const w of windows) {
      expect(w.phase).toBe('PENDING_RAISE');
      expect(new Date(w.pendingSince).getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(new Date(w.deadlineAt).getTime() - new Date(w.pendingSince).getTime()).toBe(3_600_000);
    }
    await client.endAsync();
  });
});
