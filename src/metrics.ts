/**
 * Counters, gauges and histograms for what Doppel refused, ignored or handled, rendered in the
 * Prometheus text format at `/metrics` by prom-client (one Registry per Metrics instance: tests run
 * many servers in one process, and prom-client's global registry would mix them up).
 *
 * Our callers name a metric and its labels at the point of use (`inc(name, labels)`), while prom-client
 * wants the label names when a metric is created. So a metric is created on first use (or `describe`)
 * with the label names seen so far and re-created, keeping its values, when a new label name appears
 * (once per metric at most, in practice never after start-up). `get` and `histogram` read prom-client's
 * per-series values synchronously (its `hashMap`, keyed like ours: sorted `name:value,` pairs), so the
 * many tests that assert a count right after an event need no await.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What `histogram()` reads back: cumulative counts per upper bound, as exposed. */
export interface HistogramSnapshot {
  /** [upper bound, observations ≤ it], ascending, the last one +Inf. */
  buckets: Array<[number, number]>;
  sum: number;
  count: number;
}

/** Prometheus client libraries' default buckets (seconds), for a histogram observed before it was described. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels = Record<string, string>;
type Kind = 'counter' | 'gauge' | 'histogram';

/** prom-client's per-series state (not in its typings; stable across 13–15). */
interface ScalarSeries {
  value: number;
  labels: Labels;
}
interface HistogramSeries {
  labels: Labels;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}
type Internal<T> = { hashMap: Record<string, T>; help: string };

interface Family {
  kind: Kind;
  help: string;
  labelNames: string[];
  /** Histograms only: finite upper bounds, ascending. */
  bounds: readonly number[];
  metric: Counter | Gauge | Histogram;
}

/** Registries that already collect the default process metrics (see `collectProcessMetrics`). */
const collectingRegistries = new WeakSet<Registry>();

export class Metrics {
  /** This instance's prom-client registry (never the global default one). */
  readonly registry = new Registry();
  private readonly families = new Map<string, Family>();
  private readonly beforeRenderHooks: Array<() => unknown> = [];

  /** Adds `by` to the counter `name` with the given labels (a gauge's value moves by `by`, which may be negative). */
  inc(name: string, labels: Labels = {}, by = 1): void {
    if (!Number.isFinite(by)) return;
    const family = this.family(name, 'counter', labels);
    labels = inOrder(family, labels);
    if (family.kind === 'gauge') (family.metric as Gauge).inc(labels, by);
    else if (family.kind === 'counter' && by >= 0) (family.metric as Counter).inc(labels, by);
    else if (family.kind === 'counter') addTo(family.metric as unknown as Internal<ScalarSeries>, labels, by);
    else throw new Error(`metric ${name} is a histogram: observe it`);
  }

  /** Sets the gauge `name` with the given labels to `value`. */
  set(name: string, labels: Labels, value: number): void {
    const family = this.family(name, 'gauge', labels);
    labels = inOrder(family, labels);
    if (family.kind === 'gauge') (family.metric as Gauge).set(labels, value);
    else if (family.kind === 'counter') {
      const internal = family.metric as unknown as Internal<ScalarSeries>;
      internal.hashMap[seriesKey(labels)] = { value, labels };
    } else throw new Error(`metric ${name} is a histogram: observe it`);
  }

