/**
 * Provisioning policies and attempts (docs/onboarding.md "Provisioning"), admin only, tenant-scoped.
 * The claim token or group key of a policy is in `createProvisioningPolicy`'s answer and nowhere else.
 * The service (src/services/provisioning/) checks, stores and audits; this file only converts.
 */
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.ts';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { actorOf } from '../domain/principal.ts';
import { PROVISIONING_MODES, PROVISIONING_REASONS, REPROVISION_POLICIES } from '../domain/provisioning/policy.ts';
import type { CreatedPolicy, ProvisioningAttempt, ProvisioningPolicy } from '../services/provisioning/index.ts';
import { requireRole } from './auth.ts';

const ModeEnum = builder.enumType('ProvisioningMode', {
  description: 'CLAIM_TOKEN: a shared token; GROUP_KEY: per-device keys derived from a group key; ALLOW_LIST: a token for listed ids, each claimed once.',
  values: PROVISIONING_MODES,
});
const ReprovisionEnum = builder.enumType('ReprovisionPolicy', {
  description: 'A device the policy created asks again (factory reset): REFUSE, or ROTATE its credentials (audited).',
  values: REPROVISION_POLICIES,
});
const ReasonEnum = builder.enumType('ProvisioningReason', { values: PROVISIONING_REASONS });

