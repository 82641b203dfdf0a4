/**
 * The outbound event envelope and its body (docs/outbox.md "Envelope"). Pure: no clocks, no I/O.
 *
 *   {"id":"evt_…","type":"twin.changed","occurredAt":"2026-12-02T03:04:05.678Z","tenant":"acme","data":{…}}
 *
 * Why these choices:
 *
 * - `id` is the event's, minted once when the outbox row is written and reused by every attempt: it
 *   is the `webhook-id`, the receiver's idempotency key. `evt_` + the row's uuid without dashes, so it
 *   has no `.` (the signed content is dot-separated, src/domain/webhooks/signing.ts).
 * - `occurredAt` is when the change was committed, not when it is sent: a retry an hour later still
 *   says when the twin changed. The attempt's own time is the `webhook-timestamp` header.
 * - The body is canonical JSON: fixed envelope key order, object keys of `data` sorted at every depth.
 *   `data` is stored as jsonb, which does not keep key order, so without this two attempts of one
 *   event could send different bytes; receivers that hash or diff bodies would see two events.
 * - Event types form a closed union: an endpoint subscribes to names from this list, and a stored
 *   row with any other type is refused (`UNKNOWN_EVENT_TYPE`), not sent.
 * - A body larger than `MAX_BODY_BYTES` is refused rather than truncated: truncated JSON is not JSON.
 *   The writers keep `data` small (thin payloads: ids, the patch, the transition), so only a bug or a
 *   huge twin patch reaches it; the deliverer marks that event FAILED with the reason.
 */
import type { JsonObject, JsonValue } from '../twin.ts';

/**
 * Every event type, in the order the docs list them. Stable names: endpoints store them. `webhook.test`
 * is sent only by `sendTestWebhook`, to one endpoint, whatever it subscribes to.
 */
export const EVENT_TYPES = [
  'twin.changed',
  'device.connected',
  'device.disconnected',
  'device.registered',
  'device.deleted',
  'command.updated',
  'alarm.changed',
  'telemetry.stored',
  'webhook.test',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Types an endpoint may subscribe to. `telemetry.stored` is high volume: subscribed only explicitly, with a device filter. */
export const SUBSCRIBABLE_EVENT_TYPES = EVENT_TYPES.filter((t): t is Exclude<EventType, 'webhook.test'> => t !== 'webhook.test');
/** What a new endpoint subscribes to when the admin names no types. */
export const DEFAULT_EVENT_TYPES: readonly EventType[] = SUBSCRIBABLE_EVENT_TYPES.filter((t) => t !== 'telemetry.stored');

export const MAX_BODY_BYTES = 64 * 1024;

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && (EVENT_TYPES as readonly string[]).includes(value);
}

export interface EventEnvelope {
  id: string;
  type: EventType;
  /** ISO-8601 UTC with milliseconds. */
  occurredAt: string;
  /** The tenant id the event belongs to; an endpoint only ever receives its own tenant's events. */
  tenant: string;
  data: JsonObject;
}

/** What the outbox row holds for one event (the deliverer reads these columns). */
export interface StoredEvent {
  /** The row's event uuid. */
  eventId: string;
  type: string;
  /** Epoch ms. */
  occurredAt: number;
  tenantId: string;
  data: unknown;
}

export type EnvelopeError = {
  ok: false;
  reason: 'UNKNOWN_EVENT_TYPE' | 'INVALID_EVENT_ID' | 'INVALID_TIME' | 'INVALID_DATA' | 'BODY_TOO_LARGE';
  message: string;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `evt_` + the uuid's 32 hex digits, lowercase. */
export function eventIdOf(uuid: string): string | null {
  return UUID.test(uuid) ? `evt_${uuid.replaceAll('-', '').toLowerCase()}` : null;
}

/** The envelope of a stored event, or why it cannot be sent. */
export function buildEnvelope(row: StoredEvent): { ok: true; envelope: EventEnvelope } | EnvelopeError {
  if (!isEventType(row.type)) return { ok: false, reason: 'UNKNOWN_EVENT_TYPE', message: `unknown event type ${JSON.stringify(row.type)}` };
  const id = eventIdOf(row.eventId);
  if (id === null) return { ok: false, reason: 'INVALID_EVENT_ID', message: `event id ${JSON.stringify(row.eventId)} is not a uuid` };
  if (!Number.isFinite(row.occurredAt)) return { ok: false, reason: 'INVALID_TIME', message: 'occurredAt is not a time' };
  const at = new Date(row.occurredAt);
  if (Number.isNaN(at.getTime())) return { ok: false, reason: 'INVALID_TIME', message: 'occurredAt is out of range' };
  if (!isJsonObject(row.data)) return { ok: false, reason: 'INVALID_DATA', message: 'event data is not a JSON object' };
  return { ok: true, envelope: { id, type: row.type, occurredAt: at.toISOString(), tenant: row.tenantId, data: row.data } };
}

/** The exact bytes sent (and signed) for an envelope. Same envelope, same string, whatever the key order of `data`. */
export function envelopeBody(envelope: EventEnvelope): { ok: true; body: string } | EnvelopeError {
  const body =
    `{"id":${JSON.stringify(envelope.id)},"type":${JSON.stringify(envelope.type)},"occurredAt":${JSON.stringify(envelope.occurredAt)},` +
    `"tenant":${JSON.stringify(envelope.tenant)},"data":${canonicalJson(envelope.data)}}`;
  const size = Buffer.byteLength(body, 'utf8');
  if (size > MAX_BODY_BYTES) return { ok: false, reason: 'BODY_TOO_LARGE', message: `the event body is ${size} bytes, more than ${MAX_BODY_BYTES}` };
  return { ok: true, body };
}

/** JSON with object keys sorted (by UTF-16 code unit, as Array.prototype.sort does) at every depth, no whitespace. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(',')}}`;
}

/** A plain JSON object all the way down (what jsonb gives back): no undefined, functions, NaN or class instances. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && isJson(value, 0);
}

const MAX_DEPTH = 64;

function isJson(value: unknown, depth: number): value is JsonValue {
  if (depth > MAX_DEPTH) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((v) => isJson(v, depth + 1));
}

/** Does an endpoint's subscription take this type? `webhook.test` is always taken (it is addressed to the endpoint). */
export function subscribes(subscribed: readonly string[], type: EventType): boolean {
  return type === 'webhook.test' || subscribed.includes(type);
}
