import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonBounded } from '../../src/domain/json-limits.ts';

const bounds = { maxBytes: 1024, maxDepth: 4 };

describe('parseJsonBounded', () => {
  it('parses JSON within bounds, from a string or a Buffer', () => {
    expect(parseJsonBounded('{"a":[1,{"b":"x"}]}', bounds)).toEqual({ ok: true, value: { a: [1, { b: 'x' }] } });
    expect(parseJsonBounded(Buffer.from('{"t":"é😀"}'), bounds)).toEqual({ ok: true, value: { t: 'é😀' } });
    expect(parseJsonBounded(new Uint8Array([0x31]), bounds)).toEqual({ ok: true, value: 1 });
    expect(parseJsonBounded(' 42 ', bounds)).toEqual({ ok: true, value: 42 });
  });

  it('drops a UTF-8 byte-order mark from buffers', () => {
    expect(parseJsonBounded(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), bounds)).toEqual({ ok: true, value: {} });
  });

  it('TOO_LARGE is decided on UTF-8 bytes, before anything else', () => {
    const lim = { maxBytes: 10, maxDepth: 1 };
    expect(parseJsonBounded('"ééééé"', lim)).toMatchObject({ ok: false, code: 'TOO_LARGE', message: 'payload is 12 bytes; the limit is 10 bytes' });
    expect(parseJsonBounded('"éééé"', lim)).toMatchObject({ ok: true });
    // Size wins over depth and syntax.
    expect(parseJsonBounded('[[[[[[[[[[[[', lim)).toMatchObject({ code: 'TOO_LARGE', message: 'payload is at least 12 bytes; the limit is 10 bytes' });
    expect(parseJsonBounded(Buffer.alloc(11, 0xff), lim)).toMatchObject({ code: 'TOO_LARGE', message: 'payload is 11 bytes; the limit is 10 bytes' });
  });

  it('TOO_DEEP counts objects and arrays like the twin ({} is depth 1) and ignores brackets in strings', () => {
    expect(parseJsonBounded('[[[[1]]]]', bounds)).toMatchObject({ ok: true });
    expect(parseJsonBounded('{"a":{"b":{"c":{}}}}', bounds)).toMatchObject({ ok: true });
    expect(parseJsonBounded('[[[[[1]]]]]', bounds)).toEqual({
      ok: false,
      code: 'TOO_DEEP',
      message: 'JSON nests objects/arrays deeper than 4 levels (at character 4)',
    });
    // Brackets and escaped quotes inside strings do not nest.
    expect(parseJsonBounded('{"k":"[[[[[{{{{{\\"[[[[["}', bounds)).toEqual({ ok: true, value: { k: '[[[[[{{{{{"[[[[[' } });
    expect(parseJsonBounded('["\\\\", [[[1]]]]', bounds)).toEqual({ ok: true, value: ['\\', [[[1]]]] });
    expect(parseJsonBounded('["\\\\", [[[[1]]]]]', bounds)).toMatchObject({ ok: false, code: 'TOO_DEEP' });
  });

  it('refuses a 100k-deep payload without touching the stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(parseJsonBounded(deep, { maxBytes: 1_000_000, maxDepth: 64 })).toMatchObject({ ok: false, code: 'TOO_DEEP' });
    const deepObjects = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    expect(parseJsonBounded(Buffer.from(deepObjects), { maxBytes: 1_000_000, maxDepth: 64 })).toMatchObject({ ok: false, code: 'TOO_DEEP' });
  });

  it('stray closing brackets are a syntax error, not a way around the depth count', () => {
    const sneaky = ']]]]]]' + '['.repeat(10) + ']'.repeat(10);
    expect(parseJsonBounded(sneaky, bounds)).toMatchObject({ ok: false, code: 'MALFORMED' });
  });

  it.each([
    ['', 'empty'],
    ['{"a":', 'truncated'],
    ["{'a':1}", 'single quotes'],
    ['{"a":1,}', 'trailing comma'],
    ['NaN', 'NaN'],
    ['"unterminated', 'open string'],
    ['{"a":1} x', 'trailing garbage'],
  ])('MALFORMED with the parser’s message: %j (%s)', (text) => {
    const result = parseJsonBounded(text, bounds);
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED' });
    if (!result.ok) expect(result.message).toMatch(/^malformed JSON: \S/);
  });

  it('MALFORMED on invalid UTF-8', () => {
    for (const bytes of [
      [0x22, 0xff, 0x22],
      [0x22, 0xc3, 0x22],
      [0x22, 0xed, 0xa0, 0x80, 0x22] /* an encoded surrogate */,
    ]) {
      expect(parseJsonBounded(Buffer.from(bytes), bounds)).toEqual({ ok: false, code: 'MALFORMED', message: 'payload is not valid UTF-8' });
    }
  });

  it('MALFORMED for something that is not text at all', () => {
    expect(parseJsonBounded(42 as unknown as string, bounds)).toEqual({ ok: false, code: 'MALFORMED', message: 'payload must be text' });
  });

  it('(5) never throws, and agrees with JSON.parse whenever it accepts', () => {
    const jsonish = fc.stringMatching(/^[[\]{}",:\\ a1-]{0,40}$/);
    const texts = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      jsonish,
      fc.json({ maxDepth: 6 }),
      fc.json({ maxDepth: 6 }).map((j) => j.slice(0, Math.floor(j.length / 2))), // truncated
    );
    const lim = { maxBytes: 150, maxDepth: 4 };
    fc.assert(
      fc.property(
        fc.oneof(
          texts,
          texts.map((t) => Buffer.from(t)),
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
        ),
        (input) => {
          const result = parseJsonBounded(input, lim);
          const text = typeof input === 'string' ? input : input.toString('utf8');
          if (result.ok) {
            expect(result.value).toEqual(JSON.parse(text.replace(/^\uFEFF/, '')));
          } else {
            expect(['TOO_LARGE', 'MALFORMED', 'TOO_DEEP']).toContain(result.code);
            expect(result.message.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
