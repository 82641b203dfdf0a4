/**
 * Every Query, Mutation and Subscription field must declare who may call it (requireRole from
 * src/schema/auth.ts), so a field added later cannot ship unprotected: this test fails for it.
 */
import { buildSchema as buildSdl, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/schema/index.ts';

const ROLE_SCOPES = ['viewer', 'operator', 'admin'];

/** Root fields whose scope-auth declaration is missing or names no role. */
function rootFieldsWithoutAuth(schema: GraphQLSchema): string[] {
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter((t): t is GraphQLObjectType => t != null);
  return roots.flatMap((type) =>
    Object.values(type.getFields())
      .filter((field) => {
        const scopes = (field.extensions as { pothosOptions?: { authScopes?: unknown } } | undefined)?.pothosOptions?.authScopes;
        // A scope function decides at run time; a map must name a role (a tenant scope alone lets every role in).
        if (typeof scopes === 'function') return false;
        return !scopes || typeof scopes !== 'object' || !Object.keys(scopes).some((k) => ROLE_SCOPES.includes(k) || k === '$any' || k === '$all');
      })
      .map((field) => `${type.name}.${field.name}`),
  );
}

describe('root field authorization', () => {
  it('every root field of the schema declares its required role', () => {
    const schema = buildSchema();
    expect(rootFieldsWithoutAuth(schema)).toEqual([]);
    // Sanity: the walk saw the fields it is meant to guard.
    const count = [schema.getQueryType()!, schema.getMutationType()!, schema.getSubscriptionType()!].reduce((n, t) => n + Object.keys(t.getFields()).length, 0);
    expect(count).toBeGreaterThanOrEqual(15);
  });

  it('would catch a field without a declaration', () => {
    const unguarded = buildSdl(`type Query { a: Int } type Mutation { b: Int } type Subscription { c: Int }`);
    expect(rootFieldsWithoutAuth(unguarded)).toEqual(['Query.a', 'Mutation.b', 'Subscription.c']);
  });
});
