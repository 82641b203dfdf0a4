/**
 * The console's provisioning and audit log admin pages end to end, in a real headless Chromium against a
 * real server and an mqtt.js device: a policy the server refuses shows the ValidationError under its
 * field; a valid one shows its claim token once (never in the page's storage, gone after leaving the
 * page); a device provisions with it over MQTT and the list counts it; disabling it from the page
 * refuses the next device, enabling it lets one in again; the audit page lists the creation and the
 * disable newest first, filters by action, and the policy is deleted from the page. A viewer token sees
 * "needs the admin role" on the admin pages. Screenshots go to test/artifacts/.
 *
 * External broker (Mosquitto of the test setup, anonymous): the request names its policy with
 * `claimToken`, as test/e2e/provisioning.test.ts explains; the embedded broker refuses a disabled
 * policy's token already at CONNECT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, noBrowserReason, openOfflineBrowser, screenshot, type OfflineBrowser } from '../support/browser.ts';
import { connackCode, embeddedBroker, messageWaiter, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

type Reply = { topic: string; json: { deviceId?: string; username?: string; password?: string; code?: string } };

describe.skipIf(!chromiumPath)(`console provisioning and audit pages in Chromium, ${modeName} (${chromiumPath ?? noBrowserReason})`, () => {
  let server: TestServer;
  let browser: OfflineBrowser;
  let origin: string;

  /** A device's first boot: connect as `provision` with the claim token, ask for its id, read the answer. */
  async function provision(claimToken: string, deviceId: string): Promise<Reply> {
    const clientId = uniqueDeviceId('req');
    const client = await server.mqtt({ username: 'provision', password: claimToken, clientId });
    try {
      const messages = messageWaiter(client);
      await client.subscribeAsync(`provision/${clientId}/+`, { qos: 1 });
      await client.publishAsync(`provision/${clientId}/request`, JSON.stringify({ deviceId, claimToken }), { qos: 1 });
      return (await messages.nextOf([`provision/${clientId}/accepted`, `provision/${clientId}/rejected`], 30_000)) as Reply;
    } finally {
      await client.endAsync();
    }
  }

  async function signIn(token: string) {
    const { page } = browser;
    await page.goto(`${origin}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByTestId('link-state').filter({ hasText: 'live' }).waitFor({ timeout: 60_000 });
  }

  beforeAll(async () => {
    server = await startTestServer();
    origin = `http://localhost:${new URL(server.httpUrl).port}`;
    browser = await openOfflineBrowser(origin);
    await signIn(server.token);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('creates a policy shown once, a device provisions with it, disable and enable work, the audit log lists it, and it is deleted', async () => {
    const { page } = browser;
    await page.locator('header nav').getByRole('link', { name: 'Provisioning', exact: true }).click();
    const form = page.getByTestId('create-policy');
    await form.waitFor({ timeout: 60_000 });

    // The server's ValidationError, under the field its path names; nothing is created.
    await form.locator('input[name="name"]').fill('line/7');
    await form.getByRole('button', { name: 'Create policy' }).click();
    await expect.poll(() => page.locator('[data-field-error="name"]').textContent(), { timeout: 60_000 }).toMatch(/letters, digits/);
    expect(await page.getByTestId('policy-row').count()).toBe(0);

    const name = `line 7 ${Math.random().toString(36).slice(2, 8)}`;
    await form.locator('input[name="name"]').fill(name);
    await form.locator('input[name="tags"]').fill('site:lab, provisioned');
    await form.locator('input[name="maxDevices"]').fill('5');
    await form.getByRole('button', { name: 'Create policy' }).click();
    const claimToken = (await page.getByTestId('new-policy-secret-value').textContent({ timeout: 60_000 }))?.trim() ?? '';
    expect(claimToken).toMatch(/^dpc_/);
    await expect.poll(() => page.locator('[data-field-error]').count()).toBe(0);
    expect(await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))).not.toContain(claimToken);
    const row = page.getByTestId('policy-row').filter({ hasText: name });
    await expect.poll(() => row.getByTestId('policy-state').textContent(), { timeout: 60_000 }).toBe('active');
    await screenshot(page, 'console-admin-provisioning');

    // A device provisions over MQTT with the token it was given, and connects with its new credentials.
    const deviceId = uniqueDeviceId('console-claimed');
    const reply = await provision(claimToken, deviceId);
    expect(reply.topic, JSON.stringify(reply.json)).toMatch(/\/accepted$/);
    expect(reply.json).toMatchObject({ deviceId, username: deviceId });
    const device = await server.mqtt({ username: deviceId, password: reply.json.password!, clientId: deviceId });
    await device.endAsync();

    // Shown once: leaving the page forgets it; the list now counts the device and lists the attempt.
    await page.locator('header nav').getByRole('link', { name: 'Fleet', exact: true }).click();
    await page.locator('header nav').getByRole('link', { name: 'Provisioning', exact: true }).click();
    await expect.poll(() => row.getByTestId('policy-usage').textContent(), { timeout: 60_000 }).toBe('1 of 5 devices');
    expect(await page.getByTestId('new-policy-secret').count()).toBe(0);
    expect(await page.content()).not.toContain(claimToken);
    await expect.poll(() => page.getByTestId('attempt-row').filter({ hasText: deviceId }).textContent(), { timeout: 60_000 }).toContain('ACCEPTED');

    // Disabled from the page: the next device is refused; enabled again, it is let in.
    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row.getByTestId('policy-state').textContent(), { timeout: 60_000 }).toBe('disabled');
    if (embeddedBroker) expect(await connackCode(server.mqttUrl, 'provision', claimToken)).toBe(4);
    else expect((await provision(claimToken, uniqueDeviceId('console-off'))).json).toMatchObject({ code: 'POLICY_DISABLED' });
    await row.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => row.getByTestId('policy-state').textContent(), { timeout: 60_000 }).toBe('active');
    expect((await provision(claimToken, uniqueDeviceId('console-on'))).topic).toMatch(/\/accepted$/);

    // The audit log: newest first, the creation with its details, the disable and enable after it.
    await page.locator('header nav').getByRole('link', { name: 'Audit', exact: true }).click();
    const policyRows = page.getByTestId('audit-row').filter({ hasText: 'provisioningPolicy:' });
    await expect
      .poll(() => policyRows.getByTestId('audit-action').allTextContents(), { timeout: 60_000 })
      .toEqual(['provisioning.enablePolicy', 'provisioning.disablePolicy', 'provisioning.createPolicy']);
    const creation = policyRows.filter({ hasText: 'provisioning.createPolicy' });
    expect(await creation.getByTestId('audit-details').textContent()).toContain(`name: ${name}`);
    expect(await creation.textContent()).toContain('test admin (token)');
    expect(await creation.textContent()).not.toContain(claimToken);
    // The device the policy created is audited too, with the policy as its actor.
    await expect
      .poll(() =>
        page
          .getByTestId('audit-row')
          .filter({ hasText: `device:${deviceId}` })
          .textContent(),
      )
      .toContain('device.register');
    // No subscription on this page: the header says the live link is idle, not that it is reconnecting.
    await expect.poll(() => page.getByTestId('link-state').textContent(), { timeout: 60_000 }).toBe('idle');
    await screenshot(page, 'console-admin-audit');

    // Filtered by action (the API's filter): only creations are listed.
    const filters = page.getByTestId('audit-filters');
    await filters.locator('input[name="action"]').fill('provisioning.createPolicy');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expect
      .poll(async () => new Set(await page.getByTestId('audit-action').allTextContents()), { timeout: 60_000 })
      .toEqual(new Set(['provisioning.createPolicy']));

    // Deleted from the page (after the confirmation).
    await page.locator('header nav').getByRole('link', { name: 'Provisioning', exact: true }).click();
    page.once('dialog', (dialog) => void dialog.accept());
    await row.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => row.count(), { timeout: 60_000 }).toBe(0);
    expect(browser.offOrigin).toEqual([]);
  }, 240_000);

  it('creates an allow-list policy (its ids counted) and a group-key policy (its group key shown once)', async () => {
    const { page } = browser;
    await page.locator('header nav').getByRole('link', { name: 'Provisioning', exact: true }).click();
    const form = page.getByTestId('create-policy');
    await form.waitFor({ timeout: 60_000 });
    const suffix = Math.random().toString(36).slice(2, 8);

    await form.locator('input[name="name"]').fill(`serials ${suffix}`);
    await form.locator('select[name="mode"]').selectOption('ALLOW_LIST');
    await form.locator('textarea[name="allowedDeviceIds"]').fill(`sn-${suffix}-1\nsn-${suffix}-2`);
    await form.getByRole('button', { name: 'Create policy' }).click();
    await expect.poll(() => page.getByTestId('new-policy-secret').textContent(), { timeout: 60_000 }).toContain('Claim token');
    const allowList = page.getByTestId('policy-row').filter({ hasText: `serials ${suffix}` });
    await expect.poll(() => allowList.getByTestId('policy-usage').textContent(), { timeout: 60_000 }).toBe('0 devices; 0 of 2 ids claimed');

    await form.locator('input[name="name"]').fill(`group ${suffix}`);
    await form.locator('select[name="mode"]').selectOption('GROUP_KEY');
    await form.getByRole('button', { name: 'Create policy' }).click();
    await expect.poll(() => page.getByTestId('new-policy-secret').textContent(), { timeout: 60_000 }).toContain(`Group key of "group ${suffix}"`);
    expect(await page.getByTestId('new-policy-secret-value').textContent()).toMatch(/^dpg_/);
    await expect
      .poll(() =>
        page
          .getByTestId('policy-row')
          .filter({ hasText: `group ${suffix}` })
          .getByTestId('policy-state')
          .textContent(),
      )
      .toBe('active');
  }, 120_000);

  it('pages the audit log with "Older events" until the oldest event', async () => {
    const { page } = browser;
    // 130 registrations through the API: more than one page (100) of device.register events.
    const prefix = uniqueDeviceId('console-audit-page');
    const ids = Array.from({ length: 130 }, (_, i) => `${prefix}-${i}`);
    const register = (deviceId: string) => server.gql(`mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { __typename } }`, { id: deviceId });
    // Ten at a time (their order within a batch is the server's), then the last one alone, so it is the newest.
    for (let i = 0; i < ids.length - 1; i += 10) {
      const results = await Promise.all(ids.slice(i, Math.min(i + 10, ids.length - 1)).map(register));
      for (const result of results) expect(result.errors, JSON.stringify(result)).toBeUndefined();
    }
    expect((await register(ids.at(-1)!)).errors).toBeUndefined();
    await page.locator('header nav').getByRole('link', { name: 'Audit', exact: true }).click();
    // The unfiltered first page is in (it too may be all registrations): the filter's answer comes after it.
    await page.getByTestId('audit-row').first().waitFor({ timeout: 60_000 });
    const filters = page.getByTestId('audit-filters');
    await filters.locator('input[name="action"]').fill('device.register');
    await filters.getByRole('button', { name: 'Filter' }).click();
    const rows = page.getByTestId('audit-row');
    await page.getByRole('button', { name: 'Show all' }).waitFor({ timeout: 60_000 });
    await expect.poll(async () => new Set(await page.getByTestId('audit-action').allTextContents()), { timeout: 60_000 }).toEqual(new Set(['device.register']));
    await page.getByRole('button', { name: 'Older events' }).waitFor({ timeout: 60_000 });
    expect(await rows.count()).toBe(100);
    // Newest first: the last registration leads.
    expect(await rows.first().textContent()).toContain(`device:${prefix}-129`);
    await page.getByRole('button', { name: 'Older events' }).click();
    await expect.poll(() => rows.count(), { timeout: 60_000 }).toBeGreaterThan(130);
    const targets = (await rows.allTextContents()).join('\n');
    for (const deviceId of ids) expect(targets).toContain(`device:${deviceId}`);
    await expect.poll(() => page.getByRole('button', { name: 'Older events' }).count()).toBe(0);
  }, 180_000);

  it('tells a viewer that the admin pages need the admin role', async () => {
    const created = await server.gql<{ createApiToken: { token: string } }, unknown>(
      `mutation T($input: CreateApiTokenInput!) { createApiToken(input: $input) { ... on CreatedApiToken { token } } }`,
      { input: { name: 'console viewer', role: 'VIEWER' } },
    );
    const viewer = created.data!.createApiToken.token;
    const { page } = browser;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(viewer);
    // The admin links are not offered to a viewer; each page, opened by its URL, names the role it needs.
    await expect.poll(() => page.locator('header nav').getByRole('link').allTextContents(), { timeout: 60_000 }).toEqual(['Fleet', 'Alarms', 'Rules']);
    for (const [hash, content] of [
      ['#/admin/audit', 'audit-row'],
      ['#/admin/provisioning', 'create-policy'],
      ['#/admin/tokens', 'create-token'],
    ] as const) {
      await page.evaluate((h) => (location.hash = h), hash);
      await expect.poll(() => page.getByTestId('needs-role').textContent(), { timeout: 60_000 }).toMatch(/needs the admin role/);
      expect(await page.getByTestId(content).count()).toBe(0);
    }
    // The API refuses regardless of what the console shows.
    const refused = await server.gql(`{ auditLog(first: 1) { edges { cursor } } }`, {}, viewer);
    expect(refused.errors?.[0]?.extensions?.code ?? JSON.stringify(refused)).toMatch(/FORBIDDEN/);
  }, 120_000);
});
