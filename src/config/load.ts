/**
 * Configuration, read once from the environment and validated at start-up. Single variables are read
 * as src/config/spec.ts declares them; the rules here are the ones that tie variables together. Every
 * bad variable is reported at once with its own message, so an operator fixes them in one go.
 */
import { GRAIN_NAMES, ROLLUP_GRAINS } from '../domain/telemetry/rollups.ts';
import { parseCidr } from '../domain/webhooks/destination.ts';
import { parseSealKey } from '../security/secrets.ts';
import { createEnvReader, type Env, type EnvReader, type UrlValue } from './read.ts';
import os from 'node:os';
import { defaultServerNames, normalizeNames } from '../security/tls/certificates.ts';
import type { Config, DatabaseConfig, DynsecConfig, HttpsConfig, MqttConfig, MqttTlsConfig, WebhooksConfig } from './types.ts';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * For commands (the server, the CLIs): the configuration, or undefined after `report` was given every
 * problem — the caller then exits with status 2. Errors other than configuration problems propagate.
 */
export function loadConfigOrReport(env: Env = process.env, report: (message: string) => void = (message) => console.error(message)): Config | undefined {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      report(error.message);
      return undefined;
    }
    throw error;
  }
}

/** Reads and validates the configuration from an environment (defaults to `process.env`). */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const read = createEnvReader(env, problems);

  // Production turns off what only helps a developer (GraphiQL, introspection); each can be set explicitly.
  const production = read.text('NODE_ENV') === 'production';
  const dataDir = read.text('DOPPEL_DATA_DIR');
  const port = read.int('PORT');
  const host = read.text('HOST');
  const database = databaseFrom(read.url('DATABASE_URL'), dataDir, read.int('DATABASE_CONNECT_TIMEOUT_MS'));
  const mqtt = mqttFrom(read, production, problems);
  const https = httpsFrom(read, mqtt, problems);
  const logLevel = read.oneOf('LOG_LEVEL');
  const introspection = read.bool('GRAPHQL_INTROSPECTION', !production);
  const dynsec = read.bool('MQTT_DYNSEC') ? dynsecFrom(read, mqtt, problems) : undefined;
  const redis = redisFrom(read);
  const brokerAuthSecret = read.secret('MQTT_HTTP_AUTH_SECRET');
  const metricsToken = read.secret('METRICS_TOKEN');
  const mqttWebSocket = read.bool('MQTT_WS') && mqtt.kind === 'embedded';

  const config: Config = {
    port,
    host,
    database,
    mqtt,
    https,
    mqttWebSocket,
    ...(metricsToken !== undefined ? { metricsToken } : {}),
    logLevel,
    logFormat: read.oneOf('LOG_FORMAT'),
    dataDir,
    embeddedMaintenance: {
      checkpointWalBytes: read.int('PGLITE_CHECKPOINT_WAL_MB') * 1024 * 1024,
      checkIntervalMs: read.int('PGLITE_CHECKPOINT_CHECK_MS'),
      vacuumIntervalMs: read.int('PGLITE_VACUUM_INTERVAL_MS'),
    },
    bootstrapAdminToken: read.bool('DOPPEL_BOOTSTRAP_TOKEN'),
    apiTokenRecheckMs: read.int('API_TOKEN_RECHECK_MS'),
    presenceGraceMs: read.int('MQTT_PRESENCE_GRACE_S') * 1000,
    maxConnectsPerSecond: read.int('MQTT_MAX_CONNECTS_PER_S'),
    maxPayloadBytes: read.int('MQTT_MAX_PAYLOAD_BYTES'),
    twinLimits: {
      maxSectionBytes: read.int('TWIN_MAX_SECTION_BYTES'),
      maxDepth: read.int('TWIN_MAX_DEPTH'),
      maxKeyLength: read.int('TWIN_MAX_KEY_LENGTH'),
      maxFutureSkewMs: read.int('TWIN_MAX_FUTURE_SKEW_MS'),
      tombstoneTtlMs: read.int('TWIN_TOMBSTONE_TTL_MS'),
      maxMetadataEntries: read.int('TWIN_MAX_METADATA_ENTRIES'),
    },
    telemetry: {
      maxMessageBytes: read.int('TELEMETRY_MAX_MESSAGE_BYTES'),
      maxValuesPerMessage: read.int('TELEMETRY_MAX_VALUES_PER_MESSAGE'),
      maxBatchEntries: read.int('TELEMETRY_MAX_BATCH_ENTRIES'),
      maxFutureSkewMs: read.int('TELEMETRY_MAX_FUTURE_SKEW_MS'),
      batchMaxPoints: read.int('TELEMETRY_BATCH_MAX_POINTS'),
      batchMaxAgeMs: read.int('TELEMETRY_BATCH_MAX_AGE_MS'),
      maxPendingPoints: read.int('TELEMETRY_MAX_PENDING_POINTS'),
      backpressureTimeoutMs: read.int('TELEMETRY_BACKPRESSURE_TIMEOUT_MS'),
      writeConcurrency: read.int('TELEMETRY_WRITE_CONCURRENCY'),
      rollupSettleIntervalMs: read.int('TELEMETRY_ROLLUP_SETTLE_INTERVAL_MS'),
      seriesMaxBuckets: read.int('TELEMETRY_SERIES_MAX_BUCKETS'),
      seriesMaxMetrics: read.int('TELEMETRY_SERIES_MAX_METRICS'),
      seriesRollups: read.bool('TELEMETRY_SERIES_ROLLUPS'),
      rawRetentionDays: read.int('TELEMETRY_RAW_RETENTION_DAYS'),
      rollupRetentionDays: {
        900: read.int('TELEMETRY_ROLLUP_15M_RETENTION_DAYS'),
        3600: read.int('TELEMETRY_ROLLUP_1H_RETENTION_DAYS'),
        86400: read.int('TELEMETRY_ROLLUP_1D_RETENTION_DAYS'),
      },
      retentionIntervalMs: read.int('TELEMETRY_RETENTION_INTERVAL_MS'),
      retentionBatchRows: read.int('TELEMETRY_RETENTION_BATCH_ROWS'),
    },
    console: {
      enabled: read.bool('CONSOLE'),
      // A development convenience (docs/console.md): never in production.
      offerBootstrapToken: read.bool('DOPPEL_BOOTSTRAP_TOKEN') && !production,
    },
    graphql: {
      graphiql: read.bool('GRAPHQL_GRAPHIQL', introspection && !production),
      introspection,
      maxDepth: read.int('GRAPHQL_MAX_DEPTH'),
      maxAliases: read.int('GRAPHQL_MAX_ALIASES'),
      maxTokens: read.int('GRAPHQL_MAX_TOKENS'),
      maxCost: read.int('GRAPHQL_MAX_COST'),
      maxBodyBytes: read.int('GRAPHQL_MAX_BODY_BYTES'),
      rateLimitPerSecond: read.int('GRAPHQL_RATE_LIMIT_PER_S'),
      rateLimitBurst: read.int('GRAPHQL_RATE_LIMIT_BURST'),
    },
    commands: {
      rateLimit: read.int('COMMAND_RATE_LIMIT'),
      rateWindowMs: read.int('COMMAND_RATE_WINDOW_MS'),
      sweepIntervalMs: read.int('COMMAND_SWEEP_INTERVAL_MS'),
      maxFleetSize: read.int('COMMAND_MAX_FLEET_SIZE'),
      maxParamsBytes: read.int('COMMAND_MAX_PARAMS_BYTES'),
    },
    deadLetters: {
      retentionDays: read.int('DEAD_LETTER_RETENTION_DAYS'),
      maxPerTenant: read.int('DEAD_LETTER_MAX_PER_TENANT'),
      sweepIntervalMs: read.int('DEAD_LETTER_SWEEP_INTERVAL_MS'),
    },
    historyRetention: {
      twinChangeDays: read.int('TWIN_HISTORY_RETENTION_DAYS'),
      commandDays: read.int('COMMAND_RETENTION_DAYS'),
      auditDays: read.int('AUDIT_RETENTION_DAYS'),
      intervalMs: read.int('HISTORY_RETENTION_INTERVAL_MS'),
      batchRows: read.int('HISTORY_RETENTION_BATCH_ROWS'),
    },
    rules: {
      maxPerTenant: read.int('RULES_MAX_PER_TENANT'),
      sweepIntervalMs: read.int('RULES_SWEEP_INTERVAL_MS'),
      flapMaxEdges: read.int('RULES_FLAP_MAX_EDGES'),
      flapWindowMs: read.int('RULES_FLAP_WINDOW_MS'),
      stateWatermarkMs: read.int('RULES_STATE_WATERMARK_MS'),
    },
    webhooks: webhooksFrom(read, problems),
    shutdownTimeoutMs: read.int('SHUTDOWN_TIMEOUT_MS'),
    dynsec,
    brokerAuthSecret,
    redis,
    tracing: tracingFrom(read),
  };

  problems.push(...crossFieldProblems(config));
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The WEBHOOK_* variables; a bad key or CIDR is a problem, not a silent default. */
function webhooksFrom(read: EnvReader, problems: string[]): WebhooksConfig {
  const rawKey = read.secret('WEBHOOK_SECRET_KEY');
  const secretKey = rawKey === undefined ? undefined : parseSealKey(rawKey);
  if (rawKey !== undefined && !secretKey) problems.push('WEBHOOK_SECRET_KEY must be 32 bytes: 64 hex characters or base64');
  const allowedNetworks = read
    .text('WEBHOOKS_ALLOWED_NETWORKS')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  for (const entry of allowedNetworks) {
    if (!parseCidr(entry)) problems.push(`WEBHOOKS_ALLOWED_NETWORKS: "${entry}" is not a CIDR (e.g. 10.0.0.0/8, 127.0.0.1/32, fd00::/8)`);
  }
  return {
    enabled: read.bool('WEBHOOKS_ENABLED'),
    allowHttp: read.bool('WEBHOOKS_ALLOW_HTTP'),
    allowedNetworks,
    secretKey,
    timeoutMs: read.int('WEBHOOK_TIMEOUT_MS'),
    leaseMs: read.int('WEBHOOK_LEASE_MS'),
    maxInFlight: read.int('WEBHOOK_MAX_IN_FLIGHT'),
    claimBatch: read.int('WEBHOOK_CLAIM_BATCH'),
    pollIntervalMs: read.int('WEBHOOK_POLL_INTERVAL_MS'),
    maxAttempts: read.int('WEBHOOK_MAX_ATTEMPTS'),
    maxAgeMs: read.int('WEBHOOK_MAX_AGE_HOURS') * 3_600_000,
    disableAfterMs: read.int('WEBHOOK_DISABLE_AFTER_HOURS') * 3_600_000,
    retentionDays: read.int('WEBHOOK_RETENTION_DAYS'),
  };
}

