/**
 * Who acts: API callers (a token's principal with its role and tenant), devices and Doppel itself. Roles
 * and tenants are carried on the principal; authorization reads nothing else. Services take an
 * `Actor` and record it in the audit log and the twin change log.
 */

export type Role = 'admin' | 'operator' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

/** Who is calling: resolved once per request / WebSocket connection from the bearer token. */
export interface Principal {
  tokenId: string;
  tenantId: string;
  role: Role;
  name: string;
  /** When the token stops working, if it expires. */
  expiresAt: Date | null;
}

/** Role hierarchy: each role may do everything the ones below it may. */
export const ROLE_RANK: Readonly<Record<Role, number>> = { viewer: 1, operator: 2, admin: 3 };

export function hasRole(principal: Pick<Principal, 'role'>, needed: Role): boolean {
  return ROLE_RANK[principal.role] >= ROLE_RANK[needed];
}

/** Who did it. `actor` is "token:<uuid>", "device:<deviceId>" or "system" (bootstrap, CLI). */
export interface Actor {
  tenantId: string;
  actor: string;
  /** The token's name (kept, since the token may be revoked later), or what system part acted. */
  actorName: string | null;
}

/** The actor for an API call: the calling token, in its tenant. */
export function actorOf(principal: Principal): Actor {
  return { tenantId: principal.tenantId, actor: `token:${principal.tokenId}`, actorName: principal.name };
}

/** The actor for actions of Doppel itself or of an operator at the console (`npm run token`). */
export function systemActor(tenantId: string, what: string): Actor {
  return { tenantId, actor: 'system', actorName: what };
}
