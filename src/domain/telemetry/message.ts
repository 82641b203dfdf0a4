/**
 * Parsing and validating one `devices/{id}/telemetry` payload (docs/device-contract.md, docs/telemetry.md) into points. Pure: no
 * I/O; the receive time comes in as `now`.
 *
 * A message is accepted whole or refused whole: the first problem found refuses it and no point of it
 * is returned, so an edge that stores what this returns can never half-write a message. Why so strict:
 * a device that sends one bad value usually has a bug that makes the rest of the message suspect too,
 * and "some of your values were dropped" is a reply no device can act on.
 */
import { DomainValidationError } from '../errors.ts';
import { parseJsonBounded } from '../json-limits.ts';
import { isPlainObject, parseTimestamp } from '../twin.ts';

/**
 * One telemetry entry as a device publishes it. The payload is either one entry or a JSON array of
 * entries (a device catching up after an outage sends what it buffered in one message).
 *
 * Fields other than these are ignored, so that later contract versions can add some.
 *
 * @example {"ts": 1714564800000, "seq": 17, "values": {"temp": 21.5, "door.open": true}}
 */
export interface TelemetryEntryPayload {
  /**
   * When the values were measured: epoch milliseconds, or an ISO-8601 date-time with a zone (`Z` or
   * `±hh:mm`). Absent or null: the time the server received the message. Fractional milliseconds are
   * truncated. At most `TelemetryLimits.maxFutureSkewMs` ahead of the server clock.
   */
  ts?: number | string | null;
  /**
   * The device's own message counter (contract v1.1, optional): an integer from 0 to 2^53−1, one per
   * message, counting up from 1 (a device that loses its counter starts again at 1; 0, which v1.0
   * accepted, is stored but never confirmed). Stored with every
   * point of the entry; the server confirms the highest contiguous `seq` it stored on
   * `devices/{id}/telemetry/accepted` (docs/device-contract.md). In a single-entry payload it is the
   * top-level `seq`; in an array each entry may carry its own (the buffered messages it replays).
   */
  seq?: number | null;
  /**
   * Metric name → value. At least one. Names are 1–64 characters of `[A-Za-z0-9_.-]`. Values are finite
   * numbers or booleans (stored as 1/0 with a flag that they were booleans); strings, objects, arrays
   * and null are refused.
   */
  values: Record<string, number | boolean>;
}

/** The whole body of a `devices/{id}/telemetry` message. */
export type TelemetryPayload = TelemetryEntryPayload | TelemetryEntryPayload[];

/** One stored value: a device is not part of it; the edge knows whose message it parsed. */
export interface TelemetryPoint {
  /** Metric name, `[A-Za-z0-9_.-]{1,64}`. */
  metric: string;
  /** Epoch milliseconds, an integer ≥ 0. */
  ts: number;
  /** The value; a boolean is 1 (true) or 0 (false). Never NaN or ±Infinity, never -0. */
  value: number;
  /** The device sent a boolean, so `value` is 0 or 1 and should be shown as false/true. */
  isBool: boolean;
  /** The entry's `seq` (0 … 2^53−1), when the device sent one. */
  seq?: number;
}

/** Bounds on one telemetry message. Exported options: every field is part of the configuration. */
export interface TelemetryLimits {
  /** Max payload size in bytes (UTF-8). Usually the MQTT payload limit. */
  maxBytes: number;
  /**
   * Max nesting of objects and arrays, checked before parsing. A valid payload nests at most 3 deep
   * (array → entry → values); a little slack keeps `{"values":{"a":[1]}}` an INVALID_VALUE rather than
   * a TOO_DEEP. `DEFAULT_TELEMETRY_LIMITS` uses 8.
   */
  maxDepth: number;
  /** Max number of values in one message, counted over all entries and before duplicates are dropped. */
  maxValuesPerMessage: number;
  /** Max number of entries in an array payload. */
  maxBatchEntries: number;
  /** How far a device `ts` may be ahead of the server clock (clock skew), in ms. */
  maxFutureSkewMs: number;
}

export const DEFAULT_TELEMETRY_LIMITS: Readonly<TelemetryLimits> = Object.freeze({
  maxBytes: 256 * 1024,
  maxDepth: 8,
  maxValuesPerMessage: 1000,
  maxBatchEntries: 1000,
  maxFutureSkewMs: 10 * 60_000,
});

