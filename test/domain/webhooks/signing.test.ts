import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TOLERANCE_SECONDS,
  generateSecret,
  parseSecret,
  receivedDigests,
  signWebhook,
  signedContent,
  verifyWebhook,
  type WebhookHeaders,
} from '../../../src/domain/webhooks/signing.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);

const KEY = Buffer.alloc(32, 7);
const SECRET = `whsec_${KEY.toString('base64')}`;
const OLD_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const ID = 'evt_0123456789abcdef0123456789abcdef';
const TS = 1_800_000_000;
const BODY = '{"id":"evt_0123456789abcdef0123456789abcdef","type":"twin.changed","data":{"a":1}}';

function sign(secrets: string[], id = ID, ts = TS, body = BODY): WebhookHeaders {
  const signed = signWebhook(secrets, id, ts, body);
  if (!signed.ok) throw new Error(signed.message);
  return signed.headers;
}

describe('secrets', () => {
  it('generates whsec_ secrets of 32 random bytes that parse back', () => {
    const secret = generateSecret(() => Buffer.alloc(32, 1));
    expect(secret).toBe(`whsec_${Buffer.alloc(32, 1).toString('base64')}`);
    const parsed = parseSecret(secret);
    expect(parsed.ok && parsed.key.bytes.equals(Buffer.alloc(32, 1))).toBe(true);
    expect(generateSecret(randomBytes)).not.toBe(generateSecret(randomBytes));
    expect(parseSecret(generateSecret(randomBytes)).ok).toBe(true);
  });

  it.each([
    ['no prefix', KEY.toString('base64')],
    ['another prefix', `whsk_${KEY.toString('base64')}`],
    ['not base64', 'whsec_!!!!'],
    ['base64 with junk in it', `whsec_${KEY.toString('base64').slice(0, 20)} ${KEY.toString('base64').slice(20)}`],
    ['bad padding', `whsec_${KEY.toString('base64')}=`],
    ['too short (23 bytes)', `whsec_${Buffer.alloc(23, 1).toString('base64')}`],
    ['too long (65 bytes)', `whsec_${Buffer.alloc(65, 1).toString('base64')}`],
    ['empty', 'whsec_'],
    ['not a string', 42],
  ])('refuses a secret with %s', (_, secret) => {
    const parsed = parseSecret(secret);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toBe('INVALID_SECRET');
  });

  it('accepts keys from 24 to 64 bytes', () => {
    expect(parseSecret(`whsec_${Buffer.alloc(24, 1).toString('base64')}`).ok).toBe(true);
    expect(parseSecret(`whsec_${Buffer.alloc(64, 1).toString('base64')}`).ok).toBe(true);
  });
});

