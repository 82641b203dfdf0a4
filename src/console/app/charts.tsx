/**
 * The device page's telemetry charts, drawn by uPlot (canvas; stays smooth at thousands of points):
 * a LIVE chart fed by the sampled `telemetry` subscription (at most one update a second, whatever the
 * device's rate) over a rolling window, and a HISTORY chart of the server's `series` buckets, with an
 * interval, a range and a time zone. The data logic is in chart-data.ts (unit-tested).
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Api } from './api.ts';
import {
  appendToWindow,
  browserTimeZone,
  bucketsToColumns,
  checkTimeZone,
  emptyWindow,
  INTERVALS,
  latestValue,
  RANGE_PRESETS,
  rangeOf,
  windowToColumns,
  type AlignedColumns,
  type HistoryInterval,
  type LiveWindow,
} from './chart-data.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';

const TelemetrySampled = graphql(`
  subscription ConsoleTelemetrySampled($deviceId: String!, $sampleIntervalMs: Int) {
    telemetry(deviceId: $deviceId, sampleIntervalMs: $sampleIntervalMs) {
      at
      points {
        metric
        ts
        value
      }
    }
  }
`);

const DeviceMetrics = graphql(`
  query ConsoleDeviceMetrics($deviceId: String!) {
    device(deviceId: $deviceId) {
      latest {
        metric
        ts
        value
      }
    }
  }
`);

const DeviceSeries = graphql(`
  query ConsoleDeviceSeries($deviceId: String!, $metrics: [String!]!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!, $timeZone: String) {
    device(deviceId: $deviceId) {
      series(metrics: $metrics, aggregates: [AVG, MIN, MAX, COUNT], interval: $interval, from: $from, to: $to, timeZone: $timeZone) {
        metric
        buckets {
          start
          end
          avg
          min
          max
          count
        }
      }
    }
  }
`);

/** Series colours: distinct in light and dark mode. */
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];
const LIVE_WINDOW_MS = 5 * 60_000;
const SAMPLE_INTERVAL_MS = 1_000;

/**
 * One uPlot in a div: created when the series (or zone) change, fed with setData otherwise, so a live
 * update costs a redraw and not a new chart. `data-points` carries the x length for tests and tools.
 */