/** DATABASE_URL picks PostgreSQL or a PGlite directory (or memory); unset or bad, PGlite under the data directory. */
function databaseFrom(url: UrlValue | undefined, dataDir: string, connectTimeoutMs: number): DatabaseConfig {
  if (!url?.valid) return { kind: 'pglite', dataDir: `${dataDir}/pglite` };
  const { value } = url;
  if (/^postgres(ql)?:\/\//.test(value)) return { kind: 'postgres', url: value, connectTimeoutMs };
  if (value === 'memory://' || value === 'pglite:memory') return { kind: 'pglite', dataDir: undefined };
  // pglite:<dir> or file:<dir>
  return { kind: 'pglite', dataDir: value.slice(value.indexOf(':') + 1) };
}

/** MQTT_URL picks an external broker, whose settings are read only then; unset or bad, the embedded one. */
function mqttFrom(read: EnvReader, production: boolean, problems: string[]): MqttConfig {
  const url = read.url('MQTT_URL');
  // Read (and checked) with an external broker too, so a mistake shows before it matters.
  const tlsMode = read.oneOf('MQTT_TLS');
  const tlsListener = mqttTlsFrom(read, problems);
  const givenHost = read.text('MQTT_HOST');
  const allowPlaintext = read.bool('MQTT_ALLOW_PLAINTEXT');
  const port = read.int('MQTT_PORT');
  if (!url?.valid) {
    const tls = tlsMode === 'off' ? undefined : tlsListener;
    // Once devices have an encrypted way in, the plain listener is for this machine only unless asked otherwise.
    const host = givenHost ?? (tls ? '127.0.0.1' : '0.0.0.0');
    return { kind: 'embedded', port, host, tls, allowPlaintext, production };
  }
  const group = read.text('MQTT_SHARED_GROUP');
  const username = read.text('MQTT_USERNAME');
  const password = read.secret('MQTT_PASSWORD');
  const clientId = read.text('MQTT_CLIENT_ID');
  const sessionExpirySeconds = read.int('MQTT_SESSION_EXPIRY_S');
  const maxInFlight = read.int('MQTT_MAX_IN_FLIGHT');
  return {
    kind: 'external',
    url: url.value,
    group,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
    sessionExpirySeconds,
    maxInFlight,
  };
}

/** The TLS listener's settings; a certificate without its key (or the other way round) is a problem. */
function mqttTlsFrom(read: EnvReader, problems: string[]): MqttTlsConfig {
  const certPath = read.text('MQTT_TLS_CERT');
  const keyPath = read.text('MQTT_TLS_KEY');
  const caPath = read.text('MQTT_TLS_CA');
  if (Boolean(certPath) !== Boolean(keyPath)) problems.push('MQTT_TLS_CERT and MQTT_TLS_KEY must be set together');
  if (caPath && !certPath) problems.push('MQTT_TLS_CA needs MQTT_TLS_CERT and MQTT_TLS_KEY (the generated CA is used otherwise)');
  const hostnames = read.text('MQTT_TLS_HOSTNAMES');
  return {
    port: read.int('MQTT_TLS_PORT'),
    host: read.text('MQTT_TLS_HOST'),
    hostnames: hostnames ? normalizeNames(hostnames.split(',')) : defaultServerNames(os.hostname()),
    given: certPath && keyPath ? { certPath, keyPath, ...(caPath ? { caPath } : {}) } : undefined,
  };
}

/** HTTPS_CERT/HTTPS_KEY, or HTTPS=auto with the MQTT TLS certificate. */
function httpsFrom(read: EnvReader, mqtt: MqttConfig, problems: string[]): HttpsConfig | undefined {
  const certPath = read.text('HTTPS_CERT');
  const keyPath = read.text('HTTPS_KEY');
  if (Boolean(certPath) !== Boolean(keyPath)) problems.push('HTTPS_CERT and HTTPS_KEY must be set together');
  const mode = read.oneOf('HTTPS');
  if (certPath && keyPath) return { source: 'given', certPath, keyPath };
  if (mode !== 'auto') return undefined;
  if (mqtt.kind !== 'embedded' || !mqtt.tls) {
    problems.push('HTTPS=auto uses the MQTT TLS server certificate, which needs the embedded broker with MQTT_TLS on; set HTTPS_CERT and HTTPS_KEY instead');
    return undefined;
  }
  return { source: 'server-tls' };
}

/** MQTT_DYNSEC=1 needs an external broker, an admin client and a sealing key; each missing one is a problem. */
function dynsecFrom(read: EnvReader, mqtt: MqttConfig, problems: string[]): DynsecConfig {
  if (mqtt.kind !== 'external') problems.push('MQTT_DYNSEC=1 needs an external broker (MQTT_URL)');
  const url = read.url('MQTT_DYNSEC_URL')?.value ?? (mqtt.kind === 'external' ? mqtt.url : '');
  const username = read.text('MQTT_DYNSEC_USERNAME') ?? '';
  const password = read.secret('MQTT_DYNSEC_PASSWORD') ?? '';
  if (!username || !password) problems.push('MQTT_DYNSEC=1 needs MQTT_DYNSEC_USERNAME and MQTT_DYNSEC_PASSWORD (a dynamic-security admin client)');
  const rawKey = read.secret('MQTT_DYNSEC_SECRET_KEY');
  const secretKey = rawKey === undefined ? undefined : parseSealKey(rawKey);
  if (!secretKey) {
    problems.push('MQTT_DYNSEC=1 needs MQTT_DYNSEC_SECRET_KEY: 32 random bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)');
  }
  return {
    url,
    username,
    password,
    secretKey: secretKey ?? Buffer.alloc(32),
    reconcileIntervalSeconds: read.int('MQTT_DYNSEC_RECONCILE_S'),
    batchSize: read.int('MQTT_DYNSEC_BATCH'),
    timeoutMs: read.int('MQTT_DYNSEC_TIMEOUT_MS'),
  };
}

/** OTEL_EXPORTER_OTLP_ENDPOINT turns tracing on; the service name is read only then. */
function tracingFrom(read: EnvReader): Config['tracing'] {
  const endpoint = read.url('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpoint === undefined) return undefined;
  return { endpoint: endpoint.value, serviceName: read.text('OTEL_SERVICE_NAME') };
}

/** REDIS_URL turns on the cross-instance fan-out; its channel is read only then. */
function redisFrom(read: EnvReader): Config['redis'] {
  const url = read.url('REDIS_URL');
  if (url === undefined) return undefined;
  return { url: url.value, channel: read.text('REDIS_EVENTS_CHANNEL') };
}

/** Rules between fields that are each valid alone. */
function crossFieldProblems(config: Config): string[] {
  const problems: string[] = [];
  // GraphiQL learns the schema by introspection; without it the page loads and then cannot work.
  if (config.graphql.graphiql && !config.graphql.introspection) {
    problems.push('GRAPHQL_GRAPHIQL=true needs GRAPHQL_INTROSPECTION=true (GraphiQL reads the schema by introspection)');
  }

  // A device clock ahead by the allowed skew and then corrected must not land behind its own horizon.
  const twin = config.twinLimits;
  if (twin.tombstoneTtlMs < twin.maxFutureSkewMs) {
    problems.push(`TWIN_TOMBSTONE_TTL_MS=${twin.tombstoneTtlMs} must be at least TWIN_MAX_FUTURE_SKEW_MS (${twin.maxFutureSkewMs})`);
  }

  // A lease shorter than an attempt would let a second instance send an event still in flight.
  if (config.webhooks.leaseMs <= config.webhooks.timeoutMs) {
    problems.push(`WEBHOOK_LEASE_MS=${config.webhooks.leaseMs} must be greater than WEBHOOK_TIMEOUT_MS (${config.webhooks.timeoutMs})`);
  }

  // The batcher can only hold a message whole, and must fit at least one full batch.
  const tel = config.telemetry;
  if (tel.maxPendingPoints < tel.batchMaxPoints) {
    problems.push(`TELEMETRY_MAX_PENDING_POINTS=${tel.maxPendingPoints} must be at least TELEMETRY_BATCH_MAX_POINTS (${tel.batchMaxPoints})`);
  }
  if (tel.maxPendingPoints < tel.maxValuesPerMessage) {
    problems.push(`TELEMETRY_MAX_PENDING_POINTS=${tel.maxPendingPoints} must be at least TELEMETRY_MAX_VALUES_PER_MESSAGE (${tel.maxValuesPerMessage})`);
  }

  // Rollups exist to outlive raw rows: a grain deleted before the raw rows would make series over the
  // gap read nothing where raw rows still exist.
  for (const grain of ROLLUP_GRAINS) {
    const days = tel.rollupRetentionDays[grain];
    const name = `TELEMETRY_ROLLUP_${GRAIN_NAMES[grain].toUpperCase()}_RETENTION_DAYS`;
    if (days > 0 && (tel.rawRetentionDays === 0 || days < tel.rawRetentionDays)) {
      problems.push(
        `${name}=${days} must be 0 (forever) or at least TELEMETRY_RAW_RETENTION_DAYS (${tel.rawRetentionDays === 0 ? '0, forever' : tel.rawRetentionDays}): rollups must outlive raw rows`,
      );
    }
  }

  // Device passwords in clear text across a network: only when an operator says so (docs/security.md).
  const mqtt = config.mqtt;
  if (mqtt.kind === 'embedded' && mqtt.production && !mqtt.allowPlaintext && !isLoopbackHost(mqtt.host)) {
    problems.push(
      `MQTT_HOST=${mqtt.host}: with NODE_ENV=production the plain MQTT listener may only bind to loopback (127.0.0.1, ::1); devices connect over TLS on MQTT_TLS_PORT. Set MQTT_ALLOW_PLAINTEXT=true to accept clear-text device passwords on the network`,
    );
  }
  return problems;
}

/** 127.0.0.0/8, ::1 and `localhost`: interfaces no other machine reaches. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
