/**
 * Every environment variable Doppel reads, declared once: its type, default, bounds, meaning and
 * section. `loadConfig` (src/config/load.ts) takes defaults and bounds from here, and
 * `npm run config:docs` generates docs/configuration.md and .env.example from it, so the three cannot
 * drift apart. Rules that tie variables together (which database, which broker, what dynamic security
 * needs) are code next to `loadConfig`; a variable's `doc` says when they apply.
 */

/** What a number counts, shown in the docs. */
export type Unit = 'ms' | 's' | 'bytes' | 'MiB' | 'days';

/** A default that is not one literal value: what unset means, in words (it may depend on other variables). */
export interface WhenUnset {
  unset: string;
}

interface Described {
  /** The section it is documented under. */
  group: GroupId;
  /** What it does, in one or a few sentences (Markdown inline code allowed, no `|`). */
  doc: string;
}

/** A whole number (digits only) within `min`–`max`. */
export interface IntVariable extends Described {
  type: 'int';
  default: number;
  min: number;
  max: number;
  unit?: Unit;
}

/** `1/true/yes/on` or `0/false/no/off`, any case. */
export interface BoolVariable extends Described {
  type: 'bool';
  default: boolean | WhenUnset;
}

/** One of a fixed set of words, any case. */
export interface EnumVariable extends Described {
  type: 'enum';
  values: readonly string[];
  default: string;
}

/** Free text, optionally held to a pattern. */
export interface StringVariable extends Described {
  type: 'string';
  default: string | WhenUnset;
  /** Surrounding whitespace is dropped before anything else. */
  trim?: boolean;
  pattern?: RegExp;
  /**
   * Its problem message quotes the value given. A per-variable choice because the messages predate the
   * spec and stay word for word as operators (and tests) know them.
   */
  quoteInProblem?: boolean;
  /** A value to show in .env.example when there is no literal default. */
  example?: string;
}

/** A URL (always trimmed); `accepts` decides which are valid and `forms` names them for people. */
export interface UrlVariable extends Described {
  type: 'url';
  default: WhenUnset;
  accepts: RegExp;
  forms: readonly string[];
  example: string;
}

/** A credential: never echoed in a problem message. */
export interface SecretVariable extends Described {
  type: 'secret';
  default: WhenUnset;
  minLength?: number;
  /** The form it must have, in words, when code parses it further. */
  format?: string;
}

export type Variable = IntVariable | BoolVariable | EnumVariable | StringVariable | UrlVariable | SecretVariable;

/** Sections of the docs, in the order they appear, each with a sentence or two of context. */
export const GROUPS = {
  server: { title: 'Server', intro: 'The HTTP listener, logging and shutdown.' },
  database: {
    title: 'Database',
    intro: 'With no `DATABASE_URL`, Doppel runs on an embedded PGlite database under `DOPPEL_DATA_DIR`; production uses PostgreSQL.',
  },
  embeddedDatabase: {
    title: 'Embedded database upkeep',
    intro: 'PGlite only (unused with PostgreSQL): PGlite has no checkpointer and no autovacuum, so Doppel does that upkeep itself (`src/db/maintenance.ts`).',
  },
  mqtt: {
    title: 'MQTT',
    intro: 'With no `MQTT_URL`, Doppel runs an embedded Aedes broker; with one, it joins an external broker as a client with shared subscriptions.',
  },
  externalBroker: { title: 'External broker', intro: 'Read only when `MQTT_URL` is set.' },
  tls: {
    title: 'Transport encryption',
    intro:
      'MQTT over TLS on the embedded broker and HTTPS for the API (`docs/security.md`, "Transport encryption"). Without certificates given by path, Doppel creates a private CA and a server certificate under `$DOPPEL_DATA_DIR/tls/` on first start and re-issues the server certificate before it expires.',
  },
  dynsec: {
    title: 'Mosquitto dynamic security',
    intro:
      "With `MQTT_DYNSEC` on and `MQTT_URL` pointing at Mosquitto 2, Doppel creates, rotates, disables and deletes each device's Mosquitto client and role, and reconciles Mosquitto with the database at start-up and every `MQTT_DYNSEC_RECONCILE_S` (`docs/brokers.md`). The other variables here are read only when it is on.",
  },
  brokerHttpAuth: {
    title: 'Broker HTTP auth',
    intro: 'For EMQX and mosquitto-go-auth, which ask Doppel over HTTP whether a device may connect, publish or subscribe (`docs/brokers.md`).',
  },
  redis: {
    title: 'Live events across instances',
    intro:
      'Live events go from the instance that handled a message to every other one through Redis pub/sub; without Redis they stay in the process (one instance).',
  },
  apiTokens: { title: 'API tokens', intro: 'The bootstrap admin token and how revocations reach open subscriptions.' },
  twin: { title: 'Twin limits', intro: 'A twin update beyond a limit is refused with a typed error, never truncated.' },
  telemetry: {
    title: 'Telemetry ingestion',
    intro: 'Per-message limits (a violation refuses the whole message) and the pipeline that writes points in batches.',
  },
  series: { title: 'Series, rollups and retention', intro: 'Reading series (`Device.series`), the rollups behind them, and deleting old points.' },
  graphql: {
    title: 'GraphQL edge',
    intro:
      'What an operation may ask for before anything runs, and how often one API token may ask; every limit refuses with a stable `extensions.code` (`docs/security.md`).',
  },
  console: {
    title: 'Console',
    intro: 'The web console served at `/` (`docs/console.md`): written only against the public GraphQL API, bundled by the server at start, no CDN.',
  },
  commands: { title: 'Commands', intro: 'Sending commands to devices.' },
  deadLetters: {
    title: 'Dead letters',
    intro: 'Device messages that failed deterministically, kept for inspection and replay (`docs/operations.md`, "Dead letters").',
  },
  historyRetention: {
    title: 'History retention',
    intro:
      'The change history kept in the database — twin changes, final commands, audit events — is kept forever unless given an age; older rows are deleted in the background in bounded batches (`docs/operations.md`, "History retention").',
  },
  rules: { title: 'Rules and alarms', intro: 'Rules evaluated where data is stored, their timers, and alarms (`docs/rules.md`).' },
  tracing: {
    title: 'Tracing',
    intro:
      'OpenTelemetry traces over OTLP/HTTP, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (`docs/operations.md`, "Tracing"). The exporter also reads the other standard `OTEL_EXPORTER_OTLP_*` variables itself (headers, timeout, compression).',
  },
  webhooks: {
    title: 'Webhooks and the outbox',
    intro: 'Signed outbound events and rule actions, delivered at least once from a transactional outbox (`docs/webhooks.md`, `docs/outbox.md`).',
  },
} as const satisfies Record<string, { title: string; intro: string }>;

