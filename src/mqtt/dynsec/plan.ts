/**
 * What a reconcile changes, decided from what Mosquitto holds and what the database says, pure.
 * Reading the pages and sending the commands is reconcile.ts'.
 */
import { createDeviceCommands, createDeviceRoleCommand, DEVICE_ROLE_PREFIX, deviceRole, SERVICE_ACLS, SERVICE_ROLE, setEnabledCommand } from './commands.ts';
import type { DynsecCommand } from './protocol.ts';

/** One client as Mosquitto's `listClients` (verbose) reports it. */
export interface BrokerClient {
  username: string;
  roles: Set<string>;
  disabled: boolean;
}

/** What a reconcile did; `failures` counts failed commands and devices it could not fix. */
export interface ReconcileReport {
  devices: number;
  createdClients: number;
  createdRoles: number;
  updatedClients: number;
  deletedClients: number;
  deletedRoles: number;
  failures: number;
}

/** Commands plus the report counts they stand for. */
export interface Plan {
  commands: DynsecCommand[];
  counts: Partial<ReconcileReport>;
}

/** One page of a `listClients`/`listRoles` answer and the total the broker reports. */
export interface Page<T> {
  items: T[];
  totalCount: number;
}

/** A client as `listClients` (verbose) or `getClient` describes it. */
interface RawClient {
  username: string;
  roles?: Array<{ rolename: string }>;
  disabled?: boolean;
}

/** The client in a `getClient` answer's data; undefined when there is none. */
export function clientOf(data: unknown): BrokerClient | undefined {
  const raw = (data as { client?: RawClient } | undefined)?.client;
  return raw ? brokerClient(raw) : undefined;
}

export function clientsPage(data: unknown): Page<BrokerClient> {
  const d = data as { totalCount?: number; clients?: RawClient[] } | undefined;
  return { items: (d?.clients ?? []).map(brokerClient), totalCount: d?.totalCount ?? 0 };
}

function brokerClient(raw: RawClient): BrokerClient {
  return { username: raw.username, roles: new Set((raw.roles ?? []).map((x) => x.rolename)), disabled: raw.disabled === true };
}

export function rolesPage(data: unknown): Page<string> {
  const d = data as { totalCount?: number; roles?: Array<string | { rolename: string }> } | undefined;
  const items = (d?.roles ?? []).map((role) => (typeof role === 'string' ? role : role.rolename));
  return { items, totalCount: d?.totalCount ?? 0 };
}

/** Doppel's own broker user: its role (created, or its ACLs re-added), the client, its membership. */
export function planServiceUser(
  user: { username: string; password: string },
  clients: ReadonlyMap<string, BrokerClient>,
  roles: ReadonlySet<string>,
): DynsecCommand[] {
  const { username, password } = user;
  const commands: DynsecCommand[] = [];
  if (!roles.has(SERVICE_ROLE)) commands.push({ command: 'createRole', rolename: SERVICE_ROLE, textname: 'Doppel server', acls: SERVICE_ACLS });
  // An existing role may predate an ACL added in a later Doppel version: adding is idempotent.
  else commands.push(...SERVICE_ACLS.map((acl) => ({ command: 'addRoleACL', rolename: SERVICE_ROLE, ...acl })));
  const existing = clients.get(username);
  if (!existing) commands.push({ command: 'createClient', username, password, textname: 'Doppel server', roles: [{ rolename: SERVICE_ROLE }] });
  else if (!existing.roles.has(SERVICE_ROLE)) commands.push({ command: 'addClientRole', username, rolename: SERVICE_ROLE });
  return commands;
}

/** Is this broker client Doppel's own for `deviceId` (it holds the device role)? */
export function isOurs(client: BrokerClient, deviceId: string): boolean {
  return client.roles.has(deviceRole(deviceId));
}

/**
 * One known device. `broker` is its client in Mosquitto — undefined when missing, otherwise one of
 * ours (see {@link isOurs}); `password` the secret to recreate a missing client with. An existing
 * client's password is never re-set: that would disconnect it.
 */
export function planDevice(
  device: { deviceId: string; active: boolean },
  broker: BrokerClient | undefined,
  roleExists: boolean,
  password: string | undefined,
): Plan {
  const { deviceId, active } = device;
  if (!broker) {
    return { commands: createDeviceCommands(deviceId, password, active, roleExists), counts: { createdClients: 1, createdRoles: roleExists ? 0 : 1 } };
  }
  const commands: DynsecCommand[] = [];
  const counts: Partial<ReconcileReport> = {};
  if (!roleExists) {
    commands.push(createDeviceRoleCommand(deviceId));
    counts.createdRoles = 1;
  }
  if (broker.disabled === active) {
    commands.push(setEnabledCommand(deviceId, active));
    counts.updatedClients = 1;
  }
  return { commands, counts };
}

/**
 * Clients and roles of ours (they hold or are a device role) whose device is not in `known` (the
 * database): it was deleted while the sync was away. Reserved users' clients are never removed.
 */
export function planOrphans(
  clients: Iterable<BrokerClient>,
  roles: Iterable<string>,
  known: ReadonlySet<string>,
  isReserved: (username: string) => boolean,
): Plan {
  const commands: DynsecCommand[] = [];
  const counts = { deletedClients: 0, deletedRoles: 0 };
  for (const c of clients) {
    if (known.has(c.username) || isReserved(c.username)) continue;
    if ([...c.roles].some((r) => r.startsWith(DEVICE_ROLE_PREFIX))) {
      commands.push({ command: 'deleteClient', username: c.username });
      counts.deletedClients++;
    }
  }
  for (const role of roles) {
    if (role.startsWith(DEVICE_ROLE_PREFIX) && !known.has(role.slice(DEVICE_ROLE_PREFIX.length))) {
      commands.push({ command: 'deleteRole', rolename: role });
      counts.deletedRoles++;
    }
  }
  return { commands, counts };
}

/** Adds a plan's counts to a report. */
export function tally(report: ReconcileReport, counts: Partial<ReconcileReport>): void {
  for (const [key, n] of Object.entries(counts) as Array<[keyof ReconcileReport, number]>) report[key] += n;
}
