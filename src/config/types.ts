/**
 * The configuration as the rest of Doppel sees it: typed, validated, grouped by the part that uses it.
 * Which variable sets which field, with defaults and bounds, is declared in src/config/spec.ts.
 */
import type { TwinLimits } from '../domain/twin.ts';
import type { RollupGrain } from '../domain/telemetry/rollups.ts';
import type { LOG_FORMATS, LOG_LEVELS } from './spec.ts';

export type DatabaseConfig =
  | { kind: 'pglite'; /** data directory, or undefined for an in-memory database */ dataDir: string | undefined }
  | {
      kind: 'postgres';
      url: string;
      /** The longest a new connection may take (DATABASE_CONNECT_TIMEOUT_MS); default 3 s. */
      connectTimeoutMs?: number;
    };

export interface EmbeddedMaintenanceConfig {
  /** A CHECKPOINT runs once this much WAL was written since the last one (PGLITE_CHECKPOINT_WAL_MB). */
  checkpointWalBytes: number;
  /** How often the WAL distance is checked, in ms. */
  checkIntervalMs: number;
  /** How often hot, updated-in-place tables are vacuumed and analyzed, in ms; 0 = never. */
  vacuumIntervalMs: number;
}

/** The embedded broker's TLS listener (docs/security.md, "Transport encryption"). */
export interface MqttTlsConfig {
  port: number;
  host: string;
  /** subjectAltName names of the generated server certificate. */
  hostnames: string[];
  /** Certificates given by path (MQTT_TLS_CERT/KEY/CA): used as they are, never generated or rotated. */
  given: { certPath: string; keyPath: string; caPath?: string | undefined } | undefined;
}

/** HTTPS for the API: the MQTT TLS server certificate (`HTTPS=auto`), or certificates of its own. */
export type HttpsConfig = { source: 'server-tls' } | { source: 'given'; certPath: string; keyPath: string };

export type MqttConfig =
  | { kind: 'embedded'; port: number; host: string; tls: MqttTlsConfig | undefined; allowPlaintext: boolean; production: boolean }
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
 * Keeping Mosquitto's dynamic-security plugin in step with the device registry (src/mqtt/dynsec/index.ts).
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

/** LOG_LEVEL, lower-cased. */
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Telemetry ingestion: per-message limits and the batching pipeline (src/services/telemetry/index.ts). */
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

/** Commands (src/services/commands/index.ts). */
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

