/**
 * `npm run bench:rules` — what the rules engine costs ingestion, and how fast an alarm reaches a live
 * subscriber. bench:ingest's driver (bench/lib/server-child.ts, bench/lib/ingest-child.ts: mqtt.js
 * devices publishing {a: publish time, b: seq, c: bool} at QoS 1) runs the same step twice in one
 * invocation, on a fresh embedded server each time: with no rules, then with 1,000 enabled rules over
 * the same devices (thresholds on `b` that never raise and the same with "for" durations, each rule
 * scoped to 10 devices, so every reading moves 10 windows; plus one rule `a > T` over every device,
 * T half-way through the step, so each device raises once while the load runs).
 *
 *   sustained ingest ratio = points stored per second with rules / without (target ≥ 0.9)
 *   raise latency = alarmChanged delivered to a graphql-ws client − the raising reading's ts
 *                   (publish → stored → judged → written → delivered; target p99 ≤ 250 ms at half load)
 *
 *   npm run bench:rules -- --devices 500 --rate 1000 --seconds 20 [--record]
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { TELEMETRY_POINTS_METRIC } from '../src/services/telemetry/index.ts';
import type { IngestDevice, StepResult } from './lib/ingest-child.ts';
import { spawnChild } from './lib/rpc.ts';
import type { ServerStarted } from './lib/server-child.ts';
import { commitId, serverNodeFlags, sleep } from './lib/common.ts';
import { fmt } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    devices: { type: 'string', default: '500' },
    procs: { type: 'string', default: '2' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    rules: { type: 'string', default: '1000' },
    record: { type: 'boolean', default: false },
  },
});
const DEVICES = Number(opts.devices);
const PROCS = Number(opts.procs);
const RATE = Number(opts.rate);
const STEP_MS = Number(opts.seconds) * 1000;
const RULES = Number(opts.rules);

interface RunResult {
  rules: number;
  storedPerSecond: number;
  published: number;
  latencies: number[];
}

async function register(httpUrl: string, token: string, ids: string[]): Promise<IngestDevice[]> {
  const query = `mutation R($input: RegisterDeviceInput!) { registerDevice(input: $input) { ... on DeviceWithCredentials { credentials { username password } } } }`;
  const out: IngestDevice[] = [];
  const queue = [...ids];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let deviceId = queue.shift(); deviceId; deviceId = queue.shift()) {
        const response = await fetch(httpUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query, variables: { input: { deviceId } } }),
        });
        const body = (await response.json()) as { data: { registerDevice: { credentials: { username: string; password: string } } } };
        out.push({ deviceId, ...body.data.registerDevice.credentials });
      }
    }),
  );
  return out;
}

function ruleRow(definition: Record<string, unknown>, metric: string): [string, string, string] {
  return [randomUUID(), JSON.stringify({ onRaise: [], onClear: [], ...definition }), metric];
}

async function run(rules: number): Promise<RunResult> {
  const srv = spawnChild('server-child.ts', { nodeFlags: serverNodeFlags(ROOT) });
  try {
    const started = await srv.call<ServerStarted>('start', {
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        MQTT_PORT: '0',
        MQTT_HOST: '127.0.0.1',
        DATABASE_URL: 'memory://',
        LOG_LEVEL: 'silent',
        DOPPEL_BOOTSTRAP_TOKEN: 'false',
      },
    });
    const httpUrl = `${started.url}/graphql`;
    const ids = Array.from({ length: DEVICES }, (_, i) => `rb-${String(i).padStart(5, '0')}`);
    const devices = await register(httpUrl, started.token, ids);
    const gens = Array.from({ length: PROCS }, (_, p) => ({ share: devices.filter((_, i) => i % PROCS === p), child: spawnChild('ingest-child.ts') }));
    await Promise.all(gens.map((g) => g.child.call('connect', { mqttUrl: `mqtt://127.0.0.1:${started.mqttPort}`, devices: g.share }, 300_000)));

    const latencies: number[] = [];
    const ws = createClient({
      url: httpUrl.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${started.token}` },
    });
    ws.subscribe<{ alarmChanged: { cause: string; at: string } }>(
      { query: 'subscription { alarmChanged { cause at } }' },
      {
        next: (msg) => {
          const e = msg.data?.alarmChanged;
          if (e?.cause === 'conditionRaised') latencies.push(Date.now() - new Date(e.at).getTime());
        },
        error: (err) => console.error('subscription', err),
        complete: () => undefined,
      },
    );
    await sleep(1000);

    if (rules > 0) {
      const rows: Array<[string, string, string]> = [];
      for (let i = 0; i < rules - 1; i++) {
        const scope = { deviceIds: Array.from({ length: 10 }, (_, k) => ids[(i * 10 + k) % DEVICES]!) };
        const raise = i % 2 === 0 ? { op: '>', value: 1e12 } : { op: '>', value: 1e12, forMs: 60_000 };
        rows.push(ruleRow({ scope, source: { type: 'telemetry', metric: 'b' }, raise, severity: 'INFO' }, 'b'));
      }
      // Half-way through the step every device's `a` (publish time) passes T: one raise per device.
      const threshold = Date.now() + STEP_MS / 2;
      rows.push(ruleRow({ scope: {}, source: { type: 'telemetry', metric: 'a' }, raise: { op: '>', value: threshold }, severity: 'MAJOR' }, 'a'));
      await srv.call('query', {
        text: `WITH r AS (INSERT INTO "Rule" (id, "tenantId", name, definition, "sourceType", "sourceKey")
                 SELECT id, 'default', 'bench-' || id, def, 'telemetry', key FROM unnest($1::uuid[], $2::jsonb[], $3::text[]) AS t(id, def, key) RETURNING id, definition)
               INSERT INTO "RuleVersion" ("ruleId", version, definition, enabled) SELECT id, 1, definition, true FROM r`,
        params: [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2])],
      });
    }

    const stored = () => srv.call<number>('metric', { name: TELEMETRY_POINTS_METRIC, labels: { result: 'stored' } });
    const stored0 = await stored();
    const t0 = performance.now();
    const results = await Promise.all(
      gens.map((g) => g.child.call<StepResult>('step', { rate: (RATE * g.share.length) / DEVICES, durationMs: STEP_MS, drainMs: 20_000 }, STEP_MS + 90_000)),
    );
    const storedAtEnd = await stored();
    const seconds = (performance.now() - t0) / 1000;
    if (rules > 0) for (let deadline = Date.now() + 30_000; latencies.length < DEVICES && Date.now() < deadline;) await sleep(100);
    await ws.dispose();
    for (const g of gens) await g.child.call('close', undefined, 30_000).catch(() => g.child.kill());
    // Points stored per second while the step and its drain ran (3 values per message).
    return { rules, storedPerSecond: (storedAtEnd - stored0) / 3 / seconds, published: results.reduce((a, r) => a + r.published, 0), latencies };
  } finally {
    await srv.call('stop', undefined, 60_000).catch(() => srv.kill());
    await srv.exited;
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  console.log(`bench:rules — embedded (PGlite + Aedes), ${DEVICES} devices, ${RATE} msg/s for ${STEP_MS / 1000} s, ${RULES} rules vs none`);
  const without = await run(0);
  const withRules = await run(RULES);
  const ratio = withRules.storedPerSecond / without.storedPerSecond;
  const lines = [
    `messages stored/s without rules: ${fmt(without.storedPerSecond, 0)} (published ${without.published})`,
    `messages stored/s with ${RULES} rules: ${fmt(withRules.storedPerSecond, 0)} (published ${withRules.published})`,
    `sustained ingest ratio: ${fmt(ratio, 3)} (target ≥ 0.9)`,
    `raise latency (reading ts → alarmChanged delivered), ${withRules.latencies.length} raises: p50 ${fmt(percentile(withRules.latencies, 50), 0)} ms, p99 ${fmt(percentile(withRules.latencies, 99), 0)} ms (target p99 ≤ 250 ms)`,
  ];
  for (const line of lines) console.log(line);
  if (opts.record) {
    const entry = [
      '',
      `## bench:rules — ${new Date().toISOString()} (commit ${commitId(ROOT)})`,
      '',
      '```',
      `command: npm run bench:rules -- ${process.argv.slice(2).join(' ')}`.trimEnd(),
      ...lines,
      '```',
      '',
    ];
    fs.appendFileSync(path.join(import.meta.dirname, 'RESULTS.md'), entry.join('\n'));
  }
}

await main();
process.exit(0);
