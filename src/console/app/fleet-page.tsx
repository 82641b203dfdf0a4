import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import type { ConsoleFleetPageQuery, ConsoleOpenAlarmsQuery, DeviceFilter } from './gql/graphql.ts';
import { applyConnection, openAlarmDevices, parseCondition, type FleetRow } from './fleet-state.ts';
import { rowWindow } from './virtual.ts';

const FleetPageQuery = graphql(`
  query ConsoleFleetPage($filter: DeviceFilter, $first: Int!, $after: String) {
    devices(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          deviceId
          name
          connected
          lastSeenAt
          tags
          model {
            name
          }
          twin {
            delta
          }
        }
      }
    }
  }
`);

const OpenAlarmsQuery = graphql(`
  query ConsoleOpenAlarms($after: String) {
    alarms(filter: { open: true }, first: 500, after: $after) {
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          alarmId
          status
          device {
            deviceId
          }
        }
      }
    }
  }
`);

const FleetConnectionSubscription = graphql(`
  subscription ConsoleFleetConnection {
    deviceConnection {
      deviceId
      connected
      at
    }
  }
`);

const FleetAlarmSubscription = graphql(`
  subscription ConsoleFleetAlarms {
    alarmChanged {
      alarmId
      deviceId
      status
    }
  }
`);

const PAGE = 500;
const ROW_HEIGHT = 34;

interface Filters {
  tag: string;
  model: string;
  connected: '' | 'true' | 'false';
  /** `path op value` on the reported state, e.g. `firmware == "1.2"` or `temperature > 30`. */
  reported: string;
}

