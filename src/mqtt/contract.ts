/**
 * Payloads of device contract v1.1 (docs/device-contract.md), with the validation of what devices send. Pure: the
 * bridge feeds it bytes and publishes what it returns.
 */
import type { JsonObject, JsonValue } from '../domain/twin.ts';
import { isPlainObject, parseTimestamp } from '../domain/twin.ts';
import { parseJsonBounded } from '../domain/json-limits.ts';
import { DomainValidationError, failed, type Failed } from '../domain/errors.ts';

/** `devices/{id}/twin/reported`: a merge patch of the reported state. */
export interface ReportedMessage {
  /** JSON merge patch (RFC 7386) of the reported state; `null` deletes a key. */
  state: JsonObject;
  /** When the device observed this state: epoch ms or ISO-8601. Defaults to receive time. */
  ts?: number | string;
  /**
   * v1.1: the device's own sequence number for its reports, a non-negative safe integer that never goes
   * back over the device's life. Orders reports before `ts` does (docs/twins.md).
   */
  seq?: number;
  /** Echoed in the reply so the device can match it to this message. */
  clientToken?: string;
}

/** `devices/{id}/twin/reported/accepted` */
export interface ReportedAccepted {
  clientToken?: string;
  version: number;
}

/** `devices/{id}/twin/reported/rejected` and `…/twin/get/rejected` */
export interface Rejected {
  clientToken?: string;
  /** Stable code, e.g. MALFORMED_JSON, NOT_AN_OBJECT, TOO_DEEP, INVALID_KEY, TOO_LARGE. */
  code: string;
  message: string;
  /** Path of the offending key inside `state`, when there is one. */
  path?: string[];
  /** Every failing path, when there are several (a reported state that breaks the model's schema). */
  errors?: Array<{ path: string[]; code: string; message: string }>;
}

/** `devices/{id}/twin/get` */
export interface GetRequest {
  clientToken?: string;
}

/** `devices/{id}/twin/get/accepted` */
export interface GetAccepted {
  clientToken?: string;
  version: number;
  reported: JsonObject;
  desired: JsonObject;
  delta: JsonObject;
}

/** `devices/{id}/twin/delta` (retained) */
export interface DeltaMessage {
  version: number;
  delta: JsonObject;
}

/** `devices/{id}/status` (retained, also the Last Will): the bare word, not JSON. */
export type StatusWord = 'online' | 'offline';

/** A message that breaks the contract: its code, where, and the client token to answer with when the message had a valid one. */
export class ContractError extends DomainValidationError<string> {
  constructor(
    code: string,
    message: string,
    path: string[] = [],
    readonly clientToken?: string,
  ) {
    super(code, message, path);
  }
}

export type Parsed<T> = { ok: true; value: T } | Failed<ContractError>;

function refuse(code: string, message: string, path: string[] = [], clientToken?: string): Failed<ContractError> {
  return failed(new ContractError(code, message, path, clientToken));
}

export interface PayloadLimits {
  maxBytes: number;
  maxDepth: number;
  /** A device `ts` further ahead of the server clock than this is refused: it would win every later write. */
  maxFutureSkewMs: number;
}

const CLIENT_TOKEN_MAX = 64;

function readClientToken(body: Record<string, unknown>): Parsed<string | undefined> {
  const token = body.clientToken;
  if (token === undefined) return { ok: true, value: undefined };
  if (typeof token !== 'string' || token.length > CLIENT_TOKEN_MAX) {
    return refuse('INVALID_CLIENT_TOKEN', `clientToken must be a string of at most ${CLIENT_TOKEN_MAX} characters`);
  }
  return { ok: true, value: token };
}

/** A report's `seq` (v1.1): absent, or a non-negative safe integer — what a JSON number can carry exactly. */
function readSeq(body: Record<string, unknown>, clientToken: string | undefined): Parsed<number | undefined> {
  const seq = body.seq;
  if (seq === undefined) return { ok: true, value: undefined };
  const refuseSeq = (why: string) => refuse('INVALID_SEQ', `seq ${why}`, ['seq'], clientToken);
  if (typeof seq !== 'number') return refuseSeq(`must be a number, not ${seq === null ? 'null' : Array.isArray(seq) ? 'an array' : `a ${typeof seq}`}`);
  if (!Number.isInteger(seq)) return refuseSeq(`${seq} is not an integer`);
  if (seq < 0) return refuseSeq(`${seq} is negative`);
  // Above 2^53 - 1, distinct integers share one double, so two reports could not be told apart.
  if (!Number.isSafeInteger(seq)) return refuseSeq(`${seq} is above ${Number.MAX_SAFE_INTEGER} (2^53 - 1), the largest integer JSON numbers carry exactly`);
  return { ok: true, value: seq };
}

