import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: two workers. Against one shared external broker, files run one at a time: every test
    // server subscribes to all devices' topics, and would answer another file's devices (NOT_FOUND).
    maxWorkers: process.env.DOPPEL_TEST_MQTT_URL ? 1 : 2,
    reporters: ['default'],
  },
});
