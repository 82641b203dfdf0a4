/**
 * The Prometheus text exposition of src/metrics.ts, histograms above all: cumulative `_bucket` series
 * with `le` (ending in "+Inf", equal to `_count`), `_sum` and `_count` per label set, the `# TYPE` line,
 * and the refusals (bad bounds, NaN observations, a name taken by a counter).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BUCKETS, Metrics } from '../src/metrics.ts';

/** The sample lines of one metric family, as `name{labels} value` strings. */
const samples = (text: string, prefix: string) => text.split('\n').filter((line) => line.startsWith(prefix));

describe('Metrics: histograms', () => {
  it('renders cumulative buckets, +Inf, _sum and _count per label set, after HELP and TYPE', async () => {
    const metrics = new Metrics();
    metrics.describeHistogram('doppel_test_seconds', 'Seconds per test.', [0.1, 1, 10]);
    for (const value of [0.05, 0.1, 0.5, 3, 20]) metrics.observe('doppel_test_seconds', { outcome: 'delivered' }, value);
    metrics.observe('doppel_test_seconds', { outcome: 'failed' }, 7);
    const text = await metrics.render();
    expect(text).toContain('# HELP doppel_test_seconds Seconds per test.\n# TYPE doppel_test_seconds histogram\n');
    expect(samples(text, 'doppel_test_seconds')).toEqual([
      // prom-client writes `le` first. 0.1 is in le="0.1": a bucket counts observations less than or equal to its bound.
      'doppel_test_seconds_bucket{le="0.1",outcome="delivered"} 2',
      'doppel_test_seconds_bucket{le="1",outcome="delivered"} 3',
      'doppel_test_seconds_bucket{le="10",outcome="delivered"} 4',
      'doppel_test_seconds_bucket{le="+Inf",outcome="delivered"} 5',
      'doppel_test_seconds_sum{outcome="delivered"} 23.65',
      'doppel_test_seconds_count{outcome="delivered"} 5',
      'doppel_test_seconds_bucket{le="0.1",outcome="failed"} 0',
      'doppel_test_seconds_bucket{le="1",outcome="failed"} 0',
      'doppel_test_seconds_bucket{le="10",outcome="failed"} 1',
      'doppel_test_seconds_bucket{le="+Inf",outcome="failed"} 1',
      'doppel_test_seconds_sum{outcome="failed"} 7',
      'doppel_test_seconds_count{outcome="failed"} 1',
    ]);
    expect(metrics.histogram('doppel_test_seconds', { outcome: 'failed' })).toEqual({
      buckets: [
        [0.1, 0],
        [1, 0],
        [10, 1],
        [Infinity, 1],
      ],
      sum: 7,
      count: 1,
    });
  });

  it('renders an unlabelled histogram with le as its only label, beside counters and gauges', async () => {
    const metrics = new Metrics();
    metrics.inc('doppel_things_total');
    metrics.set('doppel_level', {}, 3);
    metrics.describe('doppel_level', 'A level.', 'gauge');
    metrics.observe('doppel_plain_seconds', {}, 0.2);
    const text = await metrics.render();
    expect(samples(text, 'doppel_plain_seconds')).toEqual([
      ...DEFAULT_BUCKETS.map((bound) => `doppel_plain_seconds_bucket{le="${bound}"} ${bound >= 0.2 ? 1 : 0}`),
      'doppel_plain_seconds_bucket{le="+Inf"} 1',
      'doppel_plain_seconds_sum 0.2',
      'doppel_plain_seconds_count 1',
    ]);
    expect(text).toContain('# TYPE doppel_plain_seconds histogram\n');
    expect(text).toContain('# TYPE doppel_things_total counter\ndoppel_things_total 1\n');
    expect(text).toContain('# TYPE doppel_level gauge\ndoppel_level 3\n');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('a described histogram with no observation renders its HELP and TYPE only', async () => {
    const metrics = new Metrics();
    metrics.describeHistogram('doppel_idle_seconds', 'Idle.', [1]);
    expect(await metrics.render()).toBe('# HELP doppel_idle_seconds Idle.\n# TYPE doppel_idle_seconds histogram\n');
    expect(metrics.histogram('doppel_idle_seconds')).toBeUndefined();
  });

  it('does not record a value that is not a finite number', async () => {
    const metrics = new Metrics();
    metrics.describeHistogram('doppel_test_seconds', 'Seconds.', [1]);
    metrics.observe('doppel_test_seconds', {}, 0.5);
    for (const bad of [NaN, Infinity, -Infinity]) metrics.observe('doppel_test_seconds', {}, bad);
    expect(metrics.histogram('doppel_test_seconds')).toEqual({
      buckets: [
        [1, 1],
        [Infinity, 1],
      ],
      sum: 0.5,
      count: 1,
    });
  });

  it('refuses bucket bounds that are empty, unordered, repeated or not finite, and a name taken by a counter', async () => {
    const metrics = new Metrics();
    for (const bounds of [[], [1, 0.5], [1, 1], [0.1, NaN], [1, Infinity]])
      expect(() => metrics.describeHistogram('doppel_bad_seconds', 'Bad.', bounds)).toThrow(/strictly ascending/);
    metrics.inc('doppel_taken_total');
    expect(() => metrics.describeHistogram('doppel_taken_total', 'Taken.', [1])).toThrow(/already a counter/);
    metrics.describeHistogram('doppel_used_seconds', 'Used.', [1]);
    metrics.observe('doppel_used_seconds', {}, 2);
    expect(() => metrics.describeHistogram('doppel_used_seconds', 'Used.', [1, 2])).toThrow(/other buckets/);
  });
});
