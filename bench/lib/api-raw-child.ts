/**
 * bench:api's second baseline (bench/api.ts): the devices page's rows read with one SQL statement and
 * serialized with JSON.stringify behind a bare node:http server — the floor for a page of twins.
 * On PostgreSQL through raw `pg` (a pool of 10, the server's default); embedded, through PGlite's own
 * `query` on a PGlite of this process, seeded with the same rows (bench/lib/api-seed.ts).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../../src/server.ts';
import { DEVICES_PAGE_SQL, seedApiBench } from './api-seed.ts';
import { serveRpc } from './rpc.ts';

export interface RawStartParams {
  /** postgres://… of the (seeded) bench database, or undefined for an own in-memory PGlite. */
  databaseUrl?: string;
  /** PGlite only: how many devices to seed, and the telemetry day's end. */
  devices: number;
  until: number;
}

let server: Server | undefined;
let close: (() => Promise<void>) | undefined;

serveRpc({
  async start(params: RawStartParams): Promise<{ url: string; pid: number }> {
    let read: () => Promise<unknown[]>;
    if (params.databaseUrl) {
      const pool = new pg.Pool({ connectionString: params.databaseUrl, max: 10 });
      read = async () => (await pool.query(DEVICES_PAGE_SQL)).rows as unknown[];
      close = () => pool.end();
    } else {
      // Migrated and seeded through Doppel's own code, then read with PGlite alone.
      const database = await openDatabase({ kind: 'pglite', dataDir: undefined });
      await applyMigrations(database, { migrationsDir: MIGRATIONS_DIR });
      await seedApiBench((text, values) => database.sql.query(text, values as unknown[]), params.devices, params.until);
      if (database.driver.kind !== 'pglite') throw new Error('expected PGlite');
      const pglite: PGlite = database.driver.pglite;
      read = async () => (await pglite.query(DEVICES_PAGE_SQL)).rows;
      close = () => database.close();
    }
    server = createServer((request, response) => {
      // The request body is read and dropped, as a GraphQL server would have to read it.
      request.resume();
      request.on('end', () => {
        read().then(
          (rows) => {
            const body = JSON.stringify({ data: { devices: { edges: rows.map((node) => ({ node })) } } });
            response.writeHead(200, { 'content-type': 'application/json' }).end(body);
          },
          (error: unknown) => response.writeHead(500).end(String(error)),
        );
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/devices`, pid: process.pid };
  },
  async stop(): Promise<null> {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await close?.();
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
