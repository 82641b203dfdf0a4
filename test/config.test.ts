import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('defaults to the embedded mode: PGlite under ./data, Aedes on 1883, port 4000', () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(config.database).toEqual({ kind: 'pglite', dataDir: './data/pglite' });
    // MQTT over TLS on 8883 by default, so the plain listener is loopback only (docs/security.md).
    expect(config.mqtt).toMatchObject({ kind: 'embedded', port: 1883, host: '127.0.0.1', tls: { port: 8883, host: '0.0.0.0', given: undefined } });
    expect(config.https).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(config.twinLimits).toEqual({
      maxSectionBytes: 32 * 1024,
      maxDepth: 10,
      maxKeyLength: 128,
      maxFutureSkewMs: 600_000,
      tombstoneTtlMs: 86_400_000,
      maxMetadataEntries: 10_000,
    });
  });

  it('reads the command settings, and reports every bad one', () => {
    expect(loadConfig({}).commands).toEqual({ rateLimit: 60, rateWindowMs: 60_000, sweepIntervalMs: 1000, maxFleetSize: 10_000, maxParamsBytes: 16 * 1024 });
    expect(loadConfig({ COMMAND_RATE_LIMIT: '5', COMMAND_SWEEP_INTERVAL_MS: '50' }).commands).toMatchObject({ rateLimit: 5, sweepIntervalMs: 50 });
    let error: unknown;
    try {
      loadConfig({
        COMMAND_RATE_LIMIT: 'lots',
        COMMAND_RATE_WINDOW_MS: '0',
        COMMAND_SWEEP_INTERVAL_MS: '1',
        COMMAND_MAX_FLEET_SIZE: '-3',
        COMMAND_MAX_PARAMS_BYTES: '1',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    for (const name of ['COMMAND_RATE_LIMIT', 'COMMAND_RATE_WINDOW_MS', 'COMMAND_SWEEP_INTERVAL_MS', 'COMMAND_MAX_FLEET_SIZE', 'COMMAND_MAX_PARAMS_BYTES']) {
      expect(problems.some((p) => p.startsWith(name))).toBe(true);
    }
  });

  it('chooses adapters from the URLs', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/doppel' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u:p@db:5432/doppel',
      connectTimeoutMs: 3000,
    });
    expect(loadConfig({ DATABASE_URL: 'memory://' }).database).toEqual({ kind: 'pglite', dataDir: undefined });
    expect(loadConfig({ DATABASE_URL: 'pglite:/var/lib/doppel' }).database).toEqual({ kind: 'pglite', dataDir: '/var/lib/doppel' });
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_SHARED_GROUP: 'g1' }).mqtt).toEqual({
      kind: 'external',
      url: 'mqtt://broker:1883',
      group: 'g1',
      sessionExpirySeconds: 300,
      maxInFlight: 8192,
    });
  });

  it('keeps a persistent MQTT session only when MQTT_CLIENT_ID names this instance', () => {
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883' }).mqtt).not.toHaveProperty('clientId');
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_CLIENT_ID: 'doppel-0', MQTT_SESSION_EXPIRY_S: '120' }).mqtt).toEqual({
      kind: 'external',
      url: 'mqtt://broker:1883',
      group: 'doppel',
      clientId: 'doppel-0',
      sessionExpirySeconds: 120,
      maxInFlight: 8192,
    });
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_MAX_IN_FLIGHT: '512' }).mqtt).toMatchObject({ maxInFlight: 512 });
    let error: unknown;
    try {
      loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_CLIENT_ID: 'has space', MQTT_SESSION_EXPIRY_S: '0', MQTT_MAX_IN_FLIGHT: '0' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/MQTT_CLIENT_ID must match/);
    expect(problems).toMatch(/MQTT_SESSION_EXPIRY_S=0 is out of range/);
    expect(problems).toMatch(/MQTT_MAX_IN_FLIGHT=0 is out of range/);
  });

  it('traces only when OTEL_EXPORTER_OTLP_ENDPOINT is set, and refuses a bad endpoint', () => {
    expect(loadConfig({ OTEL_SERVICE_NAME: 'ignored' }).tracing).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing).toEqual({ endpoint: 'http://collector:4318', serviceName: 'doppel' });
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317', OTEL_SERVICE_NAME: 'has space' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT must be http:\/\/… or https:\/\/…[\s\S]*OTEL_SERVICE_NAME must match/,
    );
  });

  it('fans live events out through Redis only when REDIS_URL is set, and refuses a bad one', () => {
    expect(loadConfig({}).redis).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://cache:6379/0' }).redis).toEqual({ url: 'redis://cache:6379/0', channel: 'doppel:events' });
    expect(loadConfig({ REDIS_URL: 'rediss://cache:6380', REDIS_EVENTS_CHANNEL: 'prod:events' }).redis).toEqual({
      url: 'rediss://cache:6380',
      channel: 'prod:events',
    });
    expect(() => loadConfig({ REDIS_URL: 'http://cache:6379', REDIS_EVENTS_CHANNEL: 'has space' })).toThrow(
      /REDIS_URL must be redis:\/\/… or rediss:\/\/…[\s\S]*REDIS_EVENTS_CHANNEL must match/,
    );
  });

  it('reports every bad variable at once, each with its own message', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'eighty', MQTT_PORT: '70000', DATABASE_URL: 'mysql://x', MQTT_URL: 'http://x', LOG_LEVEL: 'loud' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/PORT="eighty" is not a whole number/);
    expect(problems.join('\n')).toMatch(/MQTT_PORT=70000 is out of range/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL must be/);
    expect(problems.join('\n')).toMatch(/MQTT_URL must be/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL must be one of/);
  });

  it('reads telemetry limits and the batching pipeline, and refuses a pipeline that cannot hold a message', () => {
    expect(loadConfig({}).telemetry).toEqual({
      maxMessageBytes: 256 * 1024,
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
    });
    expect(loadConfig({ TELEMETRY_MAX_VALUES_PER_MESSAGE: '10', TELEMETRY_BATCH_MAX_AGE_MS: '0' }).telemetry).toMatchObject({
      maxValuesPerMessage: 10,
      batchMaxAgeMs: 0,
    });
    expect(loadConfig({}).embeddedMaintenance).toEqual({ checkpointWalBytes: 64 * 1024 * 1024, checkIntervalMs: 1000, vacuumIntervalMs: 300_000 });
    expect(loadConfig({ PGLITE_CHECKPOINT_WAL_MB: '16', PGLITE_VACUUM_INTERVAL_MS: '0' }).embeddedMaintenance).toMatchObject({
      checkpointWalBytes: 16 * 1024 * 1024,
      vacuumIntervalMs: 0,
    });
    expect(() => loadConfig({ PGLITE_CHECKPOINT_WAL_MB: '0', TELEMETRY_WRITE_CONCURRENCY: '0' })).toThrow(
      /PGLITE_CHECKPOINT_WAL_MB[\s\S]*TELEMETRY_WRITE_CONCURRENCY|TELEMETRY_WRITE_CONCURRENCY[\s\S]*PGLITE_CHECKPOINT_WAL_MB/,
    );
    let error: unknown;
    try {
      loadConfig({
        TELEMETRY_MAX_PENDING_POINTS: '100',
        TELEMETRY_BATCH_MAX_POINTS: '200',
        TELEMETRY_MAX_VALUES_PER_MESSAGE: '500',
        TELEMETRY_MAX_BATCH_ENTRIES: '0',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/TELEMETRY_MAX_BATCH_ENTRIES=0 is out of range/);
    expect(problems).toMatch(/TELEMETRY_MAX_PENDING_POINTS=100 must be at least TELEMETRY_BATCH_MAX_POINTS \(200\)/);
    expect(problems).toMatch(/TELEMETRY_MAX_PENDING_POINTS=100 must be at least TELEMETRY_MAX_VALUES_PER_MESSAGE \(500\)/);
  });

  it('hardens the GraphQL edge by default, and turns GraphiQL and introspection off in production', () => {
    expect(loadConfig({}).graphql).toEqual({
      graphiql: true,
      introspection: true,
      maxDepth: 10,
      maxAliases: 15,
      maxTokens: 1000,
      maxCost: 10_000,
      maxBodyBytes: 1024 * 1024,
      rateLimitPerSecond: 50,
      rateLimitBurst: 200,
    });
    expect(loadConfig({ NODE_ENV: 'production' }).graphql).toMatchObject({ graphiql: false, introspection: false });
    expect(loadConfig({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true' }).graphql).toMatchObject({ graphiql: false, introspection: true });
    expect(loadConfig({ NODE_ENV: 'production', GRAPHQL_INTROSPECTION: 'true', GRAPHQL_GRAPHIQL: 'true' }).graphql).toMatchObject({
      graphiql: true,
      introspection: true,
    });
    expect(loadConfig({ GRAPHQL_INTROSPECTION: 'false' }).graphql).toMatchObject({ graphiql: false, introspection: false });
    expect(loadConfig({ GRAPHQL_MAX_DEPTH: '6', GRAPHQL_MAX_COST: '500', GRAPHQL_RATE_LIMIT_PER_S: '0' }).graphql).toMatchObject({
      maxDepth: 6,
      maxCost: 500,
      rateLimitPerSecond: 0,
    });
    let error: unknown;
    try {
      loadConfig({
        GRAPHQL_GRAPHIQL: 'true',
        GRAPHQL_INTROSPECTION: 'false',
        GRAPHQL_MAX_DEPTH: '0',
        GRAPHQL_MAX_TOKENS: 'many',
        GRAPHQL_RATE_LIMIT_BURST: '0',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/GRAPHQL_GRAPHIQL=true needs GRAPHQL_INTROSPECTION=true/);
    expect(problems).toMatch(/GRAPHQL_MAX_DEPTH=0 is out of range/);
    expect(problems).toMatch(/GRAPHQL_MAX_TOKENS="many" is not a whole number/);
    expect(problems).toMatch(/GRAPHQL_RATE_LIMIT_BURST=0 is out of range/);
  });

  it('refuses a tombstone window shorter than the allowed device clock skew', () => {
    expect(() => loadConfig({ TWIN_TOMBSTONE_TTL_MS: '1000', TWIN_MAX_FUTURE_SKEW_MS: '2000' })).toThrow(
      /TWIN_TOMBSTONE_TTL_MS=1000 must be at least TWIN_MAX_FUTURE_SKEW_MS \(2000\)/,
    );
  });

  it('reads the Mosquitto dynamic-security sync and the broker HTTP auth secret, and says what is missing', () => {
    expect(loadConfig({}).dynsec).toBeUndefined();
    expect(loadConfig({}).brokerAuthSecret).toBeUndefined();
    const key = 'ab'.repeat(32);
    const config = loadConfig({
      MQTT_URL: 'mqtt://broker:1883',
      MQTT_DYNSEC: '1',
      MQTT_DYNSEC_USERNAME: 'admin',
      MQTT_DYNSEC_PASSWORD: 'pw',
      MQTT_DYNSEC_SECRET_KEY: key,
      MQTT_HTTP_AUTH_SECRET: 'x'.repeat(32),
    });
    expect(config.dynsec).toMatchObject({ url: 'mqtt://broker:1883', username: 'admin', password: 'pw', reconcileIntervalSeconds: 300, batchSize: 200 });
    expect(config.dynsec!.secretKey).toEqual(Buffer.from(key, 'hex'));
    expect(
      loadConfig({
        MQTT_URL: 'mqtt://b',
        MQTT_DYNSEC: '1',
        MQTT_DYNSEC_USERNAME: 'a',
        MQTT_DYNSEC_PASSWORD: 'p',
        MQTT_DYNSEC_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
      }).dynsec!.secretKey,
    ).toEqual(Buffer.alloc(32, 7));
    expect(config.brokerAuthSecret).toBe('x'.repeat(32));

    let error: ConfigError | undefined;
    try {
      loadConfig({ MQTT_DYNSEC: 'yes', MQTT_DYNSEC_SECRET_KEY: 'short', MQTT_HTTP_AUTH_SECRET: 'guessable' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual([
      'MQTT_DYNSEC=1 needs an external broker (MQTT_URL)',
      'MQTT_DYNSEC=1 needs MQTT_DYNSEC_USERNAME and MQTT_DYNSEC_PASSWORD (a dynamic-security admin client)',
      'MQTT_DYNSEC=1 needs MQTT_DYNSEC_SECRET_KEY: 32 random bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`)',
      'MQTT_HTTP_AUTH_SECRET must be at least 32 characters (e.g. `openssl rand -hex 32`)',
    ]);
  });

  it('reads rollup and retention settings, and refuses rollups that would not outlive raw rows', () => {
    expect(
      loadConfig({
        TELEMETRY_SERIES_ROLLUPS: 'false',
        TELEMETRY_RAW_RETENTION_DAYS: '30',
        TELEMETRY_ROLLUP_15M_RETENTION_DAYS: '400',
        TELEMETRY_ROLLUP_1D_RETENTION_DAYS: '0',
        TELEMETRY_RETENTION_INTERVAL_MS: '60000',
        TELEMETRY_RETENTION_BATCH_ROWS: '500',
      }).telemetry,
    ).toMatchObject({
      seriesRollups: false,
      rawRetentionDays: 30,
      rollupRetentionDays: { 900: 400, 3600: 0, 86400: 0 },
      retentionIntervalMs: 60_000,
      retentionBatchRows: 500,
    });
    let error: unknown;
    try {
      loadConfig({ TELEMETRY_RAW_RETENTION_DAYS: '30', TELEMETRY_ROLLUP_1H_RETENTION_DAYS: '7', TELEMETRY_RETENTION_BATCH_ROWS: '0' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/TELEMETRY_ROLLUP_1H_RETENTION_DAYS=7 must be 0 \(forever\) or at least TELEMETRY_RAW_RETENTION_DAYS \(30\)/);
    expect(problems).toMatch(/TELEMETRY_RETENTION_BATCH_ROWS=0 is out of range/);
    // Raw rows kept forever: a rollup grain with an age would be deleted first.
    expect(() => loadConfig({ TELEMETRY_ROLLUP_15M_RETENTION_DAYS: '90' })).toThrow(/TELEMETRY_ROLLUP_15M_RETENTION_DAYS=90 must be 0/);
  });
});
