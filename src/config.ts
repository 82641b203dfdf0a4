import type { TwinLimits } from './domain/twin.ts';
import { parseSealKey } from './security/secrets.ts';

/**
 * Configuration, read once from the environment and validated at start-up.
 * Every bad variable is reported at once with its own message, so an operator fixes them in one go.
 */
import { GRAIN_NAMES, ROLLUP_GRAINS, type RollupGrain } from './domain/telemetry/rollups.ts';

export type DatabaseConfig =
  | { kind: 'pglite'; /** data directory, or undefined for an in-memory database */ dataDir: string | undefined }
  | { kind: 'postgres'; url: string };

export interface EmbeddedMaintenanceConfig {
  /** A CHECKPOINT runs once this much WAL was written since the last one (PGLITE_CHECKPOINT_WAL_MB). */
  checkpointWalBytes: number;
  /** How often the WAL distance is checked, in ms. */
  checkIntervalMs: number;
  /** How often hot, updated-in-place tables are vacuumed and analyzed, in ms; 0 = never. */
  vacuumIntervalMs: number;
}

export type MqttConfig =
  | { kind: 'embedded'; port: number; host: string }
  | {
      kind: 'external';
      url: string;
      /** shared-subscription group name used by every Doppel instance */
      group: string;
      username?: string;
      password?: string;
      /**
       * Stable client id of this instance (MQTT_CLIENT_ID). With one, the broker keeps a persistent
       * session for it and queues / redelivers unacknowledged QoS 1 messages across a crash or restart.
       */
      clientId?: string;
      /** How long the broker keeps that session after we disconnect, in seconds (MQTT_SESSION_EXPIRY_S). */
      sessionExpirySeconds: number;
      /**
       * QoS 1 messages this instance processes at once (MQTT_MAX_IN_FLIGHT; advertised as Receive
       * Maximum). Each is acknowledged only after it is stored, so throughput ≤ this ÷ the store cycle.
       */
      maxInFlight: number;
    };

/**
 * Keeping Mosquitto's dynamic-security plugin in step with the device registry (src/mqtt/dynsec.ts).
 * Only with an external broker.
 */
export interface DynsecConfig {
  /** Broker to send `$CONTROL/dynamic-security/v1` commands to (MQTT_DYNSEC_URL, default MQTT_URL). */
  url: string;
  /** A dynsec admin client (MQTT_DYNSEC_USERNAME / MQTT_DYNSEC_PASSWORD). */
  username: string;
  password: string;
  /** 32-byte key encrypting device secrets at rest for reconcile (MQTT_DYNSEC_SECRET_KEY). */
  secretKey: Buffer;
  /** Reconcile again every this many seconds after the one at start-up; 0 = only at start-up. */
  reconcileIntervalSeconds: number;
  /** Commands per control message, and devices per reconcile page. */
  batchSize: number;
  /** How long to wait for the plugin's response to one control message, in ms. */
  timeoutMs: number;
}

export type { TwinLimits };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';


/** Telemetry ingestion: per-message limits and the batching pipeline (src/services/telemetry.ts). */
export interface TelemetryConfig {
  /** Largest telemetry message, in bytes (at most the MQTT payload limit, which applies first). */
  maxMessageBytes: number;
  /** Max values in one message, over all entries of an array payload. */
  maxValuesPerMessage: number;
  /** Max entries in an array (catch-up) payload. */
  maxBatchEntries: number;
  /** How far a device `ts` may be ahead of the server clock, in ms. */
  maxFutureSkewMs: number;
  /** A batch is written once this many points wait. */
  batchMaxPoints: number;
  /** A batch is written once its oldest message has waited this long, in ms. */
  batchMaxAgeMs: number;
  /** Points held in memory (waiting plus being written); beyond it publishers are held back. */
  maxPendingPoints: number;
  /** How long a message may wait for room before it is refused as OVERLOADED, in ms. */
  backpressureTimeoutMs: number;
  /** Batches written at once (each on its own database connection with PostgreSQL). */
  writeConcurrency: number;
  /** How often dirty hours' hourly and daily rollups are derived from the 15-minute ones, in ms. */
  rollupSettleIntervalMs: number;
  /** Most buckets one `Device.series` query may span (per metric); larger ranges are refused. */
  seriesMaxBuckets: number;
  /** Most metrics one `Device.series` query may name. */
  seriesMaxMetrics: number;
  /** Whether series read rollups where they line up with the buckets (else always raw rows). */
  seriesRollups: boolean;
  /** Raw points older than this many days are deleted in the background; 0 keeps them forever. */
  rawRetentionDays: number;
  /** Rollup rows older than this many days are deleted, per grain (seconds → days); 0 keeps them forever. */
  rollupRetentionDays: Record<RollupGrain, number>;
  /** How often the retention sweep runs, in ms. */
  retentionIntervalMs: number;
  /** Rows one retention DELETE removes at most (bounded batches keep locks and WAL bursts short). */
  retentionBatchRows: number;
}

