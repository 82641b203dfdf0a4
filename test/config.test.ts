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

  it('chooses adapters from the URLs', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/doppel' }).database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/doppel' });
    expect(loadConfig({ DATABASE_URL: 'memory://' }).database).toEqual({ kind: 'pglite', dataDir: undefined });
    expect(loadConfig({ DATABASE_URL: 'pglite:/var/lib/doppel' }).database).toEqual({ kind: 'pglite', dataDir: '/var/lib/doppel' });
    expect(loadConfig({ MQTT_URL: 'mqtt://broker:1883', MQTT_SHARED_GROUP: 'g1' }).mqtt).toEqual({ kind: 'external', url: 'mqtt://broker:1883', group: 'g1' });
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
});