  /**
   * Declares the histogram `name` with its buckets' upper bounds (finite, strictly ascending; +Inf is
   * implied). A bad list or a name already used by a counter or gauge is a programming error: it
   * throws, at start-up where the histogram is declared.
   */
  describeHistogram(name: string, help: string, bounds: readonly number[]): void {
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!)))
      throw new RangeError(`histogram ${name}: bucket bounds must be finite and strictly ascending (got ${bounds.join(', ')})`);
    const existing = this.families.get(name);
    if (existing && existing.kind !== 'histogram') throw new Error(`metric ${name} is already a ${existing.kind}`);
    if (existing) {
      const observed = Object.values((existing.metric as unknown as Internal<HistogramSeries>).hashMap).some((s) => s.count > 0);
      if (observed && existing.bounds.join() !== bounds.join()) throw new Error(`histogram ${name} already has observations in other buckets`);
    }
    this.create(name, 'histogram', help, existing?.labelNames ?? [], bounds, existing);
  }

  /**
   * Records `value` in the histogram `name` (DEFAULT_BUCKETS if it was never described). A value that
   * is not a finite number is not recorded: one NaN would turn the `_sum` into NaN for good.
   */
  observe(name: string, labels: Labels, value: number): void {
    if (!Number.isFinite(value)) return;
    const family = this.family(name, 'histogram', labels);
    if (family.kind !== 'histogram') throw new Error(`metric ${name} is a ${family.kind}, not a histogram`);
    labels = inOrder(family, labels);
    (family.metric as Histogram).observe(labels, value);
  }

  /** The histogram `name` for these labels, as exposed (cumulative); undefined when nothing was observed. */
  histogram(name: string, labels: Labels = {}): HistogramSnapshot | undefined {
    const family = this.families.get(name);
    if (family?.kind !== 'histogram') return undefined;
    const series = (family.metric as unknown as Internal<HistogramSeries>).hashMap[seriesKey(labels)];
    if (!series || series.count === 0) return undefined;
    let running = 0;
    const buckets = family.bounds.map((bound): [number, number] => [bound, (running += series.bucketValues[bound] ?? 0)]);
    buckets.push([Infinity, series.count]);
    return { buckets, sum: series.sum, count: series.count };
  }

  /** Gives `name` its help text and type (counter or gauge); a counter used before being described as a gauge becomes one. */
  describe(name: string, help: string, type: 'counter' | 'gauge' = 'counter'): void {
    const existing = this.families.get(name);
    if (existing?.kind === 'histogram') throw new Error(`metric ${name} is already a histogram`);
    if (existing && existing.kind === type) {
      existing.help = help;
      (existing.metric as unknown as Internal<unknown>).help = help;
      return;
    }
    this.create(name, type, help, existing?.labelNames ?? [], [], existing);
  }

  /** The counter or gauge `name` for these labels (0 when never touched). */
  get(name: string, labels: Labels = {}): number {
    const family = this.families.get(name);
    if (!family || family.kind === 'histogram') return 0;
    return (family.metric as unknown as Internal<ScalarSeries>).hashMap[seriesKey(labels)]?.value ?? 0;
  }

  /**
   * Runs `hook` before every render (awaited), to bring gauges read from elsewhere up to date at
   * scrape time. A hook that throws is skipped for that scrape (the rest still renders).
   */
  beforeRender(hook: () => unknown): void {
    this.beforeRenderHooks.push(hook);
  }

  /**
   * Adds prom-client's default metrics (process_* CPU, memory, file descriptors, start time; nodejs_*
   * event-loop lag, heap, GC, handles) to this registry. Once per registry: where the app is composed,
   * never per test metric instance.
   */
  collectProcessMetrics(): void {
    if (collectingRegistries.has(this.registry)) return;
    collectingRegistries.add(this.registry);
    collectDefaultMetrics({ register: this.registry });
  }

  /** The Prometheus text exposition of every metric (families separated by a blank line, as prom-client writes them). */
  async render(): Promise<string> {
    await Promise.all(this.beforeRenderHooks.map(async (hook) => hook()).map((p) => p.catch(() => undefined)));
    return this.registry.metrics();
  }

  /** The family `name`, created as `kind` on first use; widened when `labels` brings a new label name. */
  private family(name: string, kind: Kind, labels: Labels): Family {
    const existing = this.families.get(name);
    if (!existing) return this.create(name, kind, name, Object.keys(labels), kind === 'histogram' ? DEFAULT_BUCKETS : [], undefined);
    for (const label in labels) {
      if (!existing.labelNames.includes(label))
        return this.create(name, existing.kind, existing.help, [...new Set([...existing.labelNames, ...Object.keys(labels)])], existing.bounds, existing);
    }
    return existing;
  }

  /** (Re)creates the prom-client metric `name`, carrying over the series of `previous` (its keys do not depend on the label names). */
  private create(name: string, kind: Kind, help: string, labelNames: string[], bounds: readonly number[], previous: Family | undefined): Family {
    if (previous) this.registry.removeSingleMetric(name);
    const config = { name, help, labelNames, registers: [this.registry] };
    const metric = kind === 'counter' ? new Counter(config) : kind === 'gauge' ? new Gauge(config) : new Histogram({ ...config, buckets: [...bounds] });
    // prom-client starts an unlabelled metric at 0; ours appear with their first value, like labelled ones.
    const internal = metric as unknown as Internal<unknown>;
    internal.hashMap = previous && previous.kind !== 'histogram' && kind !== 'histogram' ? (previous.metric as unknown as Internal<unknown>).hashMap : {};
    if (previous?.kind === 'histogram' && kind === 'histogram' && previous.bounds.join() === bounds.join())
      internal.hashMap = (previous.metric as unknown as Internal<unknown>).hashMap;
    const family: Family = { kind, help, labelNames, bounds: [...bounds], metric };
    this.families.set(name, family);
    return family;
  }
}

/** prom-client's series key: `name:value,` for each label, names sorted. */
function seriesKey(labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length === 0) return '';
  if (names.length > 1) names.sort();
  let key = '';
  for (const name of names) key += `${name}:${labels[name]},`;
  return key;
}

/**
 * prom-client keeps the labels object of a series' first write and renders labels in its key order;
 * a new series gets its labels sorted by name so the exposition does not depend on call sites.
 */
function inOrder(family: Family, labels: Labels): Labels {
  const names = Object.keys(labels);
  if (names.length < 2) return labels;
  const key = seriesKey(labels);
  if ((family.metric as unknown as Internal<unknown>).hashMap[key]) return labels;
  names.sort();
  const sorted: Labels = {};
  for (const name of names) sorted[name] = labels[name]!;
  return sorted;
}

/** A counter moved down (only our own inc(-n) on a counter-typed name does it; prom-client refuses). */
function addTo(metric: Internal<ScalarSeries>, labels: Labels, by: number): void {
  const key = seriesKey(labels);
  const series = metric.hashMap[key];
  if (series) series.value += by;
  else metric.hashMap[key] = { value: by, labels };
}
