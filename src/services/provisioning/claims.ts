/**
 * Provisioning, the device side: a `provision` client's claim token is checked at CONNECT, its request
 * for an id is answered with credentials or a refusal, and a group-key device's first connect registers
 * it. Every attempt is stored with its reason (./attempts.ts).
 *
 * Concurrency, by constraint and conditional statements, never check-then-insert:
 * - creations are batched per tick (./creations.ts): the policy's device counter is raised by one
 *   conditional UPDATE per batch granting at most what is left under `maxDevices` (enabled, not
 *   expired) before the devices are created, and given back for those whose creation loses;
 * - an allow-list id is claimed by a conditional UPDATE (`claimedAt IS NULL`) in the creation batch's
 *   statement, so it is claimed once, whichever process or batch asks;
 * - the device itself is inserted by bulk registration (src/services/devices/bulk.ts), whose unique
 *   index on the device id makes one of two simultaneous claims for an id win.
 */
import { hashSecret } from '../../security/secrets.ts';
import { failed, type Failed } from '../../domain/errors.ts';
import { isValidDeviceId } from '../../domain/ids.ts';
import type { Actor } from '../../domain/principal.ts';
import { isDerivedKey } from '../../security/derived-keys.ts';
import { parseProvisionRequest, policyRefusal, PROVISIONING_USERNAME, ProvisioningRefusal, type ProvisioningReason } from '../../domain/provisioning/policy.ts';
import type { AttemptLog } from './attempts.ts';
import type { ProvisioningPolicy } from './policies.ts';
import type { ProvisioningServiceOptions } from './types.ts';
import { createCreationBatcher } from './creations.ts';
import { createPolicyCache } from './policy-cache.ts';

/** A policy row as the device side needs it: the policy as admins see it, without its timestamps and counts, plus its sealed key. */
type PolicyRow = Omit<ProvisioningPolicy, 'createdAt' | 'updatedAt' | 'allowedIds' | 'claimedIds'> & { sealedGroupKey: string | null };

const POLICY_COLUMNS = `id::text AS id, "tenantId", name, mode, reprovision, enabled, "expiresAt", "maxDevices", "devicesProvisioned", "modelName", tags, "sealedGroupKey"`;

/** A GROUP_KEY policy with its group key opened (kept only as long as the policy cache keeps it). */
interface GroupKeyPolicy {
  policy: PolicyRow;
  groupKey: string | undefined;
}

/** A provisioning client admitted at CONNECT: its policy. */
export interface ClaimSession {
  ok: true;
  policyId: string;
}

/** What a request is answered with: the credentials (once), or the refusal. */
export type ClaimOutcome = { ok: true; reason: 'ACCEPTED' | 'ROTATED'; deviceId: string; username: string; password: string } | Failed<ProvisioningRefusal>;

/** The `claimToken` of a request that failed to parse otherwise, if it has one. */
function claimTokenOf(payload: Buffer): string | undefined {
  try {
    const body: unknown = JSON.parse(payload.toString('utf8'));
    const token = body !== null && typeof body === 'object' ? (body as { claimToken?: unknown }).claimToken : undefined;
    return typeof token === 'string' && token.length <= 256 ? token : undefined;
  } catch {
    return undefined;
  }
}

