/**
 * Provisioning policies, the admin side: create (the claim token or group key is returned once), list,
 * update (enable/disable, limits, what devices get, more allow-list ids) and delete. Tenant-scoped and
 * audited. Storage of the secrets: a claim token is kept as its SHA-256 (it only has to be recognised);
 * a group key is sealed (AES-256-GCM, src/security/secrets.ts) because Doppel must recompute derived
 * keys from it, under a key that never enters the database.
 */
import { randomUUID } from 'node:crypto';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { Actor } from '../../domain/principal.ts';
import { validatePolicyInput, type PolicyInput, type ProvisioningMode, type ReprovisionPolicy } from '../../domain/provisioning/policy.ts';
import { generateSecret, hashSecret } from '../../security/secrets.ts';
import type { ProvisioningServiceOptions } from './types.ts';

export interface ProvisioningPolicy {
  id: string;
  tenantId: string;
  name: string;
  mode: ProvisioningMode;
  reprovision: ReprovisionPolicy;
  enabled: boolean;
  expiresAt: Date | null;
  maxDevices: number | null;
  devicesProvisioned: number;
  modelName: string | null;
  tags: string[];
  createdAt: Date;
  updatedAt: Date;
  /** ALLOW_LIST: ids on the list, and how many were claimed. */
  allowedIds: number;
  claimedIds: number;
}

export interface CreatedPolicy {
  policy: ProvisioningPolicy;
  /** CLAIM_TOKEN and ALLOW_LIST: the token devices present as the `provision` user's password. Shown once. */
  claimToken: string | null;
  /** GROUP_KEY: the key devices' keys are derived from. Shown once. */
  groupKey: string | null;
}

export interface CreatePolicyInput extends PolicyInput {
  name: string;
  mode: ProvisioningMode;
}

export interface UpdatePolicyInput extends PolicyInput {
  enabled?: boolean | undefined;
}

export const CLAIM_TOKEN_PREFIX = 'dpc_';
export const GROUP_KEY_PREFIX = 'dpg_';

const SELECT_POLICY = `SELECT p.id::text AS id, p."tenantId", p.name, p.mode, p.reprovision, p.enabled, p."expiresAt", p."maxDevices",
                              p."devicesProvisioned", p."modelName", p.tags, p."createdAt", p."updatedAt",
                              (SELECT count(*)::int FROM "ProvisioningAllowedId" a WHERE a."policyId" = p.id) AS "allowedIds",
                              (SELECT count(*)::int FROM "ProvisioningAllowedId" a WHERE a."policyId" = p.id AND a."claimedAt" IS NOT NULL) AS "claimedIds"
                         FROM "ProvisioningPolicy" p`;

const ADD_ALLOWED_IDS = `INSERT INTO "ProvisioningAllowedId" ("policyId", "deviceId")
                         SELECT $1::uuid, unnest($2::text[]) ON CONFLICT DO NOTHING`;

