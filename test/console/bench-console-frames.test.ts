import { describe, expect, it } from 'vitest';
import { frameStats, mainThreadMetrics, mainThreadShare } from '../../bench/lib/console-frames.ts';

const at60Hz = (count: number) => Array.from({ length: count }, (_, i) => i * (1000 / 60));

describe('frameStats (bench:console)', () => {
  it('a steady 60 Hz run has no dropped frames', () => {
    const stats = frameStats(at60Hz(121));
    expect(stats.frames).toBe(120);
    expect(stats.p50).toBeCloseTo(16.67, 1);
    expect(stats.p99).toBeCloseTo(16.67, 1);
    expect(stats).toMatchObject({ over16: 0, over33: 0, droppedFrames: 0 });
  });

  it('counts a long frame once per threshold and by the refreshes it missed', () => {
    // 10 frames of 16.7 ms, then one of 50 ms (3 budgets: 2 missed), then one of 25 ms (1.5 budgets: rounds to 2, 1 missed).
    const times = at60Hz(11);
    times.push(times.at(-1)! + 50, times.at(-1)! + 75);
    const stats = frameStats(times);
    expect(stats.frames).toBe(12);
    expect(stats.max).toBeCloseTo(50, 5);
    expect(stats.over16).toBe(2);
    expect(stats.over33).toBe(1);
    expect(stats.droppedFrames).toBe(3);
  });

  it('tolerates a millisecond of timer jitter', () => {
    expect(frameStats([0, 17.5, 34]).over16).toBe(0);
  });

  it('fewer than two timestamps measure nothing', () => {
    const stats = frameStats([5]);
    expect(stats.frames).toBe(0);
    expect(stats.p50).toBeNaN();
    expect(stats.max).toBeNaN();
    expect(stats.droppedFrames).toBe(0);
  });

  it('refuses timestamps that go backwards', () => {
    expect(() => frameStats([0, 16, 10])).toThrow(/must rise/);
  });
});

describe('mainThreadShare (bench:console)', () => {
  const reading = (t: number, task: number, script: number, layout: number, style: number) =>
    mainThreadMetrics([
      { name: 'Timestamp', value: t },
      { name: 'TaskDuration', value: task },
      { name: 'ScriptDuration', value: script },
      { name: 'LayoutDuration', value: layout },
      { name: 'RecalcStyleDuration', value: style },
      { name: 'Nodes', value: 40 },
    ]);

  it('is the task time over the wall time between two readings', () => {
    const share = mainThreadShare(reading(100, 1, 0.5, 0.1, 0.1), reading(130, 1.9, 1.1, 0.25, 0.25));
    expect(share.wallMs).toBeCloseTo(30_000, 6);
    expect(share.busyPct).toBeCloseTo(3, 6);
    expect(share.scriptPct).toBeCloseTo(2, 6);
    expect(share.layoutStylePct).toBeCloseTo(1, 6);
  });

  it('a metric Chromium did not report is an error, not a zero', () => {
    expect(() => mainThreadMetrics([{ name: 'Timestamp', value: 1 }])).toThrow(/no TaskDuration/);
  });

  it('readings at the same instant are refused', () => {
    const same = reading(5, 1, 1, 1, 1);
    expect(() => mainThreadShare(same, same)).toThrow(/apart in time/);
  });
});
