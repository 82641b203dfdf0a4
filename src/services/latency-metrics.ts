/**
 * The latency histograms and backlog gauges of the write paths (docs/operations.md): how long a
 * device message waits from the broker to its commit, how long one batch write takes, how long a
 * command takes from its creation to the device's final answer, and what is queued right now. All
 * observed in memory per message or batch: no statement is added to any path.
 */
import type { Metrics } from '../metrics.ts';

export const PUBLISH_TO_STORED_METRIC = 'doppel_publish_to_stored_seconds';
export const BATCH_WRITE_METRIC = 'doppel_batch_write_seconds';
export const COMMAND_ROUND_TRIP_METRIC = 'doppel_command_round_trip_seconds';
export const TELEMETRY_PENDING_METRIC = 'doppel_telemetry_points_pending';
export const TWIN_PENDING_METRIC = 'doppel_twin_ops_pending';

/** Milliseconds to a second on a batch path: a batch waits at most a few ms to fill, a write takes ms to seconds. */
const WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A command's round trip runs from ms (a device online) to its TTL (minutes) when it waits for a device. */
const ROUND_TRIP_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export type WriteKind = 'telemetry' | 'twin';

export interface LatencyMetrics {
  /** A device message of this kind was committed `seconds` after it was received. */
  publishToStored(kind: WriteKind, seconds: number): void;
  /** A batch write of this kind (all its statements) took `seconds`; `outcome` ok or failed. */
  batchWrite(kind: WriteKind, seconds: number, outcome: 'ok' | 'failed'): void;
  /** A command reached the final `status` `seconds` after it was created. */
  commandRoundTrip(status: string, seconds: number): void;
  /** Reads the backlogs when /metrics is scraped, not on every change. */
  watchBacklog(name: typeof TELEMETRY_PENDING_METRIC | typeof TWIN_PENDING_METRIC, read: () => number): void;
}

export function createLatencyMetrics(metrics: Metrics): LatencyMetrics {
  metrics.describeHistogram(PUBLISH_TO_STORED_METRIC, 'Device messages from receipt by Doppel to their commit, by kind (telemetry, twin).', WRITE_BUCKETS);
  metrics.describeHistogram(BATCH_WRITE_METRIC, 'One batch write (every statement of it, retries included), by kind and outcome.', WRITE_BUCKETS);
  metrics.describeHistogram(
    COMMAND_ROUND_TRIP_METRIC,
    'Commands from creation to the device’s final answer (SUCCEEDED, FAILED, REJECTED), by status.',
    ROUND_TRIP_BUCKETS,
  );
  metrics.describe(TELEMETRY_PENDING_METRIC, 'Telemetry points received and not yet stored (the pipeline’s backlog), at scrape time.', 'gauge');
  metrics.describe(TWIN_PENDING_METRIC, 'Twin operations received and not yet stored, at scrape time.', 'gauge');
  return {
    publishToStored: (kind, seconds) => metrics.observe(PUBLISH_TO_STORED_METRIC, { kind }, seconds),
    batchWrite: (kind, seconds, outcome) => metrics.observe(BATCH_WRITE_METRIC, { kind, outcome }, seconds),
    commandRoundTrip: (status, seconds) => metrics.observe(COMMAND_ROUND_TRIP_METRIC, { status }, seconds),
    watchBacklog: (name, read) => metrics.beforeRender(() => metrics.set(name, {}, read())),
  };
}

/** `run`, with its duration reported to `done` whether it succeeds or fails. */
export async function timed<T>(run: () => Promise<T>, done: (seconds: number, outcome: 'ok' | 'failed') => void): Promise<T> {
  const startedAt = performance.now();
  try {
    const result = await run();
    done((performance.now() - startedAt) / 1000, 'ok');
    return result;
  } catch (error) {
    done((performance.now() - startedAt) / 1000, 'failed');
    throw error;
  }
}
