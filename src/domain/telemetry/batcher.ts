/**
 * A bounded batcher for telemetry points on their way to the store (docs/telemetry.md). Pure: no timers, no
 * clock, no I/O. The edge offers each parsed message, asks `due(now)` (or sets one timer for
 * `nextDueAt()`), `take`s a batch, writes it with one set-based statement, then `release`s it and
 * acknowledges the batch's tickets.
 *
 * Bounded: points waiting (pending) plus points taken but not yet released (in flight) never exceed
 * `maxPending`. When the store falls behind, in-flight batches keep their room and `offer` answers
 * 'full': the edge pushes back (stops reading, withholds MQTT acks) instead of queueing without end.
 *
 * A message is never split: all points of one offer go into the same batch, so a message is stored
 * whole or not at all, and its ticket is due exactly when that one batch is stored.
 */
import type { TelemetryPoint } from './message.ts';

/** Exported options: every field is part of the configuration. */
export interface BatcherOptions {
  /**
   * A batch is due once this many points are pending, and `take` stops adding offers once a batch has
   * this many. One offer larger than this still makes a batch of its own (offers are never split).
   */
  maxBatchPoints: number;
  /** A batch is due once its oldest offer has waited this long, in ms: the latency cost of batching. */
  maxBatchAgeMs: number;
  /** Max points held, pending plus in flight. At least `maxBatchPoints`, and at least the largest message (`TelemetryLimits.maxValuesPerMessage`). */
  maxPending: number;
}

/** A point with the device it belongs to, as it goes to the store. */
export interface DevicePoint extends TelemetryPoint {
  /** The device's store key (whatever the rows are keyed on: its internal id, or its device id). */
  device: string;
}

/** A batch to store. Opaque to the batcher's caller except for these fields; hand it back to `release`. */
export interface Batch<T> {
  /** Unique per batcher, increasing in `take` order. */
  readonly id: number;
  /**
   * Distinct on (device, metric, ts): where several offers in the batch carry the same key, the value
   * offered last wins, at the position where the key first appeared.
   */
  readonly points: DevicePoint[];
  /** Tickets of the offers in this batch (those that had one), in offer order; each is due (e.g. an MQTT ack) once the batch is stored. */
  readonly tickets: T[];
  /** Points as offered, before duplicates were dropped; this is what the batch holds of `maxPending` until released. */
  readonly offered: number;
}

interface Offer<T> {
  device: string;
  points: readonly TelemetryPoint[];
  at: number;
  ticket: T | undefined;
}

/**
 * Batches points from many messages. `T` is whatever the edge needs to acknowledge a message once it
 * is stored (an MQTT ack callback, a promise resolver); the batcher only carries it.
 */
export class TelemetryBatcher<T = never> {
  private readonly options: BatcherOptions;
  // A FIFO with a moving head: shift() on a large array is linear, and this runs per message.
  private queue: Array<Offer<T> | undefined> = [];
  private head = 0;
  private pending = 0;
  private inFlight = 0;
  private nextId = 1;
  // Keyed by the batch object itself, so a batch from another batcher (ids start at 1 in each) is told apart.
  private readonly taken = new Map<Batch<T>, number>();

  constructor(options: BatcherOptions) {
    for (const key of ['maxBatchPoints', 'maxBatchAgeMs', 'maxPending'] as const) {
      const v = options[key];
      if (!Number.isSafeInteger(v) || v < (key === 'maxBatchAgeMs' ? 0 : 1))
        throw new RangeError(`TelemetryBatcher: ${key} must be a ${key === 'maxBatchAgeMs' ? 'non-negative' : 'positive'} integer (got ${v})`);
    }
    if (options.maxPending < options.maxBatchPoints) {
      throw new RangeError(`TelemetryBatcher: maxPending (${options.maxPending}) must be at least maxBatchPoints (${options.maxBatchPoints})`);
    }
    this.options = { ...options };
  }

  /** Points waiting to be taken. */
  get pendingPoints(): number {
    return this.pending;
  }

  /** Points taken and not yet released. */
  get inFlightPoints(): number {
    return this.inFlight;
  }

