/**
 * `npm run bench:console` — the console in a real headless Chromium (issue 17, "Measure";
 * docs/benchmarks.md, docs/console.md "Performance"):
 *
 *   server        bench/lib/server-child.ts (createServer, as `npm start`): PGlite + Aedes, or PostgreSQL
 *   fleet         10,000 devices registered with registerDevices, 1,000 of them online (mqtt.js devices in
 *                 bench/lib/farm-client-child.ts, each announcing the retained `online`)
 *   busy device   one more device at 100 telemetry messages/s (bench/lib/console-device-child.ts)
 *   browser       Debian's Chromium through playwright-core (test/support/browser.ts), offline but for the server
 *
 * Measured, with a baseline in the same browser in the same run:
 *   1. fleet page load: navigation start → first rows in the DOM / painted, → totals show 10,000,
 *      → every row loaded, → 1,000 online shown (a MutationObserver probe installed before the page's scripts);
 *      the first load (which also bundles the console on the server) and `--loads` warm ones.
 *   2. fleet page scroll: the virtualized table scrolled top to bottom in `--scroll-step` px per frame
 *      (scrollTop set in requestAnimationFrame); frame intervals from rAF timestamps, long animation frames
 *      from PerformanceObserver. Baseline: a plain scrolling div of the same height, nothing rendered.
 *   3. device page: the page of the busy device (live reported-state panel on twinChanged, and the live
 *      chart on its `telemetry(sampleIntervalMs: 1000)` subscription, counted by the plot's columns),
 *      main-thread busy share over `--device-seconds` from CDP Performance.getMetrics.
 *      Baseline: an empty page over `--baseline-seconds`. Target: < 5 %.
 *
 *   npm run bench:console                       # embedded (PGlite + Aedes), about 3 minutes
 *   BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres npm run bench:console -- --mode postgres
 *   npm run bench:console -- --cpu-prof         # + CDP CPU profiles of the page (scroll, device page), summarized
 *   npm run bench:console -- --record           # + a dated section in bench/RESULTS.md
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CDPSession, Page } from 'playwright-core';
import { chromiumPath, noBrowserReason, openOfflineBrowser, type OfflineBrowser } from '../test/support/browser.ts';
import { commitId, createScratchDatabase, dropScratchDatabasesOnSignal, num, sleep, benchServerEnv, spawnServerChild, type Cleanups } from './lib/common.ts';
import type { ConsoleDeviceParams, ConsoleDeviceStatus } from './lib/console-device-child.ts';
import { frameStats, mainThreadMetrics, mainThreadShare, type FrameStats, type MainThreadShare } from './lib/console-frames.ts';
import type { FarmClientStatus, FarmDevice } from './lib/farm-client-child.ts';
import { renderSummary, summarizeProfile } from './lib/profile-summary.ts';
import { spawnChild } from './lib/rpc.ts';
import type { ServerStarted } from './lib/server-child.ts';
import { fmt, markdownTable, median, table } from './lib/stats.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

const HELP = `usage: npm run bench:console -- [options]

  --mode <m>              embedded (PGlite + Aedes, default) | postgres (BENCH_DATABASE_URL; a scratch
                          database is created there and dropped after)
  --devices <n>           registered devices (default 10000)
  --online <n>            of them online (default 1000)
  --loads <n>             warm fleet-page loads after the first (default 3)
  --scroll-step <px>      scrolled per frame, top to bottom (default 1000; rows are 34 px)
  --device-seconds <s>    device page window (default 30)
  --telemetry-hz <n>      the busy device's telemetry messages/s (default 100)
  --reported-hz <n>       its reported-state updates/s (default 1; 0: none)
  --baseline-seconds <s>  empty-page window (default 10)
  --cpu-prof              CDP CPU profiles of the page over the scroll and the device window, in
                          bench/profiles/console-*.cpuprofile, summarized
  --record                append a dated section to bench/RESULTS.md
  --note <text>           a sentence for the recorded section
  -h, --help`;

const { values: opts } = parseArgs({
  options: {
    mode: { type: 'string', default: 'embedded' },
    devices: { type: 'string', default: '10000' },
    online: { type: 'string', default: '1000' },
    loads: { type: 'string', default: '3' },
    'scroll-step': { type: 'string', default: '1000' },
    'device-seconds': { type: 'string', default: '30' },
    'telemetry-hz': { type: 'string', default: '100' },
    'reported-hz': { type: 'string', default: '1' },
    'baseline-seconds': { type: 'string', default: '10' },
    'cpu-prof': { type: 'boolean', default: false },
    record: { type: 'boolean', default: false },
    note: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}
const MODE = opts.mode;
if (MODE !== 'embedded' && MODE !== 'postgres') {
  console.error(`--mode must be embedded or postgres (got ${MODE})`);
  process.exit(2);
}
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
if (MODE === 'postgres' && !DATABASE_URL) {
  console.error('--mode postgres needs BENCH_DATABASE_URL=postgres://…');
  process.exit(2);
}
if (!chromiumPath) {
  console.error(`bench:console needs a browser: ${noBrowserReason}`);
  process.exit(2);
}
const DEVICES = num('devices', opts.devices, 10, 10_000);
const ONLINE = num('online', opts.online, 0, DEVICES - 1);
const LOADS = num('loads', opts.loads, 1, 20);
const SCROLL_STEP = num('scroll-step', opts['scroll-step'], 10, 100_000);
const DEVICE_SECONDS = num('device-seconds', opts['device-seconds'], 5, 600);
const TELEMETRY_HZ = num('telemetry-hz', opts['telemetry-hz'], 1, 1000);
const REPORTED_HZ = num('reported-hz', opts['reported-hz'], 0, 100);
const BASELINE_SECONDS = num('baseline-seconds', opts['baseline-seconds'], 2, 600);
const PROFILE = opts['cpu-prof'];
const TOKEN_KEY = 'doppel.console.token'; // src/console/app/session.ts
const PREFIX = 'cb';
const VIEWPORT_SELECTOR = '[data-testid=fleet-table]';
const BUSY_TARGET_PCT = 5;
const KEEP_NAMES_SHIM = 'globalThis.__name = globalThis.__name || ((fn) => fn);';

const deviceId = (i: number) => `${PREFIX}-${String(i).padStart(5, '0')}`;

// ---------------------------------------------------------------------------------------------------
// In-page probes (serialized into the page: self-contained, no imports).

interface LoadProbe {
  firstRowsDom: number | null;
  firstRowsPainted: number | null;
  totalShown: number | null;
  allLoaded: number | null;
  onlineShown: number | null;
}

/** Installed before the page's scripts: the token in session storage and a probe of the fleet page's progress. */
function installProbe({ tokenKey, token, devices, online }: { tokenKey: string; token: string; devices: number; online: number }): void {
  // Only the console's own pages: the baselines (about:blank + setContent) have no session storage to fill.
  if (!location.protocol.startsWith('http')) return;
  sessionStorage.setItem(tokenKey, token);
  // The probe watches the fleet page only: on the device page its observer would be charged to the page.
  if (location.hash.startsWith('#/devices/')) return;
  const probe: LoadProbe = { firstRowsDom: null, firstRowsPainted: null, totalShown: null, allLoaded: null, onlineShown: null };
  (window as unknown as { __consoleBench: LoadProbe }).__consoleBench = probe;
  const check = () => {
    const now = performance.now();
    if (probe.firstRowsDom === null && document.querySelector('tr[data-device]')) {
      probe.firstRowsDom = now;
      // The frame that shows the rows is painted after its rAF callbacks; a task queued from there runs after it.
      requestAnimationFrame(() => setTimeout(() => (probe.firstRowsPainted = performance.now()), 0));
    }
    const totals = document.querySelector('[data-testid=fleet-totals]');
    if (totals) {
      const total = totals.querySelector('[data-testid=total]')?.textContent;
      if (probe.totalShown === null && total === String(devices)) probe.totalShown = now;
      if (probe.allLoaded === null && total === String(devices) && !/loading/.test(totals.textContent ?? '')) probe.allLoaded = now;
      if (probe.onlineShown === null && totals.querySelector('[data-testid=connected-count]')?.textContent === String(online)) probe.onlineShown = now;
    }
    if (probe.firstRowsDom !== null && probe.allLoaded !== null && probe.onlineShown !== null) observer.disconnect();
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, characterData: true });
}

