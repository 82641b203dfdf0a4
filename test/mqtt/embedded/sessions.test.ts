import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDeviceClients } from '../../../src/mqtt/embedded/device-clients.ts';
import { createSessionExpiry } from '../../../src/mqtt/embedded/expiry.ts';
import { createSessions, type SessionClient, type Sessions } from '../../../src/mqtt/embedded/sessions.ts';
import type { ConnectionEvent } from '../../../src/mqtt/transport.ts';

const log = pino({ level: 'silent' });

/** A stand-in for an Aedes client: closing it is recorded and calls back at once. */
function fakeClient(id: string): SessionClient & { closed: number } {
  return {
    id,
    closed: 0,
    close(callback) {
      this.closed++;
      callback?.();
    },
  };
}

describe('device clients', () => {
  it('tracks several clients per device: first in, last out', () => {
    const clients = createDeviceClients<string>();
    expect(clients.add('d1', 'a')).toBe(true);
    expect(clients.add('d1', 'b')).toBe(false);
    expect(clients.add('d1', 'b')).toBe(false);
    expect(clients.of('d1')).toEqual(['a', 'b']);
    expect(clients.remove('d1', 'a')).toBe('remaining');
    expect(clients.remove('d1', 'a')).toBe('untracked');
    expect(clients.remove('d1', 'b')).toBe('last');
    expect(clients.of('d1')).toEqual([]);
    expect(clients.remove('d2', 'x')).toBe('untracked');
    // Gone entirely: the next client is a first again.
    expect(clients.add('d1', 'c')).toBe(true);
  });
});

describe('sessions', () => {
  let sessions: Sessions;
  let events: Array<Omit<ConnectionEvent, 'at'>>;

  beforeEach(() => {
    sessions = createSessions(log);
    events = [];
    sessions.setConnectionHandler(({ deviceId, connected }) => events.push({ deviceId, connected }));
  });

  it('reports a device connected while any of its clients is', () => {
    const [a, b] = [fakeClient('d1'), fakeClient('d1:second')];
    sessions.identify(a, 'd1');
    sessions.identify(b, 'd1');
    sessions.opened(a);
    sessions.opened(b);
    sessions.closed(a);
    expect(events).toEqual([{ deviceId: 'd1', connected: true }]);
    sessions.closed(b);
    expect(events).toEqual([
      { deviceId: 'd1', connected: true },
      { deviceId: 'd1', connected: false },
    ]);
  });

  it('knows nothing of clients that never authenticated, nor of one closed before it registered', () => {
    const stranger = fakeClient('x');
    sessions.opened(stranger);
    sessions.closed(stranger);
    const refused = fakeClient('d2');
    sessions.identify(refused, 'd2');
    sessions.closed(refused);
    expect(sessions.deviceOf(stranger)).toBeUndefined();
    expect(events).toEqual([]);
  });

  it("disconnects all of a device's clients, and says when there were none", async () => {
    const [a, b, other] = [fakeClient('a'), fakeClient('b'), fakeClient('c')];
    for (const [client, deviceId] of [
      [a, 'd1'],
      [b, 'd1'],
      [other, 'd2'],
    ] as const) {
      sessions.identify(client, deviceId);
      sessions.opened(client);
    }
    expect(sessions.clientsOf('d1')).toEqual([a, b]);
    expect(await sessions.disconnect('d1')).toBe(true);
    expect([a.closed, b.closed, other.closed]).toEqual([1, 1, 0]);
    expect(await sessions.disconnect('nobody')).toBe(false);
  });

  it('survives a throwing connection handler and takes exactly one', () => {
    const s = createSessions(log);
    s.setConnectionHandler(() => {
      throw new Error('boom');
    });
    expect(() => s.setConnectionHandler(() => undefined)).toThrow('MQTT connection handler already set');
    const c = fakeClient('d1');
    s.identify(c, 'd1');
    expect(() => s.opened(c)).not.toThrow();
  });
});

describe('session expiry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('closes a session when its grace period ends; an earlier deadline wins', () => {
    const expiry = createSessionExpiry(log);
    const client = fakeClient('d1');
    const now = Date.now();
    expiry.expireAt(client, 'd1', now + 5_000);
    expiry.expireAt(client, 'd1', now + 10_000); // later: ignored
    vi.advanceTimersByTime(4_999);
    expect(client.closed).toBe(0);
    expiry.expireAt(client, 'd1', now + 6_000); // later than the one set: ignored
    expiry.expireAt(client, 'd1', now + 4_000 + 500); // earlier: replaces it
    vi.advanceTimersByTime(1);
    expect(client.closed).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(client.closed).toBe(1);
  });

  it('closes at once for a deadline already past, and never for a cancelled one', () => {
    const expiry = createSessionExpiry(log);
    const [late, gone] = [fakeClient('a'), fakeClient('b')];
    expiry.expireAt(late, 'd1', Date.now() - 1);
    expiry.expireAt(gone, 'd1', Date.now() + 1_000);
    expiry.cancel(gone);
    vi.advanceTimersByTime(2_000);
    expect([late.closed, gone.closed]).toEqual([1, 0]);
  });
});
