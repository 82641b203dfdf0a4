import { describe, expect, it } from 'vitest';
import { createEventBus, SLOW_CONSUMER, type DeviceConnectionEvent } from '../../src/events/bus.ts';
import { valueOf } from '../support/iterators.ts';

const event = (deviceId: string, at: number): DeviceConnectionEvent => ({ deviceUuid: 'u', deviceId, tenantId: 't', connected: true, at });

describe('event bus', () => {
  it('delivers in order to every subscriber, filtered before queueing', async () => {
    const bus = createEventBus();
    const all = bus.subscribe('deviceConnection');
    const onlyA = bus.subscribe('deviceConnection', (e) => e.deviceId === 'a');
    bus.publish('deviceConnection', event('a', 1));
    bus.publish('deviceConnection', event('b', 2));
    bus.publish('deviceConnection', event('a', 3));
    expect([valueOf(await all.next())?.at, valueOf(await all.next())?.at, valueOf(await all.next())?.at]).toEqual([1, 2, 3]);
    expect([valueOf(await onlyA.next())?.at, valueOf(await onlyA.next())?.at]).toEqual([1, 3]);
  });

  it('ends a subscriber that stops reading with SLOW_CONSUMER; the publisher and the others are unaffected', async () => {
    let slow = 0;
    const bus = createEventBus({ maxQueuedPerSubscriber: 10, onSlowConsumer: () => slow++ });
    const stalled = bus.subscribe('deviceConnection');
    const reader = bus.subscribe('deviceConnection');
    const received: number[] = [];
    const reading = (async () => {
      for await (const e of reader) {
        received.push(e.at);
        if (received.length === 50) break;
      }
    })();
    for (let i = 0; i < 50; i++) {
      expect(() => bus.publish('deviceConnection', event('a', i))).not.toThrow();
      await Promise.resolve();
    }
    await reading;
    expect(received).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(slow).toBe(1);
    await expect(stalled.next()).rejects.toMatchObject({ code: SLOW_CONSUMER });
    expect(await stalled.next()).toEqual({ value: undefined, done: true });
    expect(bus.subscriberCount('deviceConnection')).toBe(0);
  });

  it('forgets a subscriber when it returns, and wakes a pending next()', async () => {
    const bus = createEventBus();
    const sub = bus.subscribe('twinChanged');
    const pending = sub.next();
    expect(bus.subscriberCount('twinChanged')).toBe(1);
    await sub.return!();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(bus.subscriberCount('twinChanged')).toBe(0);
  });
});
