import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSecret, hashSecret, openSecret, parseSealKey, sealSecret, verifySecret } from '../../src/security/secrets.ts';

describe('device secrets', () => {
  it('are 256 random bits, stored as a SHA-256 hash, verified in constant time', () => {
    const secret = generateSecret();
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(generateSecret()).not.toBe(secret);
    const stored = hashSecret(secret);
    expect(stored).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(verifySecret(secret, stored)).toBe(true);
    expect(verifySecret(`${secret}x`, stored)).toBe(false);
    expect(verifySecret(secret, 'sha256:short')).toBe(false);
  });
});

describe('sealed secrets (Mosquitto dynamic-security reconcile)', () => {
  const key = randomBytes(32);
  it('round-trip for their own device and key only', () => {
    const sealed = sealSecret('s3cret', key, 'dev-1');
    expect(sealed).toMatch(/^aes256gcm:/);
    expect(sealed).not.toContain('s3cret');
    expect(sealSecret('s3cret', key, 'dev-1')).not.toBe(sealed); // fresh IV each time
    expect(openSecret(sealed, key, 'dev-1')).toBe('s3cret');
    expect(openSecret(sealed, key, 'dev-2')).toBeUndefined(); // copied onto another device
    expect(openSecret(sealed, randomBytes(32), 'dev-1')).toBeUndefined(); // another key
    const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    expect(openSecret(tampered, key, 'dev-1')).toBeUndefined();
    expect(openSecret('garbage', key, 'dev-1')).toBeUndefined();
    expect(openSecret('aes256gcm:', key, 'dev-1')).toBeUndefined();
  });

  it('keys are exactly 32 bytes, in hex or base64', () => {
    expect(parseSealKey('ab'.repeat(32))).toEqual(Buffer.from('ab'.repeat(32), 'hex'));
    expect(parseSealKey(key.toString('base64'))).toEqual(key);
    expect(parseSealKey('ab'.repeat(16))).toBeUndefined();
    expect(parseSealKey('')).toBeUndefined();
  });
});
