import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('defaults to the embedded mode: PGlite under ./data, Aedes on 1883, port 4000', () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(config.database).toEqual({ kind: 'pglite', dataDir: './data/pglite' });
    expect(config.mqtt).toEqual({ kind: 'embedded', port: 1883, host: '0.0.0.0' });
    expect(config.logLevel).toBe('info');
    expect(config.twinLimits).toEqual({ maxSectionBytes: 32 * 1024, maxDepth: 10, maxKeyLength: 128, maxFutureSkewMs: 600_000 });
  });

  it('reads the command settings, and reports every bad one', () => {
    expect(loadConfig({}).commands).toEqual({ rateLimit: 60, rateWindowMs: 60_000, sweepIntervalMs: 1000, maxFleetSize: 10_000, maxParamsBytes: 16 * 1024 });
    expect(loadConfig({ COMMAND_RATE_LIMIT: '5', COMMAND_SWEEP_INTERVAL_MS: '50' }).commands).toMatchObject({ rateLimit: 5, sweepIntervalMs: 50 });
    let error: unknown;
    try {
      loadConfig({ COMMAND_RATE_LIMIT: 'lots', COMMAND_RATE_WINDOW_MS: '0', COMMAND_SWEEP_INTERVAL_MS: '1', COMMAND_MAX_FLEET_SIZE: '-3', COMMAND_MAX_PARAMS_BYTES: '1' });
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
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/doppel' }).database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/doppel' });
    expect(loadConfig({ DATABASE_URL: 'memory://' }).database).toEqual({ kind: 'pglite', dataDir: undefined });
    expect(loadConfig({ DATABASE_URL: 'pglite:/var/lib/doppel' }).database).toEqual({ kind: 'pglite', dataDir: '/var/lib/doppel' });
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_SHARED_GROUP: 'g1' }).mqtt).toEqual({ kind: 'external', url: 'mqtt://broker:1883', group: 'g1', sessionExpirySeconds: 300, maxInFlight: 2048 });
  });

  it('keeps a persistent MQTT session only when MQTT_CLIENT_ID names this instance', () => {
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883' }).mqtt).not.toHaveProperty('clientId');
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_CLIENT_ID: 'doppel-0', MQTT_SESSION_EXPIRY_S: '120' }).mqtt).toEqual({
      kind: 'external',
      url: 'mqtt://broker:1883',
      group: 'doppel',
      clientId: 'doppel-0',
      sessionExpirySeconds: 120,
      maxInFlight: 2048,
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
      batchMaxPoints: 5000,
      batchMaxAgeMs: 20,
      maxPendingPoints: 100_000,
      backpressureTimeoutMs: 10_000,
      seriesMaxBuckets: 10_000,
      seriesMaxMetrics: 20,
    });
    expect(loadConfig({ TELEMETRY_MAX_VALUES_PER_MESSAGE: '10', TELEMETRY_BATCH_MAX_AGE_MS: '0' }).telemetry).toMatchObject({ maxValuesPerMessage: 10, batchMaxAgeMs: 0 });
    let error: unknown;
    try {
      loadConfig({ TELEMETRY_MAX_PENDING_POINTS: '100', TELEMETRY_BATCH_MAX_POINTS: '200', TELEMETRY_MAX_VALUES_PER_MESSAGE: '500', TELEMETRY_MAX_BATCH_ENTRIES: '0' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/TELEMETRY_MAX_BATCH_ENTRIES=0 is out of range/);
    expect(problems).toMatch(/TELEMETRY_MAX_PENDING_POINTS=100 must be at least TELEMETRY_BATCH_MAX_POINTS \(200\)/);
    expect(problems).toMatch(/TELEMETRY_MAX_PENDING_POINTS=100 must be at least TELEMETRY_MAX_VALUES_PER_MESSAGE \(500\)/);
  });
});
