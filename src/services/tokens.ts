/**
 * API tokens as records: creation, listing and revocation, each change audited in the same transaction
 * as the change itself. The functions serve the console too (`npm run token`, the bootstrap admin
 * token); the token service adds what an API caller may do with them. Turning a presented bearer token
 * into a principal is src/auth/tokens.ts.
 */
import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/client.ts';
import { ValidationError, NotFoundError, type FieldIssue } from '../domain/errors.ts';
import { isUuid, isValidTenantId } from '../domain/ids.ts';
import { ROLES, systemActor, type Actor, type Role } from '../domain/principal.ts';
import type { EventBus } from '../events/bus.ts';
import type { ApiToken } from '../generated/prisma/client.ts';
import { generateSecret, hashSecret } from '../security/secrets.ts';
import { auditEventData } from './audit.ts';

/** Every API token starts with it, so a leaked one is recognizable (secret scanners) and others are refused unhashed. */
export const TOKEN_PREFIX = 'dpl_';

/** A token as stored, without its hash. */
export type ApiTokenRecord = Omit<ApiToken, 'tokenHash'>;

export interface CreateApiTokenInput {
  name: string;
  role: Role;
  tenantId: string;
  expiresAt?: Date | null;
}

/** Field-level problems with a token request (paths relative to the input object). */
export function validateApiTokenInput(input: CreateApiTokenInput, now = Date.now()): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const name = input.name.trim();
  if (name.length === 0 || name.length > 100 || /[\u0000-\u001f]/.test(name)) {
    issues.push({ path: ['name'], code: 'INVALID_NAME', message: 'name must be 1–100 printable characters' });
  }
  if (!(ROLES as readonly string[]).includes(input.role)) {
    issues.push({ path: ['role'], code: 'INVALID_ROLE', message: `role must be one of ${ROLES.join(', ')}` });
  }
  if (!isValidTenantId(input.tenantId)) {
    issues.push({ path: ['tenantId'], code: 'INVALID_TENANT', message: 'tenantId must be 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"' });
  }
  if (input.expiresAt && input.expiresAt.getTime() <= now) {
    issues.push({ path: ['expiresAt'], code: 'IN_THE_PAST', message: 'expiresAt must be in the future' });
  }
  return issues;
}

/**
 * Creates a token and its audit event in one transaction; returns the token itself, which exists
 * nowhere else afterwards (only its SHA-256 is stored). Validate the input first.
 */
export async function createApiToken(prisma: PrismaClient, input: CreateApiTokenInput, actor: Actor = systemActor(input.tenantId, 'system')) {
  const token = generateSecret(TOKEN_PREFIX);
  const id = randomUUID();
  const [row] = await prisma.$transaction([
    prisma.apiToken.create({
      data: {
        id,
        name: input.name.trim(),
        role: input.role,
        tenantId: input.tenantId,
        tokenHash: hashSecret(token),
        expiresAt: input.expiresAt ?? null,
        createdBy: actor.actor,
      },
      omit: { tokenHash: true },
    }),
    prisma.auditEvent.create({
      data: auditEventData({
        ...actor,
        tenantId: input.tenantId,
        action: 'apiToken.create',
        target: `apiToken:${id}`,
        details: { name: input.name.trim(), role: input.role, expiresAt: input.expiresAt?.toISOString() ?? null },
      }),
      select: { id: true },
    }),
  ]);
  return { id, token, apiToken: row };
}

/** The tokens of a tenant, newest first, without their hashes. */
export function listApiTokens(prisma: PrismaClient, tenantId: string | null, options: { includeRevoked?: boolean } = {}) {
  return prisma.apiToken.findMany({
    where: { ...(tenantId != null ? { tenantId } : {}), ...(options.includeRevoked ? {} : { revokedAt: null }) },
    orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
    omit: { tokenHash: true },
  });
}

