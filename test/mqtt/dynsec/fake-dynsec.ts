/**
 * An in-memory model of Mosquitto's dynamic-security plugin, answering like Mosquitto 2.0.11 does for
 * the commands Doppel sends (errors included), behind the DynsecControl `send` the parts use.
 */
import type { DynsecControl, SendResult } from '../../../src/mqtt/dynsec/control-client.ts';
import { isFailure, type DynsecCommand, type DynsecResponse } from '../../../src/mqtt/dynsec/protocol.ts';

export interface FakeClient {
  password: string | undefined;
  roles: Set<string>;
  disabled: boolean;
}

export interface FakeDynsec extends Pick<DynsecControl, 'send'> {
  clients: Map<string, FakeClient>;
  roles: Set<string>;
  /** Every command sent, in order, one inner array per `send` call. */
  sent: DynsecCommand[][];
  /** Makes the next `send` reject (a timeout, say). */
  failNextSend(error: Error): void;
}

export function createFakeDynsec(): FakeDynsec {
  const clients = new Map<string, FakeClient>();
  const roles = new Set<string>();
  const sent: DynsecCommand[][] = [];
  let failure: Error | undefined;

  function answer(cmd: DynsecCommand): DynsecResponse {
    const username = cmd.username as string;
    const rolename = cmd.rolename as string;
    const client = clients.get(username);
    const notFound = { command: cmd.command, error: 'Client not found' };
    switch (cmd.command) {
      case 'createRole':
        if (roles.has(rolename)) return { command: cmd.command, error: 'Role already exists' };
        roles.add(rolename);
        return { command: cmd.command };
      case 'deleteRole':
        if (!roles.delete(rolename)) return { command: cmd.command, error: 'Role not found' };
        for (const c of clients.values()) c.roles.delete(rolename);
        return { command: cmd.command };
      case 'createClient': {
        if (client) return { command: cmd.command, error: 'Client already exists' };
        const held = ((cmd.roles as Array<{ rolename: string }> | undefined) ?? []).map((r) => r.rolename);
        clients.set(username, { password: cmd.password as string | undefined, roles: new Set(held), disabled: false });
        return { command: cmd.command };
      }
      case 'deleteClient':
        return clients.delete(username) ? { command: cmd.command } : notFound;
      case 'enableClient':
      case 'disableClient':
        if (!client) return notFound;
        client.disabled = cmd.command === 'disableClient';
        return { command: cmd.command };
      case 'setClientPassword':
        if (!client) return notFound;
        client.password = cmd.password as string;
        return { command: cmd.command };
      case 'addClientRole':
        if (!client) return notFound;
        if (client.roles.has(rolename)) return { command: cmd.command, error: 'Internal error' };
        client.roles.add(rolename);
        return { command: cmd.command };
      case 'addRoleACL':
        return { command: cmd.command };
      case 'getClient':
        if (!client) return notFound;
        return { command: cmd.command, data: { client: { username, roles: [...client.roles].map((r) => ({ rolename: r })), disabled: client.disabled } } };
      case 'listClients': {
        const all = [...clients].map(([name, c]) => ({ username: name, roles: [...c.roles].map((r) => ({ rolename: r })), disabled: c.disabled }));
        const offset = cmd.offset as number;
        return { command: cmd.command, data: { totalCount: all.length, clients: all.slice(offset, offset + (cmd.count as number)) } };
      }
      case 'listRoles': {
        const all = [...roles];
        const offset = cmd.offset as number;
        return {
          command: cmd.command,
          data: { totalCount: all.length, roles: all.slice(offset, offset + (cmd.count as number)).map((r) => ({ rolename: r })) },
        };
      }
      default:
        return { command: cmd.command, error: 'Unknown command' };
    }
  }

  return {
    clients,
    roles,
    sent,
    failNextSend(error) {
      failure = error;
    },
    async send(commands): Promise<SendResult> {
      await Promise.resolve();
      if (failure) {
        const error = failure;
        failure = undefined;
        throw error;
      }
      sent.push(commands);
      const responses = commands.map(answer);
      return { responses, failures: responses.filter((r, i) => isFailure(commands[i]!, r)).length };
    },
  };
}
