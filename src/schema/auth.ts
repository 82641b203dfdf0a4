import type { Role } from '../domain/principal.ts';

/**
 * The one authorization helper for fields: spread it into every Query, Mutation and Subscription field,
 *
 *   t.field({ ...requireRole('operator'), type: …, resolve: … })
 *
 * Roles are a hierarchy (admin ⊃ operator ⊃ viewer), so name the lowest role that may use the field:
 * viewer reads, operator also changes desired state and sends commands, admin also manages devices,
 * models, tokens and reads the audit log. test/schema/root-field-auth.test.ts fails for any root field
 * without a declaration. Tenant isolation is not a scope on root fields: every resolver filters by
 * `ctx.principal.tenantId`, and Device / DeviceModel objects additionally check their tenant.
 */
export function requireRole<R extends Role>(role: R): { authScopes: { [K in R]: true } } {
  return { authScopes: { [role]: true } as { [K in R]: true } };
}
