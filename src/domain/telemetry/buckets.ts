/**
 * Calendar-aware time buckets in an IANA time zone, and bucketed aggregates computed in plain
 * TypeScript (docs/telemetry.md). Pure; the only source of zone rules is `Intl.DateTimeFormat`, i.e. the
 * tz database compiled into Node's ICU (it can differ from the database's tzdata by a release).
 *
 * `aggregate` is the reference the SQL implementation is checked against: it is written to be
 * obviously correct, not fast.
 *
 * ## What a bucket is
 *
 * Every instant has a *label*: its local wall-clock time truncated to the interval (the local minute,
 * 5-minute, 15-minute or hour of day; the local date; the local date of the ISO week's Monday; the
 * local year and month). A bucket is a maximal run of consecutive instants with the same *key*:
 *
 * - day, week, month: the key is the label alone. A local day is 23 or 25 hours long across a DST
 *   change (23.5 or 24.5 in Australia/Lord_Howe), and months and weeks grow or shrink with it.
 * - minute … hour: the key is the label *and* the UTC offset. A repeated local hour (clocks going back)
 *   is therefore two buckets with the same label, one per offset, each as long as it lasted, instead
 *   of one bucket made of two disjoint stretches.
 *
 * So buckets partition time: every instant lies in exactly one bucket `[start, end)`, and the start is
 * an instant, never an ambiguous local time. Consequences at DST transitions, all deterministic:
 *
 * - Non-existent local times (clocks jumping forward) start no bucket. A bucket whose label starts in
 *   the gap starts at the transition instead: in Australia/Lord_Howe, where 02:00 jumps to 02:30, the
 *   "02:00" hour bucket is the 30 minutes 02:30–03:00; in America/Santiago, where midnight jumps to
 *   01:00, the day starts at 01:00. A label lying wholly in the gap (a 5-minute bucket at 02:10 there)
 *   has no bucket at all.
 * - Ambiguous local times (clocks going back) belong to the day/week/month they are dated in; for
 *   shorter intervals the first and the second occurrence are separate buckets (Europe/Berlin on
 *   2024-10-27 has two one-hour "02:00" buckets, at 00:00Z and at 01:00Z). A bucket can start at a
 *   transition in the middle of its label: in Lord_Howe, where 02:00 (+11) goes back to 01:30 (+10:30),
 *   the second "01:00" hour bucket is 01:30–02:00 (+10:30), 30 minutes long.
 * - Changes of standard offset (Asia/Kathmandu went from +05:30 to +05:45 at 1986-01-01 00:00) work
 *   the same way; zones with :30 and :45 offsets get hour buckets starting at :30 and :15 UTC.
 *
 * How to reproduce this in SQL: group rows by `date_trunc(unit, ts AT TIME ZONE tz)` (plus, for units
 * below a day, the UTC offset `(ts AT TIME ZONE tz) - (ts AT TIME ZONE 'UTC')`), and map any row's `ts`
 * of a group (say its `min(ts)`) through `bucketStart`. Do not use the start PostgreSQL computes from
 * the truncated local time: it reads ambiguous and non-existent local times as standard time, which
 * can put a bucket's start after rows it contains.
 *
 * Assumption: a zone does not change its UTC offset twice within 6 hours (true of every zone in the tz
 * database since 1970 at least); transitions are found by sampling every 6 hours.
 */

/** Bucket sizes. The spelling matches PostgreSQL interval literals for the fixed ones. */
export type BucketInterval = 'minute' | '5 minutes' | '15 minutes' | 'hour' | 'day' | 'week' | 'month';

export const BUCKET_INTERVALS: readonly BucketInterval[] = Object.freeze(['minute', '5 minutes', '15 minutes', 'hour', 'day', 'week', 'month']);

/** Earliest and latest instants the bucket functions accept (1900-01-01, 9000-01-01 UTC): room for any telemetry, and far from the edges of `Date`. */
export const MIN_BUCKET_TS = Date.UTC(1900, 0, 1);
export const MAX_BUCKET_TS = Date.UTC(9000, 0, 1);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const SAMPLE_STEP = 6 * HOUR;

