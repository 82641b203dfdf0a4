import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { deviceRole, SERVICE_ROLE } from '../../../src/mqtt/dynsec/commands.ts';
import { createReconciler, type DeviceSyncRow, type Reconciler, type ReconcilerOptions } from '../../../src/mqtt/dynsec/reconcile.ts';
import { createFakeDynsec, type FakeDynsec } from './fake-dynsec.ts';

let broker: FakeDynsec;
let devices: DeviceSyncRow[];
let pagesRead: Array<string | null>;

function reconciler(overrides: Partial<ReconcilerOptions> = {}): Reconciler {
  return createReconciler({
    control: broker,
    log: pino({ level: 'silent' }),
    batchSize: 100,
    isReserved: (username) => username === 'admin' || username === 'doppel',
    async listDevices(after, limit) {
      pagesRead.push(after);
      const sorted = [...devices].sort((a, b) => a.deviceId.localeCompare(b.deviceId));
      return sorted.filter((d) => after === null || d.deviceId > after).slice(0, limit);
    },
    openSecret: (deviceId, sealed) => (sealed === `sealed:${deviceId}` ? `secret-of-${deviceId}` : undefined),
    ...overrides,
  });
}

function device(deviceId: string, active = true, brokerSecret: string | null = `sealed:${deviceId}`): DeviceSyncRow {
  return { deviceId, active, brokerSecret };
}

function ourClient(deviceId: string, disabled = false) {
  broker.roles.add(deviceRole(deviceId));
  broker.clients.set(deviceId, { password: 'current', roles: new Set([deviceRole(deviceId)]), disabled });
}

beforeEach(() => {
  broker = createFakeDynsec();
  broker.clients.set('admin', { password: 'admin', roles: new Set(), disabled: false });
  devices = [];
  pagesRead = [];
});

describe('reconcile', () => {
  it('recreates missing clients with their recovered secret and restores the disabled state, without touching passwords', async () => {
    devices = [device('a'), device('b', false), device('c', false)];
    ourClient('b', false);
    ourClient('c', true);
    const report = await reconciler().reconcile();
    expect(broker.clients.get('a')).toEqual({ password: 'secret-of-a', roles: new Set([deviceRole('a')]), disabled: false });
    expect(broker.clients.get('b')).toMatchObject({ password: 'current', disabled: true });
    expect(broker.clients.get('c')).toMatchObject({ password: 'current', disabled: true });
    expect(report).toEqual({ devices: 3, createdClients: 1, createdRoles: 1, updatedClients: 1, deletedClients: 0, deletedRoles: 0, failures: 0 });
  });

  it('recreates a client whose secret cannot be decrypted without a password, and reports it', async () => {
    devices = [device('a', true, 'tampered'), device('r', false, null)];
    const report = await reconciler().reconcile();
    expect(broker.clients.get('a')?.password).toBeUndefined();
    expect(broker.clients.get('r')).toMatchObject({ password: undefined, disabled: true });
    expect(report.failures).toBe(1);
  });

  it('removes clients and roles of forgotten devices, leaves foreign and reserved users alone', async () => {
    devices = [device('mine'), device('taken')];
    ourClient('mine');
    ourClient('forgotten');
    broker.roles.add(deviceRole('role-only'));
    broker.clients.set('taken', { password: 'theirs', roles: new Set(['other']), disabled: false });
    broker.clients.set('stranger', { password: 'x', roles: new Set(['other']), disabled: false });
    const report = await reconciler().reconcile();
    expect([...broker.clients.keys()].sort()).toEqual(['admin', 'mine', 'stranger', 'taken']);
    expect(broker.clients.get('taken')?.password).toBe('theirs');
    expect(broker.roles.has(deviceRole('forgotten'))).toBe(false);
    expect(broker.roles.has(deviceRole('role-only'))).toBe(false);
    expect(report).toMatchObject({ deletedClients: 1, deletedRoles: 2, failures: 1 });
  });

  it("creates Doppel's own user with its role", async () => {
    await reconciler({ serviceUser: { username: 'doppel', password: 'svc' } }).reconcile();
    expect(broker.clients.get('doppel')).toEqual({ password: 'svc', roles: new Set([SERVICE_ROLE]), disabled: false });
  });

  it('reads devices and broker lists in pages and sends the fixes of each page before reading the next', async () => {
    devices = ['d1', 'd2', 'd3', 'd4', 'd5'].map((id) => device(id));
    ourClient('old1');
    ourClient('old2');
    ourClient('old3');
    const report = await reconciler({ batchSize: 2 }).reconcile();
    expect(pagesRead).toEqual([null, 'd2', 'd4', 'd5']);
    // Three pages of devices, then the orphans (splitting into messages of batchSize is the control client's).
    expect(broker.sent.filter(([c]) => !c?.command.startsWith('list'))).toHaveLength(4);
    expect(broker.sent.filter(([c]) => c?.command === 'listClients')).toHaveLength(2);
    expect(report).toMatchObject({ devices: 5, createdClients: 5, deletedClients: 3, failures: 0 });
    expect([...broker.clients.keys()].sort()).toEqual(['admin', 'd1', 'd2', 'd3', 'd4', 'd5']);
  });

  it("drops its commands for a device changed while it runs: the change's own commands stand", async () => {
    devices = [device('a', true), device('b', true)];
    ourClient('a', true);
    ourClient('b', true);
    const listDevices: ReconcilerOptions['listDevices'] = async (after, limit) => {
      const page = after === null ? devices.slice(0, limit) : [];
      // Disabled by an admin after the page was read: the reconcile's "enable a" is stale.
      if (after === null) r.touch('a');
      return page;
    };
    const r = reconciler({ listDevices });
    const report = await r.reconcile();
    expect(broker.clients.get('a')?.disabled).toBe(true);
    expect(broker.clients.get('b')?.disabled).toBe(false);
    expect(report.updatedClients).toBe(2);
  });

  it('shares one run between concurrent calls and forgets changes once it is done', async () => {
    const r = reconciler();
    const [first, second] = [r.reconcile(), r.reconcile()];
    expect(first).toBe(second);
    await first;
    r.touch('late'); // no reconcile running: nothing to remember
    await expect(r.settled()).resolves.toBeUndefined();
    expect(broker.sent.filter(([c]) => c?.command === 'listClients')).toHaveLength(1);
  });

  it('rejects when the broker refuses to list its clients', async () => {
    const r = reconciler({
      control: { send: async (commands) => ({ responses: commands.map((c) => ({ command: c.command, error: 'Permission denied' })), failures: 0 }) },
    });
    await expect(r.reconcile()).rejects.toThrow('listClients failed: Permission denied');
    await expect(r.settled()).resolves.toBeUndefined();
  });
});
