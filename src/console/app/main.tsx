/**
 * The Doppel console: a client of the public GraphQL API and nothing else, served by the server at `/`
 * (src/console/http.ts). Pages by URL hash, so a reload or a shared link opens the same view.
 */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { AdminAuditPage } from './admin-audit-page.tsx';
import { AdminProvisioningPage } from './admin-provisioning-page.tsx';
import { AdminTokensPage } from './admin-tokens-page.tsx';
import { AlarmsPage } from './alarms-page.tsx';
import { createApi, type LinkState } from './api.ts';
import { DevicePage } from './device-page.tsx';
import { graphql } from './gql/index.ts';
import { FleetPage } from './fleet-page.tsx';
import { forgetToken, loadToken, saveToken } from './session.ts';
import { may, NEEDS, needsRoleMessage, type Ability, type Role } from './roles.ts';
import { RuleEditorPage, RulesPage } from './rules-page.tsx';
import { TokenPage } from './token-page.tsx';
import './styles.css';

type Route =
  | { page: 'fleet' }
  | { page: 'alarms' }
  | { page: 'admin-tokens' }
  | { page: 'admin-audit' }
  | { page: 'admin-provisioning' }
  | { page: 'device'; deviceId: string }
  | { page: 'rules' }
  | { page: 'rule'; ruleId: string | null };

const Me = graphql(`
  query ConsoleMe {
    me {
      role
      tenantId
    }
  }
`);

/**
 * The navigation, and what each page needs beyond reading: a link the token's role may not use is
 * not shown, and its page (reached by URL) says which role it needs. The API refuses regardless.
 */
const NAV: ReadonlyArray<{ href: string; label: string; page: Route['page']; needs?: Ability }> = [
  { href: '#/', label: 'Fleet', page: 'fleet' },
  { href: '#/alarms', label: 'Alarms', page: 'alarms' },
  { href: '#/rules', label: 'Rules', page: 'rules' },
  { href: '#/admin/tokens', label: 'Tokens', page: 'admin-tokens', needs: 'manageTokens' },
  { href: '#/admin/provisioning', label: 'Provisioning', page: 'admin-provisioning', needs: 'manageProvisioning' },
  { href: '#/admin/audit', label: 'Audit', page: 'admin-audit', needs: 'readAudit' },
];

export function routeOf(hash: string): Route {
  const device = /^#\/devices\/(.+)$/.exec(hash);
  if (device) return { page: 'device', deviceId: decodeURIComponent(device[1]!) };
  if (hash === '#/alarms') return { page: 'alarms' };
  if (hash === '#/admin/tokens') return { page: 'admin-tokens' };
  if (hash === '#/admin/audit') return { page: 'admin-audit' };
  if (hash === '#/admin/provisioning') return { page: 'admin-provisioning' };
  if (hash === '#/rules') return { page: 'rules' };
  if (hash === '#/rules/new') return { page: 'rule', ruleId: null };
  const rule = /^#\/rules\/(.+)$/.exec(hash);
  if (rule) return { page: 'rule', ruleId: decodeURIComponent(rule[1]!) };
  return { page: 'fleet' };
}

function App() {
  const [token, setToken] = useState<string | null>(loadToken());
  const [notice, setNotice] = useState<string | null>(null);
  const [route, setRoute] = useState<Route>(routeOf(location.hash));
  const [link, setLink] = useState<LinkState>('connecting');
  const [me, setMe] = useState<{ role: Role; tenantId: string } | null>(null);

  useEffect(() => {
    const onHash = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const api = useMemo(
    () =>
      token
        ? createApi({
            token,
            onUnauthenticated: (message) => {
              forgetToken();
              setNotice(message);
              setToken(null);
            },
            onLinkState: setLink,
          })
        : null,
    [token],
  );
  useEffect(() => () => api?.dispose(), [api]);
  useEffect(() => {
    setMe(null);
    if (!api) return;
    let cancelled = false;
    // A failure leaves the role unknown: the console then offers reading only (UNAUTHENTICATED signs out in api.ts).
    api
      .request(Me, {})
      .then((data) => !cancelled && setMe(data.me))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [api]);

  if (!api)
    return (
      <TokenPage
        notice={notice}
        onToken={(value) => {
          saveToken(value);
          setNotice(null);
          setToken(value);
        }}
      />
    );
  const role = me?.role ?? null;
  const pageNeeds = NAV.find((item) => item.page === route.page)?.needs;
  return (
    <>
      <header class="top">
        <a href="#/" class="brand">
          Doppel
        </a>
        <nav>
          {NAV.filter((item) => !item.needs || may(role, item.needs)).map((item) => (
            <a key={item.href} href={item.href}>
              {item.label}
            </a>
          ))}
        </nav>
        {me && (
          <span class="muted" data-testid="token-role" title={`Tenant ${me.tenantId}`}>
            {me.role.toLowerCase()}
          </span>
        )}
        <span class={`link ${link}`} data-testid="link-state" title={link === 'idle' ? 'This page needs no live updates' : 'Live updates'}>
          {link === 'live' ? 'live' : link === 'connecting' ? 'connecting…' : link === 'idle' ? 'idle' : 'reconnecting…'}
        </span>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            forgetToken();
            setToken(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {pageNeeds && !may(role, pageNeeds) ? (
          <section class="needs-role">
            <p class={me ? 'error' : 'muted'} role={me ? 'alert' : undefined} data-testid="needs-role">
              {me ? needsRoleMessage(NEEDS[pageNeeds]) : 'Checking what this token may do…'}
            </p>
          </section>
        ) : route.page === 'device' ? (
          <DevicePage key={route.deviceId} api={api} deviceId={route.deviceId} role={role} />
        ) : route.page === 'admin-tokens' ? (
          <AdminTokensPage api={api} />
        ) : route.page === 'admin-audit' ? (
          <AdminAuditPage api={api} />
        ) : route.page === 'admin-provisioning' ? (
          <AdminProvisioningPage api={api} />
        ) : route.page === 'alarms' ? (
          <AlarmsPage api={api} role={role} />
        ) : route.page === 'rules' ? (
          <RulesPage api={api} role={role} />
        ) : route.page === 'rule' ? (
          <RuleEditorPage key={route.ruleId ?? 'new'} api={api} ruleId={route.ruleId} role={role} />
        ) : (
          <FleetPage api={api} openDevice={(id) => (location.hash = `#/devices/${encodeURIComponent(id)}`)} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
