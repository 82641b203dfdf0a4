import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WEBHOOK_KEY_FILE } from '../../../src/security/webhook-key.ts';
import { lazySecretSealer } from '../../../src/services/webhooks/sealer.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('lazySecretSealer', () => {
  it('creates no key file until a secret is sealed, then seals and opens with the one key file', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-sealer-'));
    dirs.push(dataDir);
    const sealer = lazySecretSealer({ dataDir, webhooks: { secretKey: undefined } });
    expect(fs.existsSync(path.join(dataDir, WEBHOOK_KEY_FILE))).toBe(false);
    const sealed = sealer.seal('endpoint-a', 'whsec_x');
    expect(fs.existsSync(path.join(dataDir, WEBHOOK_KEY_FILE))).toBe(true);
    // Another instance on the same data directory opens it; another endpoint id does not.
    const other = lazySecretSealer({ dataDir, webhooks: { secretKey: undefined } });
    expect(other.open('endpoint-a', sealed)).toBe('whsec_x');
    expect(other.open('endpoint-b', sealed)).toBeUndefined();
  });

  it('uses WEBHOOK_SECRET_KEY when set, and never touches the data directory', () => {
    const dataDir = path.join(os.tmpdir(), `doppel-sealer-absent-${process.pid}`);
    const key = Buffer.alloc(32, 7);
    const sealer = lazySecretSealer({ dataDir, webhooks: { secretKey: key } });
    expect(sealer.open('e', sealer.seal('e', 'whsec_y'))).toBe('whsec_y');
    expect(lazySecretSealer({ dataDir, webhooks: { secretKey: Buffer.alloc(32, 8) } }).open('e', sealer.seal('e', 'whsec_y'))).toBeUndefined();
    expect(fs.existsSync(dataDir)).toBe(false);
  });
});
