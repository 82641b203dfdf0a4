/**
 * The console's HTTP routes: the page at `/` (never cached), its hashed files under /console/assets/
 * (cached for good), and, for a server started on this machine, the bootstrap admin token offered to
 * a browser on the same machine. Everything is served with a Content-Security-Policy that allows only
 * this origin: no inline script, no CDN, no framing.
 */
import type http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ASSET_PREFIX, bundleConsole, type ConsoleBundle } from './bundle.ts';

/** One bundle per process: the sources do not change while it runs, whatever number of servers it hosts. */
let processBundle: Promise<ConsoleBundle> | undefined;
const sharedBundle = () => (processBundle ??= bundleConsole());

/**
 * Only this origin, for scripts, styles, images and fetch/WebSocket (CSP 3 lets 'self' match ws: and
 * wss: on the same host); no plugins, no <base>, no form posts elsewhere, never inside a frame.
 */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const COMMON_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
} as const;

export const BOOTSTRAP_TOKEN_PATH = '/console/bootstrap-token';

export interface ConsoleRoutesOptions {
  log: Logger;
  /** Where the bootstrap admin token is written (`$DOPPEL_DATA_DIR/admin-token`), or undefined when it must never be offered. */
  bootstrapTokenFile: string | undefined;
  /** Where the bundle comes from (tests); by default the sources, bundled once per process. */
  bundle?: () => Promise<ConsoleBundle>;
}

export interface ConsoleRoutes {
  /** Answers the request when it is one of the console's; false otherwise. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean>;
}

export function createConsoleRoutes(options: ConsoleRoutesOptions): ConsoleRoutes {
  let bundling: Promise<ConsoleBundle | { failure: string }> | undefined;

  /**
   * Bundled on the first request for a console page, not at start: a server nobody opens the console
   * on (a test, an API-only deployment) never pays for it. A failure is logged once and the page
   * answers 503 with the reason; the API is unaffected.
   */
  function bundleOnce(): Promise<ConsoleBundle | { failure: string }> {
    bundling ??= (async () => {
      const startedAt = performance.now();
      try {
        const bundle = await (options.bundle ?? sharedBundle)();
        options.log.info({ ms: Math.round(performance.now() - startedAt), files: bundle.assets.size }, 'console bundled');
        return bundle;
      } catch (error) {
        options.log.error({ err: error }, 'console could not be bundled; / answers 503 (the API is unaffected)');
        return { failure: error instanceof Error ? error.message : String(error) };
      }
    })();
    return bundling;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    const pathname = (req.url ?? '/').split('?', 1)[0]!;
    if (pathname !== '/' && pathname !== '/index.html' && !pathname.startsWith('/console/')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('Method not allowed\n');
      return true;
    }
    if (pathname === BOOTSTRAP_TOKEN_PATH) {
      await offerBootstrapToken(req, res);
      return true;
    }
    const bundle = await bundleOnce();
    if ('failure' in bundle) {
      res.writeHead(503, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`The console is not available: ${bundle.failure}. The GraphQL API at /graphql works.\n`);
      return true;
    }
    if (pathname === '/' || pathname === '/index.html') {
      res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : bundle.html);
      return true;
    }
    const asset = pathname.startsWith(ASSET_PREFIX) ? bundle.assets.get(pathname) : undefined;
    if (!asset) {
      res.writeHead(404, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end('Not found\n');
      return true;
    }
    res.writeHead(200, {
      ...COMMON_HEADERS,
      'content-type': asset.contentType,
      'content-length': asset.body.byteLength,
      // Named by content hash: a new bundle is a new name.
      'cache-control': 'public, max-age=31536000, immutable',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  }

  /**
   * The token file is readable by whoever runs the server; a browser on the same machine, opening the
   * console by a loopback name, is that person in the common case (`npm start` on a laptop). Refused:
   * any non-loopback peer, a Host that is not a loopback name (DNS rebinding), a request that is not
   * same-origin (another site's page in the same browser), and always when the file is not offered.
   */
  async function offerBootstrapToken(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const refuse = (status: number, message: string) => {
      res.writeHead(status, { ...COMMON_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ error: message }));
    };
    if (!options.bootstrapTokenFile) return refuse(404, 'the bootstrap token is not offered by this server');
    if (!isLoopbackAddress(req.socket.remoteAddress) || !isLoopbackHost(req.headers.host))
      return refuse(403, 'the bootstrap token is offered only to a browser on the server’s own machine (http://localhost)');
    if (req.headers['sec-fetch-site'] !== 'same-origin') return refuse(403, 'the bootstrap token is offered only to the console’s own page');
    let token: string;
    try {
      token = (await readFile(options.bootstrapTokenFile, 'utf8')).trim();
    } catch {
      return refuse(404, `no bootstrap token file at ${path.basename(options.bootstrapTokenFile)} (create a token with npm run token)`);
    }
    res.writeHead(200, { ...COMMON_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ token }));
  }

  return { handle };
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** `localhost`, `127.x.y.z` or `[::1]`, with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':', 1)[0]!;
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
