/**
 * What the console offers to a token of each role, mirroring the API's authorization (docs/security.md
 * "Access control"): viewers read, operators also change desired state, send commands and edit rules,
 * admins also manage devices, API tokens and provisioning policies, and read the audit log. Hiding is a courtesy only: the API refuses the rest with
 * FORBIDDEN whatever the console shows.
 */
import type { Role } from './gql/graphql.ts';

export type { Role };

const RANK: Readonly<Record<Role, number>> = { VIEWER: 1, OPERATOR: 2, ADMIN: 3 };

/** The lowest role for each thing the console lets a user do. */
export const NEEDS = {
  editRules: 'OPERATOR',
  sendCommands: 'OPERATOR',
  editDesired: 'OPERATOR',
  controlAlarms: 'OPERATOR',
  manageTokens: 'ADMIN',
  manageDevices: 'ADMIN',
  manageProvisioning: 'ADMIN',
  readAudit: 'ADMIN',
} as const satisfies Record<string, Role>;

export type Ability = keyof typeof NEEDS;

/** Whether `role` may do `ability`; an unknown role (still loading) may do nothing beyond reading. */
export function may(role: Role | null, ability: Ability): boolean {
  return role !== null && RANK[role] >= RANK[NEEDS[ability]];
}

/** What a page (or a part of one, `what`) says instead of its content when the role is too low: names the role it needs. */
export function needsRoleMessage(needed: Role, what = 'This page'): string {
  return `${what} needs the ${needed.toLowerCase()} role; this token's role does not allow it.`;
}
