/**
 * `#/admin/provisioning`: the tenant's provisioning policies (docs/onboarding.md). A new policy's claim token
 * or group key is shown once, from createProvisioningPolicy's answer, and kept only in this component's
 * state (never in storage): Doppel keeps only its hash (claim token) or sealed copy (group key).
 * Enable / disable through updateProvisioningPolicy, delete through deleteProvisioningPolicy (the devices
 * it created stay). The latest attempts, accepted or refused, are listed below with their reason.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  ATTEMPTS_PAGE_SIZE,
  emptyPolicyForm,
  policyInputOf,
  policyProblemsOf,
  policyState,
  policyUsage,
  secretOf,
  type PolicyField,
  type PolicyForm,
  type PolicyProblems,
  type ShownSecret,
} from './admin-provisioning.ts';
import { isForbidden } from './admin-tokens.ts';
import type { Api } from './api.ts';
import { describeFailure } from './errors.ts';
import { graphql } from './gql/index.ts';
import type { ConsoleProvisioningQuery, ProvisioningMode, ReprovisionPolicy } from './gql/graphql.ts';

const modes: ReadonlyArray<{ value: ProvisioningMode; label: string }> = [
  { value: 'CLAIM_TOKEN', label: 'Claim token (any device id)' },
  { value: 'ALLOW_LIST', label: 'Allow-list (listed ids, once each)' },
  { value: 'GROUP_KEY', label: 'Group key (derived per-device keys)' },
];

// Policies are one list (the API does not page it; the cost model counts it as 10); attempts are the
// newest ATTEMPTS_PAGE_SIZE. Together ≈ 700 of the 10,000 cost limit (test/console/admin-pages-logic.test.ts).
const Provisioning = graphql(`
  query ConsoleProvisioning {
    provisioningPolicies {
      id
      name
      mode
      enabled
      reprovision
      model
      tags
      maxDevices
      devicesProvisioned
      allowedIds
      claimedIds
      expiresAt
      createdAt
    }
    provisioningAttempts(first: 50) {
      edges {
        node {
          id
          at
          policyId
          deviceId
          requestId
          reason
          accepted
          message
        }
      }
    }
  }
`);

const CreatePolicy = graphql(`
  mutation ConsoleCreateProvisioningPolicy($input: CreateProvisioningPolicyInput!) {
    createProvisioningPolicy(input: $input) {
      __typename
      ... on CreateProvisioningPolicyPayload {
        claimToken
        groupKey
        policy {
          id
          mode
        }
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

const SetPolicyEnabled = graphql(`
  mutation ConsoleSetProvisioningPolicyEnabled($id: ID!, $enabled: Boolean!) {
    updateProvisioningPolicy(id: $id, input: { enabled: $enabled }) {
      __typename
      ... on ProvisioningPolicy {
        id
        enabled
      }
      ... on NotFound {
        message
      }
      ... on ValidationError {
        message
      }
      ... on AlreadyExists {
        message
      }
    }
  }
`);

const DeletePolicy = graphql(`
  mutation ConsoleDeleteProvisioningPolicy($id: ID!) {
    deleteProvisioningPolicy(id: $id) {
      __typename
      ... on NotFound {
        message
      }
    }
  }
`);

type Policy = ConsoleProvisioningQuery['provisioningPolicies'][number];
type Attempt = ConsoleProvisioningQuery['provisioningAttempts']['edges'][number]['node'];

export const provisioningForbiddenMessage = 'Provisioning policies need the admin role: this token may not manage them.';

function FieldProblems({ problems, field }: { problems: PolicyProblems; field: PolicyField | '' }) {
  const messages = problems[field];
  if (!messages) return null;
  return (
    <p class="field-error error" data-field-error={field || 'form'}>
      {messages.join('; ')}
    </p>
  );
}

export function AdminProvisioningPage({ api }: { api: Api }) {
  const [policies, setPolicies] = useState<Policy[] | null>(null);
  const [attempts, setAttempts] = useState<Attempt[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [form, setForm] = useState<PolicyForm>(emptyPolicyForm);
  const [problems, setProblems] = useState<PolicyProblems>({});
  const [secret, setSecret] = useState<(ShownSecret & { policyName: string }) | null>(null);

  async function reload() {
    try {
      const data = await api.request(Provisioning, {});
      setPolicies(data.provisioningPolicies);
      setAttempts(data.provisioningAttempts.edges.map((edge) => edge.node));
      setFailure(null);
    } catch (error) {
      setFailure(isForbidden(error) ? provisioningForbiddenMessage : describeFailure(error));
    }
  }
  useEffect(() => void reload(), [api]);

  const set = (field: keyof PolicyForm) => (event: { currentTarget: { value: string } }) => setForm({ ...form, [field]: event.currentTarget.value });

  async function create(event: Event) {
    event.preventDefault();
    const checked = policyInputOf(form, new Date());
    if (!checked.ok) return setProblems(checked.problems);
    try {
      const result = (await api.request(CreatePolicy, { input: checked.input })).createProvisioningPolicy;
      if (result.__typename === 'ValidationError') return setProblems({ ...policyProblemsOf(result.fieldErrors), '': [result.message] });
      if (result.__typename === 'AlreadyExists') return setProblems({ name: [result.message] });
      setProblems({});
      const shown = secretOf(result.policy.mode, result);
      setSecret(shown ? { ...shown, policyName: checked.input.name } : null);
      setForm(emptyPolicyForm);
      await reload();
    } catch (error) {
      setProblems({ '': [isForbidden(error) ? provisioningForbiddenMessage : describeFailure(error)] });
    }
  }

  async function setEnabled(policy: Policy, enabled: boolean) {
    try {
      const result = (await api.request(SetPolicyEnabled, { id: policy.id, enabled })).updateProvisioningPolicy;
      if (result.__typename !== 'ProvisioningPolicy') setFailure(result.message);
      await reload();
    } catch (error) {
      setFailure(isForbidden(error) ? provisioningForbiddenMessage : describeFailure(error));
    }
  }

  async function remove(policy: Policy) {
    if (!confirm(`Delete the policy "${policy.name}"? Devices can no longer provision with it; the devices it created stay.`)) return;
    try {
      const result = (await api.request(DeletePolicy, { id: policy.id })).deleteProvisioningPolicy;
      if (result.__typename === 'NotFound') setFailure(result.message);
      await reload();
    } catch (error) {
      setFailure(isForbidden(error) ? provisioningForbiddenMessage : describeFailure(error));
    }
  }

  if (failure && !policies)
    return (
      <p class="error" data-testid="admin-failure">
        {failure}
      </p>
    );
  const now = new Date();
  const policyName = new Map((policies ?? []).map((policy) => [policy.id, policy.name]));
  return (
    <section class="admin provisioning">
      <h1>Provisioning policies</h1>
      {failure && <p class="error">{failure}</p>}
      {secret && (
        <div class="secret" data-testid="new-policy-secret">
          <p class="warning">
            {secret.label} of "{secret.policyName}": copy it now. It is shown only once and cannot be retrieved later.
          </p>
          <code data-testid="new-policy-secret-value">{secret.value}</code>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(secret.value)}>
            Copy
          </button>
          <button type="button" class="secondary" onClick={() => setSecret(null)}>
            Done
          </button>
          <p class="muted">{secret.howToUse}</p>
        </div>
      )}
      <form onSubmit={(event) => void create(event)} data-testid="create-policy" class="policy-form">
        <FieldProblems problems={problems} field="" />
        <label>
          Name <input name="name" value={form.name} onInput={set('name')} />
        </label>
        <FieldProblems problems={problems} field="name" />
        <label>
          Mode{' '}
          <select name="mode" value={form.mode} onChange={set('mode')}>
            {modes.map((mode) => (
              <option value={mode.value}>{mode.label}</option>
            ))}
          </select>
        </label>
        {form.mode === 'ALLOW_LIST' && (
          <>
            <label>
              Allowed device ids (one per line) <textarea name="allowedDeviceIds" rows={3} value={form.allowedDeviceIds} onInput={set('allowedDeviceIds')} />
            </label>
            <FieldProblems problems={problems} field="allowedDeviceIds" />
          </>
        )}
        <label>
          Model <input name="model" placeholder="optional" value={form.model} onInput={set('model')} />
        </label>
        <FieldProblems problems={problems} field="model" />
        <label>
          Tags <input name="tags" placeholder="comma-separated, e.g. site:lab, batch-7" value={form.tags} onInput={set('tags')} />
        </label>
        <FieldProblems problems={problems} field="tags" />
        <label>
          Max devices <input name="maxDevices" inputMode="numeric" placeholder="no limit" value={form.maxDevices} onInput={set('maxDevices')} />
        </label>
        <FieldProblems problems={problems} field="maxDevices" />
        <label>
          Expires <input name="expiresAt" type="datetime-local" value={form.expiresAt} onInput={set('expiresAt')} />
        </label>
        <FieldProblems problems={problems} field="expiresAt" />
        <label>
          A device asks again{' '}
          <select
            name="reprovision"
            value={form.reprovision}
            onChange={(event) => setForm({ ...form, reprovision: event.currentTarget.value as ReprovisionPolicy })}
          >
            <option value="REFUSE">Refuse (ALREADY_PROVISIONED)</option>
            <option value="ROTATE">Rotate its credentials</option>
          </select>
        </label>
        <button type="submit">Create policy</button>
      </form>
      <table class="history">
        <thead>
          <tr>
            <th>Name</th>
            <th>Mode</th>
            <th>Gives devices</th>
            <th>Used</th>
            <th>Expires</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(policies ?? []).map((policy) => {
            const state = policyState(policy, now);
            return (
              <tr key={policy.id} data-testid="policy-row">
                <td>{policy.name}</td>
                <td>{policy.mode}</td>
                <td>
                  {policy.model ? `model ${policy.model}` : 'no model'}
                  {policy.tags.length > 0 && <div class="muted">{policy.tags.join(', ')}</div>}
                </td>
                <td data-testid="policy-usage">{policyUsage(policy)}</td>
                <td>{policy.expiresAt ? new Date(policy.expiresAt).toLocaleString() : 'never'}</td>
                <td data-testid="policy-state">{state}</td>
                <td>
                  <button type="button" class="secondary" onClick={() => void setEnabled(policy, !policy.enabled)}>
                    {policy.enabled ? 'Disable' : 'Enable'}
                  </button>{' '}
                  <button type="button" class="secondary" onClick={() => void remove(policy)}>
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {policies && policies.length === 0 && <p class="muted">No policies yet.</p>}
      <h2>Latest attempts</h2>
      <p class="muted">
        The newest {ATTEMPTS_PAGE_SIZE}, accepted or refused, with the reason stored (attempts with an unknown token belong to no tenant and are not listed).
      </p>
      <table class="history">
        <thead>
          <tr>
            <th>When</th>
            <th>Policy</th>
            <th>Device</th>
            <th>Result</th>
          </tr>
        </thead>
        <tbody>
          {attempts.map((attempt) => (
            <tr key={attempt.id} data-testid="attempt-row">
              <td>{new Date(attempt.at).toLocaleString()}</td>
              <td>{attempt.policyId ? (policyName.get(attempt.policyId) ?? 'deleted policy') : ''}</td>
              <td>{attempt.deviceId ?? attempt.requestId ?? ''}</td>
              <td class={attempt.accepted ? '' : 'error'} title={attempt.message ?? ''}>
                {attempt.reason}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