/**
 * Stable codes: they are counted in metrics, logged and may be sent to devices, so they must never be
 * renamed. The message is for humans and may be reworded.
 */
export type TelemetryErrorCode =
  /** The payload is larger than `TelemetryLimits.maxBytes`. */
  | 'TOO_LARGE'
  /** Not UTF-8 JSON. */
  | 'MALFORMED'
  /** Objects/arrays nested deeper than `TelemetryLimits.maxDepth`. */
  | 'TOO_DEEP'
  /** The payload, an array entry or `values` is not a JSON object. */
  | 'NOT_AN_OBJECT'
  /** An empty array, an entry without `values`, or an empty `values` object. */
  | 'NO_VALUES'
  /** More array entries than `TelemetryLimits.maxBatchEntries`. */
  | 'TOO_MANY_ENTRIES'
  /** More values in total than `TelemetryLimits.maxValuesPerMessage`. */
  | 'TOO_MANY_VALUES'
  /** A metric name outside `[A-Za-z0-9_.-]{1,64}`. */
  | 'INVALID_METRIC'
  /** A value that is not a finite number or a boolean (a string, an object, an array, null, a number too large for a double). */
  | 'INVALID_VALUE'
  /** A `ts` that is not epoch ms or an ISO-8601 date-time with a zone, is before 1970, or too far in the future. */
  | 'INVALID_TIMESTAMP'
  /** A `seq` that is not an integer from 0 to 2^53−1 (`Number.MAX_SAFE_INTEGER`). */
  | 'INVALID_SEQ';

/** A refused telemetry message. Returned, never thrown, by the parser. */
export class TelemetryValidationError extends DomainValidationError<TelemetryErrorCode> {}

export type TelemetryParseResult =
  | {
      ok: true;
      /**
       * At least one point; one per distinct (metric, ts). A (metric, ts) sent twice in one message
       * keeps the value sent last (later in the array, later in the object) at the position where it
       * first appeared, so the result depends only on the payload.
       */
      points: TelemetryPoint[];
      /** Values in the message before duplicates were dropped (`points.length` ≤ `values`). */
      values: number;
    }
  | { ok: false; error: TelemetryValidationError };

/** What a metric name may look like: safe in topics, logs, GraphQL arguments and URLs alike. */
export const METRIC_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Parses a raw payload (the MQTT message body) against `limits`, with `now` as the receive time. */
export function parseTelemetry(payload: string | Uint8Array, now: number, limits: TelemetryLimits): TelemetryParseResult {
  const parsed = parseJsonBounded(payload, { maxBytes: limits.maxBytes, maxDepth: limits.maxDepth });
  if (!parsed.ok) return refuse(parsed.code, parsed.message, []);
  return validateTelemetry(parsed.value, now, limits);
}

/**
 * Validates an already-parsed payload (e.g. from a GraphQL or HTTP ingest path). It must be a plain
 * JSON value; `limits.maxBytes` and `limits.maxDepth` are not checked here.
 */