/**
 * Revokes a token of the tenant (tenantId null: any tenant, for the CLI) and audits it, atomically.
 * Returns the token row (already-revoked tokens are returned unchanged and not audited twice), or null
 * when no such token exists in that tenant. The caller announces the revocation (tokenRevoked event)
 * so open subscriptions end.
 */
export async function revokeApiToken(prisma: PrismaClient, tenantId: string | null, id: string, actor: (tenantId: string) => Actor) {
  if (!isUuid(id)) return null;
  return prisma.$transaction(async (tx) => {
    const row = await tx.apiToken.findFirst({ where: { id, ...(tenantId != null ? { tenantId } : {}) }, omit: { tokenHash: true } });
    if (!row) return null;
    if (row.revokedAt) return { apiToken: row, changed: false };
    const updated = await tx.apiToken.update({ where: { id }, data: { revokedAt: new Date() }, omit: { tokenHash: true } });
    await tx.auditEvent.create({
      data: auditEventData({
        ...actor(row.tenantId),
        tenantId: row.tenantId,
        action: 'apiToken.revoke',
        target: `apiToken:${id}`,
        details: { name: row.name, role: row.role },
      }),
      select: { id: true },
    });
    return { apiToken: updated, changed: true };
  });
}

/** What an API caller asks for; the tenant defaults to the caller's own. */
export interface ApiTokenRequest {
  name: string;
  role: Role;
  tenantId?: string | null;
  expiresAt?: Date | null;
}

/**
 * The API's side of token management, for a caller acting in its own tenant. Refusals are thrown as
 * ValidationError (issue paths under `input`, as the GraphQL argument names them) or NotFoundError.
 */
export interface TokenService {
  /** The tenant's tokens, newest first (never their secrets); revoked ones only with `includeRevoked`. */
  list(tenantId: string, options?: { includeRevoked?: boolean }): Promise<ApiTokenRecord[]>;
  /**
   * Creates a token in the actor's tenant (another tenant is refused: tenants are bootstrapped from the
   * console) and returns its secret, once. Audited as `apiToken.create` in the same transaction.
   */
  create(actor: Actor, request: ApiTokenRequest): Promise<{ token: string; apiToken: ApiTokenRecord }>;
  /**
   * Revokes a token of the actor's tenant (audited as `apiToken.revoke`, atomically; a revoked token is
   * returned unchanged) and announces it, so its open subscriptions end on every instance.
   */
  revoke(actor: Actor, id: string): Promise<ApiTokenRecord>;
}

export function createTokenService(options: { prisma: PrismaClient; bus: EventBus }): TokenService {
  const { prisma, bus } = options;

  return {
    list: (tenantId, listOptions = {}) => listApiTokens(prisma, tenantId, listOptions),

    async create(actor, request) {
      const own = actor.tenantId;
      const input: CreateApiTokenInput = { name: request.name, role: request.role, tenantId: request.tenantId ?? own, expiresAt: request.expiresAt ?? null };
      const issues = validateApiTokenInput(input).map((i) => ({ ...i, path: ['input', ...i.path] }));
      // Admins are admins of their own tenant only; tenants are created from the console (CLI).
      if (input.tenantId !== own && issues.every((i) => i.path[1] !== 'tenantId')) {
        issues.push({
          path: ['input', 'tenantId'],
          code: 'OTHER_TENANT',
          message: 'tokens can only be created in your own tenant; use the CLI (npm run token) to bootstrap another tenant',
        });
      }
      if (issues.length > 0) throw new ValidationError('invalid API token request', issues);
      const created = await createApiToken(prisma, input, actor);
      return { token: created.token, apiToken: created.apiToken };
    },

    async revoke(actor, id) {
      const result = await revokeApiToken(prisma, actor.tenantId, id, () => actor);
      if (!result) throw new NotFoundError('ApiToken', id);
      bus.publish('tokenRevoked', { tokenId: result.apiToken.id, tenantId: result.apiToken.tenantId, at: Date.now() });
      return result.apiToken;
    },
  };
}
