/**
 * Pure rules of the provisioning policies page (src/console/app/admin-provisioning-page.tsx), unit-tested in
 * test/console/admin-pages-logic.test.ts. The page checks only what it must to build a
 * CreateProvisioningPolicyInput (a number is a number, a date is a date); names, tags, models and
 * device ids are checked by the server, whose ValidationError is placed under the field its path names.
 */
import type { CreateProvisioningPolicyInput, ProvisioningMode, ReprovisionPolicy } from './gql/graphql.ts';

/** Attempts listed under the policies: the API serves 500 a page; 50 rows of 8 fields cost ≈ 450 against the 10,000 limit. */
export const ATTEMPTS_PAGE_SIZE = 50;

export const POLICY_FIELDS = ['name', 'mode', 'model', 'tags', 'maxDevices', 'expiresAt', 'allowedDeviceIds', 'reprovision'] as const;
export type PolicyField = (typeof POLICY_FIELDS)[number];
export type PolicyProblems = Partial<Record<PolicyField | '', string[]>>;

export interface PolicyForm {
  name: string;
  mode: ProvisioningMode;
  model: string;
  /** Comma-separated. */
  tags: string;
  maxDevices: string;
  /** From an `<input type="datetime-local">`: local time, no zone. */
  expiresAt: string;
  /** ALLOW_LIST: one id per line (commas and spaces also separate). */
  allowedDeviceIds: string;
  reprovision: ReprovisionPolicy;
}

export const emptyPolicyForm: PolicyForm = {
  name: '',
  mode: 'CLAIM_TOKEN',
  model: '',
  tags: '',
  maxDevices: '',
  expiresAt: '',
  allowedDeviceIds: '',
  reprovision: 'REFUSE',
};

const splitList = (text: string, separator: RegExp) =>
  text
    .split(separator)
    .map((part) => part.trim())
    .filter((part) => part !== '');

export type PolicyCheck = { ok: true; input: CreateProvisioningPolicyInput } | { ok: false; problems: PolicyProblems };

/** The create form as the mutation's input, or the problems the page can see before anything is sent. */
export function policyInputOf(form: PolicyForm, now: Date): PolicyCheck {
  const problems: PolicyProblems = {};
  const say = (field: PolicyField, message: string) => (problems[field] ??= []).push(message);
  const name = form.name.trim();
  if (name === '') say('name', 'A name is required.');
  const input: CreateProvisioningPolicyInput = { name, mode: form.mode, reprovision: form.reprovision };
  if (form.model.trim() !== '') input.model = form.model.trim();
  const tags = splitList(form.tags, /,/);
  if (tags.length > 0) input.tags = tags;
  if (form.maxDevices.trim() !== '') {
    const max = Number(form.maxDevices.trim());
    if (!Number.isInteger(max) || max < 1) say('maxDevices', 'A whole number of at least 1, or empty for no limit.');
    else input.maxDevices = max;
  }
  if (form.expiresAt !== '') {
    const expires = new Date(form.expiresAt);
    if (Number.isNaN(expires.getTime())) say('expiresAt', 'The expiry is not a valid date.');
    else if (expires.getTime() <= now.getTime()) say('expiresAt', 'The expiry must be in the future.');
    else input.expiresAt = expires.toISOString();
  }
  const ids = splitList(form.allowedDeviceIds, /[\s,]+/);
  if (form.mode === 'ALLOW_LIST') {
    if (ids.length === 0) say('allowedDeviceIds', 'An allow-list policy needs at least one device id.');
    else input.allowedDeviceIds = ids;
  }
  return Object.keys(problems).length > 0 ? { ok: false, problems } : { ok: true, input };
}

/**
 * A server ValidationError's field errors, grouped by the form field their path names
 * (`["input","tags","1"]` → tags); a path the form has no field for goes under '' (shown above the form).
 */
export function policyProblemsOf(fieldErrors: ReadonlyArray<{ path: readonly string[]; message: string }>): PolicyProblems {
  const problems: PolicyProblems = {};
  for (const error of fieldErrors) {
    const key = error.path[0] === 'input' ? error.path[1] : error.path[0];
    const field = (POLICY_FIELDS as readonly string[]).includes(key ?? '') ? (key as PolicyField) : '';
    (problems[field] ??= []).push(error.message);
  }
  return problems;
}

export interface PolicyRow {
  enabled: boolean;
  expiresAt?: string | null;
  maxDevices?: number | null;
  devicesProvisioned: number;
  mode: ProvisioningMode;
  allowedIds: number;
  claimedIds: number;
}

/**
 * Whether devices can provision with the policy now, and if not why: disabled (an admin's choice, shown
 * first), expired, or used up (maxDevices reached; an allow-list with every id claimed).
 */
export function policyState(policy: PolicyRow, now: Date): 'disabled' | 'expired' | 'used up' | 'active' {
  if (!policy.enabled) return 'disabled';
  if (policy.expiresAt && Date.parse(policy.expiresAt) <= now.getTime()) return 'expired';
  if (policy.maxDevices != null && policy.devicesProvisioned >= policy.maxDevices) return 'used up';
  if (policy.mode === 'ALLOW_LIST' && policy.allowedIds > 0 && policy.claimedIds >= policy.allowedIds) return 'used up';
  return 'active';
}

/** What the policy has done, in one line: "3 of 10 devices", "2 of 5 ids claimed". */
export function policyUsage(policy: PolicyRow): string {
  const devices = `${policy.devicesProvisioned}${policy.maxDevices != null ? ` of ${policy.maxDevices}` : ''} device${policy.devicesProvisioned === 1 && policy.maxDevices == null ? '' : 's'}`;
  return policy.mode === 'ALLOW_LIST' ? `${devices}; ${policy.claimedIds} of ${policy.allowedIds} ids claimed` : devices;
}

export interface ShownSecret {
  label: string;
  value: string;
  howToUse: string;
}

/**
 * The secret createProvisioningPolicy answered with, and how a device uses it: the claim token is the
 * MQTT password of the `provision` user (CLAIM_TOKEN, ALLOW_LIST); the group key derives each device's
 * key (GROUP_KEY). Null when the answer carries none (never expected: the server always sends one).
 */
export function secretOf(mode: ProvisioningMode, created: { claimToken?: string | null; groupKey?: string | null }): ShownSecret | null {
  if (mode === 'GROUP_KEY')
    return created.groupKey
      ? { label: 'Group key', value: created.groupKey, howToUse: 'Each device connects with its id and the key Base64(HMAC-SHA256(group key, device id)).' }
      : null;
  return created.claimToken
    ? {
        label: 'Claim token',
        value: created.claimToken,
        howToUse: 'Devices connect as user "provision" with this password and publish {"deviceId", "claimToken"} to provision/<client id>/request.',
      }
    : null;
}
