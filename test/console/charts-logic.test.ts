/** The console charts' data logic (src/console/app/chart-data.ts): buckets → uPlot columns, the live window, zones, ranges. */
import { describe, expect, it } from 'vitest';
import {
  appendToWindow,
  bucketsToColumns,
  checkTimeZone,
  emptyWindow,
  latestValue,
  MAX_BUCKETS,
  rangeOf,
  windowToColumns,
} from '../../src/console/app/chart-data.ts';

describe('bucketsToColumns', () => {
  it('uses the server’s bucket starts as x (seconds) and the chosen aggregate as y', () => {
    const columns = bucketsToColumns([
      {
        metric: 'temp',
        buckets: [
          { start: '2026-01-01T00:00:00Z', avg: 20, max: 22 },
          { start: '2026-01-01T00:01:00Z', avg: 21, max: 25 },
        ],
      },
    ]);
    expect(columns).toEqual([
      [1767225600, 1767225660],
      [20, 21],
    ]);
    expect(bucketsToColumns([{ metric: 'temp', buckets: [{ start: '2026-01-01T00:00:00Z', max: 22 }] }], 'max')).toEqual([[1767225600], [22]]);
  });

  it('keeps DST-shaped buckets as the server made them: a 25-hour day and a repeated local hour', () => {
    // Europe/Berlin, 2026-10-25: the day starts at 22:00Z the evening before and lasts 25 hours; the
    // next day starts at 23:00Z. The chart must not "fix" that into 24-hour steps.
    const columns = bucketsToColumns([
      {
        metric: 'temp',
        buckets: [
          { start: '2026-10-24T22:00:00Z', avg: 1 },
          { start: '2026-10-25T23:00:00Z', avg: 2 },
        ],
      },
    ]);
    expect(columns[0][1]! - columns[0][0]!).toBe(25 * 3600);
  });

  it('joins metrics on the union of starts, null where one has no bucket; skips nulls and bad dates', () => {
    const columns = bucketsToColumns([
      {
        metric: 'a',
        buckets: [
          { start: '2026-01-01T00:01:00Z', avg: 1 },
          { start: 'not a date', avg: 9 },
        ],
      },
      {
        metric: 'b',
        buckets: [
          { start: '2026-01-01T00:00:00Z', avg: 2 },
          { start: '2026-01-01T00:01:00Z', avg: null },
        ],
      },
    ]);
    expect(columns).toEqual([
      [1767225600, 1767225660],
      [null, 1],
      [2, null],
    ]);
    expect(bucketsToColumns([])).toEqual([[]]);
  });
});

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

describe('appendToWindow', () => {
  it('appends rows in time order, one column per metric, a new metric filled with null before it', () => {
    let w = appendToWindow(emptyWindow, [{ metric: 'temp', ts: at(0), value: 20 }], 60_000);
    w = appendToWindow(
      w,
      [
        { metric: 'temp', ts: at(1), value: 21 },
        { metric: 'hum', ts: at(1), value: 40 },
      ],
      60_000,
    );
    expect(w.metrics).toEqual(['temp', 'hum']);
    expect(w.times).toHaveLength(2);
    expect(w.values).toEqual({ temp: [20, 21], hum: [null, 40] });
    expect(windowToColumns(w, ['hum'])).toEqual([
      [Date.parse(at(0)) / 1000, Date.parse(at(1)) / 1000],
      [null, 40],
    ]);
    expect(latestValue(w, 'temp')).toBe(21);
    expect(latestValue(w, 'nope')).toBeNull();
  });

  it('inserts a late point in place and overwrites a value at the same timestamp', () => {
    let w = appendToWindow(
      emptyWindow,
      [
        { metric: 'temp', ts: at(0), value: 1 },
        { metric: 'temp', ts: at(10), value: 3 },
      ],
      60_000,
    );
    w = appendToWindow(
      w,
      [
        { metric: 'temp', ts: at(5), value: 2 },
        { metric: 'temp', ts: at(10), value: 4 },
      ],
      60_000,
    );
    expect(w.times.map((t) => (t - Date.parse(at(0))) / 1000)).toEqual([0, 5, 10]);
    expect(w.values.temp).toEqual([1, 2, 4]);
  });

  it('drops what falls out of the window and never changes the window it was given', () => {
    const first = appendToWindow(emptyWindow, [{ metric: 'temp', ts: at(0), value: 1 }], 10_000);
    const second = appendToWindow(first, [{ metric: 'temp', ts: at(30), value: 2 }], 10_000);
    expect(second.values.temp).toEqual([2]);
    expect(first.values.temp).toEqual([1]);
    // A point already outside the window is not kept.
    expect(appendToWindow(second, [{ metric: 'temp', ts: at(1), value: 9 }], 10_000).values.temp).toEqual([2]);
  });

  it('ignores unparseable times and non-finite values', () => {
    expect(
      appendToWindow(
        emptyWindow,
        [
          { metric: 'x', ts: 'garbage', value: 1 },
          { metric: 'x', ts: at(0), value: Number.NaN },
        ],
        1000,
      ),
    ).toEqual({
      times: [],
      metrics: [],
      values: {},
    });
  });
});

describe('checkTimeZone', () => {
  it('accepts IANA names and returns the canonical spelling', () => {
    expect(checkTimeZone('UTC')).toEqual({ ok: true, zone: 'UTC' });
    expect(checkTimeZone(' Europe/Berlin ')).toEqual({ ok: true, zone: 'Europe/Berlin' });
    expect(checkTimeZone('america/new_york')).toEqual({ ok: true, zone: 'America/New_York' });
  });
  it('refuses what is not a zone, saying so', () => {
    expect(checkTimeZone('Mars/Olympus')).toMatchObject({ ok: false, problem: expect.stringContaining('Mars/Olympus') });
    expect(checkTimeZone('   ')).toMatchObject({ ok: false });
  });
});

describe('rangeOf', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  it('gives [now - preset, now] with an exclusive end just after now', () => {
    expect(rangeOf('1h', 'MINUTE', now)).toEqual({ ok: true, from: '2026-06-01T11:00:00.000Z', to: '2026-06-01T12:00:00.001Z' });
  });
  it('refuses too many buckets and unknown presets', () => {
    const refused = rangeOf('30d', 'MINUTE', now);
    expect(refused).toMatchObject({ ok: false, problem: expect.stringContaining('coarser') });
    expect(30 * 1440).toBeGreaterThan(MAX_BUCKETS);
    expect(rangeOf('30d', 'HOUR', now).ok).toBe(true);
    expect(rangeOf('forever', 'DAY', now).ok).toBe(false);
  });
});