export type GroupId = keyof typeof GROUPS;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

const KiB = 1024;
const MiB = 1024 * KiB;
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const WEEK_S = 7 * 24 * 3600;
// tcp:// and tls:// are accepted as the mqtt:// and mqtts:// they are, but not advertised.
const MQTT_URL_FORMS = { accepts: /^(mqtts?|wss?|tcp|tls):\/\//, forms: ['mqtt://', 'mqtts://', 'ws://', 'wss://'] };

export const VARIABLES = {
  // server
  PORT: {
    group: 'server',
    type: 'int',
    default: 4000,
    min: 0,
    max: 65535,
    doc: 'HTTP port for GraphQL and graphql-ws (`/graphql`), GraphiQL, `/healthz`, `/readyz` and `/metrics`; `0` picks a free port.',
  },
  HOST: { group: 'server', type: 'string', default: '0.0.0.0', doc: 'Interface the HTTP server binds to.' },
  METRICS_TOKEN: {
    group: 'server',
    type: 'secret',
    default: { unset: '`/metrics` is open to anyone who can reach the HTTP port' },
    minLength: 16,
    doc: '`/metrics` answers only requests with `Authorization: Bearer <token>` (others get 401, counted in `doppel_metrics_auth_refused_total`). Unset, anyone who reaches the port reads the metrics: counts and latencies, no device data, but device counts and refusal rates tell an attacker something (`docs/operations.md`, "Metrics").',
  },
  LOG_LEVEL: {
    group: 'server',
    type: 'enum',
    values: LOG_LEVELS,
    default: 'info',
    doc: 'Least severe level written to the log (pino); `silent` writes nothing.',
  },
  LOG_FORMAT: {
    group: 'server',
    type: 'enum',
    values: LOG_FORMATS,
    default: 'auto',
    doc: '`json`: one JSON object per line, for log shippers. `pretty`: coloured, human-readable lines. `auto`: pretty when stdout is a terminal, JSON otherwise (pipes, files, containers).',
  },
  SHUTDOWN_TIMEOUT_MS: {
    group: 'server',
    type: 'int',
    unit: 'ms',
    default: 10_000,
    min: 100,
    max: 600_000,
    doc: 'How long the SIGTERM drain may take before connections are closed anyway.',
  },

  // database
  DATABASE_URL: {
    group: 'database',
    type: 'url',
    default: { unset: 'PGlite in `$DOPPEL_DATA_DIR/pglite`' },
    accepts: /^(postgres(ql)?:\/\/|pglite:|file:|memory:\/\/$)/,
    forms: ['postgres://…', 'postgresql://…', 'pglite:<dir>', 'file:<dir>', 'memory://'],
    example: 'postgres://doppel:secret@127.0.0.1:5432/doppel',
    doc: 'Where the data lives: `postgres://user:pass@host:5432/db` for PostgreSQL (production), `pglite:<dir>` or `file:<dir>` for an embedded PGlite directory, `memory://` for an in-memory PGlite (tests).',
  },
  DATABASE_CONNECT_TIMEOUT_MS: {
    group: 'database',
    type: 'int',
    unit: 'ms',
    default: 3000,
    min: 100,
    max: 60_000,
    doc: 'PostgreSQL only: the longest a new connection may take. When the server does not answer at all (a dropped network rather than a refused connection), an API request fails with `UNAVAILABLE` after this, held device writes retry, and `/readyz` is not ready.',
  },
  DOPPEL_DATA_DIR: {
    group: 'database',
    type: 'string',
    default: './data',
    doc: 'Directory for embedded-mode files: the PGlite data (unless `DATABASE_URL` names another place) and the bootstrap admin token.',
  },

  // embeddedDatabase
  PGLITE_CHECKPOINT_WAL_MB: {
    group: 'embeddedDatabase',
    type: 'int',
    unit: 'MiB',
    default: 64,
    min: 1,
    max: 400,
    doc: 'A `CHECKPOINT` runs once this much WAL was written since the last one (without one PGlite stalls at about 550 MB of WAL).',
  },
  PGLITE_CHECKPOINT_CHECK_MS: {
    group: 'embeddedDatabase',
    type: 'int',
    unit: 'ms',
    default: 1000,
    min: 10,
    max: 60_000,
    doc: 'How often that WAL distance is checked.',
  },
  PGLITE_VACUUM_INTERVAL_MS: {
    group: 'embeddedDatabase',
    type: 'int',
    unit: 'ms',
    default: 5 * MINUTE_MS,
    min: 0,
    max: DAY_MS,
    doc: 'How often the tables updated in place get `VACUUM (ANALYZE)`; `0` = never.',
  },

  // mqtt
  MQTT_URL: {
    group: 'mqtt',
    type: 'url',
    default: { unset: 'the embedded Aedes broker on `MQTT_HOST`:`MQTT_PORT`' },
    ...MQTT_URL_FORMS,
    example: 'mqtt://127.0.0.1:1883',
    doc: 'An external broker (Mosquitto 2, EMQX, HiveMQ) that Doppel joins as a client, with shared subscriptions, instead of running its own.',
  },
  MQTT_PORT: { group: 'mqtt', type: 'int', default: 1883, min: 0, max: 65535, doc: 'Port the embedded broker listens on (unused with `MQTT_URL`).' },
  MQTT_HOST: {
    group: 'mqtt',
    type: 'string',
    default: { unset: '`127.0.0.1` while the TLS listener is on, else `0.0.0.0`' },
    doc: 'Interface the plain (unencrypted) listener of the embedded broker binds to (unused with `MQTT_URL`). With `NODE_ENV=production`, a non-loopback interface needs `MQTT_ALLOW_PLAINTEXT=true`.',
  },
  MQTT_ALLOW_PLAINTEXT: {
    group: 'mqtt',
    type: 'bool',
    default: false,
    doc: 'With `NODE_ENV=production`, allow the plain listener on a non-loopback interface (passwords would cross the network in clear text); otherwise the server refuses to start.',
  },
  MQTT_WS: {
    group: 'mqtt',
    type: 'bool',
    default: true,
    doc: "Embedded broker: MQTT over WebSocket at `/mqtt` on the HTTP server (subprotocol `mqtt`; `wss://` when the API is HTTPS), with the same authentication, ACL and limits as TCP. Always off with `MQTT_URL` (devices then use the external broker's own WebSocket listener).",
  },
  MQTT_MAX_CONNECTS_PER_S: {
    group: 'mqtt',
    type: 'int',
    default: 0,
    min: 0,
    max: 1_000_000,
    doc: 'Embedded broker: CONNECTs admitted per second, with a burst of one second\'s worth; beyond it a CONNECT is refused at once with CONNACK 3 "server unavailable" (a device retries later, with back-off), before any database work. Keeps the server responsive during a reconnect storm. `0` (the default) admits every CONNECT.',
  },
  MQTT_PRESENCE_GRACE_S: {
    group: 'mqtt',
    type: 'int',
    unit: 's',
    default: 90,
    min: 0,
    max: 86_400,
    doc: "Embedded broker: how long after start a device the database still shows connected (from before a crash) may take to reconnect before it is marked offline, with the usual `device.disconnected` events. Set it to 1.5 × your devices' MQTT keepalive (mqtt.js defaults to 60 s). `0` marks them at once.",
  },
  MQTT_MAX_PAYLOAD_BYTES: {
    group: 'mqtt',
    type: 'int',
    unit: 'bytes',
    default: 256 * KiB,
    min: KiB,
    max: 16 * MiB,
    doc: 'Largest MQTT payload accepted from a device.',
  },

  // tls
  MQTT_TLS: {
    group: 'tls',
    type: 'enum',
    values: ['auto', 'on', 'off'],
    default: 'auto',
    doc: "The embedded broker's TLS listener. `auto`: on for the embedded broker (ignored with `MQTT_URL`, whose URL says `mqtts://` itself). `on`: the same, stated. `off`: plain MQTT only.",
  },
  MQTT_TLS_PORT: { group: 'tls', type: 'int', default: 8883, min: 0, max: 65535, doc: 'Port of the MQTT-over-TLS listener; `0` picks a free port.' },
  MQTT_TLS_HOST: { group: 'tls', type: 'string', default: '0.0.0.0', doc: 'Interface the MQTT-over-TLS listener binds to.' },
  MQTT_TLS_HOSTNAMES: {
    group: 'tls',
    type: 'string',
    default: { unset: "`localhost`, `127.0.0.1`, `::1` and the machine's hostname" },
    example: 'localhost,127.0.0.1,doppel.example.com',
    doc: 'Comma-separated DNS names and IP addresses of the generated server certificate (its subjectAltName): the names devices connect to. A change re-issues the certificate at the next start.',
  },
  MQTT_TLS_CERT: {
    group: 'tls',
    type: 'string',
    trim: true,
    default: { unset: 'the generated server certificate' },
    example: '/etc/doppel/tls/server.pem',
    doc: 'PEM server certificate (with its chain) to use instead of the generated one; needs `MQTT_TLS_KEY`. Never rotated by Doppel: restart after replacing the files. An expired or not yet valid certificate refuses the start.',
  },
  MQTT_TLS_KEY: {
    group: 'tls',
    type: 'string',
    trim: true,
    default: { unset: 'none' },
    example: '/etc/doppel/tls/server-key.pem',
    doc: 'PEM private key of `MQTT_TLS_CERT`.',
  },
  MQTT_TLS_CA: {
    group: 'tls',
    type: 'string',
    trim: true,
    default: { unset: 'none' },
    example: '/etc/doppel/tls/ca.pem',
    doc: 'PEM CA of `MQTT_TLS_CERT`, logged with its fingerprint for the devices to trust (optional).',
  },
  HTTPS: {
    group: 'tls',
    type: 'enum',
    values: ['off', 'auto'],
    default: 'off',
    doc: '`auto`: the API (GraphQL, graphql-ws over `wss://`, `/metrics`, `/readyz`) listens over HTTPS with the MQTT TLS server certificate (generated or given). `HTTPS_CERT`/`HTTPS_KEY` turn HTTPS on with their own certificate.',
  },
  HTTPS_CERT: {
    group: 'tls',
    type: 'string',
    trim: true,
    default: { unset: 'none' },
    example: '/etc/doppel/tls/api.pem',
    doc: 'PEM certificate (with its chain) for HTTPS on `PORT`; needs `HTTPS_KEY`.',
  },
  HTTPS_KEY: {
    group: 'tls',
    type: 'string',
    trim: true,
    default: { unset: 'none' },
    example: '/etc/doppel/tls/api-key.pem',
    doc: 'PEM private key of `HTTPS_CERT`.',
  },

  // externalBroker
  MQTT_SHARED_GROUP: {
    group: 'externalBroker',
    type: 'string',
    default: 'doppel',
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    doc: 'Shared-subscription group every Doppel instance joins (`$share/<group>/devices/+/…`), so the broker hands each device message to one of them.',
  },
  MQTT_USERNAME: {
    group: 'externalBroker',
    type: 'string',
    default: { unset: 'none' },
    example: 'doppel-server',
    doc: "The server's own user name on the broker.",
  },
  MQTT_PASSWORD: { group: 'externalBroker', type: 'secret', default: { unset: 'none' }, doc: "The server's own password on the broker." },
  MQTT_CLIENT_ID: {
    group: 'externalBroker',
    type: 'string',
    default: { unset: 'a random id and a clean session per start' },
    trim: true,
    // MQTT 5 allows any UTF-8 client id, but brokers differ beyond the portable set; keep it boring.
    pattern: /^[A-Za-z0-9_.:-]{1,128}$/,
    quoteInProblem: true,
    example: 'doppel-0',
    doc: "A client id stable for this instance (e.g. a StatefulSet pod name): Doppel then keeps a persistent session, so the broker queues and redelivers the QoS 1 messages not yet acknowledged (not yet stored) across a crash or restart. The broker keeps routing an offline member's share of the group to its session until the session expires: set it only for instances that come back under the same id, and keep `MQTT_SESSION_EXPIRY_S` short.",
  },
  // Upper bound: MQTT's Session Expiry Interval is 32-bit, but a session held for more than a week by an
  // instance that may never return is a misconfiguration.
  MQTT_SESSION_EXPIRY_S: {
    group: 'externalBroker',
    type: 'int',
    unit: 's',
    default: 300,
    min: 1,
    max: WEEK_S,
    doc: 'How long the broker keeps that persistent session while the instance is away; ignored without `MQTT_CLIENT_ID`.',
  },
  // 256 in flight over a ~55 ms store cycle capped ingestion near 4,600 msg/s (bench:ingest).
  MQTT_MAX_IN_FLIGHT: {
    group: 'externalBroker',
    type: 'int',
    default: 8192,
    min: 1,
    max: 65_535,
    doc: 'QoS 1 messages one instance processes at once (advertised as the MQTT 5 Receive Maximum); each is acknowledged only after it is stored, so ingestion is at most this ÷ the store cycle.',
  },

  // dynsec
  MQTT_DYNSEC: {
    group: 'dynsec',
    type: 'bool',
    default: false,
    doc: "Keep Mosquitto's dynamic-security plugin (clients, roles, ACLs) in step with the device registry; needs `MQTT_URL`.",
  },
  MQTT_DYNSEC_URL: {
    group: 'dynsec',
    type: 'url',
    default: { unset: '`MQTT_URL`' },
    ...MQTT_URL_FORMS,
    example: 'mqtt://127.0.0.1:1883',
    doc: 'Broker to send `$CONTROL/dynamic-security/v1` commands to.',
  },
  MQTT_DYNSEC_USERNAME: {
    group: 'dynsec',
    type: 'string',
    default: { unset: 'none' },
    example: 'doppel-admin',
    doc: 'A dynamic-security admin client (`mosquitto_ctrl dynsec init <dynamic-security.json> <user>`); required with `MQTT_DYNSEC`.',
  },
  MQTT_DYNSEC_PASSWORD: { group: 'dynsec', type: 'secret', default: { unset: 'none' }, doc: "That admin client's password; required with `MQTT_DYNSEC`." },
  MQTT_DYNSEC_SECRET_KEY: {
    group: 'dynsec',
    type: 'secret',
    default: { unset: 'none' },
    format: '32 bytes: 64 hex characters or base64',
    doc: "Key encrypting device secrets so a reconcile can recreate a deleted Mosquitto client (e.g. `openssl rand -hex 32`); required with `MQTT_DYNSEC`. Keep it out of the database's backups; changing it means rotating every device.",
  },
  MQTT_DYNSEC_RECONCILE_S: {
    group: 'dynsec',
    type: 'int',
    unit: 's',
    default: 300,
    min: 0,
    max: WEEK_S,
    doc: 'Reconcile Mosquitto with the database this often after the one at start-up; `0` = only at start-up.',
  },
  MQTT_DYNSEC_BATCH: {
    group: 'dynsec',
    type: 'int',
    default: 200,
    min: 1,
    max: 10_000,
    doc: 'Dynamic-security commands per control message, and devices per reconcile page.',
  },
  MQTT_DYNSEC_TIMEOUT_MS: {
    group: 'dynsec',
    type: 'int',
    unit: 'ms',
    default: 10_000,
    min: 100,
    max: 600_000,
    doc: "How long to wait for the plugin's answer to one control message.",
  },

  // brokerHttpAuth
  MQTT_HTTP_AUTH_SECRET: {
    group: 'brokerHttpAuth',
    type: 'secret',
    default: { unset: 'the endpoints are off (404)' },
    // It guards every device's authentication: refuse anything guessable.
    minLength: 32,
    doc: 'Shared secret that turns on the HTTP auth and ACL endpoints under `/mqtt/`; the broker sends it as `Authorization: Bearer <secret>` or `?secret=<secret>` (e.g. `openssl rand -hex 32`).',
  },

  // redis
  REDIS_URL: {
    group: 'redis',
    type: 'url',
    default: { unset: 'live events stay in this process' },
    accepts: /^rediss?:\/\//,
    forms: ['redis://…', 'rediss://…'],
    example: 'redis://127.0.0.1:6379/0',
    doc: 'Redis through which live events (subscriptions, token revocations) reach every instance. Set it when you run more than one instance, or a subscriber misses what the other instances handled.',
  },
  REDIS_EVENTS_CHANNEL: {
    group: 'redis',
    type: 'string',
    default: 'doppel:events',
    trim: true,
    pattern: /^[A-Za-z0-9_.:-]{1,128}$/,
    doc: 'The pub/sub channel all instances of one deployment share; read only with `REDIS_URL`.',
  },

  // tracing
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    group: 'tracing',
    type: 'url',
    default: { unset: 'tracing off: no spans are made' },
    accepts: /^https?:\/\//,
    forms: ['http://…', 'https://…'],
    example: 'http://127.0.0.1:4318',
    doc: 'Base URL of an OTLP/HTTP collector (spans go to `<url>/v1/traces`, or to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` when that is set). Turns tracing on: GraphQL operations, MQTT batches, command acks and database statements.',
  },
  OTEL_SERVICE_NAME: {
    group: 'tracing',
    type: 'string',
    default: 'doppel',
    trim: true,
    pattern: /^\S{1,128}$/,
    doc: 'The `service.name` every span carries; give each deployment its own. Read only with `OTEL_EXPORTER_OTLP_ENDPOINT`.',
  },

  // apiTokens
  DOPPEL_BOOTSTRAP_TOKEN: {
    group: 'apiTokens',
    type: 'bool',
    default: true,
    doc: 'Create an admin API token on first start when none exists (written to `$DOPPEL_DATA_DIR/admin-token`, mode 0600).',
  },
  API_TOKEN_RECHECK_MS: {
    group: 'apiTokens',
    type: 'int',
    unit: 'ms',
    default: 30_000,
    min: 100,
    max: HOUR_MS,
    doc: "How often the API tokens behind open subscriptions are re-checked in the database, and the longest a verified token is served from the in-memory token cache without asking the database again: the bound on how long a revocation made by another instance or the CLI can go unseen when neither Redis nor the database's change notification delivered it (revocations through an instance's API, and through Redis from its peers, apply at once).",
  },

  // twin
  TWIN_MAX_SECTION_BYTES: {
    group: 'twin',
    type: 'int',
    unit: 'bytes',
    default: 32 * KiB,
    min: 256,
    max: 16 * MiB,
    doc: 'Largest `reported` or `desired` document.',
  },
  TWIN_MAX_DEPTH: { group: 'twin', type: 'int', default: 10, min: 1, max: 64, doc: 'Deepest nesting of a twin document.' },
  TWIN_MAX_KEY_LENGTH: { group: 'twin', type: 'int', default: 128, min: 1, max: 1024, doc: 'Longest key in a twin document.' },
  TWIN_MAX_FUTURE_SKEW_MS: {
    group: 'twin',
    type: 'int',
    unit: 'ms',
    default: 10 * MINUTE_MS,
    min: 0,
    max: 7 * DAY_MS,
    doc: 'A device timestamp further ahead of the server clock than this is refused (it would win every later write).',
  },
  TWIN_TOMBSTONE_TTL_MS: {
    group: 'twin',
    type: 'int',
    unit: 'ms',
    default: DAY_MS,
    min: 0,
    max: 365 * DAY_MS,
    doc: "The replay horizon: how long, behind a twin section's newest write, deletions are remembered so that late or replayed patches cannot bring deleted keys back. A patch older than this lands only on keys the section still holds. Keep it at least `TWIN_MAX_FUTURE_SKEW_MS` and longer than devices buffer reports offline or brokers keep queued messages.",
  },
  TWIN_MAX_METADATA_ENTRIES: {
    group: 'twin',
    type: 'int',
    default: 10_000,
    min: 16,
    max: 1_000_000,
    doc: 'Most metadata entries (keys, objects and deletions still remembered) of one twin section; a patch that would grow it further is refused with `METADATA_TOO_LARGE`. Keep it above `TWIN_MAX_SECTION_BYTES` / 6, the most keys a section of that size can hold.',
  },

  // telemetry
  TELEMETRY_MAX_MESSAGE_BYTES: {
    group: 'telemetry',
    type: 'int',
    unit: 'bytes',
    default: 256 * KiB,
    min: 64,
    max: 16 * MiB,
    doc: 'Largest telemetry message; `MQTT_MAX_PAYLOAD_BYTES` applies first, so the smaller one wins.',
  },
  TELEMETRY_MAX_VALUES_PER_MESSAGE: {
    group: 'telemetry',
    type: 'int',
    default: 1000,
    min: 1,
    max: 100_000,
    doc: 'Most values in one message, over all entries of an array payload.',
  },
  TELEMETRY_MAX_BATCH_ENTRIES: { group: 'telemetry', type: 'int', default: 1000, min: 1, max: 100_000, doc: 'Most entries in one array (catch-up) message.' },
  TELEMETRY_MAX_FUTURE_SKEW_MS: {
    group: 'telemetry',
    type: 'int',
    unit: 'ms',
    default: 10 * MINUTE_MS,
    min: 0,
    max: 7 * DAY_MS,
    doc: 'A telemetry timestamp further ahead of the server clock than this is refused.',
  },
  TELEMETRY_BATCH_MAX_POINTS: {
    group: 'telemetry',
    type: 'int',
    default: 15_000,
    min: 1,
    max: 100_000,
    doc: 'Points are written in batches of at most this many.',
  },
  TELEMETRY_BATCH_MAX_AGE_MS: {
    group: 'telemetry',
    type: 'int',
    unit: 'ms',
    default: 20,
    min: 0,
    max: 60_000,
    doc: 'Longest a message waits for its batch to fill; the QoS 1 PUBACK follows the write, so this is also added acknowledgement latency.',
  },
  TELEMETRY_MAX_PENDING_POINTS: {
    group: 'telemetry',
    type: 'int',
    default: 100_000,
    min: 1,
    max: 10_000_000,
    doc: 'Points held in memory (waiting plus being written); beyond it publishers are held back. At least `TELEMETRY_BATCH_MAX_POINTS` and `TELEMETRY_MAX_VALUES_PER_MESSAGE`.',
  },
  TELEMETRY_BACKPRESSURE_TIMEOUT_MS: {
    group: 'telemetry',
    type: 'int',
    unit: 'ms',
    default: 10_000,
    min: 0,
    max: 600_000,
    doc: 'How long a message may wait for room when the pipeline is full before it is refused as `OVERLOADED`.',
  },
  TELEMETRY_WRITE_CONCURRENCY: {
    group: 'telemetry',
    type: 'int',
    default: 2,
    min: 1,
    max: 32,
    doc: 'Batches written at once (each on its own connection with PostgreSQL; PGlite runs them one after the other).',
  },

  // series
  TELEMETRY_ROLLUP_SETTLE_INTERVAL_MS: {
    group: 'series',
    type: 'int',
    unit: 'ms',
    default: 10_000,
    min: 50,
    max: HOUR_MS,
    doc: "How often the hourly and daily rollups of hours that got new points are derived from the 15-minute ones. Each round re-derives every device's current hour, so shorter costs database CPU (bench:ingest: 2 s held 8,000 msg/s, 10 s 9,000).",
  },
  TELEMETRY_SERIES_MAX_BUCKETS: {
    group: 'series',
    type: 'int',
    default: 10_000,
    min: 1,
    max: 1_000_000,
    doc: 'Most buckets one `Device.series` range may span, per metric; more is refused `BAD_USER_INPUT`.',
  },
  TELEMETRY_SERIES_MAX_METRICS: { group: 'series', type: 'int', default: 20, min: 1, max: 1000, doc: 'Most metrics one `Device.series` query may name.' },
  TELEMETRY_SERIES_ROLLUPS: {
    group: 'series',
    type: 'bool',
    default: true,
    doc: 'Series read rollups (15 minutes, hour, day) where they line up with the buckets; `false` reads raw rows only (e.g. until `npm run db:rollups` has rebuilt rollups for data stored before they existed).',
  },
  TELEMETRY_RAW_RETENTION_DAYS: {
    group: 'series',
    type: 'int',
    unit: 'days',
    default: 0,
    min: 0,
    max: 100_000,
    doc: 'Raw points older than this are deleted in the background; `0` keeps them forever.',
  },
  TELEMETRY_ROLLUP_15M_RETENTION_DAYS: {
    group: 'series',
    type: 'int',
    unit: 'days',
    default: 0,
    min: 0,
    max: 100_000,
    doc: 'The same for 15-minute rollups: `0` (forever) or at least `TELEMETRY_RAW_RETENTION_DAYS`, since rollups must outlive raw rows.',
  },
  TELEMETRY_ROLLUP_1H_RETENTION_DAYS: { group: 'series', type: 'int', unit: 'days', default: 0, min: 0, max: 100_000, doc: 'The same for hourly rollups.' },
  TELEMETRY_ROLLUP_1D_RETENTION_DAYS: { group: 'series', type: 'int', unit: 'days', default: 0, min: 0, max: 100_000, doc: 'The same for daily rollups.' },
  TELEMETRY_RETENTION_INTERVAL_MS: {
    group: 'series',
    type: 'int',
    unit: 'ms',
    default: 10 * MINUTE_MS,
    min: 1000,
    max: 7 * DAY_MS,
    doc: 'How often the retention sweep runs.',
  },
  TELEMETRY_RETENTION_BATCH_ROWS: {
    group: 'series',
    type: 'int',
    default: 10_000,
    min: 1,
    max: 1_000_000,
    doc: 'Rows one retention `DELETE` removes at most; bounded batches keep locks and WAL bursts short.',
  },

  // graphql
  NODE_ENV: {
    group: 'graphql',
    type: 'string',
    default: { unset: 'not production' },
    example: 'production',
    doc: '`production` turns GraphQL introspection and GraphiQL off, unless they are set explicitly.',
  },
  GRAPHQL_INTROSPECTION: {
    group: 'graphql',
    type: 'bool',
    default: { unset: '`true`; `false` when `NODE_ENV=production`' },
    doc: 'Answer `__schema` / `__type`; when off they are refused `INTROSPECTION_DISABLED`.',
  },
  GRAPHQL_GRAPHIQL: {
    group: 'graphql',
    type: 'bool',
    default: { unset: '`true`; `false` when `NODE_ENV=production` or introspection is off' },
    doc: 'Serve GraphiQL at `GET /graphql`; needs `GRAPHQL_INTROSPECTION` (GraphiQL reads the schema by introspection).',
  },
  CONSOLE: {
    group: 'console',
    type: 'bool',
    default: true,
    doc: 'Serve the web console at `/` (`docs/console.md`); `false` answers `/` with a redirect to `/graphql` as before.',
  },
  GRAPHQL_MAX_DEPTH: {
    group: 'graphql',
    type: 'int',
    default: 10,
    min: 1,
    max: 100,
    doc: 'Deepest field nesting of an operation, fragments not counting as a level; deeper is refused `DEPTH_LIMIT_EXCEEDED`.',
  },
  GRAPHQL_MAX_ALIASES: {
    group: 'graphql',
    type: 'int',
    default: 15,
    min: 0,
    max: 1000,
    doc: 'Most aliases in one operation, fragments included; more is refused `ALIAS_LIMIT_EXCEEDED`.',
  },
  GRAPHQL_MAX_TOKENS: {
    group: 'graphql',
    type: 'int',
    default: 1000,
    min: 50,
    max: 100_000,
    doc: 'Most lexical tokens in one document (parsing stops there); more is refused `TOKEN_LIMIT_EXCEEDED`.',
  },
  GRAPHQL_MAX_COST: {
    group: 'graphql',
    type: 'int',
    default: 10_000,
    min: 1,
    max: 10_000_000,
    doc: 'Highest estimated cost of one operation: 1 per field, the list inside a `first`/`last` connection times its page size (default 100), other lists times 10 (`src/security/query-cost.ts`); more is refused `COST_LIMIT_EXCEEDED`.',
  },
  GRAPHQL_MAX_BODY_BYTES: {
    group: 'graphql',
    type: 'int',
    unit: 'bytes',
    default: MiB,
    min: KiB,
    max: 64 * MiB,
    doc: 'Largest HTTP request body and graphql-ws message; larger is refused with 413 `PAYLOAD_TOO_LARGE` (WebSocket close 1009).',
  },
  GRAPHQL_RATE_LIMIT_PER_S: {
    group: 'graphql',
    type: 'int',
    default: 50,
    min: 0,
    max: 1_000_000,
    doc: 'Sustained operations per second per API token, each HTTP request and each graphql-ws operation spending one; beyond it: 429 with `Retry-After` / `RATE_LIMITED`. `0` turns rate limiting off.',
  },
  GRAPHQL_RATE_LIMIT_BURST: { group: 'graphql', type: 'int', default: 200, min: 1, max: 10_000_000, doc: 'Operations an idle API token may make at once.' },

  // commands
  COMMAND_RATE_LIMIT: {
    group: 'commands',
    type: 'int',
    default: 60,
    min: 1,
    max: 1_000_000,
    doc: 'Commands one device may be sent per window (`sendCommand`; fleet commands do not count); more is refused `RateLimited`.',
  },
  COMMAND_RATE_WINDOW_MS: { group: 'commands', type: 'int', unit: 'ms', default: MINUTE_MS, min: 1, max: DAY_MS, doc: 'The rate-limit window.' },
  COMMAND_SWEEP_INTERVAL_MS: {
    group: 'commands',
    type: 'int',
    unit: 'ms',
    default: 1000,
    min: 10,
    max: HOUR_MS,
    doc: 'How often the sweeper expires and times out commands and retries undelivered ones, from the database.',
  },
  COMMAND_MAX_FLEET_SIZE: { group: 'commands', type: 'int', default: 10_000, min: 1, max: 1_000_000, doc: 'Most devices one `sendFleetCommand` may target.' },
  COMMAND_MAX_PARAMS_BYTES: { group: 'commands', type: 'int', unit: 'bytes', default: 16 * KiB, min: 2, max: MiB, doc: 'Largest `params` object, serialized.' },

  // dead letters
  DEAD_LETTER_RETENTION_DAYS: {
    group: 'deadLetters',
    type: 'int',
    unit: 'days',
    default: 30,
    min: 1,
    max: 100_000,
    doc: 'Dead letters received longer ago than this are deleted in the background, resolved or not.',
  },
  DEAD_LETTER_MAX_PER_TENANT: {
    group: 'deadLetters',
    type: 'int',
    default: 10_000,
    min: 1,
    max: 10_000_000,
    doc: "Most dead letters kept per tenant: each sweep deletes a tenant's oldest beyond it, so a poison storm cannot fill the database.",
  },
  DEAD_LETTER_SWEEP_INTERVAL_MS: {
    group: 'deadLetters',
    type: 'int',
    unit: 'ms',
    default: 10 * MINUTE_MS,
    min: 1000,
    max: 7 * DAY_MS,
    doc: 'How often the dead-letter retention sweep runs.',
  },

  // history retention
  TWIN_HISTORY_RETENTION_DAYS: {
    group: 'historyRetention',
    type: 'int',
    unit: 'days',
    default: 0,
    min: 0,
    max: 100_000,
    doc: 'Twin changes (`Device.twinHistory`) older than this are deleted; `0` keeps them forever. A `twinChanged` resume from a deleted version is answered `RESYNC_REQUIRED`.',
  },
  COMMAND_RETENTION_DAYS: {
    group: 'historyRetention',
    type: 'int',
    unit: 'days',
    default: 0,
    min: 0,
    max: 100_000,
    doc: 'Final commands (succeeded, failed, rejected, expired, canceled, timed out) that ended longer ago than this are deleted, except members of fleet commands; `0` keeps them forever.',
  },
  AUDIT_RETENTION_DAYS: {
    group: 'historyRetention',
    type: 'int',
    unit: 'days',
    default: 0,
    min: 0,
    max: 100_000,
    doc: 'Audit events older than this are deleted; `0` keeps them forever.',
  },
  HISTORY_RETENTION_INTERVAL_MS: {
    group: 'historyRetention',
    type: 'int',
    unit: 'ms',
    default: 10 * MINUTE_MS,
    min: 1000,
    max: 7 * DAY_MS,
    doc: 'How often the history retention sweep runs (only when one of the ages above is set).',
  },
  HISTORY_RETENTION_BATCH_ROWS: {
    group: 'historyRetention',
    type: 'int',
    default: 5000,
    min: 1,
    max: 1_000_000,
    doc: 'Rows one history retention `DELETE` removes at most; bounded batches keep locks and WAL bursts short.',
  },

  // rules and alarms
  RULES_MAX_PER_TENANT: {
    group: 'rules',
    type: 'int',
    default: 1000,
    min: 1,
    max: 1_000_000,
    doc: 'Most rules one tenant may have; creating one more is refused.',
  },
  RULES_SWEEP_INTERVAL_MS: {
    group: 'rules',
    type: 'int',
    unit: 'ms',
    default: 1000,
    min: 50,
    max: 10 * MINUTE_MS,
    doc: 'How often the timer sweep looks for windows whose deadline passed ("for 5 min", "no data for 10 min"). A deadline fires at its own time whatever the sweep lag; this bounds how late it is noticed.',
  },
  RULES_FLAP_MAX_EDGES: {
    group: 'rules',
    type: 'int',
    default: 6,
    min: 2,
    max: 10_000,
    doc: 'A rule that raises and clears on one device more than this many times within `RULES_FLAP_WINDOW_MS` marks the alarm flapping: it notifies once and runs no further actions until the flapping stops.',
  },
  RULES_FLAP_WINDOW_MS: {
    group: 'rules',
    type: 'int',
    unit: 'ms',
    default: 10 * MINUTE_MS,
    min: 1000,
    max: DAY_MS,
    doc: 'The window flapping is counted over.',
  },
  RULES_STATE_WATERMARK_MS: {
    group: 'rules',
    type: 'int',
    unit: 'ms',
    default: 10_000,
    min: 0,
    max: 10 * MINUTE_MS,
    doc: 'A reading that changes nothing but the newest reading of a rule on a device (below the threshold, a "for" window that keeps holding) is remembered in process and not written, unless the stored state is at least this old. After a restart or a move to another instance, what was not written is forgotten: a reading older than the newest taken but newer than the stored one is judged instead of ignored as stale (docs/rules.md). 0 writes every reading.',
  },

  // webhooks and the outbox
  WEBHOOKS_ENABLED: {
    group: 'webhooks',
    type: 'bool',
    default: true,
    doc: 'Run the outbox deliverer on this instance (webhooks and rule actions). Events are written either way.',
  },
  WEBHOOKS_ALLOW_HTTP: { group: 'webhooks', type: 'bool', default: false, doc: 'Accept `http://` endpoint URLs (otherwise https only).' },
  WEBHOOKS_ALLOWED_NETWORKS: {
    group: 'webhooks',
    type: 'string',
    default: '',
    trim: true,
    example: '127.0.0.1/32,10.20.0.0/16',
    doc: 'Comma-separated CIDRs endpoints may resolve to although they are private, loopback or link-local (refused otherwise: SSRF guard).',
  },
  WEBHOOK_SECRET_KEY: {
    group: 'webhooks',
    type: 'secret',
    default: { unset: 'a key generated once in `$DOPPEL_DATA_DIR/webhook-secret.key` (mode 0600)' },
    format: '32 bytes: 64 hex characters or base64',
    doc: 'Key sealing endpoint signing secrets in the database. Every instance needs the same key: set it when running several.',
  },
  WEBHOOK_TIMEOUT_MS: {
    group: 'webhooks',
    type: 'int',
    unit: 'ms',
    default: 15_000,
    min: 100,
    max: 5 * MINUTE_MS,
    doc: 'How long one delivery attempt may take; slower counts as failed.',
  },
  WEBHOOK_LEASE_MS: {
    group: 'webhooks',
    type: 'int',
    unit: 'ms',
    default: 60_000,
    min: 1000,
    max: HOUR_MS,
    doc: 'How long a claimed event is reserved for the instance that claimed it; must exceed `WEBHOOK_TIMEOUT_MS`, so another instance re-sends only after the first attempt has certainly ended.',
  },
  WEBHOOK_MAX_IN_FLIGHT: {
    group: 'webhooks',
    type: 'int',
    default: 4,
    min: 1,
    max: 64,
    doc: 'Default of concurrent deliveries per endpoint (an endpoint may set its own).',
  },
  WEBHOOK_CLAIM_BATCH: { group: 'webhooks', type: 'int', default: 200, min: 1, max: 10_000, doc: 'Most events one claim takes.' },
  WEBHOOK_POLL_INTERVAL_MS: {
    group: 'webhooks',
    type: 'int',
    unit: 'ms',
    default: 1000,
    min: 10,
    max: MINUTE_MS,
    doc: 'How often the deliverer looks for due events when nothing woke it.',
  },
  WEBHOOK_MAX_ATTEMPTS: {
    group: 'webhooks',
    type: 'int',
    default: 20,
    min: 1,
    max: 1000,
    doc: 'Attempts before an event is marked FAILED (kept, and redeliverable).',
  },
  WEBHOOK_MAX_AGE_HOURS: {
    group: 'webhooks',
    type: 'int',
    default: 72,
    min: 1,
    max: 24 * 365,
    doc: 'Hours after which an undelivered event is marked FAILED.',
  },
  WEBHOOK_DISABLE_AFTER_HOURS: {
    group: 'webhooks',
    type: 'int',
    default: 120,
    min: 1,
    max: 24 * 365,
    doc: 'An endpoint failing without one success for this long is disabled (audited as `endpoint.disabled`).',
  },
  WEBHOOK_RETENTION_DAYS: {
    group: 'webhooks',
    type: 'int',
    unit: 'days',
    default: 7,
    min: 1,
    max: 100_000,
    doc: 'Delivered events are deleted after this many days, in bounded batches; pending and failed ones never are.',
  },
} as const satisfies Record<string, Variable>;

export type VariableName = keyof typeof VARIABLES;

/** The names of the variables of one type, e.g. `NamesOf<'int'>`. */
export type NamesOf<T extends Variable['type']> = { [N in VariableName]: (typeof VARIABLES)[N]['type'] extends T ? N : never }[VariableName];

/** Looks a variable up with its declared type (the `as const` table narrows each entry too far to index generically). */
export function variable<N extends VariableName>(name: N): Extract<Variable, { type: (typeof VARIABLES)[N]['type'] }> {
  return VARIABLES[name] as Variable as Extract<Variable, { type: (typeof VARIABLES)[N]['type'] }>;
}