interface ScrollResult {
  timestamps: number[];
  longFrames: number;
  longFrameMs: number;
  blockingMs: number;
  reachedBottom: boolean;
  rowsAtBottom: number;
  scrollHeight: number;
}

/** Scrolls `selector` top to bottom, `step` px per frame; rAF timestamps and long animation frames. */
function scrollThrough({ selector, step }: { selector: string; step: number }): Promise<ScrollResult> {
  const viewport = document.querySelector(selector) as HTMLElement;
  viewport.scrollTop = 0;
  const longFrames: Array<{ duration: number; blockingDuration: number }> = [];
  let observer: PerformanceObserver | undefined;
  try {
    observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        longFrames.push({ duration: entry.duration, blockingDuration: (entry as unknown as { blockingDuration?: number }).blockingDuration ?? 0 });
    });
    observer.observe({ type: 'long-animation-frame' });
  } catch {
    observer = undefined;
  }
  return new Promise((resolve) => {
    const timestamps: number[] = [];
    // Two frames to settle after scrollTop = 0, then one step per frame.
    requestAnimationFrame(() =>
      requestAnimationFrame(function frame(t) {
        timestamps.push(t);
        if (viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - 1) {
          // One more frame so the last step's rendering is in the last interval.
          requestAnimationFrame((last) => {
            timestamps.push(last);
            setTimeout(() => {
              observer?.disconnect();
              const box = viewport.getBoundingClientRect();
              const rowsAtBottom = [...viewport.querySelectorAll('tr[data-device]')].filter((row) => {
                const r = row.getBoundingClientRect();
                return r.bottom > box.top && r.top < box.bottom;
              }).length;
              resolve({
                timestamps,
                longFrames: longFrames.length,
                longFrameMs: longFrames.reduce((s, f) => s + f.duration, 0),
                blockingMs: longFrames.reduce((s, f) => s + f.blockingDuration, 0),
                reachedBottom: true,
                rowsAtBottom,
                scrollHeight: viewport.scrollHeight,
              });
            }, 100);
          });
          return;
        }
        viewport.scrollTop += step;
        requestAnimationFrame(frame);
      }),
    );
  });
}

