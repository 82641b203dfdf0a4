/**
 * A real headless Chromium for page tests: Debian's `chromium` package (or CHROMIUM_PATH) driven by
 * playwright-core, never a downloaded browser. The browser can reach only the loopback addresses: every
 * other host name fails to resolve, and any request to another origin is aborted and recorded, so a
 * page that needs a CDN fails its test instead of passing on a machine with internet.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

/** The browser found on this machine, or undefined (then the page tests are skipped and say why). */
export const chromiumPath = CANDIDATES.find((candidate): candidate is string => Boolean(candidate && existsSync(candidate)));

export const noBrowserReason = 'no Chromium found (install Debian’s chromium package or set CHROMIUM_PATH)';

// CI installs Chromium (.ci/run): there a missing browser is a failure, not a quietly skipped suite.
if (!chromiumPath && process.env.CI === 'true') throw new Error(`page tests need a browser in CI: ${noBrowserReason}`);

export interface OfflineBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Requests to any origin other than the server's, which were aborted. */
  offOrigin: string[];
  /** Console errors and uncaught exceptions of the page. */
  pageErrors: string[];
  close(): Promise<void>;
}

export async function openOfflineBrowser(serverUrl: string): Promise<OfflineBrowser> {
  if (!chromiumPath) throw new Error(noBrowserReason);
  const origin = new URL(serverUrl).origin;
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1', '--no-sandbox', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const offOrigin: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    offOrigin.push(url);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  return { browser, context, page, offOrigin, pageErrors, close: () => browser.close() };
}

/** Saves a screenshot under test/artifacts/ (ignored by git; CI keeps it). */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = path.resolve('test/artifacts');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}
