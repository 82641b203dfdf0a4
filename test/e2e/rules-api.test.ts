/**
 * The rules API over HTTP (createRule … testRule), and the rule action executor against a real device
 * on MQTT. The executor runs in this test process on the server's database, as a second instance would
 * (its command service has no broker: the server's delivery sweep publishes what it stores).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createAuditLog } from '../../src/services/audit.ts';
import { createCommandService, type CommandService } from '../../src/services/commands/index.ts';
import { createDomainHooks } from '../../src/services/hooks.ts';
import { createModelService } from '../../src/services/models.ts';
import { createActionExecutor, type ActionExecutor, type OutboxActionRow } from '../../src/services/rules/action-executor.ts';
import { createTwinService, type TwinService } from '../../src/services/twins/index.ts';
import { commandDevice, createModel, registerDevice, until } from '../support/commands.ts';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
let valveModel: string;
let sensorModel: string;

const RULE_FIELDS = `ruleId name enabled version severity scope { tag model deviceIds } source { type metric path }
  raise { op value low high forMs } clear { op value forMs } onRaise { type deviceId command params patch endpointId } onClear { type deviceId command }
  versions { version definition createdBy }`;
const CREATE = `mutation C($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ${RULE_FIELDS} }
  ... on ValidationError { code fieldErrors { path code } } ... on Error { code message } } }`;
const UPDATE = `mutation U($id: String!, $input: RuleInput!) { updateRule(ruleId: $id, input: $input) { __typename ... on Rule { ${RULE_FIELDS} }
  ... on ValidationError { code fieldErrors { path code } } ... on Error { code } } }`;

beforeAll(async () => {
  t = await startTestServer({ COMMAND_SWEEP_INTERVAL_MS: '100' });
  valveModel = uniqueDeviceId('valve-model');
  sensorModel = uniqueDeviceId('soil-model');
  await createModel(t, {
    name: valveModel,
    commands: [
      { name: 'open', params: { type: 'object', properties: { minutes: { type: 'integer', minimum: 1 }, bed: { type: 'string' } }, required: ['minutes'] } },
      { name: 'close', params: {} },
    ],
  });
  await createModel(t, {
    name: sensorModel,
    reportedSchema: { type: 'object', properties: { soil: { type: 'object', properties: { moisture: { type: 'number' } } } } },
    desiredSchema: { type: 'object', properties: { watering: { type: 'boolean' } } },
  });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

type Gql = { data?: Record<string, Record<string, unknown>> | null; errors?: unknown };

describe(`the rules API (${modeName})`, () => {
  it('creates the two rules of docs/rules.md, versions one, lists, reads, disables and deletes them', async () => {
    const valve = await registerDevice(t, valveModel);
    const coldRoom = {
      name: `cold room ${randomUUID()}`,
      scope: { tag: 'cold-room' },
      source: { type: 'TELEMETRY', metric: 'temp' },
      raise: { op: 'GT', value: 8, forMs: 600000 },
      clear: { op: 'LT', value: 6, forMs: 300000 },
      severity: 'MAJOR',
    };
    const created = ((await t.gql(CREATE, { input: coldRoom })) as Gql).data!.createRule!;
    expect(created).toMatchObject({
      __typename: 'Rule',
      version: 1,
      enabled: true,
      severity: 'MAJOR',
      source: { type: 'TELEMETRY', metric: 'temp', path: null },
      raise: { op: 'GT', value: 8, forMs: 600000 },
      clear: { op: 'LT', value: 6, forMs: 300000 },
      versions: [{ version: 1, createdBy: 'test admin' }],
    });

    const soil = {
      name: `soil ${randomUUID()}`,
      scope: { model: sensorModel },
      source: { type: 'REPORTED', path: ['soil', 'moisture'] },
      raise: { op: 'LT', value: 20, forMs: 900000 },
      clear: { op: 'GTE', value: 35 },
      severity: 'INFO',
      onRaise: [
        { type: 'SEND_COMMAND', deviceId: valve.deviceId, command: 'open', params: { minutes: 10, bed: '{{deviceId}}' } },
        { type: 'UPDATE_DESIRED', patch: { watering: true } },
      ],
      onClear: [{ type: 'SEND_COMMAND', deviceId: valve.deviceId, command: 'close' }],
    };
    const automation = ((await t.gql(CREATE, { input: soil })) as Gql).data!.createRule!;
    expect(automation).toMatchObject({
      __typename: 'Rule',
      onRaise: [{ type: 'SEND_COMMAND', params: { minutes: 10, bed: '{{deviceId}}' } }, { type: 'UPDATE_DESIRED' }],
    });

    const updated = ((await t.gql(UPDATE, { id: created.ruleId, input: { ...coldRoom, severity: 'CRITICAL' } })) as Gql).data!.updateRule!;
    expect(updated).toMatchObject({ version: 2, severity: 'CRITICAL' });
    expect((updated.versions as Array<{ version: number }>).map((v) => v.version)).toEqual([2, 1]);

    const list = (await t.gql(`{ rules(first: 10, filter: { sourceType: TELEMETRY }) { totalCount edges { node { ruleId name } } } }`)) as Gql;
    expect(list.data!.rules).toMatchObject({ totalCount: 1, edges: [{ node: { ruleId: created.ruleId } }] });
    const one = (await t.gql(`query R($id: String!) { rule(ruleId: $id) { name version } }`, { id: automation.ruleId })) as Gql;
    expect(one.data!.rule).toEqual({ name: soil.name, version: 1 });

    const disabled = (await t.gql(`mutation D($id: String!) { disableRule(ruleId: $id) { __typename ... on Rule { enabled version } } }`, {
      id: created.ruleId,
    })) as Gql;
    expect(disabled.data!.disableRule).toEqual({ __typename: 'Rule', enabled: false, version: 2 });
    const deleted = (await t.gql(`mutation D($id: String!) { deleteRule(ruleId: $id) { __typename ... on DeletedRule { ruleId } ... on Error { code } } }`, {
      id: created.ruleId,
    })) as Gql;
    expect(deleted.data!.deleteRule).toEqual({ __typename: 'DeletedRule', ruleId: created.ruleId });
    const again = (await t.gql(`mutation D($id: String!) { deleteRule(ruleId: $id) { __typename ... on Error { code } } }`, { id: created.ruleId })) as Gql;
    expect(again.data!.deleteRule).toEqual({ __typename: 'NotFound', code: 'NOT_FOUND' });
  });

  it('refuses a rule with every problem at its path in the input, saves nothing, and refuses a taken name', async () => {
    const name = `refused ${randomUUID()}`;
    const input = {
      name,
      scope: { model: sensorModel },
      source: { type: 'TELEMETRY', metric: 'temp/x' },
      raise: { op: 'GT', value: 8, forMs: 0 },
      severity: 'MAJOR',
      onRaise: [{ type: 'SEND_COMMAND', deviceId: 'nobody-has-this-id', command: 'open' }],
    };
    const r = ((await t.gql(CREATE, { input })) as Gql).data!.createRule!;
    expect(r).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      fieldErrors: [
        { path: ['input', 'source', 'metric'], code: 'INVALID_METRIC' },
        { path: ['input', 'raise', 'forMs'], code: 'OUT_OF_RANGE' },
      ],
    });
    // Once the definition is sound, the actions are checked against the tenant.
    const r2 = ((await t.gql(CREATE, { input: { ...input, source: { type: 'TELEMETRY', metric: 'temp' }, raise: { op: 'GT', value: 8 } } })) as Gql).data!
      .createRule!;
    expect(r2).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      fieldErrors: [{ path: ['input', 'onRaise', '0', 'deviceId'], code: 'NOT_FOUND' }],
    });
    expect(await t.database.prisma.rule.count({ where: { name } })).toBe(0);

    const ok = { ...input, source: { type: 'TELEMETRY', metric: 'temp' }, raise: { op: 'GT', value: 8 }, onRaise: [] };
    expect(((await t.gql(CREATE, { input: ok })) as Gql).data!.createRule!.__typename).toBe('Rule');
    expect(((await t.gql(CREATE, { input: ok })) as Gql).data!.createRule).toMatchObject({ __typename: 'AlreadyExists', code: 'ALREADY_EXISTS' });
  });

  it('lets viewers read and backtest, operators write', async () => {
    const viewer = await t.createToken('viewer');
    const operator = await t.createToken('operator');
    const input = { name: `roles ${randomUUID()}`, scope: {}, source: { type: 'TELEMETRY', metric: 'temp' }, raise: { op: 'GT', value: 8 }, severity: 'MINOR' };
    const refused = (await t.gql(CREATE, { input }, viewer)) as Gql & { errors?: Array<{ extensions?: { code?: string } }> };
    expect(refused.data?.createRule ?? null).toBeNull();
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(((await t.gql(CREATE, { input }, operator)) as Gql).data!.createRule!.__typename).toBe('Rule');

    // A device that reported 9, 9 and 5 over the last hour: testRule replays it.
    const sensor = await registerDevice(t, null);
    const client = await t.mqtt({ username: sensor.username, password: sensor.password, clientId: `${sensor.deviceId}-t` });
    const now = Date.now();
    await client.publishAsync(
      `devices/${sensor.deviceId}/telemetry`,
      JSON.stringify([
        { ts: now - 30 * 60_000, values: { temp: 9 } },
        { ts: now - 20 * 60_000, values: { temp: 9.5 } },
        { ts: now - 10 * 60_000, values: { temp: 5 } },
      ]),
      { qos: 1 },
    );
    await until(
      async () =>
        (await t.database.sql.query(`SELECT 1 FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId" WHERE d."deviceId" = $1`, [sensor.deviceId]))
          .length === 3,
      'telemetry stored',
    );
    const backtest = (await t.gql(
      `query B($input: RuleInput!, $from: DateTime!, $to: DateTime!, $d: [String!]) { testRule(input: $input, from: $from, to: $to, deviceIds: $d) {
        __typename ... on RuleBacktest { devices readings raised cleared alarms { deviceId raisedValue clearedValue } } ... on Error { code } } }`,
      {
        input: { ...input, raise: { op: 'GT', value: 8, forMs: 5 * 60_000 } },
        from: new Date(now - 3_600_000).toISOString(),
        to: new Date(now).toISOString(),
        d: [sensor.deviceId],
      },
      viewer,
    )) as Gql;
    expect(backtest.data!.testRule).toEqual({
      __typename: 'RuleBacktest',
      devices: 1,
      readings: 3,
      raised: 1,
      cleared: 1,
      alarms: [{ deviceId: sensor.deviceId, raisedValue: 9, clearedValue: 5 }],
    });
  }, 60_000);
});

describe(`the rule action executor (${modeName})`, () => {
  let commands: CommandService;
  let twins: TwinService;
  let execute: ActionExecutor;

  beforeAll(() => {
    const logger = createLogger('silent');
    const metrics = new Metrics();
    const bus = createEventBus();
    const db = t.database;
    const audit = createAuditLog({ prisma: db.prisma, logger });
    const models = createModelService({ db, logger, audit });
    commands = createCommandService({
      db,
      bus,
      logger,
      metrics,
      models,
      config: loadConfig({}).commands,
      // No broker in this process: a claimed command is released, and the server's sweep publishes it.
      outbox: { deliver: () => Promise.reject(new Error('no broker in the test process')) },
      audit,
    });
    twins = createTwinService({
      sql: db.sql,
      bus,
      hooks: createDomainHooks({ logger, metrics }),
      audit,
      limits: loadConfig({}).twinLimits,
      logger,
      metrics,
      schemas: models,
    });
    execute = createActionExecutor({ sql: db.sql, commands, twins });
  });
  afterAll(async () => {
    await commands?.stop();
    await twins?.drain();
  });

  const uuidOf = async (deviceId: string) => (await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId } })).id;
  const row = (deviceKey: string | null, action: object, tenantId = 'default'): OutboxActionRow => ({
    id: randomUUID(),
    tenantId,
    eventId: randomUUID(),
    alarmId: null,
    deviceKey,
    attempts: 0,
    data: { action, ruleId: '11111111-2222-4333-8444-555555555555', ruleVersion: 1, alarmId: null, trigger: { deviceId: 'sensor', value: 15 } },
  });

  it('sends the command of an ACTION row to the device over MQTT, once however often the row is executed', async () => {
    const creds = await registerDevice(t, valveModel);
    const device = await commandDevice(t, creds);
    const action = row(await uuidOf(creds.deviceId), { type: 'sendCommand', deviceId: creds.deviceId, command: 'open', params: { minutes: 10, bed: 'bed-3' } });

    const first = await execute(action);
    expect(first).toMatchObject({ ok: true });
    const [received] = await device.waitFor(1);
    expect(received!.body).toMatchObject({ name: 'open', params: { minutes: 10, bed: 'bed-3' } });
    const stored = await t.database.prisma.command.findUniqueOrThrow({ where: { id: received!.commandId } });
    expect(stored).toMatchObject({ idempotencyKey: `outbox:${action.id}`, requestedBy: 'rule:11111111-2222-4333-8444-555555555555', requestedById: null });

    // A re-execution (a crash after sending, an expired lease) answers with the same command.
    const second = await execute({ ...action, attempts: 1 });
    expect(second).toEqual({ ok: true, detail: `command ${received!.commandId} (already sent by an earlier execution)` });
    expect(await t.database.prisma.command.count({ where: { idempotencyKey: `outbox:${action.id}` } })).toBe(1);
    // Nothing else arrives: a later command (sent after the replay) is the next one the device sees.
    const probe = await execute(row(action.deviceKey, { type: 'sendCommand', deviceId: creds.deviceId, command: 'close', params: {} }));
    expect(probe.ok).toBe(true);
    const all = await device.waitFor(2);
    expect(all.map((c) => c.body.name)).toEqual(['open', 'close']);
  }, 60_000);

  it('updates desired state as the rule, and refuses for good what the target refuses', async () => {
    const creds = await registerDevice(t, sensorModel);
    const key = await uuidOf(creds.deviceId);
    const ok = await execute(row(key, { type: 'updateDesired', deviceId: creds.deviceId, patch: { watering: true } }));
    expect(ok).toMatchObject({ ok: true });
    const change = await t.database.prisma.twinChange.findFirstOrThrow({ where: { deviceId: key, section: 'desired' }, orderBy: { id: 'desc' } });
    expect(change).toMatchObject({ patch: { watering: true }, actor: 'rule:11111111-2222-4333-8444-555555555555' });

    const refusals = [
      // The patch breaks the model's desired schema.
      await execute(row(key, { type: 'updateDesired', deviceId: creds.deviceId, patch: { watering: 'yes' } })),
      // The model has no such command / the params break its schema.
      await execute(row(key, { type: 'sendCommand', deviceId: creds.deviceId, command: 'open', params: { minutes: 1 } })),
      // The target did not exist when the row was written.
      await execute(row(null, { type: 'sendCommand', deviceId: creds.deviceId, command: 'open', params: {} })),
      // The row names a device of another tenant.
      await execute(row(key, { type: 'sendCommand', deviceId: creds.deviceId, command: 'open', params: {} }, 'other-tenant')),
      // notifyWebhook never runs as an ACTION row.
      await execute(row(null, { type: 'notifyWebhook', endpointId: randomUUID() })),
    ];
    for (const r of refusals) expect(r).toMatchObject({ ok: false, retry: false });
    expect(refusals.map((r) => (r.ok ? '' : r.error.split(':')[0]))).toEqual([
      'VALIDATION_FAILED',
      'VALIDATION_FAILED',
      'NOT_FOUND',
      'NOT_FOUND',
      'INVALID_ACTION',
    ]);
    const valve = await registerDevice(t, valveModel);
    const bad = await execute(row(await uuidOf(valve.deviceId), { type: 'sendCommand', deviceId: valve.deviceId, command: 'open', params: { minutes: 0 } }));
    expect(bad).toMatchObject({ ok: false, retry: false });
    expect(await t.database.prisma.command.count({ where: { device: { deviceId: valve.deviceId } } })).toBe(0);
  }, 60_000);
});
