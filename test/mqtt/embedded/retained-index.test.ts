import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createRetainedIndex, indexRetainedMessages, topicMatches, type RetainedPersistence } from '../../../src/mqtt/embedded/retained-index.ts';

const packet = (topic: string, payload = 'x') => ({ topic, payload: Buffer.from(payload), qos: 1, retain: true });
const topicsOf = (index: ReturnType<typeof createRetainedIndex>, patterns: string[]) => [...index.matching(patterns)].map((p) => p.topic);

describe('topic filter matching (as Aedes matches retained messages)', () => {
  it.each([
    ['devices/a/twin/#', 'devices/a/twin/delta', true],
    ['devices/a/twin/#', 'devices/a/twin', true],
    ['devices/a/twin/#', 'devices/a/twins', false],
    ['devices/a/twin/#', 'devices/b/twin/delta', false],
    ['devices/+/status', 'devices/a/status', true],
    ['devices/+/status', 'devices/a/b/status', false],
    ['devices/a', 'devices/a/status', false],
    ['devices/a/status', 'devices/a', false],
    ['#', 'anything/at/all', true],
    ['+/+', 'a/', true],
  ])('%s against %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter.split('/'), topic.split('/'))).toBe(expected);
  });
});

describe('the retained-message index', () => {
  it('finds a device filter’s retained messages under the device only, wildcard filters everywhere', () => {
    const index = createRetainedIndex();
    for (const t of ['devices/a/status', 'devices/a/twin/delta', 'devices/ab/twin/delta', 'devices/b/status', 'other', 'devices/a']) index.store(packet(t));
    expect(index.size).toBe(6);
    expect(topicsOf(index, ['devices/a/twin/#', 'devices/a/commands/#'])).toEqual(['devices/a/twin/delta']);
    expect(topicsOf(index, ['devices/a/#'])).toEqual(['devices/a/status', 'devices/a/twin/delta', 'devices/a']);
    expect(topicsOf(index, ['devices/+/status']).sort()).toEqual(['devices/a/status', 'devices/b/status']);
    expect(topicsOf(index, ['#']).sort()).toEqual([
      'devices/a',
      'devices/a/status',
      'devices/a/twin/delta',
      'devices/ab/twin/delta',
      'devices/b/status',
      'other',
    ]);
    expect(topicsOf(index, ['other'])).toEqual(['other']);
  });

  it('replaces a topic’s message and clears it with an empty payload', () => {
    const index = createRetainedIndex();
    index.store(packet('devices/a/status', 'online'));
    index.store(packet('devices/a/status', 'offline'));
    expect(index.size).toBe(1);
    expect([...index.matching(['devices/a/#'])].map((p) => p.payload.toString())).toEqual(['offline']);
    index.store(packet('devices/a/status', ''));
    index.store(packet('devices/zzz/status', '')); // clearing what was never retained is a no-op
    expect(index.size).toBe(0);
    expect(topicsOf(index, ['#'])).toEqual([]);
  });

  it('keeps a copy: a packet object reused by its sender does not change what is retained', () => {
    const index = createRetainedIndex();
    const p = packet('devices/a/status', 'online');
    index.store(p);
    p.topic = 'devices/b/status';
    expect(topicsOf(index, ['devices/a/status'])).toEqual(['devices/a/status']);
  });

  it('stands in for an Aedes persistence’s retained messages, in both its callback and promise forms', async () => {
    const persistence: RetainedPersistence = {
      storeRetained: () => {
        throw new Error('replaced');
      },
      createRetainedStream: () => Readable.from([]),
      createRetainedStreamCombi: () => Readable.from([]),
    };
    indexRetainedMessages(persistence);
    await new Promise<void>((resolve, reject) => persistence.storeRetained(packet('devices/a/status'), (err) => (err ? reject(err) : resolve())));
    await persistence.storeRetained(packet('devices/a/twin/delta'));
    const read = async (stream: Readable) => (await stream.toArray()).map((p: { topic: string }) => p.topic);
    expect(await read(persistence.createRetainedStream('devices/a/status'))).toEqual(['devices/a/status']);
    expect(await read(persistence.createRetainedStreamCombi(['devices/a/twin/#', 'devices/a/status']))).toEqual(['devices/a/twin/delta', 'devices/a/status']);
  });
});
