import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import {
  isValidTimeZone,
  MAX_BUCKET_TS,
  MIN_BUCKET_TS,
  type AggregateFunction,
  type BucketInterval,
  type FillMode,
  type SeriesBucket,
} from '../domain/telemetry/buckets.ts';
import { METRIC_NAME } from '../domain/telemetry/message.ts';
import type { MetricSeries, SeriesKey } from '../services/series.ts';
import type { TelemetryReader, TelemetryValue } from '../services/telemetry-queries.ts';
import type { TelemetryEvent } from '../events/bus.ts';
import { requireRole } from './auth.ts';
import { mapEvents, sampleEvents } from '../events/iterators.ts';
import { checkSampleInterval, MAX_SAMPLE_INTERVAL_MS, MIN_SAMPLE_INTERVAL_MS } from '../domain/telemetry/sampling.ts';
import { DeviceRef } from './device.ts';

const TelemetryValueRef = builder.objectRef<TelemetryValue>('TelemetryValue').implement({
  description: 'One telemetry value of a device.',
  fields: (t) => ({
    metric: t.exposeString('metric'),
    ts: t.field({
      type: 'DateTime',
      description: 'When it was measured (the device ts, else receive time).',
      resolve: (v) => (v.ts instanceof Date ? v.ts : new Date(v.ts)),
    }),
    value: t.exposeFloat('value', { description: 'The value; a boolean is 1 or 0 (see boolValue).' }),
    boolValue: t.boolean({
      nullable: true,
      description: 'The value as a boolean when the device sent a boolean, else null.',
      resolve: (v) => (v.isBool ? v.value !== 0 : null),
    }),
  }),
});

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

