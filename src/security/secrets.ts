import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Device secrets and API tokens are 256 random bits, so they cannot be guessed or brute-forced from a
 * leaked hash; a slow password hash (scrypt, argon2) protects low-entropy human passwords and would
 * only cost us CPU on every MQTT connect. A plain SHA-256 of a 256-bit random secret is as strong as
 * the secret itself. The `sha256:` prefix leaves room to change the scheme later.
 */
const SCHEME = 'sha256';

/** A fresh random secret: 32 bytes, base64url (43 chars). */
export function generateSecret(prefix = ''): string {
  return prefix + randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return `${SCHEME}:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function verifySecret(secret: string, stored: string): boolean {
  const expected = Buffer.from(stored, 'utf8');
  const actual = Buffer.from(hashSecret(secret), 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
