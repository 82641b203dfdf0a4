/**
 * Rules: the list (`#/rules`) with enable / disable / delete, and the editor (`#/rules/new`,
 * `#/rules/<ruleId>`) for a RuleInput with the server's ValidationError shown under each field, and a
 * backtest preview: the unsaved input replayed by `testRule` over stored data, listing the alarms it
 * would have raised (and marking them on the metric's history when the rule watches telemetry).
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { BacktestChart } from './charts.tsx';
import { bucketsToColumns, type AlignedColumns } from './chart-data.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import type { ConsoleRuleListQuery, ConsoleTestRuleQuery, RuleInput } from './gql/graphql.ts';
import { may, NEEDS, needsRoleMessage, type Role } from './roles.ts';
import { firstRead, nextPageVariables, withPage, type Paged } from './rules-paging.ts';
import {
  describeCondition,
  describeScope,
  emptyRuleForm,
  formOf,
  inputOf,
  operandsOf,
  OPERATORS,
  problemsByField,
  SEVERITIES,
  SOURCE_TYPES,
  type ConditionForm,
  type FieldKey,
  type FieldProblems,
  type RuleForm,
} from './rule-form.ts';

const RuleList = graphql(`
  query ConsoleRuleList($first: Int!, $after: String) {
    rules(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          ruleId
          name
          enabled
          severity
          version
          openAlarmCount
          source {
            type
            metric
            path
          }
          raise {
            op
            value
            low
            high
            forMs
          }
          scope {
            deviceIds
            tag
            tags
            model
          }
        }
      }
    }
  }
`);

const RuleDetail = graphql(`
  query ConsoleRule($ruleId: String!) {
    rule(ruleId: $ruleId) {
      ruleId
      name
      description
      enabled
      severity
      version
      source {
        type
        metric
        path
      }
      raise {
        op
        value
        low
        high
        forMs
      }
      clear {
        op
        value
        low
        high
        forMs
      }
      scope {
        deviceIds
        tag
        tags
        model
      }
      onRaise {
        type
        command
        deviceId
        endpointId
        params
        patch
      }
      onClear {
        type
        command
        deviceId
        endpointId
        params
        patch
      }
    }
  }
`);

const CreateRule = graphql(`
  mutation ConsoleCreateRule($input: RuleInput!) {
    createRule(input: $input) {
      __typename
      ... on Rule {
        ruleId
        version
      }
      ... on ValidationError {
        message
        fieldErrors {
          path
          message
        }
      }
      ... on AlreadyExists {
        message
      }
    }
  }
`);

const UpdateRule = graphql(`
  mutation ConsoleUpdateRule($ruleId: String!, $input: RuleInput!) {
    updateRule(ruleId: $ruleId, input: $input) {
      __typename
      ... on Rule {
        ruleId
        version
      }
      ... on ValidationError {
        message
        fieldErrors {
          path
          message
        }
      }
      ... on AlreadyExists {
        message
      }
      ... on NotFound {
        message
      }
    }
  }
`);

const EnableRule = graphql(`
  mutation ConsoleEnableRule($ruleId: String!) {
    enableRule(ruleId: $ruleId) {
      __typename
      ... on Rule {
        ruleId
        enabled
      }
      ... on NotFound {
        message
      }
    }
  }
`);

const DisableRule = graphql(`
  mutation ConsoleDisableRule($ruleId: String!) {
    disableRule(ruleId: $ruleId) {
      __typename
      ... on Rule {
        ruleId
        enabled
      }
      ... on NotFound {
        message
      }
    }
  }
`);

const DeleteRule = graphql(`
  mutation ConsoleDeleteRule($ruleId: String!) {
    deleteRule(ruleId: $ruleId) {
      __typename
      ... on NotFound {
        message
      }
    }
  }
`);

const TestRule = graphql(`
  query ConsoleTestRule($input: RuleInput!, $from: DateTime!, $to: DateTime!, $deviceIds: [String!]) {
    testRule(input: $input, from: $from, to: $to, deviceIds: $deviceIds) {
      __typename
      ... on RuleBacktest {
        raised
        cleared
        openAtEnd
        devices
        readings
        truncated
        alarms {
          deviceId
          severity
          raisedAt
          raisedValue
          clearedAt
          clearedValue
        }
      }
      ... on ValidationError {
        message
        fieldErrors {
          path
          message
        }
      }
      ... on NotFound {
        message
      }
    }
  }
`);

const BacktestSeries = graphql(`
  query ConsoleBacktestSeries($deviceId: String!, $metric: String!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!) {
    device(deviceId: $deviceId) {
      series(metrics: [$metric], aggregates: [AVG], interval: $interval, from: $from, to: $to) {
        metric
        buckets {
          start
          avg
        }
      }
    }
  }
`);

type RuleRow = ConsoleRuleListQuery['rules']['edges'][number]['node'];

const ruleKey = (rule: RuleRow) => rule.ruleId;

/** The rules of the tenant a page at a time, with their open alarms; enable, disable, delete (operators). */
export function RulesPage({ api, role }: { api: Api; role: Role | null }) {
  const [list, setList] = useState<Paged<RuleRow> | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [reads, setReads] = useState(0);
  const [loadingMore, setLoadingMore] = useState(false);
  const canEdit = may(role, 'editRules');

  // The first page; a reconnect or an action starts the list over, so nothing shown is stale.
  useEffect(() => {
    let cancelled = false;
    api
      .request(RuleList, firstRead)
      .then((data) => !cancelled && setList(withPage(null, data.rules, ruleKey)))
      .catch((error: unknown) => !cancelled && setProblem(describeFailure(error)));
    const unlisten = api.onReconnect(() => setReads((n) => n + 1));
    return () => {
      cancelled = true;
      unlisten();
    };
  }, [api, reads]);

  async function more() {
    const variables = list && nextPageVariables(list);
    if (!variables) return;
    setLoadingMore(true);
    try {
      const data = await api.request(RuleList, variables);
      setList((current) => withPage(current, data.rules, ruleKey));
    } catch (error) {
      setProblem(describeFailure(error));
    } finally {
      setLoadingMore(false);
    }
  }

  async function act(kind: 'enable' | 'disable' | 'delete', rule: RuleRow) {
    setProblem(null);
    if (kind === 'delete' && !confirm(`Delete the rule “${rule.name}” with its versions and alarms?`)) return;
    try {
      const result =
        kind === 'enable'
          ? (await api.request(EnableRule, { ruleId: rule.ruleId })).enableRule
          : kind === 'disable'
            ? (await api.request(DisableRule, { ruleId: rule.ruleId })).disableRule
            : (await api.request(DeleteRule, { ruleId: rule.ruleId })).deleteRule;
      if (result.__typename === 'NotFound') setProblem(result.message);
      setReads((n) => n + 1);
    } catch (error) {
      setProblem(describeFailure(error));
    }
  }

  const rules = list?.items ?? null;
  return (
    <section class="rules">
      <h2>
        Rules <span data-testid="rule-count">{list ? list.totalCount : '…'}</span> {canEdit && <a href="#/rules/new">New rule</a>}
      </h2>
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      {rules && rules.length === 0 && <p class="muted">No rules yet.</p>}
      {rules && rules.length > 0 && (
        <table class="rules-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>Watches</th>
              <th>Severity</th>
              <th>Scope</th>
              <th>Open alarms</th>
              <th>Enabled</th>
              {canEdit && <th>Act</th>}
            </tr>
          </thead>
          <tbody>
            {rules.map((rule) => (
              <tr key={rule.ruleId} data-rule={rule.name}>
                <td>
                  <a href={`#/rules/${encodeURIComponent(rule.ruleId)}`}>{rule.name}</a> <span class="muted">v{rule.version}</span>
                </td>
                <td>{describeCondition(subjectOf(rule.source), rule.raise)}</td>
                <td class={`severity ${rule.severity.toLowerCase()}`}>{rule.severity}</td>
                <td>{describeScope(rule.scope)}</td>
                <td data-testid="rule-open-alarms">{rule.openAlarmCount}</td>
                <td data-testid="rule-enabled">{rule.enabled ? 'yes' : 'no'}</td>
                {canEdit && (
                  <td>
                    {rule.enabled ? (
                      <button type="button" class="secondary" onClick={() => void act('disable', rule)}>
                        Disable
                      </button>
                    ) : (
                      <button type="button" onClick={() => void act('enable', rule)}>
                        Enable
                      </button>
                    )}{' '}
                    <button type="button" class="secondary danger" onClick={() => void act('delete', rule)}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list && (
        <p class="muted">
          <span data-testid="rules-shown">{list.items.length}</span> of {list.totalCount} shown{' '}
          {list.nextCursor !== null && (
            <button type="button" class="secondary" disabled={loadingMore} onClick={() => void more()}>
              {loadingMore ? 'Loading…' : 'More'}
            </button>
          )}
        </p>
      )}
    </section>
  );
}

function subjectOf(source: { type: string; metric?: string | null; path?: readonly string[] | null }): string {
  if (source.type === 'TELEMETRY') return source.metric ?? 'metric';
  if (source.type === 'CONNECTION') return 'connected';
  return `${source.type.toLowerCase()}.${(source.path ?? []).join('.')}`;
}

/** `datetime-local` wants local "YYYY-MM-DDTHH:mm". */
function localInputValue(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

type Backtest = Extract<ConsoleTestRuleQuery['testRule'], { __typename: 'RuleBacktest' }>;

/** Create (ruleId null) or edit a rule, with a backtest preview of the unsaved input. */
export function RuleEditorPage({ api, ruleId, role }: { api: Api; ruleId: string | null; role: Role | null }) {
  const canEdit = may(role, 'editRules');
  const [form, setForm] = useState<RuleForm | null>(ruleId ? null : emptyRuleForm());
  const [version, setVersion] = useState<number | null>(null);
  const [problems, setProblems] = useState<FieldProblems>({});
  const [message, setMessage] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [from, setFrom] = useState(() => localInputValue(Date.now() - 24 * 3_600_000));
  const [to, setTo] = useState(() => localInputValue(Date.now() + 60_000));
  const [backtestDevices, setBacktestDevices] = useState('');
  const [backtest, setBacktest] = useState<Backtest | null>(null);
  const [backtestProblem, setBacktestProblem] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [history, setHistory] = useState<{ data: AlignedColumns; label: string } | null>(null);

  useEffect(() => {
    if (!ruleId) return;
    let cancelled = false;
    api
      .request(RuleDetail, { ruleId })
      .then((data) => {
        if (cancelled) return;
        if (!data.rule) setMessage(`There is no rule ${ruleId} in your tenant.`);
        else {
          setForm(formOf(data.rule));
          setVersion(data.rule.version);
        }
      })
      .catch((error: unknown) => !cancelled && setMessage(describeFailure(error)));
    return () => {
      cancelled = true;
    };
  }, [api, ruleId]);

  if (!form)
    return (
      <section class="rule-editor">
        {message ? (
          <p class="error" role="alert">
            {message}
          </p>
        ) : (
          <p class="muted">Loading rule…</p>
        )}
      </section>
    );

  const update = (patch: Partial<RuleForm>) => setForm({ ...form, ...patch });
  const checked = (): RuleInput | null => {
    const parsed = inputOf(form);
    if (!parsed.ok) {
      setProblems(parsed.problems);
      setMessage('Some fields need attention (see below).');
      return null;
    }
    return parsed.value;
  };

  async function save() {
    setSaved(null);
    const input = checked();
    if (!input) return;
    try {
      const result = ruleId ? (await api.request(UpdateRule, { ruleId, input })).updateRule : (await api.request(CreateRule, { input })).createRule;
      switch (result.__typename) {
        case 'Rule':
          setProblems({});
          setMessage(null);
          setVersion(result.version);
          setSaved(`Saved as version ${result.version}.`);
          if (!ruleId) location.hash = `#/rules/${encodeURIComponent(result.ruleId)}`;
          break;
        case 'ValidationError':
          setProblems(problemsByField(result.fieldErrors));
          setMessage(result.message);
          break;
        case 'AlreadyExists':
          setProblems({ name: [result.message] });
          setMessage(result.message);
          break;
        case 'NotFound':
          setMessage(result.message);
          break;
      }
    } catch (error) {
      setMessage(describeFailure(error));
    }
  }

  async function preview() {
    setBacktestProblem(null);
    setBacktest(null);
    setHistory(null);
    const input = checked();
    if (!input) return;
    const fromMs = Date.parse(from);
    const toMs = Date.parse(to);
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs) || fromMs >= toMs) {
      setBacktestProblem('Pick a range whose start is before its end.');
      return;
    }
    const deviceIds = backtestDevices.split(/[\s,]+/).filter(Boolean);
    setRunning(true);
    try {
      const { testRule: result } = await api.request(TestRule, {
        input,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        deviceIds: deviceIds.length ? deviceIds : null,
      });
      if (result.__typename === 'RuleBacktest') {
        setProblems({});
        setMessage(null);
        setBacktest(result);
        // Marks on the metric's history, for the first device that would have alarmed: one cheap query.
        const first = result.alarms[0];
        if (first && input.source.type === 'TELEMETRY' && input.source.metric) {
          const span = toMs - fromMs;
          const interval = span <= 2 * 3_600_000 ? 'MINUTE' : span <= 7 * 86_400_000 ? 'HOUR' : 'DAY';
          const data = await api.request(BacktestSeries, {
            deviceId: first.deviceId,
            metric: input.source.metric,
            interval,
            from: new Date(fromMs).toISOString(),
            to: new Date(toMs).toISOString(),
          });
          const series = data.device?.series ?? [];
          if (series.some((s) => s.buckets.length > 0))
            setHistory({ data: bucketsToColumns(series, 'avg'), label: `${first.deviceId} ${input.source.metric}` });
        }
      } else if (result.__typename === 'ValidationError') {
        setProblems(problemsByField(result.fieldErrors));
        setBacktestProblem(result.message);
      } else setBacktestProblem(result.message);
    } catch (error) {
      setBacktestProblem(describeFailure(error));
    } finally {
      setRunning(false);
    }
  }

  const marks = backtest && history ? backtest.alarms.filter((a) => a.deviceId === backtest.alarms[0]?.deviceId).map((a) => Date.parse(a.raisedAt) / 1000) : [];

  return (
    <section class="rule-editor">
      <h2>
        {ruleId ? (
          <>
            Rule {form.name}{' '}
            <span class="muted">
              version <span data-testid="rule-version">{version}</span>
            </span>
          </>
        ) : (
          'New rule'
        )}{' '}
        <a href="#/rules" class="muted">
          all rules
        </a>
      </h2>
      {message && (
        <div class="error" role="alert" data-testid="rule-error">
          <p>{message}</p>
          {problems[''] && (
            <ul>
              {problems[''].map((m) => (
                <li key={m}>{m}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {saved && (
        <p class="ok" data-testid="rule-saved">
          {saved}
        </p>
      )}
      <form
        class="rule-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <Field label="Name" problems={problems.name} field="name">
          <input name="name" value={form.name} onInput={(e) => update({ name: e.currentTarget.value })} />
        </Field>
        <Field label="Description" problems={problems.description} field="description">
          <input name="description" value={form.description} onInput={(e) => update({ description: e.currentTarget.value })} />
        </Field>
        <Field label="Severity" problems={problems.severity} field="severity">
          <select name="severity" value={form.severity} onChange={(e) => update({ severity: e.currentTarget.value as RuleForm['severity'] })}>
            {SEVERITIES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </Field>
        <label class="check">
          <input type="checkbox" name="enabled" checked={form.enabled} onChange={(e) => update({ enabled: e.currentTarget.checked })} /> Enabled
        </label>
        <Field label="Watches" problems={[...(problems.source ?? []), ...(problems['source.type'] ?? [])]} field="source.type">
          <select name="sourceType" value={form.sourceType} onChange={(e) => update({ sourceType: e.currentTarget.value as RuleForm['sourceType'] })}>
            {SOURCE_TYPES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </Field>
        {form.sourceType === 'TELEMETRY' && (
          <Field label="Metric" problems={problems['source.metric']} field="source.metric">
            <input name="metric" value={form.metric} onInput={(e) => update({ metric: e.currentTarget.value })} />
          </Field>
        )}
        {(form.sourceType === 'REPORTED' || form.sourceType === 'DESIRED') && (
          <Field label="Twin path (dotted)" problems={problems['source.path']} field="source.path">
            <input name="path" placeholder="battery.level" value={form.path} onInput={(e) => update({ path: e.currentTarget.value })} />
          </Field>
        )}
        <ConditionFields title="Raise when" at="raise" value={form.raise} problems={problems} onChange={(raise) => update({ raise })} />
        <label class="check">
          <input type="checkbox" name="hasClear" checked={form.hasClear} onChange={(e) => update({ hasClear: e.currentTarget.checked })} /> A separate clear
          condition (otherwise: clears as soon as the raise condition stops holding)
        </label>
        {form.hasClear && <ConditionFields title="Clear when" at="clear" value={form.clear} problems={problems} onChange={(clear) => update({ clear })} />}
        <fieldset>
          <legend>Scope (empty: every device)</legend>
          <Field label="Device ids" problems={problems['scope.deviceIds']} field="scope.deviceIds">
            <input name="deviceIds" value={form.deviceIds} onInput={(e) => update({ deviceIds: e.currentTarget.value })} />
          </Field>
          <Field label="Tags (all must match)" problems={problems['scope.tags']} field="scope.tags">
            <input name="tags" value={form.tags} onInput={(e) => update({ tags: e.currentTarget.value })} />
          </Field>
          <Field label="Model" problems={problems['scope.model']} field="scope.model">
            <input name="model" value={form.model} onInput={(e) => update({ model: e.currentTarget.value })} />
          </Field>
          {problems.scope && <FieldErrors field="scope" messages={problems.scope} />}
        </fieldset>
        <Field label="On raise: actions (JSON list)" problems={problems.onRaise} field="onRaise">
          <textarea name="onRaise" rows={3} value={form.onRaise} onInput={(e) => update({ onRaise: e.currentTarget.value })} />
        </Field>
        <Field label="On clear: actions (JSON list)" problems={problems.onClear} field="onClear">
          <textarea name="onClear" rows={3} value={form.onClear} onInput={(e) => update({ onClear: e.currentTarget.value })} />
        </Field>
        {canEdit ? (
          <button type="submit">{ruleId ? 'Save a new version' : 'Create rule'}</button>
        ) : (
          <p class="muted" data-testid="needs-role">
            {needsRoleMessage(NEEDS.editRules, 'Saving a rule')}
          </p>
        )}
      </form>

      <div class="backtest chart-panel">
        <h3>Backtest preview</h3>
        <p class="muted">Replays the rule as typed above (unsaved) over the stored data; nothing is written and no action runs.</p>
        <div class="chart-controls">
          <label>
            From <input type="datetime-local" name="backtestFrom" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
          </label>
          <label>
            To <input type="datetime-local" name="backtestTo" value={to} onChange={(e) => setTo(e.currentTarget.value)} />
          </label>
          <label>
            Devices (optional){' '}
            <input name="backtestDevices" placeholder="all in scope" value={backtestDevices} onInput={(e) => setBacktestDevices(e.currentTarget.value)} />
          </label>
          <button type="button" disabled={running} onClick={() => void preview()}>
            {running ? 'Replaying…' : 'Preview'}
          </button>
        </div>
        {backtestProblem && (
          <p class="error" role="alert" data-testid="backtest-error">
            {backtestProblem}
          </p>
        )}
        {backtest && (
          <>
            <p data-testid="backtest-summary">
              {backtest.raised} raised, {backtest.cleared} cleared, {backtest.openAtEnd} still open at the end · {backtest.devices} devices, {backtest.readings}{' '}
              readings{backtest.truncated ? ' (cut short by a limit: narrow the range or the devices)' : ''}
            </p>
            {backtest.alarms.length > 0 && (
              <table class="backtest-alarms" data-testid="backtest-alarms">
                <thead>
                  <tr>
                    <th>Device</th>
                    <th>Severity</th>
                    <th>Raised</th>
                    <th>Value</th>
                    <th>Cleared</th>
                    <th>Value</th>
                  </tr>
                </thead>
                <tbody>
                  {backtest.alarms.map((a) => (
                    <tr key={`${a.deviceId} ${a.raisedAt}`} data-device={a.deviceId}>
                      <td>{a.deviceId}</td>
                      <td class={`severity ${a.severity.toLowerCase()}`}>{a.severity}</td>
                      <td>{new Date(a.raisedAt).toLocaleString()}</td>
                      <td>
                        <code data-testid="backtest-raised-value">{JSON.stringify(a.raisedValue)}</code>
                      </td>
                      <td>{a.clearedAt ? new Date(a.clearedAt).toLocaleString() : 'still open'}</td>
                      <td>
                        <code>{a.clearedAt ? JSON.stringify(a.clearedValue) : ''}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {history && <BacktestChart data={history.data} label={history.label} marks={marks} />}
          </>
        )}
      </div>
    </section>
  );
}

function Field({ label, problems, field, children }: { label: string; problems: string[] | undefined; field: FieldKey; children: preact.ComponentChildren }) {
  return (
    <label class={problems?.length ? 'field invalid' : 'field'}>
      <span>{label}</span>
      {children}
      {problems?.length ? <FieldErrors field={field} messages={problems} /> : null}
    </label>
  );
}

function FieldErrors({ field, messages }: { field: string; messages: string[] }) {
  return (
    <span class="field-error" data-testid={`field-error-${field}`}>
      {messages.join(' ')}
    </span>
  );
}

function ConditionFields({
  title,
  at,
  value,
  problems,
  onChange,
}: {
  title: string;
  at: 'raise' | 'clear';
  value: ConditionForm;
  problems: FieldProblems;
  onChange: (next: ConditionForm) => void;
}) {
  const operands = operandsOf(value.op);
  return (
    <fieldset>
      <legend>{title}</legend>
      <Field label="Operator" problems={problems[`${at}.op`]} field={`${at}.op`}>
        <select name={`${at}Op`} value={value.op} onChange={(e) => onChange({ ...value, op: e.currentTarget.value as ConditionForm['op'] })}>
          {OPERATORS.map((op) => (
            <option key={op}>{op}</option>
          ))}
        </select>
      </Field>
      {operands === 'value' && (
        <Field label="Value" problems={problems[`${at}.value`]} field={`${at}.value`}>
          <input name={`${at}Value`} value={value.value} onInput={(e) => onChange({ ...value, value: e.currentTarget.value })} />
        </Field>
      )}
      {operands === 'range' && (
        <>
          <Field label="Low" problems={problems[`${at}.low`]} field={`${at}.low`}>
            <input name={`${at}Low`} value={value.low} onInput={(e) => onChange({ ...value, low: e.currentTarget.value })} />
          </Field>
          <Field label="High" problems={problems[`${at}.high`]} field={`${at}.high`}>
            <input name={`${at}High`} value={value.high} onInput={(e) => onChange({ ...value, high: e.currentTarget.value })} />
          </Field>
        </>
      )}
      <Field label="For (seconds)" problems={problems[`${at}.forMs`]} field={`${at}.forMs`}>
        <input name={`${at}For`} value={value.forSeconds} onInput={(e) => onChange({ ...value, forSeconds: e.currentTarget.value })} />
      </Field>
      {problems[at] && <FieldErrors field={at} messages={problems[at]} />}
    </fieldset>
  );
}
