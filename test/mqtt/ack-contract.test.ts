import { describe, expect, it } from 'vitest';
import { parseAck } from '../../src/mqtt/contract.ts';

const limits = { maxBytes: 1024, maxDepth: 4 };
const ack = (body: unknown) => parseAck(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), limits);

describe('command ack payloads (devices/{id}/commands/{commandId}/ack)', () => {
  it('accepts every ack status with an optional result and error', () => {
    expect(ack({ status: 'ACCEPTED' })).toEqual({ ok: true, value: { status: 'ACCEPTED' } });
    expect(ack({ status: 'SUCCEEDED', result: { crumbs: 3 } })).toEqual({ ok: true, value: { status: 'SUCCEEDED', result: { crumbs: 3 } } });
    expect(ack({ status: 'FAILED', error: 'jammed' })).toEqual({ ok: true, value: { status: 'FAILED', error: 'jammed' } });
    expect(ack({ status: 'REJECTED', error: { code: 'EXPIRED' } })).toMatchObject({ ok: true });
  });

  it('refuses each kind of bad payload with its own code', () => {
    expect(ack('{nope')).toMatchObject({ ok: false, error: { code: 'MALFORMED_JSON' } });
    expect(ack([1])).toMatchObject({ ok: false, error: { code: 'NOT_AN_OBJECT' } });
    expect(ack({})).toMatchObject({ ok: false, error: { code: 'INVALID_STATUS', path: ['status'] } });
    expect(ack({ status: 'SENT' })).toMatchObject({ ok: false, error: { code: 'INVALID_STATUS' } });
    expect(ack({ status: 'SUCCEEDED', extra: 1 })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_FIELD', path: ['extra'] } });
    expect(ack({ status: 'SUCCEEDED', result: 'x'.repeat(2000) })).toMatchObject({ ok: false, error: { code: 'TOO_LARGE' } });
    expect(ack({ status: 'SUCCEEDED', result: { a: { b: { c: { d: { e: 1 } } } } } })).toMatchObject({ ok: false, error: { code: 'TOO_DEEP' } });
  });
});
