import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin, { AuthScopeFailureType, type AuthFailure } from '@pothos/plugin-scope-auth';
import { createGraphQLError } from 'graphql-yoga';
import { hasRole, type Role } from './domain/principal.ts';
import type { GraphQLContext } from './context.ts';
import type PrismaTypes from './generated/pothos-prisma-types.ts';
import { getDatamodel } from './generated/pothos-prisma-types.ts';
import type { JsonValue } from './domain/twin.ts';

/**
 * The schema builder. It defines no types (those live in src/schema/<domain>.ts) and opens no
 * connection: the Prisma client comes from each request's context.
 */
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  Scalars: {
    JSON: { Input: JsonValue; Output: unknown };
    DateTime: { Input: Date; Output: Date | string };
  };
  DefaultFieldNullability: false;
  AuthScopes: {
    viewer: boolean;
    operator: boolean;
    admin: boolean;
    /** The object belongs to this tenant; granted only when it is the caller's. */
    tenant: string;
  };
}>({
  defaultFieldNullability: false,
  // Scope-auth first, so it wraps every other plugin's resolver: a refused field never runs its resolver.
  plugins: [ScopeAuthPlugin, ErrorsPlugin, PrismaPlugin, RelayPlugin],
  scopeAuth: {
    // Subscriptions are refused when they start, not silently on every event.
    authorizeOnSubscribe: true,
    // Role hierarchy: admin ⊃ operator ⊃ viewer. The principal was authenticated before the context existed.
    authScopes: (ctx) => ({
      viewer: hasRole(ctx.principal, 'viewer'),
      operator: hasRole(ctx.principal, 'operator'),
      admin: hasRole(ctx.principal, 'admin'),
      tenant: (tenantId) => tenantId === ctx.principal.tenantId,
    }),
    unauthorizedError: (_parent, ctx, info, result) => forbidden(`${info.parentType.name}.${info.fieldName}`, result.failure, ctx.principal.role),
  },
  prisma: {
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // The lookups themselves are tenant-scoped (each node type's findUnique); these declare the role.
    nodeQueryOptions: { authScopes: { viewer: true } },
    nodesQueryOptions: { authScopes: { viewer: true } },
  },
  errors: {
    directResult: true,
    // updateDesired → UpdateDesiredResult: short, stable union names for clients.
    defaultUnionOptions: {
      name: ({ fieldName }) => `${fieldName.charAt(0).toUpperCase()}${fieldName.slice(1)}Result`,
    },
  },
});

/** Scopes the failure names (the roles and tenants that were missing). */
function missingScopes(failure: AuthFailure): string[] {
  switch (failure.kind) {
    case AuthScopeFailureType.AuthScope:
      return [failure.scope];
    case AuthScopeFailureType.AnyAuthScopes:
    case AuthScopeFailureType.AllAuthScopes:
      return failure.failures.flatMap(missingScopes);
    default:
      return [];
  }
}

/**
 * A refusal by scope-auth: a GraphQL error with code FORBIDDEN (built by Yoga's graphql instance, so it
 * is not masked). The field's value is null and, for non-null fields, so is its parent's.
 */
function forbidden(field: string, failure: AuthFailure, role: Role): Error {
  const missing = missingScopes(failure);
  const roles = missing.filter((s) => s === 'viewer' || s === 'operator' || s === 'admin');
  const message =
    roles.length > 0
      ? `Forbidden: ${field} needs the ${roles.join(' or ')} role; this token has ${role}`
      : missing.includes('tenant')
        ? `Forbidden: ${field} belongs to another tenant`
        : `Forbidden: ${field}`;
  return createGraphQLError(message, { extensions: { code: 'FORBIDDEN' } });
}
