/**
 * CPU accounting from /proc (Linux), for what `process.cpuUsage()` cannot see: the PostgreSQL backends
 * serving the bench database, an external Mosquitto, and the whole machine (the box is shared, so
 * "how busy was it with things that are not us" is part of an honest report).
 */
import fs from 'node:fs';

const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux/x86-64 and arm64

export interface MachineSample {
  /** CPU-seconds spent busy, summed over cores. */
  busy: number;
  /** CPU-seconds in total (busy + idle), summed over cores. */
  total: number;
}

export function sampleMachine(): MachineSample | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user…steal, without guest (already in user)
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** CPU-seconds (user+system) per pid of the processes `match` selects. */
export type ProcessSample = Map<number, number>;

/**
 * Samples processes whose command line matches `match` (e.g. the PostgreSQL backends of one database,
 * whose process title names it, plus the cluster's WAL writer).
 */
export function sampleProcesses(match: (comm: string, cmdline: string) => boolean): ProcessSample {
  const sample: ProcessSample = new Map();
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return sample;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (!match(comm, cmdline)) continue;
      const fields = stat.slice(close + 2).split(' ');
      // fields[0] is state (field 3); utime and stime are fields 14 and 15.
      const ticks = Number(fields[11]) + Number(fields[12]);
      sample.set(Number(entry), ticks / TICKS_PER_SECOND);
    } catch {
      // the process ended while we looked
    }
  }
  return sample;
}

/** CPU-seconds used between two samples (processes that appeared in between count from zero). */
export function processDelta(before: ProcessSample, after: ProcessSample): number {
  let sum = 0;
  for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
  return sum;
}

/**
 * CPU of matching processes over a window, sampled as often as `sample()` is called: a process that
 * exits inside the window (a pooled database connection closed when idle) counts up to its last
 * sample, where a before/after pair would lose all of it.
 */
export function processTracker(match: (comm: string, cmdline: string) => boolean) {
  const first = sampleProcesses(match);
  const last = new Map(first);
  const sample = () => {
    for (const [pid, cpu] of sampleProcesses(match)) last.set(pid, cpu);
  };
  return {
    sample,
    /** CPU-seconds since the tracker was made (samples once more first). */
    cpu(): number {
      sample();
      let sum = 0;
      for (const [pid, cpu] of last) sum += cpu - (first.get(pid) ?? 0);
      return sum;
    },
  };
}

/** Matches the PostgreSQL processes that work for `database`: its backends and the shared WAL writer. */
export function postgresMatcher(database: string) {
  return (comm: string, cmdline: string): boolean =>
    comm === 'postgres' && (cmdline.includes(` ${database} `) || /walwriter|background writer|checkpointer/.test(cmdline));
}

export function mosquittoMatcher(comm: string): boolean {
  return comm === 'mosquitto';
}
