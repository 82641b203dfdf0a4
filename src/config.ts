/**
 * Configuration, read once from the environment and validated at start-up.
 * Every bad variable is reported at once with its own message, so an operator fixes them in one go.
 */

export type DatabaseConfig =
  | { kind: 'pglite'; /** data directory, or undefined for an in-memory database */ dataDir: string | undefined }
  | { kind: 'postgres'; url: string };

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

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface TwinLimits {
  /** Max serialized size of one twin section (reported or desired), in bytes. */
  maxSectionBytes: number;
  /** Max nesting depth of a twin section. */
  maxDepth: number;
  /** Max length of a key. */
  maxKeyLength: number;
  /** How far in the future a device timestamp may be (clock skew) before it is refused, in ms. */
  maxFutureSkewMs: number;
}

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
  /** Most buckets one `Device.series` query may span (per metric); larger ranges are refused. */
  seriesMaxBuckets: number;
  /** Most metrics one `Device.series` query may name. */
  seriesMaxMetrics: number;
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
  /** Whether to create an admin token on first start when none exists (embedded mode default). */
  bootstrapAdminToken: boolean;
  /** Max size of an MQTT payload accepted from a device, in bytes. */
  maxPayloadBytes: number;
  twinLimits: TwinLimits;
  telemetry: TelemetryConfig;
  commands: CommandsConfig;
  /** How long SIGTERM may take to drain before we force-close, in ms. */
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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
      const maxInFlight = int('MQTT_MAX_IN_FLIGHT', 2048, 1, 65_535);
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

  const config: Config = {
    port,
    host,
    database,
    mqtt,
    logLevel,
    dataDir,
    bootstrapAdminToken: bool('DOPPEL_BOOTSTRAP_TOKEN', true),
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
      batchMaxPoints: int('TELEMETRY_BATCH_MAX_POINTS', 5000, 1, 100_000),
      batchMaxAgeMs: int('TELEMETRY_BATCH_MAX_AGE_MS', 20, 0, 60_000),
      maxPendingPoints: int('TELEMETRY_MAX_PENDING_POINTS', 100_000, 1, 10_000_000),
      backpressureTimeoutMs: int('TELEMETRY_BACKPRESSURE_TIMEOUT_MS', 10_000, 0, 600_000),
      seriesMaxBuckets: int('TELEMETRY_SERIES_MAX_BUCKETS', 10_000, 1, 1_000_000),
      seriesMaxMetrics: int('TELEMETRY_SERIES_MAX_METRICS', 20, 1, 1000),
    },
    commands: {
      rateLimit: int('COMMAND_RATE_LIMIT', 60, 1, 1_000_000),
      rateWindowMs: int('COMMAND_RATE_WINDOW_MS', 60_000, 1, 24 * 3_600_000),
      sweepIntervalMs: int('COMMAND_SWEEP_INTERVAL_MS', 1000, 10, 3_600_000),
      maxFleetSize: int('COMMAND_MAX_FLEET_SIZE', 10_000, 1, 1_000_000),
      maxParamsBytes: int('COMMAND_MAX_PARAMS_BYTES', 16 * 1024, 2, 1024 * 1024),
    },
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
  };

  // The batcher can only hold a message whole, and must fit at least one full batch.
  const tel = config.telemetry;
  if (tel.maxPendingPoints < tel.batchMaxPoints) {
    problems.push(`TELEMETRY_MAX_PENDING_POINTS=${tel.maxPendingPoints} must be at least TELEMETRY_BATCH_MAX_POINTS (${tel.batchMaxPoints})`);
  }
  if (tel.maxPendingPoints < tel.maxValuesPerMessage) {
    problems.push(`TELEMETRY_MAX_PENDING_POINTS=${tel.maxPendingPoints} must be at least TELEMETRY_MAX_VALUES_PER_MESSAGE (${tel.maxValuesPerMessage})`);
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
