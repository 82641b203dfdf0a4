import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { createAuthorization } from '../../../src/mqtt/embedded/authorization.ts';
import { createInboundDelivery, type InboundDelivery } from '../../../src/mqtt/embedded/delivery.ts';
import { topics } from '../../../src/mqtt/topics.ts';
import type { InboundMessage } from '../../../src/mqtt/transport.ts';
import { log, partsFor, publishPacket } from './parts.ts';

function setup() {
  const parts = partsFor('d1');
  const authorization = createAuthorization({ identity: parts.sessions, counters: parts.counters, maxPayloadBytes: 8 });
  const inbound = createInboundDelivery({ authorization, counters: parts.counters, log, maxPayloadBytes: 8 });
  return { ...parts, inbound };
}

/** authorizePublish as Aedes calls it; resolves with the error message it completed with ('' = acknowledged). */
function publish(inbound: InboundDelivery, client: Client | null, packet = publishPacket(topics.telemetry('d1'), '{}')) {
  return new Promise<string>((resolve) => inbound.authorizePublish(client, packet, (err) => resolve(err?.message ?? '')));
}

describe('embedded broker inbound delivery', () => {
  it('acknowledges only after the handler has settled, with the authenticated device', async () => {
    const { inbound, clientOf } = setup();
    const seen: InboundMessage[] = [];
    let release = () => {};
    inbound.setMessageHandler(async (msg) => {
      seen.push(msg);
      await new Promise<void>((resolve) => (release = resolve));
    });
    let acked = false;
    const done = publish(inbound, clientOf('d1')).then((err) => ((acked = true), err));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(seen).toMatchObject([{ deviceId: 'd1', topic: { kind: 'telemetry' }, payload: Buffer.from('{}') }]);
    expect(acked).toBe(false);
    release();
    expect(await done).toBe('');
  });

  it('acknowledges a message whose handler failed, and counts it', async () => {
    const { inbound, clientOf, counters } = setup();
    inbound.setMessageHandler(() => Promise.reject(new Error('boom')));
    expect(await publish(inbound, clientOf('d1'))).toBe('');
    expect(counters.snapshot().handlerErrors).toBe(1);
  });

  it('refuses publishes the ACL forbids and payloads over the limit', async () => {
    const { inbound, clientOf, counters } = setup();
    inbound.setMessageHandler(() => Promise.resolve());
    expect(await publish(inbound, clientOf('d1'), publishPacket(topics.telemetry('d2'), '{}'))).toBe('publish not authorized');
    expect(await publish(inbound, clientOf('d1'), publishPacket(topics.telemetry('d1'), '123456789'))).toBe('payload too large');
    expect(await publish(inbound, clientOf('d1'), publishPacket(topics.telemetry('d1'), '12345678'))).toBe('');
    expect(counters.snapshot()).toMatchObject({ aclDenials: 1, oversize: 1 });
  });

  it('keeps only status retained', async () => {
    const { inbound, clientOf } = setup();
    inbound.setMessageHandler(() => Promise.resolve());
    const telemetry = publishPacket(topics.telemetry('d1'), '{}', true);
    const status = publishPacket(topics.status('d1'), 'online', true);
    await publish(inbound, clientOf('d1'), telemetry);
    await publish(inbound, clientOf('d1'), status);
    expect([telemetry.retain, status.retain]).toEqual([false, true]);
  });

  it('leaves messages unacknowledged without a handler or once it stops accepting, after letting running ones finish', async () => {
    const { inbound, clientOf } = setup();
    expect(await publish(inbound, clientOf('d1'))).toBe('not accepting messages');
    let release = () => {};
    inbound.setMessageHandler(() => new Promise<void>((resolve) => (release = resolve)));
    expect(() => inbound.setMessageHandler(() => Promise.resolve())).toThrow('MQTT message handler already set');
    const running = publish(inbound, clientOf('d1'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    inbound.stopAccepting();
    expect(await publish(inbound, clientOf('d1'))).toBe('not accepting messages');
    let settled = false;
    const drained = inbound.settled().then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(settled).toBe(false);
    release();
    await drained;
    expect(await running).toBe('');
  });
});
