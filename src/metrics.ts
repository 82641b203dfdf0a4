/**
 * Counters, gauges and histograms for what Doppel refused, ignored or handled, rendered in the
 * Prometheus text format at `/metrics`. Kept dependency-free: a handful of labelled series does not
 * need a client library.
 */

/** A histogram's state for one label set: counts per bucket (not cumulative; made so at render). */
interface HistogramSeries {
  counts: number[];
  sum: number;
  count: number;
}

/** What `histogram()` reads back: cumulative counts per upper bound, as exposed. */
export interface HistogramSnapshot {
  /** [upper bound, observations ≤ it], ascending, the last one +Inf. */
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}

/** Prometheus client libraries' default buckets (seconds), for a histogram observed before it was described. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  private readonly counters = new Map<string, { help: string; type: 'counter' | 'gauge'; values: Map<string, number> }>();
  private readonly histograms = new Map<string, { help: string; bounds: readonly number[]; series: Map<string, HistogramSeries> }>();

  /** Adds `by` to the counter `name` with the given labels. */
  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    let counter = this.counters.get(name);
    if (!counter) {
      counter = { help: name, type: 'counter', values: new Map() };
      this.counters.set(name, counter);
    }
    const key = labelKey(labels);
    counter.values.set(key, (counter.values.get(key) ?? 0) + by);
  }

  /** Sets the gauge `name` with the given labels to `value`. */
  set(name: string, labels: Record<string, string>, value: number): void {
    let gauge = this.counters.get(name);
    if (!gauge) {
      gauge = { help: name, type: 'gauge', values: new Map() };
      this.counters.set(name, gauge);
    }
    gauge.values.set(labelKey(labels), value);
  }

  /**
   * Declares the histogram `name` with its buckets' upper bounds (finite, strictly ascending; +Inf is
   * implied). A bad list or a name already used by a counter or gauge is a programming error: it
   * throws, at start-up where the histogram is declared.
   */
  describeHistogram(name: string, help: string, bounds: readonly number[]): void {
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!)))
      throw new RangeError(`histogram ${name}: bucket bounds must be finite and strictly ascending (got ${bounds.join(', ')})`);
    if (this.counters.has(name)) throw new Error(`metric ${name} is already a ${this.counters.get(name)!.type}`);
    const existing = this.histograms.get(name);
    if (existing && existing.series.size > 0 && existing.bounds.join() !== bounds.join())
      throw new Error(`histogram ${name} already has observations in other buckets`);
    this.histograms.set(name, { help, bounds: [...bounds], series: existing?.series ?? new Map<string, HistogramSeries>() });
  }

  /**
   * Records `value` in the histogram `name` (DEFAULT_BUCKETS if it was never described). A value that
   * is not a finite number is not recorded: one NaN would turn the `_sum` into NaN for good.
   */
  observe(name: string, labels: Record<string, string>, value: number): void {
    if (!Number.isFinite(value)) return;
    let histogram = this.histograms.get(name);
    if (!histogram) {
      histogram = { help: name, bounds: DEFAULT_BUCKETS, series: new Map() };
      this.histograms.set(name, histogram);
    }
    const key = labelKey(labels);
    let series = histogram.series.get(key);
    if (!series) {
      series = { counts: new Array<number>(histogram.bounds.length + 1).fill(0), sum: 0, count: 0 };
      histogram.series.set(key, series);
    }
    // The first bound ≥ value (le is "less than or equal"); past the last one, the +Inf bucket.
    let i = 0;
    while (i < histogram.bounds.length && value > histogram.bounds[i]!) i++;
    series.counts[i]!++;
    series.sum += value;
    series.count++;
  }

  /** The histogram `name` for these labels, as exposed (cumulative); undefined when nothing was observed. */
  histogram(name: string, labels: Record<string, string> = {}): HistogramSnapshot | undefined {
    const histogram = this.histograms.get(name);
    const series = histogram?.series.get(labelKey(labels));
    if (!histogram || !series) return undefined;
    let running = 0;
    const buckets = [...histogram.bounds, Infinity].map((bound, i): [number, number] => [bound, (running += series.counts[i]!)]);
    return { buckets, sum: series.sum, count: series.count };
  }

  describe(name: string, help: string, type: 'counter' | 'gauge' = 'counter'): void {
    const counter = this.counters.get(name);
    if (counter) Object.assign(counter, { help, type });
    else this.counters.set(name, { help, type, values: new Map() });
  }

  get(name: string, labels: Record<string, string> = {}): number {
    return this.counters.get(name)?.values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    const lines: string[] = [];
    for (const [name, { help, type, values }] of this.counters) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of values) lines.push(`${name}${labels} ${value}`);
    }
    for (const [name, { help, bounds, series }] of this.histograms) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const [labels, { counts, sum, count }] of series) {
        let running = 0;
        for (const [i, bound] of [...bounds, Infinity].entries()) {
          running += counts[i]!;
          lines.push(`${name}_bucket${withLabel(labels, 'le', formatBound(bound))} ${running}`);
        }
        lines.push(`${name}_sum${labels} ${sum}`, `${name}_count${labels} ${count}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }
}

/** `le` is the text format's spelling of a bound: "+Inf" for the last bucket, else the number. */
const formatBound = (bound: number) => (bound === Infinity ? '+Inf' : String(bound));

/** Appends one label to a rendered label set ('' or `{a="b"}`). */
function withLabel(rendered: string, name: string, value: string): string {
  return rendered === '' ? `{${name}="${value}"}` : `${rendered.slice(0, -1)},${name}="${value}"}`;
}

function labelKey(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}`;
}
