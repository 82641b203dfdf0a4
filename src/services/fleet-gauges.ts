/**
 * Fleet-wide gauges read from the database when /metrics is scraped (docs/operations.md): how many
 * devices are registered and how many are connected now, in every broker mode. The embedded broker's
 * own `doppel_mqtt_connected_clients` counts sockets on one instance; these count devices as the twin
 * store knows them (presence from CONNECT, the retained `status` message or the broker's events), so
 * they hold with an external broker and across instances. One statement per scrape, none on any path
 * a device or an API call takes.
 */
import type { SqlExecutor } from '../db/client.ts';
import type { Metrics } from '../metrics.ts';

export const DEVICES_CONNECTED_METRIC = 'doppel_devices_connected';
export const DEVICES_REGISTERED_METRIC = 'doppel_devices_registered';

export function watchFleetGauges(metrics: Metrics, sql: SqlExecutor): void {
  metrics.describe(DEVICES_CONNECTED_METRIC, 'Devices connected now, every tenant, as the twin store records presence (read at scrape time).', 'gauge');
  metrics.describe(DEVICES_REGISTERED_METRIC, 'Devices registered, every tenant (read at scrape time).', 'gauge');
  metrics.beforeRender(async () => {
    // A failed read (the database is down) leaves the last values: the dependency gauges report the outage.
    const [row] = await sql.query<{ connected: number; registered: number }>(
      `SELECT count(*) FILTER (WHERE "connected")::int AS connected, count(*)::int AS registered FROM "Device"`,
    );
    if (!row) return;
    metrics.set(DEVICES_CONNECTED_METRIC, {}, Number(row.connected));
    metrics.set(DEVICES_REGISTERED_METRIC, {}, Number(row.registered));
  });
}
