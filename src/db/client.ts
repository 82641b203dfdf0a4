import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { SqlDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { DatabaseConfig } from '../config.ts';
import { PrismaClient } from '../generated/prisma/client.ts';

export type { PrismaClient };

/** The driver under Prisma. Tooling only (migrations, the schema engine): application code uses `prisma`. */
export type DatabaseDriver = { kind: 'pglite'; pglite: PGlite } | { kind: 'postgres'; pool: pg.Pool };

/** Raw SQL on one connection (parameters as `$1`, `$2`, …). */
export interface SqlRunner {
  /** One statement, extended protocol; returns the rows as objects keyed by column name. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** A whole multi-statement script, simple-query protocol, no parameters. */
  executeScript(sql: string): Promise<void>;
}

/**
 * One pinned connection, for work that must not hop between pool connections: session-level advisory
 * locks, and transactions that mix a script with parameterized statements.
 */
export interface SqlSession extends SqlRunner {
  /** Runs `fn` between BEGIN and COMMIT on this connection; rolls back and rethrows if it throws. */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
}

/** Raw parameterized SQL for set-based hot paths (batched twin writes, presence): one statement per call. */
export type SqlExecutor = Pick<SqlRunner, 'query'>;

/** An open database: the Prisma client plus what the edges need to know about it. */
export interface Database {
  prisma: PrismaClient;
  /** Raw SQL through the same driver (PGlite instance or pg pool) that Prisma uses. */
  sql: SqlExecutor;
  kind: DatabaseConfig['kind'];
  /** The driver under Prisma; see {@link DatabaseDriver}. */
  readonly driver: DatabaseDriver;
  /**
   * Runs a whole SQL script (many statements, e.g. a migration) through the driver: Prisma's raw queries
   * are parameterized prepared statements and take only one statement. Statements run in one implicit
   * transaction unless the script contains its own BEGIN/COMMIT.
   */
  executeScript(sql: string): Promise<void>;
  /** Runs `fn` on one dedicated connection (PGlite has only one) and releases it afterwards. */
  withSession<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /** Closes the client and the underlying driver (PGlite instance or pg pool). */
  close(): Promise<void>;
}

/**
 * Opens the database named by the config: PGlite in-process (a directory, or memory when `dataDir` is
 * undefined) or PostgreSQL through a `pg` pool. Both go through Prisma driver adapters, so the rest of
 * the code never branches on the kind.
 */
export interface OpenDatabaseOptions {
  poolSize?: number;
  /** Called with every SQL statement Prisma sends (tests count queries with it). */
  onQuery?: (sql: string) => void;
}

function createPrisma(adapter: SqlDriverAdapterFactory, onQuery?: (sql: string) => void): PrismaClient {
  if (!onQuery) return new PrismaClient({ adapter });
  const prisma = new PrismaClient({ adapter, log: [{ emit: 'event', level: 'query' }] });
  prisma.$on('query' as never, (event: { query: string }) => onQuery(event.query));
  return prisma;
}

/** PostgreSQL: the longest a new connection may take, unless the config says otherwise. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3000;

export async function openDatabase(config: DatabaseConfig, options: OpenDatabaseOptions = {}): Promise<Database> {
  if (config.kind === 'pglite') {
    if (config.dataDir) fs.mkdirSync(config.dataDir, { recursive: true });
    const pglite = config.dataDir ? new PGlite(config.dataDir) : new PGlite();
    await pglite.waitReady;
    const prisma = createPrisma(new PrismaPGlite(pglite), options.onQuery);
    const runner = pgliteRunner(pglite);
    return {
      prisma,
      sql: runner,
      kind: 'pglite',
      driver: { kind: 'pglite', pglite },
      executeScript: (sql) => runner.executeScript(sql),
      withSession: (fn) =>
        fn({
          ...runner,
          // PGlite's own transaction() holds its lock, so Prisma queries issued meanwhile wait outside it.
          transaction: (body) => pglite.transaction((tx) => body(pgliteRunner(tx))),
        }),
      async close() {
        await prisma.$disconnect();
        await pglite.close();
      },
    };
  }
  // Our own pool (not the adapter's) so scripts and pinned sessions share it with Prisma.
  const pool = new pg.Pool({
    connectionString: config.url,
    max: options.poolSize ?? 10,
    // Without it, acquiring a connection from a server that does not answer (a dropped network, not a
    // refused connection) waits forever: the API would hang instead of answering UNAVAILABLE.
    connectionTimeoutMillis: config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    // A connection whose peer vanished without a FIN is found out by TCP, not only by the next query.
    keepAlive: true,
  });
  // An idle client losing its server (a restart, pg_terminate_backend) emits 'error' on the pool, and the
  // pool drops it; unhandled, that event would kill the process. A client that breaks during a query is
  // dropped too: pg-pool never takes back a client released with an error or no longer queryable (which
  // covers @prisma/adapter-pg's transactions, released without the error). So after an outage the pool
  // holds no dead connections, and the first statements open fresh ones as soon as the server answers.
  pool.on('error', () => {});
  const prisma = createPrisma(new PrismaPg(pool), options.onQuery);
  return {
    prisma,
    sql: {
      query: async <T>(sql: string, params: readonly unknown[] = []) => (await pool.query({ text: sql, values: [...params] })).rows as T[],
    },
    kind: 'postgres',
    driver: { kind: 'postgres', pool },
    async executeScript(sql) {
      // Without parameters node-postgres uses the simple-query protocol, which accepts many statements.
      // On error pg-pool discards the client rather than reuse one left inside a failed transaction.
      await pool.query(sql);
    },
    async withSession(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return await fn(pgSession(client));
      } catch (error) {
        broken = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        // A failed session may hold locks or an open transaction: drop the connection, don't reuse it.
        client.release(broken);
      }
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

function pgliteRunner(pglite: Pick<PGlite, 'query' | 'exec'>): SqlRunner {
  return {
    query: async <T>(sql: string, params: readonly unknown[] = []) => (await pglite.query<T>(sql, [...params])).rows,
    executeScript: async (sql: string) => {
      await pglite.exec(sql);
    },
  };
}

function pgSession(client: pg.PoolClient): SqlSession {
  const runner: SqlRunner = {
    query: async <T>(sql: string, params: readonly unknown[] = []) => (await client.query({ text: sql, values: [...params] })).rows as T[],
    executeScript: async (sql: string) => {
      await client.query(sql);
    },
  };
  return {
    ...runner,
    async transaction(body) {
      await client.query('BEGIN');
      try {
        const result = await body(runner);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    },
  };
}
