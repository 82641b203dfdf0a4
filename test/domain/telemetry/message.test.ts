import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TELEMETRY_LIMITS,
  parseTelemetry,
  TelemetryValidationError,
  validateTelemetry,
  type TelemetryErrorCode,
  type TelemetryLimits,
  type TelemetryParseResult,
} from '../../../src/domain/telemetry/message.ts';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const limits: TelemetryLimits = { maxBytes: 4096, maxDepth: 8, maxValuesPerMessage: 10, maxBatchEntries: 4, maxFutureSkewMs: 60_000 };

function parse(body: unknown, lim: TelemetryLimits = limits): TelemetryParseResult {
  return parseTelemetry(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), NOW, lim);
}

function points(body: unknown, lim: TelemetryLimits = limits) {
  const result = parse(body, lim);
  if (!result.ok) throw result.error;
  return result.points;
}

/** Refused whole: no points at all, a typed error with this code and path. */
function expectRefused(body: unknown, code: TelemetryErrorCode, path: string[], lim: TelemetryLimits = limits): TelemetryValidationError {
  const result = parse(body, lim);
  expect(result.ok).toBe(false);
  expect(result).not.toHaveProperty('points');
  if (result.ok) throw new Error('unreachable');
  expect(result.error).toBeInstanceOf(TelemetryValidationError);
  expect(result.error.code).toBe(code);
  expect(result.error.path).toEqual(path);
  expect(result.error.message).not.toBe('');
  return result.error;
}

