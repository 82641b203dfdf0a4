/**
 * bench:console's arithmetic (bench/console.ts), kept pure so it is unit-tested without a browser:
 * frame-time statistics from `requestAnimationFrame` timestamps, and the main thread's busy share
 * from two readings of Chromium's `Performance.getMetrics` (CDP).
 */
import { percentiles } from './stats.ts';

/** One display frame at 60 Hz, in ms: a frame longer than this missed at least one refresh. */
export const FRAME_BUDGET_MS = 1000 / 60;

export interface FrameStats {
  /** Frame intervals measured (timestamps − 1). */
  frames: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Intervals longer than one 60 Hz frame (16.7 ms, with 1 ms of timer jitter tolerated). */
  over16: number;
  /** Intervals longer than two frames (33.3 ms + 1 ms): a stutter a person sees. */
  over33: number;
  /**
   * Refreshes missed in all: an interval of n frame budgets (rounded) missed n − 1 of them. Counts
   * a 50 ms frame as 2 missed, where `over16` counts it once.
   */
  droppedFrames: number;
}

/** Tolerance for timer jitter: rAF timestamps of a 60 Hz display wobble by a fraction of a ms. */
const JITTER_MS = 1;

/**
 * Frame statistics from successive `requestAnimationFrame` timestamps (ms, rising). Fewer than two
 * timestamps measure nothing: every figure is NaN and the counts 0.
 */
export function frameStats(timestamps: readonly number[]): FrameStats {
  const intervals: number[] = [];
  for (let i = 1; i < timestamps.length; i++) {
    const interval = timestamps[i]! - timestamps[i - 1]!;
    if (!Number.isFinite(interval) || interval < 0) throw new Error(`frame timestamps must rise: ${timestamps[i - 1]} then ${timestamps[i]}`);
    intervals.push(interval);
  }
  const [p50, p95, p99] = percentiles([...intervals], [50, 95, 99]) as [number, number, number];
  let over16 = 0;
  let over33 = 0;
  let droppedFrames = 0;
  for (const interval of intervals) {
    if (interval > FRAME_BUDGET_MS + JITTER_MS) over16++;
    if (interval > 2 * FRAME_BUDGET_MS + JITTER_MS) over33++;
    droppedFrames += Math.max(0, Math.round(interval / FRAME_BUDGET_MS) - 1);
  }
  return { frames: intervals.length, p50, p95, p99, max: intervals.length ? Math.max(...intervals) : Number.NaN, over16, over33, droppedFrames };
}

/** The subset of CDP `Performance.getMetrics` bench:console reads (values in seconds). */
export interface MainThreadMetrics {
  Timestamp: number;
  TaskDuration: number;
  ScriptDuration: number;
  LayoutDuration: number;
  RecalcStyleDuration: number;
}

/** `Performance.getMetrics`' list as the named figures above; a missing one is an error, not a 0 that would flatter. */
export function mainThreadMetrics(metrics: ReadonlyArray<{ name: string; value: number }>): MainThreadMetrics {
  const byName = new Map(metrics.map((m) => [m.name, m.value]));
  const read = (name: keyof MainThreadMetrics) => {
    const value = byName.get(name);
    if (value === undefined) throw new Error(`Performance.getMetrics has no ${name}`);
    return value;
  };
  return {
    Timestamp: read('Timestamp'),
    TaskDuration: read('TaskDuration'),
    ScriptDuration: read('ScriptDuration'),
    LayoutDuration: read('LayoutDuration'),
    RecalcStyleDuration: read('RecalcStyleDuration'),
  };
}

export interface MainThreadShare {
  wallMs: number;
  /** Main-thread task time ÷ wall time, in % (everything the renderer's main thread did: script, style, layout, paint, GC). */
  busyPct: number;
  scriptPct: number;
  /** Layout + style recalculation ÷ wall time, in %. */
  layoutStylePct: number;
}

/** The main thread's share of wall time between two readings of the same page. */
export function mainThreadShare(before: MainThreadMetrics, after: MainThreadMetrics): MainThreadShare {
  const wall = after.Timestamp - before.Timestamp;
  if (!(wall > 0)) throw new Error(`the readings must be apart in time (got ${wall} s)`);
  const pct = (seconds: number) => (100 * seconds) / wall;
  return {
    wallMs: wall * 1000,
    busyPct: pct(after.TaskDuration - before.TaskDuration),
    scriptPct: pct(after.ScriptDuration - before.ScriptDuration),
    layoutStylePct: pct(after.LayoutDuration - before.LayoutDuration + after.RecalcStyleDuration - before.RecalcStyleDuration),
  };
}
