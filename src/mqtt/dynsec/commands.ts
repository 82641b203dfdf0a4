/**
 * Builders of the dynamic-security commands Doppel sends, pure. The model in Mosquitto, per device: a
 * client whose username is the device id and whose password is the device secret, holding one role
 * `doppel-device-<id>` whose ACLs come from acl.ts. A client without that role is not Doppel's and is
 * never touched. Doppel's own broker user holds {@link SERVICE_ROLE}.
 */
import type { DeviceSecurityEvent } from '../../services/devices/index.ts';
import { dynsecDeviceAcls, type DynsecAcl } from '../acl.ts';
import type { DynsecCommand } from './protocol.ts';

/** Prefix of the per-device roles; anything Doppel created carries it, so a reconcile knows what is its own. */
export const DEVICE_ROLE_PREFIX = 'doppel-device-';
export const SERVICE_ROLE = 'doppel-service';

/** Role name of one device. */
export function deviceRole(deviceId: string): string {
  return `${DEVICE_ROLE_PREFIX}${deviceId}`;
}

/**
 * The ACLs of Doppel's own broker user: every device topic, both ways. Mosquitto 2.0 checks a shared
 * subscription's filter with its `$share/<group>/` prefix (measured), hence the second pattern.
 */
export const SERVICE_ACLS: readonly DynsecAcl[] = [
  { acltype: 'publishClientSend', topic: 'devices/#', allow: true },
  { acltype: 'publishClientReceive', topic: 'devices/#', allow: true },
  { acltype: 'subscribePattern', topic: 'devices/#', allow: true },
  { acltype: 'subscribePattern', topic: '$share/+/devices/#', allow: true },
  { acltype: 'unsubscribePattern', topic: 'devices/#', allow: true },
  { acltype: 'unsubscribePattern', topic: '$share/+/devices/#', allow: true },
];

/** Creates the device's role with its ACLs. */
export function createDeviceRoleCommand(deviceId: string): DynsecCommand {
  return { command: 'createRole', rolename: deviceRole(deviceId), textname: `Doppel device ${deviceId}`, acls: dynsecDeviceAcls(deviceId) };
}

/**
 * Creates a device's client (and its role unless it exists), disabled unless `active`. Without a
 * password the client exists but cannot connect (revoked credentials).
 */
export function createDeviceCommands(deviceId: string, password: string | undefined, active: boolean, roleExists: boolean): DynsecCommand[] {
  return [
    ...(roleExists ? [] : [createDeviceRoleCommand(deviceId)]),
    {
      command: 'createClient',
      username: deviceId,
      textname: 'Doppel device',
      ...(password !== undefined ? { password } : {}),
      roles: [{ rolename: deviceRole(deviceId) }],
    },
    ...(active ? [] : [{ command: 'disableClient', username: deviceId }]),
  ];
}

/** Enables or disables a device's client (disabling also kicks its open session). */
export function setEnabledCommand(deviceId: string, enabled: boolean): DynsecCommand {
  return { command: enabled ? 'enableClient' : 'disableClient', username: deviceId };
}

/** Gives an existing client of ours a new password, enabled or not. */
export function resetPasswordCommands(deviceId: string, password: string, enabled: boolean): DynsecCommand[] {
  return [{ command: 'setClientPassword', username: deviceId, password }, setEnabledCommand(deviceId, enabled)];
}

/** Removes a device's client and role. */
export function deleteDeviceCommands(deviceId: string): DynsecCommand[] {
  return [
    { command: 'deleteClient', username: deviceId },
    { command: 'deleteRole', rolename: deviceRole(deviceId) },
  ];
}

/** What mirrors one stored change of a device's security state; none when there is nothing to do. */
export function securityEventCommands(event: DeviceSecurityEvent): DynsecCommand[] {
  const { deviceId } = event;
  switch (event.type) {
    case 'registered':
      return createDeviceCommands(deviceId, event.password, true, false);
    case 'rotated':
      return resetPasswordCommands(deviceId, event.password, event.active);
    case 'revoked':
    case 'disabled':
      return [setEnabledCommand(deviceId, false)];
    case 'enabled':
      return event.active ? [setEnabledCommand(deviceId, true)] : [];
    case 'deleted':
      return deleteDeviceCommands(deviceId);
  }
}

/** Gets one client, to see its roles. */
export function getClientCommand(username: string): DynsecCommand {
  return { command: 'getClient', username };
}

/** One page of the broker's clients (verbose: with roles and disabled state) or roles. */
export function listPageCommand(what: 'listClients' | 'listRoles', count: number, offset: number): DynsecCommand {
  return { command: what, verbose: what === 'listClients', count, offset };
}

/** The device a device command is about (its username, or its device role's id); undefined for others. */
export function deviceOfCommand(command: DynsecCommand): string | undefined {
  if (typeof command.username === 'string') return command.username;
  if (typeof command.rolename === 'string') return command.rolename.slice(DEVICE_ROLE_PREFIX.length);
  return undefined;
}