// ---------------------------------------------------------------------------------------------------

interface LoadTimes extends LoadProbe {
  fcp: number | null;
}

interface Results {
  mode: string;
  cold: LoadTimes;
  warm: LoadTimes[];
  scroll: FrameStats & { longFrames: number; longFrameMs: number; blockingMs: number; rowsAtBottom: number; seconds: number };
  scrollBaseline: FrameStats & { seconds: number };
  device: MainThreadShare & { twinUpdates: number; sampledEvents: number; telemetrySent: number; telemetryAcked: number };
  deviceBaseline: MainThreadShare;
  profiles: string[];
}

async function post<T>(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!response.ok || body.errors || !body.data) throw new Error(`${response.status}: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
  return body.data;
}

const REGISTER = `mutation Register($inputs: [RegisterDeviceInput!]!) {
  registerDevices(inputs: $inputs) {
    __typename
    ... on RegisterDevicesPayload { created results { index deviceId username password errors { message } } }
    ... on ValidationError { message }
  }
}`;

/** Registers the fleet with registerDevices, 2,000 rows a call; returns every device's credentials in index order. */
async function registerFleet(url: string, token: string): Promise<FarmDevice[]> {
  const devices: FarmDevice[] = [];
  for (let from = 0; from < DEVICES; from += 2000) {
    const inputs = Array.from({ length: Math.min(2000, DEVICES - from) }, (_, k) => {
      const i = from + k;
      return { deviceId: deviceId(i), name: `console bench ${i}`, tags: ['console-bench', `floor-${i % 7}`] };
    });
    type Answer = {
      registerDevices: {
        __typename: string;
        created?: number;
        message?: string;
        results?: Array<{ index: number; deviceId: string; username: string | null; password: string | null; errors: Array<{ message: string }> }>;
      };
    };
    const { registerDevices: answer } = await post<Answer>(url, token, REGISTER, { inputs });
    if (answer.__typename !== 'RegisterDevicesPayload' || answer.created !== inputs.length)
      throw new Error(`registerDevices: ${JSON.stringify(answer).slice(0, 500)}`);
    for (const row of answer.results!) {
      if (!row.username || !row.password) throw new Error(`registerDevices ${row.deviceId}: ${JSON.stringify(row.errors)}`);
      devices[from + row.index] = { deviceId: row.deviceId, username: row.username, password: row.password };
    }
  }
  return devices;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(500);
  }
}

async function loadFleetPage(page: Page, url: string): Promise<LoadTimes> {
  await page.goto(`${url}/#/`);
  await page
    .waitForFunction(
      () => {
        const probe = (window as unknown as { __consoleBench?: LoadProbe }).__consoleBench;
        return probe && probe.firstRowsPainted !== null && probe.allLoaded !== null && probe.onlineShown !== null;
      },
      undefined,
      { timeout: Number(process.env.BENCH_CONSOLE_LOAD_TIMEOUT_MS ?? 180_000), polling: 200 },
    )
    .catch(async (error: unknown) => {
      const seen = await page.evaluate(() => ({
        probe: (window as unknown as { __consoleBench?: LoadProbe }).__consoleBench,
        text: document.body.innerText.slice(0, 400),
      }));
      throw new Error(`the fleet page did not finish loading: ${(error as Error).message}; probe ${JSON.stringify(seen.probe)}; page: ${seen.text}`);
    });
  return page.evaluate(() => {
    const probe = (window as unknown as { __consoleBench: LoadProbe }).__consoleBench;
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null;
    return { ...probe, fcp };
  });
}

