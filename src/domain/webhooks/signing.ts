/**
 * Signing and verifying outbound webhooks in the Standard Webhooks format (docs/outbox.md "Signing").
 * Pure: no clocks (the caller passes `nowSeconds`), no randomness, no I/O; node:crypto for HMAC only.
 *
 *   webhook-id:        the event id (stable across retries: the receiver's idempotency key)
 *   webhook-timestamp: integer Unix seconds of THIS attempt (a retry carries a new one)
 *   webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")> [space v1,<…> …]
 *
 * Why these choices:
 *
 * - Secrets are shown to users as `whsec_<base64 of the raw key>`; the HMAC key is the decoded bytes,
 *   not the string. Keys are 24–64 random bytes (the format's bounds); Doppel generates 32.
 * - The id and the timestamp are signed with the body, so a captured request cannot be replayed with
 *   a fresh timestamp or under another id. Neither may contain a `.`, or "{id}.{ts}.{body}" would be
 *   ambiguous: ids are refused here rather than trusted.
 * - During a rotation overlap every active secret signs, and the header carries all signatures,
 *   space-separated; a receiver accepts the request when any one of them matches a secret it knows.
 * - Verification compares in constant time (timingSafeEqual on equal-length digests) so a receiver is
 *   never a timing oracle for forging a signature, and refuses timestamps outside a tolerance
 *   (default 5 minutes either way) so old captures cannot be replayed.
 * - The body is signed and verified as the exact bytes sent: a receiver that parses and re-serializes
 *   the JSON before verifying will fail, so `verifyWebhook` takes the raw body.
 *
 * Failures are values with a stable `reason`, never exceptions, so a receiver can answer 400/401 and
 * count them.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
/** The only symmetric signature scheme of the format. Other identifiers (e.g. `v1a`) are skipped. */
export const SIGNATURE_VERSION = 'v1';
export const MIN_SECRET_BYTES = 24;
export const MAX_SECRET_BYTES = 64;
/** Size of the keys Doppel generates. */
export const GENERATED_SECRET_BYTES = 32;
/** How far a `webhook-timestamp` may be from the receiver's clock, either way, by default. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

export const WEBHOOK_HEADERS = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** A decoded signing key. Opaque so a `whsec_…` string is never used as the raw key by mistake. */
export interface SigningKey {
  readonly bytes: Buffer;
}

export type SecretError = { ok: false; reason: 'INVALID_SECRET'; message: string };

/** ids and timestamps go between the dots of the signed content: no dots, no whitespace, no controls. */
const MESSAGE_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;

export function isValidMessageId(id: unknown): id is string {
  return typeof id === 'string' && MESSAGE_ID_PATTERN.test(id);
}

/**
 * A new secret for an endpoint, as shown once to the admin. The edge passes `crypto.randomBytes`: the
 * randomness stays at the edge, so this module computes and never draws.
 */
export function generateSecret(random: (size: number) => Buffer): string {
  return SECRET_PREFIX + random(GENERATED_SECRET_BYTES).toString('base64');
}

/** Decodes a `whsec_<base64>` secret; refuses other prefixes, bad base64 and keys of the wrong size. */
export function parseSecret(secret: unknown): { ok: true; key: SigningKey } | SecretError {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) {
    return { ok: false, reason: 'INVALID_SECRET', message: `a webhook secret starts with ${SECRET_PREFIX}` };
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  // Buffer.from(…, 'base64') silently skips junk, so the alphabet is checked first.
  if (!BASE64_PATTERN.test(encoded) || encoded.length % 4 !== 0) {
    return { ok: false, reason: 'INVALID_SECRET', message: `the part after ${SECRET_PREFIX} is not base64` };
  }
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES) {
    return { ok: false, reason: 'INVALID_SECRET', message: `a webhook key is ${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} bytes, not ${bytes.length}` };
  }
  return { ok: true, key: { bytes } };
}

/** The content that is signed: "{id}.{timestamp}.{body}". */
export function signedContent(id: string, timestampSeconds: number, body: string): string {
  return `${id}.${timestampSeconds}.${body}`;
}

/** One `v1,<base64>` signature. */
export function signature(key: SigningKey, id: string, timestampSeconds: number, body: string): string {
  const digest = createHmac('sha256', key.bytes)
    .update(signedContent(id, timestampSeconds, body), 'utf8')
    .digest('base64');
  return `${SIGNATURE_VERSION},${digest}`;
}

export type SignError = SecretError | { ok: false; reason: 'INVALID_MESSAGE_ID' | 'INVALID_TIMESTAMP' | 'NO_SECRET'; message: string };

/**
 * The three headers of one attempt. `secrets` are the endpoint's active secrets, newest first (two
 * during a rotation overlap): each one signs, in that order.
 */
