/** The telemetry pipeline's metrics: their names are read by dashboards and bench:ingest, so they never change. */
import type { Metrics } from '../../metrics.ts';

export const TELEMETRY_POINTS_METRIC = 'doppel_telemetry_points_total';
export const TELEMETRY_BATCHES_METRIC = 'doppel_telemetry_batches_total';
export const TELEMETRY_BACKPRESSURE_METRIC = 'doppel_telemetry_backpressure_waits_total';

export function describeTelemetryMetrics(metrics: Metrics): void {
  metrics.describe(TELEMETRY_POINTS_METRIC, 'Telemetry points written, by result (stored, duplicate, dropped: device gone).');
  metrics.describe(TELEMETRY_BATCHES_METRIC, 'Telemetry batch writes, by result.');
  metrics.describe(TELEMETRY_BACKPRESSURE_METRIC, 'Telemetry messages that had to wait for room in the pipeline.');
}
