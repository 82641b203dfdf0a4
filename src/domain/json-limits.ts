/**
 * Parsing untrusted JSON text (MQTT payloads, request bodies) within bounds. Pure; never throws.
 *
 * Why not just JSON.parse: a payload may be larger than we agreed to hold, and a payload of 100k
 * opening brackets is tiny but nests deeper than any code that later walks the value recursively
 * (validation, canonical JSON, the merge) can survive. Both are checked before parsing, cheaply.
 */

export interface JsonBounds {
  /** Max size of the text in bytes (UTF-8). */
  maxBytes: number;
  /** Max nesting of objects and arrays: `{}` is depth 1, `{"a":[1]}` is depth 2 (the same measure as the twin's maxDepth). */
  maxDepth: number;
}

export type JsonParseErrorCode = 'TOO_LARGE' | 'MALFORMED' | 'TOO_DEEP';

export type JsonParseResult = { ok: true; value: unknown } | { ok: false; code: JsonParseErrorCode; message: string };

// fatal: invalid UTF-8 is an error, not silently replaced with U+FFFD. A leading BOM is dropped.
const utf8 = new TextDecoder('utf-8', { fatal: true });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Checks, in order: byte size, UTF-8 validity, nesting depth (a linear scan), then syntax (JSON.parse). */
export function parseJsonBounded(text: string | Uint8Array, bounds: JsonBounds): JsonParseResult {
  let source: string;
  if (typeof text === 'string') {
    // Every UTF-16 unit is at least one UTF-8 byte, so a long string is refused without measuring it.
    const bytes = text.length > bounds.maxBytes ? text.length : Buffer.byteLength(text, 'utf8');
    if (bytes > bounds.maxBytes) return tooLarge(text.length > bounds.maxBytes ? `at least ${bytes}` : `${bytes}`, bounds.maxBytes);
    source = text;
  } else if (text instanceof Uint8Array) {
    if (text.byteLength > bounds.maxBytes) return tooLarge(`${text.byteLength}`, bounds.maxBytes);
    try {
      source = utf8.decode(text);
    } catch {
      return { ok: false, code: 'MALFORMED', message: 'payload is not valid UTF-8' };
    }
  } else {
    return { ok: false, code: 'MALFORMED', message: 'payload must be text' };
  }

  // Brackets inside strings do not nest; a backslash escapes the next unit (only `\"` and `\\` matter).
  let depth = 0;
  let inString = false;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > bounds.maxDepth) {
        return { ok: false, code: 'TOO_DEEP', message: `JSON nests objects/arrays deeper than ${bounds.maxDepth} levels (at character ${i})` };
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      // A stray closer is a syntax error JSON.parse reports at this very spot, and everything before it
      // was within the depth limit, so the scan can stop here.
      if (--depth < 0) break;
    }
  }

  try {
    return { ok: true, value: JSON.parse(source) as unknown };
  } catch (error) {
    return { ok: false, code: 'MALFORMED', message: `malformed JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function tooLarge(size: string, max: number): JsonParseResult {
  return { ok: false, code: 'TOO_LARGE', message: `payload is ${size} bytes; the limit is ${max} bytes` };
}
