/**
 * GraphiQL loads its code from the server, not a CDN: in a Chromium that can reach nothing but the
 * server, the editor renders and no request leaves the server's origin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/harness.ts';
import { chromiumPath, noBrowserReason, openOfflineBrowser, screenshot, type OfflineBrowser } from '../support/browser.ts';

describe.skipIf(!chromiumPath)(`GraphiQL offline (${chromiumPath ?? noBrowserReason})`, () => {
  let server: TestServer;
  let browser: OfflineBrowser;

  beforeAll(async () => {
    server = await startTestServer({ GRAPHQL_GRAPHIQL: 'true' });
    browser = await openOfflineBrowser(server.httpUrl);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('renders the editor with no network beyond the server', async () => {
    const { page } = browser;
    const response = await page.goto(`${new URL(server.httpUrl).origin}/graphql`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    // GraphiQL's page is ≈ 9 MB of inline code: parsing it takes seconds on a loaded machine.
    await page.locator('.graphiql-container').first().waitFor({ state: 'visible', timeout: 90_000 });
    // The query editor (Monaco in GraphiQL 5, CodeMirror before) is mounted.
    await page.waitForFunction(
      () => document.querySelector('.graphiql-query-editor .monaco-editor, .graphiql-query-editor .CodeMirror, .monaco-editor') !== null,
      undefined,
      {
        timeout: 90_000,
      },
    );
    expect(await page.title()).toBe('Doppel');
    expect(await page.content()).not.toContain('__TITLE__');
    await screenshot(page, 'graphiql');
    expect(browser.offOrigin).toEqual([]);
  }, 120_000);
});
