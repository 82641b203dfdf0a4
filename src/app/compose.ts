/**
 * The composition root: builds every part of a running Doppel from the configuration and lists the
 * parts as components in the order they start. They stop in reverse, so the list below is also the
 * shutdown order, read from the bottom: the HTTP listener and background jobs stop first, then
 * inbound MQTT (with the twin and telemetry writes it queued), the broker mirror, the HTTP and
 * WebSocket servers, and the token watch; the database and the bus (src/app/resources.ts) close last.
 *
 * No cycles to break by hand: the transport authenticates through the device registry's broker view,
 * and the device service reaches sessions through the DeviceSessions port, which the transport and the
 * bridge implement; commands leave through the CommandOutbox port.
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { Tracer } from '@opentelemetry/api';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createConsoleRoutes } from '../console/http.ts';
import { createTokenWatch } from '../auth/token-watch.ts';
import { createTokenCache, DEFAULT_TOKEN_CACHE_ENTRIES } from '../auth/token-cache.ts';
import type { Config, DynsecConfig } from '../config.ts';
import { createEmbeddedMaintenance } from '../db/maintenance.ts';
import { isDatabaseReachable } from '../db/health.ts';
import { createBrokerAuth } from '../http/broker-auth.ts';
import { createEdge } from '../http/edge.ts';
import { attachWebSocket, createGraphQL } from '../http/graphql.ts';
import { createReadiness } from '../http/readiness.ts';
import { createHttpRouter } from '../http/router.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { watchFleetGauges } from '../services/fleet-gauges.ts';
import { createBridge } from '../mqtt/bridge.ts';
import { createMqttCommandOutbox } from '../mqtt/command-outbox.ts';
import { createDynsecSync, type DynsecSync } from '../mqtt/dynsec/index.ts';
import { createEmbeddedTransport, MQTT_WS_PATH, type EmbeddedTransport } from '../mqtt/embedded/index.ts';
import { upgradeRoutes } from '../http/upgrade.ts';
import { createExternalTransport } from '../mqtt/external-client.ts';
import type { DeviceAuthenticator, MqttTransport } from '../mqtt/transport.ts';
import { openSecret, sealSecret } from '../security/secrets.ts';
import { createServerTls, type ServerTls, type ServerTlsMaterial } from '../security/tls/index.ts';
import { createAuditLog } from '../services/audit.ts';
import { createCommandService } from '../services/commands/index.ts';
import { createDeadLetterService } from '../services/dead-letters/index.ts';
import { createDeviceReadBatches, createDeviceReader, describeDeviceReaderMetrics } from '../services/device-reads.ts';
import { createDeviceBrokerView } from '../services/devices/broker.ts';
import { createStalePresenceSweep } from '../services/stale-presence.ts';
import { createDeviceService, type DeviceService } from '../services/devices/index.ts';
import { createDomainHooks } from '../services/hooks.ts';
import { createModelService } from '../services/models.ts';
import { createRuleBacktest } from '../services/rules/backtest.ts';
import { createRuleService } from '../services/rules/index.ts';
import { createOutboxRetention, createOutboxService } from '../services/outbox/index.ts';
import { createDeviceCertificateService, type DeviceCertificateService } from '../services/device-certificates/index.ts';
import type { CertificateFacts } from '../mqtt/embedded/certificates.ts';
import { createProvisioningService, type ProvisioningGate, type ProvisioningService } from '../services/provisioning/index.ts';
import { createActionExecutor } from '../services/rules/action-executor.ts';
import type { DeviceSessions } from '../services/ports.ts';
import { createLastSeenTracker } from '../services/presence.ts';
import { createHistoryRetention, createTelemetryRetention } from '../services/retention.ts';
import { createTwinReplay } from '../services/twin-replay/index.ts';
import { createRollupSettler } from '../services/rollups.ts';
import { createAlarmControl } from '../services/rules/engine/control.ts';
import { createRulesEngine } from '../services/rules/engine/index.ts';
import { createStoreRecovery } from '../services/store-retry.ts';
import { createTelemetryService } from '../services/telemetry/index.ts';
import { createTelemetryReader } from '../services/telemetry-queries.ts';
import { createTokenService } from '../services/tokens.ts';
import { createTwinService } from '../services/twins/index.ts';
import { createWebhookService } from '../services/webhooks/index.ts';
import { lazySecretSealer } from '../services/webhooks/sealer.ts';
import type { Component } from './lifecycle.ts';
import type { Resources } from './resources.ts';

export interface ComposeDeps {
  /** A transport to use instead of the one the config describes. */
  transport?: MqttTransport;
  /** With tracing on (src/tracing/index.ts): spans for GraphQL operations, device batches and command acks. */
  tracer?: Tracer | undefined;
}