describe('parseTelemetry: accepted messages', () => {
  it('turns one entry into one point per value, numbers and booleans', () => {
    expect(points({ ts: 1_714_564_000_000, values: { temp: 21.5, open: true, closed: false, n: -3 } })).toEqual([
      { metric: 'temp', ts: 1_714_564_000_000, value: 21.5, isBool: false },
      { metric: 'open', ts: 1_714_564_000_000, value: 1, isBool: true },
      { metric: 'closed', ts: 1_714_564_000_000, value: 0, isBool: true },
      { metric: 'n', ts: 1_714_564_000_000, value: -3, isBool: false },
    ]);
  });

  it('uses the receive time when ts is absent or null', () => {
    expect(points({ values: { a: 1 } })).toEqual([{ metric: 'a', ts: NOW, value: 1, isBool: false }]);
    expect(points({ ts: null, values: { a: 1 } })[0]!.ts).toBe(NOW);
  });

  it('reads ISO-8601 timestamps with a zone and truncates fractional milliseconds', () => {
    expect(points({ ts: '2024-05-01T13:00:00+02:00', values: { a: 1 } })[0]!.ts).toBe(Date.UTC(2024, 4, 1, 11));
    expect(points({ ts: 1_714_564_000_000.9, values: { a: 1 } })[0]!.ts).toBe(1_714_564_000_000);
  });

  it('accepts a timestamp exactly maxFutureSkewMs ahead', () => {
    expect(points({ ts: NOW + 60_000, values: { a: 1 } })[0]!.ts).toBe(NOW + 60_000);
  });

  it('carries seq onto every point of its entry', () => {
    expect(points({ seq: 1, values: { a: 1, b: 2 } })).toEqual([
      { metric: 'a', ts: NOW, value: 1, isBool: false, seq: 1 },
      { metric: 'b', ts: NOW, value: 2, isBool: false, seq: 1 },
    ]);
    expect(points({ seq: null, values: { a: 1 } })[0]).not.toHaveProperty('seq');
    expect(points({ values: { a: 1 } })[0]).not.toHaveProperty('seq');
  });

  it('accepts seq from 1 to 2^53−1', () => {
    expect(points({ seq: 1, values: { a: 1 } })[0]!.seq).toBe(1);
    expect(points({ seq: Number.MAX_SAFE_INTEGER, values: { a: 1 } })[0]!.seq).toBe(Number.MAX_SAFE_INTEGER);
    expect(points({ seq: 2.0, values: { a: 1 } })[0]!.seq).toBe(2);
  });

  it('stores -0 as 0 and accepts extreme finite numbers', () => {
    const [zero, big, tiny] = points({ values: { z: -0, big: 1.7976931348623157e308, tiny: 5e-324 } });
    expect(Object.is(zero!.value, 0)).toBe(true);
    expect(big!.value).toBe(Number.MAX_VALUE);
    expect(tiny!.value).toBe(Number.MIN_VALUE);
  });

  it('accepts metric names of 1 and 64 characters from the allowed set', () => {
    const long = 'a'.repeat(64);
    expect(points({ values: { x: 1, [long]: 2, 'A.b-c_9': 3 } }).map((p) => p.metric)).toEqual(['x', long, 'A.b-c_9']);
  });

  it('ignores unknown fields (room for later contract versions)', () => {
    expect(points({ values: { a: 1 }, unit: 'C', meta: { x: [1] } })).toHaveLength(1);
  });

  it('accepts an array of entries (catch-up) with their own ts and seq', () => {
    const body = [{ ts: NOW - 2000, seq: 1, values: { temp: 20 } }, { ts: NOW - 1000, seq: 2, values: { temp: 21, open: false } }, { values: { temp: 22 } }];
    expect(points(body)).toEqual([
      { metric: 'temp', ts: NOW - 2000, value: 20, isBool: false, seq: 1 },
      { metric: 'temp', ts: NOW - 1000, value: 21, isBool: false, seq: 2 },
      { metric: 'open', ts: NOW - 1000, value: 0, isBool: true, seq: 2 },
      { metric: 'temp', ts: NOW, value: 22, isBool: false },
    ]);
  });

  it('accepts exactly maxBatchEntries entries and exactly maxValuesPerMessage values', () => {
    const body = [0, 1, 2, 3].map((i) => ({ ts: NOW - i, values: { a: i, b: i } }));
    expect(points(body)).toHaveLength(8);
    const ten = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`m${i}`, i]));
    expect(points({ values: ten })).toHaveLength(10);
  });

  it('keeps the value sent last for a duplicate (metric, ts), at its first position, and counts what was sent', () => {
    const body = [
      { ts: 1000, values: { a: 1, b: 1 } },
      { ts: 2000, values: { a: 2 } },
      { ts: 1000, values: { a: 3 } },
    ];
    const result = parse(body);
    expect(result).toEqual({
      ok: true,
      values: 4,
      points: [
        { metric: 'a', ts: 1000, value: 3, isBool: false },
        { metric: 'b', ts: 1000, value: 1, isBool: false },
        { metric: 'a', ts: 2000, value: 2, isBool: false },
      ],
    });
  });

  it('treats entries without ts as all at the receive time, so they collide: last wins', () => {
    expect(points([{ values: { a: 1 } }, { values: { a: 2, b: 5 } }])).toEqual([
      { metric: 'a', ts: NOW, value: 2, isBool: false },
      { metric: 'b', ts: NOW, value: 5, isBool: false },
    ]);
  });

  it('last-wins dedup in JSON text with a key repeated inside one values object', () => {
    expect(points('{"values":{"a":1,"a":2}}')).toEqual([{ metric: 'a', ts: NOW, value: 2, isBool: false }]);
  });

  it('parses a string payload as well as bytes', () => {
    expect(parseTelemetry('{"values":{"a":1}}', NOW, limits)).toMatchObject({ ok: true, points: [{ metric: 'a' }] });
  });

  it('is deterministic: the same payload gives the same points', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            ts: fc.integer({ min: 0, max: 3 }),
            values: fc.dictionary(fc.constantFrom('a', 'b'), fc.oneof(fc.integer(), fc.boolean()), { minKeys: 1 }),
          }),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (body) => {
          const first = parse(body);
          expect(parse(body)).toEqual(first);
          if (!first.ok) return;
          const keys = first.points.map((p) => `${p.metric}@${p.ts}`);
          expect(new Set(keys).size).toBe(keys.length);
          // Every point holds the value of the last occurrence of its key.
          for (const p of first.points) {
            const last = body.filter((e) => e.ts === p.ts && Object.hasOwn(e.values, p.metric)).at(-1)!;
            const v = last.values[p.metric]!;
            expect(p.value).toBe(typeof v === 'boolean' ? Number(v) : v);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('DEFAULT_TELEMETRY_LIMITS is usable as is', () => {
    expect(parseTelemetry('{"values":{"a":1}}', NOW, DEFAULT_TELEMETRY_LIMITS).ok).toBe(true);
  });
});

