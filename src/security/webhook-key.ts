/**
 * The key that seals webhook signing secrets in the database (WEBHOOK_SECRET_KEY). Doppel must sign
 * with the secret, so it cannot keep only a hash as it does for device secrets; it keeps the secret
 * encrypted (src/security/secrets.ts `sealSecret`) under a key that never enters the database.
 *
 * Unset, the key is generated once into `$DOPPEL_DATA_DIR/webhook-secret.key` (mode 0600) and read from
 * there on every start, so `npm start` works with nothing configured. Several instances must share one
 * key: set WEBHOOK_SECRET_KEY on each (docs/webhooks.md).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { openSecret, parseSealKey, sealSecret } from './secrets.ts';

export const WEBHOOK_KEY_FILE = 'webhook-secret.key';

export interface SecretSealer {
  /** Encrypts `secret` bound to `endpointId` (a sealed secret cannot be moved to another endpoint). */
  seal(endpointId: string, secret: string): string;
  /** The secret, or undefined when the key, the endpoint or the data do not match. */
  open(endpointId: string, sealed: string): string | undefined;
}

/** The configured key, or the one in the data directory's key file, created when missing. */
export function resolveWebhookSecretKey(configured: Buffer | undefined, dataDir: string): Buffer {
  if (configured) return configured;
  const file = path.resolve(dataDir, WEBHOOK_KEY_FILE);
  try {
    const existing = parseSealKey(fs.readFileSync(file, 'utf8'));
    if (!existing) throw new Error(`${file} does not hold a 32-byte key (64 hex characters or base64)`);
    return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const key = randomBytes(32);
  try {
    // 'wx': two processes starting at once on one data directory must not each write their own key.
    fs.writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return resolveWebhookSecretKey(undefined, dataDir);
  }
}

/** Seals and opens endpoint secrets under `key`; the endpoint id is the associated data. */
export function createSecretSealer(key: Buffer): SecretSealer {
  return {
    seal: (endpointId, secret) => sealSecret(secret, key, `webhook:${endpointId}`),
    open: (endpointId, sealed) => openSecret(sealed, key, `webhook:${endpointId}`),
  };
}
