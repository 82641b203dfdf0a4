/**
 * `#/admin/tokens`: the tenant's API tokens. A new token's secret is shown once, from createApiToken's answer, and kept
 * only in this component's state (never in storage): Doppel itself keeps only its SHA-256.
 */
import { useEffect, useState } from 'preact/hooks';
import { checkNewToken, isForbidden, tokenState } from './admin-tokens.ts';
import type { Api } from './api.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import type { ConsoleApiTokensQuery, Role } from './gql/graphql.ts';

const roles: readonly Role[] = ['VIEWER', 'OPERATOR', 'ADMIN'];

const ApiTokens = graphql(`
  query ConsoleApiTokens {
    apiTokens(includeRevoked: true) {
      id
      name
      role
      createdAt
      expiresAt
      lastUsedAt
      revokedAt
    }
  }
`);

const CreateToken = graphql(`
  mutation ConsoleCreateApiToken($input: CreateApiTokenInput!) {
    createApiToken(input: $input) {
      __typename
      ... on CreatedApiToken {
        token
        apiToken {
          id
        }
      }
      ... on ValidationError {
        message
      }
    }
  }
`);

const RevokeToken = graphql(`
  mutation ConsoleRevokeApiToken($id: ID!) {
    revokeApiToken(id: $id) {
      __typename
      ... on NotFound {
        message
      }
    }
  }
`);

type Token = ConsoleApiTokensQuery['apiTokens'][number];

export function AdminTokensPage({ api }: { api: Api }) {
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('VIEWER');
  const [expiresAt, setExpiresAt] = useState('');
  const [formError, setFormError] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);

  async function reload() {
    try {
      setTokens((await api.request(ApiTokens, {})).apiTokens);
      setFailure(null);
    } catch (error) {
      setFailure(isForbidden(error) ? 'API tokens need the admin role: this token may not manage them.' : describeFailure(error));
    }
  }
  useEffect(() => void reload(), [api]);

  async function create(event: Event) {
    event.preventDefault();
    const checked = checkNewToken(name, expiresAt, new Date());
    if (!checked.ok) return setFormError(checked.message);
    try {
      const input = { name: checked.name, role, ...(checked.expiresAt ? { expiresAt: checked.expiresAt } : {}) };
      const result = (await api.request(CreateToken, { input })).createApiToken;
      if (result.__typename !== 'CreatedApiToken') return setFormError(result.message);
      setFormError(null);
      setName('');
      setSecret(result.token);
      await reload();
    } catch (error) {
      setFormError(describeFailure(error));
    }
  }

  async function revoke(token: Token) {
    if (!confirm(`Revoke the token "${token.name}"? Clients using it stop working at once.`)) return;
    try {
      const result = (await api.request(RevokeToken, { id: token.id })).revokeApiToken;
      if (result.__typename === 'NotFound') setFailure(result.message);
      await reload();
    } catch (error) {
      setFailure(describeFailure(error));
    }
  }

  if (failure && !tokens)
    return (
      <p class="error" data-testid="admin-failure">
        {failure}
      </p>
    );
  const now = new Date();
  return (
    <section class="admin">
      <h1>API tokens</h1>
      {failure && <p class="error">{failure}</p>}
      {secret && (
        <div class="secret" data-testid="new-token">
          <p class="warning">Copy this token now: it is shown only once and cannot be retrieved later.</p>
          <code data-testid="new-token-secret">{secret}</code>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(secret)}>
            Copy
          </button>
          <button type="button" class="secondary" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      <form onSubmit={(event) => void create(event)} data-testid="create-token">
        <label>
          Name <input value={name} onInput={(event) => setName(event.currentTarget.value)} name="name" />
        </label>
        <label>
          Role{' '}
          <select value={role} onChange={(event) => setRole(event.currentTarget.value as Role)} name="role">
            {roles.map((value) => (
              <option value={value}>{value}</option>
            ))}
          </select>
        </label>
        <label>
          Expires <input type="datetime-local" value={expiresAt} onInput={(event) => setExpiresAt(event.currentTarget.value)} />
        </label>
        <button type="submit">Create token</button>
        {formError && <p class="field-error">{formError}</p>}
      </form>
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Role</th>
            <th>Created</th>
            <th>Last used</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(tokens ?? []).map((token) => {
            const state = tokenState(token, now);
            return (
              <tr key={token.id} data-testid="token-row">
                <td>{token.name}</td>
                <td>{token.role}</td>
                <td>{new Date(token.createdAt).toLocaleString()}</td>
                <td>{token.lastUsedAt ? new Date(token.lastUsedAt).toLocaleString() : 'never'}</td>
                <td>{state}</td>
                <td>
                  {state !== 'revoked' && (
                    <button type="button" class="secondary" onClick={() => void revoke(token)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
