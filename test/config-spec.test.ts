import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.ts';
import { GENERATED_FILES, configurationMarkdown, envExample } from '../src/config/docs.ts';
import { createEnvReader, isWhenUnset } from '../src/config/read.ts';
import { GROUPS, VARIABLES, type Variable } from '../src/config/spec.ts';
import { defaultServerNames } from '../src/security/tls/certificates.ts';

const spec = Object.entries(VARIABLES) as Array<[string, Variable]>;

/** Every variable set to a valid value other than its default, with an external broker, dynamic security and Redis. */
const FULL_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  PORT: '8080',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'WARN',
  LOG_FORMAT: 'json',
  SHUTDOWN_TIMEOUT_MS: '5000',
  DATABASE_URL: ' postgresql://doppel:pw@db:5432/doppel ',
  DATABASE_CONNECT_TIMEOUT_MS: '1500',
  DOPPEL_DATA_DIR: '/var/lib/doppel',
  PGLITE_CHECKPOINT_WAL_MB: '16',
  PGLITE_CHECKPOINT_CHECK_MS: '500',
  PGLITE_VACUUM_INTERVAL_MS: '0',
  MQTT_URL: 'mqtts://broker:8883',
  MQTT_PORT: '18830',
  MQTT_HOST: '127.0.0.2',
  MQTT_ALLOW_PLAINTEXT: 'true',
  MQTT_TLS: 'on',
  MQTT_TLS_PORT: '18883',
  MQTT_TLS_HOST: '127.0.0.3',
  MQTT_TLS_HOSTNAMES: 'doppel.example.com,127.0.0.1',
  MQTT_TLS_CERT: '/etc/doppel/server.pem',
  MQTT_TLS_KEY: '/etc/doppel/server-key.pem',
  MQTT_TLS_CA: '/etc/doppel/ca.pem',
  HTTPS: 'auto',
  HTTPS_CERT: '/etc/doppel/api.pem',
  HTTPS_KEY: '/etc/doppel/api-key.pem',
  MQTT_MAX_PAYLOAD_BYTES: '65536',
  MQTT_SHARED_GROUP: 'doppel-prod',
  MQTT_USERNAME: 'server',
  MQTT_PASSWORD: 'server-pw',
  MQTT_CLIENT_ID: ' doppel-1 ',
  MQTT_SESSION_EXPIRY_S: '120',
  MQTT_MAX_IN_FLIGHT: '512',
  MQTT_DYNSEC: 'yes',
  MQTT_DYNSEC_URL: 'mqtt://dynsec:1883',
  MQTT_DYNSEC_USERNAME: 'admin',
  MQTT_DYNSEC_PASSWORD: 'admin-pw',
  MQTT_DYNSEC_SECRET_KEY: 'ab'.repeat(32),
  MQTT_DYNSEC_RECONCILE_S: '0',
  MQTT_DYNSEC_BATCH: '50',
  MQTT_DYNSEC_TIMEOUT_MS: '2000',
  MQTT_HTTP_AUTH_SECRET: 's'.repeat(40),
  MQTT_WS: 'off',
  METRICS_TOKEN: 'm'.repeat(20),
  REDIS_URL: 'rediss://cache:6380/1',
  REDIS_EVENTS_CHANNEL: 'prod:events',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318',
  OTEL_SERVICE_NAME: 'doppel-prod',
  DOPPEL_BOOTSTRAP_TOKEN: 'off',
  API_TOKEN_RECHECK_MS: '1000',
  MQTT_PRESENCE_GRACE_S: '45',
  MQTT_MAX_CONNECTS_PER_S: '500',
  TWIN_MAX_SECTION_BYTES: '4096',
  TWIN_MAX_DEPTH: '5',
  TWIN_MAX_KEY_LENGTH: '64',
  TWIN_MAX_FUTURE_SKEW_MS: '0',
  TWIN_TOMBSTONE_TTL_MS: '3600000',
  TWIN_MAX_METADATA_ENTRIES: '500',
  TELEMETRY_MAX_MESSAGE_BYTES: '8192',
  TELEMETRY_MAX_VALUES_PER_MESSAGE: '100',
  TELEMETRY_MAX_BATCH_ENTRIES: '10',
  TELEMETRY_MAX_FUTURE_SKEW_MS: '1000',
  TELEMETRY_BATCH_MAX_POINTS: '500',
  TELEMETRY_BATCH_MAX_AGE_MS: '5',
  TELEMETRY_MAX_PENDING_POINTS: '2000',
  TELEMETRY_BACKPRESSURE_TIMEOUT_MS: '100',
  TELEMETRY_WRITE_CONCURRENCY: '4',
  TELEMETRY_ROLLUP_SETTLE_INTERVAL_MS: '2000',
  TELEMETRY_SERIES_MAX_BUCKETS: '500',
  TELEMETRY_SERIES_MAX_METRICS: '5',
  TELEMETRY_SERIES_ROLLUPS: 'false',
  TELEMETRY_RAW_RETENTION_DAYS: '30',
  TELEMETRY_ROLLUP_15M_RETENTION_DAYS: '90',
  TELEMETRY_ROLLUP_1H_RETENTION_DAYS: '365',
  TELEMETRY_ROLLUP_1D_RETENTION_DAYS: '0',
  TELEMETRY_RETENTION_INTERVAL_MS: '60000',
  TELEMETRY_RETENTION_BATCH_ROWS: '1000',
  GRAPHQL_INTROSPECTION: 'true',
  GRAPHQL_GRAPHIQL: '1',
  GRAPHQL_MAX_DEPTH: '6',
  GRAPHQL_MAX_ALIASES: '0',
  GRAPHQL_MAX_TOKENS: '500',
  GRAPHQL_MAX_COST: '500',
  GRAPHQL_MAX_BODY_BYTES: '2048',
  GRAPHQL_RATE_LIMIT_PER_S: '0',
  GRAPHQL_RATE_LIMIT_BURST: '10',
  COMMAND_RATE_LIMIT: '5',
  COMMAND_RATE_WINDOW_MS: '1000',
  COMMAND_SWEEP_INTERVAL_MS: '50',
  COMMAND_MAX_FLEET_SIZE: '100',
  COMMAND_MAX_PARAMS_BYTES: '1024',
  DEAD_LETTER_RETENTION_DAYS: '7',
  DEAD_LETTER_MAX_PER_TENANT: '500',
  DEAD_LETTER_SWEEP_INTERVAL_MS: '60000',
  TWIN_HISTORY_RETENTION_DAYS: '90',
  COMMAND_RETENTION_DAYS: '30',
  AUDIT_RETENTION_DAYS: '365',
  HISTORY_RETENTION_INTERVAL_MS: '60000',
  HISTORY_RETENTION_BATCH_ROWS: '1000',
  RULES_MAX_PER_TENANT: '50',
  RULES_SWEEP_INTERVAL_MS: '200',
  RULES_FLAP_MAX_EDGES: '4',
  RULES_FLAP_WINDOW_MS: '60000',
  RULES_STATE_WATERMARK_MS: '0',
  WEBHOOKS_ENABLED: 'false',
  WEBHOOKS_ALLOW_HTTP: 'true',
  WEBHOOKS_ALLOWED_NETWORKS: '127.0.0.1/32, 10.0.0.0/8',
  WEBHOOK_SECRET_KEY: '00'.repeat(32),
  WEBHOOK_TIMEOUT_MS: '2000',
  WEBHOOK_LEASE_MS: '5000',
  WEBHOOK_MAX_IN_FLIGHT: '2',
  WEBHOOK_CLAIM_BATCH: '50',
  WEBHOOK_POLL_INTERVAL_MS: '100',
  WEBHOOK_MAX_ATTEMPTS: '5',
  WEBHOOK_MAX_AGE_HOURS: '2',
  WEBHOOK_DISABLE_AFTER_HOURS: '3',
  WEBHOOK_RETENTION_DAYS: '1',
  CONSOLE: 'false',
};