async function startProfile(cdp: CDPSession): Promise<void> {
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
}

async function stopProfile(cdp: CDPSession, name: string): Promise<string> {
  const { profile } = await cdp.send('Profiler.stop');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(ROOT, 'bench', 'profiles', `console-${MODE}-${name}-${stamp}.cpuprofile`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(profile));
  const summary = renderSummary(summarizeProfile(profile as unknown as Parameters<typeof summarizeProfile>[0]), 15);
  console.log(`\n--- page profile: ${name} (${path.relative(ROOT, file)}) ---\n${summary}\n`);
  return path.relative(ROOT, file);
}

async function readMetrics(cdp: CDPSession) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return mainThreadMetrics(metrics);
}

async function run(): Promise<Results> {
  const cleanups: Cleanups = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-bench-console-'));
  cleanups.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
  let browser: OfflineBrowser | undefined;
  const profiles: string[] = [];
  try {
    let databaseUrl = 'memory://';
    if (MODE === 'postgres') {
      const scratch = await createScratchDatabase(DATABASE_URL!, 'console');
      databaseUrl = scratch.url;
      cleanups.push(scratch.drop);
    }
    const server = spawnServerChild(ROOT, cleanups);
    const started = await server.call<ServerStarted>(
      'start',
      {
        env: benchServerEnv(databaseUrl, {
          DOPPEL_DATA_DIR: dataDir,
          MQTT_TLS_PORT: '0',
          // 2,000 rows of registerDevices are ≈ 0.2 MB of variables.
          GRAPHQL_MAX_BODY_BYTES: String(8 * 1024 * 1024),
        }),
        sampleRss: false,
      },
      600_000,
    );
    const graphqlUrl = `${started.url}/graphql`;
    const mqttUrl = `mqtt://127.0.0.1:${started.mqttPort}`;

    let t = performance.now();
    const fleet = await registerFleet(graphqlUrl, started.token);
    console.log(`[${MODE}] registered ${fmt(DEVICES)} devices with registerDevices in ${fmt((performance.now() - t) / 1000, 1)} s`);

    t = performance.now();
    const farm = spawnChild('farm-client-child.ts');
    cleanups.unshift(async () => {
      farm.kill();
      await farm.exited;
    });
    await farm.call('connect', { url: mqttUrl, devices: fleet.slice(0, ONLINE), keepaliveSeconds: 60 });
    await waitFor('the devices to be admitted', 300_000, async () => {
      const status = await farm.call<FarmClientStatus>('status');
      return status.admittedNow >= ONLINE ? status : undefined;
    });
    await waitFor(`the server to show ${ONLINE} devices connected`, 120_000, async () => {
      const data = await post<{ devices: { totalCount: number } }>(
        graphqlUrl,
        started.token,
        '{ devices(filter: { connected: true }, first: 1) { totalCount } }',
      );
      return data.devices.totalCount === ONLINE ? true : undefined;
    });
    console.log(`[${MODE}] ${fmt(ONLINE)} devices online in ${fmt((performance.now() - t) / 1000, 1)} s`);

    browser = await openOfflineBrowser(started.url);
    // tsx compiles this file with esbuild's keep-names, which wraps named inner functions in `__name(…)`;
    // the functions serialized into the page then need that helper there too.
    await browser.context.addInitScript({ content: KEEP_NAMES_SHIM });
    await browser.context.addInitScript(installProbe, { tokenKey: TOKEN_KEY, token: started.token, devices: DEVICES, online: ONLINE });

    // 1. Fleet page loads: the first one (the server bundles the console on first request), then warm ones.
    const cold = await loadFleetPage(browser.page, started.url);
    const warm: LoadTimes[] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await browser.context.newPage();
      warm.push(await loadFleetPage(page, started.url));
      await page.close();
    }
    const show = (l: LoadTimes) =>
      `first rows ${fmt(l.firstRowsPainted, 0)} ms, ${fmt(DEVICES)} shown ${fmt(l.totalShown, 0)} ms, all loaded ${fmt(l.allLoaded, 0)} ms, ${fmt(ONLINE)} online ${fmt(l.onlineShown, 0)} ms`;
    console.log(`[${MODE}] fleet page, first load: ${show(cold)}`);
    for (const l of warm) console.log(`[${MODE}] fleet page, warm load: ${show(l)}`);

    // 2. Scroll: the console's table, then the baseline (a plain div of the same height) in the same browser.
    const fleetPage = browser.page;
    const cdp = await browser.context.newCDPSession(fleetPage);
    await sleep(1000);
    if (PROFILE) await startProfile(cdp);
    const scrolled = await fleetPage.evaluate(scrollThrough, { selector: VIEWPORT_SELECTOR, step: SCROLL_STEP });
    if (PROFILE) profiles.push(await stopProfile(cdp, 'scroll'));
    if (scrolled.rowsAtBottom === 0) throw new Error('after scrolling to the bottom no device row is in view: the table did not render its last window');
    const scrollStats = frameStats(scrolled.timestamps);
    const { height } = await fleetPage.evaluate((selector) => ({ height: (document.querySelector(selector) as HTMLElement).clientHeight }), VIEWPORT_SELECTOR);
    const baselinePage = await browser.context.newPage();
    await baselinePage.setContent(
      `<div data-testid="fleet-table" style="height:${height}px;overflow:auto"><div style="height:${scrolled.scrollHeight}px;background:linear-gradient(#fff,#ddd)"></div></div>`,
    );
    await baselinePage.evaluate(KEEP_NAMES_SHIM);
    const baselineScroll = await baselinePage.evaluate(scrollThrough, { selector: VIEWPORT_SELECTOR, step: SCROLL_STEP });
    const baselineStats = frameStats(baselineScroll.timestamps);
    const seconds = (ts: number[]) => ((ts.at(-1) ?? 0) - (ts[0] ?? 0)) / 1000;
    console.log(
      `[${MODE}] scroll ${fmt(scrolled.scrollHeight)} px in ${fmt(SCROLL_STEP)} px steps: console p50/p95/p99 ${fmt(scrollStats.p50, 1)}/${fmt(scrollStats.p95, 1)}/${fmt(scrollStats.p99, 1)} ms, >16.7 ms ${scrollStats.over16}, >33 ms ${scrollStats.over33} of ${scrollStats.frames}; baseline p50/p99 ${fmt(baselineStats.p50, 1)}/${fmt(baselineStats.p99, 1)} ms, >16.7 ms ${baselineStats.over16}`,
    );

    // 3. Device page: the baseline first (an empty page), then the busy device's page.
    const baselineCdp = await browser.context.newCDPSession(baselinePage);
    await baselinePage.setContent('<p>baseline</p>');
    await baselineCdp.send('Performance.enable');
    const b0 = await readMetrics(baselineCdp);
    await sleep(BASELINE_SECONDS * 1000);
    const deviceBaseline = mainThreadShare(b0, await readMetrics(baselineCdp));
    await baselinePage.close();
    await fleetPage.close();

    const busy = fleet.length > ONLINE ? fleet[ONLINE]! : fleet.at(-1)!;
    const device = spawnChild('console-device-child.ts');
    cleanups.unshift(async () => {
      await device.call('stop', undefined, 10_000).catch(() => device.kill());
      await device.exited;
    });
    await device.call('start', {
      url: mqttUrl,
      deviceId: busy.deviceId,
      username: busy.username,
      password: busy.password!,
      telemetryHz: TELEMETRY_HZ,
      reportedHz: REPORTED_HZ,
    } satisfies ConsoleDeviceParams);
    const devicePage = await browser.context.newPage();
    await devicePage.goto(`${started.url}/#/devices/${busy.deviceId}`);
    await devicePage.waitForSelector('[data-testid=reported]', { timeout: 60_000 });
    // The device page's own live chart (src/console/app/charts.tsx) holds the 1 s sampled subscription:
    // one new column in the plot per sample, so its column count is the sample count.
    await devicePage.waitForFunction(() => Number(document.querySelector('[data-testid=live-plot]')?.getAttribute('data-points') ?? '0') >= 2, undefined, {
      timeout: 60_000,
    });
    const deviceCdp = await browser.context.newCDPSession(devicePage);
    await deviceCdp.send('Performance.enable');
    const readPage = () =>
      devicePage.evaluate(() => ({
        version: Number(document.querySelector('[data-testid=twin-version]')?.textContent ?? 'NaN'),
        sampled: Number(document.querySelector('[data-testid=live-plot]')?.getAttribute('data-points') ?? 'NaN'),
        errors: [...document.querySelectorAll('[data-testid=live-chart] [role=alert]')].map((e) => e.textContent ?? ''),
      }));
    const before = await readPage();
    const sentBefore = await device.call<ConsoleDeviceStatus>('status');
    if (PROFILE) await startProfile(deviceCdp);
    const d0 = await readMetrics(deviceCdp);
    await sleep(DEVICE_SECONDS * 1000);
    const d1 = await readMetrics(deviceCdp);
    if (PROFILE) profiles.push(await stopProfile(deviceCdp, 'device'));
    const after = await readPage();
    const sentAfter = await device.call<ConsoleDeviceStatus>('status');
    if (after.errors.length) throw new Error(`the live chart's sampled telemetry subscription failed: ${after.errors.join('; ')}`);
    if (browser.offOrigin.length) throw new Error(`the page asked for other origins: ${browser.offOrigin.slice(0, 3).join(', ')}`);
    const deviceShare = mainThreadShare(d0, d1);
    const deviceResult = {
      ...deviceShare,
      twinUpdates: after.version - before.version,
      sampledEvents: after.sampled - before.sampled,
      telemetrySent: sentAfter.telemetrySent - sentBefore.telemetrySent,
      telemetryAcked: sentAfter.telemetryAcked - sentBefore.telemetryAcked,
    };
    console.log(
      `[${MODE}] device page (${fmt(TELEMETRY_HZ)} Hz telemetry, 1 s sampled subscription): main thread busy ${fmt(deviceShare.busyPct, 2)} % of ${fmt(deviceShare.wallMs / 1000, 1)} s (script ${fmt(deviceShare.scriptPct, 2)} %); empty page ${fmt(deviceBaseline.busyPct, 2)} %`,
    );
    return {
      mode: MODE,
      cold,
      warm,
      scroll: {
        ...scrollStats,
        longFrames: scrolled.longFrames,
        longFrameMs: scrolled.longFrameMs,
        blockingMs: scrolled.blockingMs,
        rowsAtBottom: scrolled.rowsAtBottom,
        seconds: seconds(scrolled.timestamps),
      },
      scrollBaseline: { ...baselineStats, seconds: seconds(baselineScroll.timestamps) },
      device: deviceResult,
      deviceBaseline,
      profiles,
    };
  } finally {
    await browser?.close().catch(() => undefined);
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error('clean-up failed:', error));
  }
}

