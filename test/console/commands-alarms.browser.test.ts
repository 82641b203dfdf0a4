/**
 * The console's command form and alarm flow end to end, in a real headless Chromium against a real
 * server and mqtt.js devices: the toaster's out-of-range `power: 9000` is refused by the server and the
 * error shows under the field, a valid toast is sent and the history shows the device's acknowledgement
 * live; a rule raises an alarm from a device's reading, it appears live on the alarms page, and the user
 * acknowledges and clears it; an admin creates an API token (its secret shown once), uses it, and revokes
 * it. Screenshots go to test/artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, noBrowserReason, openOfflineBrowser, screenshot, type OfflineBrowser } from '../support/browser.ts';
import { commandDevice, createToaster, registerDevice, type Creds } from '../support/commands.ts';
import { startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

describe.skipIf(!chromiumPath)(`console commands and alarms in Chromium (${chromiumPath ?? noBrowserReason})`, () => {
  let server: TestServer;
  let browser: OfflineBrowser;
  let origin: string;
  let toaster: Creds;
  let toasterDevice: Awaited<ReturnType<typeof commandDevice>>;

  beforeAll(async () => {
    server = await startTestServer();
    origin = `http://localhost:${new URL(server.httpUrl).port}`;
    toaster = await registerDevice(server, await createToaster(server), uniqueDeviceId('console-toaster'));
    // A device that acknowledges every command it receives, as its firmware would.
    toasterDevice = await commandDevice(server, toaster, { autoAck: { status: 'SUCCEEDED', result: { crumbs: 0 } } });
    browser = await openOfflineBrowser(origin);
    const { page } = browser;
    await page.goto(`${origin}/`);
    await page.getByLabel('API token').fill(server.token);
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByTestId('link-state').filter({ hasText: 'live' }).waitFor({ timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    await toasterDevice?.client.endAsync(true).catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  it('refuses power 9000 under the field, then sends a valid toast and shows it acknowledged', async () => {
    const { page } = browser;
    await page.evaluate((id) => (location.hash = `#/devices/${encodeURIComponent(id)}`), toaster.deviceId);
    const command = page.locator('select[name="command"]');
    await command.waitFor({ timeout: 60_000 });
    await command.selectOption('toast');
    await page.locator('input[name="power"]').fill('9000');
    await page.getByRole('button', { name: 'Send toast' }).click();
    // The server's ValidationError, placed under the field its path names; nothing was sent.
    const fieldError = page.locator('[data-field-error="power"]');
    await expect.poll(() => fieldError.textContent(), { timeout: 60_000 }).toMatch(/100/);
    expect(toasterDevice.received).toHaveLength(0);
    await screenshot(page, 'console-command-refused');

    await page.locator('input[name="power"]').fill('5');
    await page.getByRole('button', { name: 'Send toast' }).click();
    await expect.poll(() => fieldError.count(), { timeout: 60_000 }).toBe(0);
    const history = page.getByTestId('command-history');
    await expect.poll(() => history.getByTestId('command-status').first().textContent(), { timeout: 60_000 }).toBe('SUCCEEDED');
    expect(toasterDevice.received.map((c) => c.body.params)).toEqual([{ power: 5 }]);
    await screenshot(page, 'console-command-sent');
  }, 180_000);

  it('shows an alarm raised by a reading live, then acknowledges and clears it', async () => {
    const { page } = browser;
    const sensor = await registerDevice(server, null, uniqueDeviceId('console-freezer'));
    const created = await server.gql<{ createRule: { __typename: string; ruleId?: string } }, unknown>(
      `mutation R($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ruleId } ... on ValidationError { message } } }`,
      {
        input: {
          name: `freezer too warm ${sensor.deviceId}`,
          scope: { deviceIds: [sensor.deviceId] },
          source: { type: 'TELEMETRY', metric: 'temp' },
          raise: { op: 'GT', value: 8 },
          clear: { op: 'LT', value: 4 },
          severity: 'MAJOR',
        },
      },
    );
    expect(created.data?.createRule.__typename, JSON.stringify(created)).toBe('Rule');

    await page.evaluate(() => (location.hash = '#/alarms'));
    await expect.poll(() => page.getByTestId('open-alarm-count').textContent(), { timeout: 60_000 }).toBe('0');
    const device = await server.mqtt({ username: sensor.username, password: sensor.password, clientId: sensor.deviceId });
    try {
      await device.publishAsync(`devices/${sensor.deviceId}/telemetry`, JSON.stringify({ values: { temp: 12.5 } }), { qos: 1 });
      // Raised by the rules engine and pushed to the open page by the alarmChanged subscription.
      const row = page.locator('tr[data-alarm]', { hasText: sensor.deviceId });
      await expect.poll(() => row.getByTestId('alarm-status').textContent(), { timeout: 60_000 }).toBe('ACTIVE');
      expect(await row.textContent()).toContain('12.5');
      await screenshot(page, 'console-alarms');

      await row.getByRole('button', { name: 'Acknowledge' }).click();
      await expect.poll(() => row.getByTestId('alarm-status').textContent(), { timeout: 60_000 }).toBe('ACKNOWLEDGED');
      await row.getByRole('button', { name: 'Clear' }).click();
      await expect.poll(() => row.count(), { timeout: 60_000 }).toBe(0);
      await expect.poll(() => page.getByTestId('open-alarm-count').textContent(), { timeout: 60_000 }).toBe('0');
    } finally {
      await device.endAsync(true);
    }
  }, 180_000);

  it('creates an API token shown once, which works until it is revoked from the page', async () => {
    const { page } = browser;
    await page.evaluate(() => (location.hash = '#/admin/tokens'));
    const form = page.getByTestId('create-token');
    await form.waitFor({ timeout: 60_000 });
    const name = `dashboard ${Math.random().toString(36).slice(2, 8)}`;
    await form.locator('input[name="name"]').fill(name);
    await form.locator('select[name="role"]').selectOption('VIEWER');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = (await page.getByTestId('new-token-secret').textContent({ timeout: 60_000 }))?.trim() ?? '';
    expect(secret.length).toBeGreaterThan(20);
    expect(await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))).not.toContain(secret);
    await screenshot(page, 'console-admin-tokens');
    // The new token works over plain HTTP, as the client it was made for would use it.
    expect((await server.gql('{ devices(first: 1) { totalCount } }', undefined, secret)).errors).toBeUndefined();

    const row = page.getByTestId('token-row').filter({ hasText: name });
    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => row.locator('td').nth(4).textContent(), { timeout: 60_000 }).toBe('revoked');
    await expect.poll(async () => (await server.gql('{ devices(first: 1) { totalCount } }', undefined, secret)).status, { timeout: 30_000 }).toBe(401);
  }, 180_000);
});