describe('loadConfig through the spec builds the same Config as before', () => {
  // Both objects were printed by the loader the spec replaced, for the same environments.
  it('for an empty environment (the defaults)', () => {
    const expected: Config = {
      port: 4000,
      host: '0.0.0.0',
      database: { kind: 'pglite', dataDir: './data/pglite' },
      // TLS on by default (docs/security.md), so the plain listener is loopback only.
      mqtt: {
        kind: 'embedded',
        port: 1883,
        host: '127.0.0.1',
        tls: { port: 8883, host: '0.0.0.0', hostnames: defaultServerNames(os.hostname()), given: undefined },
        allowPlaintext: false,
        production: false,
      },
      https: undefined,
      mqttWebSocket: true,
      logLevel: 'info',
      logFormat: 'auto',
      dataDir: './data',
      embeddedMaintenance: { checkpointWalBytes: 67_108_864, checkIntervalMs: 1000, vacuumIntervalMs: 300_000 },
      bootstrapAdminToken: true,
      apiTokenRecheckMs: 30_000,
      presenceGraceMs: 90_000,
      maxConnectsPerSecond: 0,
      maxPayloadBytes: 262_144,
      twinLimits: {
        maxSectionBytes: 32_768,
        maxDepth: 10,
        maxKeyLength: 128,
        maxFutureSkewMs: 600_000,
        tombstoneTtlMs: 86_400_000,
        maxMetadataEntries: 10_000,
      },
      telemetry: {
        maxMessageBytes: 262_144,
        maxValuesPerMessage: 1000,
        maxBatchEntries: 1000,
        maxFutureSkewMs: 600_000,
        batchMaxPoints: 15_000,
        batchMaxAgeMs: 20,
        maxPendingPoints: 100_000,
        backpressureTimeoutMs: 10_000,
        writeConcurrency: 2,
        rollupSettleIntervalMs: 10_000,
        seriesMaxBuckets: 10_000,
        seriesMaxMetrics: 20,
        seriesRollups: true,
        rawRetentionDays: 0,
        rollupRetentionDays: { 900: 0, 3600: 0, 86400: 0 },
        retentionIntervalMs: 600_000,
        retentionBatchRows: 10_000,
      },
      console: { enabled: true, offerBootstrapToken: true },
      graphql: {
        graphiql: true,
        introspection: true,
        maxDepth: 10,
        maxAliases: 15,
        maxTokens: 1000,
        maxCost: 10_000,
        maxBodyBytes: 1_048_576,
        rateLimitPerSecond: 50,
        rateLimitBurst: 200,
      },
      commands: { rateLimit: 60, rateWindowMs: 60_000, sweepIntervalMs: 1000, maxFleetSize: 10_000, maxParamsBytes: 16_384 },
      deadLetters: { retentionDays: 30, maxPerTenant: 10_000, sweepIntervalMs: 600_000 },
      historyRetention: { twinChangeDays: 0, commandDays: 0, auditDays: 0, intervalMs: 600_000, batchRows: 5000 },
      rules: { maxPerTenant: 1000, sweepIntervalMs: 1000, flapMaxEdges: 6, flapWindowMs: 600_000, stateWatermarkMs: 10_000 },
      webhooks: {
        enabled: true,
        allowHttp: false,
        allowedNetworks: [],
        secretKey: undefined,
        timeoutMs: 15_000,
        leaseMs: 60_000,
        maxInFlight: 4,
        claimBatch: 200,
        pollIntervalMs: 1000,
        maxAttempts: 20,
        maxAgeMs: 72 * 3_600_000,
        disableAfterMs: 120 * 3_600_000,
        retentionDays: 7,
      },
      shutdownTimeoutMs: 10_000,
      dynsec: undefined,
      brokerAuthSecret: undefined,
      redis: undefined,
      tracing: undefined,
    };
    expect(loadConfig({})).toStrictEqual(expected);
  });

  it('for an environment that sets every variable', () => {
    const expected: Config = {
      port: 8080,
      host: '127.0.0.1',
      database: { kind: 'postgres', url: 'postgresql://doppel:pw@db:5432/doppel', connectTimeoutMs: 1500 },
      https: { source: 'given', certPath: '/etc/doppel/api.pem', keyPath: '/etc/doppel/api-key.pem' },
      mqtt: {
        kind: 'external',
        url: 'mqtts://broker:8883',
        group: 'doppel-prod',
        username: 'server',
        password: 'server-pw',
        clientId: 'doppel-1',
        sessionExpirySeconds: 120,
        maxInFlight: 512,
      },
      mqttWebSocket: false,
      metricsToken: 'm'.repeat(20),
      logLevel: 'warn',
      logFormat: 'json',
      dataDir: '/var/lib/doppel',
      embeddedMaintenance: { checkpointWalBytes: 16_777_216, checkIntervalMs: 500, vacuumIntervalMs: 0 },
      bootstrapAdminToken: false,
      apiTokenRecheckMs: 1000,
      presenceGraceMs: 45_000,
      maxConnectsPerSecond: 500,
      maxPayloadBytes: 65_536,
      twinLimits: { maxSectionBytes: 4096, maxDepth: 5, maxKeyLength: 64, maxFutureSkewMs: 0, tombstoneTtlMs: 3_600_000, maxMetadataEntries: 500 },
      telemetry: {
        maxMessageBytes: 8192,
        maxValuesPerMessage: 100,
        maxBatchEntries: 10,
        maxFutureSkewMs: 1000,
        batchMaxPoints: 500,
        batchMaxAgeMs: 5,
        maxPendingPoints: 2000,
        backpressureTimeoutMs: 100,
        writeConcurrency: 4,
        rollupSettleIntervalMs: 2000,
        seriesMaxBuckets: 500,
        seriesMaxMetrics: 5,
        seriesRollups: false,
        rawRetentionDays: 30,
        rollupRetentionDays: { 900: 90, 3600: 365, 86400: 0 },
        retentionIntervalMs: 60_000,
        retentionBatchRows: 1000,
      },
      console: { enabled: false, offerBootstrapToken: false },
      graphql: {
        graphiql: true,
        introspection: true,
        maxDepth: 6,
        maxAliases: 0,
        maxTokens: 500,
        maxCost: 500,
        maxBodyBytes: 2048,
        rateLimitPerSecond: 0,
        rateLimitBurst: 10,
      },
      commands: { rateLimit: 5, rateWindowMs: 1000, sweepIntervalMs: 50, maxFleetSize: 100, maxParamsBytes: 1024 },
      deadLetters: { retentionDays: 7, maxPerTenant: 500, sweepIntervalMs: 60_000 },
      historyRetention: { twinChangeDays: 90, commandDays: 30, auditDays: 365, intervalMs: 60_000, batchRows: 1000 },
      rules: { maxPerTenant: 50, sweepIntervalMs: 200, flapMaxEdges: 4, flapWindowMs: 60_000, stateWatermarkMs: 0 },
      webhooks: {
        enabled: false,
        allowHttp: true,
        allowedNetworks: ['127.0.0.1/32', '10.0.0.0/8'],
        secretKey: Buffer.alloc(32),
        timeoutMs: 2000,
        leaseMs: 5000,
        maxInFlight: 2,
        claimBatch: 50,
        pollIntervalMs: 100,
        maxAttempts: 5,
        maxAgeMs: 2 * 3_600_000,
        disableAfterMs: 3 * 3_600_000,
        retentionDays: 1,
      },
      shutdownTimeoutMs: 5000,
      dynsec: {
        url: 'mqtt://dynsec:1883',
        username: 'admin',
        password: 'admin-pw',
        secretKey: Buffer.from('ab'.repeat(32), 'hex'),
        reconcileIntervalSeconds: 0,
        batchSize: 50,
        timeoutMs: 2000,
      },
      brokerAuthSecret: 's'.repeat(40),
      redis: { url: 'rediss://cache:6380/1', channel: 'prod:events' },
      tracing: { endpoint: 'https://collector:4318', serviceName: 'doppel-prod' },
    };
    expect(loadConfig(FULL_ENV)).toStrictEqual(expected);
  });
});