/** Dead letters (src/services/dead-letters/index.ts). */
export interface DeadLettersConfig {
  /** Dead letters received longer ago than this many days are deleted (DEAD_LETTER_RETENTION_DAYS). */
  retentionDays: number;
  /** Most dead letters kept per tenant; the oldest beyond it are deleted by the sweep (DEAD_LETTER_MAX_PER_TENANT). */
  maxPerTenant: number;
  /** How often the sweep runs, in ms (DEAD_LETTER_SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
}

/**
 * Retention of the change history (src/services/retention.ts, docs/operations.md "History retention"):
 * twin changes, final commands and audit events older than their age are deleted in the background, in
 * bounded batches. 0 days keeps them forever (the default).
 */
export interface HistoryRetentionConfig {
  /** TwinChange rows (Device.twinHistory, twinChanged resumes) older than this many days (TWIN_HISTORY_RETENTION_DAYS). */
  twinChangeDays: number;
  /** Final commands (not fleet members) that ended longer ago than this many days (COMMAND_RETENTION_DAYS). */
  commandDays: number;
  /** Audit events older than this many days (AUDIT_RETENTION_DAYS). */
  auditDays: number;
  /** How often the sweep runs, in ms (HISTORY_RETENTION_INTERVAL_MS). */
  intervalMs: number;
  /** Rows one DELETE removes at most (HISTORY_RETENTION_BATCH_ROWS). */
  batchRows: number;
}

/** Rules and alarms (src/services/rules/). */
export interface RulesConfig {
  /** Most rules per tenant (RULES_MAX_PER_TENANT). */
  maxPerTenant: number;
  /** How often the timer sweep runs, in ms (RULES_SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
  /** Condition edges within `flapWindowMs` beyond which an alarm is flapping (RULES_FLAP_MAX_EDGES). */
  flapMaxEdges: number;
  /** The flapping window, in ms (RULES_FLAP_WINDOW_MS). */
  flapWindowMs: number;
  /**
   * The longest a stored rule state keeps an older newest reading than the ones taken, in ms
   * (RULES_STATE_WATERMARK_MS; default 10 s). Bounds what a restart or a move forgets (docs/rules.md).
   */
  stateWatermarkMs?: number;
}

/** Webhooks and the outbox deliverer (src/services/outbox/, src/services/webhooks/). */
export interface WebhooksConfig {
  /** Run the deliverer on this instance (WEBHOOKS_ENABLED). */
  enabled: boolean;
  /** Accept http:// endpoint URLs (WEBHOOKS_ALLOW_HTTP). */
  allowHttp: boolean;
  /** CIDRs endpoints may resolve to although private/loopback/link-local (WEBHOOKS_ALLOWED_NETWORKS), as given. */
  allowedNetworks: string[];
  /** The sealing key from WEBHOOK_SECRET_KEY; undefined: the key file under the data directory (src/security/webhook-key.ts). */
  secretKey: Buffer | undefined;
  /** One attempt's timeout, ms (WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Claim lease, ms (WEBHOOK_LEASE_MS); longer than the timeout. */
  leaseMs: number;
  /** Default concurrent deliveries per endpoint (WEBHOOK_MAX_IN_FLIGHT). */
  maxInFlight: number;
  /** Most events per claim (WEBHOOK_CLAIM_BATCH). */
  claimBatch: number;
  /** Poll interval when not woken, ms (WEBHOOK_POLL_INTERVAL_MS). */
  pollIntervalMs: number;
  /** Attempts before FAILED (WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Age before FAILED, ms (WEBHOOK_MAX_AGE_HOURS). */
  maxAgeMs: number;
  /** Failing this long without a success disables an endpoint, ms (WEBHOOK_DISABLE_AFTER_HOURS). */
  disableAfterMs: number;
  /** Delivered events are deleted after this many days (WEBHOOK_RETENTION_DAYS). */
  retentionDays: number;
}

/** The web console (src/console/, docs/console.md). */
export interface ConsoleConfig {
  /** CONSOLE: serve it at `/`. */
  enabled: boolean;
  /** Offer the bootstrap admin token file to a browser on this machine: only outside production, with DOPPEL_BOOTSTRAP_TOKEN. */
  offerBootstrapToken: boolean;
}

export interface Config {
  /** HTTP port for GraphQL, GraphiQL, /healthz and /readyz (0 = pick a free port). */
  port: number;
  host: string;
  database: DatabaseConfig;
  mqtt: MqttConfig;
  /** HTTPS for the API, or undefined for plain HTTP. */
  https: HttpsConfig | undefined;
  /** MQTT_WS: the embedded broker also listens at `/mqtt` on the HTTP server (false with an external broker). */
  mqttWebSocket: boolean;
  /** METRICS_TOKEN: the bearer token `/metrics` requires; unset, `/metrics` is open. */
  metricsToken?: string;
  logLevel: LogLevel;
  /** LOG_FORMAT: `auto` resolves to pretty on a terminal, JSON otherwise (src/logger.ts). */
  logFormat: LogFormat;
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
  console: ConsoleConfig;
  commands: CommandsConfig;
  deadLetters: DeadLettersConfig;
  historyRetention: HistoryRetentionConfig;
  rules: RulesConfig;
  webhooks: WebhooksConfig;
  /** How long SIGTERM may take to drain before we force-close, in ms. */
  shutdownTimeoutMs: number;
  /**
   * How often the API tokens behind open subscriptions are re-checked against the database, in ms
   * (API_TOKEN_RECHECK_MS): the longest a subscription outlives a revocation made by another instance
   * or the CLI, or its token's expiry when that is further away than a timer can hold. Also the
   * longest the token cache (src/auth/token-cache.ts) trusts a verification without the database.
   */
  apiTokenRecheckMs: number;
  /**
   * Embedded broker (MQTT_PRESENCE_GRACE_S, in ms): after a start, devices still marked connected from
   * before it that have not reconnected within this window are marked offline.
   */
  presenceGraceMs: number;
  /** Embedded broker (MQTT_MAX_CONNECTS_PER_S): CONNECTs admitted per second; 0 admits all. */
  maxConnectsPerSecond: number;
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
  /**
   * OpenTelemetry tracing over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME), or undefined:
   * off, no tracer provider, the API's no-op tracer (src/tracing/index.ts).
   */
  tracing: { endpoint: string; serviceName: string } | undefined;
}
