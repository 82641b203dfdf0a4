import { builder } from '../builder.ts';
import type { Role } from '../domain/principal.ts';
import { actorOf } from '../domain/principal.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { requireRole } from './auth.ts';

const RoleEnum = builder.enumType('Role', {
  description: 'What a token may do. Each role includes the ones below it.',
  values: {
    VIEWER: { value: 'viewer', description: 'Read devices, twins, telemetry; subscribe.' },
    OPERATOR: { value: 'operator', description: 'Also change desired state and send commands.' },
    ADMIN: { value: 'admin', description: 'Also manage devices, models and API tokens; read the audit log.' },
  } as const,
});

interface ApiTokenShape {
  id: string;
  tenantId: string;
  name: string;
  role: string;
  createdAt: Date;
  createdBy: string | null;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const ApiTokenRef = builder.objectRef<ApiTokenShape>('ApiToken').implement({
  description: 'An API bearer token. The secret is shown once, by createApiToken; Doppel keeps only its SHA-256.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The token id (a UUID), for revokeApiToken and the audit log.' }),
    tenantId: t.exposeString('tenantId'),
    name: t.exposeString('name'),
    role: t.field({ type: RoleEnum, resolve: (tok) => tok.role as Role }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    createdBy: t.exposeString('createdBy', { nullable: true, description: '"token:<id>" or "system".' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
    lastUsedAt: t.expose('lastUsedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the token last authenticated a request or connection, to the minute (recorded at most once a minute); null if never.',
    }),
  }),
});

const CreateApiTokenInput = builder.inputType('CreateApiTokenInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'What the token is for (1–100 characters).' }),
    role: t.field({ type: RoleEnum, required: true }),
    tenantId: t.string({
      required: false,
      description:
        "Must be the caller's own tenant (the default). A new tenant's first admin token comes from the CLI: `npm run token -- create --tenant <t> --role admin --name <n>`.",
    }),
    expiresAt: t.field({ type: 'DateTime', required: false, description: 'When the token stops working; omit for no expiry.' }),
  }),
});

const CreatedApiTokenRef = builder.objectRef<{ token: string; apiToken: ApiTokenShape }>('CreatedApiToken').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'The bearer token. Shown only in this response: store it now.' }),
    apiToken: t.field({ type: ApiTokenRef, resolve: (p) => p.apiToken }),
  }),
});

const RevokedApiTokenRef = builder.objectRef<{ apiToken: ApiTokenShape }>('RevokedApiToken').implement({
  fields: (t) => ({
    apiToken: t.field({ type: ApiTokenRef, resolve: (p) => p.apiToken }),
  }),
});

interface CallerShape {
  tenantId: string;
  role: Role;
  name: string;
  expiresAt: Date | null;
}

const CallerRef = builder.objectRef<CallerShape>('Caller').implement({
  description: 'The token making the request: which tenant it acts in and what its role lets it do.',
  fields: (t) => ({
    tenantId: t.exposeString('tenantId'),
    role: t.field({ type: RoleEnum, resolve: (caller) => caller.role }),
    name: t.exposeString('name', { description: 'The name the token was created with.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'When the token stops working; null if it does not expire.' }),
  }),
});

builder.queryFields((t) => ({
  me: t.field({
    ...requireRole('viewer'),
    type: CallerRef,
    description: "The calling token's tenant and role, so a client can offer only what the role allows (the API still refuses the rest with FORBIDDEN).",
    resolve: (_root, _args, ctx) => ({
      tenantId: ctx.principal.tenantId,
      role: ctx.principal.role,
      name: ctx.principal.name,
      expiresAt: ctx.principal.expiresAt,
    }),
  }),
}));

builder.queryFields((t) => ({
  apiTokens: t.field({
    ...requireRole('admin'),
    type: [ApiTokenRef],
    description: "The API tokens of the caller's tenant, newest first (never their secrets).",
    args: { includeRevoked: t.arg.boolean({ required: false, defaultValue: false }) },
    resolve: (_root, args, ctx) => ctx.tokens.list(ctx.principal.tenantId, { includeRevoked: args.includeRevoked ?? false }),
  }),
}));

builder.mutationFields((t) => ({
  createApiToken: t.field({
    ...requireRole('admin'),
    type: CreatedApiTokenRef,
    description: "Creates an API token in the caller's tenant and returns it once.",
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: CreateApiTokenInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      ctx.tokens.create(actorOf(ctx.principal), { name: input.name, role: input.role, tenantId: input.tenantId ?? null, expiresAt: input.expiresAt ?? null }),
  }),
  revokeApiToken: t.field({
    ...requireRole('admin'),
    type: RevokedApiTokenRef,
    description:
      'Revokes a token of your tenant: it is refused from now on, and its open subscriptions end (graphql-ws: the socket closes with 4403; SSE: a final UNAUTHENTICATED error). Revoking a revoked token returns it unchanged.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => ({ apiToken: await ctx.tokens.revoke(actorOf(ctx.principal), String(id)) }),
  }),
}));
