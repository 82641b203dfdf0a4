import { createGraphQLError } from 'graphql-yoga';
import { parseBearer } from './tokens.ts';
import type { Principal } from '../domain/principal.ts';

/** Turns a bearer token into its principal: the token cache (src/auth/token-cache.ts) in the server. */
export type TokenResolver = (token: string) => Promise<Principal | null>;

/**
 * The one place that turns a caller's credentials into a principal, for HTTP requests (the
 * `Authorization` header) and WebSocket connections (`connection_init` payload) alike. Roles and
 * tenants are carried on the principal; authorization rules read nothing else.
 */
export async function authenticate(
  resolveToken: TokenResolver,
  credentials: { authorization?: string | null; connectionParams?: Readonly<Record<string, unknown>> | undefined },
): Promise<Principal | null> {
  const fromParams = credentials.connectionParams ? (credentials.connectionParams.authorization ?? credentials.connectionParams.Authorization) : undefined;
  const header = typeof fromParams === 'string' ? fromParams : credentials.authorization;
  const token = parseBearer(header);
  if (!token) return null;
  return resolveToken(token);
}

export function unauthenticated(): Error {
  return createGraphQLError('Missing or invalid API token: send "Authorization: Bearer <token>"', {
    extensions: { code: 'UNAUTHENTICATED', http: { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } } },
  });
}
