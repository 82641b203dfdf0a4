import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventBus, type EventBus, type TelemetryEvent } from '../../src/events/bus.ts';
import { createRedisFanout, FANOUT_METRIC, type FanoutBus } from '../../src/events/redis-fanout.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { externalRedisUrl } from '../support/harness.ts';

const suite = externalRedisUrl ? describe : describe.skip;
const logger = createLogger('silent');
const opened: Array<{ close(): Promise<unknown> }> = [];
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close();
});

function telemetry(deviceId: string, value: number): TelemetryEvent {
  return {
    deviceUuid: '00000000-0000-4000-8000-000000000001',
    deviceId,
    tenantId: 'default',
    points: [{ metric: 'm', ts: 1_700_000_000_000 + value, value, isBool: false }],
    at: 1,
  };
}

async function instance(channel: string): Promise<{ bus: FanoutBus; local: EventBus; metrics: Metrics }> {
  const local = createEventBus();
  const metrics = new Metrics();
  const bus = await createRedisFanout(local, { url: externalRedisUrl!, channel, logger, metrics });
  opened.push(bus);
  return { bus, local, metrics };
}

/** The next `n` events of a subscription, or what arrived within `ms`. */
async function take<T>(events: AsyncIterator<T>, n: number, ms = 3000): Promise<T[]> {
  const got: T[] = [];
  const deadline = Date.now() + ms;
  while (got.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const next = await Promise.race([events.next(), new Promise<null>((r) => setTimeout(() => r(null), left))]);
    if (next === null || next.done) break;
    got.push(next.value);
  }
  return got;
}

describe('Redis fan-out start-up', () => {
  it('refuses to start, saying why, when Redis cannot be reached', async () => {
    await expect(createRedisFanout(createEventBus(), { url: 'redis://127.0.0.1:1', channel: 'doppel:test', logger, metrics: new Metrics() })).rejects.toThrow(
      /cannot reach Redis for event fan-out \(REDIS_URL\)/,
    );
  });
});

suite('Redis fan-out between instances', () => {
  it("delivers each instance's events to the others, and to its own subscribers exactly once", async () => {
    const channel = `doppel:test:${randomBytes(4).toString('hex')}`;
    const a = await instance(channel);
    const b = await instance(channel);
    const atA = a.bus.subscribe('telemetry');
    const atB = b.bus.subscribe('telemetry');
    for (let i = 1; i <= 5; i++) a.bus.publish('telemetry', telemetry('dev-a', i));
    b.bus.publish('telemetry', telemetry('dev-b', 6));

    // In publish order per instance; the own event is not echoed back from Redis.
    expect((await take(atB, 6)).map((e) => e.points[0]!.value)).toEqual([6, 1, 2, 3, 4, 5]);
    expect((await take(atA, 7, 500)).map((e) => e.points[0]!.value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(a.metrics.get(FANOUT_METRIC, { direction: 'out', result: 'sent' })).toBe(5);
    expect(b.metrics.get(FANOUT_METRIC, { direction: 'in', result: 'received' })).toBe(5);
  });

  it('counts and drops what is not an event envelope, and keeps delivering', async () => {
    const channel = `doppel:test:${randomBytes(4).toString('hex')}`;
    const b = await instance(channel);
    const events = b.bus.subscribe('telemetry');
    const raw = new Redis(externalRedisUrl!);
    opened.push({ close: () => raw.quit() });
    for (const junk of ['not json', '[]', 'null', JSON.stringify({ o: 'x', e: {} }), JSON.stringify({ o: 'x', e: null })]) {
      await raw.publish(channel, junk);
    }
    // A well-formed message with bad items: those are dropped, the good one is delivered.
    await raw.publish(channel, JSON.stringify({ o: 'x', e: [['nope', {}], ['telemetry', null], 'item', ['telemetry', telemetry('dev-x', 7)]] }));
    const a = await instance(channel);
    a.bus.publish('telemetry', telemetry('dev-a', 42));
    expect((await take(events, 2)).map((e) => e.points[0]!.value)).toEqual([7, 42]);
    expect(b.metrics.get(FANOUT_METRIC, { direction: 'in', result: 'malformed' })).toBe(8);
  });

  it('keeps publishing locally after it is closed, and an instance that left receives nothing', async () => {
    const channel = `doppel:test:${randomBytes(4).toString('hex')}`;
    const a = await instance(channel);
    const b = await instance(channel);
    const atB = b.bus.subscribe('telemetry');
    await b.bus.close();
    const atA = a.bus.subscribe('telemetry');
    a.bus.publish('telemetry', telemetry('dev-a', 1));
    expect((await take(atA, 1)).length).toBe(1);
    await a.bus.close();
    a.bus.publish('telemetry', telemetry('dev-a', 2));
    expect((await take(atA, 1)).map((e) => e.points[0]!.value)).toEqual([2]);
    expect(await take(atB, 1, 300)).toEqual([]);
  });
});