export function signWebhook(secrets: readonly string[], id: string, timestampSeconds: number, body: string): { ok: true; headers: WebhookHeaders } | SignError {
  if (!isValidMessageId(id))
    return { ok: false, reason: 'INVALID_MESSAGE_ID', message: `webhook id ${JSON.stringify(id)} is not 1–128 chars of [A-Za-z0-9_-]` };
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    return { ok: false, reason: 'INVALID_TIMESTAMP', message: `webhook timestamp ${timestampSeconds} is not a whole number of seconds` };
  }
  if (secrets.length === 0) return { ok: false, reason: 'NO_SECRET', message: 'an endpoint needs at least one secret to sign with' };
  const signatures: string[] = [];
  for (const secret of secrets) {
    const parsed = parseSecret(secret);
    if (!parsed.ok) return parsed;
    signatures.push(signature(parsed.key, id, timestampSeconds, body));
  }
  return {
    ok: true,
    headers: { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': signatures.join(' ') },
  };
}

export type VerifyReason =
  /** A header is absent or empty. */
  | 'MISSING_HEADER'
  /** `webhook-timestamp` is not an integer. */
  | 'INVALID_TIMESTAMP'
  /** The timestamp is further from now than the tolerance (a replay, or a badly wrong clock). */
  | 'TIMESTAMP_OUT_OF_TOLERANCE'
  /** No `v1` signature in the header matches any of the secrets. */
  | 'NO_MATCHING_SIGNATURE'
  /** None of the receiver's secrets could be parsed. */
  | 'INVALID_SECRET';

export type VerifyResult = { ok: true; id: string; timestampSeconds: number } | { ok: false; reason: VerifyReason; message: string };

export interface VerifyOptions {
  /** The receiver's clock, Unix seconds. */
  nowSeconds: number;
  toleranceSeconds?: number;
}

/** Header lookup that accepts a plain object in any letter case (Node lowercases, fetch's Headers does too). */
function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    const text = Array.isArray(value) ? value.join(' ') : value;
    return text === undefined || text === '' ? undefined : text;
  }
  return undefined;
}

/**
 * Verifies a received webhook: the receiver's recipe (docs/outbox.md "Verifying"). `secret` is one
 * `whsec_…` secret or several (a receiver rotating too); `body` is the raw request body as received.
 */
export function verifyWebhook(
  secret: string | readonly string[],
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: string,
  options: VerifyOptions,
): VerifyResult {
  const id = header(headers, WEBHOOK_HEADERS.id);
  const timestamp = header(headers, WEBHOOK_HEADERS.timestamp);
  const signatures = header(headers, WEBHOOK_HEADERS.signature);
  if (id === undefined || timestamp === undefined || signatures === undefined) {
    return { ok: false, reason: 'MISSING_HEADER', message: 'webhook-id, webhook-timestamp and webhook-signature are all required' };
  }
  if (!/^\d{1,15}$/.test(timestamp)) return { ok: false, reason: 'INVALID_TIMESTAMP', message: 'webhook-timestamp is not a whole number of seconds' };
  const timestampSeconds = Number(timestamp);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(options.nowSeconds - timestampSeconds) > tolerance) {
    return { ok: false, reason: 'TIMESTAMP_OUT_OF_TOLERANCE', message: `webhook-timestamp is more than ${tolerance} s from now` };
  }
  const keys: SigningKey[] = [];
  for (const s of typeof secret === 'string' ? [secret] : secret) {
    const parsed = parseSecret(s);
    if (parsed.ok) keys.push(parsed.key);
  }
  if (keys.length === 0) return { ok: false, reason: 'INVALID_SECRET', message: 'no usable whsec_ secret to verify with' };

  const received = receivedDigests(signatures);
  for (const key of keys) {
    const expected = Buffer.from(signature(key, id, timestampSeconds, body).slice(SIGNATURE_VERSION.length + 1), 'base64');
    // Every candidate is compared (no early exit on the first mismatch) so timing says nothing about which one failed.
    let matched = false;
    for (const digest of received) {
      if (digest.length === expected.length && timingSafeEqual(digest, expected)) matched = true;
    }
    if (matched) return { ok: true, id, timestampSeconds };
  }
  return { ok: false, reason: 'NO_MATCHING_SIGNATURE', message: 'no v1 signature matches' };
}

/** The decoded digests of the `v1,<base64>` entries of a `webhook-signature` header; other versions are skipped. */
export function receivedDigests(headerValue: string): Buffer[] {
  const digests: Buffer[] = [];
  for (const entry of headerValue.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== SIGNATURE_VERSION) continue;
    const encoded = entry.slice(comma + 1);
    if (!BASE64_PATTERN.test(encoded)) continue;
    digests.push(Buffer.from(encoded, 'base64'));
  }
  return digests;
}
