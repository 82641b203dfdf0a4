/**
 * `#/admin/audit`: the tenant's audit log, newest first, a page of AUDIT_PAGE_SIZE at a time ("Older events"
 * follows the connection's endCursor). Filters are the ones the API offers: action and target. Admins only:
 * the API's FORBIDDEN is said in words.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { AUDIT_PAGE_SIZE, KNOWN_AUDIT_ACTIONS, appendOlder, auditFilterVariables, describeActor, describeDetails, timeAgo } from './admin-audit.ts';
import { isForbidden } from './admin-tokens.ts';
import type { Api } from './api.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import type { ConsoleAuditLogQuery } from './gql/graphql.ts';

// The page size is a literal, not a variable, so the query's cost (≈ 900 of the 10,000 limit) is fixed
// and a test checks it (test/console/admin-pages-logic.test.ts).
const AuditLog = graphql(`
  query ConsoleAuditLog($after: String, $action: String, $target: String) {
    auditLog(first: 100, after: $after, action: $action, target: $target) {
      edges {
        node {
          id
          createdAt
          actor
          actorName
          action
          target
          details
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

type AuditEvent = ConsoleAuditLogQuery['auditLog']['edges'][number]['node'];

export const auditForbiddenMessage = 'The audit log needs the admin role: this token may not read it.';

export function AdminAuditPage({ api }: { api: Api }) {
  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [olderCursor, setOlderCursor] = useState<string | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [form, setForm] = useState({ action: '', target: '' });
  const [applied, setApplied] = useState({ action: '', target: '' });

  // Only the latest request may change the list: an answer for a filter the user has since changed
  // (or an older page asked for before it) would otherwise overwrite the newer one.
  const latestRequest = useRef(0);

  async function load(after: string | null, filter: typeof applied) {
    const request = ++latestRequest.current;
    setLoading(true);
    try {
      const page = (await api.request(AuditLog, { ...auditFilterVariables(filter), ...(after ? { after } : {}) })).auditLog;
      if (request !== latestRequest.current) return;
      const nodes = page.edges.map((edge) => edge.node);
      setEvents((shown) => (after && shown ? appendOlder(shown, nodes) : nodes));
      setOlderCursor(page.pageInfo.hasNextPage ? (page.pageInfo.endCursor ?? null) : null);
      setFailure(null);
    } catch (error) {
      if (request !== latestRequest.current) return;
      if (!after) setEvents(null);
      setFailure(isForbidden(error) ? auditForbiddenMessage : describeFailure(error));
    } finally {
      if (request === latestRequest.current) setLoading(false);
    }
  }
  useEffect(() => void load(null, applied), [api, applied]);

  function filterBy(next: { action: string; target: string }) {
    setForm(next);
    setApplied(next);
  }

  const now = new Date();
  return (
    <section class="admin audit">
      <h1>Audit log</h1>
      <p class="muted">
        Every security-relevant change made through the API or the CLI, newest first, {AUDIT_PAGE_SIZE} at a time. The API filters by action and target (not by
        actor or time).
      </p>
      <form
        class="filters"
        data-testid="audit-filters"
        onSubmit={(event) => {
          event.preventDefault();
          setApplied({ ...form });
        }}
      >
        <label>
          Action{' '}
          <input
            name="action"
            list="audit-actions"
            placeholder="any"
            value={form.action}
            onInput={(event) => setForm({ ...form, action: event.currentTarget.value })}
          />
        </label>
        <datalist id="audit-actions">
          {KNOWN_AUDIT_ACTIONS.map((action) => (
            <option value={action} />
          ))}
        </datalist>
        <label class="wide">
          Target{' '}
          <input
            name="target"
            placeholder="e.g. device:thermostat-1"
            value={form.target}
            onInput={(event) => setForm({ ...form, target: event.currentTarget.value })}
          />
        </label>
        <button type="submit">Filter</button>
        {(applied.action || applied.target) && (
          <button type="button" class="secondary" onClick={() => filterBy({ action: '', target: '' })}>
            Show all
          </button>
        )}
      </form>
      {failure && (
        <p class="error" data-testid="admin-failure">
          {failure}
        </p>
      )}
      {events && events.length === 0 && <p class="muted">No events{applied.action || applied.target ? ' match this filter' : ''}.</p>}
      {events && events.length > 0 && (
        <table class="history audit-log">
          <thead>
            <tr>
              <th>When</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Target</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={event.id} data-testid="audit-row">
                <td title={event.createdAt}>
                  {new Date(event.createdAt).toLocaleString()}
                  <div class="muted">{timeAgo(event.createdAt, now)}</div>
                </td>
                <td title={event.actor}>{describeActor(event.actor, event.actorName)}</td>
                <td data-testid="audit-action">
                  <button type="button" class="link-button" title="Only this action" onClick={() => filterBy({ ...applied, action: event.action })}>
                    {event.action}
                  </button>
                </td>
                <td>
                  <button type="button" class="link-button" title="Only this target" onClick={() => filterBy({ ...applied, target: event.target })}>
                    {event.target}
                  </button>
                </td>
                <td title={JSON.stringify(event.details)} data-testid="audit-details">
                  {describeDetails(event.details).map((line) => (
                    <div>
                      <span class="muted">{line.key}:</span> {line.value}
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {olderCursor && (
        <button type="button" disabled={loading} onClick={() => void load(olderCursor, applied)}>
          Older events
        </button>
      )}
    </section>
  );
}