describe('the configuration spec', () => {
  it('declares exactly the variables loadConfig reads', () => {
    const read = new Set<string>();
    const recording = new Proxy(FULL_ENV, {
      get(target, name) {
        if (typeof name === 'string') read.add(name);
        return Reflect.get(target, name) as string | undefined;
      },
    });
    loadConfig(recording);
    expect([...read].sort()).toEqual(Object.keys(VARIABLES).sort());
    expect(Object.keys(FULL_ENV).sort()).toEqual(Object.keys(VARIABLES).sort());
  });

  it('documents every variable in a known section, and every section has variables', () => {
    for (const [name, variable] of spec) {
      expect(name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(Object.keys(GROUPS), name).toContain(variable.group);
      expect(variable.doc, name).toMatch(/^\S.{10,}[.)]$/s);
      expect(variable.doc, `${name}: a | would break the Markdown table`).not.toContain('|');
    }
    for (const group of Object.keys(GROUPS))
      expect(
        spec.some(([, variable]) => variable.group === group),
        group,
      ).toBe(true);
  });

  it('keeps every default within its own bounds', () => {
    for (const [name, variable] of spec) {
      switch (variable.type) {
        case 'int':
          expect(Number.isInteger(variable.default) && variable.min <= variable.default && variable.default <= variable.max, name).toBe(true);
          break;
        case 'enum':
          expect(variable.values, name).toContain(variable.default);
          break;
        case 'string':
          if (variable.pattern && !isWhenUnset(variable.default)) expect(variable.default, name).toMatch(variable.pattern);
          if (variable.pattern && variable.example !== undefined) expect(variable.example, name).toMatch(variable.pattern);
          break;
        case 'url':
          expect(variable.example, name).toMatch(variable.accepts);
          break;
        case 'bool':
        case 'secret':
          break;
      }
    }
  });

  it('asks for a default that depends on other variables instead of guessing one', () => {
    const read = createEnvReader({}, []);
    expect(() => read.bool('GRAPHQL_INTROSPECTION')).toThrow(/must be passed in/);
    expect(read.bool('GRAPHQL_INTROSPECTION', false)).toBe(false);
  });
});