export function createClaims(options: ProvisioningServiceOptions, attempts: AttemptLog) {
  const { db, devices } = options;
  // Reads for admission only (./policy-cache.ts has the bound); writes decide on the database row.
  const policies = createPolicyCache<PolicyRow>();
  const groupKeyPolicies = createPolicyCache<GroupKeyPolicy[]>();
  const creations = createCreationBatcher({
    db,
    logger: options.logger,
    devices,
    attempts,
    sealSecret: options.sealSecret,
    // The embedded broker refuses an exhausted token at CONNECT: that must hold right after the last device.
    onExhausted: () => policiesChanged(),
    refusalFor: async (policyId) => {
      // The batch found the policy unable to grant: later CONNECTs must see that at once.
      policiesChanged();
      const fresh = await freshPolicyById(policyId);
      return (fresh && policyRefusal(fresh, Date.now())) ?? new ProvisioningRefusal('TOKEN_EXHAUSTED', 'the provisioning policy has no devices left');
    },
  });

  const actorFor = (p: PolicyRow): Actor => ({ tenantId: p.tenantId, actor: `provisioningPolicy:${p.id}`, actorName: p.name });

  function policiesChanged(): void {
    policies.clear();
    groupKeyPolicies.clear();
  }

  function policyByToken(token: string): Promise<PolicyRow | undefined> {
    const tokenHash = hashSecret(token);
    return policies.get(`token:${tokenHash}`, async () => {
      const rows = await db.sql.query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM "ProvisioningPolicy" WHERE "tokenHash" = $1`, [tokenHash]);
      return rows[0];
    });
  }

  function policyById(id: string): Promise<PolicyRow | undefined> {
    return policies.get(`id:${id}`, () => freshPolicyById(id));
  }

  async function freshPolicyById(id: string): Promise<PolicyRow | undefined> {
    const rows = await db.sql.query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [id]);
    return rows[0];
  }

  async function groupKeyPolicyList(): Promise<GroupKeyPolicy[]> {
    const list = await groupKeyPolicies.get('all', async () => {
      const rows = await db.sql.query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM "ProvisioningPolicy" WHERE mode = 'GROUP_KEY'`);
      return rows.map((policy) => ({ policy, groupKey: policy.sealedGroupKey ? options.groupKeys.open(policy.id, policy.sealedGroupKey) : undefined }));
    });
    return list ?? [];
  }

  async function refuse(
    p: PolicyRow | undefined,
    reason: Exclude<ProvisioningReason, 'ACCEPTED' | 'ROTATED'>,
    message: string,
    at: { deviceId?: string | null; requestId?: string | null },
  ): Promise<Failed<ProvisioningRefusal>> {
    await attempts.record({
      tenantId: p?.tenantId ?? null,
      policyId: p?.id ?? null,
      mode: p?.mode ?? null,
      deviceId: at.deviceId ?? null,
      requestId: at.requestId ?? null,
      reason,
      message,
    });
    return failed(new ProvisioningRefusal(reason, message));
  }

  const refuseWith = (p: PolicyRow | undefined, error: ProvisioningRefusal, at: { deviceId?: string | null; requestId?: string | null }) =>
    refuse(p, error.reason, error.message, at);

  /** The device `deviceId` as it stands, and whether this policy created it. */
  async function existing(p: PolicyRow, deviceId: string): Promise<{ tenantId: string; ownClaim: boolean; blocked: boolean } | undefined> {
    const rows = await db.sql.query<{ tenantId: string; ownClaim: boolean; blocked: boolean }>(
      `SELECT d."tenantId", (d."disabledAt" IS NOT NULL OR d."credentialsRevokedAt" IS NOT NULL) AS blocked, EXISTS (SELECT 1 FROM "ProvisioningClaim" c WHERE c."deviceId" = d."deviceId" AND c."policyId" = $2::uuid) AS "ownClaim"
         FROM "Device" d WHERE d."deviceId" = $1`,
      [deviceId, p.id],
    );
    return rows[0];
  }

  /**
   * A device the policy created asks again (a factory reset): ROTATE issues a new secret (the old one
   * stops working, its sessions are closed; audited as `device.rotateCredentials` and
   * `provisioning.rotate`); REFUSE refuses with `refusal`.
   */
  async function reprovision(
    p: PolicyRow,
    deviceId: string,
    requestId: string | null,
    refusal: 'ALREADY_PROVISIONED' | 'ALREADY_CLAIMED',
  ): Promise<ClaimOutcome> {
    const found = await existing(p, deviceId);
    // An allow-list id claimed with no device (yet): the request that won the race is creating it, or it was deleted since.
    if (!found && refusal === 'ALREADY_CLAIMED') {
      return refuse(p, 'ALREADY_CLAIMED', `${JSON.stringify(deviceId)} was claimed already and has no device of this policy now`, { deviceId, requestId });
    }
    if (!found || !found.ownClaim || found.tenantId !== p.tenantId) {
      return refuse(p, 'ALREADY_PROVISIONED', `device ${JSON.stringify(deviceId)} exists and was not provisioned by this policy`, { deviceId, requestId });
    }
    // An admin's revocation or disabling is never undone by a device asking again.
    if (found.blocked) {
      return refuse(p, 'ALREADY_PROVISIONED', `device ${JSON.stringify(deviceId)} is disabled or its credentials are revoked`, { deviceId, requestId });
    }
    if (p.reprovision !== 'ROTATE') {
      return refuse(p, refusal, `device ${JSON.stringify(deviceId)} was provisioned already and the policy refuses re-provisioning`, { deviceId, requestId });
    }
    // A rotation writes without the creation batch's conditional counter: it decides on the policy as
    // the database has it now, never on a cached read (a policy disabled elsewhere rotates nothing).
    // Exhaustion does not stop it: a rotation uses no device of the policy's limit.
    const current = await freshPolicyById(p.id);
    if (!current) return refuse(undefined, 'BAD_TOKEN', 'the provisioning policy was deleted', { deviceId, requestId });
    const currentRefusal = policyRefusal(current, Date.now());
    if (currentRefusal && currentRefusal.reason !== 'TOKEN_EXHAUSTED') return refuseWith(current, currentRefusal, { deviceId, requestId });
    const rotated = await devices.rotateCredentials(actorFor(p), deviceId, 0);
    await db.sql.query(`UPDATE "ProvisioningClaim" SET "rotatedAt" = now() WHERE "deviceId" = $1`, [deviceId]);
    await options.audit.record({ ...actorFor(p), action: 'provisioning.rotate', target: `device:${deviceId}`, details: { policyId: p.id, requestId } });
    await attempts.record({ tenantId: p.tenantId, policyId: p.id, mode: p.mode, deviceId, requestId, reason: 'ROTATED', message: null });
    return { ok: true, reason: 'ROTATED', deviceId, username: deviceId, password: rotated.credentials.password };
  }

  /**
   * Creates the device for the policy, batched with the other creations of this tick (./creations.ts:
   * counter, bulk registration, claim row and attempt row set-based). An id that exists already (or
   * was created earlier in the same batch) is answered by `onTaken`; a refusal is stored by the batch.
   */
  async function create(
    p: PolicyRow,
    deviceId: string,
    requestId: string | null,
    onTaken: () => Promise<ClaimOutcome>,
    secret?: string,
  ): Promise<ClaimOutcome> {
    const outcome = await creations.create({ policy: p, deviceId, requestId, ...(secret === undefined ? {} : { secret }) });
    if (outcome.ok) return { ok: true, reason: 'ACCEPTED', deviceId, username: deviceId, password: outcome.password };
    if ('refusal' in outcome) return failed(outcome.refusal);
    // Not an allow-list request: the id exists (the allow-list answers cannot occur).
    return onTaken();
  }

  /** CONNECT as `provision` with a claim token: the policy it belongs to, if it may provision now. */
  async function authenticateClaim(token: string | undefined, requestId: string | null): Promise<ClaimSession | Failed<ProvisioningRefusal>> {
    const p = token ? await policyByToken(token) : undefined;
    if (!p || p.mode === 'GROUP_KEY') return refuse(undefined, 'BAD_TOKEN', 'no provisioning policy has this claim token', { requestId });
    const refusal = policyRefusal(p, Date.now());
    if (refusal) return refuseWith(p, refusal, { requestId });
    return { ok: true, policyId: p.id };
  }

  /**
   * A request on `provision/{requestId}/request`. The policy is the connection's (`session`, embedded
   * broker) or the one of the request's `claimToken` (external brokers, where Doppel does not see who
   * published); when both are there they must agree.
   */
  async function handleRequest(session: ClaimSession | null, requestId: string, payload: Buffer): Promise<ClaimOutcome> {
    const parsed = parseProvisionRequest(payload);
    let p = session ? await policyById(session.policyId) : undefined;
    if (!parsed.ok) {
      // Still attribute the refusal to the request's policy when it names one, so its admins see it.
      const token = claimTokenOf(payload);
      if (!p && token) p = await policyByToken(token);
      return refuseWith(p, parsed.error, { requestId });
    }
    const { deviceId, claimToken } = parsed.request;
    if (claimToken !== undefined) {
      const byToken = await policyByToken(claimToken);
      if (!byToken || byToken.mode === 'GROUP_KEY' || (p && byToken.id !== p.id)) {
        return refuse(p, 'BAD_TOKEN', 'no provisioning policy has this claim token', { deviceId, requestId });
      }
      p = byToken;
    }
    if (!p) return refuse(undefined, 'BAD_TOKEN', 'the request names no claim token and the connection has none', { deviceId, requestId });
    const refusal = policyRefusal(p, Date.now());
    if (refusal) return refuseWith(p, refusal, { deviceId, requestId });

    if (p.mode === 'ALLOW_LIST') {
      // The batch claims the id (`claimedAt IS NULL`, decided by the database) with the others of the
      // tick, and gives it back to the list when it creates no device after all.
      const outcome = await creations.create({ policy: p, deviceId, requestId, allowList: true });
      if (outcome.ok) return { ok: true, reason: 'ACCEPTED', deviceId, username: deviceId, password: outcome.password };
      if ('notOnAllowList' in outcome)
        return refuse(p, 'NOT_ON_ALLOW_LIST', `${JSON.stringify(deviceId)} is not on the policy's allow-list`, { deviceId, requestId });
      if ('alreadyClaimed' in outcome) return reprovision(p, deviceId, requestId, 'ALREADY_CLAIMED');
      if ('taken' in outcome) return refuse(p, 'ALREADY_PROVISIONED', `device id ${JSON.stringify(deviceId)} is taken`, { deviceId, requestId });
      return failed(outcome.refusal);
    }
    // No existence check first: the batch finds the ids that exist in one statement for all its requests.
    return create(p, deviceId, requestId, () => reprovision(p, deviceId, requestId, 'ALREADY_PROVISIONED'));
  }

  /**
   * A device connecting with a password its registry entry refused (or without one): is it a group-key
   * device? Unknown id + a key derived by an enabled GROUP_KEY policy registers it (its secret is the
   * derived key's hash from then on). A known id of that policy with its derived key is re-provisioned
   * per the policy (ROTATE: its secret becomes the derived key again). Anything else is `false`; an
   * unknown id that no policy derived is stored as BAD_DERIVED_KEY.
   */
  async function authenticateDerivedKey(deviceId: string, password: Buffer | undefined): Promise<boolean> {
    if (!password || !isValidDeviceId(deviceId) || deviceId === PROVISIONING_USERNAME) return false;
    const groupKeyed = await groupKeyPolicyList();
    if (groupKeyed.length === 0) return false;
    const presented = password.toString('utf8');
    const p = groupKeyed.find(({ groupKey }) => groupKey !== undefined && isDerivedKey(groupKey, deviceId, presented))?.policy;
    if (!p) {
      const known = await db.sql.query(`SELECT 1 FROM "Device" WHERE "deviceId" = $1`, [deviceId]);
      // A known device with a wrong password is a failed login, not a provisioning attempt.
      if (known.length === 0) await refuse(undefined, 'BAD_DERIVED_KEY', 'the password is not a key derived by any group-key policy', { deviceId });
      return false;
    }
    const refusal = policyRefusal(p, Date.now());
    if (refusal) {
      await refuseWith(p, refusal, { deviceId });
      return false;
    }
    const policy = p;
    // A new id gets its derived key as its secret in the batch; a known one is re-provisioned per the policy.
    const outcome = await create(
      p,
      deviceId,
      null,
      async () => {
        const rotated = await reprovision(policy, deviceId, null, 'ALREADY_PROVISIONED');
        // The rotation issued a random secret; the device knows only its derived key, which is its secret again.
        if (rotated.ok) await setSecret(deviceId, presented);
        return rotated;
      },
      presented,
    );
    return outcome.ok;
  }

  async function setSecret(deviceId: string, secret: string): Promise<void> {
    await db.sql.query(`UPDATE "Device" SET "secretHash" = $2, "brokerSecret" = $3, "updatedAt" = now() WHERE "deviceId" = $1`, [
      deviceId,
      hashSecret(secret),
      options.sealSecret?.(deviceId, secret) ?? null,
    ]);
  }

  /** A provisioning client touched a topic outside its own: stored (the transport refuses it). */
  async function recordTopicDenied(session: ClaimSession | null, requestId: string | null, topic: string): Promise<void> {
    const p = session ? await policyById(session.policyId) : undefined;
    await refuse(p, 'TOPIC_DENIED', `topic ${JSON.stringify(topic.slice(0, 200))} is outside provision/{requestId}/…`, { requestId });
  }

  return { authenticateClaim, handleRequest, authenticateDerivedKey, recordTopicDenied, policiesChanged };
}
