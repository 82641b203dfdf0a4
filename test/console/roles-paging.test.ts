/**
 * The console's role gates (src/console/app/roles.ts) against the API's authorization, and its paging of
 * the rules list (src/console/app/rules-paging.ts): pages appended by cursor, every read under the cost limit.
 */
import { readFileSync } from 'node:fs';
import { buildSchema, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { ConsoleRuleListDocument } from '../../src/console/app/gql/graphql.ts';
import { may, NEEDS, needsRoleMessage } from '../../src/console/app/roles.ts';
import { firstRead, nextPageVariables, RULES_PAGE_SIZE, withPage, type Page, type Paged } from '../../src/console/app/rules-paging.ts';
import { operationCost } from '../../src/security/query-cost.ts';

describe('may', () => {
  it('follows the role hierarchy: viewers read, operators also act, admins also manage', () => {
    expect(may('VIEWER', 'editRules')).toBe(false);
    expect(may('VIEWER', 'sendCommands')).toBe(false);
    expect(may('VIEWER', 'controlAlarms')).toBe(false);
    expect(may('OPERATOR', 'editRules')).toBe(true);
    expect(may('OPERATOR', 'editDesired')).toBe(true);
    expect(may('OPERATOR', 'manageTokens')).toBe(false);
    for (const ability of Object.keys(NEEDS) as Array<keyof typeof NEEDS>) expect(may('ADMIN', ability)).toBe(true);
  });

  it('offers nothing beyond reading while the role is unknown', () => {
    for (const ability of Object.keys(NEEDS) as Array<keyof typeof NEEDS>) expect(may(null, ability)).toBe(false);
  });

  it('names the role a refused page needs', () => {
    expect(needsRoleMessage('ADMIN')).toBe("This page needs the admin role; this token's role does not allow it.");
    expect(needsRoleMessage('OPERATOR', 'Sending commands')).toContain('Sending commands needs the operator role');
  });
});

interface Row {
  ruleId: string;
  name: string;
}

const page = (ids: string[], totalCount: number, endCursor: string | null): Page<Row> => ({
  totalCount,
  edges: ids.map((ruleId) => ({ node: { ruleId, name: `rule ${ruleId}` } })),
  pageInfo: { hasNextPage: endCursor !== null, endCursor },
});
const key = (row: Row) => row.ruleId;

describe('withPage / nextPageVariables', () => {
  it('starts with a first page and asks for the next one after its end cursor', () => {
    const state = withPage(null, page(['a', 'b'], 5, 'c1'), key);
    expect(state).toEqual({
      items: [
        { ruleId: 'a', name: 'rule a' },
        { ruleId: 'b', name: 'rule b' },
      ],
      totalCount: 5,
      nextCursor: 'c1',
    });
    expect(nextPageVariables(state)).toEqual({ first: RULES_PAGE_SIZE, after: 'c1' });
    expect(firstRead).toEqual({ first: RULES_PAGE_SIZE });
  });

  it('appends pages in order until the last, then has nothing more to read', () => {
    let state: Paged<Row> = withPage(null, page(['a', 'b'], 5, 'c1'), key);
    state = withPage(state, page(['c', 'd'], 5, 'c2'), key);
    state = withPage(state, page(['e'], 5, null), key);
    expect(state.items.map(key)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(state.nextCursor).toBeNull();
    expect(nextPageVariables(state)).toBeNull();
  });

  it('keeps one row per rule when a rule shows up on two pages, with the newer data in its old place', () => {
    let state = withPage(null, page(['a', 'b'], 3, 'c1'), key);
    state = withPage(
      state,
      { ...page(['b', 'c'], 3, null), edges: [{ node: { ruleId: 'b', name: 'renamed' } }, { node: { ruleId: 'c', name: 'rule c' } }] },
      key,
    );
    expect(state.items).toEqual([
      { ruleId: 'a', name: 'rule a' },
      { ruleId: 'b', name: 'renamed' },
      { ruleId: 'c', name: 'rule c' },
    ]);
  });

  it('starts over when given no state (a re-read after a reconnect or an action)', () => {
    const state = withPage(null, page(['x'], 1, null), key);
    expect(state).toEqual({ items: [{ ruleId: 'x', name: 'rule x' }], totalCount: 1, nextCursor: null });
  });

  it('treats a page that says it has more but gives no cursor as the last (never loops on the same page)', () => {
    const state = withPage(null, { totalCount: 9, edges: [], pageInfo: { hasNextPage: true, endCursor: null } }, key);
    expect(nextPageVariables(state)).toBeNull();
  });
});

describe('the rules list query', () => {
  const schema = buildSchema(readFileSync('schema.graphql', 'utf8'));
  const cost = (variables: Record<string, unknown>) => operationCost(schema, parse(ConsoleRuleListDocument.toString()), undefined, variables);

  it('costs well under the default limit of 10,000 for the first page and every later one', () => {
    expect(cost(firstRead)).toBeLessThan(10_000 / 2);
    expect(cost({ first: RULES_PAGE_SIZE, after: 'cursor' })).toBe(cost(firstRead));
  });
});
