import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The chaos suite stops and kills the services it starts: only `npm run test:chaos` runs it (vitest.chaos.config.ts).
    exclude: [...configDefaults.exclude, 'test/chaos/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: two workers. Against one shared external broker, files run one at a time: every test
    // server subscribes to all devices' topics, and would answer another file's devices (NOT_FOUND).
    maxWorkers: process.env.DOPPEL_TEST_MQTT_URL ? 1 : 2,
    reporters: ['default'],
  },
});
