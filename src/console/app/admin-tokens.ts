/** Pure rules of the API tokens admin page (src/console/app/admin-tokens-page.tsx), unit-tested in test/console/admin-logic.test.ts. */
import { ApiError } from './errors.ts';

/** True when the API refused the caller's role: the page then says so in words instead of showing an empty table. */
export function isForbidden(error: unknown): boolean {
  return error instanceof ApiError && error.details.some((detail) => detail.code === 'FORBIDDEN');
}

export interface TokenRow {
  id: string;
  name: string;
  role: string;
  expiresAt?: string | null;
  revokedAt?: string | null;
}

/** What a token is now, as shown in the table: revoked wins over expired, since revocation is final. */
export function tokenState(token: TokenRow, now: Date): 'revoked' | 'expired' | 'active' {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && Date.parse(token.expiresAt) <= now.getTime()) return 'expired';
  return 'active';
}

export type NewTokenCheck = { ok: true; name: string; expiresAt?: string } | { ok: false; field: 'name' | 'expiresAt'; message: string };

/** Checks the create form before sending, with the server's own limits (1–100 characters; expiry in the future). */
export function checkNewToken(name: string, expiresAtLocal: string, now: Date): NewTokenCheck {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > 100) return { ok: false, field: 'name', message: 'A name of 1 to 100 characters is required.' };
  if (expiresAtLocal === '') return { ok: true, name: trimmed };
  const expires = new Date(expiresAtLocal);
  if (Number.isNaN(expires.getTime())) return { ok: false, field: 'expiresAt', message: 'The expiry is not a valid date.' };
  if (expires.getTime() <= now.getTime()) return { ok: false, field: 'expiresAt', message: 'The expiry must be in the future.' };
  return { ok: true, name: trimmed, expiresAt: expires.toISOString() };
}
