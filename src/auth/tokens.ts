import fs from 'node:fs';
import path from 'node:path';
import type { PrismaClient } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { generateSecret, hashSecret } from '../security/secrets.ts';

export type Role = 'admin' | 'operator' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

/** Who is calling: resolved once per request / WebSocket connection from the bearer token. */
export interface Principal {
  tokenId: string;
  tenantId: string;
  role: Role;
  name: string;
}

const TOKEN_PREFIX = 'dpl_';

export async function createApiToken(
  prisma: PrismaClient,
  input: { name: string; role: Role; tenantId: string },
): Promise<{ id: string; token: string }> {
  const token = generateSecret(TOKEN_PREFIX);
  const row = await prisma.apiToken.create({
    data: { name: input.name, role: input.role, tenantId: input.tenantId, tokenHash: hashSecret(token) },
  });
  return { id: row.id, token };
}

/** Resolves a bearer token to its principal, or null when unknown or revoked. */
export async function resolveApiToken(prisma: PrismaClient, token: string): Promise<Principal | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const row = await prisma.apiToken.findUnique({ where: { tokenHash: hashSecret(token) } });
  if (!row || row.revokedAt) return null;
  const role = (ROLES as readonly string[]).includes(row.role) ? (row.role as Role) : 'viewer';
  return { tokenId: row.id, tenantId: row.tenantId, role, name: row.name };
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
  const { token } = await createApiToken(prisma, { name: 'bootstrap admin', role: 'admin', tenantId: 'default' });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  logger.warn({ file }, `created the first admin API token; it is in ${file} (mode 0600). Use it as "Authorization: Bearer <token>".`);
  return { created: true, file };
}