  /** Offers waiting to be taken (messages, including ones with no points). */
  get pendingOffers(): number {
    return this.queue.length - this.head;
  }

  /** Batches taken and not yet released. */
  get inFlightBatches(): number {
    return this.taken.size;
  }

  /**
   * Adds one message's points, all or none. 'full' means nothing was added: there is no room for all
   * of them until in-flight batches are released. An offer with no points but a ticket is kept too
   * (its ticket comes out with the next batch), so a caller need not special-case empty messages.
   *
   * @param now the arrival time, in ms, on the same clock as `due(now)`.
   * @param ticket what to hand back with the batch once it is taken (undefined: nothing to acknowledge).
   * @throws RangeError if `points` alone exceed `maxPending`: such a message could never be accepted,
   *   which is a configuration error (`maxPending` < the largest message), not back-pressure.
   */
  offer(device: string, points: readonly TelemetryPoint[], now: number, ticket?: T): 'accepted' | 'full' {
    if (points.length > this.options.maxPending) {
      throw new RangeError(`TelemetryBatcher: an offer of ${points.length} points can never fit maxPending (${this.options.maxPending})`);
    }
    if (this.pending + this.inFlight + points.length > this.options.maxPending) return 'full';
    // A copy of the array (not the points): the caller may reuse its array, and a batch must not change after the fact.
    this.queue.push({ device, points: points.slice(), at: now, ticket });
    this.pending += points.length;
    return 'accepted';
  }

  /** Whether a batch should be taken now: enough points are pending, or the oldest offer has waited long enough. */
  due(now: number): boolean {
    if (this.pendingOffers === 0) return false;
    return this.pending >= this.options.maxBatchPoints || now >= this.nextDueAt()!;
  }

  /** When the oldest pending offer reaches `maxBatchAgeMs` (the time to set a timer for); undefined when nothing is pending. */
  nextDueAt(): number | undefined {
    const oldest = this.queue[this.head];
    return oldest === undefined ? undefined : oldest.at + this.options.maxBatchAgeMs;
  }

  /**
   * Takes the oldest offers, whole, until the batch holds `maxBatchPoints` points (at least one offer),
   * whether or not the batch is due (the edge takes early to drain on shutdown). Undefined when nothing
   * is pending. The batch keeps its room in `maxPending` until `release`d.
   */
  take(): Batch<T> | undefined {
    if (this.pendingOffers === 0) return undefined;
    const tickets: T[] = [];
    const byKey = new Map<string, DevicePoint>();
    let offered = 0;
    while (this.head < this.queue.length) {
      const offer = this.queue[this.head]!;
      if (offered > 0 && offered + offer.points.length > this.options.maxBatchPoints) break;
      this.queue[this.head++] = undefined;
      offered += offer.points.length;
      if (offer.ticket !== undefined) tickets.push(offer.ticket);
      for (const p of offer.points) {
        // NUL separates: metric names and device keys never contain it (metric names are [A-Za-z0-9_.-]).
        const key = `${offer.device}\u0000${p.metric}\u0000${p.ts}`;
        const point: DevicePoint = { device: offer.device, metric: p.metric, ts: p.ts, value: p.value, isBool: p.isBool };
        if (p.seq !== undefined) point.seq = p.seq;
        byKey.set(key, point);
      }
      if (offered >= this.options.maxBatchPoints) break;
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.pending -= offered;
    this.inFlight += offered;
    const batch: Batch<T> = { id: this.nextId++, points: [...byKey.values()], tickets, offered };
    this.taken.set(batch, offered);
    return batch;
  }

  /**
   * Gives a taken batch's room back: call it once the batch is stored (or given up on). Releasing does
   * not acknowledge anything; that is the caller's job, in `take` order (MQTT wants acks in the order
   * the messages came).
   *
   * @throws Error if the batch was not taken from this batcher or was already released (a caller bug
   *   that would otherwise corrupt the accounting).
   */
  release(batch: Batch<T>): void {
    const offered = this.taken.get(batch);
    if (offered === undefined) throw new Error(`TelemetryBatcher: batch ${batch.id} is not in flight (released twice, or from another batcher)`);
    this.taken.delete(batch);
    this.inFlight -= offered;
  }
}
