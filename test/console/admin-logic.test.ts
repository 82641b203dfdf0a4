import { describe, expect, it } from 'vitest';
import { checkNewToken, isForbidden, tokenState } from '../../src/console/app/admin-tokens.ts';
import { ApiError } from '../../src/console/app/errors.ts';

const now = new Date('2026-12-02T12:00:00Z');

describe('admin tokens page logic', () => {
  it('recognises the API refusing the role', () => {
    expect(isForbidden(new ApiError([{ message: 'Forbidden', code: 'FORBIDDEN' }]))).toBe(true);
    expect(isForbidden(new ApiError([{ message: 'Bad', code: 'BAD_USER_INPUT' }]))).toBe(false);
    expect(isForbidden(new Error('FORBIDDEN'))).toBe(false);
  });

  it('states a token as revoked, expired or active', () => {
    expect(tokenState({ id: '1', name: 'a', role: 'ADMIN', revokedAt: '2026-12-01T00:00:00Z', expiresAt: '2026-11-01T00:00:00Z' }, now)).toBe('revoked');
    expect(tokenState({ id: '1', name: 'a', role: 'ADMIN', expiresAt: '2026-12-01T00:00:00Z' }, now)).toBe('expired');
    expect(tokenState({ id: '1', name: 'a', role: 'ADMIN', expiresAt: '2027-01-01T00:00:00Z' }, now)).toBe('active');
    expect(tokenState({ id: '1', name: 'a', role: 'ADMIN' }, now)).toBe('active');
  });

  it('refuses a blank or too long name and a past or invalid expiry, with the field named', () => {
    expect(checkNewToken('   ', '', now)).toMatchObject({ ok: false, field: 'name' });
    expect(checkNewToken('x'.repeat(101), '', now)).toMatchObject({ ok: false, field: 'name' });
    expect(checkNewToken('ci', 'not a date', now)).toMatchObject({ ok: false, field: 'expiresAt' });
    expect(checkNewToken('ci', '2026-01-01T00:00', now)).toMatchObject({ ok: false, field: 'expiresAt' });
  });

  it('accepts a trimmed name with no expiry or a future one', () => {
    expect(checkNewToken(' ci ', '', now)).toEqual({ ok: true, name: 'ci' });
    const withExpiry = checkNewToken('ci', '2027-01-01T00:00:00Z', now);
    expect(withExpiry).toEqual({ ok: true, name: 'ci', expiresAt: '2027-01-01T00:00:00.000Z' });
  });
});
