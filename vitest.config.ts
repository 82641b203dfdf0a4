import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two workers keep brokers and databases from starving each other.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