/** `policiesChanged` is told of every write, so caches of policies (./policy-cache.ts) never outlive a change made here. */
export function createPolicyAdmin(options: ProvisioningServiceOptions, policiesChanged: () => void = () => {}) {
  const { db, audit } = options;

  async function load(tenantId: string, id: string): Promise<ProvisioningPolicy | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = await db.sql.query<ProvisioningPolicy>(`${SELECT_POLICY} WHERE p."tenantId" = $1 AND p.id = $2::uuid`, [tenantId, id]);
    return rows[0];
  }

  function refuseInvalid(input: PolicyInput): void {
    const issues = validatePolicyInput(input, Date.now());
    if (issues.length > 0) throw new ValidationError('invalid provisioning policy', issues);
  }

  async function createPolicy(actor: Actor, input: CreatePolicyInput): Promise<CreatedPolicy> {
    refuseInvalid(input);
    const id = randomUUID();
    const claimToken = input.mode === 'GROUP_KEY' ? null : generateSecret(CLAIM_TOKEN_PREFIX);
    const groupKey = input.mode === 'GROUP_KEY' ? generateSecret(GROUP_KEY_PREFIX) : null;
    const allowed = input.mode === 'ALLOW_LIST' ? [...new Set(input.allowedDeviceIds ?? [])] : [];
    try {
      await db.prisma.$transaction([
        db.prisma.$executeRawUnsafe(
          `INSERT INTO "ProvisioningPolicy" (id, "tenantId", name, mode, reprovision, "tokenHash", "sealedGroupKey", "expiresAt", "maxDevices", "modelName", tags, "updatedAt")
           VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text[], now())`,
          id,
          actor.tenantId,
          input.name,
          input.mode,
          input.reprovision ?? 'REFUSE',
          claimToken ? hashSecret(claimToken) : null,
          groupKey ? options.groupKeys.seal(id, groupKey) : null,
          input.expiresAt ?? null,
          input.maxDevices ?? null,
          input.modelName ?? null,
          [...new Set(input.tags ?? [])],
        ),
        db.prisma.$executeRawUnsafe(ADD_ALLOWED_IDS, id, allowed),
      ]);
    } catch (error) {
      if (String((error as Error).message).includes('ProvisioningPolicy_tenantId_name_key')) throw new AlreadyExistsError('ProvisioningPolicy', input.name);
      throw error;
    }
    // A new policy is no cached miss (misses are not cached), but a new group key joins the cached list.
    policiesChanged();
    await audit.record({
      ...actor,
      action: 'provisioning.createPolicy',
      target: `provisioningPolicy:${id}`,
      details: { name: input.name, mode: input.mode, reprovision: input.reprovision ?? 'REFUSE', allowedIds: allowed.length },
    });
    const policy = await load(actor.tenantId, id);
    if (!policy) throw new Error('provisioning policy vanished right after its creation');
    return { policy, claimToken, groupKey };
  }

  async function updatePolicy(actor: Actor, id: string, input: UpdatePolicyInput): Promise<ProvisioningPolicy> {
    const current = await load(actor.tenantId, id);
    if (!current) throw new NotFoundError('ProvisioningPolicy', id);
    refuseInvalid({ ...input, mode: current.mode });
    const set: string[] = [];
    const params: unknown[] = [actor.tenantId, id];
    const put = (column: string, value: unknown, cast = '') => {
      params.push(value);
      set.push(`"${column}" = $${params.length}${cast}`);
    };
    if (input.name !== undefined) put('name', input.name);
    if (input.enabled !== undefined) put('enabled', input.enabled);
    if (input.reprovision !== undefined) put('reprovision', input.reprovision);
    if (input.expiresAt !== undefined) put('expiresAt', input.expiresAt);
    if (input.maxDevices !== undefined) put('maxDevices', input.maxDevices);
    if (input.modelName !== undefined) put('modelName', input.modelName);
    if (input.tags !== undefined) put('tags', [...new Set(input.tags)], '::text[]');
    try {
      await db.prisma.$transaction([
        db.prisma.$executeRawUnsafe(
          `UPDATE "ProvisioningPolicy" SET ${[...set, '"updatedAt" = now()'].join(', ')} WHERE "tenantId" = $1 AND id = $2::uuid`,
          ...params,
        ),
        db.prisma.$executeRawUnsafe(ADD_ALLOWED_IDS, id, [...new Set(input.allowedDeviceIds ?? [])]),
      ]);
    } catch (error) {
      policiesChanged();
      if (String((error as Error).message).includes('ProvisioningPolicy_tenantId_name_key'))
        throw new AlreadyExistsError('ProvisioningPolicy', input.name ?? '');
      throw error;
    }
    policiesChanged();
    const details = Object.fromEntries(
      Object.entries({ ...input, allowedDeviceIds: input.allowedDeviceIds?.length, expiresAt: input.expiresAt?.toISOString() ?? input.expiresAt }).filter(
        ([, v]) => v !== undefined,
      ),
    );
    const action = input.enabled === true ? 'provisioning.enablePolicy' : input.enabled === false ? 'provisioning.disablePolicy' : 'provisioning.updatePolicy';
    await audit.record({ ...actor, action, target: `provisioningPolicy:${id}`, details: details as Record<string, string | number | boolean | null> });
    return (await load(actor.tenantId, id))!;
  }

  async function deletePolicy(actor: Actor, id: string): Promise<string> {
    if (!isUuid(id)) throw new NotFoundError('ProvisioningPolicy', id);
    // Devices it created stay: they are ordinary devices. Its claims and allow-list go with it.
    const rows = await db.sql.query<{ name: string }>(`DELETE FROM "ProvisioningPolicy" WHERE "tenantId" = $1 AND id = $2::uuid RETURNING name`, [
      actor.tenantId,
      id,
    ]);
    policiesChanged();
    if (!rows[0]) throw new NotFoundError('ProvisioningPolicy', id);
    await audit.record({ ...actor, action: 'provisioning.deletePolicy', target: `provisioningPolicy:${id}`, details: { name: rows[0].name } });
    return id;
  }

  function listPolicies(actor: Actor): Promise<ProvisioningPolicy[]> {
    return db.sql.query<ProvisioningPolicy>(`${SELECT_POLICY} WHERE p."tenantId" = $1 ORDER BY p.name`, [actor.tenantId]);
  }

  return { createPolicy, updatePolicy, deletePolicy, listPolicies, getPolicy: (actor: Actor, id: string) => load(actor.tenantId, id) };
}
