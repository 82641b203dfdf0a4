/**
 * The console's telemetry charts and rules pages in a real headless Chromium against a real server and
 * an mqtt.js device: the live chart draws the sampled subscription's points and its legend values move;
 * the history chart shows the server's buckets of points sent with explicit timestamps, in a typed time
 * zone (a wrong one explained); a rule typed in the editor is refused per field, previewed by a backtest
 * that lists the alarm the stored readings would have raised, saved, disabled and enabled in the list,
 * and an alarm it raises live appears on the alarms page. Screenshots go to test/artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { chromiumPath, noBrowserReason, openOfflineBrowser, screenshot, type OfflineBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/harness.ts';
import { Register } from '../support/twin.ts';

const suffix = Math.random().toString(36).slice(2, 8);
const deviceId = `charts-dev-${suffix}`;
const ruleName = `too hot ${suffix}`;
/** Ten readings a minute apart, half an hour ago: one excursion above 35 (raised at the third, cleared at the fifth). */
const historyStart = Date.now() - 30 * 60_000;
const HISTORY_VALUES = [20, 21, 40, 41, 22, 20, 21, 22, 23, 20];

describe.skipIf(!chromiumPath)(`console charts and rules in Chromium (${chromiumPath ?? noBrowserReason})`, () => {
  let server: TestServer;
  let browser: OfflineBrowser;
  let device: MqttClient;
  let streaming: ReturnType<typeof setInterval> | undefined;
  let origin: string;

  beforeAll(async () => {
    server = await startTestServer();
    // httpUrl names the GraphQL endpoint; the console is at the root of the same origin.
    origin = new URL(server.httpUrl).origin;
    const result = await server.gql(Register, { input: { deviceId, tags: ['charts'] } });
    const registered = result.data?.registerDevice;
    if (registered?.__typename !== 'DeviceWithCredentials') throw new Error(`register: ${JSON.stringify(result)}`);
    device = await server.mqtt({ ...registered.credentials, clientId: deviceId, connectTimeout: 30_000 });
    // The contract's presence message: with an external broker it is how Doppel learns the device is online.
    await device.publishAsync(`devices/${deviceId}/status`, 'online', { qos: 1, retain: true });
    // Buffered readings with their own timestamps, as a device catching up sends them: one message.
    const entries = HISTORY_VALUES.map((temp, i) => ({ ts: historyStart + i * 60_000, values: { temp } }));
    await device.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(entries), { qos: 1 });
    browser = await openOfflineBrowser(origin);
    const { page } = browser;
    await page.goto(`${origin}/`);
    await page.getByLabel('API token').fill(server.token);
    await page.getByRole('button', { name: 'Open the console' }).click();
    // (expect.poll is for tests, not hooks: wait on the page itself.)
    await page.getByRole('link', { name: 'Rules' }).waitFor({ timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    if (streaming) clearInterval(streaming);
    await device?.endAsync(true).catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  it('draws live telemetry from the sampled subscription, and the legend values follow', async () => {
    const { page } = browser;
    await page.goto(`${origin}/#/devices/${encodeURIComponent(deviceId)}`);
    await expect.poll(() => page.getByTestId('device-connection').textContent(), { timeout: 60_000 }).toBe('online');
    await page.getByTestId('live-empty').waitFor({ timeout: 60_000 });
    // The device streams (far faster than the 1 s sampling the chart asks for), two metrics.
    let n = 0;
    streaming = setInterval(() => {
      n += 1;
      device.publish(`devices/${deviceId}/telemetry`, JSON.stringify({ values: { temp: 21 + (n % 7) * 0.5, hum: 40 + (n % 5) } }), { qos: 0 });
    }, 200);
    const plot = page.getByTestId('live-plot');
    await plot.waitFor({ timeout: 60_000 });
    expect(await plot.locator('canvas').count()).toBeGreaterThan(0);
    const points = async () => Number(await plot.getAttribute('data-points'));
    await expect.poll(points, { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    const before = await points();
    await expect.poll(points, { timeout: 60_000 }).toBeGreaterThan(before);
    // One series per metric, both in the picker, each with its latest value; the values keep changing.
    await expect.poll(() => page.locator('input[name="live-metric"]').count(), { timeout: 60_000 }).toBe(2);
    const firstValue = await page.getByTestId('live-value-temp').textContent();
    await expect.poll(() => page.getByTestId('live-value-temp').textContent(), { timeout: 60_000 }).not.toBe(firstValue);
    expect(await page.getByTestId('live-value-hum').textContent()).not.toBe('—');
    // The picker hides a series: the chart is rebuilt with one series fewer (uPlot's legend rows).
    const legendRows = () => plot.locator('.u-legend tr.u-series').count();
    expect(await legendRows()).toBe(3); // time + temp + hum
    await page.locator('input[name="live-metric"][value="hum"]').uncheck();
    await expect.poll(legendRows, { timeout: 30_000 }).toBe(2);
    clearInterval(streaming);
    streaming = undefined;
    await screenshot(page, 'console-device-charts');
  }, 240_000);

  it('shows the history as the server’s buckets, in a typed time zone; a wrong zone is explained', async () => {
    const { page } = browser;
    const buckets = () => page.getByTestId('history-buckets').textContent().then(Number);
    await page.getByRole('button', { name: 'Refresh' }).click();
    // A minute per reading over the last hour: at least the ten buffered readings' buckets.
    await expect.poll(buckets, { timeout: 60_000 }).toBeGreaterThanOrEqual(HISTORY_VALUES.length);
    const history = page.getByTestId('history-plot');
    expect(Number(await history.getAttribute('data-points'))).toBeGreaterThanOrEqual(HISTORY_VALUES.length);

    await page.locator('select[name="history-zone"]').selectOption('other');
    await page.locator('input[name="history-zone-name"]').fill('Mars/Olympus');
    await page.locator('input[name="history-zone-name"]').press('Tab');
    await expect.poll(() => page.getByTestId('zone-error').textContent(), { timeout: 30_000 }).toContain('Mars/Olympus');
    await page.locator('input[name="history-zone-name"]').fill('europe/berlin');
    await page.locator('input[name="history-zone-name"]').press('Tab');
    await expect.poll(() => page.getByTestId('zone-error').count(), { timeout: 30_000 }).toBe(0);
    await expect.poll(() => page.getByTestId('history-chart').textContent(), { timeout: 30_000 }).toContain('axis in Europe/Berlin');
    await expect.poll(buckets, { timeout: 60_000 }).toBeGreaterThanOrEqual(HISTORY_VALUES.length);
    // Hourly buckets in the same zone: fewer, coarser buckets, still from the server.
    await page.locator('select[name="history-interval"]').selectOption('HOUR');
    await expect.poll(buckets, { timeout: 60_000 }).toBeLessThanOrEqual(2);
    await expect.poll(buckets, { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
  }, 240_000);

  it('edits a rule: refused fields shown in place, a backtest lists the alarm the stored readings would have raised, then saved', async () => {
    const { page } = browser;
    await page.goto(`${origin}/#/rules/new`);
    const form = page.locator('form.rule-form');
    await form.locator('input[name="name"]').fill(ruleName);
    await form.locator('input[name="metric"]').fill('temp');
    await form.locator('select[name="raiseOp"]').selectOption('GT');
    await form.locator('input[name="raiseValue"]').fill('35');
    await form.locator('input[name="deviceIds"]').fill(deviceId);
    // A tag the server refuses: its message lands under the tags field.
    await form.locator('input[name="tags"]').fill('charts no!tag');
    await page.getByRole('button', { name: 'Create rule' }).click();
    await expect.poll(() => page.getByTestId('field-error-scope.tags').textContent(), { timeout: 30_000 }).toContain('no!tag');
    await form.locator('input[name="tags"]').fill('charts');

    await page.getByRole('button', { name: 'Preview' }).click();
    const row = page.locator(`[data-testid="backtest-alarms"] tr[data-device="${deviceId}"]`);
    await expect.poll(() => row.count(), { timeout: 60_000 }).toBe(1);
    expect(await row.getByTestId('backtest-raised-value').textContent()).toBe('40');
    expect(await page.getByTestId('backtest-summary').textContent()).toMatch(/^1 raised, 1 cleared, 0 still open/);
    await page.getByTestId('backtest-plot').waitFor({ timeout: 30_000 });
    await screenshot(page, 'console-rule-editor');

    await page.getByRole('button', { name: 'Create rule' }).click();
    // Saved: the editor moves to the rule's own address and shows its version.
    await expect.poll(() => page.evaluate(() => location.hash), { timeout: 30_000 }).toMatch(/^#\/rules\/(?!new)/);
    await expect.poll(() => page.getByTestId('rule-version').textContent(), { timeout: 30_000 }).toBe('1');
    expect(await page.locator('input[name="name"]').inputValue()).toBe(ruleName);
  }, 240_000);

  it('lists the rule, disables and enables it, and an alarm it raises live appears on the alarms page', async () => {
    const { page } = browser;
    await page.goto(`${origin}/#/rules`);
    const row = page.locator(`tr[data-rule="${ruleName}"]`);
    await expect.poll(() => row.getByTestId('rule-enabled').textContent(), { timeout: 60_000 }).toBe('yes');
    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.getByTestId('rule-enabled').textContent(), { timeout: 30_000 }).toBe('no');
    await row.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => row.getByTestId('rule-enabled').textContent(), { timeout: 30_000 }).toBe('yes');
    await screenshot(page, 'console-rules');

    await page.goto(`${origin}/#/alarms`);
    await page.getByTestId('open-alarm-count').waitFor({ timeout: 60_000 });
    await device.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ values: { temp: 50 } }), { qos: 1 });
    const alarm = page.locator('table.alarms-list tr', { hasText: ruleName });
    await expect.poll(() => alarm.count(), { timeout: 90_000 }).toBe(1);
    expect(await alarm.textContent()).toContain(deviceId);
    await screenshot(page, 'console-alarms-live');

    await page.goto(`${origin}/#/rules`);
    await expect.poll(() => page.locator(`tr[data-rule="${ruleName}"]`).getByTestId('rule-open-alarms').textContent(), { timeout: 60_000 }).toBe('1');
    expect(browser.offOrigin).toEqual([]);
    expect(browser.pageErrors.filter((e) => /Content Security Policy|Refused/i.test(e))).toEqual([]);
  }, 240_000);
});
