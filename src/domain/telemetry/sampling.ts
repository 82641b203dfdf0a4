/**
 * Per-subscriber sampling of live telemetry (the `sampleIntervalMs` argument of the `telemetry`
 * subscription). Pure: no timers, no clock, no I/O. The edge `offer`s every event the subscriber would
 * otherwise receive, `take`s what is due when the client asks for the next event, and sets one timer
 * for `nextDueAt()` when nothing is due yet.
 *
 * Semantics, per device (not per device and metric: a dashboard redraws a device's panel at once, and
 * per-metric events would multiply the frames the interval is meant to save):
 * - At most one event per device per interval. The first event of an idle device goes out at once
 *   (leading edge), so a quiet device's first change is not delayed.
 * - An event carries, for each metric that changed since the device's last event, the newest point
 *   (largest `ts`; on equal `ts` the one stored last). Older points in between are dropped: that is
 *   the point of sampling.
 * - Never stale after newer: a point whose `ts` is not newer than the one already sent for its metric
 *   (late catch-up data) is dropped, so a metric shown to this subscriber only ever moves forward in time.
 * - Trailing edge: whatever arrived during the interval goes out when it ends, so the subscriber always
 *   ends up on the newest value of every metric, even when the device then falls silent.
 * - Bounded: at most one pending point per device and metric, however slowly the client reads; a client
 *   that reads slower than the interval simply gets fewer, fresher events.
 */

/** One stored value, as the live events carry it. */
export interface SampledPoint {
  metric: string;
  ts: number;
  value: number;
  isBool: boolean;
}

/** The part of a live telemetry event the sampler reads and writes. */
export interface SampledEvent<P extends SampledPoint = SampledPoint> {
  deviceId: string;
  points: P[];
  /** When the points were stored, epoch ms; a merged event carries the newest. */
  at: number;
}

/** The smallest and largest `sampleIntervalMs` the API accepts. */
export const MIN_SAMPLE_INTERVAL_MS = 10;
export const MAX_SAMPLE_INTERVAL_MS = 3_600_000;

/** Why an interval is refused, or null when it is valid. Null/undefined means no sampling and is valid. */
export function checkSampleInterval(ms: number | null | undefined): string | null {
  if (ms == null) return null;
  if (!Number.isInteger(ms) || ms < MIN_SAMPLE_INTERVAL_MS || ms > MAX_SAMPLE_INTERVAL_MS) {
    return `sampleIntervalMs must be an integer between ${MIN_SAMPLE_INTERVAL_MS} and ${MAX_SAMPLE_INTERVAL_MS} (ms), or null for every value`;
  }
  return null;
}

interface DeviceState<E extends SampledEvent> {
  /** The last event received for this device: the template for the next one (tenant, uuid, …). */
  template: E;
  /** metric → newest point not yet sent; insertion order is arrival order of the kept points. */
  pending: Map<string, E['points'][number]>;
  /** metric → ts of the last point sent. */
  sent: Map<string, number>;
  at: number;
  /** End of the current interval (after an event went out); -Infinity when idle. */
  coolUntil: number;
  /** In the ready queue. */
  ready: boolean;
}

/**
 * Samples the events of one subscriber. `E` is the event type the edge uses; extra fields (tenant,
 * device uuid) are copied from the newest event of the device.
 */
export class TelemetrySampler<E extends SampledEvent> {
  private readonly devices = new Map<string, DeviceState<E>>();
  /** Devices with pending points that may send now, in the order they became ready. */
  private readonly readyQueue: DeviceState<E>[] = [];
  private readyHead = 0;
  /** Devices that sent an event, in sending order: since `now` only grows, also in `coolUntil` order. */
  private cooling: DeviceState<E>[] = [];
  private coolingHead = 0;

  constructor(readonly intervalMs: number) {
    const problem = checkSampleInterval(intervalMs);
    if (problem) throw new RangeError(problem);
  }

  /** Takes in one event (already filtered for this subscriber). `now` is a monotonic clock in ms. */
  offer(event: E, now: number): void {
    let state = this.devices.get(event.deviceId);
    if (!state) {
      state = { template: event, pending: new Map(), sent: new Map(), at: event.at, coolUntil: -Infinity, ready: false };
      this.devices.set(event.deviceId, state);
    }
    let added = false;
    for (const p of event.points) {
      const sentTs = state.sent.get(p.metric);
      if (sentTs !== undefined && p.ts <= sentTs) continue; // stale: never after newer
      const kept = state.pending.get(p.metric);
      if (kept !== undefined && p.ts < kept.ts) continue;
      if (kept !== undefined) state.pending.delete(p.metric);
      state.pending.set(p.metric, p);
      added = true;
    }
    if (!added) return;
    state.template = event;
    state.at = Math.max(state.at, event.at);
    if (!state.ready && now >= state.coolUntil) this.markReady(state);
  }

  /** The next event due at `now`, or undefined. Starts that device's interval. */
  take(now: number): E | undefined {
    this.expireCooling(now);
    while (this.readyHead < this.readyQueue.length) {
      const state = this.readyQueue[this.readyHead]!;
      this.readyQueue[this.readyHead++] = undefined as never;
      state.ready = false;
      if (state.pending.size === 0) continue;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.readyQueue.length) {
        this.readyQueue.splice(0, this.readyHead);
        this.readyHead = 0;
      }
      const points = [...state.pending.values()];
      state.pending.clear();
      for (const p of points) state.sent.set(p.metric, p.ts);
      state.coolUntil = now + this.intervalMs;
      this.cooling.push(state);
      return { ...state.template, points, at: state.at };
    }
    return undefined;
  }

  /** When the next event comes due if nothing else arrives; undefined when nothing is pending. Due now when ≤ now. */
  nextDueAt(): number | undefined {
    if (this.readyHead < this.readyQueue.length) return -Infinity;
    for (let i = this.coolingHead; i < this.cooling.length; i++) {
      const state = this.cooling[i]!;
      if (state.pending.size > 0 && !state.ready && state.coolUntil !== -Infinity) return state.coolUntil;
    }
    return undefined;
  }

  /** Devices this sampler remembers (tests; memory is one entry per device and metric seen). */
  get deviceCount(): number {
    return this.devices.size;
  }

  private markReady(state: DeviceState<E>): void {
    state.ready = true;
    this.readyQueue.push(state);
  }

  /** Ends the intervals that are over; devices with points that waited for that become ready. */
  private expireCooling(now: number): void {
    while (this.coolingHead < this.cooling.length) {
      const state = this.cooling[this.coolingHead]!;
      // Entries were pushed in `now` order with one interval, so the first unexpired one ends the scan.
      if (state.coolUntil > now) break;
      this.coolingHead++;
      state.coolUntil = -Infinity;
      if (state.pending.size > 0 && !state.ready) this.markReady(state);
    }
    if (this.coolingHead > 1024 && this.coolingHead * 2 > this.cooling.length) {
      this.cooling = this.cooling.slice(this.coolingHead);
      this.coolingHead = 0;
    }
  }
}
