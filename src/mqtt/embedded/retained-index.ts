/**
 * Retained messages of the embedded broker, indexed by their first two topic levels.
 *
 * Aedes' memory persistence answers every SUBSCRIBE by testing the filter against *every* retained
 * message of the broker. Each device of the contract retains its `status` (and we retain its delta),
 * and subscribes to two filters on every connect, so a farm of N devices connecting at once did
 * 2 × N × N topic tests: at 2,000 devices the broker spent most of an admission there
 * (docs/performance.md "Farm admission"). A device's filters (`devices/{id}/twin/#`,
 * `devices/{id}/commands/#`) start with two literal levels, so only the retained messages under
 * `devices/{id}` can match: those are all this index looks at. A filter with a wildcard in its first
 * two levels (no device may subscribe to one, see acl.ts) falls back to the full scan.
 *
 * Matching follows Aedes' own (qlobber with `+` and `#`): `+` is exactly one level, `#` (last) zero or
 * more, so `a/#` also matches `a`.
 */
import { Readable } from 'node:stream';

/** A retained PUBLISH as Aedes stores it (only the fields we read; the packet is kept whole). */
export interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
}

/** The retained-message part of an Aedes persistence (aedes-persistence's callback flavour). */
export interface RetainedPersistence {
  storeRetained(packet: RetainedPacket, cb?: (err: Error | null) => void): unknown;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

export interface RetainedIndex {
  /** Retained messages held now. */
  readonly size: number;
  store(packet: RetainedPacket): void;
  /** The retained messages matching any of the filters, each filter's in turn (as Aedes does). */
  matching(patterns: readonly string[]): Generator<RetainedPacket>;
}

/** Levels that key a bucket; `devices/{id}` in our topic space (src/mqtt/topics.ts). */
const BUCKET_LEVELS = 2;

function bucketOf(levels: readonly string[]): string {
  return levels.slice(0, BUCKET_LEVELS).join('/');
}

/** MQTT filter match with `+` (one level) and a trailing `#` (zero or more levels). */
export function topicMatches(filterLevels: readonly string[], topicLevels: readonly string[]): boolean {
  for (let i = 0; i < filterLevels.length; i++) {
    const f = filterLevels[i]!;
    if (f === '#') return true;
    if (i >= topicLevels.length) return false;
    if (f !== '+' && f !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

export function createRetainedIndex(): RetainedIndex {
  /** bucket (first two levels) → topic → packet. */
  const buckets = new Map<string, Map<string, RetainedPacket>>();
  let size = 0;

  function* scan(bucket: Map<string, RetainedPacket> | undefined, filterLevels: string[]): Generator<RetainedPacket> {
    if (!bucket) return;
    for (const [topic, packet] of bucket) if (topicMatches(filterLevels, topic.split('/'))) yield packet;
  }

  return {
    get size() {
      return size;
    },
    store(packet) {
      const levels = packet.topic.split('/');
      const key = bucketOf(levels);
      const bucket = buckets.get(key);
      if (packet.payload.length === 0) {
        // An empty retained message clears the topic (MQTT-3.3.1-10).
        if (bucket?.delete(packet.topic)) {
          size--;
          if (bucket.size === 0) buckets.delete(key);
        }
        return;
      }
      const target = bucket ?? new Map<string, RetainedPacket>();
      if (!bucket) buckets.set(key, target);
      if (!target.has(packet.topic)) size++;
      // A copy, as Aedes' memory persistence keeps: the caller may reuse its packet object.
      target.set(packet.topic, { ...packet });
    },
    *matching(patterns) {
      for (const pattern of patterns) {
        const filterLevels = pattern.split('/');
        const prefix = filterLevels.slice(0, BUCKET_LEVELS);
        if (prefix.length === BUCKET_LEVELS && prefix.every((level) => level !== '+' && level !== '#')) {
          yield* scan(buckets.get(prefix.join('/')), filterLevels);
        } else {
          for (const bucket of buckets.values()) yield* scan(bucket, filterLevels);
        }
      }
    },
  };
}

/**
 * Replaces the retained-message methods of an Aedes persistence (before `broker.listen()`) with the
 * index: the broker's other state (subscriptions, wills, inflight messages) stays where it was.
 */
export function indexRetainedMessages(persistence: RetainedPersistence, index: RetainedIndex = createRetainedIndex()): RetainedIndex {
  persistence.storeRetained = (packet, cb) => {
    index.store(packet);
    if (cb) {
      process.nextTick(cb, null);
      return undefined;
    }
    return Promise.resolve();
  };
  persistence.createRetainedStream = (pattern) => Readable.from(index.matching([pattern]));
  persistence.createRetainedStreamCombi = (patterns) => Readable.from(index.matching(patterns));
  return index;
}
