/**
 * Resuming `twinChanged` from a version (docs/twins.md, "Resuming a subscription"): a client that lost
 * its subscription (a restart, a network cut, SLOW_CONSUMER) subscribes again with the last version it
 * saw and gets every change after it, in order, then the live changes: no gap, no duplicate.
 *
 * How there is no gap: the live stream is subscribed FIRST and buffers; then the log (the TwinChange rows
 * each change writes in the same statement as the twin, src/services/twins/writer.ts) is read up to the
 * twin's version of that moment; then the buffer is drained without the versions the log already gave.
 * A change is announced on the bus only after its commit, so a change committed before the log read is
 * in the log, and one committed after it reaches the buffer, which was listening already. With Redis
 * fan-out (src/events/redis-fanout.ts) the same holds: a peer publishes after its commit and this
 * instance's Redis channel is subscribed from start-up, so the local subscription is what matters.
 *
 * When the log cannot bring the client up to date — retention deleted versions past `sinceVersion`
 * (src/services/retention.ts), or the device was registered again and is behind `sinceVersion` —
 * the stream fails with `ResyncRequiredError` (code RESYNC_REQUIRED) before any event: the client reads
 * the twin and subscribes again from its version. Everything is checked when the stream starts, so the
 * client sees every failure the same way (a graphql-ws `error` message).
 */
import type { TwinChangedEvent } from '../../events/bus.ts';
import { createTwinReplayStreams, type TwinReplayOptions } from './replay.ts';

export { twinReplayProbe, RESUMES_METRIC, RESUMED_CHANGES_METRIC, RESUME_DUPLICATES_METRIC } from './replay.ts';
export type { TwinReplayOptions } from './replay.ts';

export interface TwinReplay {
  /**
   * The changes of one device after `sinceVersion`, oldest first, then its live changes. The stream
   * starts working on its first `next()`: it subscribes to the bus, then reads the log. It fails (on that
   * first `next()`) with `ValidationError` (bad arguments), `NotFoundError` (no such device in the
   * tenant) or `ResyncRequiredError`; each is counted in `doppel_twin_resumes_total{result}`.
   */
  resume(tenantId: string, deviceId: string | null | undefined, sinceVersion: number): AsyncIterableIterator<TwinChangedEvent>;
}

export function createTwinReplay(options: TwinReplayOptions): TwinReplay {
  return createTwinReplayStreams(options);
}
