import { describe, expect, it } from 'vitest';
import { parseReported } from '../../src/mqtt/contract.ts';

const limits = { maxBytes: 4096, maxDepth: 8, maxFutureSkewMs: 60_000 };
const now = 1_700_000_000_000;
const reported = (body: unknown) => parseReported(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), limits, now);

describe('reported payloads: seq (contract v1.1)', () => {
  it('accepts a non-negative safe integer seq, alone or with ts, and leaves it out when absent', () => {
    expect(reported({ state: { a: 1 }, seq: 0 })).toEqual({ ok: true, value: { state: { a: 1 }, ts: now, seq: 0 } });
    expect(reported({ state: { a: 1 }, seq: 9, ts: 5, clientToken: 't' })).toEqual({ ok: true, value: { state: { a: 1 }, ts: 5, seq: 9, clientToken: 't' } });
    expect(reported({ state: {}, seq: Number.MAX_SAFE_INTEGER })).toMatchObject({ ok: true, value: { seq: Number.MAX_SAFE_INTEGER } });
    // 1e3 is an integer in JSON, whatever its spelling.
    expect(reported('{"state":{},"seq":1e3}')).toMatchObject({ ok: true, value: { seq: 1000 } });
    const without = reported({ state: { a: 1 } });
    expect(without.ok && 'seq' in without.value).toBe(false);
  });

  it('refuses a bad seq with INVALID_SEQ at path ["seq"], answering with the client token', () => {
    const cases: Array<[string, string]> = [
      ['{"state":{},"seq":"7","clientToken":"c"}', 'seq must be a number, not a string'],
      ['{"state":{},"seq":null,"clientToken":"c"}', 'seq must be a number, not null'],
      ['{"state":{},"seq":[1],"clientToken":"c"}', 'seq must be a number, not an array'],
      ['{"state":{},"seq":true,"clientToken":"c"}', 'seq must be a number, not a boolean'],
      ['{"state":{},"seq":-1,"clientToken":"c"}', 'seq -1 is negative'],
      ['{"state":{},"seq":1.5,"clientToken":"c"}', 'seq 1.5 is not an integer'],
      [
        '{"state":{},"seq":9007199254740992,"clientToken":"c"}',
        'seq 9007199254740992 is above 9007199254740991 (2^53 - 1), the largest integer JSON numbers carry exactly',
      ],
      ['{"state":{},"seq":1e400,"clientToken":"c"}', 'seq Infinity is not an integer'],
    ];
    for (const [payload, message] of cases) {
      expect(reported(payload), payload).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'INVALID_SEQ', message, path: ['seq'], clientToken: 'c' }),
      });
    }
  });
});