describe('parseTelemetry: refusals (the whole message, never part of it)', () => {
  it('TOO_LARGE', () => {
    const error = expectRefused({ values: { a: 1 }, pad: 'x'.repeat(100) }, 'TOO_LARGE', [], { ...limits, maxBytes: 64 });
    expect(error.message).toMatch(/limit is 64 bytes/);
  });

  it('MALFORMED: bad JSON, bad UTF-8', () => {
    expectRefused('{"values":{"a":1}', 'MALFORMED', []);
    expectRefused('', 'MALFORMED', []);
    const result = parseTelemetry(Buffer.from([0x7b, 0xff, 0x7d]), NOW, limits);
    expect(result).toMatchObject({ ok: false, error: { code: 'MALFORMED', path: [] } });
  });

  it('TOO_DEEP', () => {
    expectRefused('{"values":{"a":[[[[[[[1]]]]]]]}}', 'TOO_DEEP', []);
  });

  it('NOT_AN_OBJECT: payload, array entry, values', () => {
    expectRefused(42, 'NOT_AN_OBJECT', []);
    expectRefused('"hello"', 'NOT_AN_OBJECT', []);
    expectRefused(null, 'NOT_AN_OBJECT', []);
    expectRefused([{ values: { a: 1 } }, 5], 'NOT_AN_OBJECT', ['1']);
    expectRefused([{ values: { a: 1 } }, [{ values: { a: 1 } }]], 'NOT_AN_OBJECT', ['1']);
    expectRefused({ values: [1, 2] }, 'NOT_AN_OBJECT', ['values']);
    expectRefused({ values: null }, 'NOT_AN_OBJECT', ['values']);
    expectRefused([{ values: { a: 1 } }, { values: 'a=1' }], 'NOT_AN_OBJECT', ['1', 'values']);
  });

  it('NO_VALUES: empty array, missing or empty values', () => {
    expectRefused([], 'NO_VALUES', []);
    expectRefused({ ts: NOW }, 'NO_VALUES', ['values']);
    expectRefused({ value: { a: 1 } }, 'NO_VALUES', ['values']);
    expectRefused({ values: {} }, 'NO_VALUES', ['values']);
    expectRefused([{ values: { a: 1 } }, { values: {} }], 'NO_VALUES', ['1', 'values']);
  });

  it('TOO_MANY_ENTRIES', () => {
    const body = Array.from({ length: 5 }, () => ({ values: { a: 1 } }));
    const error = expectRefused(body, 'TOO_MANY_ENTRIES', []);
    expect(error.message).toMatch(/5 entries; the limit is 4/);
  });

  it('TOO_MANY_VALUES: counted over all entries, duplicates included', () => {
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`m${i}`, i]));
    expectRefused({ values: eleven }, 'TOO_MANY_VALUES', ['values']);
    const body = [0, 1, 2].map(() => ({ ts: 1000, values: { a: 1, b: 2, c: 3, d: 4 } }));
    expectRefused(body, 'TOO_MANY_VALUES', ['2', 'values']);
  });

  it('INVALID_METRIC: empty, too long, characters outside [A-Za-z0-9_.-]', () => {
    for (const name of ['', 'a'.repeat(65), 'temp c', 'temp/1', 'temp#', 'tëmp', 'a+b', '$a', 'a\u0000']) {
      expectRefused({ values: { ok: 1, [name]: 2 } }, 'INVALID_METRIC', ['values', name]);
    }
    expectRefused([{ values: { a: 1 } }, { values: { 'b c': 1 } }], 'INVALID_METRIC', ['1', 'values', 'b c']);
  });

  it('INVALID_VALUE: non-finite numbers, strings, objects, arrays, null', () => {
    expectRefused('{"values":{"a":1e999}}', 'INVALID_VALUE', ['values', 'a']);
    expectRefused('{"values":{"a":-1e999}}', 'INVALID_VALUE', ['values', 'a']);
    expectRefused({ values: { a: '21.5' } }, 'INVALID_VALUE', ['values', 'a']);
    expectRefused({ values: { a: { v: 1 } } }, 'INVALID_VALUE', ['values', 'a']);
    expectRefused({ values: { a: [1] } }, 'INVALID_VALUE', ['values', 'a']);
    expectRefused({ values: { a: null } }, 'INVALID_VALUE', ['values', 'a']);
    expectRefused([{ values: { ok: 1 } }, { values: { ok: 2, bad: 'x' } }], 'INVALID_VALUE', ['1', 'values', 'bad']);
  });

  it('INVALID_VALUE through validateTelemetry for values JSON cannot carry', () => {
    for (const bad of [NaN, Infinity, undefined, 1n, () => 1, new Date(0)]) {
      const result = validateTelemetry({ values: { a: bad } }, NOW, limits);
      expect(result).toMatchObject({ ok: false, error: { code: 'INVALID_VALUE', path: ['values', 'a'] } });
    }
  });

  it('INVALID_TIMESTAMP: unparseable, no zone, negative, too far in the future', () => {
    expectRefused({ ts: 'yesterday', values: { a: 1 } }, 'INVALID_TIMESTAMP', ['ts']);
    expectRefused({ ts: '2024-05-01T12:00:00', values: { a: 1 } }, 'INVALID_TIMESTAMP', ['ts']);
    expectRefused({ ts: -1, values: { a: 1 } }, 'INVALID_TIMESTAMP', ['ts']);
    expectRefused({ ts: true, values: { a: 1 } }, 'INVALID_TIMESTAMP', ['ts']);
    expectRefused('{"ts":1e999,"values":{"a":1}}', 'INVALID_TIMESTAMP', ['ts']);
    const error = expectRefused({ ts: NOW + 60_001, values: { a: 1 } }, 'INVALID_TIMESTAMP', ['ts']);
    expect(error.message).toMatch(/ahead of the server clock/);
    expectRefused(
      [
        { ts: NOW, values: { a: 1 } },
        { ts: '2099-01-01T00:00:00Z', values: { a: 1 } },
      ],
      'INVALID_TIMESTAMP',
      ['1', 'ts'],
    );
  });

  it('seq 0 is accepted as in contract v1.0 (stored, never confirmed by a receipt)', () => {
    const result = parse({ seq: 0, values: { a: 1 } });
    expect(result.ok && result.points[0]!.seq).toBe(0);
  });

  it('INVALID_SEQ: negative, fractional, unsafe, not a number', () => {
    for (const seq of [-1, -0.5, 0.5, 1.5, 2 ** 53, 2 ** 53 + 2, 1e300, '7', true, false, [1], {}]) {
      expectRefused({ seq, values: { a: 1 } }, 'INVALID_SEQ', ['seq']);
    }
    const result = parse({ seq: -1, values: { a: 1 } });
    expect(!result.ok && result.error.message).toBe(`the payload: seq must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, not -1`);
    // A number JSON cannot hold exactly is refused, not rounded to a seq the device never sent.
    const raw = parseTelemetry('{"seq": 9007199254740993, "values": {"a": 1}}', NOW, DEFAULT_TELEMETRY_LIMITS);
    expect(!raw.ok && raw.error.code).toBe('INVALID_SEQ');
    expectRefused(
      [
        { seq: 1, values: { a: 1 } },
        { seq: -2, values: { a: 1 } },
      ],
      'INVALID_SEQ',
      ['1', 'seq'],
    );
  });

  it('a refusal anywhere in a batch refuses the good entries before it too', () => {
    const body = [{ values: { a: 1 } }, { values: { b: 2 } }, { values: { c: 'bad' } }];
    expectRefused(body, 'INVALID_VALUE', ['2', 'values', 'c']);
  });

  it('errors serialize to {code, message, path}', () => {
    const result = parse({ values: { a: 'x' } });
    if (result.ok) throw new Error('expected a refusal');
    expect(JSON.parse(JSON.stringify(result.error))).toEqual({ code: 'INVALID_VALUE', message: result.error.message, path: ['values', 'a'] });
  });

  it('refuses a broken clock loudly (a caller bug, not input)', () => {
    expect(() => validateTelemetry({ values: { a: 1 } }, NaN, limits)).toThrow(RangeError);
  });

  it('never throws on arbitrary JSON, and accepts only valid shapes', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        const result = parseTelemetry(JSON.stringify(value) ?? 'null', NOW, DEFAULT_TELEMETRY_LIMITS);
        if (result.ok) {
          expect(result.points.length).toBeGreaterThan(0);
          for (const p of result.points) expect(Number.isFinite(p.value)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
