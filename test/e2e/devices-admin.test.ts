/**
 * Managing devices through GraphQL beyond one registration at a time:
 * - bulk registration (`registerDevices`, src/services/devices/bulk.ts): every row answered, per row or
 *   all-or-nothing, dry runs that write nothing, the row limit, races on the same id, and devices that
 *   then connect over MQTT with the passwords they were given;
 * - `updateDevice` (src/services/devices/update.ts) and `deleteDeviceModel` (refused while in use).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connackCode, embeddedBroker, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
beforeAll(async () => {
  // Rows of 10,000 devices are bigger than the default 1 MiB body limit allows with long ids and tags.
  // The deliverer is off: the webhook case only looks at the outbox rows the registration wrote.
  t = await startTestServer({ GRAPHQL_MAX_BODY_BYTES: String(4 * 1024 * 1024), WEBHOOKS_ENABLED: 'false' });
});
afterAll(async () => {
  await t?.stop();
});

interface Row {
  index: number;
  deviceId: string;
  status: 'CREATED' | 'VALID' | 'FAILED';
  id: string | null;
  username: string | null;
  password: string | null;
  errors: Array<{ code: string; path: string[]; message: string }>;
}
interface Payload {
  __typename: string;
  dryRun: boolean;
  atomic: boolean;
  created: number;
  failed: number;
  results: Row[];
}

const REGISTER_DEVICES = `mutation R($inputs: [RegisterDeviceInput!]!, $dryRun: Boolean, $atomic: Boolean) {
  registerDevices(inputs: $inputs, dryRun: $dryRun, atomic: $atomic) {
    __typename
    ... on RegisterDevicesPayload { dryRun atomic created failed results { index deviceId status id username password errors { code path message } } }
    ... on ValidationError { code message fieldErrors { path code message } }
  }
}`;

type Input = { deviceId: string; name?: string; tags?: string[]; model?: string };

async function registerDevices(inputs: Input[], flags: { dryRun?: boolean; atomic?: boolean } = {}): Promise<Payload> {
  const r = await t.gql(REGISTER_DEVICES, { inputs, ...flags });
  expect(r.errors).toBeUndefined();
  return (r.data as { registerDevices: Payload }).registerDevices;
}

async function storedDevices(ids: string[]) {
  return t.database.prisma.device.findMany({ where: { deviceId: { in: ids } }, include: { twin: true, model: true }, orderBy: { deviceId: 'asc' } });
}

describe(`registerDevices (${modeName})`, () => {
  it('creates every row with its twin, model, tags and a password the broker accepts, audited per device', async () => {
    const prefix = uniqueDeviceId('bulk');
    const inputs: Input[] = [
      { deviceId: `${prefix}-a`, name: 'A', tags: ['site:1', 'site:1', 'hall'], model: `${prefix}-thermo` },
      { deviceId: `${prefix}-b`, model: `${prefix}-thermo` },
      { deviceId: `${prefix}-c` },
    ];
    const p = await registerDevices(inputs);
    expect(p).toMatchObject({ __typename: 'RegisterDevicesPayload', dryRun: false, atomic: false, created: 3, failed: 0 });
    expect(p.results.map((r) => [r.index, r.deviceId, r.status, r.username])).toEqual(inputs.map((input, i) => [i, input.deviceId, 'CREATED', input.deviceId]));
    expect(new Set(p.results.map((r) => r.password)).size).toBe(3);

    const stored = await storedDevices(inputs.map((i) => i.deviceId));
    expect(stored.map((d) => [d.deviceId, d.name, d.tags, d.model?.name ?? null, d.twin?.version])).toEqual([
      [`${prefix}-a`, 'A', ['site:1', 'hall'], `${prefix}-thermo`, 0],
      [`${prefix}-b`, null, [], `${prefix}-thermo`, 0],
      [`${prefix}-c`, null, [], null, 0],
    ]);
    // The global ids answer node(id) like any registered device's.
    const node = await t.gql(`query N($id: ID!) { node(id: $id) { ... on Device { deviceId } } }`, { id: p.results[0]!.id });
    expect(node.data).toEqual({ node: { deviceId: `${prefix}-a` } });

    const audit = await t.database.prisma.auditEvent.findMany({
      where: { action: 'device.register', target: { in: inputs.map((i) => `device:${i.deviceId}`) } },
    });
    expect(audit.map((a) => a.target).sort()).toEqual(inputs.map((i) => `device:${i.deviceId}`));

    if (embeddedBroker) {
      // Device authentication is the embedded broker's (an external one mirrors it: dynsec tests).
      for (const row of p.results) expect(await connackCode(t.mqttUrl, row.username!, row.password!)).toBe(0);
      expect(await connackCode(t.mqttUrl, p.results[0]!.username!, `${p.results[0]!.password}x`)).toBe(4);
    }
  });

  it('answers each refused row with its error at its path and creates the rest (per row)', async () => {
    const prefix = uniqueDeviceId('bulkbad');
    const taken = `${prefix}-taken`;
    expect((await registerDevices([{ deviceId: taken }])).created).toBe(1);
    const p = await registerDevices([
      { deviceId: `${prefix}-ok` },
      { deviceId: 'bad id/with#' },
      { deviceId: `${prefix}-long`, name: 'x'.repeat(201) },
      { deviceId: `${prefix}-tag`, tags: ['ok', 'not ok!'] },
      { deviceId: `${prefix}-ok` },
      { deviceId: taken },
      { deviceId: `${prefix}-model`, model: '' },
      { deviceId: `${prefix}-many`, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) },
    ]);
    expect(p.created).toBe(1);
    expect(p.failed).toBe(7);
    const byIndex = p.results.map((r) => [r.status, r.errors.map((e) => [e.code, e.path.join('.')])]);
    expect(byIndex).toEqual([
      ['CREATED', []],
      ['FAILED', [['INVALID_DEVICE_ID', 'inputs.1.deviceId']]],
      ['FAILED', [['TOO_LONG', 'inputs.2.name']]],
      ['FAILED', [['INVALID_TAG', 'inputs.3.tags.1']]],
      ['FAILED', [['DUPLICATE_IN_REQUEST', 'inputs.4.deviceId']]],
      ['FAILED', [['ALREADY_EXISTS', 'inputs.5.deviceId']]],
      ['FAILED', [['INVALID_MODEL', 'inputs.6.model']]],
      ['FAILED', [['TOO_MANY', 'inputs.7.tags']]],
    ]);
    expect(p.results[4]!.errors[0]!.message).toContain('row 0');
    expect(p.results.filter((r) => r.status === 'FAILED').every((r) => r.password === null && r.id === null)).toBe(true);
    expect((await storedDevices([`${prefix}-long`, `${prefix}-tag`, `${prefix}-model`, `${prefix}-many`])).length).toBe(0);
  });

  it('all-or-nothing: one refused row refuses the call and writes nothing', async () => {
    const prefix = uniqueDeviceId('bulkatom');
    const p = await registerDevices([{ deviceId: `${prefix}-1` }, { deviceId: `${prefix}-2`, tags: ['bad tag'] }, { deviceId: `${prefix}-3` }], {
      atomic: true,
    });
    expect(p).toMatchObject({ atomic: true, created: 0, failed: 3 });
    expect(p.results.map((r) => r.errors.map((e) => e.code))).toEqual([['NOT_CREATED'], ['INVALID_TAG'], ['NOT_CREATED']]);
    expect(await storedDevices([`${prefix}-1`, `${prefix}-3`])).toEqual([]);

    const ok = await registerDevices([{ deviceId: `${prefix}-1` }, { deviceId: `${prefix}-3` }], { atomic: true });
    expect(ok).toMatchObject({ created: 2, failed: 0 });
  });

  it('dry run checks every row, ids already taken included, and writes nothing', async () => {
    const prefix = uniqueDeviceId('bulkdry');
    await registerDevices([{ deviceId: `${prefix}-taken` }]);
    const auditBefore = await t.database.prisma.auditEvent.count({ where: { action: 'device.register' } });
    const p = await registerDevices([{ deviceId: `${prefix}-new`, model: `${prefix}-never` }, { deviceId: `${prefix}-taken` }], { dryRun: true });
    expect(p).toMatchObject({ dryRun: true, created: 0, failed: 1 });
    expect(p.results.map((r) => [r.status, r.password, r.errors.map((e) => e.code)])).toEqual([
      ['VALID', null, []],
      ['FAILED', null, ['ALREADY_EXISTS']],
    ]);
    expect(await storedDevices([`${prefix}-new`])).toEqual([]);
    expect(await t.database.prisma.deviceModel.count({ where: { name: `${prefix}-never` } })).toBe(0);
    expect(await t.database.prisma.auditEvent.count({ where: { action: 'device.register' } })).toBe(auditBefore);
  });

  it('refuses more than 10,000 rows as a whole, with nothing written', async () => {
    const prefix = uniqueDeviceId('bulkmax');
    const inputs = Array.from({ length: 10_001 }, (_, i) => ({ deviceId: `${prefix}-${i}` }));
    const r = await t.gql(REGISTER_DEVICES, { inputs });
    expect(r.data).toMatchObject({
      registerDevices: { __typename: 'ValidationError', code: 'VALIDATION_FAILED', fieldErrors: [{ path: ['inputs'], code: 'TOO_MANY' }] },
    });
    expect(await t.database.prisma.device.count({ where: { deviceId: { startsWith: `${prefix}-` } } })).toBe(0);
  });

  it('registers 10,000 devices in one call', async () => {
    const prefix = uniqueDeviceId('bulk10k');
    const inputs = Array.from({ length: 10_000 }, (_, i) => ({
      deviceId: `${prefix}-${String(i).padStart(5, '0')}`,
      tags: ['farm'],
      model: `${prefix}-sensor`,
    }));
    const p = await registerDevices(inputs);
    expect(p.created).toBe(10_000);
    expect(p.failed).toBe(0);
    expect(await t.database.prisma.twin.count({ where: { device: { deviceId: { startsWith: `${prefix}-` } } } })).toBe(10_000);
    if (embeddedBroker) {
      const last = p.results[9_999]!;
      expect(await connackCode(t.mqttUrl, last.username!, last.password!)).toBe(0);
    }
  }, 120_000);

  it('two calls racing for the same ids create each device once (per row and all-or-nothing)', async () => {
    const prefix = uniqueDeviceId('bulkrace');
    const ids = Array.from({ length: 50 }, (_, i) => ({ deviceId: `${prefix}-${i}` }));
    const [a, b] = await Promise.all([registerDevices(ids), registerDevices([...ids].reverse())]);
    expect(a.created + b.created).toBe(50);
    for (const { deviceId } of ids) {
      const created = [...a.results, ...b.results].filter((r) => r.deviceId === deviceId && r.status === 'CREATED');
      expect(created, deviceId).toHaveLength(1);
    }
    expect((await storedDevices(ids.map((i) => i.deviceId))).length).toBe(50);

    const more = Array.from({ length: 20 }, (_, i) => ({ deviceId: `${prefix}-atomic-${i}` }));
    const [c, d] = await Promise.all([registerDevices(more, { atomic: true }), registerDevices(more, { atomic: true })]);
    // Exactly one call wins whole; the other answers every row (ALREADY_EXISTS or NOT_CREATED).
    expect([c.created, d.created].sort()).toEqual([0, 20]);
    const loser = c.created === 0 ? c : d;
    expect(loser.results.every((r) => r.status === 'FAILED')).toBe(true);
  }, 60_000);

  it('writes device.registered webhook events for the created devices only', async () => {
    const prefix = uniqueDeviceId('bulkhook');
    const endpoint = await t.database.prisma.webhookEndpoint.create({
      data: {
        tenantId: 'default',
        url: 'https://203.0.113.10/hook',
        eventTypes: ['device.registered'],
        filterDeviceIds: [`${prefix}-1`, `${prefix}-2`, `${prefix}-3`],
        enabled: true,
      },
    });
    try {
      await registerDevices([{ deviceId: `${prefix}-1` }, { deviceId: `${prefix}-2` }, { deviceId: 'not valid!' }]);
      const rows = await t.database.prisma.outbox.findMany({ where: { endpointId: endpoint.id }, orderBy: { seq: 'asc' } });
      expect(rows.map((r) => [r.type, (r.data as { deviceId: string }).deviceId]).sort()).toEqual([
        ['device.registered', `${prefix}-1`],
        ['device.registered', `${prefix}-2`],
      ]);
    } finally {
      await t.database.prisma.outbox.deleteMany({ where: { endpointId: endpoint.id } });
      await t.database.prisma.webhookEndpoint.delete({ where: { id: endpoint.id } });
    }
  });
});

describe(`updateDevice and deleteDeviceModel (${modeName})`, () => {
  const UPDATE = `mutation U($d: String!, $input: UpdateDeviceInput!) {
    updateDevice(deviceId: $d, input: $input) {
      __typename
      ... on Device { deviceId name tags model { name } }
      ... on ValidationError { code fieldErrors { path code } }
      ... on NotFound { code }
    }
  }`;
  const DELETE_MODEL = `mutation D($n: String!) { deleteDeviceModel(name: $n) { __typename ... on DeleteDeviceModelPayload { name } ... on InUse { code usedBy } ... on NotFound { code } } }`;

  async function update(deviceId: string, input: Record<string, unknown>) {
    const r = await t.gql(UPDATE, { d: deviceId, input });
    expect(r.errors).toBeUndefined();
    return (r.data as { updateDevice: Record<string, unknown> }).updateDevice;
  }

  it('renames, retags and moves a device to another model; omitted fields keep their value; audited', async () => {
    const deviceId = uniqueDeviceId('upd');
    const model = `${deviceId}-m`;
    await registerDevices([{ deviceId, name: 'before', tags: ['a'], model: `${model}-old` }]);
    expect(await update(deviceId, { name: 'after' })).toEqual({ __typename: 'Device', deviceId, name: 'after', tags: ['a'], model: { name: `${model}-old` } });
    expect(await update(deviceId, { tags: ['x', 'y', 'x'], model })).toEqual({
      __typename: 'Device',
      deviceId,
      name: 'after',
      tags: ['x', 'y'],
      model: { name: model },
    });
    expect(await update(deviceId, { name: null, model: null, tags: [] })).toEqual({ __typename: 'Device', deviceId, name: null, tags: [], model: null });
    const audit = await t.database.prisma.auditEvent.findMany({ where: { action: 'device.update', target: `device:${deviceId}` }, orderBy: { id: 'asc' } });
    expect(audit.map((a) => a.details)).toEqual([{ name: 'after' }, { tags: ['x', 'y'], model }, { name: null, tags: [], model: null }]);
  });

  it('refuses bad input at its path, and an unknown device, changing nothing', async () => {
    const deviceId = uniqueDeviceId('updbad');
    await registerDevices([{ deviceId, name: 'keep', tags: ['keep'] }]);
    expect(await update(deviceId, { name: 'x'.repeat(201), tags: ['ok', 'bad tag'], model: '' })).toEqual({
      __typename: 'ValidationError',
      code: 'VALIDATION_FAILED',
      fieldErrors: [
        { path: ['input', 'name'], code: 'TOO_LONG' },
        { path: ['input', 'tags', '1'], code: 'INVALID_TAG' },
        { path: ['input', 'model'], code: 'INVALID_MODEL' },
      ],
    });
    expect(await update(uniqueDeviceId('ghost'), { name: 'x' })).toEqual({ __typename: 'NotFound', code: 'NOT_FOUND' });
    const [stored] = await storedDevices([deviceId]);
    expect([stored!.name, stored!.tags]).toEqual(['keep', ['keep']]);
  });

  it('deleteDeviceModel is refused while devices use the model, and deletes it (with its versions) once they moved off', async () => {
    const deviceId = uniqueDeviceId('delm');
    const model = `${deviceId}-model`;
    expect((await t.gql(`mutation M($n: String!) { updateDeviceModel(input: {name: $n, description: "v2"}) { __typename } }`, { n: model })).data).toEqual({
      updateDeviceModel: { __typename: 'NotFound' },
    });
    await registerDevices([{ deviceId, model }]);
    expect((await t.gql(DELETE_MODEL, { n: model })).data).toEqual({ deleteDeviceModel: { __typename: 'InUse', code: 'IN_USE', usedBy: 1 } });
    expect(await t.database.prisma.deviceModel.count({ where: { name: model } })).toBe(1);
    await update(deviceId, { model: null });
    expect((await t.gql(DELETE_MODEL, { n: model })).data).toEqual({ deleteDeviceModel: { __typename: 'DeleteDeviceModelPayload', name: model } });
    expect(await t.database.prisma.deviceModel.count({ where: { name: model } })).toBe(0);
    expect((await t.gql(DELETE_MODEL, { n: model })).data).toEqual({ deleteDeviceModel: { __typename: 'NotFound', code: 'NOT_FOUND' } });
    expect(await t.database.prisma.auditEvent.count({ where: { action: 'model.delete', target: `model:${model}` } })).toBe(1);
  });
});