/** Parses a `twin/reported` message; `now` is the receive time used when the device sends no `ts`. */
export function parseReported(
  payload: Buffer,
  limits: PayloadLimits,
  now: number,
): Parsed<{ state: JsonObject; ts: number; seq?: number; clientToken?: string }> {
  // `state` sits one level below the message root, hence the +1.
  const parsed = parseJsonBounded(payload, { maxBytes: limits.maxBytes, maxDepth: limits.maxDepth + 1 });
  if (!parsed.ok) return refuse(parsed.code === 'MALFORMED' ? 'MALFORMED_JSON' : parsed.code, parsed.message);
  const body = parsed.value;
  if (!isPlainObject(body)) return refuse('NOT_AN_OBJECT', 'message must be a JSON object {"state": {...}}');
  const token = readClientToken(body);
  if (!token.ok) return token;
  const clientToken = token.value;
  const withToken = clientToken === undefined ? {} : { clientToken };
  if (!('state' in body)) return refuse('MISSING_STATE', 'message has no "state"', [], clientToken);
  if (!isPlainObject(body.state)) {
    return refuse('NOT_AN_OBJECT', '"state" must be a JSON object (a merge patch)', ['state'], clientToken);
  }
  let ts = now;
  if (body.ts !== undefined) {
    const parsedTs = parseTimestamp(body.ts, now, { maxFutureMs: limits.maxFutureSkewMs });
    if (parsedTs instanceof Error) return refuse('INVALID_TIMESTAMP', parsedTs.message, ['ts'], clientToken);
    ts = parsedTs;
  }
  const seq = readSeq(body, clientToken);
  if (!seq.ok) return seq;
  return { ok: true, value: { state: body.state as JsonObject, ts, ...(seq.value === undefined ? {} : { seq: seq.value }), ...withToken } };
}

/** Parses a `twin/get` message; an empty payload is a request without a client token. */
export function parseGet(payload: Buffer, limits: PayloadLimits): Parsed<GetRequest> {
  if (payload.length === 0) return { ok: true, value: {} };
  const parsed = parseJsonBounded(payload, { maxBytes: Math.min(limits.maxBytes, 4096), maxDepth: 2 });
  if (!parsed.ok) return refuse(parsed.code === 'MALFORMED' ? 'MALFORMED_JSON' : parsed.code, parsed.message);
  if (!isPlainObject(parsed.value)) return refuse('NOT_AN_OBJECT', 'message must be a JSON object');
  const token = readClientToken(parsed.value);
  if (!token.ok) return token;
  return { ok: true, value: token.value === undefined ? {} : { clientToken: token.value } };
}

/** Parses a `status` message: exactly `online` or `offline` (surrounding whitespace tolerated). */
export function parseStatus(payload: Buffer): Parsed<StatusWord> {
  const word = payload.length <= 16 ? payload.toString('utf8').trim() : '';
  if (word === 'online' || word === 'offline') return { ok: true, value: word };
  return refuse('INVALID_STATUS', 'status must be the bare word "online" or "offline"');
}

export function encode(message: object): string {
  return JSON.stringify(message);
}

/** `devices/{id}/commands/{commandId}` (server → device, QoS 1). */
export interface CommandMessage {
  name: string;
  params: JsonObject;
  /** Epoch ms after which the device should REJECT the command instead of running it; null: never. */
  expiresAt: number | null;
}

/** `devices/{id}/commands/{commandId}/ack` (device → server). */
export interface CommandAck {
  status: 'ACCEPTED' | 'SUCCEEDED' | 'FAILED' | 'REJECTED';
  /** Any JSON; stored as given. */
  result?: JsonValue;
  error?: JsonValue;
}

const ACK_STATUS_WORDS = ['ACCEPTED', 'SUCCEEDED', 'FAILED', 'REJECTED'];

/** Parses a command ack: a JSON object with a known `status`, optional `result` and `error`, nothing else. */
export function parseAck(payload: Buffer, limits: Pick<PayloadLimits, 'maxBytes' | 'maxDepth'>): Parsed<CommandAck> {
  const parsed = parseJsonBounded(payload, { maxBytes: limits.maxBytes, maxDepth: limits.maxDepth + 1 });
  if (!parsed.ok) return refuse(parsed.code === 'MALFORMED' ? 'MALFORMED_JSON' : parsed.code, parsed.message);
  const body = parsed.value;
  if (!isPlainObject(body)) return refuse('NOT_AN_OBJECT', 'an ack must be a JSON object {"status": …}');
  if (typeof body.status !== 'string' || !ACK_STATUS_WORDS.includes(body.status)) {
    return refuse('INVALID_STATUS', `ack status must be one of ${ACK_STATUS_WORDS.join(', ')}`, ['status']);
  }
  const extra = Object.keys(body).filter((k) => k !== 'status' && k !== 'result' && k !== 'error');
  if (extra.length > 0) return refuse('UNKNOWN_FIELD', `unknown ack field ${JSON.stringify(extra[0])}`, [extra[0]!]);
  return {
    ok: true,
    value: {
      status: body.status as CommandAck['status'],
      ...(body.result !== undefined ? { result: body.result as JsonValue } : {}),
      ...(body.error !== undefined ? { error: body.error as JsonValue } : {}),
    },
  };
}

/**
 * `devices/{id}/telemetry/accepted` (contract v1.1, QoS 1, not retained): the highest `seq` such that
 * every telemetry message from seq 1 up to it is stored. At most one per device per stored batch.
 */
export interface TelemetryAccepted {
  seq: number;
}