describe('the generated configuration docs', () => {
  const root = path.resolve(import.meta.dirname, '..');

  it('are the same on every run, whatever the environment', () => {
    const before = [configurationMarkdown(), envExample()];
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      expect([configurationMarkdown(), envExample()]).toEqual(before);
    } finally {
      process.env.NODE_ENV = saved;
    }
  });

  it('are committed as generated (npm run config:docs)', () => {
    for (const file of GENERATED_FILES) {
      expect(fs.readFileSync(path.join(root, file.path), 'utf8'), `${file.path} is stale: run npm run config:docs`).toBe(file.render());
    }
  });

  it('list every variable with its default: a table row each, and a commented line in .env.example', () => {
    const markdown = configurationMarkdown();
    const example = envExample();
    for (const [name, variable] of spec) {
      expect(markdown, name).toContain(`| \`${name}\` |`);
      const line = example.split('\n').find((text) => text.startsWith(`# ${name}=`));
      expect(line, name).toBeDefined();
      if (!isWhenUnset(variable.default)) expect(line).toBe(`# ${name}=${variable.default}`);
    }
    expect(example.split('\n').filter((text) => text.length > 100)).toEqual([]);
  });

  it('give .env.example values loadConfig accepts, all at once', () => {
    const assignments = envExample()
      .split('\n')
      .map((text) => /^# ([A-Z][A-Z0-9_]*)=(.*)$/.exec(text))
      .filter((match) => match !== null);
    const env = Object.fromEntries(assignments.map(([, name, value]) => [name!, value!]));
    // Dynamic security needs its credentials; the example leaves them for the operator to fill in.
    Object.assign(env, { MQTT_DYNSEC_PASSWORD: 'pw', MQTT_DYNSEC_SECRET_KEY: 'ab'.repeat(32), MQTT_HTTP_AUTH_SECRET: 'x'.repeat(32), MQTT_PASSWORD: 'pw' });
    expect(() => loadConfig(env)).not.toThrow();
  });
});
