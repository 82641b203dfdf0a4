import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSecurityEventApplier, type SecurityEventApplier } from '../../../src/mqtt/dynsec/apply.ts';
import { deviceRole } from '../../../src/mqtt/dynsec/commands.ts';
import { createFakeDynsec, type FakeDynsec } from './fake-dynsec.ts';

let broker: FakeDynsec;
let applier: SecurityEventApplier;
let failures: string[];
let changed: string[];

beforeEach(() => {
  broker = createFakeDynsec();
  failures = [];
  changed = [];
  applier = createSecurityEventApplier({
    control: broker,
    log: pino({ level: 'silent' }),
    isReserved: (username) => username === 'admin',
    onChange: (deviceId) => changed.push(deviceId),
    countFailure: (command) => failures.push(command),
  });
});

describe('applying security events', () => {
  it('registers a device as an enabled client holding its role, and tells of the change first', async () => {
    await applier.apply({ type: 'registered', deviceId: 'd1', password: 'pw' });
    expect(broker.clients.get('d1')).toEqual({ password: 'pw', roles: new Set([deviceRole('d1')]), disabled: false });
    expect(broker.roles.has(deviceRole('d1'))).toBe(true);
    expect(changed).toEqual(['d1']);
  });

  it('disables, enables, rotates and deletes', async () => {
    await applier.apply({ type: 'registered', deviceId: 'd1', password: 'pw' });
    await applier.apply({ type: 'disabled', deviceId: 'd1' });
    expect(broker.clients.get('d1')?.disabled).toBe(true);
    await applier.apply({ type: 'enabled', deviceId: 'd1', active: true });
    expect(broker.clients.get('d1')?.disabled).toBe(false);
    await applier.apply({ type: 'rotated', deviceId: 'd1', password: 'new', active: true, gracePeriodSeconds: 60 });
    expect(broker.clients.get('d1')?.password).toBe('new');
    await applier.apply({ type: 'deleted', deviceId: 'd1' });
    expect(broker.clients.has('d1')).toBe(false);
    expect(broker.roles.has(deviceRole('d1'))).toBe(false);
    expect(failures).toEqual([]);
  });

  it('creates a client missing in Mosquitto when its device is rotated', async () => {
    await applier.apply({ type: 'rotated', deviceId: 'd2', password: 'new', active: false, gracePeriodSeconds: 0 });
    expect(broker.clients.get('d2')).toEqual({ password: 'new', roles: new Set([deviceRole('d2')]), disabled: true });
  });

  it('takes over a leftover client of its own on registration, with the new secret', async () => {
    broker.clients.set('d3', { password: 'old', roles: new Set([deviceRole('d3')]), disabled: true });
    await applier.apply({ type: 'registered', deviceId: 'd3', password: 'pw' });
    expect(broker.clients.get('d3')).toMatchObject({ password: 'pw', disabled: false });
    expect(failures).toEqual([]);
  });

  it('leaves a foreign client of the same name alone and counts the failure', async () => {
    broker.clients.set('d4', { password: 'theirs', roles: new Set(['someone-else']), disabled: false });
    await applier.apply({ type: 'registered', deviceId: 'd4', password: 'pw' });
    expect(broker.clients.get('d4')).toMatchObject({ password: 'theirs', roles: new Set(['someone-else']) });
    expect(failures).toEqual(['createClient']);
  });

  it('never mirrors a device named like a reserved broker user', async () => {
    await applier.apply({ type: 'registered', deviceId: 'admin', password: 'pw' });
    expect(broker.sent).toEqual([]);
    expect(changed).toEqual(['admin']);
  });

  it('does not throw when Mosquitto does not answer: counts the event type', async () => {
    broker.failNextSend(new Error('no dynamic-security response within 10 ms'));
    await expect(applier.apply({ type: 'disabled', deviceId: 'd5' })).resolves.toBeUndefined();
    expect(failures).toEqual(['disabled']);
  });
});
