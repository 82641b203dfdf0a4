/**
 * Provisioning (docs/onboarding.md "Provisioning"): devices get their own credentials without an admin
 * per device, under tenant-scoped policies of three modes — CLAIM_TOKEN, GROUP_KEY, ALLOW_LIST — with
 * limits (expiry, max devices), what the devices get (model, tags), and a re-provisioning policy
 * (REFUSE, or ROTATE the credentials, audited). Every attempt is stored with a reason code.
 *
 * Parts: policies.ts (admin side), claims.ts (device side: claim tokens, requests, derived keys),
 * attempts.ts (the attempt log, its metric and its bound). It never speaks MQTT: the transports call it
 * (src/mqtt/embedded/provisioning.ts, src/http/broker-auth.ts, src/mqtt/provisioning-responder.ts).
 */
import type { Failed } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import type { ProvisioningRefusal } from '../../domain/provisioning/policy.ts';
import type { PeriodicJob } from '../../periodic.ts';
import { createAttemptLog, type AttemptQuery, type ProvisioningAttempt } from './attempts.ts';
import { createClaims, type ClaimOutcome, type ClaimSession } from './claims.ts';
import { createPolicyAdmin, type CreatedPolicy, type CreatePolicyInput, type ProvisioningPolicy, type UpdatePolicyInput } from './policies.ts';
import type { ProvisioningServiceOptions } from './types.ts';

export { ATTEMPTS_METRIC, MAX_ATTEMPT_ROWS, type AttemptQuery, type ProvisioningAttempt } from './attempts.ts';
export type { ClaimOutcome, ClaimSession } from './claims.ts';
export {
  CLAIM_TOKEN_PREFIX,
  GROUP_KEY_PREFIX,
  type CreatedPolicy,
  type CreatePolicyInput,
  type ProvisioningPolicy,
  type UpdatePolicyInput,
} from './policies.ts';
export type { GroupKeySealer, ProvisioningServiceOptions } from './types.ts';

/** What the MQTT and broker-auth edges ask of provisioning. */
export interface ProvisioningGate {
  /**
   * CONNECT as `provision` with `token` as the password: the client's policy, or why it is refused
   * (BAD_TOKEN, POLICY_DISABLED, TOKEN_EXPIRED, TOKEN_EXHAUSTED; stored as an attempt).
   */
  authenticateClaim(token: string | undefined, requestId: string | null): Promise<ClaimSession | Failed<ProvisioningRefusal>>;
  /**
   * Answers a `provision/{requestId}/request` (JSON `{deviceId, claimToken?}`): new credentials, shown
   * only in this answer, or a refusal. `session` is the connection's policy where the transport knows it.
   * Stored as an attempt either way.
   */
  handleRequest(session: ClaimSession | null, requestId: string, payload: Buffer): Promise<ClaimOutcome>;
  /**
   * A device login the registry refused: `true` when the password is the key a GROUP_KEY policy derives
   * for this id, and the device was registered now (first connect) or re-provisioned (ROTATE).
   */
  authenticateDerivedKey(deviceId: string, password: Buffer | undefined): Promise<boolean>;
  /** A provisioning client published or subscribed outside its own topics: stored as TOPIC_DENIED. */
  recordTopicDenied(session: ClaimSession | null, requestId: string | null, topic: string): Promise<void>;
}

export interface ProvisioningService extends ProvisioningGate {
  /** Creates a policy of the actor's tenant; its claim token or group key is in the answer, once. Audited as `provisioning.createPolicy`. */
  createPolicy(actor: Actor, input: CreatePolicyInput): Promise<CreatedPolicy>;
  /** The tenant's policies by name (never their secrets). */
  listPolicies(actor: Actor): Promise<ProvisioningPolicy[]>;
  getPolicy(actor: Actor, id: string): Promise<ProvisioningPolicy | undefined>;
  /**
   * Changes a policy (fields left undefined keep their value; `allowedDeviceIds` are added). Audited as
   * `provisioning.enablePolicy`, `provisioning.disablePolicy` or `provisioning.updatePolicy`.
   */
  updatePolicy(actor: Actor, id: string, input: UpdatePolicyInput): Promise<ProvisioningPolicy>;
  /** Deletes a policy (the devices it created stay). Audited as `provisioning.deletePolicy`. */
  deletePolicy(actor: Actor, id: string): Promise<string>;
  /** Attempts of the actor's tenant, newest first. */
  listAttempts(query: AttemptQuery): Promise<ProvisioningAttempt[]>;
  /** Keeps the attempt log bounded (on `periodic()`). */
  retention: PeriodicJob;
}

export function createProvisioningService(options: ProvisioningServiceOptions): ProvisioningService {
  const attempts = createAttemptLog(options);
  const { policiesChanged, ...claims } = createClaims(options, attempts);
  return {
    // Every admin change clears the device side's policy cache before the admin's call returns.
    ...createPolicyAdmin(options, policiesChanged),
    ...claims,
    listAttempts: (query) => attempts.list(query),
    retention: attempts.retention,
  };
}