export function validateTelemetry(body: unknown, now: number, limits: TelemetryLimits): TelemetryParseResult {
  // A NaN clock would turn every receive-time point into garbage: a caller bug, not input.
  if (!Number.isFinite(now) || now < 0) throw new RangeError(`validateTelemetry: now must be a finite, non-negative epoch-ms number (got ${now})`);

  let entries: unknown[];
  let array: boolean;
  if (Array.isArray(body)) {
    if (body.length === 0) return refuse('NO_VALUES', 'the payload is an empty array; send at least one entry', []);
    if (body.length > limits.maxBatchEntries) {
      return refuse('TOO_MANY_ENTRIES', `the payload has ${body.length} entries; the limit is ${limits.maxBatchEntries}`, []);
    }
    entries = body;
    array = true;
  } else if (isPlainObject(body)) {
    entries = [body];
    array = false;
  } else {
    return refuse('NOT_AN_OBJECT', `the payload must be a JSON object or an array of objects, not ${describe(body)}`, []);
  }

  // Every message is validated on the ingest hot path: refusal paths and messages are built only when
  // refusing, and duplicates are looked for only when there can be any (a single entry's metrics are
  // distinct object keys at one ts, so its points are final as they come).
  const points: TelemetryPoint[] = [];
  // Keyed by metric, then ts: a nested map needs no key encoding and cannot collide. Arrays only.
  const byMetric = array && entries.length > 1 ? new Map<string, Map<number, number>>() : undefined;
  let values = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const at = array ? [String(i)] : [];
    const where = array ? `entry ${i}` : 'the payload';
    if (!isPlainObject(entry)) return refuse('NOT_AN_OBJECT', `${where} must be a JSON object, not ${describe(entry)}`, at);

    const ts = parseTimestamp(entry.ts, now, { maxFutureMs: limits.maxFutureSkewMs });
    if (typeof ts !== 'number') return refuse('INVALID_TIMESTAMP', `${where}: ${ts.message}`, [...at, 'ts']);
    // Python devices send time.time() * 1000; the store keys on whole milliseconds.
    const ms = Math.floor(ts);

    const seq = entry.seq;
    // Non-negative, as contract v1.0 accepted it (0 is stored but confirms nothing: the receipt cursor
    // starts at 0, so a sequence starts at 1). Safe: a larger number has already lost its exact value in
    // JSON.parse, and the receipt would confirm a different one.
    if (seq !== undefined && seq !== null && !(typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0)) {
      return refuse('INVALID_SEQ', `${where}: seq must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, not ${describe(seq)}`, [...at, 'seq']);
    }

    if (!Object.hasOwn(entry, 'values') || entry.values === undefined) {
      return refuse('NO_VALUES', `${where} has no "values" object`, [...at, 'values']);
    }
    const vals = entry.values;
    if (!isPlainObject(vals)) return refuse('NOT_AN_OBJECT', `${where}: values must be a JSON object, not ${describe(vals)}`, [...at, 'values']);
    const metrics = Object.keys(vals);
    if (metrics.length === 0) return refuse('NO_VALUES', `${where}: values is empty`, [...at, 'values']);
    values += metrics.length;
    if (values > limits.maxValuesPerMessage) {
      return refuse('TOO_MANY_VALUES', `the message has more than ${limits.maxValuesPerMessage} values (the limit)`, [...at, 'values']);
    }

    for (const metric of metrics) {
      if (!METRIC_NAME.test(metric)) {
        return refuse('INVALID_METRIC', `${where}: metric name ${showName(metric)} must be 1–64 characters of A–Z, a–z, 0–9, '_', '.', '-'`, [
          ...at,
          'values',
          metric,
        ]);
      }
      const raw = vals[metric];
      let value: number;
      let isBool: boolean;
      if (typeof raw === 'boolean') {
        value = raw ? 1 : 0;
        isBool = true;
      } else if (typeof raw === 'number') {
        // JSON.parse turns 1e999 into Infinity.
        if (!Number.isFinite(raw)) return refuse('INVALID_VALUE', `${where}: ${metric} is ${describe(raw)}; numbers must be finite`, [...at, 'values', metric]);
        value = raw === 0 ? 0 : raw; // -0 would survive a double column and print oddly
        isBool = false;
      } else {
        return refuse('INVALID_VALUE', `${where}: ${metric} is ${describe(raw)}; values must be numbers or booleans`, [...at, 'values', metric]);
      }
      const point: TelemetryPoint = typeof seq === 'number' ? { metric, ts: ms, value, isBool, seq } : { metric, ts: ms, value, isBool };

      if (byMetric === undefined) {
        points.push(point);
        continue;
      }
      // A (metric, ts) seen before: the later value replaces it where it first appeared.
      let byTs = byMetric.get(metric);
      if (byTs === undefined) byMetric.set(metric, (byTs = new Map<number, number>()));
      const index = byTs.get(ms);
      if (index === undefined) {
        byTs.set(ms, points.length);
        points.push(point);
      } else {
        points[index] = point;
      }
    }
  }

  return { ok: true, points, values };
}

function refuse(code: TelemetryErrorCode, message: string, path: string[]): TelemetryParseResult {
  return { ok: false, error: new TelemetryValidationError(code, message, path) };
}

/** How a name is shown in messages: readable, and short even for a 100 KB key. */
function showName(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 32)}…` : name);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return `a string (${showName(value)})`;
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}