/**
 * The GraphQL edge (src/http/edge.ts): what an operation may ask for before anything runs, and how
 * often one API token may ask. Every limit refuses with a stable `extensions.code` (docs/security.md).
 */
export interface GraphQLEdgeConfig {
  /** Serve GraphiQL at GET /graphql (GRAPHQL_GRAPHIQL; default on, off when NODE_ENV=production or introspection is off). */
  graphiql: boolean;
  /** Answer `__schema` / `__type` (GRAPHQL_INTROSPECTION; default on, off when NODE_ENV=production). */
  introspection: boolean;
  /** Deepest field nesting of an operation; fragments do not count as a level (GRAPHQL_MAX_DEPTH). */
  maxDepth: number;
  /** Most aliases in one operation, fragments included (GRAPHQL_MAX_ALIASES). */
  maxAliases: number;
  /** Most lexical tokens in one document; parsing stops there (GRAPHQL_MAX_TOKENS). */
  maxTokens: number;
  /** Highest estimated cost of one operation (GRAPHQL_MAX_COST; model in src/security/query-cost.ts). */
  maxCost: number;
  /** Largest HTTP request body and WebSocket message, in bytes (GRAPHQL_MAX_BODY_BYTES). */
  maxBodyBytes: number;
  /** Sustained operations per second per API token; 0 turns rate limiting off (GRAPHQL_RATE_LIMIT_PER_S). */
  rateLimitPerSecond: number;
  /** Operations one API token may make at once after being idle (GRAPHQL_RATE_LIMIT_BURST). */
  rateLimitBurst: number;
}

/** Commands (src/services/commands.ts). */
export interface CommandsConfig {
  /** Commands one device may be sent per window (COMMAND_RATE_LIMIT); fleet commands do not count. */
  rateLimit: number;
  /** The rate-limit window, in ms (COMMAND_RATE_WINDOW_MS). */
  rateWindowMs: number;
  /** How often the sweeper looks for expired and timed-out commands and undelivered ones, in ms (COMMAND_SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
  /** Most devices one fleet command may target (COMMAND_MAX_FLEET_SIZE). */
  maxFleetSize: number;
  /** Largest params object, serialized, in bytes (COMMAND_MAX_PARAMS_BYTES). */
  maxParamsBytes: number;
}

