/**
 * Counters for what Doppel refused, ignored or handled, rendered in the Prometheus text format at
 * `/metrics`. Kept dependency-free: a handful of labelled counters does not need a client library.
 */
export class Metrics {
  private readonly counters = new Map<string, { help: string; type: 'counter' | 'gauge'; values: Map<string, number> }>();

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
    return `${lines.join('\n')}\n`;
  }
}

function labelKey(labels: Record<string, string>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}`;
}
