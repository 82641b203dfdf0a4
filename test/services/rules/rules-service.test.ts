import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.ts';
import type { Database } from '../../../src/db/client.ts';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../../../src/domain/errors.ts';
import { createLogger } from '../../../src/logger.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { createModelService } from '../../../src/services/models.ts';
import { schemaTypeAt } from '../../../src/services/rules/actions-check.ts';
import { createRuleService, type RuleInput, type RuleService } from '../../../src/services/rules/index.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
let rules: RuleService;
const logger = createLogger('silent');
const twinLimits = loadConfig({}).twinLimits;
const acme = { tenantId: 'acme', actor: 'token:00000000-0000-4000-8000-000000000001', actorName: 'ops' };
const other = { tenantId: 'other', actor: 'token:00000000-0000-4000-8000-000000000002', actorName: 'them' };
const valve = uniqueDeviceId('valve');
const foreignValve = uniqueDeviceId('foreign');
let endpointId: string;
let foreignEndpointId: string;

async function addDevice(tenantId: string, deviceId: string, model: string | null): Promise<void> {
  await db.sql.query(
    `INSERT INTO "Device" (id, "tenantId", "deviceId", "secretHash", "modelId", "updatedAt")
     VALUES (gen_random_uuid(), $1, $2, 'unused', (SELECT id FROM "DeviceModel" WHERE "tenantId" = $1 AND name = $3), now())`,
    [tenantId, deviceId, model],
  );
}

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
  const audit = createAuditLog({ prisma: db.prisma, logger });
  const models = createModelService({ db, logger, audit });
  const valveModel = {
    commands: [
      {
        name: 'open',
        params: {
          type: 'object',
          properties: { minutes: { type: 'integer', minimum: 1, maximum: 60 }, bed: { type: 'string' }, level: { type: 'number' } },
          required: ['minutes'],
        },
      },
      { name: 'close', params: { type: 'object' } },
    ],
  };
  await models.create(acme, { name: 'valve', ...valveModel });
  await models.create(other, { name: 'valve', ...valveModel });
  await models.create(acme, {
    name: 'soil-sensor',
    commands: [{ name: 'calibrate', params: { type: 'object', properties: { offset: { type: 'number' } } } }],
    reportedSchema: { type: 'object', properties: { soil: { type: 'object', properties: { moisture: { type: 'number' }, label: { type: 'string' } } } } },
    desiredSchema: { type: 'object', properties: { watering: { type: 'boolean' }, target: { type: 'number' } }, required: ['target'] },
  });
  await addDevice('acme', valve, 'valve');
  await addDevice('other', foreignValve, 'valve');
  [{ id: endpointId }] = await db.sql.query<{ id: string }>(
    `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes") VALUES (gen_random_uuid(), 'acme', 'https://example.test/hook', '{alarm.raised}') RETURNING id::text`,
  );
  [{ id: foreignEndpointId }] = await db.sql.query<{ id: string }>(
    `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes") VALUES (gen_random_uuid(), 'other', 'https://example.test/hook', '{alarm.raised}') RETURNING id::text`,
  );
  rules = createRuleService({ db, models, audit, logger, twinLimits, maxPerTenant: 1000 });
});
afterAll(async () => {
  await closeDatabase?.();
});

const coldRoom = {
  scope: { tag: 'cold-room' },
  source: { type: 'telemetry', metric: 'temp' },
  raise: { op: '>', value: 8, forMs: 600_000 },
  clear: { op: '<', value: 6, forMs: 300_000 },
  severity: 'MAJOR',
};

async function refusal(promise: Promise<unknown>): Promise<Array<[string, string]>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((i) => [i.path.join('.'), i.code]);
}

