import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import { CommandPanel } from './command-panel.tsx';
import { HistoryChart, LiveTelemetryChart } from './charts.tsx';
import { desiredPatchOf } from './twin-edit.ts';
import { may, type Role } from './roles.ts';

const DeviceQuery = graphql(`
  query ConsoleDevice($deviceId: String!) {
    device(deviceId: $deviceId) {
      deviceId
      name
      connected
      lastSeenAt
      tags
      model {
        name
      }
      twin {
        version
        reported
        desired
        delta
      }
    }
  }
`);

const TwinSubscription = graphql(`
  subscription ConsoleTwin($deviceId: String!, $sinceVersion: Int) {
    twinChanged(deviceId: $deviceId, sinceVersion: $sinceVersion) {
      version
      twin {
        version
        reported
        desired
        delta
      }
    }
  }
`);

const ConnectionSubscription = graphql(`
  subscription ConsoleDeviceConnection($deviceId: String!) {
    deviceConnection(deviceId: $deviceId) {
      connected
      at
    }
  }
`);

const UpdateDesired = graphql(`
  mutation ConsoleUpdateDesired($deviceId: String!, $ifVersion: Int, $patch: JSON!) {
    updateDesired(deviceId: $deviceId, ifVersion: $ifVersion, patch: $patch) {
      __typename
      ... on UpdateDesiredPayload {
        version
        twin {
          version
          reported
          desired
          delta
        }
      }
      ... on ValidationError {
        message
        fieldErrors {
          path
          message
        }
      }
      ... on VersionConflict {
        message
        currentVersion
      }
      ... on NotFound {
        message
      }
    }
  }
`);

interface TwinView {
  version: number;
  reported: unknown;
  desired: unknown;
  delta: unknown;
}

interface Problem {
  message: string;
  fields?: Array<{ path: string; message: string }>;
  conflictVersion?: number;
}