export interface Config {
  /** HTTP port for GraphQL, GraphiQL, /healthz and /readyz (0 = pick a free port). */
  port: number;
  host: string;
  database: DatabaseConfig;
  mqtt: MqttConfig;
  logLevel: LogLevel;
  /** Directory for embedded-mode files (PGlite data, the bootstrap admin token). */
  dataDir: string;
  /** Upkeep the embedded database does not do for itself (src/db/maintenance.ts); unused with PostgreSQL. */
  embeddedMaintenance: EmbeddedMaintenanceConfig;
  /** Whether to create an admin token on first start when none exists (embedded mode default). */
  bootstrapAdminToken: boolean;
  /** Max size of an MQTT payload accepted from a device, in bytes. */
  maxPayloadBytes: number;
  twinLimits: TwinLimits;
  telemetry: TelemetryConfig;
  graphql: GraphQLEdgeConfig;
  commands: CommandsConfig;
  /** How long SIGTERM may take to drain before we force-close, in ms. */
  shutdownTimeoutMs: number;
  /**
   * How often the API tokens behind open subscriptions are re-checked against the database, in ms
   * (API_TOKEN_RECHECK_MS): the longest a subscription outlives a revocation made by another instance
   * or the CLI, or its token's expiry when that is further away than a timer can hold.
   */
  apiTokenRecheckMs: number;
  /** Mosquitto dynamic-security sync (MQTT_DYNSEC=1), or undefined. */
  dynsec: DynsecConfig | undefined;
  /**
   * Shared secret for the broker HTTP auth endpoints under /mqtt/ (MQTT_HTTP_AUTH_SECRET); undefined
   * leaves the endpoints off (404).
   */
  brokerAuthSecret: string | undefined;
  /**
   * Live events across instances through Redis pub/sub (REDIS_URL, REDIS_EVENTS_CHANNEL), or undefined:
   * events stay in this process (one instance).
   */
  redis: { url: string; channel: string } | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * For commands (the server, the CLIs): the configuration, or undefined after `report` was given every
 * problem — the caller then exits with status 2. Errors other than configuration problems propagate.
 */
export function loadConfigOrReport(
  env: Record<string, string | undefined> = process.env,
  report: (message: string) => void = (message) => console.error(message),
): Config | undefined {
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
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw.trim())) {
      problems.push(`${name}=${JSON.stringify(raw)} is not a whole number`);
      return fallback;
    }
    const value = Number(raw);
    if (value < min || value > max) {
      problems.push(`${name}=${raw} is out of range (${min}–${max})`);
      return fallback;
    }
    return value;
  };

  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    problems.push(`${name}=${JSON.stringify(raw)} is not a boolean (true/false)`);
    return fallback;
  };

  // Production turns off what only helps a developer (GraphiQL, introspection); each can be set explicitly.
  const production = env.NODE_ENV === 'production';
  const dataDir = env.DOPPEL_DATA_DIR || './data';
  const port = int('PORT', 4000, 0, 65535);
  const host = env.HOST || '0.0.0.0';

  let database: DatabaseConfig = { kind: 'pglite', dataDir: `${dataDir}/pglite` };
  const databaseUrl = env.DATABASE_URL?.trim();
  if (databaseUrl) {
    if (/^postgres(ql)?:\/\//.test(databaseUrl)) database = { kind: 'postgres', url: databaseUrl };
    else if (databaseUrl === 'memory://' || databaseUrl === 'pglite:memory') database = { kind: 'pglite', dataDir: undefined };
    else if (databaseUrl.startsWith('pglite:')) database = { kind: 'pglite', dataDir: databaseUrl.slice('pglite:'.length) };
    else if (databaseUrl.startsWith('file:')) database = { kind: 'pglite', dataDir: databaseUrl.slice('file:'.length) };
    else problems.push(`DATABASE_URL must be postgres://…, postgresql://…, pglite:<dir>, file:<dir> or memory:// (got ${JSON.stringify(databaseUrl)})`);
  }

  let mqtt: MqttConfig = { kind: 'embedded', port: int('MQTT_PORT', 1883, 0, 65535), host: env.MQTT_HOST || '0.0.0.0' };
  const mqttUrl = env.MQTT_URL?.trim();
  if (mqttUrl) {
    if (!/^(mqtts?|wss?|tcp|tls):\/\//.test(mqttUrl)) {
      problems.push(`MQTT_URL must be mqtt://, mqtts://, ws:// or wss:// (got ${JSON.stringify(mqttUrl)})`);
    } else {
      const group = env.MQTT_SHARED_GROUP || 'doppel';
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(group)) problems.push(`MQTT_SHARED_GROUP must match [A-Za-z0-9_-]{1,64}`);
      const clientId = env.MQTT_CLIENT_ID?.trim() || undefined;
      // MQTT 5 allows any UTF-8 client id, but brokers differ beyond the portable set; keep it boring.
      if (clientId !== undefined && !/^[A-Za-z0-9_.:-]{1,128}$/.test(clientId)) {
        problems.push(`MQTT_CLIENT_ID must match [A-Za-z0-9_.:-]{1,128} (got ${JSON.stringify(env.MQTT_CLIENT_ID)})`);
      }
      // Upper bound: MQTT's Session Expiry Interval is 32-bit, but a session held for more than a week
      // by an instance that may never return is a misconfiguration (see README, Scale-out).
      const sessionExpirySeconds = int('MQTT_SESSION_EXPIRY_S', 300, 1, 7 * 24 * 3600);
      // 256 in flight over a ~55 ms store cycle capped ingestion near 4,600 msg/s (bench:ingest).
      const maxInFlight = int('MQTT_MAX_IN_FLIGHT', 8192, 1, 65_535);
      mqtt = {
        kind: 'external',
        url: mqttUrl,
        group,
        ...(env.MQTT_USERNAME ? { username: env.MQTT_USERNAME } : {}),
        ...(env.MQTT_PASSWORD ? { password: env.MQTT_PASSWORD } : {}),
        ...(clientId !== undefined ? { clientId } : {}),
        sessionExpirySeconds,
        maxInFlight,
      };
    }
  }

  const logLevelRaw = (env.LOG_LEVEL || 'info').toLowerCase();
  let logLevel: LogLevel = 'info';
  if ((LOG_LEVELS as readonly string[]).includes(logLevelRaw)) logLevel = logLevelRaw as LogLevel;
  else problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(env.LOG_LEVEL)})`);

  const introspection = bool('GRAPHQL_INTROSPECTION', !production);
  let dynsec: DynsecConfig | undefined;
  if (bool('MQTT_DYNSEC', false)) {
    if (mqtt.kind !== 'external') problems.push('MQTT_DYNSEC=1 needs an external broker (MQTT_URL)');
    const url = env.MQTT_DYNSEC_URL?.trim() || (mqtt.kind === 'external' ? mqtt.url : '');
    if (url && !/^(mqtts?|wss?|tcp|tls):\/\//.test(url)) problems.push(`MQTT_DYNSEC_URL must be mqtt://, mqtts://, ws:// or wss:// (got ${JSON.stringify(url)})`);
    const username = env.MQTT_DYNSEC_USERNAME ?? '';
    const password = env.MQTT_DYNSEC_PASSWORD ?? '';
    if (!username || !password) problems.push('MQTT_DYNSEC=1 needs MQTT_DYNSEC_USERNAME and MQTT_DYNSEC_PASSWORD (a dynamic-security admin client)');
    const rawKey = env.MQTT_DYNSEC_SECRET_KEY ?? '';
    const secretKey = rawKey ? parseSealKey(rawKey) : undefined;
    if (!secretKey) {
      problems.push('MQTT_DYNSEC=1 needs MQTT_DYNSEC_SECRET_KEY: 32 random bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)');
    }
    dynsec = {
      url,
      username,
      password,
      secretKey: secretKey ?? Buffer.alloc(32),
      reconcileIntervalSeconds: int('MQTT_DYNSEC_RECONCILE_S', 300, 0, 7 * 24 * 3600),
      batchSize: int('MQTT_DYNSEC_BATCH', 200, 1, 10_000),
      timeoutMs: int('MQTT_DYNSEC_TIMEOUT_MS', 10_000, 100, 600_000),
    };
  }

  const brokerAuthSecret = env.MQTT_HTTP_AUTH_SECRET || undefined;
  let redis: Config['redis'];
  const redisUrl = env.REDIS_URL?.trim();
  if (redisUrl) {
    const channel = env.REDIS_EVENTS_CHANNEL?.trim() || 'doppel:events';
    if (!/^rediss?:\/\//.test(redisUrl)) problems.push(`REDIS_URL must be redis://… or rediss://… (got ${JSON.stringify(redisUrl)})`);
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(channel)) problems.push('REDIS_EVENTS_CHANNEL must match [A-Za-z0-9_.:-]{1,128}');
    redis = { url: redisUrl, channel };
  }
  // It guards every device's authentication: refuse anything guessable.
  if (brokerAuthSecret !== undefined && brokerAuthSecret.length < 32) problems.push('MQTT_HTTP_AUTH_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`)');

  const config: Config = {
    port,
    host,
    database,
    mqtt,
    logLevel,
    dataDir,
    embeddedMaintenance: {
      checkpointWalBytes: int('PGLITE_CHECKPOINT_WAL_MB', 64, 1, 400) * 1024 * 1024,
      checkIntervalMs: int('PGLITE_CHECKPOINT_CHECK_MS', 1000, 10, 60_000),
      vacuumIntervalMs: int('PGLITE_VACUUM_INTERVAL_MS', 300_000, 0, 86_400_000),
    },
    bootstrapAdminToken: bool('DOPPEL_BOOTSTRAP_TOKEN', true),
    apiTokenRecheckMs: int('API_TOKEN_RECHECK_MS', 30_000, 100, 3_600_000),
    maxPayloadBytes: int('MQTT_MAX_PAYLOAD_BYTES', 256 * 1024, 1024, 16 * 1024 * 1024),
    twinLimits: {
      maxSectionBytes: int('TWIN_MAX_SECTION_BYTES', 32 * 1024, 256, 16 * 1024 * 1024),
      maxDepth: int('TWIN_MAX_DEPTH', 10, 1, 64),
      maxKeyLength: int('TWIN_MAX_KEY_LENGTH', 128, 1, 1024),
      maxFutureSkewMs: int('TWIN_MAX_FUTURE_SKEW_MS', 10 * 60_000, 0, 7 * 24 * 3_600_000),
    },
    telemetry: {
      maxMessageBytes: int('TELEMETRY_MAX_MESSAGE_BYTES', 256 * 1024, 64, 16 * 1024 * 1024),
      maxValuesPerMessage: int('TELEMETRY_MAX_VALUES_PER_MESSAGE', 1000, 1, 100_000),
      maxBatchEntries: int('TELEMETRY_MAX_BATCH_ENTRIES', 1000, 1, 100_000),
      maxFutureSkewMs: int('TELEMETRY_MAX_FUTURE_SKEW_MS', 10 * 60_000, 0, 7 * 24 * 3_600_000),
      batchMaxPoints: int('TELEMETRY_BATCH_MAX_POINTS', 15_000, 1, 100_000),
      batchMaxAgeMs: int('TELEMETRY_BATCH_MAX_AGE_MS', 20, 0, 60_000),
      maxPendingPoints: int('TELEMETRY_MAX_PENDING_POINTS', 100_000, 1, 10_000_000),
      backpressureTimeoutMs: int('TELEMETRY_BACKPRESSURE_TIMEOUT_MS', 10_000, 0, 600_000),
      writeConcurrency: int('TELEMETRY_WRITE_CONCURRENCY', 2, 1, 32),
      rollupSettleIntervalMs: int('TELEMETRY_ROLLUP_SETTLE_INTERVAL_MS', 10_000, 50, 3_600_000),
      seriesMaxBuckets: int('TELEMETRY_SERIES_MAX_BUCKETS', 10_000, 1, 1_000_000),
      seriesMaxMetrics: int('TELEMETRY_SERIES_MAX_METRICS', 20, 1, 1000),
      seriesRollups: bool('TELEMETRY_SERIES_ROLLUPS', true),
      rawRetentionDays: int('TELEMETRY_RAW_RETENTION_DAYS', 0, 0, 100_000),
      rollupRetentionDays: {
        900: int('TELEMETRY_ROLLUP_15M_RETENTION_DAYS', 0, 0, 100_000),
        3600: int('TELEMETRY_ROLLUP_1H_RETENTION_DAYS', 0, 0, 100_000),
        86400: int('TELEMETRY_ROLLUP_1D_RETENTION_DAYS', 0, 0, 100_000),
      },
      retentionIntervalMs: int('TELEMETRY_RETENTION_INTERVAL_MS', 10 * 60_000, 1000, 7 * 24 * 3_600_000),
      retentionBatchRows: int('TELEMETRY_RETENTION_BATCH_ROWS', 10_000, 1, 1_000_000),
    },
    graphql: {
      graphiql: bool('GRAPHQL_GRAPHIQL', introspection && !production),
      introspection,
      maxDepth: int('GRAPHQL_MAX_DEPTH', 10, 1, 100),
      maxAliases: int('GRAPHQL_MAX_ALIASES', 15, 0, 1000),
      maxTokens: int('GRAPHQL_MAX_TOKENS', 1000, 50, 100_000),
      maxCost: int('GRAPHQL_MAX_COST', 10_000, 1, 10_000_000),
      maxBodyBytes: int('GRAPHQL_MAX_BODY_BYTES', 1024 * 1024, 1024, 64 * 1024 * 1024),
      rateLimitPerSecond: int('GRAPHQL_RATE_LIMIT_PER_S', 50, 0, 1_000_000),
      rateLimitBurst: int('GRAPHQL_RATE_LIMIT_BURST', 200, 1, 10_000_000),
    },
    commands: {
      rateLimit: int('COMMAND_RATE_LIMIT', 60, 1, 1_000_000),
      rateWindowMs: int('COMMAND_RATE_WINDOW_MS', 60_000, 1, 24 * 3_600_000),
      sweepIntervalMs: int('COMMAND_SWEEP_INTERVAL_MS', 1000, 10, 3_600_000),
      maxFleetSize: int('COMMAND_MAX_FLEET_SIZE', 10_000, 1, 1_000_000),
      maxParamsBytes: int('COMMAND_MAX_PARAMS_BYTES', 16 * 1024, 2, 1024 * 1024),
    },
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    dynsec,
    brokerAuthSecret,
    redis,
  };

  // GraphiQL learns the schema by introspection; without it the page loads and then cannot work.
  if (config.graphql.graphiql && !config.graphql.introspection) {
    problems.push('GRAPHQL_GRAPHIQL=true needs GRAPHQL_INTROSPECTION=true (GraphiQL reads the schema by introspection)');
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
      problems.push(`${name}=${days} must be 0 (forever) or at least TELEMETRY_RAW_RETENTION_DAYS (${tel.rawRetentionDays === 0 ? '0, forever' : tel.rawRetentionDays}): rollups must outlive raw rows`);
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
