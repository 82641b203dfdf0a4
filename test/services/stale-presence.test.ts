/**
 * The sweep's scheduling (src/services/stale-presence.ts): once per start, after the grace window, with
 * the broker's start time; retried on a transient database failure; cancelled by stop. What it
 * changes in the database is in test/e2e/stale-presence.test.ts (a real process killed and restarted).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createStalePresenceSweep, STALE_PRESENCE_METRIC } from '../../src/services/stale-presence.ts';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

afterEach(() => vi.useRealTimers());

describe('the stale presence sweep', () => {
  it('runs once, after the grace window, as of the broker start, and counts what it cleared', async () => {
    vi.useFakeTimers();
    const calls: Date[] = [];
    const metrics = new Metrics();
    const sweep = createStalePresenceSweep({
      disconnectStale: async (asOf) => (calls.push(asOf), 3),
      graceMs: 90_000,
      logger: createLogger('silent'),
      metrics,
    });
    const startedAt = new Date('2026-12-02T10:00:00Z');
    sweep.start(startedAt);
    sweep.start(new Date()); // a second start is ignored
    await vi.advanceTimersByTimeAsync(89_999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([startedAt]);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(calls).toHaveLength(1);
    expect(metrics.get(STALE_PRESENCE_METRIC)).toBe(3);
    await sweep.stop();
  });

  it('retries while the database is unavailable, and gives up on any other error', async () => {
    vi.useFakeTimers();
    let attempts = 0;
    const sweep = createStalePresenceSweep({
      disconnectStale: async () => {
        attempts++;
        if (attempts < 3) throw refused();
        return 0;
      },
      graceMs: 1000,
      retryMs: 5000,
      logger: createLogger('silent'),
    });
    sweep.start(new Date());
    await vi.advanceTimersByTimeAsync(1000);
    expect(attempts).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(attempts).toBe(3);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(attempts).toBe(3);

    let broken = 0;
    const failing = createStalePresenceSweep({
      disconnectStale: async () => {
        broken++;
        throw new Error('syntax error at or near "x"');
      },
      graceMs: 1000,
      logger: createLogger('silent'),
    });
    failing.start(new Date());
    await vi.advanceTimersByTimeAsync(60_000);
    expect(broken).toBe(1);
    await Promise.all([sweep.stop(), failing.stop()]);
  });

  it('never runs when stopped before the window ends', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const sweep = createStalePresenceSweep({ disconnectStale: async () => ++calls, graceMs: 1000, logger: createLogger('silent') });
    sweep.start(new Date());
    await sweep.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(0);
  });
});