export function DevicePage({ api, deviceId, role }: { api: Api; deviceId: string; role: Role | null }) {
  const [device, setDevice] = useState<{ name: string | null; model: string | null; tags: string[] } | null>(null);
  const [connected, setConnected] = useState<{ connected: boolean; at: string | null } | null>(null);
  const [twin, setTwin] = useState<TwinView | null>(null);
  const [loadProblem, setLoadProblem] = useState<string | null>(null);
  const [draft, setDraft] = useState<string | null>(null);
  const [editProblem, setEditProblem] = useState<Problem | null>(null);
  const [reads, setReads] = useState(0);

  // Read the twin, then follow it from that version: every change after it, no gap, no duplicate.
  useEffect(() => {
    let stop: (() => void) | undefined;
    let cancelled = false;
    void (async () => {
      try {
        const data = await api.request(DeviceQuery, { deviceId });
        if (cancelled) return;
        if (!data.device) {
          setLoadProblem(`There is no device ${deviceId} in your tenant.`);
          return;
        }
        const d = data.device;
        setDevice({ name: d.name ?? null, model: d.model?.name ?? null, tags: d.tags });
        setConnected({ connected: d.connected, at: d.lastSeenAt ?? null });
        setTwin(d.twin);
        setLoadProblem(null);
        let seen = d.twin.version;
        stop = api.subscribe(
          TwinSubscription,
          { deviceId, sinceVersion: seen },
          {
            next: ({ twinChanged }) => {
              seen = Math.max(seen, twinChanged.version);
              if (twinChanged.twin) setTwin((current) => (current && current.version > twinChanged.twin!.version ? current : twinChanged.twin!));
            },
            // RESYNC_REQUIRED (history gone) or any other refusal: read again and resubscribe from there.
            error: (error) => {
              if (error.code === 'RESYNC_REQUIRED') setReads((n) => n + 1);
              else setLoadProblem(describeFailure(error));
            },
          },
        );
      } catch (error) {
        if (!cancelled) setLoadProblem(describeFailure(error));
      }
    })();
    const stopConnection = api.subscribe(ConnectionSubscription, { deviceId }, { next: ({ deviceConnection }) => setConnected(deviceConnection) });
    const unlisten = api.onReconnect(() => setReads((n) => n + 1));
    return () => {
      cancelled = true;
      stop?.();
      stopConnection();
      unlisten();
    };
  }, [api, deviceId, reads]);

  async function saveDesired(ifVersion: number | null) {
    if (draft === null || !twin) return;
    const patch = desiredPatchOf(twin.desired, draft);
    if (!patch.ok) {
      setEditProblem({ message: patch.problem });
      return;
    }
    try {
      const { updateDesired: result } = await api.request(UpdateDesired, { deviceId, ifVersion, patch: patch.value });
      switch (result.__typename) {
        case 'UpdateDesiredPayload':
          setTwin((current) => (current && current.version > result.twin.version ? current : result.twin));
          setDraft(null);
          setEditProblem(null);
          break;
        case 'ValidationError':
          setEditProblem({ message: result.message, fields: result.fieldErrors.map((f) => ({ path: f.path.join('.'), message: f.message })) });
          break;
        case 'VersionConflict':
          setEditProblem({ message: result.message, conflictVersion: result.currentVersion });
          break;
        case 'NotFound':
          setEditProblem({ message: result.message });
          break;
      }
    } catch (error) {
      setEditProblem({ message: describeFailure(error) });
    }
  }

  if (loadProblem)
    return (
      <section class="device">
        <p class="error" role="alert">
          {loadProblem}
        </p>
      </section>
    );
  if (!twin || !device) return <section class="device muted">Loading {deviceId}…</section>;
  return (
    <section class="device">
      <h2>
        {deviceId} {device.name && <span class="muted">{device.name}</span>}{' '}
        <span class={connected?.connected ? 'badge online' : 'badge offline'} data-testid="device-connection">
          {connected?.connected ? 'online' : 'offline'}
        </span>
      </h2>
      <p class="muted">
        Model {device.model ?? '—'} · tags {device.tags.join(', ') || '—'} · twin version <span data-testid="twin-version">{twin.version}</span>
      </p>
      <div class="twin">
        <TwinSection title="Reported" testid="reported" value={twin.reported} />
        <div class="twin-section">
          <h3>Desired</h3>
          {draft === null ? (
            <>
              <pre data-testid="desired">{JSON.stringify(twin.desired, null, 2)}</pre>
              {may(role, 'editDesired') && (
                <button type="button" onClick={() => setDraft(JSON.stringify(twin.desired, null, 2))}>
                  Edit desired state
                </button>
              )}
            </>
          ) : (
            <form
              onSubmit={(e) => {
                e.preventDefault();
                void saveDesired(twin.version);
              }}
            >
              <textarea name="desired" rows={12} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
              <button type="submit">Save (if still version {twin.version})</button>{' '}
              <button type="button" class="secondary" onClick={() => (setDraft(null), setEditProblem(null))}>
                Cancel
              </button>
            </form>
          )}
          {editProblem && (
            <div class="error" role="alert" data-testid="desired-error">
              <p>{editProblem.message}</p>
              {editProblem.fields && (
                <ul>
                  {editProblem.fields.map((f) => (
                    <li key={f.path}>
                      <code>{f.path || '(the document)'}</code>: {f.message}
                    </li>
                  ))}
                </ul>
              )}
              {editProblem.conflictVersion !== undefined && (
                <p>
                  The twin is now at version {editProblem.conflictVersion}; the panels show it.{' '}
                  <button type="button" onClick={() => void saveDesired(null)}>
                    Save my edit over it
                  </button>
                </p>
              )}
            </div>
          )}
        </div>
        <TwinSection title="Delta (desired, not yet reported)" testid="delta" value={twin.delta} />
      </div>
      <div class="charts">
        <LiveTelemetryChart api={api} deviceId={deviceId} />
        <HistoryChart api={api} deviceId={deviceId} />
      </div>
      <CommandPanel api={api} deviceId={deviceId} canSend={may(role, 'sendCommands')} />
    </section>
  );
}

function TwinSection({ title, value, testid }: { title: string; value: unknown; testid: string }) {
  return (
    <div class="twin-section">
      <h3>{title}</h3>
      <pre data-testid={testid}>{JSON.stringify(value, null, 2)}</pre>
    </div>
  );
}
