/**
 * Provisioning (docs/onboarding.md "Provisioning"): the pure part. Policy modes and their checks, the
 * reason codes every attempt is stored with, and the request a provisioning client publishes. The
 * derived keys of group-key policies are in src/security/derived-keys.ts (they need node:crypto). No I/O and no clock of its own: callers pass `now`.
 */
import { DoppelError, type FieldIssue } from '../errors.ts';
import { isValidDeviceId, isValidModelName, isValidTag } from '../ids.ts';

export const PROVISIONING_MODES = ['CLAIM_TOKEN', 'GROUP_KEY', 'ALLOW_LIST'] as const;
export type ProvisioningMode = (typeof PROVISIONING_MODES)[number];

/** What happens when a device asks again for an id it already has: refuse, or issue new credentials (audited). */
export const REPROVISION_POLICIES = ['REFUSE', 'ROTATE'] as const;
export type ReprovisionPolicy = (typeof REPROVISION_POLICIES)[number];

/** The MQTT username of a provisioning client; reserved, so no device can have it as its id. */
export const PROVISIONING_USERNAME = 'provision';

/**
 * Why an attempt ended as it did. Stable: stored with every attempt, returned on `provision/{id}/rejected`
 * and in the API, counted in `doppel_provisioning_attempts_total{reason}`.
 */
export const PROVISIONING_REASONS = [
  /** A device was created and got its credentials. */
  'ACCEPTED',
  /** A device the policy created asked again; ROTATE gave it new credentials. */
  'ROTATED',
  /** No policy has this claim token. */
  'BAD_TOKEN',
  /** The policy is disabled. */
  'POLICY_DISABLED',
  /** The policy's expiry has passed. */
  'TOKEN_EXPIRED',
  /** The policy created its `maxDevices` already. */
  'TOKEN_EXHAUSTED',
  /** A group-key connect whose password is not the key derived for its device id by any enabled policy. */
  'BAD_DERIVED_KEY',
  /** An ALLOW_LIST policy was asked for an id not on its list. */
  'NOT_ON_ALLOW_LIST',
  /** An ALLOW_LIST id that was claimed before (ids on the list are claimed once). */
  'ALREADY_CLAIMED',
  /** The id exists (another device, another policy, or REFUSE re-provisioning). */
  'ALREADY_PROVISIONED',
  /** The requested device id is not a valid id. */
  'INVALID_DEVICE_ID',
  /** The request payload is not `{"deviceId": …}` JSON, or too large. */
  'INVALID_REQUEST',
  /** A provisioning client published or subscribed outside its own `provision/{requestId}/…` topics. */
  'TOPIC_DENIED',
] as const;
export type ProvisioningReason = (typeof PROVISIONING_REASONS)[number];

/** A refused attempt, as a value (`Failed<ProvisioningRefusal>`); `code` is the reason. */
export class ProvisioningRefusal extends DoppelError {
  constructor(
    readonly reason: Exclude<ProvisioningReason, 'ACCEPTED' | 'ROTATED'>,
    message: string,
  ) {
    super(reason, message);
  }
}

/** The policy facts that decide whether it may provision now. */
export interface PolicyState {
  enabled: boolean;
  expiresAt: Date | null;
  maxDevices: number | null;
  devicesProvisioned: number;
}

/** Why the policy may not provision at `now`, or null when it may (the counter is checked again atomically on use). */
export function policyRefusal(policy: PolicyState, now: number): ProvisioningRefusal | null {
  if (!policy.enabled) return new ProvisioningRefusal('POLICY_DISABLED', 'the provisioning policy is disabled');
  if (policy.expiresAt && policy.expiresAt.getTime() <= now) return new ProvisioningRefusal('TOKEN_EXPIRED', 'the provisioning policy has expired');
  if (policy.maxDevices !== null && policy.devicesProvisioned >= policy.maxDevices) {
    return new ProvisioningRefusal('TOKEN_EXHAUSTED', `the provisioning policy created its ${policy.maxDevices} devices already`);
  }
  return null;
}

/** The largest provisioning request accepted, in bytes: `{"deviceId": …, "claimToken": …}` needs far less. */
export const MAX_REQUEST_BYTES = 1024;

/** What a provisioning client asks for. `claimToken` identifies the policy where the broker cannot (external brokers). */
export interface ProvisionRequest {
  deviceId: string;
  claimToken?: string;
}