export function FleetPage({ api, openDevice }: { api: Api; openDevice: (deviceId: string) => void }) {
  const [filters, setFilters] = useState<Filters>({ tag: '', model: '', connected: '', reported: '' });
  const [rows, setRows] = useState<FleetRow[]>([]);
  const [total, setTotal] = useState<number | null>(null);
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);
  const [alarmed, setAlarmed] = useState<ReadonlyMap<string, ReadonlySet<string>>>(new Map());
  const [reloads, setReloads] = useState(0);

  const filter = useMemo(() => toFilter(filters), [filters]);

  // The whole list, page after page (at most 500 a page); rows appear as pages arrive.
  useEffect(() => {
    if (!filter.ok) return;
    let cancelled = false;
    setLoading(true);
    setProblem(null);
    void (async () => {
      const loaded: FleetRow[] = [];
      let after: string | null = null;
      try {
        for (;;) {
          const data: ConsoleFleetPageQuery = await api.request(FleetPageQuery, { filter: filter.value, first: PAGE, after });
          if (cancelled) return;
          for (const { node } of data.devices.edges) {
            loaded.push({
              deviceId: node.deviceId,
              name: node.name ?? null,
              connected: node.connected,
              lastSeenAt: node.lastSeenAt ?? null,
              tags: node.tags,
              model: node.model?.name ?? null,
              hasDelta: isNonEmpty(node.twin.delta),
            });
          }
          setRows([...loaded]);
          setTotal(data.devices.totalCount);
          if (!data.devices.pageInfo.hasNextPage || !data.devices.pageInfo.endCursor) break;
          after = data.devices.pageInfo.endCursor;
        }
      } catch (error) {
        if (!cancelled) setProblem(describeFailure(error));
      } finally {
        if (!cancelled) setLoading(false);
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [api, filter, reloads]);

  // Open alarms by device, kept current by alarmChanged.
  useEffect(() => {
    let cancelled = false;
    void (async () => {
      const alarms: Array<{ alarmId: string; deviceId: string; status: string }> = [];
      let after: string | null = null;
      try {
        for (;;) {
          const data: ConsoleOpenAlarmsQuery = await api.request(OpenAlarmsQuery, { after });
          alarms.push(...data.alarms.edges.map(({ node }) => ({ alarmId: node.alarmId, deviceId: node.device.deviceId, status: node.status })));
          if (!data.alarms.pageInfo.hasNextPage || !data.alarms.pageInfo.endCursor) break;
          after = data.alarms.pageInfo.endCursor;
        }
        if (!cancelled) setAlarmed(openAlarmDevices(new Map(), alarms));
      } catch (error) {
        if (!cancelled) setProblem(describeFailure(error));
      }
    })();
    const stop = api.subscribe(FleetAlarmSubscription, {}, { next: (data) => setAlarmed((current) => openAlarmDevices(current, [data.alarmChanged])) });
    return () => {
      cancelled = true;
      stop();
    };
  }, [api, reloads]);

  // Live connection state; after a dropped link the list is read again so nothing is missed.
  useEffect(() => {
    const stop = api.subscribe(FleetConnectionSubscription, {}, { next: (data) => setRows((current) => applyConnection(current, data.deviceConnection)) });
    const unlisten = api.onReconnect(() => setReloads((n) => n + 1));
    return () => {
      stop();
      unlisten();
    };
  }, [api]);

  const connectedCount = rows.reduce((n, row) => n + (row.connected ? 1 : 0), 0);
  const alarmCount = rows.reduce((n, row) => n + (alarmed.has(row.deviceId) ? 1 : 0), 0);

  return (
    <section class="fleet">
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Tag <input name="tag" value={filters.tag} onChange={(e) => setFilters({ ...filters, tag: e.currentTarget.value.trim() })} />
        </label>
        <label>
          Model <input name="model" value={filters.model} onChange={(e) => setFilters({ ...filters, model: e.currentTarget.value.trim() })} />
        </label>
        <label>
          Connected{' '}
          <select
            name="connected"
            value={filters.connected}
            onChange={(e) => setFilters({ ...filters, connected: e.currentTarget.value as Filters['connected'] })}
          >
            <option value="">any</option>
            <option value="true">online</option>
            <option value="false">offline</option>
          </select>
        </label>
        <label class="wide">
          Reported{' '}
          <input
            name="reported"
            placeholder='firmware == "1.2"   or   temperature > 30'
            value={filters.reported}
            onChange={(e) => setFilters({ ...filters, reported: e.currentTarget.value.trim() })}
          />
        </label>
      </form>
      {!filter.ok && (
        <p class="error" role="alert">
          {filter.problem}
        </p>
      )}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <p class="totals" data-testid="fleet-totals">
        <strong data-testid="total">{total ?? '…'}</strong> devices
        {total !== null && rows.length < total && <span> (loading {rows.length})</span>} · <strong data-testid="connected-count">{connectedCount}</strong>{' '}
        online · <strong>{alarmCount}</strong> with open alarms{loading && <span class="muted"> · loading</span>}
      </p>
      <DeviceTable rows={rows} alarmed={alarmed} openDevice={openDevice} />
    </section>
  );
}

function DeviceTable({ rows, alarmed, openDevice }: { rows: FleetRow[]; alarmed: ReadonlyMap<string, ReadonlySet<string>>; openDevice: (id: string) => void }) {
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  useEffect(() => {
    const element = viewport.current;
    if (!element) return;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const window = rowWindow(scrollTop, height, ROW_HEIGHT, rows.length);
  return (
    <div class="table-viewport" ref={viewport} data-testid="fleet-table" onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
      <table class="devices">
        <thead>
          <tr>
            <th>Device</th>
            <th>State</th>
            <th>Last seen</th>
            <th>Model</th>
            <th>Tags</th>
            <th>Flags</th>
          </tr>
        </thead>
        <tbody>
          {window.padTop > 0 && <tr style={{ height: `${window.padTop}px` }} aria-hidden="true" />}
          {rows.slice(window.start, window.end).map((row) => (
            <tr key={row.deviceId} data-device={row.deviceId} style={{ height: `${ROW_HEIGHT}px` }} onClick={() => openDevice(row.deviceId)}>
              <td>
                <a href={`#/devices/${encodeURIComponent(row.deviceId)}`}>{row.deviceId}</a>
                {row.name && <span class="muted"> {row.name}</span>}
              </td>
              <td>
                <span class={row.connected ? 'badge online' : 'badge offline'} data-testid="connection">
                  {row.connected ? 'online' : 'offline'}
                </span>
              </td>
              <td>{row.lastSeenAt ? new Date(row.lastSeenAt).toLocaleString() : '—'}</td>
              <td>{row.model ?? '—'}</td>
              <td>{row.tags.join(', ')}</td>
              <td>
                {row.hasDelta && (
                  <span class="badge delta" title="Desired state not reached yet">
                    Δ
                  </span>
                )}
                {alarmed.has(row.deviceId) && (
                  <span class="badge alarm" title="Open alarms">
                    alarm
                  </span>
                )}
              </td>
            </tr>
          ))}
          {window.padBottom > 0 && <tr style={{ height: `${window.padBottom}px` }} aria-hidden="true" />}
        </tbody>
      </table>
    </div>
  );
}

function isNonEmpty(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

function toFilter(filters: Filters): { ok: true; value: DeviceFilter } | { ok: false; problem: string } {
  const value: DeviceFilter = {};
  if (filters.tag) value.tag = filters.tag;
  if (filters.model) value.model = filters.model;
  if (filters.connected) value.connected = filters.connected === 'true';
  if (filters.reported) {
    const condition = parseCondition(filters.reported);
    if (!condition.ok) return condition;
    value.reported = [condition.value];
  }
  return { ok: true, value };
}
