/**
 * Keep-alive connection reuse of the deliverer (src/services/outbox/connection-pool.ts): a receiver
 * sees fewer TCP connections than requests; sockets are never shared between endpoints nor between
 * pinned addresses (the SSRF defence: a reused socket leads only where this attempt's check allowed);
 * the sockets of a deleted or disabled endpoint are closed.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { createConnectionPool } from '../../../src/services/outbox/connection-pool.ts';
import { modeName, openTestDatabase } from '../../support/harness.ts';
import { createDeliverer, createEndpoint, insertEvents, rowsOf, runUntil } from './fixture.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;
const servers: http.Server[] = [];

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
}, 120_000);
afterAll(async () => {
  await closeDatabase?.();
});
beforeEach(async () => {
  // One database for the file: earlier tests' endpoints must not take part in this one.
  await db.sql.query(`UPDATE "WebhookEndpoint" SET enabled = false`);
});
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

/** A receiver answering 204 that records, per TCP connection, the paths it carried and whether it is still open. */
async function connectionReceiver(host = '127.0.0.1', port = 0) {
  const connections: Array<{ socket: Socket; paths: string[]; closed: boolean }> = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    const conn = connections.find((c) => c.socket === req.socket)!;
    conn.paths.push(req.url ?? '');
    requests++;
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  server.keepAliveTimeout = 60_000;
  server.on('connection', (socket: Socket) => {
    const conn = { socket, paths: [] as string[], closed: false };
    connections.push(conn);
    socket.on('close', () => (conn.closed = true));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return { port: (server.address() as AddressInfo).port, connections, requests: () => requests };
}

const pendingOf = async (ids: string[]) => (await rowsOf(db, ids)).filter((r) => r.status === 'PENDING').length;

async function waitFor(check: () => boolean, timeoutMs = 60_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe(`outbox deliverer connection reuse (${modeName})`, () => {
  it('reuses kept-alive connections: the receiver sees fewer connections than requests', async () => {
    const r = await connectionReceiver();
    const endpointId = await createEndpoint(db, { url: `http://127.0.0.1:${r.port}/hook`, maxInFlight: 2 });
    const rows = await insertEvents(
      db,
      Array.from({ length: 30 }, (_, i) => ({ endpointId, deviceKey: i % 2 === 0 ? randomUUID() : randomUUID() })),
    );
    const { service } = createDeliverer(db);
    try {
      await runUntil(
        () => service.runOnce(),
        async () => (await pendingOf(rows.map((x) => x.id))) === 0,
      );
      expect(await pendingOf(rows.map((x) => x.id))).toBe(0);
      expect(r.requests()).toBeGreaterThanOrEqual(30);
      // At most the endpoint's in-flight limit of connections, give or take one the receiver closed.
      expect(r.connections.length).toBeLessThan(r.requests());
      expect(r.connections.length).toBeLessThanOrEqual(4);
    } finally {
      await service.stop();
    }
  }, 120_000);

  it('never shares a socket between endpoints, nor between pinned addresses of one endpoint', async () => {
    // Two endpoints to one receiver: each connection carries one endpoint's path only.
    const r = await connectionReceiver();
    const a = await createEndpoint(db, { url: `http://127.0.0.1:${r.port}/a`, maxInFlight: 2 });
    const b = await createEndpoint(db, { url: `http://127.0.0.1:${r.port}/b`, maxInFlight: 2 });
    const rows = await insertEvents(
      db,
      Array.from({ length: 20 }, (_, i) => ({ endpointId: i % 2 === 0 ? a : b, deviceKey: randomUUID() })),
    );
    const { service } = createDeliverer(db);
    try {
      await runUntil(
        () => service.runOnce(),
        async () => (await pendingOf(rows.map((x) => x.id))) === 0,
      );
      expect(await pendingOf(rows.map((x) => x.id))).toBe(0);
      for (const c of r.connections) expect(new Set(c.paths).size).toBeLessThanOrEqual(1);
      expect(new Set(r.connections.flatMap((c) => c.paths))).toEqual(new Set(['/a', '/b']));
    } finally {
      await service.stop();
    }
  }, 120_000);

  it('a host that resolves to another address gets a new connection there; the old pinned socket is closed', async () => {
    const first = await connectionReceiver('127.0.0.1');
    // The same port on another loopback address: only the pinned address tells the two apart.
    const second = await connectionReceiver('127.0.0.2', first.port);
    let answer = '127.0.0.1';
    const endpointId = await createEndpoint(db, { url: `http://hooks.doppel.test:${first.port}/h`, maxInFlight: 1 });
    const { service } = createDeliverer(db, { resolve: async () => [answer], config: { allowedNetworks: ['127.0.0.0/8'] } });
    try {
      const one = await insertEvents(db, [{ endpointId, deviceKey: randomUUID() }]);
      await runUntil(
        () => service.runOnce(),
        async () => (await pendingOf(one.map((x) => x.id))) === 0,
      );
      expect(first.requests()).toBe(1);
      expect(first.connections.filter((c) => !c.closed)).toHaveLength(1);

      answer = '127.0.0.2';
      const two = await insertEvents(db, [{ endpointId, deviceKey: randomUUID() }]);
      await runUntil(
        () => service.runOnce(),
        async () => (await pendingOf(two.map((x) => x.id))) === 0,
      );
      expect(second.requests()).toBe(1);
      expect(first.requests()).toBe(1);
      expect(await waitFor(() => first.connections.every((c) => c.closed))).toBe(true);
    } finally {
      await service.stop();
    }
  }, 120_000);

  it('closes the sockets of an endpoint once it is deleted, and of one once it is disabled', async () => {
    const r = await connectionReceiver();
    const deleted = await createEndpoint(db, { url: `http://127.0.0.1:${r.port}/deleted`, maxInFlight: 1 });
    const disabled = await createEndpoint(db, { url: `http://127.0.0.1:${r.port}/disabled`, maxInFlight: 1 });
    const rows = await insertEvents(db, [
      { endpointId: deleted, deviceKey: randomUUID() },
      { endpointId: disabled, deviceKey: randomUUID() },
    ]);
    const { service } = createDeliverer(db, { poolSweepIntervalMs: 0 });
    const openFor = (path: string) => r.connections.filter((c) => !c.closed && c.paths.includes(path)).length;
    try {
      await runUntil(
        () => service.runOnce(),
        async () => (await pendingOf(rows.map((x) => x.id))) === 0,
      );
      expect(openFor('/deleted')).toBe(1);
      expect(openFor('/disabled')).toBe(1);

      await db.sql.query(`DELETE FROM "WebhookEndpoint" WHERE id = $1::uuid`, [deleted]);
      await service.runOnce();
      expect(await waitFor(() => openFor('/deleted') === 0)).toBe(true);
      expect(openFor('/disabled')).toBe(1);

      await db.sql.query(`UPDATE "WebhookEndpoint" SET enabled = false, "disabledReason" = 'ADMIN' WHERE id = $1::uuid`, [disabled]);
      await service.runOnce();
      expect(await waitFor(() => openFor('/disabled') === 0)).toBe(true);
    } finally {
      await service.stop();
    }
  }, 120_000);
});

describe('connection pool keys', () => {
  it('one agent per (endpoint, pinned address, port, servername); a new destination replaces, and closes, the old', () => {
    const pool = createConnectionPool({ maxSockets: 4, idleMs: 1_000 });
    const base = { endpointId: 'e1', protocol: 'https:' as const, pinned: '203.0.113.1', port: 443, servername: 'hooks.example' };
    const agent = pool.agentFor(base);
    expect(pool.agentFor({ ...base })).toBe(agent);
    expect(pool.agentFor({ ...base, endpointId: 'e2' })).not.toBe(agent);
    expect(pool.agentFor({ ...base, endpointId: 'e2' })).toBe(pool.agentFor({ ...base, endpointId: 'e2' }));
    for (const change of [{ pinned: '203.0.113.2' }, { port: 8443 }, { servername: 'other.example' }]) {
      const before = pool.agentFor(base);
      const after = pool.agentFor({ ...base, ...change });
      expect(after).not.toBe(before);
      pool.agentFor(base);
    }
    expect(pool.endpoints().sort()).toEqual(['e1', 'e2']);
    pool.retain(new Set(['e2']));
    expect(pool.endpoints()).toEqual(['e2']);
    pool.close();
    expect(pool.endpoints()).toEqual([]);
  });
});
