import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Tracer } from '@opentelemetry/api';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { SqlDriverAdapterFactory, SqlQueryable } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { DatabaseConfig } from '../config.ts';
import { DISK_FULL_SQLSTATE, isDiskFull } from '../domain/faults.ts';
import { PrismaClient } from '../generated/prisma/client.ts';
import { traceStatement } from '../tracing/database.ts';

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
  /** PGlite: called once when a write failed for a full disk and the database was fenced (see {@link fenceAfterDiskFull}). */
  onDiskFull?: (error: unknown) => void;
  /**
   * With tracing on (src/tracing/index.ts): a span per statement, Prisma's and the raw `sql` helper's
   * alike. Absent, nothing is wrapped.
   */
  tracer?: Tracer | undefined;
}

function createPrisma(factory: SqlDriverAdapterFactory, onQuery?: (sql: string) => void, tracer?: Tracer): PrismaClient {
  const adapter = tracer ? traceAdapter(factory, tracer) : factory;
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
    const fence = fenceAfterDiskFull(pglite, options.onDiskFull);
    const prisma = createPrisma(new PrismaPGlite(pglite), options.onQuery, options.tracer);
    const runner = traceRunner(pgliteRunner(pglite), options.tracer);
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
          transaction: (body) => pglite.transaction((tx) => body(traceRunner(pgliteRunner(tx), options.tracer))),
        }),
      async close() {
        await prisma.$disconnect();
        // A fenced instance is not touched again, not even to close it (it would block the event loop);
        // its directory is left as after a crash, which PGlite recovers from its WAL on the next start.
        if (!fence.fenced) await pglite.close();
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
  // A client that is checked out (a transaction of the adapter, a pinned session) has no pool listener:
  // its server going away between two queries emits 'error' on the client itself, which would kill the
  // process (seen in the chaos suite's pg_terminate_backend storm). Its holder learns of it from the next
  // query, and pg-pool drops it on release, so the event needs nothing but a listener.
  pool.on('connect', (client) => client.on('error', () => {}));
  const prisma = createPrisma(new PrismaPg(pool), options.onQuery, options.tracer);
  const query = async <T>(sql: string, params: readonly unknown[] = []) => (await pool.query({ text: sql, values: [...params] })).rows as T[];
  return {
    prisma,
    sql: { query: options.tracer ? traceQuery(query, options.tracer) : query },
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
        return await fn(pgSession(client, options.tracer));
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

/**
 * PGlite 0.4.3 after a failed write for a full disk (SQLSTATE 53100, "could not write to file
 * …: No space left on device"): the failing statement rejects cleanly and what was committed before
 * is intact, but the NEXT statement handed to the instance blocks the Node event loop for good — the
 * whole server would freeze, HTTP and MQTT included. So the first disk-full failure fences the
 * instance: every later query, script and transaction rejects at once with a disk-full error, which
 * is transient (src/domain/faults.ts): device messages stay unacknowledged (held, then redelivered by
 * the broker to the next process), `/readyz` is not ready, and GraphQL answers UNAVAILABLE saying the
 * disk is full. Nothing more is written, so the data directory stays as it was after the last
 * commit; restarting Doppel once space is freed (more than one 16 MB WAL segment) recovers it.
 */
function fenceAfterDiskFull(pglite: PGlite, onDiskFull: ((error: unknown) => void) | undefined): { readonly fenced: boolean } {
  let fenced: unknown;
  const refuse = () =>
    Promise.reject(
      Object.assign(new Error('the embedded database stopped after its disk filled up (No space left on device): free space and restart Doppel'), {
        code: DISK_FULL_SQLSTATE,
        cause: fenced,
      }),
    );
  const guard =
    <A extends unknown[], R>(original: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (fenced !== undefined) return refuse();
      try {
        return await original(...args);
      } catch (error) {
        if (fenced === undefined && isDiskFull(error)) {
          fenced = error;
          onDiskFull?.(error);
        }
        throw error;
      }
    };
  const target = pglite as unknown as Record<'query' | 'exec' | 'transaction', (...args: unknown[]) => Promise<unknown>>;
  for (const method of ['query', 'exec', 'transaction'] as const) target[method] = guard(target[method].bind(pglite));
  return {
    get fenced() {
      return fenced !== undefined;
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

function pgSession(client: pg.PoolClient, tracer: Tracer | undefined): SqlSession {
  const runner: SqlRunner = traceRunner(
    {
      query: async <T>(sql: string, params: readonly unknown[] = []) => (await client.query({ text: sql, values: [...params] })).rows as T[],
      executeScript: async (sql: string) => {
        await client.query(sql);
      },
    },
    tracer,
  );
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

/** `query` with a span per statement (src/tracing/database.ts). */
function traceQuery(query: SqlRunner['query'], tracer: Tracer): SqlRunner['query'] {
  return <T>(sql: string, params?: readonly unknown[]) => traceStatement(tracer, sql, () => query<T>(sql, params));
}

/** A runner whose statements are spans when tracing is on; the runner itself when it is off. Scripts (migrations) are not traced. */
function traceRunner(runner: SqlRunner, tracer: Tracer | undefined): SqlRunner {
  if (!tracer) return runner;
  const query: SqlRunner['query'] = (sql, params) => runner.query(sql, params);
  return { ...runner, query: traceQuery(query, tracer) };
}

/**
 * Prisma's statements as spans: its driver adapter's queryRaw and executeRaw, on the connection and on
 * every transaction it starts, each wrapped where Prisma hands the statement to the driver.
 */
function traceAdapter(factory: SqlDriverAdapterFactory, tracer: Tracer): SqlDriverAdapterFactory {
  const wrap = (queryable: SqlQueryable): void => {
    const queryRaw = queryable.queryRaw.bind(queryable);
    const executeRaw = queryable.executeRaw.bind(queryable);
    queryable.queryRaw = (query) => traceStatement(tracer, query.sql, () => queryRaw(query));
    queryable.executeRaw = (query) => traceStatement(tracer, query.sql, () => executeRaw(query));
  };
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    wrap(adapter);
    const startTransaction = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => {
      const transaction = await startTransaction(isolationLevel);
      wrap(transaction);
      return transaction;
    };
    return adapter;
  };
  return factory;
}
