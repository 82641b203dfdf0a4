import { describe, expect, it } from 'vitest';
import { createEventBus, type TelemetryEvent } from '../../src/events/bus.ts';
import { mapEvents, sampleEvents } from '../../src/events/iterators.ts';
import { valueOf } from '../support/iterators.ts';

function ev(deviceId: string, ts: number, value: number): TelemetryEvent {
  return { deviceUuid: `u-${deviceId}`, deviceId, tenantId: 't', at: ts, points: [{ metric: 'temp', ts, value, isBool: false }] };
}

describe('mapEvents', () => {
  it('maps every event in order and ends the source when ended', async () => {
    const bus = createEventBus();
    const it = mapEvents(bus.subscribe('telemetry'), (e) => e.points[0]!.value);
    bus.publish('telemetry', ev('d', 1, 10));
    bus.publish('telemetry', ev('d', 2, 20));
    expect(await it.next()).toEqual({ value: 10, done: false });
    expect(await it.next()).toEqual({ value: 20, done: false });
    await it.return!();
    expect(bus.subscriberCount('telemetry')).toBe(0);
  });
});

describe('sampleEvents', () => {
  it('reads the bus eagerly, delivers the leading edge and then the trailing newest value from its timer', async () => {
    const bus = createEventBus({ maxQueuedPerSubscriber: 5 });
    let now = 0;
    const it = sampleEvents(bus.subscribe('telemetry'), 10, () => now);
    bus.publish('telemetry', ev('d', 1, 1));
    expect(valueOf(await it.next())?.points.map((p: { value: number }) => p.value)).toEqual([1]);
    // Far more events than the bus would queue for a subscriber that does not read: the sampler takes them all.
    for (let i = 2; i <= 50; i++) {
      bus.publish('telemetry', ev('d', i, i));
      await Promise.resolve();
    }
    const next = it.next();
    now = 10; // the interval is over; the timer (set for the trailing edge) delivers
    const r = await next;
    expect(valueOf(r)?.points.map((p: { value: number }) => p.value)).toEqual([50]);
    expect(valueOf(r)?.deviceUuid).toBe('u-d');
    await it.return!();
    expect(bus.subscriberCount('telemetry')).toBe(0);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('ends a waiting client when ended, and passes a source failure on', async () => {
    const bus = createEventBus();
    const it = sampleEvents(bus.subscribe('telemetry'), 10);
    const waiting = it.next();
    await it.return!();
    expect(await waiting).toEqual({ value: undefined, done: true });

    const failing: AsyncIterator<TelemetryEvent> = { next: () => Promise.reject(new Error('boom')) };
    await expect(sampleEvents(failing, 10).next()).rejects.toThrow('boom');
  });
});
