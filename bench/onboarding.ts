/**
 * `npm run bench:onboarding` — how fast a fleet gets registered through the API (docs/onboarding.md).
 * One server (bench/lib/server-child.ts, as `npm start` runs it) per mode, and in the same run:
 *
 *   baseline      registerDevice, one device per call, 10 aliased mutations per request (the edge's
 *                 token limit allows about that many) and 4 requests in flight (the fastest way before registerDevices; 10,000 devices took 47 s)
 *   one call      registerDevices with 10,000 rows in one request
 *   batches       registerDevices with 10 requests of 1,000 rows, one after the other (the import CLI)
 *   fleet search  a search over 100,000 devices for one reported value (bench/lib/onboarding-fleet.ts;
 *                 target < 50 ms on PostgreSQL, its index used); --fleet-devices 0 skips it,
 *                 --fleet-only runs it alone
 *
 * devices/s = devices created ÷ wall time of the client's requests (response parsed). Target:
 * registerDevices ≥ 5,000 devices/s on this machine.
 *
 *   provisioning  bench/lib/onboarding-provision.ts; per phase also the server's raw SQL statements and
 *                 CPU-ms per device (robust to a noisy machine); --provision-only runs it alone,
 *                 --profile DIR writes a CPU profile of each provisioning phase there
 *
 *   npm run bench:onboarding -- [--devices 10000] [--baseline 1000] [--fleet-devices 100000] [--fleet-only] [--provision-only] [--profile DIR] [--mode pglite|postgres] [--record]
 *   (postgres: BENCH_DATABASE_URL=postgres://… ; a scratch database is created and dropped)
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { ServerStarted } from './lib/server-child.ts';
import {
  benchModes,
  benchServerEnv,
  commitId,
  createScratchDatabase,
  dropScratchDatabasesOnSignal,
  num,
  spawnServerChild,
  type Cleanups,
} from './lib/common.ts';
import { fmt, table } from './lib/stats.ts';
import { fleetSearchPhase, type FleetSearchResult } from './lib/onboarding-fleet.ts';
import { provisionPhases, type PhaseCost } from './lib/onboarding-provision.ts';
import type { ServerUsage, SqlTrace } from './lib/server-child.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    baseline: { type: 'string', default: '1000' },
    mode: { type: 'string', multiple: true },
    'fleet-devices': { type: 'string', default: '100000' },
    'fleet-only': { type: 'boolean', default: false },
    'provision-only': { type: 'boolean', default: false },
    profile: { type: 'string' },
    record: { type: 'boolean', default: false },
  },
});
const DEVICES = num('devices', opts.devices, opts['provision-only'] ? 50 : 1000, 10_000);
const BASELINE = num('baseline', opts.baseline, 50, 10_000);
const FLEET_DEVICES = num('fleet-devices', opts['fleet-devices'], 0, 1_000_000);
const fleetResults = new Map<string, FleetSearchResult>();
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const modes = benchModes(opts.mode, ['pglite', 'postgres']).map((m) => m.name);

interface Phase {
  name: string;
  devices: number;
  ms: number;
  /** Provisioning phases: the bench's own MQTT clients' CPU (this process), on the same cores as the server. */
  clientCpuMs?: number;
  server?: PhaseCost;
}

async function post(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
  if (!body.data || body.errors) throw new Error(`request failed: ${JSON.stringify(body).slice(0, 500)}`);
  return body.data;
}

async function baseline(url: string, token: string, prefix: string): Promise<Phase> {
  const ids = Array.from({ length: BASELINE }, (_, i) => `${prefix}-${i}`);
  const groups: string[][] = [];
  for (let i = 0; i < ids.length; i += 10) groups.push(ids.slice(i, i + 10));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let group = groups.shift(); group; group = groups.shift()) {
        const fields = group.map(
          (id, k) =>
            `r${k}: registerDevice(input: {deviceId: "${id}", tags: ["farm"], model: "bench-sensor"}) { ... on DeviceWithCredentials { credentials { password } } }`,
        );
        await post(url, token, `mutation { ${fields.join('\n')} }`, {});
      }
    }),
  );
  return { name: `baseline: registerDevice ×${BASELINE} (10 aliases/request, 4 in flight)`, devices: BASELINE, ms: performance.now() - t0 };
}

