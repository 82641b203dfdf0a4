import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Api } from './api.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import type { ConsoleCommandsQuery } from './gql/graphql.ts';
import { fieldOfPath, formFields, paramsFrom } from './schema-form.ts';
import { NEEDS, needsRoleMessage } from './roles.ts';

const CommandsQuery = graphql(`
  query ConsoleCommands($deviceId: String!) {
    device(deviceId: $deviceId) {
      model {
        name
        commands {
          name
          description
          params
        }
      }
      commands(last: 20) {
        edges {
          node {
            commandId
            name
            params
            status
            createdAt
            result
            error
          }
        }
      }
    }
  }
`);

const SendCommand = graphql(`
  mutation ConsoleSendCommand($input: SendCommandInput!) {
    sendCommand(input: $input) {
      __typename
      ... on Command {
        commandId
        name
        params
        status
        createdAt
        result
        error
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
      ... on RateLimited {
        message
      }
    }
  }
`);

const CommandUpdates = graphql(`
  subscription ConsoleCommandUpdates($deviceId: String!) {
    commandUpdated(deviceId: $deviceId) {
      commandId
      status
      command {
        commandId
        name
        params
        status
        createdAt
        result
        error
      }
    }
  }
`);

type CommandRow = NonNullable<ConsoleCommandsQuery['device']>['commands']['edges'][number]['node'];
type Definition = NonNullable<NonNullable<ConsoleCommandsQuery['device']>['model']>['commands'][number];

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'EXPIRED', 'CANCELED', 'TIMED_OUT']);

/** Send a command through a form generated from its schema; the device's command history, live. */
/** `canSend` false (a viewer's token): the history only, and a note on the role sending needs. */
export function CommandPanel({ api, deviceId, canSend }: { api: Api; deviceId: string; canSend: boolean }) {
  const [definitions, setDefinitions] = useState<Definition[]>([]);
  const [history, setHistory] = useState<CommandRow[]>([]);
  const [selected, setSelected] = useState<string>('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [reads, setReads] = useState(0);

  useEffect(() => {
    let cancelled = false;
    void api
      .request(CommandsQuery, { deviceId })
      .then((data) => {
        if (cancelled || !data.device) return;
        setDefinitions(data.device.model?.commands ?? []);
        setHistory(data.device.commands.edges.map((e) => e.node).reverse());
      })
      .catch((error: unknown) => !cancelled && setProblem(describeFailure(error)));
    const stop = api.subscribe(CommandUpdates, { deviceId }, { next: ({ commandUpdated }) => commandUpdated.command && upsert(commandUpdated.command) });
    const unlisten = api.onReconnect(() => setReads((n) => n + 1));
    return () => {
      cancelled = true;
      stop();
      unlisten();
    };
  }, [api, deviceId, reads]);

  function upsert(command: CommandRow) {
    setHistory((current) => {
      const index = current.findIndex((c) => c.commandId === command.commandId);
      if (index < 0) return [command, ...current].slice(0, 50);
      // A late event never moves a final command back.
      if (FINAL.has(current[index]!.status) && !FINAL.has(command.status)) return current;
      const next = current.slice();
      next[index] = command;
      return next;
    });
  }

  const definition = definitions.find((d) => d.name === selected);
  const fields = useMemo(() => formFields(definition?.params), [definition]);

  async function send() {
    if (!definition) return;
    setProblem(null);
    const parsed = paramsFrom(fields, values);
    if (!parsed.ok) {
      setFieldErrors(parsed.errors);
      return;
    }
    setFieldErrors({});
    try {
      const { sendCommand: result } = await api.request(SendCommand, { input: { deviceId, name: definition.name, params: parsed.params } });
      switch (result.__typename) {
        case 'Command':
          upsert(result);
          break;
        case 'ValidationError': {
          const byField: Record<string, string> = {};
          const general: string[] = [];
          for (const error of result.fieldErrors) {
            const field = fieldOfPath(error.path);
            if (field) byField[field] = error.message;
            else general.push(error.message);
          }
          setFieldErrors(byField);
          setProblem(general.length > 0 ? general.join('; ') : result.message);
          break;
        }
        default:
          setProblem(result.message);
      }
    } catch (error) {
      setProblem(describeFailure(error));
    }
  }

  return (
    <div class="commands">
      <h3>Commands</h3>
      {!canSend ? (
        <p class="muted" data-testid="needs-role">
          {needsRoleMessage(NEEDS.sendCommands, 'Sending commands')}
        </p>
      ) : definitions.length === 0 ? (
        <p class="muted">This device’s model declares no commands.</p>
      ) : (
        <form
          class="command-form"
          onSubmit={(e) => {
            e.preventDefault();
            void send();
          }}
        >
          <label>
            Command{' '}
            <select
              name="command"
              value={selected}
              onChange={(e) => {
                setSelected(e.currentTarget.value);
                setValues({});
                setFieldErrors({});
                setProblem(null);
              }}
            >
              <option value="">choose…</option>
              {definitions.map((d) => (
                <option key={d.name} value={d.name}>
                  {d.name}
                </option>
              ))}
            </select>
          </label>
          {definition?.description && <p class="muted">{definition.description}</p>}
          {fields.map((field) => (
            <div class="field" key={field.name}>
              <label>
                {field.name}
                {field.required && ' *'}{' '}
                {field.kind === 'boolean' || field.kind === 'enum' ? (
                  <select name={field.name} value={values[field.name] ?? ''} onChange={(e) => setValues({ ...values, [field.name]: e.currentTarget.value })}>
                    <option value="">—</option>
                    {(field.kind === 'boolean' ? [true, false] : (field.options ?? [])).map((option) => (
                      <option key={String(option)} value={String(option)}>
                        {String(option)}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    name={field.name}
                    inputMode={field.kind === 'number' || field.kind === 'integer' ? 'decimal' : undefined}
                    value={values[field.name] ?? ''}
                    onInput={(e) => setValues({ ...values, [field.name]: e.currentTarget.value })}
                  />
                )}
              </label>
              {field.hint && <span class="muted"> {field.hint}</span>}
              {fieldErrors[field.name] && (
                <div class="error field-error" role="alert" data-field-error={field.name}>
                  {fieldErrors[field.name]}
                </div>
              )}
            </div>
          ))}
          {definition && <button type="submit">Send {definition.name}</button>}
        </form>
      )}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
      <table class="history" data-testid="command-history">
        <thead>
          <tr>
            <th>Sent</th>
            <th>Command</th>
            <th>Params</th>
            <th>Status</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {history.map((c) => (
            <tr key={c.commandId} data-command={c.commandId}>
              <td>{new Date(c.createdAt).toLocaleTimeString()}</td>
              <td>{c.name}</td>
              <td>
                <code>{JSON.stringify(c.params)}</code>
              </td>
              <td>
                <span class={`status ${c.status.toLowerCase()}`} data-testid="command-status">
                  {c.status}
                </span>
              </td>
              <td>
                <code>{c.error != null ? JSON.stringify(c.error) : c.result != null ? JSON.stringify(c.result) : ''}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