export interface ComposedApp {
  /** In start order; the app stops them in reverse. */
  components: Component[];
  /** Valid once every component has started. */
  address(): {
    httpPort: number;
    host: string;
    mqttPort: number | undefined;
    mqttUrl: string;
    /** `https` when the API is served over TLS. */
    httpScheme: 'http' | 'https';
    /** The embedded broker's TLS listener, when on. */
    mqttTlsPort: number | undefined;
    mqttTlsUrl: string | undefined;
    /** The CA devices (and API clients of HTTPS=auto) must trust, when Doppel generated or was given one. */
    caPath: string | undefined;
    caFingerprint: string | undefined;
  };
  /** The Mosquitto dynamic-security sync, when MQTT_DYNSEC is on. */
  dynsec: Pick<DynsecSync, 'reconcile'> | undefined;
}

export function composeApp(config: Config, resources: Resources, deps: ComposeDeps, logger: Logger, metrics: Metrics): ComposedApp {
  const { database, bus } = resources;
  const { prisma } = database;
  const child = (component: string) => logger.child({ component });

  // Database outages: one prober wakes every held write the moment the database answers again
  // (src/services/store-retry.ts); while writes are held, the database counts as down for readiness.
  const storeRecovery = createStoreRecovery({
    probe: () => isDatabaseReachable(database.sql),
    onHoldingChanged: (holding) => readiness.report('database', !holding),
  });
  const readiness = createReadiness({
    database: async () => !storeRecovery.holding && (await isDatabaseReachable(database.sql)),
    mqtt: () => transport.isReady(),
    metrics,
    logger: child('readiness'),
  });

  // Services.
  const hooks = createDomainHooks({ logger, metrics });
  const audit = createAuditLog({ prisma, logger: child('audit') });
  const tokens = createTokenService({ prisma, bus });
  const models = createModelService({ db: database, logger: child('models'), audit });
  const twins = createTwinService({
    sql: database.sql,
    bus,
    hooks,
    audit,
    limits: config.twinLimits,
    logger,
    metrics,
    schemas: models,
    recovery: storeRecovery,
    ...(deps.tracer ? { tracer: deps.tracer } : {}),
  });
  const lastSeen = createLastSeenTracker(database.sql, logger);
  const telemetry = createTelemetryService({
    sql: database.sql,
    bus,
    hooks,
    logger: child('telemetry'),
    metrics,
    config: config.telemetry,
    maxPayloadBytes: config.maxPayloadBytes,
    recovery: storeRecovery,
    ...(deps.tracer ? { tracer: deps.tracer } : {}),
  });
  // What the broker asks of the registry: who may connect, who is connected, the list to mirror.
  const deviceAccess = createDeviceBrokerView({ db: database, bus, metrics, hooks });
  const dynsec = config.dynsec
    ? createDynsecFromConfig(config, config.dynsec, (after, limit) => deviceAccess.listForBrokerSync(after, limit), logger, metrics)
    : undefined;

  // Provisioning (docs/onboarding.md "Provisioning"): the broker asks it about `provision` clients and about
  // logins the registry refused (group-key first connects). Bound late: it creates devices through the
  // device service, which reaches the transport's sessions.
  const provisioningGate: ProvisioningGate = {
    authenticateClaim: (token, requestId) => provisioning.authenticateClaim(token, requestId),
    handleRequest: (session, requestId, payload) => provisioning.handleRequest(session, requestId, payload),
    authenticateDerivedKey: (deviceId, password) => provisioning.authenticateDerivedKey(deviceId, password),
    recordTopicDenied: (session, requestId, topic) => provisioning.recordTopicDenied(session, requestId, topic),
  };
  const brokerAuthenticator: DeviceAuthenticator = {
    async authenticate(deviceId, password, connect) {
      return (await deviceAccess.authenticate(deviceId, password, connect)) || provisioningGate.authenticateDerivedKey(deviceId, password);
    },
  };

  // Transport encryption (docs/security.md): the server certificate for MQTT over TLS and HTTPS=auto,
  // loaded or created by the 'tls' component before anything listens, re-issued daily when due.
  const mqttTls = config.mqtt.kind === 'embedded' && !deps.transport ? config.mqtt.tls : undefined;
  const serverTls = mqttTls
    ? createServerTls({ dataDir: config.dataDir, hostnames: mqttTls.hostnames, given: mqttTls.given, logger: child('tls') })
    : undefined;

  // The MQTT edge.
  // Device certificates (mutual TLS on the embedded TLS listener, docs/security.md): the broker asks the
  // service, which needs the broker to disconnect revoked certificates; bound late like provisioning.
  const certificateFacts: CertificateFacts = { loginFacts: (deviceId, fingerprint) => deviceCertificates.loginFacts(deviceId, fingerprint) };
  const transport = deps.transport ?? createTransport(config, brokerAuthenticator, logger, metrics, provisioningGate, serverTls, certificateFacts);
  const deviceCertificates: DeviceCertificateService = createDeviceCertificateService({
    prisma,
    sql: database.sql,
    certificateHolders: (fingerprint) => ('certificateHolders' in transport ? (transport as EmbeddedTransport).certificateHolders(fingerprint) : []),
    disconnectCertificate: (fingerprint, deviceId) =>
      'disconnectCertificate' in transport ? (transport as EmbeddedTransport).disconnectCertificate(fingerprint, deviceId) : 0,
  });
  // The embedded broker's sessions die with the process: devices still marked connected from before a
  // start and not back within the grace window are marked offline (src/services/stale-presence.ts).
  // An external broker keeps its sessions through a restart of Doppel and reports presence itself.
  const stalePresence =
    transport.kind === 'embedded'
      ? createStalePresenceSweep({
          disconnectStale: (asOf) => deviceAccess.disconnectStale(asOf),
          graceMs: config.presenceGraceMs,
          logger: child('presence'),
          metrics,
        })
      : undefined;
  const commands = createCommandService({
    db: database,
    bus,
    logger: child('commands'),
    metrics,
    models,
    config: config.commands,
    outbox: createMqttCommandOutbox(transport),
    audit,
    recovery: storeRecovery,
    ...(deps.tracer ? { tracer: deps.tracer } : {}),
  });
  // Dead letters: the bridge records them; a replay runs the message through the bridge again (bound late).
  const deadLetters = createDeadLetterService({
    sql: database.sql,
    logger: child('dead-letters'),
    metrics,
    audit,
    config: config.deadLetters,
    replayer: (message) => bridge.replay(message),
  });
  const bridge = createBridge({
    transport,
    devices: deviceAccess,
    twins,
    telemetry,
    lastSeen,
    metrics,
    logger: child('bridge'),
    maxPayloadBytes: config.maxPayloadBytes,
    twinLimits: config.twinLimits,
    loadDelta: (deviceId) => twins.readDelta(deviceId),
    commands,
    receipts: hooks.telemetryReceipts,
    deadLetters,
  });
  const sessions: DeviceSessions = {
    disconnect: (deviceId) => transport.disconnect(deviceId),
    retireSessions: (deviceId, at) => transport.retireSessions(deviceId, at),
    clearRetained: (deviceId) => bridge.clearRetained(deviceId),
  };
  const sealKey = config.dynsec?.secretKey;
  const devices = createDeviceService({
    db: database,
    bus,
    logger,
    audit,
    sessions,
    metrics,
    ...(dynsec && sealKey
      ? {
          onSecurityEvent: (event) => dynsec.apply(event),
          onSecurityEvents: (events) => dynsec.applyMany(events),
          sealSecret: (deviceId: string, secret: string) => sealSecret(secret, sealKey, deviceId),
        }
      : {}),
  });

  const provisioning: ProvisioningService = createProvisioningService({
    db: database,
    logger: child('provisioning'),
    metrics,
    audit,
    devices,
    // Group keys are sealed under the server's secret key, the one webhook signing secrets use (src/security/webhook-key.ts).
    groupKeys: {
      seal: (policyId, groupKey) => provisioningSealer.seal(`provisioning-group-key:${policyId}`, groupKey),
      open: (policyId, sealed) => provisioningSealer.open(`provisioning-group-key:${policyId}`, sealed),
    },
    ...(dynsec && sealKey ? { sealSecret: (deviceId: string, secret: string) => sealSecret(secret, sealKey, deviceId) } : {}),
  });
  const provisioningSealer = lazySecretSealer(config);

  // Rules: evaluated where data is stored (the stored hooks), timers swept from the database.
  const rulesEngine = createRulesEngine({ db: database, bus, logger: child('rules'), metrics, config: config.rules });
  const alarms = createAlarmControl({ prisma, engine: rulesEngine, bus, audit });
  // Subscribed for the app's life: batches stored while shutting down ('mqtt' drains the hooks and the
  // engine) are still judged. Not awaited per batch, so batches stored during an evaluation coalesce
  // into the next one (src/services/rules/engine/coalesce.ts).
  hooks.telemetryStored.subscribe((batch) => void rulesEngine.onTelemetryStored(batch));
  hooks.twinsStored.subscribe((batch) => void rulesEngine.onTwinsStored(batch));
  hooks.connectionStored.subscribe((batch) => void rulesEngine.onConnectionStored(batch));

  // The HTTP edge.
  const tokenWatch = createTokenWatch({ bus, sql: database.sql, logger, recheckIntervalMs: config.apiTokenRecheckMs });
  // Verified API tokens in memory: requests authenticate without a database round trip (src/auth/token-cache.ts).
  const tokenCache = createTokenCache({
    prisma,
    database,
    bus,
    logger: child('token-cache'),
    recheckMs: config.apiTokenRecheckMs,
    maxEntries: DEFAULT_TOKEN_CACHE_ENTRIES,
  });
  // Hourly and daily rollups are derived from the 15-minute ones in the background (and before a series reads them).
  const rollups = createRollupSettler({ database, logger: child('rollups'), metrics, config: config.telemetry });
  // The hot device and twin reads of the API: one statement each, straight on the driver, shared by the
  // reads concurrent requests make in one turn of the event loop (src/services/device-reads.ts).
  const deviceReadBatches = createDeviceReadBatches(database.sql);
  describeDeviceReaderMetrics(metrics);
  watchFleetGauges(metrics, database.sql);
  const deviceReader = () => createDeviceReader(database.sql, deviceReadBatches, metrics);
  const telemetryReader = () => createTelemetryReader({ query: (sql, ...params) => prisma.$queryRawUnsafe(sql, ...params), rollups, config: config.telemetry });
  // Rules: management and backtests (src/services/rules/); their actions run from the outbox (below).
  const rules = createRuleService({
    db: database,
    models,
    audit,
    logger: child('rules'),
    twinLimits: config.twinLimits,
    maxPerTenant: config.rules.maxPerTenant,
    // A saved rule is judged at once on its devices' current twin values and connection states.
    onSaved: (ruleId) => rulesEngine.judgeSaved(ruleId),
  });
  const ruleBacktest = createRuleBacktest({ sql: database.sql, rules });
  // Webhook endpoints (docs/webhooks.md): the API side; the outbox deliverer sends what they subscribe to,
  // opening the secrets with this same sealer (one key, resolved on first use).
  const webhookSealer = lazySecretSealer(config);
  const webhooks = createWebhookService({ sql: database.sql, audit, metrics, config: config.webhooks, sealer: webhookSealer });
  const services = {
    prisma,
    bus,
    config,
    logger,
    devices,
    twins,
    twinReplay: createTwinReplay({ sql: database.sql, bus, metrics }),
    audit,
    models,
    tokens,
    commands,
    deadLetters,
    webhooks,
    telemetryReader,
    deviceReader,
    rules,
    ruleBacktest,
    alarms,
    provisioning,
    deviceCertificates,
  };
  // process_* and nodejs_* (CPU, memory, event-loop lag, GC) on this server's registry; once per registry.
  metrics.collectProcessMetrics();
  const edge = createEdge(config.graphql, metrics);
  const yoga = createGraphQL(services, { graphiql: config.graphql.graphiql, edge, tokenWatch, metrics, resolveToken: tokenCache.resolve, tracer: deps.tracer });
  const brokerAuth = createBrokerAuth({
    secret: config.brokerAuthSecret,
    authenticator: brokerAuthenticator,
    provisioning: provisioningGate,
    ...(config.mqtt.kind === 'external' && config.mqtt.username && config.mqtt.password
      ? { serviceUser: { username: config.mqtt.username, password: config.mqtt.password } }
      : {}),
    logger: child('broker-auth'),
    metrics,
  });
  const consoleRoutes = config.console.enabled
    ? createConsoleRoutes({
        log: child('console'),
        bootstrapTokenFile: config.console.offerBootstrapToken ? path.resolve(config.dataDir, 'admin-token') : undefined,
      })
    : undefined;
  const route = createHttpRouter({
    ...(consoleRoutes ? { console: consoleRoutes } : {}),
    readiness: () => readiness.check(),
    metrics,
    metricsToken: config.metricsToken,
    brokerAuth,
    checkBody: (req) => edge.checkBody(req),
    graphql: (req, res) => yoga.requestListener(req, res),
  });
  const handleRequest = (req: http.IncomingMessage, res: http.ServerResponse) => void route(req, res);
  // Over HTTPS the key and certificate are set by the 'tls' component, before the listener starts.
  const httpServer: http.Server = config.https
    ? (https.createServer({ minVersion: 'TLSv1.2' }, handleRequest) as unknown as http.Server)
    : http.createServer(handleRequest);
  const ws = attachWebSocket(httpServer, yoga, services, metrics, edge, tokenWatch, tokenCache.resolve);
  // MQTT over WebSocket (MQTT_WS): the embedded broker at /mqtt on this server; with an external broker /mqtt upgrades get 404.
  if (config.mqttWebSocket && transport.kind === 'embedded' && 'webSocket' in transport)
    upgradeRoutes(httpServer).add(MQTT_WS_PATH, (request, socket, head) => (transport as EmbeddedTransport).webSocket.handleUpgrade(request, socket, head));

  const retention = createTelemetryRetention({ sql: database.sql, logger: child('retention'), metrics, config: config.telemetry });
  // Off unless an age is configured: twin changes, final commands, audit events (docs/operations.md).
  const historyRetention = createHistoryRetention({ sql: database.sql, logger: child('history-retention'), metrics, config: config.historyRetention });
  // The outbox deliverer (docs/outbox.md): signed webhooks and rule actions, on every instance when enabled.
  // Rule actions run through the same validated paths a person uses (src/services/rules/action-executor.ts).
  const outbox = config.webhooks.enabled
    ? createOutboxService({
        db: database,
        config: config.webhooks,
        sealer: webhookSealer,
        audit,
        metrics,
        logger: child('outbox'),
        executor: createActionExecutor({ sql: database.sql, commands, twins }),
      })
    : undefined;
  // Local twin changes go out without waiting for a poll (other instances' changes wait at most one).
  if (outbox) hooks.twinsStored.subscribe(() => outbox.wake());
  const outboxRetention = config.webhooks.enabled
    ? createOutboxRetention({ sql: database.sql, logger: child('outbox-retention'), metrics, retentionDays: config.webhooks.retentionDays })
    : undefined;
  const upkeep =
    // PGlite has no checkpointer and no autovacuum: without this it wedges after ≈ 550 MB of WAL (src/db/maintenance.ts).
    database.kind === 'pglite'
      ? createEmbeddedMaintenance({ sql: database.sql, logger: child('embedded-db'), metrics, config: config.embeddedMaintenance })
      : undefined;

  const components: Component[] = [
    ...(serverTls || config.https
      ? [
          {
            name: 'tls',
            async start() {
              const material = await serverTls?.start();
              if (config.https) {
                const secure = httpServer as unknown as https.Server;
                if (config.https.source === 'given') secure.setSecureContext(await readHttpsFiles(config.https.certPath, config.https.keyPath));
                else if (material) secure.setSecureContext(secureContextOf(material));
              }
              serverTls?.onRenewed((renewed) => {
                tlsOf(transport)?.setSecureContext(secureContextOf(renewed));
                if (config.https?.source === 'server-tls') (httpServer as unknown as https.Server).setSecureContext(secureContextOf(renewed));
              });
            },
            stop: () => serverTls?.stop(),
          },
        ]
      : []),
    { name: 'token-watch', stop: () => tokenWatch.stop() },
    { name: 'token-cache', start: () => tokenCache.start(), stop: () => tokenCache.stop() },
    {
      name: 'http-server',
      async stop() {
        await ws.close();
        httpServer.closeAllConnections();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      },
    },
    // Before the transport connects: the reconcile also gives Doppel's own broker user its role.
    ...(dynsec ? [{ name: 'dynsec', start: () => dynsec.start(), stop: () => dynsec.stop() }] : []),
    {
      // Inbound work stops first on shutdown, then queued twin and telemetry writes drain.
      name: 'mqtt',
      async start() {
        // Taken before the broker accepts anyone: every device seen after it has a later lastSeenAt.
        const brokerStartedAt = new Date();
        await transport.start();
        stalePresence?.start(brokerStartedAt);
      },
      async stop() {
        await stalePresence?.stop();
        await transport.stop();
        await Promise.all([twins.drain(), telemetry.drain()]);
        // Rules evaluate what was just stored; connection changes too.
        await Promise.all([hooks.telemetryStored.drain(), hooks.twinsStored.drain(), hooks.connectionStored.drain()]);
        await rulesEngine.drain();
        await lastSeen.stop();
        storeRecovery.stop();
      },
    },
    // The sweeper drives expiries, timeouts and delivery retries from the database.
    { name: 'command-sweeper', start: () => commands.start(), stop: () => commands.stop() },
    ...(outbox ? [{ name: 'outbox', start: () => outbox.start(), stop: () => outbox.stop() }] : []),
    ...(outboxRetention ? [{ name: 'outbox-retention', start: () => outboxRetention.start(), stop: () => outboxRetention.stop() }] : []),
    // The rule sweeper fires window deadlines from the database.
    { name: 'rules', start: () => rulesEngine.start(), stop: () => rulesEngine.stop() },
    { name: 'retention', start: () => retention.start(), stop: () => retention.stop() },
    { name: 'history-retention', start: () => historyRetention.start(), stop: () => historyRetention.stop() },
    { name: 'rollups', start: () => rollups.start(), stop: () => rollups.stop() },
    { name: 'provisioning-attempt-retention', start: () => provisioning.retention.start(), stop: () => provisioning.retention.stop() },
    { name: 'dead-letter-retention', start: () => deadLetters.retention.start(), stop: () => deadLetters.retention.stop() },
    ...(upkeep ? [{ name: 'embedded-db-upkeep', start: () => upkeep.start(), stop: () => upkeep.stop() }] : []),
    {
      // Last: the API answers once everything behind it runs. Closed by 'http-server'.
      name: 'http-listener',
      start: () =>
        new Promise<void>((resolve, reject) => {
          httpServer.once('error', reject);
          httpServer.listen(config.port, config.host, () => resolve());
        }),
    },
  ];

  return {
    components,
    dynsec,
    address() {
      const { port } = httpServer.address() as AddressInfo;
      const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
      const mqttUrl = transport.kind === 'embedded' ? `mqtt://${host}:${transport.port}` : (config.mqtt as { url: string }).url;
      const mqttTlsPort = tlsOf(transport)?.tlsPort;
      const material = serverTls?.current();
      return {
        httpPort: port,
        host,
        mqttPort: transport.port,
        mqttUrl,
        httpScheme: config.https ? 'https' : 'http',
        mqttTlsPort,
        mqttTlsUrl: mqttTlsPort === undefined ? undefined : `mqtts://${host}:${mqttTlsPort}`,
        caPath: material?.caPath,
        caFingerprint: material?.caFingerprint,
      };
    },
  };
}

