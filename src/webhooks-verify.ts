/**
 * The receiver's side of Doppel webhooks, as a public entry (`doppel/webhooks`, package.json
 * "exports"): verify the signature of a request Doppel sent (docs/webhooks.md "Verifying").
 *
 * Self-contained on purpose: it depends on node:crypto only (through src/domain/webhooks/signing.ts), so
 * a receiver can import it, or copy the two files into a project that does not depend on Doppel.
 *
 *   import { verifyWebhook } from 'doppel/webhooks';
 *   const result = verifyWebhook(process.env.DOPPEL_WEBHOOK_SECRET!, req.headers, rawBody, { nowSeconds: Math.floor(Date.now() / 1000) });
 *   if (!result.ok) return reply(401, result.reason);
 *   // result.id is the event id (webhook-id): skip it when already processed.
 */
export {
  DEFAULT_TOLERANCE_SECONDS,
  SECRET_PREFIX,
  WEBHOOK_HEADERS,
  signWebhook,
  verifyWebhook,
  type SignError,
  type VerifyOptions,
  type VerifyReason,
  type VerifyResult,
  type WebhookHeaders,
} from './domain/webhooks/signing.ts';
