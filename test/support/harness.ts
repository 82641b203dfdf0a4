/**
 * Starts a real Doppel server for a test file: on the embedded defaults (PGlite in memory, Aedes on
 * port 0), or against PostgreSQL and an external broker when DOPPEL_TEST_DATABASE_URL /
 * DOPPEL_TEST_MQTT_URL are set (CI runs the suites both ways). Every server gets a fresh database.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client as WsClient } from 'graphql-ws';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import pg from 'pg';
import { print, type FormattedExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import WebSocket from 'ws';
import { createApiToken } from '../../src/auth/tokens.ts';
import type { Role } from '../../src/domain/principal.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { WS_ACTIVE_METRIC } from '../../src/http/graphql.ts';
import { createLogger } from '../../src/logger.ts';
import { createServer, MIGRATIONS_DIR, type RunningServer } from '../../src/server.ts';
import type { Tracing } from '../../src/tracing/index.ts';

export const externalDatabaseUrl = process.env.DOPPEL_TEST_DATABASE_URL || undefined;
export const externalMqttUrl = process.env.DOPPEL_TEST_MQTT_URL || undefined;
/** A Redis for the live-event fan-out tests (CI starts one); they are skipped without it. */
export const externalRedisUrl = process.env.DOPPEL_TEST_REDIS_URL || undefined;
/** True when the broker is Doppel's own (device auth and ACLs are enforced by us). */
export const embeddedBroker = !externalMqttUrl;
export const modeName = `${externalDatabaseUrl ? 'postgres' : 'pglite'}+${externalMqttUrl ? 'external-mqtt' : 'aedes'}`;

/** A unique device id per test, so suites sharing an external broker never see each other's retained messages. */
/** Tries to connect to the broker at `url`; resolves with the CONNACK refusal code, or 0 when accepted. */
/** Telemetry points stored for a device, by its device id (points reference the device's uuid). */
export async function storedPoints(database: Pick<Database, 'prisma'>, deviceId: string): Promise<number> {
  const devices = await database.prisma.device.findMany({ where: { deviceId }, select: { id: true } });
  return database.prisma.telemetryPoint.count({ where: { deviceId: { in: devices.map((d) => d.id) } } });
}

export function connackCode(url: string, username: string, password: string): Promise<number> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId: `${username}-probe-${randomBytes(3).toString('hex')}`,
    });
    client.once('connect', () => {
      client.end(true);
      resolve(0);
    });
    client.once('error', (error: Error & { code?: number }) => {
      client.end(true);
      resolve(error.code ?? -1);
    });
  });
}

export function uniqueDeviceId(prefix = 'dev'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** Creates a throwaway PostgreSQL database; returns its URL and a function that drops it. */
export async function createScratchDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `doppel_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * A throwaway PostgreSQL database with every migration applied, for tests that start server processes
 * on it; `setup` runs on it first (e.g. to create an API token). Returns its URL and a function that drops it.
 */
export async function migratedScratchDatabase(adminUrl: string, setup?: (db: Database) => Promise<void>): Promise<{ url: string; drop: () => Promise<void> }> {
  const scratch = await createScratchDatabase(adminUrl);
  const db = await openDatabase(loadConfig({ DATABASE_URL: scratch.url }).database);
  try {
    await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    await setup?.(db);
  } finally {
    await db.close();
  }
  return scratch;
}

/**
 * A freshly migrated database for service-level tests: in-memory PGlite, or a scratch PostgreSQL
 * database when DOPPEL_TEST_DATABASE_URL is set. `close()` closes it and drops the scratch database.
 */
export async function openTestDatabase(): Promise<{ db: Database; close: () => Promise<void> }> {
  const scratch = externalDatabaseUrl ? await createScratchDatabase(externalDatabaseUrl) : undefined;
  const db = await openDatabase(loadConfig({ DATABASE_URL: scratch?.url ?? 'memory://' }).database);
  await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
  return {
    db,
    async close() {
      await db.close();
      await scratch?.drop();
    },
  };
}

export interface TestServer {
  config: Config;
  running: RunningServer;
  database: Database;
  /** Admin token for the default tenant. */
  token: string;
  httpUrl: string;
  wsUrl: string;
  mqttUrl: string;
  /** The embedded broker's TLS listener (`mqtts://127.0.0.1:<port>`), undefined with an external broker or MQTT_TLS=off. */
  mqttTlsUrl: string | undefined;
  /** The CA (PEM) a TLS client must trust, with the TLS listener. */
  caPem: string | undefined;
  /** POSTs a GraphQL operation with the admin token (or the given one / none). */
  gql<R, V>(document: TypedDocumentNode<R, V> | string, variables?: V, token?: string | null): Promise<FormattedExecutionResult<R> & { status: number }>;
  /** A graphql-ws client authenticated with the admin token (or the given one). */
  ws(token?: string | null): WsClient;
  /** An mqtt.js client; username/password as given. Closed by stop(). */
  mqtt(options: IClientOptions): Promise<MqttClient>;
  createToken(role?: Role, tenantId?: string): Promise<string>;
  /** Every SQL statement Prisma sent so far (clear it with `queries.length = 0`). */
  queries: string[];
  /** Every raw SQL statement the server's services sent through `database.sql` so far (clear it the same way). */
  rawQueries: string[];
  /** Waits until at least `count` WebSocket operations are live on the server (subscriptions listening). */
  waitForSubscriptions(count: number): Promise<void>;
  stop(): Promise<void>;
}

