/**
 * Role checks for resolvers: one call at the top of each guarded field, so they convert one-to-one to
 * Pothos scope-auth (`authScopes: { role: 'operator' }`) when that lands. Roles are ordered:
 * admin ⊇ operator ⊇ viewer.
 */
import { createGraphQLError } from 'graphql-yoga';
import type { Role } from '../auth/tokens.ts';
import type { GraphQLContext } from '../context.ts';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Throws FORBIDDEN unless the caller's role is at least `role`. */
export function requireRole(ctx: GraphQLContext, role: Role): void {
  if (RANK[ctx.principal.role] >= RANK[role]) return;
  throw createGraphQLError(`this operation needs the ${role} role (the token has ${ctx.principal.role})`, { extensions: { code: 'FORBIDDEN' } });
}