const PolicyRef = builder.objectRef<ProvisioningPolicy>('ProvisioningPolicy').implement({
  description: 'A provisioning policy of your tenant. Its secret (claim token or group key) was shown once, at creation.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    mode: t.field({ type: ModeEnum, resolve: (p) => p.mode }),
    reprovision: t.field({ type: ReprovisionEnum, resolve: (p) => p.reprovision }),
    enabled: t.exposeBoolean('enabled'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    maxDevices: t.exposeInt('maxDevices', { nullable: true }),
    devicesProvisioned: t.exposeInt('devicesProvisioned', { description: 'Devices created by the policy (counted against maxDevices).' }),
    model: t.exposeString('modelName', { nullable: true, description: 'The model given to the devices it creates.' }),
    tags: t.exposeStringList('tags', { description: 'The tags given to the devices it creates.' }),
    allowedIds: t.exposeInt('allowedIds', { description: 'ALLOW_LIST: ids on the list.' }),
    claimedIds: t.exposeInt('claimedIds', { description: 'ALLOW_LIST: ids claimed so far.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const CreatedPolicyRef = builder.objectRef<CreatedPolicy>('CreateProvisioningPolicyPayload').implement({
  fields: (t) => ({
    policy: t.field({ type: PolicyRef, resolve: (c) => c.policy }),
    claimToken: t.exposeString('claimToken', {
      nullable: true,
      description: 'CLAIM_TOKEN and ALLOW_LIST: the MQTT password of the `provision` user. Shown only here; Doppel keeps its hash.',
    }),
    groupKey: t.exposeString('groupKey', {
      nullable: true,
      description: 'GROUP_KEY: derive each device key as Base64(HMAC-SHA256(groupKey, deviceId)). Shown only here; Doppel keeps it sealed.',
    }),
  }),
});

const AttemptRef = builder.objectRef<ProvisioningAttempt>('ProvisioningAttempt').implement({
  description: 'One provisioning attempt, accepted or refused. Attempts that named no policy of yours (a bad token) are not listed.',
  fields: (t) => ({
    id: t.id({ resolve: (a) => a.id.toString() }),
    policyId: t.exposeID('policyId', { nullable: true }),
    mode: t.field({ type: ModeEnum, nullable: true, resolve: (a) => a.mode }),
    deviceId: t.exposeString('deviceId', { nullable: true }),
    requestId: t.exposeString('requestId', { nullable: true, description: 'The provisioning client id (claim token and allow-list modes).' }),
    reason: t.field({ type: ReasonEnum, resolve: (a) => a.reason }),
    accepted: t.exposeBoolean('accepted'),
    message: t.exposeString('message', { nullable: true }),
    at: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const CreatePolicyInput = builder.inputType('CreateProvisioningPolicyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    mode: t.field({ type: ModeEnum, required: true }),
    reprovision: t.field({ type: ReprovisionEnum, required: false, defaultValue: 'REFUSE' }),
    expiresAt: t.field({ type: 'DateTime', required: false }),
    maxDevices: t.int({ required: false }),
    model: t.string({ required: false, description: 'Model of the devices it creates (created on first use).' }),
    tags: t.stringList({ required: false }),
    allowedDeviceIds: t.stringList({ required: false, description: 'ALLOW_LIST: the ids (serials) devices may claim, once each.' }),
  }),
});

const UpdatePolicyInput = builder.inputType('UpdateProvisioningPolicyInput', {
  description: 'Omit a field to keep it; null clears expiresAt, maxDevices and model. allowedDeviceIds are added to the list.',
  fields: (t) => ({
    name: t.string({ required: false }),
    enabled: t.boolean({ required: false }),
    reprovision: t.field({ type: ReprovisionEnum, required: false }),
    expiresAt: t.field({ type: 'DateTime', required: false }),
    maxDevices: t.int({ required: false }),
    model: t.string({ required: false }),
    tags: t.stringList({ required: false }),
    allowedDeviceIds: t.stringList({ required: false }),
  }),
});

const DeletedPolicyRef = builder.objectRef<{ id: string }>('DeletedProvisioningPolicy').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
});

const MAX_PAGE = 500;

builder.queryFields((t) => ({
  provisioningPolicies: t.field({
    ...requireRole('admin'),
    type: [PolicyRef],
    description: 'The provisioning policies of your tenant, by name.',
    resolve: (_root, _args, ctx) => ctx.provisioning.listPolicies(actorOf(ctx.principal)),
  }),
  provisioningAttempts: t.connection(
    {
      ...requireRole('admin'),
      type: AttemptRef,
      description: `Provisioning attempts of your tenant's policies, newest first, at most ${MAX_PAGE} a page (default 50); page forward with first/after.`,
      args: { policyId: t.arg.id({ required: false, description: 'Only this policy.' }) },
      resolve: async (_root, args, ctx) => {
        if (args.last != null || args.before != null) throw badInput('provisioningAttempts pages forward only: use first and after');
        const size = args.first ?? 50;
        if (size < 0 || size > MAX_PAGE) throw badInput(`first must be between 0 and ${MAX_PAGE}`);
        let beforeId: bigint | null = null;
        if (args.after != null) {
          const raw = Buffer.from(args.after, 'base64url').toString();
          if (!/^\d{1,19}$/.test(raw)) throw badInput('after is not a cursor of this connection');
          beforeId = BigInt(raw);
        }
        const policyId = args.policyId != null ? String(args.policyId) : null;
        if (policyId !== null && !(await ctx.provisioning.getPolicy(actorOf(ctx.principal), policyId)))
          throw badInput('policyId is not a policy of your tenant');
        const rows = await ctx.provisioning.listAttempts({ tenantId: ctx.principal.tenantId, policyId, beforeId, limit: size + 1 });
        const edges = rows.slice(0, size).map((node) => ({ cursor: Buffer.from(node.id.toString()).toString('base64url'), node }));
        return {
          edges,
          pageInfo: { hasNextPage: rows.length > size, hasPreviousPage: false, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
        };
      },
    },
    { name: 'ProvisioningAttemptConnection' },
    { name: 'ProvisioningAttemptEdge' },
  ),
}));

builder.mutationFields((t) => ({
  createProvisioningPolicy: t.field({
    ...requireRole('admin'),
    type: CreatedPolicyRef,
    description: 'Creates a provisioning policy; its claim token or group key is in this answer only. Audited as provisioning.createPolicy.',
    errors: { types: [ValidationError, AlreadyExistsError] },
    args: { input: t.arg({ type: CreatePolicyInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.provisioning.createPolicy(actorOf(ctx.principal), {
        name: input.name,
        mode: input.mode,
        reprovision: input.reprovision ?? 'REFUSE',
        expiresAt: input.expiresAt ?? null,
        maxDevices: input.maxDevices ?? null,
        modelName: input.model ?? null,
        tags: input.tags ?? [],
        allowedDeviceIds: input.allowedDeviceIds ?? [],
      }),
  }),
  updateProvisioningPolicy: t.field({
    ...requireRole('admin'),
    type: PolicyRef,
    description: 'Enables, disables or changes a provisioning policy of your tenant. Audited.',
    errors: { types: [ValidationError, NotFoundError, AlreadyExistsError] },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdatePolicyInput, required: true }) },
    resolve: (_root, { id, input }, ctx) =>
      ctx.provisioning.updatePolicy(actorOf(ctx.principal), String(id), {
        ...(input.name != null ? { name: input.name } : {}),
        ...(input.enabled != null ? { enabled: input.enabled } : {}),
        ...(input.reprovision != null ? { reprovision: input.reprovision } : {}),
        ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
        ...(input.maxDevices !== undefined ? { maxDevices: input.maxDevices } : {}),
        ...(input.model !== undefined ? { modelName: input.model } : {}),
        ...(input.tags != null ? { tags: input.tags } : {}),
        ...(input.allowedDeviceIds != null ? { allowedDeviceIds: input.allowedDeviceIds } : {}),
      }),
  }),
  deleteProvisioningPolicy: t.field({
    ...requireRole('admin'),
    type: DeletedPolicyRef,
    description: 'Deletes a provisioning policy of your tenant; the devices it created stay. Audited as provisioning.deletePolicy.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => ({ id: await ctx.provisioning.deletePolicy(actorOf(ctx.principal), String(id)) }),
  }),
}));

function badInput(message: string): Error {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}
