/**
 * The data bench:api reads (bench/api.ts), as plain SQL so it seeds the server's database (through its
 * `query` RPC, bench/lib/server-child.ts) and the raw baseline's own PGlite (bench/lib/api-raw-child.ts)
 * identically: `devices` devices of the default tenant, each with a twin of a dashboard's size (a dozen
 * reported leaves, a few desired ones, a one-leaf delta), and 24 h of per-minute telemetry for the first.
 */
import { rollupFoldSql } from '../../src/services/rollups.ts';

/** Device ids are `api-bench-0001`…; the first one carries the telemetry the series query reads. */
export const DEVICE_PREFIX = 'api-bench-';
export const SERIES_DEVICE = `${DEVICE_PREFIX}0001`;
export const SERIES_METRIC = 'temperature';

export type RunSql = (text: string, params?: unknown[]) => Promise<unknown[]>;

/** Seeds the rows; `until` is the end of the telemetry day (ms, a whole hour). */
export async function seedApiBench(run: RunSql, devices: number, until: number): Promise<void> {
  await run(
    `INSERT INTO "Device" (id, "tenantId", "deviceId", name, tags, "secretHash", connected, "updatedAt")
     SELECT gen_random_uuid(), 'default', $1 || lpad(i::text, 4, '0'), 'Bench device ' || i, ARRAY['bench', 'floor-' || (i % 4)],
            'x', i % 2 = 0, now()
       FROM generate_series(1, $2::int) AS i`,
    [DEVICE_PREFIX, devices],
  );
  await run(
    `INSERT INTO "Twin" ("deviceId", version, revision, reported, desired, delta)
     SELECT d.id, 42, 42,
            jsonb_build_object(
              'firmware', '2.4.' || (n % 10), 'uptime', 86400 + n, 'rssi', -60 - (n % 20),
              'temperature', 20.5 + (n % 7), 'humidity', 40 + (n % 30),
              'battery', jsonb_build_object('level', 80 - (n % 50), 'charging', n % 3 = 0),
              'location', jsonb_build_object('lat', 48.1 + n / 10000.0, 'lon', 11.5 + n / 10000.0),
              'config', jsonb_build_object('interval', 60, 'mode', 'eco', 'leds', true)),
            jsonb_build_object('config', jsonb_build_object('interval', 30, 'mode', 'eco', 'leds', true)),
            jsonb_build_object('config', jsonb_build_object('interval', 30))
       FROM (SELECT id, row_number() OVER (ORDER BY "deviceId") AS n FROM "Device" WHERE "deviceId" LIKE $1 || '%') AS d`,
    [DEVICE_PREFIX],
  );
  await run(
    `INSERT INTO "TelemetryPoint" ("deviceId", metric, ts, value)
     SELECT d.id, m, ts, 20 + 5 * sin(extract(epoch FROM ts) / 13751) + random()
       FROM "Device" d
      CROSS JOIN generate_series($2::timestamptz - interval '24 hours', $2::timestamptz - interval '1 minute', interval '1 minute') AS ts
      CROSS JOIN unnest(ARRAY[$3, 'humidity']) AS m
      WHERE d."deviceId" = $1`,
    [SERIES_DEVICE, new Date(until).toISOString(), SERIES_METRIC],
  );
  // Hourly series are read from the rollups (docs/telemetry.md): folded here with the statement
  // rebuildRollups runs (src/services/rollups.ts), over the seeded device's day.
  await run(
    `WITH source AS (
       SELECT p."deviceId", p.metric, p.ts, p.value FROM "TelemetryPoint" p JOIN "Device" d ON d.id = p."deviceId" WHERE d."deviceId" = $1
     ) ${rollupFoldSql('source')}
     SELECT count(*)::int AS n FROM rollup_rows`,
    [SERIES_DEVICE],
  );
  await run('ANALYZE "Device"');
  await run('ANALYZE "Twin"');
  await run('ANALYZE "TelemetryPoint"');
  await run('ANALYZE "TelemetryRollup"');
}

/**
 * The rows of the devices page, as the raw baseline reads them: the columns the GraphQL query asks
 * for, in the connection's order (by id, src/schema/device.ts), one statement.
 */
export const DEVICES_PAGE_SQL = `SELECT d.id, d."deviceId", d.name, d.connected, d.tags, t.version, t.reported, t.delta
  FROM "Device" d JOIN "Twin" t ON t."deviceId" = d.id
 WHERE d."tenantId" = 'default'
 ORDER BY d.id
 LIMIT 100`;