const BULK = `mutation B($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { ... on RegisterDevicesPayload { created results { username password } } } }`;

async function bulk(url: string, token: string, prefix: string, perCall: number): Promise<Phase> {
  const inputs = Array.from({ length: DEVICES }, (_, i) => ({ deviceId: `${prefix}-${String(i).padStart(5, '0')}`, tags: ['farm'], model: 'bench-sensor' }));
  let created = 0;
  const t0 = performance.now();
  for (let i = 0; i < inputs.length; i += perCall) {
    const data = (await post(url, token, BULK, { inputs: inputs.slice(i, i + perCall) })) as { registerDevices: { created: number } };
    created += data.registerDevices.created;
  }
  const ms = performance.now() - t0;
  if (created !== DEVICES) throw new Error(`created ${created} of ${DEVICES}`);
  const calls = Math.ceil(DEVICES / perCall);
  return { name: calls === 1 ? `registerDevices: ${DEVICES} in one call` : `registerDevices: ${calls} calls of ${perCall}`, devices: DEVICES, ms };
}

async function runMode(mode: string): Promise<Phase[]> {
  const scratch = mode === 'postgres' ? await createScratchDatabase(DATABASE_URL!, 'onboarding') : undefined;
  const cleanups: Cleanups = [];
  const srv = spawnServerChild(ROOT, cleanups);
  try {
    const started = await srv.call<ServerStarted>('start', {
      // The SQL trace counts the provisioning phases' statements (raw SQL only: Prisma's own queries are not in it).
      traceSql: true,
      // No 50 ms RSS sampling: the phases report CPU per device, and the sampler's own CPU would count in it.
      sampleRss: false,
      env: benchServerEnv(scratch?.url ?? 'memory://', {
        GRAPHQL_RATE_LIMIT_PER_S: '0',
        // 10,000 rows with a tag and a model are about 0.8 MB of variables; the answer is bigger.
        GRAPHQL_MAX_BODY_BYTES: String(8 * 1024 * 1024),
      }),
    });
    const url = `${started.url}/graphql`;
    const phases: Phase[] = [];
    if (!opts['fleet-only']) {
      // Warm-up: the first requests compile the schema paths and the statements.
      await bulk(url, started.token, 'warm', DEVICES >= 1000 ? 1000 : DEVICES).catch(() => undefined);
      if (!opts['provision-only'])
        phases.push(await baseline(url, started.token, 'base'), await bulk(url, started.token, 'one', DEVICES), await bulk(url, started.token, 'batch', 1000));
      // Provisioning over MQTT, each mode (bench/lib/onboarding-provision.ts; target: claim token ≥ 500 devices/s).
      phases.push(
        ...(await provisionPhases({
          graphqlUrl: url,
          token: started.token,
          mqttUrl: `mqtt://127.0.0.1:${started.mqttPort}`,
          devices: DEVICES,
          prefix: 'prov',
          measure: {
            before: async () => void (await srv.call('mark', { profile: opts.profile !== undefined })),
            after: async (phase): Promise<PhaseCost> => {
              if (opts.profile) {
                fs.mkdirSync(opts.profile, { recursive: true });
                await srv.call('endProfile', { file: path.join(opts.profile, `provision-${mode}-${phase}.cpuprofile`) });
              }
              const usage = await srv.call<ServerUsage>('usage');
              const trace = (await srv.call<SqlTrace[]>('sqlTrace')).sort((a, b) => b.calls - a.calls);
              const statements = trace.reduce((n, t) => n + t.calls, 0);
              // Printed as each phase ends, so a run cut short still reports what it measured.
              console.log(`${mode} ${phase}: ${statements} statements, ${fmt((usage.cpuUser + usage.cpuSystem) * 1000)} server CPU-ms`);
              for (const t of trace) console.log(`  ${t.calls}× (rows/call ${fmt(t.meanBatch, 1)}) ${t.statement.slice(0, 140)}`);
              return {
                statements,
                byStatement: trace.map((t) => ({ statement: t.statement, calls: t.calls, meanBatch: t.meanBatch })),
                cpuMs: (usage.cpuUser + usage.cpuSystem) * 1000,
              };
            },
          },
        })),
      );
    }
    if (FLEET_DEVICES > 0) fleetResults.set(mode, await fleetSearchPhase(srv, url, started.token, { devices: FLEET_DEVICES }));
    return phases;
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    await scratch?.drop();
  }
}