function report(r: Results): { text: string; markdown: string } {
  const loadRow = (name: string, pick: (l: LoadTimes) => number | null) => {
    const warm = r.warm.map(pick).filter((v): v is number => v !== null);
    return [name, fmt(pick(r.cold)), fmt(median(warm)), fmt(Math.max(...warm))];
  };
  const loadHeader = ['fleet page, from navigation start (ms)', 'first load', `warm median (${r.warm.length})`, 'warm max'];
  const loadRows = [
    loadRow('first contentful paint', (l) => l.fcp),
    loadRow('first rows in the DOM', (l) => l.firstRowsDom),
    loadRow('first rows painted', (l) => l.firstRowsPainted),
    loadRow(`totals show ${DEVICES}`, (l) => l.totalShown),
    loadRow(`every row loaded (${DEVICES})`, (l) => l.allLoaded),
    loadRow(`${ONLINE} online shown`, (l) => l.onlineShown),
  ];
  const frameHeader = ['scroll top to bottom', 'frames', 's', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', '> 16.7 ms', '> 33 ms', 'dropped', 'long anim. frames'];
  const frameRow = (name: string, f: FrameStats & { seconds: number }, extra: string) => [
    name,
    fmt(f.frames),
    fmt(f.seconds, 1),
    fmt(f.p50, 1),
    fmt(f.p95, 1),
    fmt(f.p99, 1),
    fmt(f.max, 1),
    fmt(f.over16),
    fmt(f.over33),
    fmt(f.droppedFrames),
    extra,
  ];
  const frameRows = [
    frameRow(`console fleet table (${fmt(DEVICES)} rows, ${fmt(SCROLL_STEP)} px/frame)`, r.scroll, `${r.scroll.longFrames} (${fmt(r.scroll.longFrameMs)} ms)`),
    frameRow('baseline: plain div, same height and steps', r.scrollBaseline, '–'),
  ];
  const ratio = (a: number, b: number) => (b > 0 ? fmt(a / b, 2) : '–');
  const busyHeader = ['main thread, share of wall time', 'window s', 'busy %', 'script %', 'layout+style %', 'target'];
  const busyRows = [
    [
      `device page: ${TELEMETRY_HZ} Hz telemetry + ${REPORTED_HZ} Hz reported, 1 s sampled subscription`,
      fmt(r.device.wallMs / 1000, 1),
      fmt(r.device.busyPct, 2),
      fmt(r.device.scriptPct, 2),
      fmt(r.device.layoutStylePct, 2),
      `< ${BUSY_TARGET_PCT} %: ${r.device.busyPct < BUSY_TARGET_PCT ? 'met' : 'MISSED'}`,
    ],
    [
      'baseline: empty page',
      fmt(r.deviceBaseline.wallMs / 1000, 1),
      fmt(r.deviceBaseline.busyPct, 2),
      fmt(r.deviceBaseline.scriptPct, 2),
      fmt(r.deviceBaseline.layoutStylePct, 2),
      '–',
    ],
  ];
  const notes = [
    `scroll: console ÷ baseline p99 frame = ${ratio(r.scroll.p99, r.scrollBaseline.p99)}, p50 = ${ratio(r.scroll.p50, r.scrollBaseline.p50)}; rows in view at the bottom: ${r.scroll.rowsAtBottom}`,
    `device window: ${fmt(r.device.telemetrySent)} telemetry messages sent (${fmt(r.device.telemetryAcked)} acknowledged), ${fmt(r.device.twinUpdates)} twin versions shown, ${fmt(r.device.sampledEvents)} sampled telemetry updates received; busy share − empty page = ${fmt(r.device.busyPct - r.deviceBaseline.busyPct, 2)} points`,
    ...(r.profiles.length ? [`page CPU profiles: ${r.profiles.join(', ')}`] : []),
  ];
  const text = [table(loadHeader, loadRows), '', table(frameHeader, frameRows), '', table(busyHeader, busyRows), '', ...notes].join('\n');
  const markdown = [
    markdownTable(loadHeader, loadRows),
    '',
    markdownTable(frameHeader, frameRows),
    '',
    markdownTable(busyHeader, busyRows),
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
  return { text, markdown };
}

dropScratchDatabasesOnSignal();
const startedAt = new Date();
const results = await run();
const { text, markdown } = report(results);
console.log(`\n${text}`);
if (opts.record) {
  const args = process.argv.slice(2).join(' ');
  const section = [
    '',
    `## ${startedAt.toISOString().slice(0, 10)} — ${commitId(ROOT)} — bench:console — ${results.mode} — noisy (shared machine)`,
    '',
    `Chromium ${chromiumPath} headless, viewport 1280×800, ${os.availableParallelism()} cores shared with other sessions; ${fmt(DEVICES)} devices registered, ${fmt(ONLINE)} online.`,
    ...(opts.note ? ['', opts.note] : []),
    `command: npm run bench:console${args ? ` -- ${args}` : ''}`,
    '',
    markdown,
    '',
  ].join('\n');
  fs.appendFileSync(path.join(ROOT, 'bench', 'RESULTS.md'), section);
  console.log('\nappended to bench/RESULTS.md');
}
process.exit(0);
