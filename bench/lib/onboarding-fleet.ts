/**
 * The fleet-search phase of `npm run bench:onboarding` (issue 14): "a fleet search over 100,000
 * devices for one reported value" answers in < 50 ms on PostgreSQL, with its index used.
 *
 * Seeds the server's database directly (one set-based statement: devices and their twins, 1 % of
 * them reporting the firmware searched for), then measures, one request in flight:
 *
 *   graphql   `devices(filter: {reported: [{path: ["fw","version"], eq: …}]}, first: 100) { totalCount edges { … } }`
 *             over HTTP, response parsed (the page and its count are one statement)
 *   sql       that statement alone (src/services/device-reads.ts builds it), timed through the
 *             server child's `query` RPC (so an IPC round trip is included)
 *
 * and captures its EXPLAIN (ANALYZE), to show which index answers.
 */
import { parseFleetFilter } from '../../src/domain/fleet-filter.ts';
import { devicePageStatement } from '../../src/services/device-reads.ts';
import type { RpcChild } from './rpc.ts';
import { percentiles } from './stats.ts';

export interface FleetSearchOptions {
  /** Devices seeded (default 100,000). */
  devices?: number;
  /** Timed requests (and timed statement pairs) after the warm-up (default 200). */
  samples?: number;
  /** Prefix of the seeded device ids, unique per run. */
  prefix?: string;
}

export interface FleetSearchResult {
  devices: number;
  matching: number;
  seedMs: number;
  graphql: { p50: number; p99: number };
  sql: { p50: number; p99: number };
  /** EXPLAIN (ANALYZE) text of the statement (the page with its count). */
  explainPage: string;
  /** Whether a GIN index on "Twin".reported appears in the plans. */
  ginUsed: boolean;
}

const SEARCHED_VERSION = '1.2.0';
const TAG = 'bench-fleet';

const QUERY = `query Search($f: DeviceFilter) { devices(filter: $f, first: 100) { totalCount edges { node { deviceId connected twin { version reported } } } } }`;

export async function fleetSearchPhase(srv: RpcChild, url: string, token: string, options: FleetSearchOptions = {}): Promise<FleetSearchResult> {
  const devices = options.devices ?? 100_000;
  const samples = options.samples ?? 200;
  const prefix = options.prefix ?? 'fleet';
  const query = (text: string, params: unknown[] = []) => srv.call<Array<Record<string, unknown>>>('query', { text, params }, 600_000);

  // Every 100th device reports the version searched for; the others one of seven others. Desired
  // differs for 2 % (their delta is not empty), so the twins look like a fleet mid-rollout.
  const t0 = performance.now();
  await query(
    `WITH d AS (
       INSERT INTO "Device" (id, "tenantId", "deviceId", tags, "secretHash", connected, "lastSeenAt", "updatedAt")
       SELECT gen_random_uuid(), 'default', $1 || '-' || lpad(g::text, 6, '0'), ARRAY[$2], 'not-a-secret', g % 3 = 0, now() - make_interval(secs => g), now()
         FROM generate_series(1, $3::int) g
       RETURNING id, "deviceId"
     ), n AS (SELECT id, right("deviceId", 6)::int AS n FROM d)
     INSERT INTO "Twin" ("deviceId", version, reported, desired, delta)
     SELECT id, 1,
            jsonb_build_object('fw', jsonb_build_object('version', CASE WHEN n % 100 = 0 THEN $4 ELSE '1.3.' || (n % 7) END),
                               'mode', CASE WHEN n % 2 = 0 THEN 'heat' ELSE 'cool' END, 'target', 18 + n % 8, 'serial', 'SN' || n),
            jsonb_build_object('target', 18 + n % 8 + CASE WHEN n % 50 = 0 THEN 1 ELSE 0 END),
            CASE WHEN n % 50 = 0 THEN jsonb_build_object('target', 19 + n % 8) ELSE '{}'::jsonb END
       FROM n`,
    [prefix, TAG, devices, SEARCHED_VERSION],
  );
  // What autovacuum does after a bulk load: fresh statistics and the visibility map (index-only scans).
  await query(`VACUUM ANALYZE "Device"`);
  await query(`VACUUM ANALYZE "Twin"`);
  const seedMs = performance.now() - t0;

  // The whole tenant, as an operator asks ("every device still on 1.2.0"): no tag narrows it.
  const input = { reported: [{ path: ['fw', 'version'], eq: SEARCHED_VERSION }] };
  const parsed = parseFleetFilter(input);
  if (!parsed.ok) throw parsed.error;
  // What the API runs for this query: the first 100 (+1 to tell whether there is a next page) with the count.
  const page = devicePageStatement('default', parsed.filter, { take: 101, skip: 0 }, { withCount: true })!;

  const search = async (): Promise<number> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: QUERY, variables: { f: input } }),
    });
    const body = (await response.json()) as { data?: { devices: { totalCount: number; edges: unknown[] } }; errors?: unknown };
    if (!body.data || body.errors) throw new Error(`search failed: ${JSON.stringify(body).slice(0, 500)}`);
    return body.data.devices.totalCount;
  };

  // Warm-up: the first requests compile the schema paths and load the index pages.
  let matching = 0;
  for (let i = 0; i < 20; i++) matching = await search();
  if (matching !== Math.floor(devices / 100)) throw new Error(`the search found ${matching} devices, expected ${Math.floor(devices / 100)}`);

  const graphqlMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await search();
    graphqlMs.push(performance.now() - start);
  }
  const sqlMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await query(page.text, page.params);
    sqlMs.push(performance.now() - start);
  }

  const explain = async (statement: { text: string; params: unknown[] }) =>
    (await query(`EXPLAIN (ANALYZE, COSTS OFF, BUFFERS OFF) ${statement.text}`, statement.params)).map((row) => Object.values(row)[0] as string).join('\n');
  const explainPage = await explain(page);
  const [g50, g99] = percentiles(graphqlMs, [50, 99]);
  const [s50, s99] = percentiles(sqlMs, [50, 99]);
  return {
    devices,
    matching,
    seedMs,
    graphql: { p50: g50!, p99: g99! },
    sql: { p50: s50!, p99: s99! },
    explainPage,
    ginUsed: /Twin_reported_idx/.test(explainPage),
  };
}
