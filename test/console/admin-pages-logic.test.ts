/**
 * The audit log and provisioning admin pages' pure rules (src/console/app/admin-audit.ts,
 * src/console/app/admin-provisioning.ts), and the cost of every console query against the API's
 * query cost limit: a list query over the limit shows only the refusal, so each is checked here with
 * the server's own cost model (src/security/query-cost.ts) over schema.graphql.
 */
import { readFileSync } from 'node:fs';
import { buildSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { AUDIT_PAGE_SIZE, appendOlder, auditFilterVariables, describeActor, describeDetails, timeAgo } from '../../src/console/app/admin-audit.ts';
import {
  ATTEMPTS_PAGE_SIZE,
  emptyPolicyForm,
  policyInputOf,
  policyProblemsOf,
  policyState,
  policyUsage,
  secretOf,
  type PolicyRow,
} from '../../src/console/app/admin-provisioning.ts';
import * as documents from '../../src/console/app/gql/graphql.ts';
import { operationCost } from '../../src/security/query-cost.ts';

const now = new Date('2026-12-03T12:00:00Z');

describe('audit log page logic', () => {
  it('sends only the filters that are filled, trimmed', () => {
    expect(auditFilterVariables({ action: '', target: '  ' })).toEqual({});
    expect(auditFilterVariables({ action: ' provisioning.createPolicy ', target: 'device:t-1' })).toEqual({
      action: 'provisioning.createPolicy',
      target: 'device:t-1',
    });
  });

  it('names the actor by its name at the time, else by its id', () => {
    expect(describeActor('token:2f1c', 'ci')).toBe('ci (token)');
    expect(describeActor('system', 'rules engine')).toBe('rules engine');
    expect(describeActor('device:thermo-1', null)).toBe('device thermo-1');
    expect(describeActor('provisioningPolicy:9a', null)).toBe('provisioningPolicy:9a');
    expect(describeActor('system', null)).toBe('system');
  });

  it('reads details as dotted key: value lines, long values cut', () => {
    expect(describeDetails({})).toEqual([]);
    expect(describeDetails(null)).toEqual([]);
    expect(describeDetails({ role: 'VIEWER', patch: { fan: { speed: 3 }, on: true }, tags: ['a', 'b'], empty: {} })).toEqual([
      { key: 'role', value: 'VIEWER' },
      { key: 'patch.fan.speed', value: '3' },
      { key: 'patch.on', value: 'true' },
      { key: 'tags', value: '["a","b"]' },
      { key: 'empty', value: '{}' },
    ]);
    const [long] = describeDetails({ note: 'x'.repeat(500) });
    expect(long!.value).toHaveLength(120);
    expect(long!.value.endsWith('…')).toBe(true);
    expect(describeDetails('odd')).toEqual([{ key: 'value', value: 'odd' }]);
    expect(describeDetails([1, 2])).toEqual([{ key: 'value', value: '[1,2]' }]);
  });

  it('says how long ago in the largest whole unit', () => {
    expect(timeAgo('2026-12-03T11:59:30Z', now)).toBe('just now');
    expect(timeAgo('2026-12-03T12:00:30Z', now)).toBe('just now');
    expect(timeAgo('2026-12-03T11:55:00Z', now)).toBe('5 min ago');
    expect(timeAgo('2026-12-03T09:00:00Z', now)).toBe('3 h ago');
    expect(timeAgo('2026-11-30T12:00:00Z', now)).toBe('3 days ago');
    expect(timeAgo('not a date', now)).toBe('');
  });

  it('appends an older page without repeating events already shown', () => {
    expect(appendOlder([{ id: '3' }, { id: '2' }], [{ id: '2' }, { id: '1' }])).toEqual([{ id: '3' }, { id: '2' }, { id: '1' }]);
  });
});

describe('provisioning page logic', () => {
  it('builds the input from the form: trimmed name, tags split on commas, number and date converted', () => {
    const checked = policyInputOf(
      { ...emptyPolicyForm, name: ' line 7 ', model: 'thermo', tags: 'site:lab, batch-7,', maxDevices: '10', expiresAt: '2027-01-01T00:00:00Z' },
      now,
    );
    expect(checked).toEqual({
      ok: true,
      input: {
        name: 'line 7',
        mode: 'CLAIM_TOKEN',
        reprovision: 'REFUSE',
        model: 'thermo',
        tags: ['site:lab', 'batch-7'],
        maxDevices: 10,
        expiresAt: '2027-01-01T00:00:00.000Z',
      },
    });
  });

  it('sends allowed ids only for an allow-list, split on lines, commas and spaces', () => {
    const ids = 'sn-1\nsn-2, sn-3  sn-4';
    expect(policyInputOf({ ...emptyPolicyForm, name: 'a', mode: 'ALLOW_LIST', allowedDeviceIds: ids }, now)).toMatchObject({
      ok: true,
      input: { allowedDeviceIds: ['sn-1', 'sn-2', 'sn-3', 'sn-4'] },
    });
    const claim = policyInputOf({ ...emptyPolicyForm, name: 'a', allowedDeviceIds: ids }, now);
    expect(claim.ok && 'allowedDeviceIds' in claim.input).toBe(false);
  });

  it('refuses before sending what the form can see: no name, a bad count, a past or invalid expiry, an empty allow-list', () => {
    expect(policyInputOf({ ...emptyPolicyForm, name: '  ', mode: 'ALLOW_LIST', maxDevices: '0', expiresAt: '2026-01-01T00:00' }, now)).toEqual({
      ok: false,
      problems: {
        name: ['A name is required.'],
        maxDevices: ['A whole number of at least 1, or empty for no limit.'],
        expiresAt: ['The expiry must be in the future.'],
        allowedDeviceIds: ['An allow-list policy needs at least one device id.'],
      },
    });
    expect(policyInputOf({ ...emptyPolicyForm, name: 'a', maxDevices: '2.5' }, now)).toMatchObject({
      ok: false,
      problems: { maxDevices: [expect.any(String)] },
    });
    expect(policyInputOf({ ...emptyPolicyForm, name: 'a', expiresAt: 'soon' }, now)).toMatchObject({
      ok: false,
      problems: { expiresAt: ['The expiry is not a valid date.'] },
    });
  });

  it('places server field errors under the field their path names, unknown paths above the form', () => {
    expect(
      policyProblemsOf([
        { path: ['input', 'name'], message: 'bad name' },
        { path: ['input', 'tags', '1'], message: 'bad tag' },
        { path: ['input', 'tags', '2'], message: 'bad tag 2' },
        { path: ['input', 'somethingNew'], message: 'other' },
        { path: [], message: 'whole' },
      ]),
    ).toEqual({ name: ['bad name'], tags: ['bad tag', 'bad tag 2'], '': ['other', 'whole'] });
  });

  it('states a policy as disabled, expired, used up or active, in that order', () => {
    const base: PolicyRow = { enabled: true, mode: 'CLAIM_TOKEN', devicesProvisioned: 0, allowedIds: 0, claimedIds: 0 };
    expect(policyState(base, now)).toBe('active');
    expect(policyState({ ...base, enabled: false, expiresAt: '2026-01-01T00:00:00Z' }, now)).toBe('disabled');
    expect(policyState({ ...base, expiresAt: '2026-01-01T00:00:00Z', maxDevices: 1, devicesProvisioned: 1 }, now)).toBe('expired');
    expect(policyState({ ...base, expiresAt: '2027-01-01T00:00:00Z' }, now)).toBe('active');
    expect(policyState({ ...base, maxDevices: 2, devicesProvisioned: 2 }, now)).toBe('used up');
    expect(policyState({ ...base, mode: 'ALLOW_LIST', allowedIds: 3, claimedIds: 3 }, now)).toBe('used up');
    expect(policyState({ ...base, mode: 'ALLOW_LIST', allowedIds: 3, claimedIds: 2 }, now)).toBe('active');
  });

  it('says what a policy has done', () => {
    const base: PolicyRow = { enabled: true, mode: 'CLAIM_TOKEN', devicesProvisioned: 1, allowedIds: 0, claimedIds: 0 };
    expect(policyUsage(base)).toBe('1 device');
    expect(policyUsage({ ...base, devicesProvisioned: 3, maxDevices: 10 })).toBe('3 of 10 devices');
    expect(policyUsage({ ...base, mode: 'ALLOW_LIST', devicesProvisioned: 2, allowedIds: 5, claimedIds: 2 })).toBe('2 devices; 2 of 5 ids claimed');
  });

  it('shows the claim token for claim-token and allow-list policies, the group key for group-key ones', () => {
    expect(secretOf('CLAIM_TOKEN', { claimToken: 'dpc_x', groupKey: null })).toMatchObject({ label: 'Claim token', value: 'dpc_x' });
    expect(secretOf('ALLOW_LIST', { claimToken: 'dpc_y' })).toMatchObject({ label: 'Claim token', value: 'dpc_y' });
    expect(secretOf('GROUP_KEY', { claimToken: null, groupKey: 'dpg_z' })).toMatchObject({ label: 'Group key', value: 'dpg_z' });
    expect(secretOf('GROUP_KEY', { claimToken: 'dpc_x' })).toBeNull();
  });
});

describe('console queries and the API query cost limit', () => {
  const schema = buildSchema(readFileSync('schema.graphql', 'utf8'));
  const QUERY_COST_LIMIT = 10_000; // GRAPHQL_MAX_COST's default (docs/security.md)
  const consoleDocuments: Array<[string, { toString(): string }]> = Object.entries(documents).filter(
    ([, value]) => value instanceof documents.TypedDocumentString,
  );
  const costOf = (name: string) => {
    const document = consoleDocuments.find(([exported]) => exported === name)?.[1];
    if (!document) throw new Error(`no console document ${name}`);
    return operationCost(schema, parse(document.toString()), undefined, {});
  };

  it('the admin pages ask for the page sizes their constants say', () => {
    expect(documents.ConsoleAuditLogDocument.toString()).toContain(`auditLog(first: ${AUDIT_PAGE_SIZE},`);
    expect(documents.ConsoleProvisioningDocument.toString()).toContain(`provisioningAttempts(first: ${ATTEMPTS_PAGE_SIZE})`);
  });

  it('the audit log and provisioning lists stay well under the limit', () => {
    expect(costOf('ConsoleAuditLogDocument')).toBeLessThan(1_000);
    expect(costOf('ConsoleProvisioningDocument')).toBeLessThan(1_000);
  });

  it('every console operation sent with its default variables is under the limit', () => {
    expect(consoleDocuments.length).toBeGreaterThan(10);
    const over = consoleDocuments.map(([name]) => ({ name, cost: costOf(name) })).filter(({ cost }) => cost > QUERY_COST_LIMIT);
    expect(over).toEqual([]);
  });
});