const countRules = async (tenantId: string) =>
  Number((await db.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Rule" WHERE "tenantId" = $1`, [tenantId]))[0]!.n);

describe(`the rules service (${modeName})`, () => {
  it('creates, versions (keeping every version), enables, disables and deletes a rule of the tenant, auditing each', async () => {
    const created = await rules.createRule(acme, { name: 'cold room', description: 'too warm', definition: coldRoom });
    expect(created).toMatchObject({
      tenantId: 'acme',
      name: 'cold room',
      enabled: true,
      version: 1,
      definition: { source: { type: 'telemetry', metric: 'temp' } },
    });
    const [stored] = await db.sql.query<{ sourceType: string; sourceKey: string }>(`SELECT "sourceType", "sourceKey" FROM "Rule" WHERE id = $1`, [created.id]);
    expect(stored).toEqual({ sourceType: 'telemetry', sourceKey: 'temp' });

    const updated = await rules.updateRule(acme, created.id, {
      name: 'cold room',
      definition: { ...coldRoom, source: { type: 'reported', path: ['room', 'temp'] }, severity: 'CRITICAL' },
    });
    expect(updated).toMatchObject({ version: 2, definition: { severity: 'CRITICAL' } });
    const [stored2] = await db.sql.query<{ sourceType: string; sourceKey: string }>(`SELECT "sourceType", "sourceKey" FROM "Rule" WHERE id = $1`, [created.id]);
    expect(stored2).toEqual({ sourceType: 'reported', sourceKey: '["room","temp"]' });
    const versions = await db.prisma.ruleVersion.findMany({ where: { ruleId: created.id }, orderBy: { version: 'asc' } });
    expect(versions.map((v) => [v.version, (v.definition as { severity: string }).severity, v.createdBy])).toEqual([
      [1, 'MAJOR', 'ops'],
      [2, 'CRITICAL', 'ops'],
    ]);

    expect(await rules.disableRule(acme, created.id)).toMatchObject({ enabled: false, version: 2 });
    expect(await rules.enableRule(acme, created.id)).toMatchObject({ enabled: true, version: 2 });
    // Another tenant sees nothing, and cannot change or delete it.
    expect(await rules.rule('other', created.id)).toBeNull();
    await expect(rules.updateRule(other, created.id, { name: 'x', definition: coldRoom })).rejects.toBeInstanceOf(NotFoundError);
    await expect(rules.disableRule(other, created.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(rules.deleteRule(other, created.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(rules.deleteRule(acme, 'not-a-uuid')).rejects.toBeInstanceOf(NotFoundError);

    expect(await rules.deleteRule(acme, created.id)).toBe(created.id);
    expect(await rules.rule('acme', created.id)).toBeNull();
    expect(await db.prisma.ruleVersion.count({ where: { ruleId: created.id } })).toBe(0);
    const audit = await db.prisma.auditEvent.findMany({ where: { target: `rule:${created.id}` }, orderBy: { id: 'asc' } });
    expect(audit.map((a) => [a.tenantId, a.actor, a.action])).toEqual([
      ['acme', acme.actor, 'rule.create'],
      ['acme', acme.actor, 'rule.update'],
      ['acme', acme.actor, 'rule.disable'],
      ['acme', acme.actor, 'rule.enable'],
      ['acme', acme.actor, 'rule.delete'],
    ]);
  });

  it('refuses a second rule with the same name in the tenant by constraint, also when created concurrently; another tenant may use it', async () => {
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => rules.createRule(acme, { name: 'twice', definition: coldRoom })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(AlreadyExistsError);
    const mine = await rules.createRule(acme, { name: 'renamed', definition: coldRoom });
    await expect(rules.updateRule(acme, mine.id, { name: 'twice', definition: coldRoom })).rejects.toBeInstanceOf(AlreadyExistsError);
    expect((await rules.rule('acme', mine.id))?.version).toBe(1);
    await expect(rules.createRule(other, { name: 'twice', definition: coldRoom })).resolves.toMatchObject({ tenantId: 'other' });
  });

  it('refuses every problem of issue 12 with its path and saves nothing', async () => {
    const before = await countRules('acme');
    const input = (definition: object, name = 'refused'): RuleInput => ({ name, definition: { ...coldRoom, ...definition } });

    expect(await refusal(rules.createRule(acme, input({ source: { type: 'telemetry', metric: 'temp/inside' } })))).toEqual([
      ['input.source.metric', 'INVALID_METRIC'],
    ]);
    expect(await refusal(rules.createRule(acme, input({ raise: { op: '>', value: 8, forMs: 0 } })))).toEqual([['input.raise.forMs', 'OUT_OF_RANGE']]);
    expect(await refusal(rules.createRule(acme, input({ raise: { op: '>', value: 8, forMs: 30 * 86_400_000 + 1 } })))).toEqual([
      ['input.raise.forMs', 'OUT_OF_RANGE'],
    ]);
    // Another tenant's device is reported as missing, exactly as one that does not exist.
    const foreign = await refusal(
      rules.createRule(acme, input({ onRaise: [{ type: 'sendCommand', deviceId: foreignValve, command: 'open', params: { minutes: 5 } }] })),
    );
    const missing = await refusal(
      rules.createRule(acme, input({ onRaise: [{ type: 'sendCommand', deviceId: 'no-such-valve', command: 'open', params: { minutes: 5 } }] })),
    );
    expect(foreign).toEqual([['input.onRaise.0.deviceId', 'NOT_FOUND']]);
    expect(missing).toEqual(foreign);
    expect(await refusal(rules.createRule(acme, input({ onClear: [{ type: 'sendCommand', deviceId: valve, command: 'explode' }] })))).toEqual([
      ['input.onClear.0.command', 'UNKNOWN_COMMAND'],
    ]);
    expect(
      await refusal(
        rules.createRule(acme, input({ onRaise: [{ type: 'sendCommand', deviceId: valve, command: 'open', params: { minutes: 'ten', extra: 1 } }] })),
      ),
    ).toEqual([
      ['input.onRaise.0.params.extra', 'UNKNOWN_FIELD'],
      ['input.onRaise.0.params.minutes', 'INVALID_TYPE'],
    ]);
    expect(await refusal(rules.createRule(acme, input({ onRaise: [{ type: 'sendCommand', deviceId: valve, command: 'open', params: {} }] })))).toEqual([
      ['input.onRaise.0.params.minutes', 'REQUIRED'],
    ]);
    expect(await refusal(rules.createRule(acme, input({ onRaise: [{ type: 'notifyWebhook', endpointId: foreignEndpointId }] })))).toEqual([
      ['input.onRaise.0.endpointId', 'NOT_FOUND'],
    ]);
    // Header fields and the definition are reported together.
    expect(await refusal(rules.createRule(acme, { name: ' ', definition: { ...coldRoom, severity: 'LOUD' } }))).toEqual([
      ['input.name', 'INVALID_NAME'],
      ['input.severity', 'INVALID_VALUE'],
    ]);
    expect(await countRules('acme')).toBe(before);
  });

  it('checks a twin source against the type the scope model declares, and actions on the triggering device against that model', async () => {
    const soil = (definition: object) => ({
      name: `soil ${Math.random()}`,
      definition: {
        scope: { model: 'soil-sensor' },
        source: { type: 'reported', path: ['soil', 'moisture'] },
        raise: { op: '<', value: 20 },
        severity: 'INFO',
        ...definition,
      },
    });
    expect(await refusal(rules.createRule(acme, soil({ raise: { op: '==', value: 'dry' } })))).toEqual([['input.raise.value', 'TYPE_MISMATCH']]);
    expect(await refusal(rules.createRule(acme, soil({ source: { type: 'reported', path: ['soil', 'label'] } })))).toEqual([
      ['input.raise.value', 'TYPE_MISMATCH'],
    ]);
    // The triggering device runs the scope's model: its commands and desired schema apply.
    expect(await refusal(rules.createRule(acme, soil({ onRaise: [{ type: 'sendCommand', command: 'open' }] })))).toEqual([
      ['input.onRaise.0.command', 'UNKNOWN_COMMAND'],
    ]);
    expect(await refusal(rules.createRule(acme, soil({ onRaise: [{ type: 'updateDesired', patch: { watering: 'yes' } }] })))).toEqual([
      ['input.onRaise.0.patch.watering', 'INVALID_TYPE'],
    ]);
    // A patch need not carry what the whole document requires, and null deletes.
    await expect(rules.createRule(acme, soil({ onRaise: [{ type: 'updateDesired', patch: { watering: true, target: null } }] }))).resolves.toMatchObject({
      version: 1,
    });
    // Templates: {{value}} is a number here (the model declares it), so it fits a number param, not a string one…
    await expect(
      rules.createRule(
        acme,
        soil({ onRaise: [{ type: 'sendCommand', deviceId: valve, command: 'open', params: { minutes: 5, level: '{{value}}', bed: '{{deviceId}}' } }] }),
      ),
    ).resolves.toMatchObject({ version: 1 });
    expect(
      await refusal(
        rules.createRule(acme, soil({ onRaise: [{ type: 'sendCommand', deviceId: valve, command: 'open', params: { minutes: 5, bed: '{{value}}' } }] })),
      ),
    ).toEqual([['input.onRaise.0.params.bed', 'TYPE_MISMATCH']]);
    // …and a value constraint (minimum 1) cannot be judged before the value exists: left to fire time.
    await expect(
      rules.createRule(acme, soil({ onRaise: [{ type: 'sendCommand', deviceId: valve, command: 'open', params: { minutes: '{{value}}' } }] })),
    ).resolves.toMatchObject({ version: 1 });
    // Without a model in the scope, the triggering device's command is checked when it fires.
    await expect(
      rules.createRule(acme, {
        name: 'any device',
        definition: {
          ...coldRoom,
          onRaise: [
            { type: 'sendCommand', command: 'anything' },
            { type: 'notifyWebhook', endpointId },
          ],
        },
      }),
    ).resolves.toMatchObject({ version: 1 });
  });

  it('reads the declared type along properties and additionalProperties, and nothing through what it does not follow', () => {
    const schema = { type: 'object', properties: { a: { type: 'object', additionalProperties: { type: ['number', 'null'] } }, r: { $ref: '#/x' } } };
    expect(schemaTypeAt(schema, ['a', 'anything'])).toEqual(['number', 'null']);
    expect(schemaTypeAt(schema, ['a'])).toBe('object');
    expect(schemaTypeAt(schema, ['r'])).toBeUndefined();
    expect(schemaTypeAt(schema, ['missing'])).toBeUndefined();
    expect(schemaTypeAt(null, ['a'])).toBeUndefined();
  });

  it('enforces RULES_MAX_PER_TENANT without a race: concurrent creates never exceed it', async () => {
    const audit = createAuditLog({ prisma: db.prisma, logger });
    const limited = createRuleService({ db, models: createModelService({ db, logger, audit }), audit, logger, twinLimits, maxPerTenant: 3 });
    const tenant = { ...acme, tenantId: `limited-${Math.random().toString(36).slice(2, 8)}` };
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => limited.createRule(tenant, { name: `rule ${i}`, definition: coldRoom })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      const error = (r as PromiseRejectedResult).reason as ValidationError;
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.issues.map((i) => [i.path.join('.'), i.code])).toEqual([['input', 'LIMIT_EXCEEDED']]);
    }
    expect(await countRules(tenant.tenantId)).toBe(3);
  });
});
