import { describe, expect, it } from 'vitest';
import { createDeviceCommands, SERVICE_ACLS, SERVICE_ROLE } from '../../../src/mqtt/dynsec/commands.ts';
import {
  clientOf,
  clientsPage,
  planDevice,
  planOrphans,
  planServiceUser,
  rolesPage,
  tally,
  type BrokerClient,
  type ReconcileReport,
} from '../../../src/mqtt/dynsec/plan.ts';

function client(username: string, roles: string[], disabled = false): BrokerClient {
  return { username, roles: new Set(roles), disabled };
}

describe('reading broker pages', () => {
  it('reads verbose clients and roles, by name or by object', () => {
    const page = clientsPage({ totalCount: 7, clients: [{ username: 'd1', roles: [{ rolename: 'doppel-device-d1' }], disabled: true }, { username: 'x' }] });
    expect(page).toEqual({ totalCount: 7, items: [client('d1', ['doppel-device-d1'], true), client('x', [])] });
    expect(rolesPage({ totalCount: 2, roles: ['a', { rolename: 'b' }] })).toEqual({ totalCount: 2, items: ['a', 'b'] });
    expect(clientsPage(undefined)).toEqual({ totalCount: 0, items: [] });
  });

  it('reads the client of a getClient answer', () => {
    expect(clientOf({ client: { username: 'd1', roles: [{ rolename: 'r' }] } })).toEqual(client('d1', ['r']));
    expect(clientOf({})).toBeUndefined();
  });
});

describe('planning a reconcile', () => {
  const device = { deviceId: 'd1', active: true };

  it('creates a missing client (and its role when missing too)', () => {
    expect(planDevice(device, undefined, false, 'pw')).toEqual({
      commands: createDeviceCommands('d1', 'pw', true, false),
      counts: { createdClients: 1, createdRoles: 1 },
    });
    expect(planDevice({ deviceId: 'd1', active: false }, undefined, true, undefined)).toEqual({
      commands: createDeviceCommands('d1', undefined, false, true),
      counts: { createdClients: 1, createdRoles: 0 },
    });
  });

  it('leaves a client in step alone, never re-setting its password', () => {
    expect(planDevice(device, client('d1', ['doppel-device-d1']), true, undefined)).toEqual({ commands: [], counts: {} });
  });

  it('restores a missing role and the enabled state', () => {
    const plan = planDevice({ deviceId: 'd1', active: false }, client('d1', ['doppel-device-d1'], false), false, undefined);
    expect(plan.commands.map((c) => c.command)).toEqual(['createRole', 'disableClient']);
    expect(plan.counts).toEqual({ createdRoles: 1, updatedClients: 1 });
    expect(planDevice(device, client('d1', ['doppel-device-d1'], true), true, undefined).commands).toEqual([{ command: 'enableClient', username: 'd1' }]);
  });

  it('removes our clients and roles of forgotten devices, never reserved or foreign users', () => {
    const clients = [
      client('gone', ['doppel-device-gone']),
      client('kept', ['doppel-device-kept']),
      client('admin', ['doppel-device-admin']),
      client('other', ['role-x']),
    ];
    const roles = ['doppel-device-gone', 'doppel-device-kept', 'doppel-service', 'role-x'];
    const plan = planOrphans(clients, roles, new Set(['kept']), (u) => u === 'admin');
    expect(plan.commands).toEqual([
      { command: 'deleteClient', username: 'gone' },
      { command: 'deleteRole', rolename: 'doppel-device-gone' },
    ]);
    expect(plan.counts).toEqual({ deletedClients: 1, deletedRoles: 1 });
  });

  it("creates Doppel's own user and role, or re-adds the role's ACLs and membership", () => {
    const user = { username: 'doppel', password: 'pw' };
    expect(planServiceUser(user, new Map(), new Set())).toEqual([
      { command: 'createRole', rolename: SERVICE_ROLE, textname: 'Doppel server', acls: SERVICE_ACLS },
      { command: 'createClient', username: 'doppel', password: 'pw', textname: 'Doppel server', roles: [{ rolename: SERVICE_ROLE }] },
    ]);
    const existing = planServiceUser(user, new Map([['doppel', client('doppel', [])]]), new Set([SERVICE_ROLE]));
    expect(existing.filter((c) => c.command === 'addRoleACL')).toHaveLength(SERVICE_ACLS.length);
    expect(existing.at(-1)).toEqual({ command: 'addClientRole', username: 'doppel', rolename: SERVICE_ROLE });
    expect(planServiceUser(user, new Map([['doppel', client('doppel', [SERVICE_ROLE])]]), new Set([SERVICE_ROLE])).map((c) => c.command)).not.toContain(
      'addClientRole',
    );
  });

  it('adds counts into a report', () => {
    const report: ReconcileReport = { devices: 1, createdClients: 0, createdRoles: 0, updatedClients: 0, deletedClients: 0, deletedRoles: 0, failures: 0 };
    tally(report, { createdClients: 1, createdRoles: 1 });
    tally(report, { createdClients: 1 });
    expect(report).toMatchObject({ devices: 1, createdClients: 2, createdRoles: 1 });
  });
});
