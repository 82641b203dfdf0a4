import type { AedesPublishPacket, Client, Subscription } from 'aedes';
import { describe, expect, it } from 'vitest';
import { createAuthorization, type Authorization } from '../../../src/mqtt/embedded/authorization.ts';
import { BROKER_METRIC_NAMES } from '../../../src/mqtt/embedded/counters.ts';
import { topics } from '../../../src/mqtt/topics.ts';
import { fakeClient, partsFor, publishPacket } from './parts.ts';

function setup() {
  const parts = partsFor('d1');
  const authorization = createAuthorization({ identity: parts.sessions, counters: parts.counters, maxPayloadBytes: 10 });
  return { ...parts, authorization };
}

function subscribe(authorization: Authorization, client: Client, topic: string): Subscription | null | undefined {
  let granted: Subscription | null | undefined;
  authorization.authorizeSubscribe(client, { topic, qos: 1 }, (_err, sub) => (granted = sub));
  return granted;
}

describe('embedded broker authorization', () => {
  it("admits a Last Will on the device's own topics within the payload limit", () => {
    const { authorization, counters, metrics } = setup();
    expect(authorization.admitsWill('d1', { topic: topics.status('d1'), payload: Buffer.from('offline'), qos: 1, retain: true })).toBe(true);
    expect(authorization.admitsWill('d1', { topic: topics.status('d2'), payload: Buffer.from('x'), qos: 1, retain: true })).toBe(false);
    expect(authorization.admitsWill('d1', { topic: topics.status('d1'), payload: 'é'.repeat(6), qos: 1, retain: true })).toBe(false); // 12 bytes
    expect(counters.snapshot()).toMatchObject({ aclDenials: 1, oversize: 1 });
    expect(metrics.get(BROKER_METRIC_NAMES.aclDenials)).toBe(1);
    expect(metrics.get(BROKER_METRIC_NAMES.oversize)).toBe(1);
  });

  it("passes a publish to the device's own device → server topics, parsed", () => {
    const { authorization, clientOf, counters } = setup();
    expect(authorization.checkPublish(clientOf('d1'), publishPacket(topics.telemetry('d1'), '{}'))).toEqual({
      deviceId: 'd1',
      topic: expect.objectContaining({ kind: 'telemetry', deviceId: 'd1' }),
    });
    expect(authorization.checkPublish(clientOf('d1'), publishPacket(topics.telemetry('d2'), '{}'))).toBeNull();
    expect(authorization.checkPublish(clientOf('d1'), publishPacket(topics.delta('d1'), '{}'))).toBeNull();
    // Never authenticated: nobody.
    expect(authorization.checkPublish(fakeClient('anon'), publishPacket(topics.telemetry('d1'), '{}'))).toBeNull();
    expect(counters.snapshot().aclDenials).toBe(3);
  });

  it("takes a clientless publish (a persisted Last Will) as the topic's own device", () => {
    const { authorization } = setup();
    expect(authorization.checkPublish(null, publishPacket(topics.status('d9'), 'offline'))?.deviceId).toBe('d9');
  });

  it('grants subscriptions within twin/# and commands/# only', () => {
    const { authorization, clientOf, counters } = setup();
    expect(subscribe(authorization, clientOf('d1'), topics.twinFilter('d1'))).toEqual({ topic: topics.twinFilter('d1'), qos: 1 });
    expect(subscribe(authorization, clientOf('d1'), `${topics.commandsFilter('d1').slice(0, -1)}+`)).toBeTruthy();
    expect(subscribe(authorization, clientOf('d1'), 'devices/#')).toBeNull();
    expect(subscribe(authorization, fakeClient('anon'), topics.twinFilter('d1'))).toBeNull();
    expect(counters.snapshot().aclDenials).toBe(2);
  });

  it("forwards only the device's own server → device messages", () => {
    const { authorization, clientOf } = setup();
    const packet = (topic: string) => ({ ...publishPacket(topic, '{}'), brokerId: 'b', brokerCounter: 1 }) as AedesPublishPacket;
    expect(authorization.authorizeForward(clientOf('d1'), packet(topics.delta('d1')))).not.toBeNull();
    expect(authorization.authorizeForward(clientOf('d1'), packet(topics.twinReported('d1')))).toBeNull();
    expect(authorization.authorizeForward(clientOf('d1'), packet(topics.delta('d2')))).toBeNull();
  });
});
