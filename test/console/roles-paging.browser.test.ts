/**
 * Role-aware console and the paged rules list in a real headless Chromium against a real server: a
 * viewer's token sees no admin links and no editing buttons, is told which role a page needs when it
 * opens one by URL (never a blank panel), while the API itself still refuses; the rules list reads more
 * than one page through the cursor connection ("More").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, noBrowserReason, openOfflineBrowser, screenshot, type OfflineBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/harness.ts';

const suffix = Math.random().toString(36).slice(2, 8);
/** More than one page of the console's 50 (src/console/app/rules-paging.ts). */
const RULES = 53;
const CREATE_RULE = `mutation M($n: String!) { createRule(input: {name: $n, scope: {}, source: {type: TELEMETRY, metric: "temp"}, raise: {op: GT, value: 8}, severity: MINOR}) { __typename ... on Error { code message } } }`;

describe.skipIf(!chromiumPath)(`console roles and rules paging in Chromium (${chromiumPath ?? noBrowserReason})`, () => {
  let server: TestServer;
  let browser: OfflineBrowser;
  let origin: string;
  let viewerToken: string;

  beforeAll(async () => {
    server = await startTestServer();
    origin = new URL(server.httpUrl).origin;
    for (let i = 0; i < RULES; i++) {
      const r = await server.gql(CREATE_RULE, { n: `paged ${suffix} ${String(i).padStart(2, '0')}` });
      if ((r.data as { createRule: { __typename: string } } | undefined)?.createRule.__typename !== 'Rule') throw new Error(`createRule: ${JSON.stringify(r)}`);
    }
    viewerToken = await server.createToken('viewer');
    browser = await openOfflineBrowser(origin);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function signIn(token: string) {
    const { page } = browser;
    await page.goto(`${origin}/`);
    await page.evaluate(() => sessionStorage.clear());
    await page.goto(`${origin}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Open the console' }).click();
    await page.getByTestId('token-role').waitFor({ timeout: 60_000 });
  }

  it('me answers the calling token’s role and tenant', async () => {
    expect((await server.gql(`{ me { role tenantId } }`, {}, viewerToken)).data).toEqual({ me: { role: 'VIEWER', tenantId: 'default' } });
    expect((await server.gql(`{ me { role tenantId } }`)).data).toEqual({ me: { role: 'ADMIN', tenantId: 'default' } });
  });

  it('a viewer sees no admin links or editing buttons, and a direct URL to an admin page says it needs the admin role', async () => {
    const { page } = browser;
    await signIn(viewerToken);
    expect(await page.getByTestId('token-role').textContent()).toBe('viewer');
    const nav = page.locator('header.top nav');
    expect(await nav.getByRole('link').allTextContents()).toEqual(['Fleet', 'Alarms', 'Rules']);

    await page.goto(`${origin}/#/admin/tokens`);
    await expect.poll(() => page.getByTestId('needs-role').textContent(), { timeout: 30_000 }).toContain('needs the admin role');
    expect(await page.getByRole('alert').count()).toBe(1);
    await screenshot(page, 'console-viewer-admin-url');

    await page.goto(`${origin}/#/rules`);
    await expect.poll(() => page.getByTestId('rules-shown').textContent(), { timeout: 30_000 }).toBe('50');
    expect(await page.getByRole('link', { name: 'New rule' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Disable' }).count()).toBe(0);

    // Hidden is UX only: the API refuses the viewer's token on its own.
    const refused = await server.gql(`{ apiTokens { id } }`, {}, viewerToken);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  }, 180_000);

  it('pages the rules list: 50 first, More reads the rest by cursor', async () => {
    const { page } = browser;
    await signIn(server.token);
    expect(await page.locator('header.top nav').getByRole('link').allTextContents()).toEqual(['Fleet', 'Alarms', 'Rules', 'Tokens', 'Provisioning', 'Audit']);
    await page.goto(`${origin}/#/rules`);
    await expect.poll(() => page.getByTestId('rules-shown').textContent(), { timeout: 30_000 }).toBe('50');
    expect(await page.getByTestId('rule-count').textContent()).toBe(String(RULES));
    expect(await page.locator('tr[data-rule]').count()).toBe(50);
    // Rules are listed by name: the last three are on the second page.
    expect(await page.locator(`tr[data-rule="paged ${suffix} ${RULES - 1}"]`).count()).toBe(0);
    await page.getByRole('button', { name: 'More' }).click();
    await expect.poll(() => page.getByTestId('rules-shown').textContent(), { timeout: 30_000 }).toBe(String(RULES));
    expect(await page.locator('tr[data-rule]').count()).toBe(RULES);
    expect(await page.locator(`tr[data-rule="paged ${suffix} ${RULES - 1}"]`).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'More' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete' }).count()).toBe(RULES);
    expect(browser.pageErrors).toEqual([]);
    expect(browser.offOrigin).toEqual([]);
  }, 180_000);
});
