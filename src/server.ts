import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createTokenWatch } from './auth/token-watch.ts';
import { bootstrapAdminToken } from './auth/tokens.ts';
import type { Config, DynsecConfig } from './config.ts';
import { openDatabase, type Database } from './db/client.ts';
import { applyMigrations } from './db/migrate.ts';
import { createEventBus, type EventBus } from './events/bus.ts';
import { createRedisFanout } from './events/redis-fanout.ts';
import { createEdge } from './http/edge.ts';
import { createBrokerAuth } from './http/broker-auth.ts';
import { attachWebSocket, createGraphQL, GRAPHQL_PATH } from './http/graphql.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { createBridge } from './mqtt/bridge.ts';
import { createDynsecSync, type DynsecSync } from './mqtt/dynsec.ts';
import { createEmbeddedTransport } from './mqtt/embedded-broker.ts';
import { createExternalTransport } from './mqtt/external-client.ts';
import type { MqttTransport } from './mqtt/transport.ts';
import { createAuditLog } from './services/audit.ts';
import { openSecret, sealSecret } from './security/secrets.ts';
import { createDeviceService, type DeviceService } from './services/devices/index.ts';
import { createLastSeenTracker } from './services/presence.ts';
import { createTelemetryRetention } from './services/retention.ts';
import { createRollupSettler } from './services/rollups.ts';
import { createEmbeddedMaintenance } from './db/maintenance.ts';
import { createTelemetryService } from './services/telemetry.ts';
import { createTwinService } from './services/twins/index.ts';
import { createModelService } from './services/models.ts';
import { createTokenService } from './services/tokens.ts';
import { createDomainHooks } from './services/hooks.ts';
import { createCommandService } from './services/commands.ts';

/** Parts a caller may supply instead of the ones the config describes (tests, embedding). */
export interface ServerDeps {
  logger?: Logger;
  database?: Database;
  transport?: MqttTransport;
  bus?: EventBus;
  /** Apply pending migrations on start. Default: yes for PGlite, no for PostgreSQL (run `npm run db:migrate`). */
  migrate?: boolean;
}

export interface RunningServer {
  /** Base URL of the HTTP server, e.g. http://127.0.0.1:4000 */
  url: string;
  httpPort: number;
  /** Port of the embedded MQTT broker, undefined with an external broker. */
  mqttPort: number | undefined;
  database: Database;
  metrics: Metrics;
  /** Where the bootstrap admin token was written, when this start created it. */
  adminTokenFile: string | undefined;
  /** The Mosquitto dynamic-security sync, when MQTT_DYNSEC is on (e.g. to reconcile now). */
  dynsec: Pick<DynsecSync, 'reconcile'> | undefined;
}

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '..', 'prisma', 'migrations');

/**
 * Builds a Doppel server from its configuration. Nothing listens or connects until `start()`;
 * `stop()` drains and closes everything within `config.shutdownTimeoutMs`.
 */
