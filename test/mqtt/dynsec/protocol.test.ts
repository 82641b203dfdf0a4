import { describe, expect, it } from 'vitest';
import { correlationIdOf, decodeResponses, encodeRequest, inCommandOrder, isFailure } from '../../../src/mqtt/dynsec/protocol.ts';

describe('dynsec wire format', () => {
  it('tags each command of a message with <id>:<index>', () => {
    const body = JSON.parse(encodeRequest('42.7.ab', [{ command: 'getClient', username: 'd1' }, { command: 'listRoles' }])) as unknown;
    expect(body).toEqual({
      commands: [
        { command: 'getClient', username: 'd1', correlationData: '42.7.ab:0' },
        { command: 'listRoles', correlationData: '42.7.ab:1' },
      ],
    });
  });

  it('reads responses, an empty list for a body without any, and nothing from non-JSON', () => {
    const payload = Buffer.from(JSON.stringify({ responses: [{ command: 'createClient', correlationData: 'x:0' }] }));
    expect(decodeResponses(payload)).toEqual([{ command: 'createClient', correlationData: 'x:0' }]);
    expect(decodeResponses(Buffer.from('{"responses":"nope"}'))).toEqual([]);
    expect(decodeResponses(Buffer.from('not json'))).toBeUndefined();
  });

  it('finds the message id in the first response that carries correlation data', () => {
    expect(correlationIdOf([{ command: 'a' }, { command: 'b', correlationData: '9.1.ff:1' }])).toBe('9.1.ff');
    // Another admin's commands carry none: not ours.
    expect(correlationIdOf([{ command: 'a' }])).toBeUndefined();
  });

  it('puts responses in command order and stands in "no response" for a missing one', () => {
    const commands = [{ command: 'a' }, { command: 'b' }, { command: 'c' }];
    const responses = [
      { command: 'c', correlationData: 'm:2' },
      { command: 'a', correlationData: 'm:0', error: 'boom' },
    ];
    expect(inCommandOrder(commands, responses)).toEqual([
      { command: 'a', correlationData: 'm:0', error: 'boom' },
      { command: 'b', error: 'no response' },
      { command: 'c', correlationData: 'm:2' },
    ]);
  });

  it('treats "already so" errors as harmless and everything else as a failure', () => {
    expect(isFailure({ command: 'createClient' }, { command: 'createClient' })).toBe(false);
    expect(isFailure({ command: 'createClient' }, { command: 'createClient', error: 'Client already exists' })).toBe(false);
    expect(isFailure({ command: 'createRole' }, { command: 'createRole', error: 'Role already exists' })).toBe(false);
    expect(isFailure({ command: 'addRoleACL' }, { command: 'addRoleACL', error: 'ACL with this topic already exists' })).toBe(false);
    expect(isFailure({ command: 'deleteClient' }, { command: 'deleteClient', error: 'Client not found' })).toBe(false);
    expect(isFailure({ command: 'deleteRole' }, { command: 'deleteRole', error: 'Role not found' })).toBe(false);
    expect(isFailure({ command: 'setClientPassword' }, { command: 'setClientPassword', error: 'Client not found' })).toBe(true);
    expect(isFailure({ command: 'createClient' }, { command: 'createClient', error: 'Internal error' })).toBe(true);
  });
});