export type ParsedRequest = { ok: true; request: ProvisionRequest } | { ok: false; error: ProvisioningRefusal };

/** Parses `provision/{requestId}/request`'s payload. Unknown fields are ignored (room for firmware facts later). */
export function parseProvisionRequest(payload: Buffer): ParsedRequest {
  const refuse = (reason: 'INVALID_REQUEST' | 'INVALID_DEVICE_ID', message: string): ParsedRequest => ({
    ok: false,
    error: new ProvisioningRefusal(reason, message),
  });
  if (payload.length > MAX_REQUEST_BYTES) return refuse('INVALID_REQUEST', `request over ${MAX_REQUEST_BYTES} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return refuse('INVALID_REQUEST', 'request is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return refuse('INVALID_REQUEST', 'request must be a JSON object {"deviceId": …}');
  const { deviceId, claimToken } = body as Record<string, unknown>;
  if (!isValidDeviceId(deviceId) || deviceId === PROVISIONING_USERNAME) {
    return refuse('INVALID_DEVICE_ID', 'deviceId must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-" (and not "provision")');
  }
  if (claimToken !== undefined && (typeof claimToken !== 'string' || claimToken.length > 256)) return refuse('INVALID_REQUEST', 'claimToken must be a string');
  return { ok: true, request: claimToken === undefined ? { deviceId } : { deviceId, claimToken } };
}

/** A request id (a topic level): the provisioning client's MQTT client id, 1–64 characters of `[A-Za-z0-9._-]`. */
export function isValidRequestId(id: unknown): id is string {
  return isValidDeviceId(id);
}

export interface PolicyInput {
  name?: string | undefined;
  mode?: ProvisioningMode | undefined;
  reprovision?: ReprovisionPolicy | undefined;
  expiresAt?: Date | null | undefined;
  maxDevices?: number | null | undefined;
  modelName?: string | null | undefined;
  tags?: string[] | undefined;
  allowedDeviceIds?: string[] | undefined;
}

/** At most this many ids on an allow-list per call (create or update); a larger list is added in several calls. */
export const MAX_ALLOWED_IDS_PER_CALL = 10_000;

/** Field problems with a policy's create or update input (paths as the GraphQL `input` argument names them). */
export function validatePolicyInput(input: PolicyInput, now: number): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const at = (field: string, code: string, message: string) => issues.push({ path: ['input', field], code, message });
  if (input.name !== undefined && !/^[A-Za-z0-9._ -]{1,100}$/.test(input.name)) {
    at('name', 'INVALID_NAME', 'name must be 1–100 characters of letters, digits, space, ".", "_" or "-"');
  }
  if (input.expiresAt && input.expiresAt.getTime() <= now) at('expiresAt', 'IN_THE_PAST', 'expiresAt must be in the future');
  if (input.maxDevices != null && (!Number.isInteger(input.maxDevices) || input.maxDevices < 1))
    at('maxDevices', 'OUT_OF_RANGE', 'maxDevices must be at least 1');
  if (input.modelName != null && !isValidModelName(input.modelName))
    at('model', 'INVALID_MODEL', 'model must be 1–100 characters of letters, digits, space, ".", "_" or "-"');
  const tags = input.tags ?? [];
  if (tags.length > 32) at('tags', 'TOO_MANY', 'at most 32 tags');
  tags.forEach((tag, i) => {
    if (!isValidTag(tag)) issues.push({ path: ['input', 'tags', String(i)], code: 'INVALID_TAG', message: `tag ${JSON.stringify(tag)} is not a valid tag` });
  });
  const ids = input.allowedDeviceIds;
  if (ids !== undefined) {
    if (input.mode !== undefined && input.mode !== 'ALLOW_LIST' && ids.length > 0)
      at('allowedDeviceIds', 'NOT_ALLOW_LIST', 'allowedDeviceIds is only for ALLOW_LIST policies');
    if (ids.length > MAX_ALLOWED_IDS_PER_CALL) at('allowedDeviceIds', 'TOO_MANY', `at most ${MAX_ALLOWED_IDS_PER_CALL} ids per call`);
    ids.forEach((id, i) => {
      if (!isValidDeviceId(id) || id === PROVISIONING_USERNAME) {
        issues.push({ path: ['input', 'allowedDeviceIds', String(i)], code: 'INVALID_DEVICE_ID', message: `${JSON.stringify(id)} is not a valid device id` });
      }
    });
  }
  return issues;
}