/** The embedded broker's TLS controls, when this transport is the embedded broker. */
function tlsOf(transport: MqttTransport): Pick<EmbeddedTransport, 'tlsPort' | 'setSecureContext'> | undefined {
  return transport.kind === 'embedded' && 'setSecureContext' in transport ? (transport as EmbeddedTransport) : undefined;
}

/** The key and certificate chain a TLS listener serves. */
function secureContextOf(material: ServerTlsMaterial) {
  return { key: material.keyPem, cert: material.certPem };
}

/** HTTPS_CERT / HTTPS_KEY, read when the API starts; a bad pair fails the start with the path in the message. */
async function readHttpsFiles(certPath: string, keyPath: string) {
  const read = (variable: string, file: string) =>
    fs.readFile(file, 'utf8').catch((error: Error) => {
      throw new Error(`${variable}: cannot read ${file}: ${error.message}`);
    });
  return { cert: await read('HTTPS_CERT', certPath), key: await read('HTTPS_KEY', keyPath) };
}

function createTransport(
  config: Config,
  authenticator: DeviceAuthenticator,
  logger: Logger,
  metrics: Metrics,
  provisioning: ProvisioningGate,
  serverTls: ServerTls | undefined,
  certificates?: CertificateFacts,
): MqttTransport {
  const tlsListener = config.mqtt.kind === 'embedded' ? config.mqtt.tls : undefined;
  return config.mqtt.kind === 'embedded'
    ? createEmbeddedTransport({
        port: config.mqtt.port,
        host: config.mqtt.host,
        authenticator,
        logger: logger.child({ component: 'broker' }),
        maxPayloadBytes: config.maxPayloadBytes,
        metrics,
        maxConnectsPerSecond: config.maxConnectsPerSecond,
        provisioning,
        ...(tlsListener && serverTls ? { tls: { port: tlsListener.port, host: tlsListener.host, context: () => secureContextOf(serverTls.current()) } } : {}),
        certificates,
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
        provisioning,
      });
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
