/**
 * The console's HTTP routes over real HTTP: the page and its hashed files with their headers, the
 * refusals, CONSOLE=false, and the bootstrap token offered only to a same-origin page on loopback.
 */
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, createConsoleRoutes, isLoopbackHost } from '../../src/console/http.ts';
import type { ConsoleBundle } from '../../src/console/bundle.ts';
import { startTestServer, type TestServer } from '../support/harness.ts';

/** The server's origin (the harness's httpUrl is its GraphQL endpoint). */
const origin = (server: TestServer) => new URL(server.httpUrl).origin;

describe('the console served by the server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  }, 120_000);
  afterAll(() => server?.stop());

  it('serves the page at / (never cached, CSP for this origin only) naming hashed, immutable files', async () => {
    const page = await fetch(`${origin(server)}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    const script = /src="(\/console\/assets\/console-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const stylesheet = /href="(\/console\/assets\/console-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(stylesheet).toBeDefined();
    // Nothing from another origin, no inline script.
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>/);
    for (const [file, type] of [
      [script!, 'text/javascript; charset=utf-8'],
      [stylesheet!, 'text/css; charset=utf-8'],
    ] as const) {
      const asset = await fetch(`${origin(server)}${file}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toBe(type);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    const head = await fetch(`${origin(server)}${script}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  }, 120_000);

  it('answers 404 for an unknown asset and 405 for a method other than GET/HEAD', async () => {
    const missing = await fetch(`${origin(server)}/console/assets/console-NOPE.js`);
    expect(missing.status).toBe(404);
    const post = await fetch(`${origin(server)}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('does not offer the bootstrap token when the server does not (the test servers never do)', async () => {
    const response = await fetch(`${origin(server)}/console/bootstrap-token`, { headers: { 'sec-fetch-site': 'same-origin' } });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'the bootstrap token is not offered by this server' });
  });

  it('leaves GraphQL, health and metrics where they were', async () => {
    expect((await fetch(`${origin(server)}/healthz`)).status).toBe(200);
    const graphql = await fetch(`${new URL(server.httpUrl).origin}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(await graphql.json()).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('CONSOLE=false', () => {
  it('redirects / to GraphQL as before and serves no console files', async () => {
    const server = await startTestServer({ CONSOLE: 'false' });
    try {
      const page = await fetch(`${origin(server)}/`, { redirect: 'manual' });
      expect(page.status).toBe(302);
      expect(page.headers.get('location')).toBe('/graphql');
      const asset = await fetch(`${origin(server)}/console/bootstrap-token`);
      expect(asset.status).not.toBe(200);
    } finally {
      await server.stop();
    }
  }, 120_000);
});

describe('the bootstrap token offer', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'doppel-console-'));
  const tokenFile = path.join(dir, 'admin-token');
  writeFileSync(tokenFile, 'dpl_secret_token\n', { mode: 0o600 });
  const bundle: ConsoleBundle = { html: '<!doctype html>', assets: new Map() };
  let url: string;
  let httpServer: http.Server;
  let withoutFile: http.Server;
  let withoutFileUrl: string;

  beforeAll(async () => {
    const log = pino({ level: 'silent' });
    const routes = createConsoleRoutes({ log, bootstrapTokenFile: tokenFile, bundle: async () => bundle });
    httpServer = http.createServer((req, res) => void routes.handle(req, res));
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
    const noFile = createConsoleRoutes({ log, bootstrapTokenFile: path.join(dir, 'missing'), bundle: async () => bundle });
    withoutFile = http.createServer((req, res) => void noFile.handle(req, res));
    await new Promise<void>((resolve) => withoutFile.listen(0, '127.0.0.1', resolve));
    withoutFileUrl = `http://127.0.0.1:${(withoutFile.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => httpServer.close(resolve));
    await new Promise((resolve) => withoutFile.close(resolve));
  });

  /** node's fetch does not send Sec-Fetch-Site or let a Host be set: a raw request does both. */
  function get(base: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const request = http.get(`${base}/console/bootstrap-token`, { headers }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as unknown }));
      });
      request.on('error', reject);
    });
  }

  it('gives the token to a same-origin page opened by a loopback name', async () => {
    for (const host of ['localhost:4000', '127.0.0.1:4000', '[::1]:4000']) {
      expect(await get(url, { host, 'sec-fetch-site': 'same-origin' })).toEqual({ status: 200, body: { token: 'dpl_secret_token' } });
    }
  });

  it('refuses another site’s page, a request without Sec-Fetch-Site, and a non-loopback Host (DNS rebinding)', async () => {
    expect(await get(url, { host: 'localhost:4000', 'sec-fetch-site': 'cross-site' })).toMatchObject({ status: 403 });
    expect(await get(url, { host: 'localhost:4000' })).toMatchObject({ status: 403 });
    expect(await get(url, { host: 'evil.example:4000', 'sec-fetch-site': 'same-origin' })).toEqual({
      status: 403,
      body: { error: 'the bootstrap token is offered only to a browser on the server’s own machine (http://localhost)' },
    });
  });

  it('says so when there is no token file', async () => {
    const answer = await get(withoutFileUrl, { host: 'localhost', 'sec-fetch-site': 'same-origin' });
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({ error: 'no bootstrap token file at missing (create a token with npm run token)' });
  });

  it('recognises loopback host names only', () => {
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('127.1.2.3:80')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('localhost.evil.example')).toBe(false);
    expect(isLoopbackHost('127.0.0.1.evil.example')).toBe(false);
    expect(isLoopbackHost('10.0.0.1')).toBe(false);
    expect(isLoopbackHost(undefined)).toBe(false);
  });
});
