import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PrismaClient } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { generateSecret, hashSecret } from '../security/secrets.ts';
import { auditEventData } from '../services/audit.ts';
import { ROLES, systemActor, type Actor, type Principal, type Role } from '../domain/principal.ts';
import { isUuid, isValidTenantId } from '../domain/ids.ts';
import type { FieldIssue } from '../domain/errors.ts';




const TOKEN_PREFIX = 'dpl_';


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
export async function createApiToken(
  prisma: PrismaClient,
  input: CreateApiTokenInput,
  actor: Actor = systemActor(input.tenantId, 'system'),
) {
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
      data: auditEventData({ ...actor(row.tenantId), tenantId: row.tenantId, action: 'apiToken.revoke', target: `apiToken:${id}`, details: { name: row.name, role: row.role } }),
      select: { id: true },
    });
    return { apiToken: updated, changed: true };
  });
}

/** Resolves a bearer token to its principal, or null when unknown, revoked or expired. */
export async function resolveApiToken(prisma: PrismaClient, token: string): Promise<Principal | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const row = await prisma.apiToken.findUnique({ where: { tokenHash: hashSecret(token) } });
  if (!row || row.revokedAt) return null;
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return null;
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) await touchLastUsed(prisma, row.id);
  const role = (ROLES as readonly string[]).includes(row.role) ? (row.role as Role) : 'viewer';
  return { tokenId: row.id, tenantId: row.tenantId, role, name: row.name, expiresAt: row.expiresAt };
}

/** `lastUsedAt` moves at most this often per token: a write per request would cost more than it tells. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Records that a token authenticated a request or connection. Guarded, so concurrent requests (of
 * this instance or another) write once per resolution; a failure never fails the authentication.
 */
async function touchLastUsed(prisma: PrismaClient, id: string): Promise<void> {
  try {
    await prisma.apiToken.updateMany({
      where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(Date.now() - LAST_USED_RESOLUTION_MS) } }] },
      data: { lastUsedAt: new Date() },
    });
  } catch {
    // Best effort: the token is valid whether or not its last use could be recorded.
  }
}

/** Extracts the token from an `Authorization: Bearer …` value. */
export function parseBearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * Secure by default: on first start of the embedded mode, when no API token exists, create an admin
 * token and write it to a 0600 file under the data directory. Only its hash goes into the database;
 * the log says where the file is, never the token itself.
 */
export async function bootstrapAdminToken(
  prisma: PrismaClient,
  dataDir: string,
  logger: Logger,
): Promise<{ created: boolean; file: string }> {
  const file = path.resolve(dataDir, 'admin-token');
  const count = await prisma.apiToken.count();
  if (count > 0) return { created: false, file };
  const { token } = await createApiToken(prisma, { name: 'bootstrap admin', role: 'admin', tenantId: 'default' }, systemActor('default', 'bootstrap'));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  logger.warn({ file }, `created the first admin API token; it is in ${file} (mode 0600). Use it as "Authorization: Bearer <token>".`);
  return { created: true, file };
}
