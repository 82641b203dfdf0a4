import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: the chaos suite (test/chaos/*.chaos.test.ts, docs/operations.md "Chaos suite").
 * It starts its own PostgreSQL cluster, Mosquitto, Redis and Doppel processes, and stops and kills them,
 * so it never runs in `npm test` (vitest.config.ts excludes it) and its cases run one at a time.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.chaos.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
