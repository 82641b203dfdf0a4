/**
 * `npm run console:screenshots`: the console's screenshots in docs/images/, taken from a real server.
 *
 * Starts a server on the embedded defaults (PGlite and Aedes in a temporary data directory, MQTT TLS
 * off), registers three devices with a model, connects them as mqtt.js devices (presence, reported
 * state, a stream of telemetry, one reading over a rule's threshold so an alarm is raised, one device
 * left offline), then drives a headless Chromium (test/support/browser.ts: Debian's chromium, loopback
 * only) through the fleet, device, rules, alarms and tokens pages and writes a PNG of each.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { chromiumPath, noBrowserReason, openOfflineBrowser } from '../test/support/browser.ts';
import { createApiToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { createLogger } from '../src/logger.ts';
import { createServer, MIGRATIONS_DIR } from '../src/server.ts';

const OUT = path.resolve(import.meta.dirname, '..', 'docs', 'images');
const MODEL = 'thermostat-v1';
const DEVICES = [
  { deviceId: 'greenhouse-1', tags: ['greenhouse', 'north'], online: true, temp: 22 },
  { deviceId: 'greenhouse-2', tags: ['greenhouse', 'south'], online: true, temp: 27 },
  { deviceId: 'cellar-1', tags: ['cellar'], online: false, temp: 12 },
];

async function main(): Promise<void> {
  if (!chromiumPath) throw new Error(noBrowserReason);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-screenshots-'));
  const config = loadConfig({
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    MQTT_TLS: 'off',
    DOPPEL_DATA_DIR: dataDir,
    DATABASE_URL: 'memory://',
    LOG_LEVEL: 'warn',
    DOPPEL_BOOTSTRAP_TOKEN: 'false',
  });
  const database = await openDatabase(config.database);
  await applyMigrations(database, { migrationsDir: MIGRATIONS_DIR });
  const server = createServer(config, { database, logger: createLogger(config.logLevel) });
  const running = await server.start();
  const clients: MqttClient[] = [];
  const timers: Array<ReturnType<typeof setInterval>> = [];
  try {
    const { token } = await createApiToken(database.prisma, { name: 'screenshots', role: 'admin', tenantId: 'default' });
    await createApiToken(database.prisma, { name: 'dashboard (read only)', role: 'viewer', tenantId: 'default' });
    const gql = async (query: string, variables: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
      const response = await fetch(`${running.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
      if (body.errors || !body.data) throw new Error(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors)}`);
      return body.data;
    };

    await gql(`mutation M($input: DeviceModelInput!) { createDeviceModel(input: $input) { __typename } }`, {
      input: {
        name: MODEL,
        description: 'A thermostat with a set point',
        desiredSchema: { type: 'object', properties: { setPoint: { type: 'number', minimum: 5, maximum: 35 } } },
        commands: [
          { name: 'reboot', description: 'Restart the device' },
          { name: 'setMode', params: { type: 'object', properties: { mode: { enum: ['eco', 'comfort'] } }, required: ['mode'] } },
        ],
      },
    });
    await gql(
      `mutation { createRule(input: {name: "too hot", scope: {}, source: {type: TELEMETRY, metric: "temp"}, raise: {op: GT, value: 30}, severity: MAJOR}) { __typename } }`,
    );
    await gql(
      `mutation { createRule(input: {name: "cellar offline", scope: {tag: "cellar"}, source: {type: CONNECTION}, raise: {op: EQ, value: false, forMs: 60000}, severity: MINOR}) { __typename } }`,
    );
    for (const device of DEVICES) {
      const data = await gql(
        `mutation M($input: RegisterDeviceInput!) { registerDevice(input: $input) { __typename ... on DeviceWithCredentials { credentials { username password } } ... on Error { message } } }`,
        { input: { deviceId: device.deviceId, model: MODEL, tags: device.tags } },
      );
      const result = data.registerDevice as { __typename: string; credentials?: { username: string; password: string }; message?: string };
      if (!result.credentials) throw new Error(`register ${device.deviceId}: ${result.message ?? result.__typename}`);
      await gql(`mutation M($d: String!) { updateDesired(deviceId: $d, patch: {setPoint: 21}) { __typename } }`, { d: device.deviceId });
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${running.mqttPort}`, { ...result.credentials, clientId: device.deviceId, reconnectPeriod: 0 });
      clients.push(client);
      const base = `devices/${device.deviceId}`;
      await client.publishAsync(`${base}/status`, 'online', { qos: 1, retain: true });
      await client.publishAsync(`${base}/twin/reported`, JSON.stringify({ state: { firmware: '1.4.2', setPoint: 20, mode: 'eco' } }), { qos: 1 });
      // Half an hour of history, a reading a minute, then a live stream.
      const start = Date.now() - 30 * 60_000;
      const history = Array.from({ length: 30 }, (_, i) => ({
        ts: start + i * 60_000,
        values: { temp: device.temp + Math.sin(i / 4) * 2, hum: 45 + (i % 7) },
      }));
      await client.publishAsync(`${base}/telemetry`, JSON.stringify(history), { qos: 1 });
      let n = 0;
      timers.push(
        setInterval(() => {
          n += 1;
          client.publish(`${base}/telemetry`, JSON.stringify({ values: { temp: device.temp + Math.sin(n / 3), hum: 45 + (n % 5) } }), { qos: 0 });
        }, 500),
      );
    }
    // One reading over the "too hot" threshold raises an alarm; the cellar goes offline.
    await clients[1]!.publishAsync(`devices/greenhouse-2/telemetry`, JSON.stringify({ values: { temp: 33.5 } }), { qos: 1 });
    clearInterval(timers[2]);
    await clients[2]!.publishAsync(`devices/cellar-1/status`, 'offline', { qos: 1, retain: true });
    await clients[2]!.endAsync();

    fs.mkdirSync(OUT, { recursive: true });
    const origin = running.url;
    const browser = await openOfflineBrowser(origin);
    const { page } = browser;
    try {
      await page.goto(`${origin}/`);
      await page.getByLabel('API token').fill(token);
      await page.getByRole('button', { name: 'Open the console' }).click();
      await page.getByTestId('token-role').waitFor({ timeout: 60_000 });

      await shoot(page, origin, '#/', 'console-fleet', () => page.locator('text=greenhouse-2').first().waitFor({ timeout: 30_000 }));
      await shoot(page, origin, '#/devices/greenhouse-1', 'console-device', () => page.getByTestId('live-plot').waitFor({ timeout: 30_000 }), 4_000);
      await shoot(page, origin, '#/rules', 'console-rules', () => page.locator('tr[data-rule="too hot"]').waitFor({ timeout: 30_000 }));
      await shoot(page, origin, '#/alarms', 'console-alarms', () => page.getByTestId('alarm-status').first().waitFor({ timeout: 60_000 }));
      await shoot(page, origin, '#/admin/tokens', 'console-tokens', () => page.locator('text=dashboard (read only)').first().waitFor({ timeout: 30_000 }));
      if (browser.pageErrors.length > 0) throw new Error(`the page reported errors: ${browser.pageErrors.join('; ')}`);
    } finally {
      await browser.close();
    }
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const client of clients) await client.endAsync(true).catch(() => undefined);
    await server.stop();
    await database.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Opens a page, waits until it shows what the screenshot is for (and `settleMs` more for live charts), writes the PNG. */
async function shoot(page: Page, origin: string, hash: string, name: string, ready: () => Promise<void>, settleMs = 500): Promise<void> {
  await page.goto(`${origin}/${hash}`);
  await ready();
  await page.waitForTimeout(settleMs);
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