function Plot({ data, labels, zone, testid, marks }: { data: AlignedColumns; labels: string[]; zone: string; testid: string; marks?: number[] }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const marksRef = useRef<number[]>(marks ?? []);
  marksRef.current = marks ?? [];
  const shape = `${labels.join('\u0000')}|${zone}`;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const options: uPlot.Options = {
      width: Math.max(320, el.clientWidth || 800),
      height: 240,
      // Axis labels and the cursor's time in the chosen zone: uPlot formats the Date this returns.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
      scales: { x: { time: true } },
      series: [{ label: 'time' }, ...labels.map((label, i) => ({ label, stroke: PALETTE[i % PALETTE.length]!, width: 1.5, spanGaps: true }))],
      axes: [
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } },
        { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,0.2)' } },
      ],
      hooks: {
        // Backtest marks: a vertical line at each time an alarm would have been raised.
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = '#dc2626';
            ctx.lineWidth = 2;
            for (const at of marksRef.current) {
              const x = u.valToPos(at, 'x', true);
              if (!Number.isFinite(x)) continue;
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
    plot.current = new uPlot(options, data as uPlot.AlignedData, el);
    const resize = () => plot.current?.setSize({ width: Math.max(320, el.clientWidth || 800), height: 240 });
    addEventListener('resize', resize);
    return () => {
      removeEventListener('resize', resize);
      plot.current?.destroy();
      plot.current = null;
    };
    // Recreated only when the series or the zone change; data goes through setData below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return <div class="plot" ref={host} data-testid={testid} data-points={data[0].length} />;
}

/** The live chart: the sampled subscription into a rolling five-minute window, one series per metric. */
export function LiveTelemetryChart({ api, deviceId }: { api: Api; deviceId: string }) {
  const [live, setLive] = useState<LiveWindow>(emptyWindow);
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const [problem, setProblem] = useState<string | null>(null);
  const [subscriptions, setSubscriptions] = useState(0);

  useEffect(() => {
    const stop = api.subscribe(
      TelemetrySampled,
      { deviceId, sampleIntervalMs: SAMPLE_INTERVAL_MS },
      {
        next: ({ telemetry }) => {
          setProblem(null);
          setLive((current) => appendToWindow(current, telemetry.points, LIVE_WINDOW_MS));
        },
        error: (error) => setProblem(describeFailure(error)),
      },
    );
    const unlisten = api.onReconnect(() => setSubscriptions((n) => n + 1));
    return () => {
      stop();
      unlisten();
    };
  }, [api, deviceId, subscriptions]);

  const shown = live.metrics.filter((m) => !hidden.has(m));
  const data = useMemo(() => windowToColumns(live, shown), [live, shown.join('\u0000')]);

  return (
    <div class="chart-panel" data-testid="live-chart">
      <h3>Live telemetry</h3>
      <p class="muted">Sampled once a second over the last five minutes; the device may send far more often.</p>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {live.metrics.length === 0 ? (
        <p class="muted" data-testid="live-empty">
          Waiting for telemetry from {deviceId}…
        </p>
      ) : (
        <>
          <fieldset class="metric-picker">
            <legend>Metrics</legend>
            {live.metrics.map((metric, i) => (
              <label key={metric} class="metric">
                <input
                  type="checkbox"
                  name="live-metric"
                  value={metric}
                  checked={!hidden.has(metric)}
                  onChange={(e) => {
                    const next = new Set(hidden);
                    if (e.currentTarget.checked) next.delete(metric);
                    else next.add(metric);
                    setHidden(next);
                  }}
                />{' '}
                <span class={`swatch swatch-${i % PALETTE.length}`} /> {metric}{' '}
                <output data-testid={`live-value-${metric}`}>{formatValue(latestValue(live, metric))}</output>
              </label>
            ))}
          </fieldset>
          {shown.length > 0 && <Plot data={data} labels={shown} zone={browserTimeZone()} testid="live-plot" />}
        </>
      )}
    </div>
  );
}

/** The history chart: `series` buckets (average per bucket, min/max/count at the cursor) in a chosen zone. */
export function HistoryChart({ api, deviceId }: { api: Api; deviceId: string }) {
  const [metrics, setMetrics] = useState<string[]>([]);
  const [chosen, setChosen] = useState<string | null>(null);
  const [interval, setInterval] = useState<HistoryInterval>('MINUTE');
  const [preset, setPreset] = useState('1h');
  const [zoneChoice, setZoneChoice] = useState<'browser' | 'UTC' | 'other'>('browser');
  const [typedZone, setTypedZone] = useState('');
  const [data, setData] = useState<AlignedColumns | null>(null);
  const [buckets, setBuckets] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const [loads, setLoads] = useState(0);

  const zoneCheck = zoneChoice === 'browser' ? checkTimeZone(browserTimeZone()) : zoneChoice === 'UTC' ? checkTimeZone('UTC') : checkTimeZone(typedZone);
  const zone = zoneCheck.ok ? zoneCheck.zone : null;

  useEffect(() => {
    let cancelled = false;
    void api
      .request(DeviceMetrics, { deviceId })
      .then((result) => {
        if (cancelled) return;
        const names = (result.device?.latest ?? []).map((v) => v.metric).sort();
        setMetrics(names);
        setChosen((current) => (current && names.includes(current) ? current : (names[0] ?? null)));
      })
      .catch((error: unknown) => !cancelled && setProblem(describeFailure(error)));
    return () => {
      cancelled = true;
    };
  }, [api, deviceId, loads]);

  useEffect(() => {
    if (!chosen || !zone) return;
    const range = rangeOf(preset, interval, Date.now());
    if (!range.ok) {
      setProblem(range.problem);
      setData(null);
      return;
    }
    let cancelled = false;
    void api
      .request(DeviceSeries, { deviceId, metrics: [chosen], interval, from: range.from, to: range.to, timeZone: zone })
      .then((result) => {
        if (cancelled) return;
        const series = result.device?.series ?? [];
        setProblem(null);
        setBuckets(series.reduce((n, s) => n + s.buckets.length, 0));
        setData(bucketsToColumns(series, 'avg'));
      })
      .catch((error: unknown) => !cancelled && setProblem(describeFailure(error)));
    return () => {
      cancelled = true;
    };
  }, [api, deviceId, chosen, interval, preset, zone, loads]);

  return (
    <div class="chart-panel" data-testid="history-chart">
      <h3>History</h3>
      <div class="chart-controls">
        <label>
          Metric{' '}
          <select name="history-metric" value={chosen ?? ''} onChange={(e) => setChosen(e.currentTarget.value)}>
            {metrics.length === 0 && <option value="">(no telemetry yet)</option>}
            {metrics.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        <label>
          Interval{' '}
          <select name="history-interval" value={interval} onChange={(e) => setInterval(e.currentTarget.value as HistoryInterval)}>
            {INTERVALS.map((i) => (
              <option key={i.value} value={i.value}>
                {i.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Range{' '}
          <select name="history-range" value={preset} onChange={(e) => setPreset(e.currentTarget.value)}>
            {RANGE_PRESETS.map((p) => (
              <option key={p.key} value={p.key}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Time zone{' '}
          <select name="history-zone" value={zoneChoice} onChange={(e) => setZoneChoice(e.currentTarget.value as typeof zoneChoice)}>
            <option value="browser">this browser’s ({browserTimeZone()})</option>
            <option value="UTC">UTC</option>
            <option value="other">other…</option>
          </select>
        </label>
        {zoneChoice === 'other' && (
          <label>
            IANA zone <input name="history-zone-name" placeholder="Europe/Berlin" value={typedZone} onChange={(e) => setTypedZone(e.currentTarget.value)} />
          </label>
        )}
        <button type="button" class="secondary" onClick={() => setLoads((n) => n + 1)}>
          Refresh
        </button>
      </div>
      {!zoneCheck.ok && zoneChoice === 'other' && typedZone !== '' && (
        <p class="error" data-testid="zone-error">
          {zoneCheck.problem}
        </p>
      )}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <p class="muted">
        <span data-testid="history-buckets">{buckets}</span> buckets{zone ? `, axis in ${zone}` : ''}; buckets are computed by the server in that zone (a day
        across a DST change is 23 or 25 hours).
      </p>
      {data && chosen && zone && <Plot data={data} labels={[`${chosen} (avg)`]} zone={zone} testid="history-plot" />}
    </div>
  );
}

/** A backtest's readings are not fetched: the marks go on the metric's history over the same range. */
export function BacktestChart({ data, label, marks }: { data: AlignedColumns; label: string; marks: number[] }) {
  return <Plot data={data} labels={[label]} zone={browserTimeZone()} testid="backtest-plot" marks={marks} />;
}

function formatValue(value: number | null): string {
  if (value === null) return '—';
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