export function createServer(config: Config, deps: ServerDeps = {}) {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  let running: RunningServer | undefined;
  let teardown: Array<() => Promise<void>> = [];

  async function start(): Promise<RunningServer> {
    if (running) return running;
    try {
      return await startOnce();
    } catch (error) {
      await runTeardown();
      throw error;
    }
  }

  async function startOnce(): Promise<RunningServer> {
    const database = deps.database ?? (await openDatabase(config.database));
    if (!deps.database) teardown.unshift(() => database.close());
    if (deps.migrate ?? config.database.kind === 'pglite') {
      await applyMigrations(database, { migrationsDir: MIGRATIONS_DIR, log: (m) => logger.info(m) });
    }
    const { prisma } = database;
    const adminToken = config.bootstrapAdminToken ? await bootstrapAdminToken(prisma, config.dataDir, logger) : undefined;

    metrics.describe(SLOW_CONSUMER_METRIC, 'Subscriptions ended because the client stopped reading (SLOW_CONSUMER).');
    let bus =
      deps.bus ??
      createEventBus({
        onSlowConsumer: (type) => {
          metrics.inc(SLOW_CONSUMER_METRIC, { type });
          logger.warn({ type }, 'ended a subscription whose client stopped reading');
        },
      });
    if (config.redis) {
      // Closed after everything that publishes (teardown runs newest first).
      const fanout = await createRedisFanout(bus, { ...config.redis, logger: logger.child({ component: 'fanout' }), metrics });
      teardown.unshift(() => fanout.close());
      bus = fanout;
    }
    const hooks = createDomainHooks({ logger, metrics });
    const audit = createAuditLog({ prisma, logger: logger.child({ component: 'audit' }) });
    const tokens = createTokenService({ prisma, bus });
    const models = createModelService({ db: database, logger: logger.child({ component: 'models' }), audit });
    const twins = createTwinService({ sql: database.sql, bus, hooks, audit, limits: config.twinLimits, logger, schemas: models });
    const lastSeen = createLastSeenTracker(database.sql, logger);
    const telemetry = createTelemetryService({
      sql: database.sql,
      bus,
      logger: logger.child({ component: 'telemetry' }),
      metrics,
      config: config.telemetry,
      maxPayloadBytes: config.maxPayloadBytes,
    });

    // The transport needs the device registry to authenticate, and the registry needs the transport to
    // disconnect devices: the late-bound reference breaks the cycle.
    let transportRef: MqttTransport | undefined;
    let bridgeRef: ReturnType<typeof createBridge> | undefined;
    // The mirror reads the registry on reconcile (after start), the registry feeds the mirror its changes.
    const dynsec = config.dynsec ? createDynsecFromConfig(config, config.dynsec, (after, limit) => devices.listForBrokerSync(after, limit), logger, metrics) : undefined;
    const sealKey = config.dynsec?.secretKey;
    const devices = createDeviceService({
      db: database,
      bus,
      logger,
      audit,
      sessions: {
        disconnect: (deviceId) => transportRef?.disconnectDevice(deviceId) ?? Promise.resolve(false),
        retireSessions: (deviceId, at) => transportRef?.retireSessions(deviceId, at),
        clearRetained: (deviceId) => bridgeRef?.clearRetained(deviceId) ?? Promise.resolve(),
      },
      ...(dynsec && sealKey ? { onSecurityEvent: dynsec.apply, sealSecret: (deviceId: string, secret: string) => sealSecret(secret, sealKey, deviceId) } : {}),
    });
    const brokerAuth = createBrokerAuth({
      secret: config.brokerAuthSecret,
      authenticator: devices,
      ...(config.mqtt.kind === 'external' && config.mqtt.username && config.mqtt.password
        ? { serviceUser: { username: config.mqtt.username, password: config.mqtt.password } }
        : {}),
      logger: logger.child({ component: 'broker-auth' }),
      metrics,
    });
    const transport =
      deps.transport ??
      (config.mqtt.kind === 'embedded'
        ? createEmbeddedTransport({
            port: config.mqtt.port,
            host: config.mqtt.host,
            authenticator: devices,
            logger: logger.child({ component: 'broker' }),
            maxPayloadBytes: config.maxPayloadBytes,
            metrics,
          })
        : createExternalTransport({
            url: config.mqtt.url,
            group: config.mqtt.group,
            ...(config.mqtt.username ? { username: config.mqtt.username } : {}),
            ...(config.mqtt.password ? { password: config.mqtt.password } : {}),
            ...(config.mqtt.clientId !== undefined ? { clientId: config.mqtt.clientId } : {}),
            sessionExpirySeconds: config.mqtt.sessionExpirySeconds,
            maxInFlight: config.mqtt.maxInFlight,
            logger: logger.child({ component: 'mqtt' }),
          }));
    transportRef = transport;
    const commands = createCommandService({
      db: database,
      bus,
      logger: logger.child({ component: 'commands' }),
      metrics,
      models,
      config: config.commands,
      publish: (topic, payload) => transport.publish(topic, payload, { qos: 1 }),
    });

    bridgeRef = createBridge({
      transport,
      devices,
      twins,
      telemetry,
      lastSeen,
      metrics,
      logger: logger.child({ component: 'bridge' }),
      maxPayloadBytes: config.maxPayloadBytes,
      twinLimits: config.twinLimits,
      loadDelta: twins.readDelta,
      commands,
    });

    const tokenWatch = createTokenWatch({ bus, sql: database.sql, logger, recheckIntervalMs: config.apiTokenRecheckMs });
    teardown.unshift(() => tokenWatch.stop());
    // Hourly and daily rollups are derived from the 15-minute ones in the background (and before a series reads them).
    const rollups = createRollupSettler({ database, logger: logger.child({ component: 'rollups' }), metrics, config: config.telemetry });
    const services = { prisma, bus, config, logger, devices, twins, audit, models, tokens, commands, rollups };
    const edge = createEdge(config.graphql, metrics);
    const yoga = createGraphQL(services, { graphiql: config.graphql.graphiql, edge, tokenWatch, metrics });
    const httpServer = http.createServer((req, res) => {
      void handleHttp(req, res);
    });

    async function handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
      const url = req.url ?? '/';
      if (url === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (url === '/readyz') {
        const checks = { database: await database.sql.query('SELECT 1').then(() => true, () => false), mqtt: transport.isReady() };
        const ready = checks.database && checks.mqtt;
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
      }
      if (url === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(metrics.render());
        return;
      }
      if (url === '/' ) {
        res.writeHead(302, { location: GRAPHQL_PATH });
        res.end();
        return;
      }
      if (await brokerAuth.handle(req, res)) return;
      const tooLarge = edge.checkBody(req);
      if (tooLarge) return sendJson(res, tooLarge.status, { errors: [{ message: tooLarge.message, extensions: { code: tooLarge.code } }] });
      await yoga.requestListener(req, res);
    }

    const ws = attachWebSocket(httpServer, yoga, services, metrics, edge, tokenWatch);
    teardown.unshift(async () => {
      await ws.close();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    });

    if (dynsec) {
      // Before the bridge connects: the reconcile also gives Doppel's own broker user its role.
      await dynsec.start();
      teardown.unshift(() => dynsec.stop());
    }
    await transport.start();
    // Inbound work stops first on shutdown, then queued twin and telemetry writes drain, then the
    // database closes.
    teardown.unshift(async () => {
      await transport.stop();
      await Promise.all([twins.drain(), telemetry.drain()]);
      await lastSeen.stop();
    });
    // The sweeper drives expiries, timeouts and delivery retries from the database; it stops before
    // the transport and the database do.
    commands.start();
    teardown.unshift(() => commands.stop());

    // Retention sweeps in the background; it stops (waiting for its batch in flight) before the database closes.
    const retention = createTelemetryRetention({ sql: database.sql, logger: logger.child({ component: 'retention' }), metrics, config: config.telemetry });
    retention.start();
    teardown.unshift(() => retention.stop());
    rollups.start();
    teardown.unshift(() => rollups.stop());
    // PGlite has no checkpointer and no autovacuum: without this it wedges after ≈ 550 MB of WAL (src/db/maintenance.ts).
    if (database.kind === 'pglite') {
      const upkeep = createEmbeddedMaintenance({ sql: database.sql, logger: logger.child({ component: 'embedded-db' }), metrics, config: config.embeddedMaintenance });
      upkeep.start();
      teardown.unshift(() => upkeep.stop());
    }

    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(config.port, config.host, () => resolve());
    });
    const address = httpServer.address() as AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    running = {
      url: `http://${host}:${address.port}`,
      httpPort: address.port,
      mqttPort: transport.port,
      database,
      metrics,
      adminTokenFile: adminToken?.created ? adminToken.file : undefined,
      dynsec,
    };
    logger.info(
      { graphql: `${running.url}${GRAPHQL_PATH}`, mqtt: transport.kind === 'embedded' ? `mqtt://${host}:${transport.port}` : (config.mqtt as { url: string }).url, database: database.kind },
      'Doppel is running',
    );
    return running;
  }

  async function runTeardown(): Promise<void> {
    const steps = teardown;
    teardown = [];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        logger.warn({ err: error }, 'shutdown step failed');
      }
    }
  }

  async function stop(): Promise<void> {
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs).unref());
    const result = await Promise.race([runTeardown().then(() => 'done' as const), deadline]);
    if (result === 'timeout') logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; closing anyway');
    running = undefined;
  }

  return { start, stop, logger };
}

/** The dynamic-security sync as the configuration describes it, reading devices page by page. */
function createDynsecFromConfig(config: Config, dynsecConfig: DynsecConfig, listDevices: DeviceService['listForBrokerSync'], logger: Logger, metrics: Metrics) {
  const mqtt = config.mqtt;
  return createDynsecSync({
    url: dynsecConfig.url,
    username: dynsecConfig.username,
    password: dynsecConfig.password,
    batchSize: dynsecConfig.batchSize,
    timeoutMs: dynsecConfig.timeoutMs,
    reconcileIntervalSeconds: dynsecConfig.reconcileIntervalSeconds,
    logger: logger.child({ component: 'dynsec' }),
    metrics,
    ...(mqtt.kind === 'external' && mqtt.username && mqtt.password ? { serviceUser: { username: mqtt.username, password: mqtt.password } } : {}),
    openSecret: (deviceId, sealed) => openSecret(sealed, dynsecConfig.secretKey, deviceId),
    listDevices,
  });
}

const SLOW_CONSUMER_METRIC = 'doppel_subscriptions_slow_consumer_total';

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