const FIXED: Partial<Record<BucketInterval, number>> = { minute: MINUTE, '5 minutes': 5 * MINUTE, '15 minutes': 15 * MINUTE, hour: HOUR };

/** The length in ms of every bucket of `interval` when they are all alike (MINUTE…HOUR), else undefined. */
export function fixedBucketMs(interval: BucketInterval): number | undefined {
  return FIXED[interval];
}

// ---------------------------------------------------------------------------------------------
// Zone rules from Intl
// ---------------------------------------------------------------------------------------------

interface Zone {
  format: Intl.DateTimeFormat;
  /** UTC year → instants in (start of year, start of next year] at which the offset changes. */
  transitions: Map<number, number[]>;
  /**
   * The last stretch of constant offset looked up, [from, to): consecutive buckets almost always fall in
   * it, so most offsets cost two comparisons instead of an Intl call (≈ 1.5 µs each, thousands per series).
   */
  stretch: { from: number; to: number; offset: number };
}

const zones = new Map<string, Zone>();

function zone(timeZone: string): Zone {
  let z = zones.get(timeZone);
  if (z === undefined) {
    let format: Intl.DateTimeFormat;
    try {
      // h23: some ICU versions print midnight as 24 with hour12: false.
      format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new RangeError(`unknown time zone ${JSON.stringify(timeZone)}`);
    }
    z = { format, transitions: new Map(), stretch: { from: 0, to: 0, offset: 0 } };
    zones.set(timeZone, z);
  }
  return z;
}

/** Whether `Intl` (hence these functions) knows the zone: an IANA name such as `Europe/Berlin`, or `UTC`. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    zone(timeZone);
    return true;
  } catch {
    return false;
  }
}

const US_DATE_TIME = /^(\d+)\/(\d+)\/(\d+), (\d+):(\d+):(\d+)$/;

/** The local wall-clock time of a whole second `sec`, as the epoch ms at which UTC shows the same time. */
function wallClockOfSecond(z: Zone, sec: number): number {
  // format() and a regex are about three times faster than formatToParts(); the parts are the fallback.
  const m = US_DATE_TIME.exec(z.format.format(sec));
  if (m !== null) return Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6]));
  const part = (type: Intl.DateTimeFormatPartTypes) => Number(z.format.formatToParts(sec).find((p) => p.type === type)?.value);
  return Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
}

/** The zone's UTC offset at `ts`, in ms (east positive; a whole number of seconds), asked of Intl. */
function offsetFromIntl(z: Zone, ts: number): number {
  const sec = Math.floor(ts / SECOND) * SECOND;
  return wallClockOfSecond(z, sec) - sec;
}

/**
 * The zone's UTC offset at `ts`, in ms. The offset is constant between transitions (which are found, per
 * year and cached, from Intl), so it is asked of Intl once per stretch between them.
 */
function offsetAt(z: Zone, ts: number): number {
  const sec = Math.floor(ts / SECOND) * SECOND;
  const cached = z.stretch;
  if (sec >= cached.from && sec < cached.to) return cached.offset;
  const year = new Date(sec).getUTCFullYear();
  // From the year's start (a transition exactly there is listed with the year before, and takes effect
  // at that instant either way) up to the next transition, or the next year's start.
  let from = Date.UTC(year, 0, 1);
  let to = Date.UTC(year + 1, 0, 1);
  for (const t of transitionsOfYear(z, year)) {
    if (t <= sec) from = t;
    else {
      to = t;
      break;
    }
  }
  // At `from` the offset is the one of the whole stretch (a transition takes effect at its instant).
  z.stretch = { from, to, offset: offsetFromIntl(z, from) };
  return z.stretch.offset;
}

/** The zone's UTC offset at `ts` in ms, east positive (Europe/Berlin in summer: 7_200_000). */
export function utcOffset(ts: number, timeZone: string): number {
  checkTs(ts, 'ts');
  return offsetAt(zone(timeZone), ts);
}