// createGraphQLError builds the error with the `graphql` instance Yoga uses, so it is not masked.
function badInput(message: string): Error {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function checkMetric(metric: string): void {
  if (!METRIC_NAME.test(metric)) throw badInput(`metric must be 1–64 characters of A–Z, a–z, 0–9, '_', '.', '-'`);
}

/** A cursor is the point's ts (epoch ms, decimal): unique per device and metric, and stable. */
function decodeCursor(cursor: string, name: string): number {
  // 8.64e15 ms is the largest instant a Date (and an ISO string) can hold.
  if (!/^\d{1,16}$/.test(cursor) || Number(cursor) >= 8.64e15) throw badInput(`${name} is not a cursor of this connection`);
  return Number(cursor);
}

// One reader per request: fields asking many devices for the same page or series share one statement.
const readers = new WeakMap<GraphQLContext, TelemetryReader>();

function readerOf(ctx: GraphQLContext): TelemetryReader {
  let reader = readers.get(ctx);
  if (!reader) readers.set(ctx, (reader = ctx.telemetryReader()));
  return reader;
}

const SeriesIntervalEnum = builder.enumType('SeriesInterval', {
  description: 'Bucket size. Calendar buckets (DAY, WEEK, MONTH) follow the time zone, so a day is 23 or 25 hours across a DST change.',
  values: {
    MINUTE: { value: 'minute' },
    FIVE_MINUTES: { value: '5 minutes' },
    FIFTEEN_MINUTES: { value: '15 minutes' },
    HOUR: { value: 'hour' },
    DAY: { value: 'day' },
    WEEK: { value: 'week', description: 'ISO weeks, starting on Monday.' },
    MONTH: { value: 'month' },
  } as const,
});

const AggregateEnum = builder.enumType('Aggregate', {
  description: 'An aggregate of the points in a bucket. Booleans count as 1 and 0 (AVG is the fraction of true).',
  values: {
    AVG: { value: 'avg' },
    MIN: { value: 'min' },
    MAX: { value: 'max' },
    SUM: { value: 'sum' },
    COUNT: { value: 'count' },
    FIRST: { value: 'first', description: 'The value of the earliest point.' },
    LAST: { value: 'last', description: 'The value of the latest point.' },
  } as const,
});

const FillModeEnum = builder.enumType('FillMode', {
  description: 'What empty buckets in [from, to) become.',
  values: {
    NONE: { value: 'none', description: 'Left out: only buckets with points are returned.' },
    NULL: { value: 'null', description: 'Returned with count 0 and every other aggregate null.' },
    PREVIOUS: { value: 'previous', description: "Returned with the previous bucket's values (count stays 0); null before the first bucket with points." },
  } as const,
});

const SeriesBucketRef = builder.objectRef<SeriesBucket>('SeriesBucket').implement({
  description: 'One time bucket [start, end) of a series. Aggregates that were not requested are null.',
  fields: (t) => ({
    start: t.field({ type: 'DateTime', resolve: (b) => new Date(b.start) }),
    end: t.field({ type: 'DateTime', description: "Exclusive: the next bucket's start.", resolve: (b) => new Date(b.end) }),
    filled: t.exposeBoolean('filled', { description: 'True when the bucket has no points and its values come from the fill mode.' }),
    avg: t.float({ nullable: true, resolve: (b) => b.values.avg ?? null }),
    min: t.float({ nullable: true, resolve: (b) => b.values.min ?? null }),
    max: t.float({ nullable: true, resolve: (b) => b.values.max ?? null }),
    sum: t.float({ nullable: true, resolve: (b) => b.values.sum ?? null }),
    count: t.int({ nullable: true, resolve: (b) => b.values.count ?? null }),
    first: t.float({ nullable: true, resolve: (b) => b.values.first ?? null }),
    last: t.float({ nullable: true, resolve: (b) => b.values.last ?? null }),
  }),
});

const MetricSeriesRef = builder.objectRef<MetricSeries>('MetricSeries').implement({
  description: 'The buckets of one metric, oldest first.',
  fields: (t) => ({
    metric: t.exposeString('metric'),
    buckets: t.field({ type: [SeriesBucketRef], resolve: (s) => s.buckets }),
  }),
});

// Zone names only: Intl also accepts offsets like "+01:00", which PostgreSQL reads with the POSIX (inverted) sign.
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/** Validates the arguments of Device.series into a loader key; throws BAD_USER_INPUT. */
function seriesKey(
  args: {
    metrics: readonly string[];
    from: Date;
    to: Date;
    interval: BucketInterval;
    aggregates: readonly AggregateFunction[];
    timeZone?: string | null;
    fill?: FillMode | null;
  },
  ctx: GraphQLContext,
): SeriesKey {
  const { seriesMaxMetrics } = ctx.config.telemetry;
  if (args.metrics.length === 0) throw badInput('metrics must name at least one metric');
  if (args.metrics.length > seriesMaxMetrics) throw badInput(`metrics may name at most ${seriesMaxMetrics} metrics`);
  for (const m of args.metrics) checkMetric(m);
  if (new Set(args.metrics).size !== args.metrics.length) throw badInput('metrics must not repeat a metric');
  if (args.aggregates.length === 0) throw badInput('aggregates must name at least one aggregate');
  const timeZone = args.timeZone ?? 'UTC';
  if (!ZONE_NAME.test(timeZone) || !isValidTimeZone(timeZone))
    throw badInput(`unknown time zone ${JSON.stringify(timeZone)}; use an IANA name such as "Europe/Berlin"`);
  const from = args.from.getTime();
  const to = args.to.getTime();
  if (from >= to) throw badInput('from must be before to');
  if (from < MIN_BUCKET_TS || to > MAX_BUCKET_TS)
    throw badInput(`from and to must lie between ${new Date(MIN_BUCKET_TS).toISOString()} and ${new Date(MAX_BUCKET_TS).toISOString()}`);
  return {
    metrics: [...args.metrics],
    from,
    to,
    interval: args.interval,
    aggregates: [...new Set(args.aggregates)],
    timeZone,
    fill: args.fill ?? 'none',
  };
}

builder.prismaObjectFields(DeviceRef, (t) => ({
  latest: t.field({
    type: [TelemetryValueRef],
    description: 'The newest value of each metric (or of the given ones), by metric name. Read from the latest-values table, not from history.',
    args: { metrics: t.arg.stringList({ required: false, description: 'Only these metrics; omit for all.' }) },
    // Loaded with the device query itself, so a page of devices reads all their latest values at once.
    select: (args) => ({
      latest: {
        ...(args.metrics ? { where: { metric: { in: args.metrics } } } : {}),
        orderBy: { metric: 'asc' as const },
      },
    }),
    resolve: (device) => device.latest,
  }),
  telemetry: t.connection(
    {
      type: TelemetryValueRef,
      description: `Raw points of one metric, oldest first, in [from, to). Cursors are point timestamps. Pages hold at most ${MAX_PAGE} points (default ${DEFAULT_PAGE}).`,
      args: {
        metric: t.arg.string({ required: true }),
        from: t.arg({ type: 'DateTime', required: false, description: 'Inclusive.' }),
        to: t.arg({ type: 'DateTime', required: false, description: 'Exclusive.' }),
      },
      select: { id: true },
      resolve: async (device, args, ctx) => {
        checkMetric(args.metric);
        if (args.first != null && args.last != null) throw badInput('pass first or last, not both');
        const descending = args.last != null || (args.before != null && args.first == null);
        const size = (descending ? args.last : args.first) ?? DEFAULT_PAGE;
        if (size < 0 || size > MAX_PAGE) throw badInput(`first/last must be between 0 and ${MAX_PAGE}`);
        let lo = args.from ? args.from.getTime() : null;
        let hi = args.to ? args.to.getTime() : null;
        if (args.after != null) lo = Math.max(lo ?? -Infinity, decodeCursor(args.after, 'after') + 1);
        if (args.before != null) hi = Math.min(hi ?? Infinity, decodeCursor(args.before, 'before'));
        const rows = await readerOf(ctx).page(device.id, { metric: args.metric, lo, hi, limit: size + 1, descending });
        const more = rows.length > size;
        const page = rows.slice(0, size);
        if (descending) page.reverse();
        const edges = page.map((node) => ({ cursor: String(node.ts), node }));
        return {
          edges,
          pageInfo: {
            hasNextPage: descending ? false : more,
            hasPreviousPage: descending ? more : false,
            startCursor: edges[0]?.cursor ?? null,
            endCursor: edges.at(-1)?.cursor ?? null,
          },
        };
      },
    },
    { name: 'TelemetryConnection' },
    { name: 'TelemetryEdge' },
  ),
  series: t.field({
    type: [MetricSeriesRef],
    description:
      'Bucketed aggregates of points in [from, to), one entry per metric in the order asked. Buckets are calendar buckets in timeZone: ' +
      'local hours, days, ISO weeks, months; across DST a day is 23 or 25 hours, and a repeated local hour is two buckets (one per UTC offset). ' +
      'The first bucket may start before from; only points in [from, to) count. Fleet queries (the same arguments on many devices) run as one SQL query.',
    args: {
      metrics: t.arg.stringList({ required: true }),
      from: t.arg({ type: 'DateTime', required: true, description: 'Inclusive.' }),
      to: t.arg({ type: 'DateTime', required: true, description: 'Exclusive.' }),
      interval: t.arg({ type: SeriesIntervalEnum, required: true }),
      aggregates: t.arg({ type: [AggregateEnum], required: true }),
      timeZone: t.arg.string({ required: false, defaultValue: 'UTC', description: 'An IANA time zone name, e.g. "Europe/Berlin".' }),
      fill: t.arg({ type: FillModeEnum, required: false, defaultValue: 'none' }),
    },
    select: { id: true },
    resolve: async (device, args, ctx) => {
      const outcome = await readerOf(ctx).series(device.id, seriesKey(args, ctx));
      if (!outcome.ok) throw badInput(outcome.error.message);
      return outcome.series;
    },
  }),
}));

const TelemetryUpdateRef = builder.objectRef<TelemetryEvent>('TelemetryUpdate').implement({
  description: 'Telemetry of one device, newly stored by one write (replays that stored nothing are not sent).',
  fields: (t) => ({
    deviceId: t.exposeString('deviceId'),
    at: t.field({ type: 'DateTime', description: 'When the points were stored.', resolve: (e) => new Date(e.at) }),
    points: t.field({ type: [TelemetryValueRef], description: 'In the order the device sent them.', resolve: (e) => e.points }),
  }),
});

builder.subscriptionFields((t) => ({
  telemetry: t.field({
    ...requireRole('viewer'),
    type: TelemetryUpdateRef,
    description:
      'Telemetry as it is stored. Omit deviceId for every device you may see, metrics for every metric. ' +
      'Without sampleIntervalMs every stored value is delivered, in order per device.',
    args: {
      deviceId: t.arg.string({ required: false }),
      metrics: t.arg.stringList({ required: false }),
      sampleIntervalMs: t.arg.int({
        required: false,
        description:
          `Sampling for dashboards: at most one update per device per interval (${MIN_SAMPLE_INTERVAL_MS}–${MAX_SAMPLE_INTERVAL_MS} ms). ` +
          'The first update of a quiet device goes out at once; later ones carry only the newest value of each metric that changed, ' +
          'never a value older than one already sent, and the newest values always follow when the interval ends, so the subscriber ends on the latest value. ' +
          'Omit (or null) for every value.',
      }),
    },
    subscribe: (_root, { deviceId, metrics, sampleIntervalMs }, ctx) => {
      const problem = checkSampleInterval(sampleIntervalMs);
      if (problem) throw badInput(problem);
      const wanted = metrics ? new Set(metrics) : null;
      const tenantId = ctx.principal.tenantId;
      // Tenant, device and metrics are checked before an event is queued for this subscriber.
      const accept = (e: TelemetryEvent) =>
        e.tenantId === tenantId && (deviceId == null || e.deviceId === deviceId) && (!wanted || e.points.some((p) => wanted.has(p.metric)));
      let events: AsyncIterator<TelemetryEvent> = ctx.bus.subscribe('telemetry', accept);
      if (wanted)
        events = mapEvents(events, (e): TelemetryEvent =>
          e.points.every((p) => wanted.has(p.metric)) ? e : { ...e, points: e.points.filter((p) => wanted.has(p.metric)) },
        );
      if (sampleIntervalMs != null) events = sampleEvents(events, sampleIntervalMs);
      return events as AsyncIterableIterator<TelemetryEvent>;
    },
    resolve: (event) => event,
  }),
}));
