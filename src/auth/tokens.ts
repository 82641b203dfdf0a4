/**
 * API tokens as credentials: turning a presented bearer token into a principal, and the bootstrap
 * admin token of a fresh embedded install. The token records (create, list, revoke, each audited) are
 * the token service's (src/services/tokens.ts), re-exported here for the console and scripts.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { PrismaClient } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { hashSecret } from '../security/secrets.ts';
import { createApiToken, TOKEN_PREFIX } from '../services/tokens.ts';
import { ROLES, systemActor, type Principal, type Role } from '../domain/principal.ts';

export { createApiToken, listApiTokens, revokeApiToken, validateApiTokenInput, type CreateApiTokenInput } from '../services/tokens.ts';

/** Resolves a bearer token to its principal, or null when unknown, revoked or expired (one database read). */
export async function resolveApiToken(prisma: PrismaClient, token: string): Promise<Principal | null> {
  if (!isTokenShaped(token)) return null;
  return (await verifyApiToken(prisma, hashSecret(token)))?.principal ?? null;
}

/** What a token must look like to be looked up at all: anything else is refused without hashing. */
export function isTokenShaped(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX) && token.length <= 200;
}

/** A token found valid in the database, as of `verifiedAt` (ms). */
export interface VerifiedToken {
  principal: Principal;
  verifiedAt: number;
  /** When `lastUsedAt` was last written (ms; 0 = never), so a cache can keep it moving. */
  lastUsedAt: number;
}

/**
 * Looks a token up by its hash: the principal when it exists, is not revoked and not expired; null
 * otherwise. Records the use (`lastUsedAt`, at most once per LAST_USED_RESOLUTION_MS).
 */
export async function verifyApiToken(prisma: PrismaClient, tokenHash: string): Promise<VerifiedToken | null> {
  const verifiedAt = Date.now();
  const row = await prisma.apiToken.findUnique({ where: { tokenHash } });
  if (!row || row.revokedAt) return null;
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return null;
  let lastUsedAt = row.lastUsedAt?.getTime() ?? 0;
  if (Date.now() - lastUsedAt >= LAST_USED_RESOLUTION_MS) {
    await touchLastUsed(prisma, row.id);
    lastUsedAt = Date.now();
  }
  const role = (ROLES as readonly string[]).includes(row.role) ? (row.role as Role) : 'viewer';
  return { principal: { tokenId: row.id, tenantId: row.tenantId, role, name: row.name, expiresAt: row.expiresAt }, verifiedAt, lastUsedAt };
}

/** `lastUsedAt` moves at most this often per token: a write per request would cost more than it tells. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Records that a token authenticated a request or connection. Guarded, so concurrent requests (of
 * this instance or another) write once per resolution; a failure never fails the authentication.
 */
export async function touchLastUsed(prisma: PrismaClient, id: string): Promise<void> {
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
export async function bootstrapAdminToken(prisma: PrismaClient, dataDir: string, logger: Logger): Promise<{ created: boolean; file: string }> {
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
