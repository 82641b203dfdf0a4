/**
 * The public receiver entry (package.json "exports" "./webhooks" → src/webhooks-verify.ts): importing it
 * by the package's name verifies what Doppel's signer produces, and refuses any tampering.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateSecret } from '../../src/domain/webhooks/signing.ts';
import { randomBytes } from 'node:crypto';
import * as entry from '../../src/webhooks-verify.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  name: string;
  exports: Record<string, { types: string; default: string }>;
};

describe('doppel/webhooks (the receiver entry)', () => {
  it('is declared in package.json exports, types included, and points at this module', () => {
    expect(pkg.exports['./webhooks']).toEqual({ types: './src/webhooks-verify.ts', default: './src/webhooks-verify.ts' });
  });

  it('resolves by the package name (self-reference) to the same module', async () => {
    const byName = (await import(/* @vite-ignore */ `${pkg.name}/webhooks`)) as typeof entry;
    expect(byName.verifyWebhook).toBe(entry.verifyWebhook);
  });

  it('verifies a request signed by signWebhook, and refuses a changed body, id, timestamp, signature or secret', () => {
    const secret = generateSecret(randomBytes);
    const other = generateSecret(randomBytes);
    const now = 1_800_000_000;
    const body = '{"id":"evt_0123456789abcdef0123456789abcdef","type":"webhook.test","data":{}}';
    const signed = entry.signWebhook([secret], 'evt_0123456789abcdef0123456789abcdef', now, body);
    if (!signed.ok) throw new Error(signed.message);
    const headers = { ...signed.headers };
    expect(entry.verifyWebhook(secret, headers, body, { nowSeconds: now + 10 })).toEqual({ ok: true, id: headers['webhook-id'], timestampSeconds: now });
    // Node's IncomingHttpHeaders shape (lower-case keys) and any letter case are accepted.
    expect(
      entry.verifyWebhook(
        secret,
        { 'Webhook-Id': headers['webhook-id'], 'WEBHOOK-TIMESTAMP': headers['webhook-timestamp'], 'webhook-signature': headers['webhook-signature'] },
        body,
        { nowSeconds: now },
      ).ok,
    ).toBe(true);

    const reason = (h: Record<string, string>, b = body, s: string | string[] = secret, nowSeconds = now) => {
      const r = entry.verifyWebhook(s, h, b, { nowSeconds });
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason(headers, body.replace('webhook.test', 'twin.changed'))).toBe('NO_MATCHING_SIGNATURE');
    expect(reason(headers, `${body} `)).toBe('NO_MATCHING_SIGNATURE');
    expect(reason({ ...headers, 'webhook-id': 'evt_ffffffffffffffffffffffffffffffff' })).toBe('NO_MATCHING_SIGNATURE');
    expect(reason({ ...headers, 'webhook-timestamp': String(now + 1) })).toBe('NO_MATCHING_SIGNATURE');
    const sig = headers['webhook-signature'];
    const flipped = sig.slice(0, 3) + (sig[3] === 'A' ? 'B' : 'A') + sig.slice(4);
    expect(reason({ ...headers, 'webhook-signature': flipped })).toBe('NO_MATCHING_SIGNATURE');
    expect(reason(headers, body, other)).toBe('NO_MATCHING_SIGNATURE');
    expect(reason(headers, body, [other, secret])).toBe('ok');
    expect(reason(headers, body, secret, now + entry.DEFAULT_TOLERANCE_SECONDS + 1)).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    const { 'webhook-signature': _dropped, ...unsigned } = headers;
    expect(reason(unsigned)).toBe('MISSING_HEADER');
  });
});