/** Instants T in (start of `year`, start of `year + 1`] (UTC) where offset(T - 1 s) ≠ offset(T). Cached. */
function transitionsOfYear(z: Zone, year: number): number[] {
  let list = z.transitions.get(year);
  if (list !== undefined) return list;
  list = [];
  const end = Date.UTC(year + 1, 0, 1);
  let p = Date.UTC(year, 0, 1);
  let op = offsetFromIntl(z, p);
  while (p < end) {
    const q = Math.min(p + SAMPLE_STEP, end);
    const oq = offsetFromIntl(z, q);
    if (oq !== op) {
      // Bisect on whole seconds (transitions are on whole seconds): offset(lo) = op, offset(hi) ≠ op.
      let lo = p;
      let hi = q;
      while (hi - lo > SECOND) {
        const mid = lo + Math.floor((hi - lo) / (2 * SECOND)) * SECOND;
        if (offsetFromIntl(z, mid) === op) lo = mid;
        else hi = mid;
      }
      list.push(hi);
    }
    p = q;
    op = oq;
  }
  z.transitions.set(year, list);
  return list;
}

/** Offset transitions T with a ≤ T ≤ b, ascending. */
function transitionsIn(z: Zone, a: number, b: number): number[] {
  const out: number[] = [];
  // A transition exactly at a year's start is listed with the year before.
  for (let y = new Date(a - 1).getUTCFullYear(); y <= new Date(b).getUTCFullYear(); y++) {
    for (const t of transitionsOfYear(z, y)) if (t >= a && t <= b) out.push(t);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Labels: truncated local wall-clock times, as "UTC-shown" epoch ms
// ---------------------------------------------------------------------------------------------

function label(local: number, interval: BucketInterval): number {
  const fixed = FIXED[interval];
  if (fixed !== undefined) return Math.floor(local / fixed) * fixed;
  const day = Math.floor(local / DAY) * DAY;
  if (interval === 'day') return day;
  if (interval === 'week') return day - ((new Date(day).getUTCDay() + 6) % 7) * DAY; // ISO: weeks start on Monday
  const d = new Date(day);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function nextLabel(lbl: number, interval: BucketInterval): number {
  const fixed = FIXED[interval];
  if (fixed !== undefined) return lbl + fixed;
  if (interval === 'day') return lbl + DAY;
  if (interval === 'week') return lbl + 7 * DAY;
  const d = new Date(lbl);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** Whether the offset is part of the key (intervals shorter than a day; see the module comment). */
const offsetInKey = (interval: BucketInterval): boolean => FIXED[interval] !== undefined;

function checkTs(ts: number, name: string): void {
  if (!Number.isFinite(ts) || ts < MIN_BUCKET_TS || ts > MAX_BUCKET_TS) {
    throw new RangeError(`${name} must be an epoch-ms number between ${MIN_BUCKET_TS} and ${MAX_BUCKET_TS} (got ${ts})`);
  }
}

function checkInterval(interval: BucketInterval): void {
  if (!BUCKET_INTERVALS.includes(interval)) throw new RangeError(`unknown bucket interval ${JSON.stringify(interval)}`);
}

// ---------------------------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------------------------

/** The start (an instant, epoch ms) of the bucket containing `ts`. `bucketStart(ts) ≤ ts`. */
export function bucketStart(ts: number, interval: BucketInterval, timeZone: string): number {
  checkTs(ts, 'ts');
  checkInterval(interval);
  const z = zone(timeZone);
  let offset = offsetAt(z, ts);
  const lbl = label(ts + offset, interval);
  // Walk back over offset transitions while the key stays the same. Between `cur` and the latest
  // transition at or before it the offset is constant, so there local time is ts + offset.
  let cur = ts;
  for (;;) {
    const start = lbl - offset; // where the label starts if the offset never changed
    const t = transitionsIn(z, start, cur).at(-1);
    if (t === undefined) return start;
    if (offsetInKey(interval)) return t;
    const before = offsetAt(z, t - 1);
    if (label(t - 1 + before, interval) !== lbl) return t;
    cur = t - 1;
    offset = before;
  }
}

/** The end of the bucket containing `ts` (exclusive), which is the start of the next bucket. `bucketEnd(ts) > ts`. */
export function bucketEnd(ts: number, interval: BucketInterval, timeZone: string): number {
  checkTs(ts, 'ts');
  checkInterval(interval);
  const z = zone(timeZone);
  let offset = offsetAt(z, ts);
  const lbl = label(ts + offset, interval);
  let cur = ts;
  for (;;) {
    const end = nextLabel(lbl, interval) - offset; // where the next label starts if the offset never changed
    const t = transitionsIn(z, cur + 1, end)[0];
    if (t === undefined) return end;
    if (offsetInKey(interval)) return t;
    const after = offsetAt(z, t);
    if (label(t + after, interval) !== lbl) return t;
    cur = t;
    offset = after;
  }
}

/**
 * The starts of all buckets that overlap `[from, to)`, ascending; the first one may start before
 * `from`. Empty when `to ≤ from`.
 *
 * @param options.maxBuckets refuse (RangeError) rather than build more buckets than this.
 */
export function bucketRange(from: number, to: number, interval: BucketInterval, timeZone: string, options: { maxBuckets?: number } = {}): number[] {
  checkTs(from, 'from');
  checkTs(to, 'to');
  const max = options.maxBuckets ?? Infinity;
  if (to <= from) return [];
  const out: number[] = [];
  for (let start = bucketStart(from, interval, timeZone); start < to; start = bucketEnd(start, interval, timeZone)) {
    if (out.length >= max) throw new RangeError(`[${from}, ${to}) spans more than ${max} ${interval} buckets`);
    out.push(start);
  }
  return out;
}

/**
 * An instant as local ISO-8601 time with its offset, e.g. `2024-10-27T02:00:00+01:00` (milliseconds
 * only when not zero, seconds in the offset only when not zero). Labels for buckets.
 */
export function localIso(ts: number, timeZone: string): string {
  checkTs(ts, 'ts');
  const offset = offsetAt(zone(timeZone), ts);
  const d = new Date(ts + offset);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const ms = d.getUTCMilliseconds();
  const abs = Math.abs(offset) / SECOND;
  const os = abs % 60;
  const offsetText = `${offset < 0 ? '-' : '+'}${pad(Math.floor(abs / 3600))}:${pad(Math.floor(abs / 60) % 60)}${os === 0 ? '' : `:${pad(os)}`}`;
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${ms === 0 ? '' : `.${pad(ms, 3)}`}${offsetText}`
  );
}

// ---------------------------------------------------------------------------------------------
// Aggregates (the reference implementation)
// ---------------------------------------------------------------------------------------------

export type AggregateFunction = 'avg' | 'min' | 'max' | 'sum' | 'count' | 'first' | 'last';

export const AGGREGATE_FUNCTIONS: readonly AggregateFunction[] = Object.freeze(['avg', 'min', 'max', 'sum', 'count', 'first', 'last']);

/**
 * What an empty bucket in the range becomes.
 * - `none`: it is left out; only buckets with points are returned.
 * - `null`: it is returned with `count` 0 and every other aggregate null (as SQL aggregates over no rows).
 * - `previous`: it is returned with the previous bucket's values (last observation carried forward),
 *   except `count`, which stays 0: it counts points, and there were none. Empty buckets before the
 *   first bucket with points are null; nothing before `from` is looked at.
 */
export type FillMode = 'none' | 'null' | 'previous';

export interface SeriesOptions {
  interval: BucketInterval;
  /** IANA zone the buckets follow, e.g. `Europe/Berlin`. */
  timeZone: string;
  /** Which aggregates each bucket carries. */
  aggregates: readonly AggregateFunction[];
  /** What empty buckets become. Default `none`. */
  fill?: FillMode;
  /** Start of the queried range (inclusive). Points before it are ignored. With a fill, empty buckets are filled from the bucket containing `from`; without `from`, from the first point's. */
  from?: number;
  /** End of the queried range (exclusive). Points at or after it are ignored. With a fill, empty buckets are filled up to it; without `to`, up to the last point's bucket. */
  to?: number;
  /** Refuse (RangeError) a range with more buckets than this. */
  maxBuckets?: number;
}

export interface SeriesBucket {
  /** The bucket's first instant, epoch ms. */
  start: number;
  /** The next bucket's first instant (exclusive end), epoch ms. */
  end: number;
  /** True when the bucket has no points and its values come from `fill`. */
  filled: boolean;
  /** One entry per requested aggregate. */
  values: Partial<Record<AggregateFunction, number | null>>;
}

/**
 * Bucketed aggregates of one series (one device, one metric), in plain TypeScript.
 *
 * Definitions, which the SQL must match: points are ordered by `ts`, then by `value` (so duplicate
 * timestamps, which the store's (device, metric, ts) key rules out anyway, still have one answer).
 * `first`/`last` are the values of the first/last point in that order; `sum` adds in that order;
 * `avg` is `sum / count`. Booleans are their stored 0/1 (so `avg` is the fraction of true).
 */
export function aggregate(points: ReadonlyArray<{ ts: number; value: number }>, options: SeriesOptions): SeriesBucket[] {
  const { interval, timeZone, aggregates, from, to } = options;
  const fill = options.fill ?? 'none';
  checkInterval(interval);
  for (const a of aggregates) if (!AGGREGATE_FUNCTIONS.includes(a)) throw new RangeError(`unknown aggregate ${JSON.stringify(a)}`);
  if (!['none', 'null', 'previous'].includes(fill)) throw new RangeError(`unknown fill ${JSON.stringify(fill)}`);
  if (from !== undefined) checkTs(from, 'from');
  if (to !== undefined) checkTs(to, 'to');

  const inRange = points.filter((p) => (from === undefined || p.ts >= from) && (to === undefined || p.ts < to));
  const sorted = [...inRange].sort((a, b) => a.ts - b.ts || a.value - b.value);

  // Bucket start → its values, in point order.
  const groups = new Map<number, number[]>();
  for (const p of sorted) {
    const start = bucketStart(p.ts, interval, timeZone);
    let values = groups.get(start);
    if (values === undefined) groups.set(start, (values = []));
    values.push(p.value);
  }

  let starts: number[];
  if (fill === 'none') {
    starts = [...groups.keys()].sort((a, b) => a - b);
  } else {
    const lo = from ?? sorted[0]?.ts;
    const hi = to ?? (sorted.length === 0 ? undefined : sorted[sorted.length - 1]!.ts + 1);
    starts = lo === undefined || hi === undefined ? [] : bucketRange(lo, hi, interval, timeZone, { maxBuckets: options.maxBuckets });
  }
  if (options.maxBuckets !== undefined && starts.length > options.maxBuckets) {
    throw new RangeError(`the series has more than ${options.maxBuckets} buckets`);
  }

  const out: SeriesBucket[] = [];
  let previous: SeriesBucket['values'] | undefined;
  for (const start of starts) {
    const values = groups.get(start);
    const bucket: SeriesBucket = { start, end: bucketEnd(start, interval, timeZone), filled: values === undefined, values: {} };
    for (const a of aggregates) {
      if (values !== undefined) bucket.values[a] = compute(a, values);
      else if (a === 'count') bucket.values[a] = 0;
      else bucket.values[a] = fill === 'previous' && previous !== undefined ? (previous[a] ?? null) : null;
    }
    if (values !== undefined || fill === 'previous') previous = bucket.values;
    out.push(bucket);
  }
  return out;
}

/** One aggregate over a non-empty list of values, in order. */
function compute(a: AggregateFunction, values: number[]): number {
  switch (a) {
    case 'count':
      return values.length;
    case 'sum':
      return sum(values);
    case 'avg':
      return sum(values) / values.length;
    case 'min': {
      let m = values[0]!;
      for (const v of values) if (v < m) m = v;
      return m;
    }
    case 'max': {
      let m = values[0]!;
      for (const v of values) if (v > m) m = v;
      return m;
    }
    case 'first':
      return values[0]!;
    case 'last':
      return values[values.length - 1]!;
  }
}

function sum(values: number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