/** True when two test servers can share one database and one broker (a scale-out deployment). */
export const scaleOutPossible = Boolean(externalDatabaseUrl && externalMqttUrl);

/**
 * Starts a test server. With `peer`, the new server joins the peer's PostgreSQL database and
 * shared-subscription group, as a second instance of one deployment would (needs `scaleOutPossible`).
 */
export async function startTestServer(env: Record<string, string> = {}, options: { peer?: TestServer; tracing?: Tracing } = {}): Promise<TestServer> {
  const cleanups: Array<() => Promise<void>> = [];
  let databaseUrl = 'memory://';
  const { peer } = options;
  if (peer) {
    if (peer.config.database.kind !== 'postgres' || peer.config.mqtt.kind !== 'external') throw new Error('a peer needs PostgreSQL and an external broker');
    databaseUrl = peer.config.database.url;
    env = { MQTT_SHARED_GROUP: peer.config.mqtt.group, ...env };
  } else if (externalDatabaseUrl && !env.DATABASE_URL) {
    // A DATABASE_URL given by the test is used as is (e.g. a scratch database behind a TCP proxy).
    const scratch = await createScratchDatabase(externalDatabaseUrl);
    databaseUrl = scratch.url;
    cleanups.push(scratch.drop);
  }
  // Each server its own data directory: generated TLS material (and keys) never land in the repository,
  // and parallel test files never share one.
  const dataDir = env.DOPPEL_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-test-'));
  if (!env.DOPPEL_DATA_DIR) cleanups.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    // Port 0 for the TLS listener too, so parallel test files never collide on 8883.
    MQTT_TLS_PORT: '0',
    MQTT_TLS_HOST: '127.0.0.1',
    DOPPEL_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: process.env.DOPPEL_TEST_LOG_LEVEL ?? 'silent',
    DOPPEL_BOOTSTRAP_TOKEN: 'false',
    // Functional suites fire requests back to back with one admin token; test/e2e/edge.test.ts sets
    // its own rate limit to test the limiter.
    GRAPHQL_RATE_LIMIT_BURST: '1000000',
    ...(externalMqttUrl ? { MQTT_URL: externalMqttUrl, MQTT_SHARED_GROUP: `test${randomBytes(4).toString('hex')}` } : {}),
    ...env,
  });
  const queries: string[] = [];
  // With `tracing`, the database is opened with its tracer, as the server opens its own (src/app/resources.ts).
  const database = await openDatabase(config.database, { onQuery: (sql) => queries.push(sql), tracer: options.tracing?.tracer });
  cleanups.unshift(() => database.close());
  if (!peer) await applyMigrations(database, { migrationsDir: MIGRATIONS_DIR });
  const rawQueries: string[] = [];
  const counted: Database = {
    ...database,
    sql: {
      query: (text, params) => {
        rawQueries.push(text);
        return database.sql.query(text, params);
      },
    },
  };
  const server = createServer(config, {
    database: counted,
    logger: createLogger(config.logLevel),
    ...(options.tracing ? { tracing: options.tracing } : {}),
  });
  let running: RunningServer;
  try {
    running = await server.start();
  } catch (error) {
    // A start that fails (tests of bad configurations) must not leak its database.
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw error;
  }
  cleanups.unshift(() => server.stop());

  const { token } = await createApiToken(database.prisma, { name: 'test admin', role: 'admin', tenantId: 'default' });
  const httpUrl = `${running.url}/graphql`;
  const wsUrl = httpUrl.replace(/^http/, 'ws');
  const mqttUrl = externalMqttUrl ?? `mqtt://127.0.0.1:${running.mqttPort}`;
  const mqttTlsUrl = running.mqttTlsPort === undefined ? undefined : `mqtts://127.0.0.1:${running.mqttTlsPort}`;
  const caPem = running.caPath ? fs.readFileSync(running.caPath, 'utf8') : undefined;
  const clients: MqttClient[] = [];
  const wsClients: WsClient[] = [];

  return {
    config,
    queries,
    rawQueries,
    running,
    database,
    token,
    httpUrl,
    wsUrl,
    mqttUrl,
    mqttTlsUrl,
    caPem,
    async gql(document, variables, as = token) {
      const query = typeof document === 'string' ? document : print(document);
      const response = await fetch(httpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(as ? { authorization: `Bearer ${as}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as FormattedExecutionResult<never>;
      return { ...body, status: response.status };
    },
    ws(as = token) {
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: () => undefined,
        connectionParams: as ? { authorization: `Bearer ${as}` } : {},
      });
      wsClients.push(client);
      return client;
    },
    async mqtt(options) {
      const client = mqtt.connect(mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
        client.once('close', () => reject(new Error('connection closed before CONNACK')));
      });
      return client;
    },
    async createToken(role = 'admin', tenantId = 'default') {
      return (await createApiToken(database.prisma, { name: `test ${role}`, role, tenantId })).token;
    },
    async waitForSubscriptions(count) {
      const deadline = Date.now() + 10_000;
      while (running.metrics.get(WS_ACTIVE_METRIC) < count) {
        if (Date.now() > deadline) throw new Error(`only ${running.metrics.get(WS_ACTIVE_METRIC)} of ${count} subscriptions became active`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      // dispose() is typed `void | Promise<void>`; graphql-ws's is async.
      await Promise.all(wsClients.map(async (c) => await c.dispose()));
      for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    },
  };
}

/** Collects MQTT messages on a client, and waits for the next one on a topic. */
export function messageWaiter(client: MqttClient) {
  const seen: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
  const waiters: Array<{ match: (t: string) => boolean; resolve: (m: { topic: string; payload: Buffer; retain: boolean }) => void }> = [];
  client.on('message', (topic, payload, packet) => {
    const message = { topic, payload, retain: packet.retain };
    const i = waiters.findIndex((w) => w.match(topic));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(message);
    else seen.push(message);
  });
  return {
    seen,
    next(topic: string, timeoutMs = 10_000): Promise<{ topic: string; payload: Buffer; retain: boolean; json: unknown }> {
      return this.nextOf([topic], timeoutMs);
    },
    /** The next message on any of the topics (e.g. an accepted or a rejected reply). */
    nextOf(topics: string[], timeoutMs = 10_000): Promise<{ topic: string; payload: Buffer; retain: boolean; json: unknown }> {
      const i = seen.findIndex((m) => topics.includes(m.topic));
      const wrap = (m: { topic: string; payload: Buffer; retain: boolean }) => ({ ...m, json: m.payload.length ? JSON.parse(m.payload.toString()) : null });
      if (i >= 0) return Promise.resolve(wrap(seen.splice(i, 1)[0]!));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message on ${topics.join(' or ')} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          match: (t) => topics.includes(t),
          resolve: (m) => {
            clearTimeout(timer);
            resolve(wrap(m));
          },
        });
      });
    },
  };
}

/** Subscribes with graphql-ws and collects events; `next()` waits for the next one. */
export function subscribe<T>(client: WsClient, query: string, variables: Record<string, unknown> = {}) {
  const events: Array<FormattedExecutionResult<T, unknown>> = [];
  const waiters: Array<(e: FormattedExecutionResult<T, unknown>) => void> = [];
  let ended: Error | null = null;
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (e) => {
        const w = waiters.shift();
        if (w) w(e);
        else events.push(e);
      },
      error: (e) => {
        ended = e instanceof Error ? e : new Error(JSON.stringify(e));
      },
      complete: () => undefined,
    },
  );
  return {
    unsubscribe,
    get error() {
      return ended;
    },
    next(timeoutMs = 10_000): Promise<FormattedExecutionResult<T, unknown>> {
      const e = events.shift();
      if (e) return Promise.resolve(e);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no subscription event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((ev) => {
          clearTimeout(timer);
          resolve(ev);
        });
      });
    },
  };
}
