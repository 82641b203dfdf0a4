/**
 * Rules and alarms end to end (docs/rules.md): real mqtt.js devices publish telemetry, twin reports and
 * connection changes; the engine judges them where they are stored, the sweeper fires deadlines from
 * the database, alarms are read, acknowledged, cleared and commented through GraphQL, and alarmChanged
 * reaches a graphql-ws subscriber. Rules are inserted as rows (the rules API is another service).
 * Time in these tests is the readings' time (explicit `ts`), so nothing waits for a duration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { registerDevice, until, type Creds } from '../support/commands.ts';
import { modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';
import { insertRule, updateRule } from '../services/rules/engine/support.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ RULES_SWEEP_INTERVAL_MS: '50', RULES_FLAP_MAX_EDGES: '3', RULES_FLAP_WINDOW_MS: '3600000' });
});
afterAll(async () => {
  await t?.stop();
});

const ALARM_FIELDS = `id alarmId status severity ruleVersion raisedAt raisedValue clearedAt clearedValue acknowledgedAt acknowledgedBy flapping
  rule { id name } device { deviceId }
  history { from to cause value actor comment at }
  actions { actionKey status attempts lastError data attemptLog { attempt } }`;

interface AlarmView {
  id: string;
  alarmId: string;
  status: string;
  severity: string;
  ruleVersion: number;
  raisedAt: string;
  raisedValue: unknown;
  clearedAt: string | null;
  clearedValue: unknown;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  flapping: boolean;
  rule: { id: string; name: string };
  device: { deviceId: string };
  history: Array<{ from: string | null; to: string; cause: string; value: unknown; actor: string | null; comment: string | null; at: string }>;
  actions: Array<{ actionKey: string; status: string; attempts: number; lastError: string | null; data: Record<string, unknown>; attemptLog: unknown[] }>;
}

async function alarmsOf(deviceId: string, token?: string): Promise<AlarmView[]> {
  const r = await t.gql<{ alarms: { totalCount: number; edges: Array<{ node: AlarmView }> } }, unknown>(
    `query A($d: String!) { alarms(filter: { deviceId: $d }, first: 5) { totalCount edges { node { ${ALARM_FIELDS} } } } }`,
    { d: deviceId },
    token,
  );
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.alarms.edges.map((e) => e.node);
}

async function waitForAlarms(deviceId: string, check: (alarms: AlarmView[]) => boolean, what: string): Promise<AlarmView[]> {
  let last: AlarmView[] = [];
  await until(async () => check((last = await alarmsOf(deviceId))), `${what} (last: ${JSON.stringify(last.map((a) => [a.status, a.flapping]))})`, 30_000);
  return last;
}

async function device(prefix: string, tags: string[] = []): Promise<{ creds: Creds; client: MqttClient; uuid: string }> {
  const creds = await registerDevice(t, null, uniqueDeviceId(prefix));
  if (tags.length > 0) await t.database.sql.query(`UPDATE "Device" SET tags = $2 WHERE "deviceId" = $1`, [creds.deviceId, tags]);
  const client = await t.mqtt({ username: creds.username, password: creds.password, clientId: creds.deviceId });
  const rows = await t.database.sql.query<{ id: string }>(`SELECT id FROM "Device" WHERE "deviceId" = $1`, [creds.deviceId]);
  return { creds, client, uuid: rows[0]!.id };
}

async function telemetry(client: MqttClient, deviceId: string, entries: Array<{ ts: number; values: Record<string, number | boolean> }>): Promise<void> {
  await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(entries), { qos: 1 });
}

const ACK = `mutation M($input: AlarmControlInput!) { acknowledgeAlarm(input: $input) { __typename ... on Alarm { status acknowledgedBy } ... on Error { code message } } }`;
const CLEAR = `mutation M($input: AlarmControlInput!) { clearAlarm(input: $input) { __typename ... on Alarm { status clearedAt } ... on Error { code message } } }`;
const COMMENT = `mutation M($input: CommentAlarmInput!) { commentAlarm(input: $input) { __typename ... on Alarm { status } ... on Error { code message } } }`;

const T0 = Date.now() - 60 * 60_000;

describe(`alarms (${modeName})`, () => {
  it('raises exactly one alarm when a device crosses a threshold, even when the reading is replayed, and latches when it clears', async () => {
    const d = await device('thr');
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30 },
      severity: 'MAJOR',
    });
    const ws = t.ws();
    const events = subscribe<{ alarmChanged: { deviceId: string; status: string; from: string | null; cause: string; severity: string } }>(
      ws,
      `subscription S($f: AlarmChangedFilter) { alarmChanged(filter: $f) { deviceId status from cause severity alarm { status } } }`,
      { f: { deviceId: d.creds.deviceId } },
    );
    await t.waitForSubscriptions(1);

    await telemetry(d.client, d.creds.deviceId, [
      { ts: T0, values: { temp: 20 } },
      { ts: T0 + 1000, values: { temp: 35 } },
    ]);
    // The same message again (a device re-sending after a lost PUBACK) and a later reading still above.
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0 + 1000, values: { temp: 35 } }]);
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0 + 2000, values: { temp: 36 } }]);
    const [raised] = await waitForAlarms(d.creds.deviceId, (a) => a.length === 1, 'the alarm');
    const total = await t.gql<{ alarms: { totalCount: number } }, unknown>(
      `query A($d: String!) { alarms(filter: { deviceId: $d, open: true }) { totalCount } }`,
      { d: d.creds.deviceId },
    );
    expect(total.data!.alarms.totalCount).toBe(1);
    expect(raised).toMatchObject({ status: 'ACTIVE', severity: 'MAJOR', raisedValue: 35, ruleVersion: 1, raisedAt: new Date(T0 + 1000).toISOString() });
    expect(raised!.history).toEqual([expect.objectContaining({ from: null, to: 'ACTIVE', cause: 'conditionRaised', value: 35 })]);

    const first = await events.next();
    expect(first.data?.alarmChanged).toMatchObject({ deviceId: d.creds.deviceId, status: 'ACTIVE', from: null, cause: 'conditionRaised', severity: 'MAJOR' });

    await telemetry(d.client, d.creds.deviceId, [{ ts: T0 + 3000, values: { temp: 25 } }]);
    const [latched] = await waitForAlarms(d.creds.deviceId, (a) => a[0]?.status === 'LATCHED', 'LATCHED');
    expect(latched).toMatchObject({ clearedValue: 25, clearedAt: new Date(T0 + 3000).toISOString() });
    expect((await events.next()).data?.alarmChanged).toMatchObject({ status: 'LATCHED', from: 'ACTIVE', cause: 'conditionCleared' });

    // Raised again from LATCHED: the same alarm (one incident nobody has seen yet).
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0 + 4000, values: { temp: 40 } }]);
    const again = await waitForAlarms(d.creds.deviceId, (a) => a[0]?.status === 'ACTIVE', 'ACTIVE again');
    expect(again).toHaveLength(1);
    expect(again[0]!.raisedValue).toBe(40);
    events.unsubscribe();
    await ws.dispose();
  });

  it('applies hysteresis: a separate clear condition and durations, judged on the readings’ time', async () => {
    const d = await device('hys');
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30, forMs: 1000 },
      clear: { op: '<', value: 20, forMs: 2000 },
      severity: 'MINOR',
    });
    await telemetry(d.client, d.creds.deviceId, [
      { ts: T0, values: { temp: 35 } },
      { ts: T0 + 500, values: { temp: 25 } }, // interrupts the raise window
      { ts: T0 + 600, values: { temp: 31 } },
      { ts: T0 + 1700, values: { temp: 32 } }, // held since +600 for 1000 ms: raised at +1600
      { ts: T0 + 2000, values: { temp: 25 } }, // between the conditions: stays raised
      { ts: T0 + 3000, values: { temp: 15 } },
      { ts: T0 + 4000, values: { temp: 22 } }, // interrupts the clear window
      { ts: T0 + 5000, values: { temp: 10 } },
      { ts: T0 + 7500, values: { temp: 10 } }, // held since +5000 for 2000 ms: cleared at +7000
    ]);
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a[0]?.status === 'LATCHED', 'LATCHED');
    expect(alarm).toMatchObject({
      raisedAt: new Date(T0 + 1600).toISOString(),
      raisedValue: 31,
      clearedAt: new Date(T0 + 7000).toISOString(),
      clearedValue: 10,
    });
    expect(alarm!.history.map((h) => h.cause)).toEqual(['conditionRaised', 'conditionCleared']);
  });

  it('fires a "for" window from the database when no later reading comes, stamped at the deadline', async () => {
    const d = await device('timer');
    await insertRule(t.database.sql, {
      scope: { tag: 'boiler' },
      source: { type: 'telemetry', metric: 'temp' },
      raise: { op: '>', value: 30, forMs: 300 },
      severity: 'CRITICAL',
    });
    await t.database.sql.query(`UPDATE "Device" SET tags = ARRAY['boiler'] WHERE id = $1`, [d.uuid]);
    const ts = Date.now();
    await telemetry(d.client, d.creds.deviceId, [{ ts, values: { temp: 33 } }]);
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a.length === 1, 'the swept alarm');
    expect(alarm).toMatchObject({ status: 'ACTIVE', raisedAt: new Date(ts + 300).toISOString(), raisedValue: 33, severity: 'CRITICAL' });
    const [state] = await t.database.sql.query<{ phase: string; deadlineAt: unknown }>(`SELECT phase, "deadlineAt" FROM "RuleState" WHERE "deviceId" = $1`, [
      d.uuid,
    ]);
    expect(state).toMatchObject({ phase: 'RAISED', deadlineAt: null });
  });

  it('raises a no-data alarm after the silence and clears it with the next reading', async () => {
    const d = await device('silent');
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 'hb' },
      raise: { op: 'noData', forMs: 300 },
      severity: 'WARNING',
    });
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a.length === 1, 'the no-data alarm');
    expect(alarm).toMatchObject({ status: 'ACTIVE', raisedValue: null });
    await telemetry(d.client, d.creds.deviceId, [{ ts: Date.now(), values: { hb: 1 } }]);
    await waitForAlarms(d.creds.deviceId, (a) => a[0]?.status === 'LATCHED', 'cleared by data');
  });

  it('watches the connection and reported twin paths', async () => {
    const d = await device('conn');
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'connection' },
      raise: { op: '==', value: false },
      severity: 'MAJOR',
    });
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'reported', path: ['battery', 'level'] },
      raise: { op: '<', value: 20 },
      clear: { op: '>=', value: 30 },
      severity: 'MINOR',
    });
    await d.client.publishAsync(`devices/${d.creds.deviceId}/twin/reported`, JSON.stringify({ state: { battery: { level: 10 } } }), { qos: 1 });
    const [battery] = await waitForAlarms(d.creds.deviceId, (a) => a.length === 1, 'the battery alarm');
    expect(battery).toMatchObject({ severity: 'MINOR', raisedValue: 10, status: 'ACTIVE' });
    await d.client.publishAsync(`devices/${d.creds.deviceId}/twin/reported`, JSON.stringify({ state: { other: 1 } }), { qos: 1 });
    await d.client.publishAsync(`devices/${d.creds.deviceId}/twin/reported`, JSON.stringify({ state: { battery: { level: 50 } } }), { qos: 1 });
    await waitForAlarms(d.creds.deviceId, (a) => a[0]?.status === 'LATCHED', 'the battery alarm latched');

    // The device says it goes offline (its Last Will says the same on an abrupt drop).
    await d.client.publishAsync(`devices/${d.creds.deviceId}/status`, 'online', { qos: 1 });
    await d.client.publishAsync(`devices/${d.creds.deviceId}/status`, 'offline', { qos: 1 });
    const alarms = await waitForAlarms(d.creds.deviceId, (a) => a.length === 2, 'the disconnection alarm');
    expect(alarms[0]).toMatchObject({ severity: 'MAJOR', status: 'ACTIVE', raisedValue: false });
  });

  it('acknowledges, clears and comments through the API, audited, refusing what the lifecycle does not allow', async () => {
    const d = await device('life');
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 'p' },
      raise: { op: '>', value: 5 },
      severity: 'INFO',
    });
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0, values: { p: 9 } }]);
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a.length === 1, 'the alarm');
    const input = { alarmId: alarm!.alarmId, comment: 'on it' };

    const viewer = await t.createToken('viewer');
    const refused = await t.gql(ACK, { input }, viewer);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    expect((await t.gql(ACK, { input })).data).toEqual({
      acknowledgeAlarm: { __typename: 'Alarm', status: 'ACKNOWLEDGED', acknowledgedBy: expect.any(String) },
    });
    expect((await t.gql(ACK, { input })).data).toMatchObject({ acknowledgeAlarm: { __typename: 'IllegalAlarmState', code: 'ILLEGAL_ALARM_STATE' } });
    expect((await t.gql(COMMENT, { input: { alarmId: alarm!.alarmId, text: 'valve replaced' } })).data).toEqual({
      commentAlarm: { __typename: 'Alarm', status: 'ACKNOWLEDGED' },
    });
    expect((await t.gql(COMMENT, { input: { alarmId: alarm!.alarmId, text: ' ' } })).data).toMatchObject({ commentAlarm: { __typename: 'ValidationError' } });
    expect((await t.gql(CLEAR, { input: { alarmId: alarm!.alarmId } })).data).toMatchObject({ clearAlarm: { __typename: 'Alarm', status: 'CLEARED' } });
    expect((await t.gql(CLEAR, { input: { alarmId: alarm!.alarmId } })).data).toMatchObject({ clearAlarm: { __typename: 'IllegalAlarmState' } });
    expect((await t.gql(CLEAR, { input: { alarmId: '00000000-0000-0000-0000-000000000000' } })).data).toMatchObject({ clearAlarm: { __typename: 'NotFound' } });

    const [after] = await alarmsOf(d.creds.deviceId);
    expect(after!.history.map((h) => [h.from, h.to, h.cause, h.comment])).toEqual([
      [null, 'ACTIVE', 'conditionRaised', null],
      ['ACTIVE', 'ACKNOWLEDGED', 'acknowledge', 'on it'],
      ['ACKNOWLEDGED', 'ACKNOWLEDGED', 'comment', 'valve replaced'],
      ['ACKNOWLEDGED', 'CLEARED', 'clear', null],
    ]);
    const audit = await t.database.sql.query<{ action: string }>(`SELECT action FROM "AuditEvent" WHERE target = $1 ORDER BY id`, [`alarm:${alarm!.alarmId}`]);
    expect(audit.map((a) => a.action)).toEqual(['alarm.acknowledge', 'alarm.comment', 'alarm.clear']);

    // A manual clear resets the window: the value still above raises a new alarm with the next reading.
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0 + 1000, values: { p: 9 } }]);
    const both = await waitForAlarms(d.creds.deviceId, (a) => a.length === 2, 'a new alarm');
    expect(both.map((a) => a.status)).toEqual(['ACTIVE', 'CLEARED']);
  });

  it('acknowledging a LATCHED alarm clears it', async () => {
    const d = await device('latch');
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 'p' },
      raise: { op: '>', value: 5 },
      severity: 'INFO',
    });
    await telemetry(d.client, d.creds.deviceId, [
      { ts: T0, values: { p: 9 } },
      { ts: T0 + 1, values: { p: 1 } },
    ]);
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a[0]?.status === 'LATCHED', 'LATCHED');
    expect((await t.gql(ACK, { input: { alarmId: alarm!.alarmId } })).data).toMatchObject({ acknowledgeAlarm: { status: 'CLEARED' } });
  });

  it('writes the ACTION rows and alarm.changed webhook rows with the transition', async () => {
    const d = await device('act');
    const valve = await device('valve');
    const endpoint = await t.database.sql.query<{ id: string }>(
      `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", "updatedAt") VALUES (gen_random_uuid(), 'default', 'https://example.invalid/hook', ARRAY['alarm.changed'], now()) RETURNING id::text AS id`,
    );
    const named = await t.database.sql.query<{ id: string }>(
      `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes", "updatedAt") VALUES (gen_random_uuid(), 'default', 'https://example.invalid/pager', ARRAY['device.connected'], now()) RETURNING id::text AS id`,
    );
    const ruleId = await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 'moisture' },
      raise: { op: '<', value: 20 },
      severity: 'INFO',
      onRaise: [
        { type: 'sendCommand', deviceId: valve.creds.deviceId, command: 'open', params: { bed: '{{deviceId}}', reading: '{{value}}' } },
        { type: 'updateDesired', patch: { watering: true } },
        { type: 'sendCommand', deviceId: 'no-such-device', command: 'open', params: {} },
        { type: 'notifyWebhook', endpointId: named[0]!.id },
      ],
    });
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0, values: { moisture: 12 } }]);
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a.length === 1, 'the alarm');
    expect(alarm!.actions.map((a) => [a.actionKey, a.data.action])).toEqual([
      [`${ruleId}:1:raise:0`, { type: 'sendCommand', deviceId: valve.creds.deviceId, command: 'open', params: { bed: d.creds.deviceId, reading: 12 } }],
      [`${ruleId}:1:raise:1`, { type: 'updateDesired', deviceId: d.creds.deviceId, patch: { watering: true } }],
      [`${ruleId}:1:raise:2`, { type: 'sendCommand', deviceId: 'no-such-device', command: 'open', params: {} }],
    ]);
    expect(alarm!.actions[0]!.data).toMatchObject({ ruleId, ruleVersion: 1, alarmId: alarm!.alarmId, trigger: { deviceId: d.creds.deviceId, value: 12 } });
    const rows = await t.database.sql.query<{
      kind: string;
      endpointId: string | null;
      deviceKey: string | null;
      type: string;
      eventId: string;
      data: Record<string, unknown>;
    }>(
      `SELECT kind, "endpointId"::text AS "endpointId", "deviceKey"::text AS "deviceKey", type, "eventId"::text AS "eventId", data FROM "Outbox" WHERE "alarmId" = $1 ORDER BY seq`,
      [alarm!.alarmId],
    );
    expect(rows.filter((r) => r.kind === 'ACTION').map((r) => r.deviceKey)).toEqual([valve.uuid, d.uuid, null]);
    const webhooks = rows.filter((r) => r.kind === 'WEBHOOK');
    expect(webhooks.map((r) => r.endpointId).sort()).toEqual([endpoint[0]!.id, named[0]!.id].sort());
    expect(new Set(rows.map((r) => r.eventId)).size).toBe(1);
    expect(webhooks[0]).toMatchObject({
      type: 'alarm.changed',
      deviceKey: d.uuid,
      data: { deviceId: d.creds.deviceId, alarmId: alarm!.alarmId, ruleId, to: 'ACTIVE', from: null, value: 12 },
    });
    await t.database.sql.query(`UPDATE "WebhookEndpoint" SET enabled = false WHERE id = ANY($1::uuid[])`, [[endpoint[0]!.id, named[0]!.id]]);
  });

  it('marks a flapping alarm once, holds back its actions and notifications, and ends it when edges fall back', async () => {
    const d = await device('flap');
    await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 'v' },
      raise: { op: '>', value: 10 },
      severity: 'INFO',
      onRaise: [{ type: 'updateDesired', patch: { alarm: true } }],
    });
    // Edges at +0, +1, +2 (within the limit of 3), then the 4th at +3 starts flapping; +4, +5 are held back.
    await telemetry(
      d.client,
      d.creds.deviceId,
      [20, 0, 20, 0, 20, 0].map((v, i) => ({ ts: T0 + i * 1000, values: { v } })),
    );
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a[0]?.flapping === true && a[0].history.length >= 7, 'flapping');
    expect(alarm!.history.map((h) => h.cause)).toEqual([
      'conditionRaised',
      'conditionCleared',
      'conditionRaised',
      'conditionCleared',
      'flapping',
      'conditionRaised',
      'conditionCleared',
    ]);
    expect(alarm!.actions).toHaveLength(2); // the raises before flapping started
    const notified = await t.database.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AlarmEvent" WHERE "alarmId" = $1 AND cause = 'flapping'`, [
      alarm!.alarmId,
    ]);
    expect(notified[0]!.n).toBe(1);
    // An hour later (the window), the edges have aged out: the next reading ends it.
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0 + 3_700_000, values: { v: 0 } }]);
    const [ended] = await waitForAlarms(d.creds.deviceId, (a) => a[0]?.flapping === false, 'flapping ended');
    expect(ended!.history.at(-1)).toMatchObject({ cause: 'flapping', value: false });
  });

  it('re-judges an open window when the rule is edited, never resetting it silently', async () => {
    const d = await device('edit');
    const ruleId = await insertRule(t.database.sql, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 't' },
      raise: { op: '>', value: 30, forMs: 3_600_000 },
      severity: 'INFO',
    });
    await telemetry(d.client, d.creds.deviceId, [{ ts: T0, values: { t: 25 } }]);
    await until(async () => (await t.database.sql.query(`SELECT 1 FROM "RuleState" WHERE "deviceId" = $1`, [d.uuid])).length === 1, 'the state');
    // The edit makes the last reading (25) hold: the sweeper re-judges the lagging state and raises.
    await updateRule(t.database.sql, ruleId, {
      scope: { deviceIds: [d.creds.deviceId] },
      source: { type: 'telemetry', metric: 't' },
      raise: { op: '>', value: 20 },
      severity: 'MAJOR',
    });
    const [alarm] = await waitForAlarms(d.creds.deviceId, (a) => a.length === 1, 'the alarm after the edit');
    expect(alarm).toMatchObject({ status: 'ACTIVE', ruleVersion: 2, severity: 'MAJOR', raisedValue: 25 });
  });
});
