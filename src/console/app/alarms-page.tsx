import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import type { ConsoleOpenAlarmListQuery } from './gql/graphql.ts';
import { may, type Role } from './roles.ts';

const OpenAlarmList = graphql(`
  query ConsoleOpenAlarmList($after: String) {
    alarms(filter: { open: true }, first: 500, after: $after) {
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          alarmId
          status
          severity
          raisedAt
          raisedValue
          flapping
          rule {
            name
          }
          device {
            deviceId
          }
        }
      }
    }
  }
`);

const AlarmUpdates = graphql(`
  subscription ConsoleAlarmUpdates {
    alarmChanged {
      alarmId
      status
      alarm {
        alarmId
        status
        severity
        raisedAt
        raisedValue
        flapping
        rule {
          name
        }
        device {
          deviceId
        }
      }
    }
  }
`);

const Acknowledge = graphql(`
  mutation ConsoleAcknowledgeAlarm($input: AlarmControlInput!) {
    acknowledgeAlarm(input: $input) {
      __typename
      ... on Alarm {
        alarmId
        status
      }
      ... on Error {
        message
      }
    }
  }
`);

const Clear = graphql(`
  mutation ConsoleClearAlarm($input: AlarmControlInput!) {
    clearAlarm(input: $input) {
      __typename
      ... on Alarm {
        alarmId
        status
      }
      ... on Error {
        message
      }
    }
  }
`);

const Comment = graphql(`
  mutation ConsoleCommentAlarm($input: CommentAlarmInput!) {
    commentAlarm(input: $input) {
      __typename
      ... on Alarm {
        alarmId
        status
      }
      ... on Error {
        message
      }
    }
  }
`);

type AlarmRow = ConsoleOpenAlarmListQuery['alarms']['edges'][number]['node'];
const OPEN = new Set(['ACTIVE', 'ACKNOWLEDGED', 'LATCHED']);

/** Open alarms, live; acknowledge, clear and comment on each. */
export function AlarmsPage({ api, role }: { api: Api; role: Role | null }) {
  const canControl = may(role, 'controlAlarms');
  const [alarms, setAlarms] = useState<AlarmRow[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [comments, setComments] = useState<Record<string, string>>({});
  const [reads, setReads] = useState(0);

  useEffect(() => {
    let cancelled = false;
    void (async () => {
      const loaded: AlarmRow[] = [];
      let after: string | null = null;
      try {
        for (;;) {
          const data: ConsoleOpenAlarmListQuery = await api.request(OpenAlarmList, { after });
          loaded.push(...data.alarms.edges.map((e) => e.node));
          if (!data.alarms.pageInfo.hasNextPage || !data.alarms.pageInfo.endCursor) break;
          after = data.alarms.pageInfo.endCursor;
        }
        if (!cancelled) setAlarms(loaded);
      } catch (error) {
        if (!cancelled) setProblem(describeFailure(error));
      }
    })();
    const stop = api.subscribe(
      AlarmUpdates,
      {},
      {
        next: ({ alarmChanged }) => {
          const alarm = alarmChanged.alarm;
          setAlarms((current) => {
            const rest = current.filter((a) => a.alarmId !== alarmChanged.alarmId);
            if (!alarm || !OPEN.has(alarm.status)) return rest;
            return [alarm, ...rest];
          });
        },
      },
    );
    const unlisten = api.onReconnect(() => setReads((n) => n + 1));
    return () => {
      cancelled = true;
      stop();
      unlisten();
    };
  }, [api, reads]);

  async function act(kind: 'acknowledge' | 'clear' | 'comment', alarmId: string) {
    setProblem(null);
    const text = comments[alarmId]?.trim();
    try {
      const result =
        kind === 'comment'
          ? (await api.request(Comment, { input: { alarmId, text: text ?? '' } })).commentAlarm
          : kind === 'acknowledge'
            ? (await api.request(Acknowledge, { input: { alarmId, ...(text ? { comment: text } : {}) } })).acknowledgeAlarm
            : (await api.request(Clear, { input: { alarmId, ...(text ? { comment: text } : {}) } })).clearAlarm;
      if (result.__typename === 'Alarm') {
        setComments({ ...comments, [alarmId]: '' });
        setAlarms((current) =>
          OPEN.has(result.status)
            ? current.map((a) => (a.alarmId === alarmId ? { ...a, status: result.status } : a))
            : current.filter((a) => a.alarmId !== alarmId),
        );
      } else if ('message' in result) setProblem(result.message);
    } catch (error) {
      setProblem(describeFailure(error));
    }
  }

  return (
    <section class="alarms">
      <h2>
        Open alarms <span data-testid="open-alarm-count">{alarms.length}</span>
      </h2>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {alarms.length === 0 ? (
        <p class="muted">No open alarms.</p>
      ) : (
        <table class="alarms-list">
          <thead>
            <tr>
              <th>Severity</th>
              <th>Rule</th>
              <th>Device</th>
              <th>Raised</th>
              <th>Value</th>
              <th>Status</th>
              {canControl && <th>Act</th>}
            </tr>
          </thead>
          <tbody>
            {alarms.map((alarm) => (
              <tr key={alarm.alarmId} data-alarm={alarm.alarmId}>
                <td class={`severity ${alarm.severity.toLowerCase()}`}>{alarm.severity}</td>
                <td>
                  {alarm.rule.name}
                  {alarm.flapping && <span class="badge alarm">flapping</span>}
                </td>
                <td>
                  <a href={`#/devices/${encodeURIComponent(alarm.device.deviceId)}`}>{alarm.device.deviceId}</a>
                </td>
                <td>{new Date(alarm.raisedAt).toLocaleString()}</td>
                <td>
                  <code>{JSON.stringify(alarm.raisedValue)}</code>
                </td>
                <td data-testid="alarm-status">{alarm.status}</td>
                {canControl && (
                  <td>
                    <input
                      name="comment"
                      placeholder="comment"
                      value={comments[alarm.alarmId] ?? ''}
                      onInput={(e) => setComments({ ...comments, [alarm.alarmId]: e.currentTarget.value })}
                    />{' '}
                    {alarm.status === 'ACTIVE' && (
                      <button type="button" onClick={() => void act('acknowledge', alarm.alarmId)}>
                        Acknowledge
                      </button>
                    )}{' '}
                    <button type="button" class="secondary" onClick={() => void act('clear', alarm.alarmId)}>
                      Clear
                    </button>{' '}
                    <button type="button" class="secondary" onClick={() => void act('comment', alarm.alarmId)}>
                      Comment
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