dropScratchDatabasesOnSignal();
const lines: string[] = [];
for (const mode of modes) {
  const phases = await runMode(mode);
  const rate = (p: Phase) => (p.devices * 1000) / p.ms;
  if (phases.length > 0 && !opts['provision-only']) {
    const base = phases[0]!;
    const rows = phases.map((p) => [p.name, fmt(p.devices), fmt(p.ms), fmt(rate(p)), p === base ? '1.00' : fmt(rate(p) / rate(base), 2)]);
    const text = table(['phase', 'devices', 'ms', 'devices/s', '× baseline'], rows);
    console.log(`\n${mode}\n${text}`);
    console.log(`target registerDevices ≥ 5,000 devices/s: one call ${fmt(rate(phases[1]!))}, batches ${fmt(rate(phases[2]!))}`);
    lines.push(`### ${mode}\n\n\`\`\`\n${text}\n\`\`\`\n`);
  }
  const provisioning = phases.filter((p) => p.server);
  if (provisioning.length > 0) {
    const text = [
      table(
        ['provisioning phase', 'devices', 'ms', 'devices/s', 'statements/device', 'server CPU-ms/device', 'client CPU-ms/device'],
        provisioning.map((p) => [
          p.name,
          fmt(p.devices),
          fmt(p.ms),
          fmt(rate(p)),
          fmt(p.server!.statements / p.devices, 2),
          fmt(p.server!.cpuMs / p.devices, 2),
          p.clientCpuMs === undefined ? '-' : fmt(p.clientCpuMs / p.devices, 2),
        ]),
      ),
      ...provisioning.map((p) =>
        table(
          [`${p.name.split(' (')[0]}: statement`, 'calls/device', 'rows/call'],
          p.server!.byStatement.map((t) => [t.statement.slice(0, 110), fmt(t.calls / p.devices, 3), fmt(t.meanBatch, 1)]),
        ),
      ),
    ].join('\n\n');
    console.log(`\n${mode} provisioning (server cost)\n${text}`);
    lines.push(`### ${mode}: provisioning, server cost\n\n\`\`\`\n${text}\n\`\`\`\n`);
  }
  const fleet = fleetResults.get(mode);
  if (fleet) {
    const text = [
      table(
        ['fleet search', 'devices', 'matching', 'p50 ms', 'p99 ms'],
        [
          [
            'GraphQL devices(filter: reported eq, first: 100) { totalCount edges }',
            fmt(fleet.devices),
            fmt(fleet.matching),
            fmt(fleet.graphql.p50, 1),
            fmt(fleet.graphql.p99, 1),
          ],
          [
            'SQL alone: the page-with-count statement (incl. an IPC round trip)',
            fmt(fleet.devices),
            fmt(fleet.matching),
            fmt(fleet.sql.p50, 1),
            fmt(fleet.sql.p99, 1),
          ],
        ],
      ),
      `seeded in ${fmt(fleet.seedMs)} ms; GIN index on "Twin".reported used: ${fleet.ginUsed ? 'yes' : 'NO'}`,
      `EXPLAIN (ANALYZE):\n${fleet.explainPage}`,
    ].join('\n');
    console.log(`\n${mode} fleet search\n${text}`);
    console.log(`target < 50 ms (PostgreSQL): GraphQL p50 ${fmt(fleet.graphql.p50, 1)} ms, p99 ${fmt(fleet.graphql.p99, 1)} ms`);
    lines.push(`### ${mode}: fleet search\n\n\`\`\`\n${text}\n\`\`\`\n`);
  }
}
if (opts.record) {
  const entry = [
    `\n## ${new Date().toISOString().slice(0, 10)} — ${commitId(ROOT)} — bench:onboarding — ${modes.join(', ')}\n`,
    `command: npm run bench:onboarding -- --devices ${DEVICES} --baseline ${BASELINE} --fleet-devices ${FLEET_DEVICES}${opts['fleet-only'] ? ' --fleet-only' : ''}${opts['provision-only'] ? ' --provision-only' : ''}\n`,
    ...lines,
  ];
  fs.appendFileSync(path.join(import.meta.dirname, 'RESULTS.md'), entry.join('\n'));
}
process.exit(0);
