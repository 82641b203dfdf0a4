import { describe, expect, it } from 'vitest';
import { dynsecDeviceAcls } from '../../../src/mqtt/acl.ts';
import { createDeviceCommands, deviceOfCommand, deviceRole, listPageCommand, securityEventCommands } from '../../../src/mqtt/dynsec/commands.ts';

const role = { command: 'createRole', rolename: 'doppel-device-d1', textname: 'Doppel device d1', acls: dynsecDeviceAcls('d1') };

describe('dynsec command builders', () => {
  it('names a device role after the device', () => {
    expect(deviceRole('pump-7')).toBe('doppel-device-pump-7');
  });

  it('creates the role, then the client holding it, disabled unless active', () => {
    expect(createDeviceCommands('d1', 'pw', true, false)).toEqual([
      role,
      { command: 'createClient', username: 'd1', textname: 'Doppel device', password: 'pw', roles: [{ rolename: 'doppel-device-d1' }] },
    ]);
    expect(createDeviceCommands('d1', 'pw', false, true)).toEqual([
      { command: 'createClient', username: 'd1', textname: 'Doppel device', password: 'pw', roles: [{ rolename: 'doppel-device-d1' }] },
      { command: 'disableClient', username: 'd1' },
    ]);
  });

  it('leaves the password out when there is none (the client exists but cannot connect)', () => {
    const [client] = createDeviceCommands('d1', undefined, true, true);
    expect(client).not.toHaveProperty('password');
  });

  it('mirrors each security event', () => {
    expect(securityEventCommands({ type: 'registered', deviceId: 'd1', password: 'pw' })).toEqual(createDeviceCommands('d1', 'pw', true, false));
    expect(securityEventCommands({ type: 'rotated', deviceId: 'd1', password: 'new', active: true, gracePeriodSeconds: 60 })).toEqual([
      { command: 'setClientPassword', username: 'd1', password: 'new' },
      { command: 'enableClient', username: 'd1' },
    ]);
    expect(securityEventCommands({ type: 'rotated', deviceId: 'd1', password: 'new', active: false, gracePeriodSeconds: 0 })[1]).toEqual({
      command: 'disableClient',
      username: 'd1',
    });
    expect(securityEventCommands({ type: 'revoked', deviceId: 'd1' })).toEqual([{ command: 'disableClient', username: 'd1' }]);
    expect(securityEventCommands({ type: 'disabled', deviceId: 'd1' })).toEqual([{ command: 'disableClient', username: 'd1' }]);
    expect(securityEventCommands({ type: 'enabled', deviceId: 'd1', active: true })).toEqual([{ command: 'enableClient', username: 'd1' }]);
    // Enabled but its credentials are still revoked: nothing to do.
    expect(securityEventCommands({ type: 'enabled', deviceId: 'd1', active: false })).toEqual([]);
    expect(securityEventCommands({ type: 'deleted', deviceId: 'd1' })).toEqual([
      { command: 'deleteClient', username: 'd1' },
      { command: 'deleteRole', rolename: 'doppel-device-d1' },
    ]);
  });

  it('asks for pages of clients verbosely and of roles by name only', () => {
    expect(listPageCommand('listClients', 50, 100)).toEqual({ command: 'listClients', verbose: true, count: 50, offset: 100 });
    expect(listPageCommand('listRoles', 50, 0)).toEqual({ command: 'listRoles', verbose: false, count: 50, offset: 0 });
  });

  it('tells which device a command is about', () => {
    expect(deviceOfCommand({ command: 'enableClient', username: 'd1' })).toBe('d1');
    expect(deviceOfCommand({ command: 'deleteRole', rolename: 'doppel-device-d2' })).toBe('d2');
    expect(deviceOfCommand({ command: 'listRoles' })).toBeUndefined();
  });
});
