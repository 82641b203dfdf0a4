import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_EVENT_TYPES,
  EVENT_TYPES,
  MAX_BODY_BYTES,
  SUBSCRIBABLE_EVENT_TYPES,
  buildEnvelope,
  canonicalJson,
  envelopeBody,
  eventIdOf,
  isEventType,
  isJsonObject,
  subscribes,
  type StoredEvent,
} from '../../../src/domain/webhooks/envelope.ts';
import { isValidMessageId } from '../../../src/domain/webhooks/signing.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);
const UUID = '0B0A61E2-3C55-4D1A-9F7E-2A5B8C9D0E1F';

function row(overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    eventId: UUID,
    type: 'twin.changed',
    occurredAt: Date.UTC(2026, 11, 2, 3, 4, 5, 678),
    tenantId: 'acme',
    data: { deviceId: 'fridge-1', version: 3 },
    ...overrides,
  };
}

describe('event types', () => {
  it('is a closed list with dot-separated [a-z_] names', () => {
    for (const t of EVENT_TYPES) expect(t).toMatch(/^[a-z_]+(\.[a-z_]+)+$/);
    expect(isEventType('twin.changed')).toBe(true);
    expect(isEventType('twin.Changed')).toBe(false);
    expect(isEventType(undefined)).toBe(false);
  });

  it('telemetry.stored is subscribable but not a default; webhook.test is neither', () => {
    expect(SUBSCRIBABLE_EVENT_TYPES).toContain('telemetry.stored');
    expect(DEFAULT_EVENT_TYPES).not.toContain('telemetry.stored');
    expect(SUBSCRIBABLE_EVENT_TYPES).not.toContain('webhook.test');
    expect(subscribes([], 'webhook.test')).toBe(true);
    expect(subscribes(['twin.changed'], 'command.updated')).toBe(false);
  });
});

describe('envelope', () => {
  it('builds {id, type, occurredAt, tenant, data} with an evt_ id that is a valid webhook-id', () => {
    const built = buildEnvelope(row());
    expect(built).toEqual({
      ok: true,
      envelope: {
        id: 'evt_0b0a61e23c554d1a9f7e2a5b8c9d0e1f',
        type: 'twin.changed',
        occurredAt: '2026-12-02T03:04:05.678Z',
        tenant: 'acme',
        data: { deviceId: 'fridge-1', version: 3 },
      },
    });
    expect(isValidMessageId(eventIdOf(UUID))).toBe(true);
  });

  it.each([
    ['an unknown type', row({ type: 'twin.exploded' }), 'UNKNOWN_EVENT_TYPE'],
    ['an id that is not a uuid', row({ eventId: 'abc' }), 'INVALID_EVENT_ID'],
    ['a NaN time', row({ occurredAt: Number.NaN }), 'INVALID_TIME'],
    ['a time out of range', row({ occurredAt: 9e15 }), 'INVALID_TIME'],
    ['data that is an array', row({ data: [1] }), 'INVALID_DATA'],
    ['data that is null', row({ data: null }), 'INVALID_DATA'],
    ['data with undefined inside', row({ data: { a: undefined } }), 'INVALID_DATA'],
    ['data with a NaN', row({ data: { a: Number.NaN } }), 'INVALID_DATA'],
    ['data with a Date', row({ data: { a: new Date(0) } }), 'INVALID_DATA'],
  ])('refuses a row with %s', (_, stored, reason) => {
    expect(buildEnvelope(stored)).toMatchObject({ ok: false, reason });
  });

  it('the body has the envelope keys in a fixed order and data keys sorted at every depth', () => {
    const built = buildEnvelope(row({ data: { z: 1, a: { y: [{ b: 2, a: 1 }], x: null } } }));
    if (!built.ok) throw new Error(built.message);
    const body = envelopeBody(built.envelope);
    expect(body).toEqual({
      ok: true,
      body: '{"id":"evt_0b0a61e23c554d1a9f7e2a5b8c9d0e1f","type":"twin.changed","occurredAt":"2026-12-02T03:04:05.678Z","tenant":"acme","data":{"a":{"x":null,"y":[{"a":1,"b":2}]},"z":1}}',
    });
  });

  it('refuses a body over the limit instead of truncating it', () => {
    const built = buildEnvelope(row({ data: { blob: 'x'.repeat(MAX_BODY_BYTES) } }));
    if (!built.ok) throw new Error(built.message);
    expect(envelopeBody(built.envelope)).toMatchObject({ ok: false, reason: 'BODY_TOO_LARGE' });
  });

  it('property: the body is valid JSON equal to the envelope, and the same whatever the key order of data', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (data) => {
        const plain = JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
        fc.pre(isJsonObject(plain));
        const reversed = Object.fromEntries(Object.entries(plain).reverse());
        const a = buildEnvelope(row({ data: plain }));
        const b = buildEnvelope(row({ data: reversed }));
        if (!a.ok || !b.ok) throw new Error('envelope refused');
        const bodyA = envelopeBody(a.envelope);
        const bodyB = envelopeBody(b.envelope);
        if (!bodyA.ok || !bodyB.ok) return;
        expect(bodyA.body).toBe(bodyB.body);
        expect(JSON.parse(bodyA.body)).toEqual(a.envelope);
      }),
      { numRuns },
    );
  });

  it('canonicalJson matches JSON.stringify for values without objects', () => {
    expect(canonicalJson([1, 'a', null, true, [2]])).toBe(JSON.stringify([1, 'a', null, true, [2]]));
  });
});