describe('signing', () => {
  it('signs "{id}.{timestamp}.{body}" with HMAC-SHA256 keyed by the decoded secret, as v1,<base64>', () => {
    const headers = sign([SECRET]);
    const expected = createHmac('sha256', KEY).update(`${ID}.${TS}.${BODY}`).digest('base64');
    expect(headers).toEqual({ 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': `v1,${expected}` });
    expect(signedContent(ID, TS, BODY)).toBe(`${ID}.${TS}.${BODY}`);
  });

  it('the key is the decoded bytes, not the whsec_ string', () => {
    const wrong = createHmac('sha256', SECRET).update(`${ID}.${TS}.${BODY}`).digest('base64');
    expect(sign([SECRET])['webhook-signature']).not.toBe(`v1,${wrong}`);
  });

  it('during a rotation overlap sends one signature per secret, space-separated, newest first', () => {
    const both = sign([SECRET, OLD_SECRET])['webhook-signature'].split(' ');
    expect(both).toEqual([sign([SECRET])['webhook-signature'], sign([OLD_SECRET])['webhook-signature']]);
  });

  it('signs body bytes as UTF-8', () => {
    const body = '{"name":"Küche ☕"}';
    const expected = createHmac('sha256', KEY)
      .update(Buffer.from(`${ID}.${TS}.${body}`, 'utf8'))
      .digest('base64');
    expect(sign([SECRET], ID, TS, body)['webhook-signature']).toBe(`v1,${expected}`);
  });

  it.each([
    ['an id with a dot', [SECRET], 'evt.1', TS, 'INVALID_MESSAGE_ID'],
    ['an empty id', [SECRET], '', TS, 'INVALID_MESSAGE_ID'],
    ['an id with a space', [SECRET], 'evt 1', TS, 'INVALID_MESSAGE_ID'],
    ['a fractional timestamp', [SECRET], ID, 1.5, 'INVALID_TIMESTAMP'],
    ['a negative timestamp', [SECRET], ID, -1, 'INVALID_TIMESTAMP'],
    ['no secret', [], ID, TS, 'NO_SECRET'],
    ['a bad secret', [SECRET, 'whsec_x'], ID, TS, 'INVALID_SECRET'],
  ])('refuses %s', (_, secrets, id, ts, reason) => {
    const signed = signWebhook(secrets, id, ts, BODY);
    expect(signed.ok).toBe(false);
    if (!signed.ok) expect(signed.reason).toBe(reason);
  });
});

describe('verifying', () => {
  const at = { nowSeconds: TS };

  it('accepts what was signed', () => {
    expect(verifyWebhook(SECRET, { ...sign([SECRET]) }, BODY, at)).toEqual({ ok: true, id: ID, timestampSeconds: TS });
  });

  it('accepts either signature during a rotation overlap, from a receiver that knows only one secret', () => {
    const headers = { ...sign([SECRET, OLD_SECRET]) };
    expect(verifyWebhook(SECRET, headers, BODY, at).ok).toBe(true);
    expect(verifyWebhook(OLD_SECRET, headers, BODY, at).ok).toBe(true);
    expect(verifyWebhook([OLD_SECRET, SECRET], { ...sign([SECRET]) }, BODY, at).ok).toBe(true);
  });

  it('is case-insensitive about header names and takes array values', () => {
    const h = sign([SECRET]);
    const headers = { 'Webhook-Id': h['webhook-id'], 'WEBHOOK-TIMESTAMP': [h['webhook-timestamp']], 'webhook-Signature': h['webhook-signature'] };
    expect(verifyWebhook(SECRET, headers, BODY, at).ok).toBe(true);
  });

  it('skips signatures of other versions and malformed entries', () => {
    const h = sign([SECRET]);
    const headers = { ...h, 'webhook-signature': `v1a,AAAA v2,${h['webhook-signature'].slice(3)} v1 v1,!!! ${h['webhook-signature']}` };
    expect(verifyWebhook(SECRET, headers, BODY, at).ok).toBe(true);
    expect(receivedDigests(headers['webhook-signature'])).toHaveLength(1);
  });

  it.each([
    ['a changed body', (h: WebhookHeaders) => h, `${BODY} `],
    ['a changed id', (h: WebhookHeaders) => ({ ...h, 'webhook-id': 'evt_other' }), BODY],
    ['a changed timestamp', (h: WebhookHeaders) => ({ ...h, 'webhook-timestamp': String(TS + 1) }), BODY],
    ['a truncated signature', (h: WebhookHeaders) => ({ ...h, 'webhook-signature': h['webhook-signature'].slice(0, -4) }), BODY],
    ['only a v1a signature', (h: WebhookHeaders) => ({ ...h, 'webhook-signature': h['webhook-signature'].replace('v1,', 'v1a,') }), BODY],
  ])('refuses %s', (_, change, body) => {
    const result = verifyWebhook(SECRET, { ...change(sign([SECRET])) }, body, at);
    expect(result).toMatchObject({ ok: false, reason: 'NO_MATCHING_SIGNATURE' });
  });

  it('refuses a request signed with another secret', () => {
    expect(verifyWebhook(OLD_SECRET, { ...sign([SECRET]) }, BODY, at)).toMatchObject({ ok: false, reason: 'NO_MATCHING_SIGNATURE' });
  });

  it('refuses a timestamp outside the tolerance, either way, and accepts its edge', () => {
    const headers = { ...sign([SECRET]) };
    const tol = DEFAULT_TOLERANCE_SECONDS;
    expect(verifyWebhook(SECRET, headers, BODY, { nowSeconds: TS + tol }).ok).toBe(true);
    expect(verifyWebhook(SECRET, headers, BODY, { nowSeconds: TS - tol }).ok).toBe(true);
    expect(verifyWebhook(SECRET, headers, BODY, { nowSeconds: TS + tol + 1 })).toMatchObject({ ok: false, reason: 'TIMESTAMP_OUT_OF_TOLERANCE' });
    expect(verifyWebhook(SECRET, headers, BODY, { nowSeconds: TS - tol - 1 })).toMatchObject({ ok: false, reason: 'TIMESTAMP_OUT_OF_TOLERANCE' });
    expect(verifyWebhook(SECRET, headers, BODY, { nowSeconds: TS + 10, toleranceSeconds: 5 })).toMatchObject({ ok: false });
  });

  it.each([
    ['no id', { 'webhook-timestamp': String(TS), 'webhook-signature': 'v1,AAAA' }, 'MISSING_HEADER'],
    ['an empty signature', { 'webhook-id': ID, 'webhook-timestamp': String(TS), 'webhook-signature': '' }, 'MISSING_HEADER'],
    ['a non-numeric timestamp', { 'webhook-id': ID, 'webhook-timestamp': '1e9', 'webhook-signature': 'v1,AAAA' }, 'INVALID_TIMESTAMP'],
    ['a negative timestamp', { 'webhook-id': ID, 'webhook-timestamp': '-5', 'webhook-signature': 'v1,AAAA' }, 'INVALID_TIMESTAMP'],
  ])('refuses %s', (_, headers, reason) => {
    expect(verifyWebhook(SECRET, headers, BODY, at)).toMatchObject({ ok: false, reason });
  });

  it('refuses when none of its own secrets parses', () => {
    expect(verifyWebhook(['nope'], { ...sign([SECRET]) }, BODY, at)).toMatchObject({ ok: false, reason: 'INVALID_SECRET' });
  });

  it('property: sign then verify round-trips for any body, id and key; any one-byte change of the body breaks it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 64 }),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
        fc.integer({ min: 0, max: 4_000_000_000 }),
        fc.string({ unit: 'grapheme', maxLength: 200 }),
        (key, id, ts, body) => {
          const secret = `whsec_${Buffer.from(key).toString('base64')}`;
          const headers = { ...sign([secret], id, ts, body) };
          expect(verifyWebhook(secret, headers, body, { nowSeconds: ts }).ok).toBe(true);
          expect(verifyWebhook(secret, headers, `${body}x`, { nowSeconds: ts }).ok).toBe(false);
        },
      ),
      { numRuns },
    );
  });
});
