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
import { FleetPage } from './fleet-page.tsx';
import { forgetToken, loadToken, saveToken } from './session.ts';
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
  return (
    <>
      <header class="top">
        <a href="#/" class="brand">
          Doppel
        </a>
        <nav>
          <a href="#/">Fleet</a>
          <a href="#/alarms">Alarms</a>
          <a href="#/rules">Rules</a>
          <a href="#/admin/tokens">Tokens</a>
          <a href="#/admin/provisioning">Provisioning</a>
          <a href="#/admin/audit">Audit</a>
        </nav>
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
        {route.page === 'device' ? (
          <DevicePage key={route.deviceId} api={api} deviceId={route.deviceId} />
        ) : route.page === 'admin-tokens' ? (
          <AdminTokensPage api={api} />
        ) : route.page === 'admin-audit' ? (
          <AdminAuditPage api={api} />
        ) : route.page === 'admin-provisioning' ? (
          <AdminProvisioningPage api={api} />
        ) : route.page === 'alarms' ? (
          <AlarmsPage api={api} />
        ) : route.page === 'rules' ? (
          <RulesPage api={api} />
        ) : route.page === 'rule' ? (
          <RuleEditorPage key={route.ruleId ?? 'new'} api={api} ruleId={route.ruleId} />
        ) : (
          <FleetPage api={api} openDevice={(id) => (location.hash = `#/devices/${encodeURIComponent(id)}`)} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
