import { describe, expect, it } from 'vitest';
import type { TwinLimits } from '../../src/config.ts';
import {
  applyPatch,
  canonicalJson,
  computeDelta,
  emptySection,
  isPlainObject,
  materialize,
  mergeMeta,
  metadataTree,
  parseTimestamp,
  TwinValidationError,
  type JsonObject,
  type SectionState,
} from '../../src/domain/twin.ts';

const limits: TwinLimits = {
  maxSectionBytes: 32 * 1024,
  maxDepth: 10,
  maxKeyLength: 128,
  maxFutureSkewMs: 600_000,
  tombstoneTtlMs: 86_400_000,
  maxMetadataEntries: 100_000,
};

/** Applies `[patch, ts]` pairs in the given order, failing the test on a refusal. */
function run(patches: Array<[unknown, number]>, state: SectionState = emptySection(), lim: TwinLimits = limits): SectionState {
  for (const [patch, ts] of patches) {
    const result = applyPatch(state, patch, ts, lim);
    if (!result.ok) throw result.error;
    state = result.state;
  }
  return state;
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

/** Every arrival order gives this document (and one metadata map). */
function expectAllOrders(patches: Array<[unknown, number]>, doc: JsonObject): void {
  const states = permutations(patches).map((order) => run(order));
  for (const state of states) {
    expect(state.doc).toEqual(doc);
    expect(state.meta).toEqual(states[0]!.meta);
    expect(materialize(state.meta)).toEqual(doc);
  }
}

describe('applyPatch: merge patch semantics', () => {
  it('sets, nests and overwrites leaves', () => {
    const s = run([
      [{ a: 1, b: { c: 'x', d: true } }, 1],
      [{ a: 2, b: { d: false } }, 2],
    ]);
    expect(s.doc).toEqual({ a: 2, b: { c: 'x', d: false } });
  });

  it('null deletes and leaves a tombstone that beats older writes arriving late', () => {
    let s = run([
      [{ a: 1, b: 2 }, 1],
      [{ a: null }, 3],
    ]);
    expect(s.doc).toEqual({ b: 2 });
    expect(s.meta['["a"]']).toEqual({ t: 3, k: 'd' });
    // A retry of an older write arrives after the deletion: the tombstone wins.
    const late = applyPatch(s, { a: 7 }, 2, limits);
    expect(late.ok && late.changed).toBe(false);
    s = run([[{ a: 9 }, 4]], s);
    expect(s.doc).toEqual({ a: 9, b: 2 });
  });

  it('a tombstone for a key that never existed changes metadata but not the document', () => {
    const result = applyPatch(emptySection(), { ghost: null }, 5, limits);
    expect(result).toMatchObject({ ok: true, changed: false, metaChanged: true, applied: {} });
    // …so a set of the same key that is older than the deletion stays deleted.
    const s = run([[{ ghost: 1 }, 4]], result.ok ? result.state : emptySection());
    expect(s.doc).toEqual({});
  });

  it('deleting a key inside an object keeps the (now empty) object, as RFC 7386 does', () => {
    expect(
      run([
        [{ a: { b: 1 } }, 1],
        [{ a: { b: null } }, 2],
      ]).doc,
    ).toEqual({ a: {} });
    expect(
      run([
        [{ a: 5 }, 1],
        [{ a: { b: null } }, 2],
      ]).doc,
    ).toEqual({ a: {} });
  });

  it('{} writes an object marker: it creates an empty object and replaces a value, but keeps existing keys', () => {
    expect(run([[{ a: {} }, 1]]).doc).toEqual({ a: {} });
    expect(
      run([
        [{ a: 5 }, 1],
        [{ a: {} }, 2],
      ]).doc,
    ).toEqual({ a: {} });
    expect(
      run([
        [{ a: { b: 1 } }, 1],
        [{ a: {} }, 2],
      ]).doc,
    ).toEqual({ a: { b: 1 } });
    expect(run([[{ a: {} }, 1]]).meta).toEqual({ '["a"]': { t: 1, k: 'o' } });
    // An empty patch is a valid no-op.
    expect(applyPatch(emptySection(), {}, 1, limits)).toMatchObject({ ok: true, changed: false, metaChanged: false });
  });

  it('arrays are leaves, replaced whole, never merged element-wise', () => {
    const s = run([
      [{ a: [1, 2, 3], o: { list: [{ x: 1 }] } }, 1],
      [{ a: [9], o: { list: [] } }, 2],
    ]);
    expect(s.doc).toEqual({ a: [9], o: { list: [] } });
    expect(s.meta['["a"]']).toEqual({ t: 2, k: 'v', v: [9] });
    // Objects inside arrays are opaque values: no paths are created for them.
    expect(Object.keys(run([[{ a: [{ b: 1 }] }, 1]]).meta)).toEqual(['["a"]']);
  });

  it('a value and an object replace each other', () => {
    expect(
      run([
        [{ a: { b: 1 } }, 1],
        [{ a: [1] }, 2],
      ]).doc,
    ).toEqual({ a: [1] });
    expect(
      run([
        [{ a: 'x' }, 1],
        [{ a: { b: 1 } }, 2],
      ]).doc,
    ).toEqual({ a: { b: 1 } });
  });

  it('the resurrection case: a.b=1@1, a=5@2, a.c=2@3 gives a={c:2} in every arrival order', () => {
    const patches: Array<[unknown, number]> = [
      [{ a: { b: 1 } }, 1],
      [{ a: 5 }, 2],
      [{ a: { c: 2 } }, 3],
    ];
    expectAllOrders(patches, { a: { c: 2 } });
    // clearedAt is what remembers that the value at `a` wiped a.b.
    expect(run(patches).meta['["a"]']).toEqual({ t: 3, k: 'o', c: 2 });
  });

  it('clearedAt of any ancestor hides older descendants, not just the parent’s', () => {
    expectAllOrders(
      [
        [{ a: { b: { x: 1 } } }, 1],
        [{ a: null }, 2],
        [{ a: { b: { y: 2 } } }, 3],
      ],
      { a: { b: { y: 2 } } },
    );
  });

  it('a tombstone at an ancestor also wipes, and newer writes below it survive', () => {
    expectAllOrders(
      [
        [{ a: { b: 1, c: 1 } }, 1],
        [{ a: null }, 2],
        [{ a: { c: 3 } }, 3],
        [{ a: { d: 4 } }, 4],
      ],
      { a: { c: 3, d: 4 } },
    );
  });
});

describe('applyPatch: equal timestamps', () => {
  it('a value beats an object marker at the same ts, and wipes the descendants written at that ts', () => {
    expectAllOrders(
      [
        [{ a: { b: 1 } }, 5],
        [{ a: 7 }, 5],
      ],
      { a: 7 },
    );
  });

  it('…and they stay wiped when a later write re-creates the object (clearedAt is compared strictly)', () => {
    expectAllOrders(
      [
        [{ a: { b: 1 } }, 5],
        [{ a: 7 }, 5],
        [{ a: { c: 2 } }, 6],
      ],
      { a: { c: 2 } },
    );
  });

  it('a tombstone beats an object marker at the same ts', () => {
    expectAllOrders(
      [
        [{ a: { b: 1 } }, 5],
        [{ a: null }, 5],
      ],
      {},
    );
  });

  it('a value beats a tombstone at the same ts', () => {
    expectAllOrders(
      [
        [{ a: null }, 5],
        [{ a: 1 }, 5],
      ],
      { a: 1 },
    );
  });

  it('two values at the same ts: the greater canonical JSON wins, whatever the key order', () => {
    expectAllOrders(
      [
        [{ a: 1 }, 5],
        [{ a: 2 }, 5],
        [{ a: 'z' }, 5],
      ],
      { a: 2 }, // canonical JSON compared as strings: '2' > '1' > '"z"' (a quote sorts before digits)
    );
    expectAllOrders(
      [
        [{ a: [{ y: 1, x: 2 }] }, 5],
        [{ a: [{ x: 2, y: 0 }] }, 5],
      ],
      { a: [{ x: 2, y: 1 }] },
    );
  });

  it('two objects at the same ts merge their keys', () => {
    expectAllOrders(
      [
        [{ a: { b: 1 } }, 5],
        [{ a: { c: 2 } }, 5],
      ],
      { a: { b: 1, c: 2 } },
    );
  });

  it('the same value spelled with another key order is the same entry (a replay)', () => {
    const s = run([[{ a: [{ x: 1, y: 2 }] }, 5]]);
    const again = applyPatch(s, { a: [{ y: 2, x: 1 }] }, 5, limits);
    expect(again).toMatchObject({ ok: true, changed: false, metaChanged: false });
  });
});

describe('applyPatch: results', () => {
  it('a replay is accepted and changes nothing, returning the same state object', () => {
    const patch = { a: { b: 1 }, c: null, d: [1] };
    const first = run([[patch, 10]]);
    const second = applyPatch(first, patch, 10, limits);
    expect(second).toEqual({ ok: true, changed: false, metaChanged: false, state: first, applied: {} });
    if (second.ok) expect(second.state).toBe(first);
  });

  it('a superseded late patch changes metadata only', () => {
    const s = run([[{ a: 2 }, 10]]);
    const late = applyPatch(s, { a: 1, c: null }, 5, limits);
    expect(late).toMatchObject({ ok: true, changed: false, metaChanged: true, applied: {} });
    if (late.ok) expect(late.state.doc).toBe(s.doc);
  });

  it('`applied` is the effective change as a merge patch', () => {
    const s = run([[{ a: 1, b: { c: 1, d: 2 }, e: 'keep', f: { g: 1 } }, 1]]);
    const result = applyPatch(s, { a: 1, b: { c: 3, d: null }, f: 7, h: {}, missing: null }, 2, limits);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.applied).toEqual({ b: { c: 3, d: null }, f: 7, h: {} });
    expect(result.changed).toBe(true);
    // Only the newer part of a partly superseded patch shows up.
    const partly = applyPatch(result.state, { a: 9, e: 'new' }, 1.5, limits);
    expect(partly.ok && partly.applied).toEqual({ e: 'new' });
    const newer = applyPatch(result.state, { a: 9, e: 'keep' }, 3, limits);
    expect(newer.ok && newer.applied).toEqual({ a: 9 });
  });

  it('does not mutate the state or the patch, and stores its own copy of values', () => {
    const state = run([[{ a: { b: 1 } }, 1]]);
    const snapshot = structuredClone(state);
    const patch = { a: { b: null, c: [1, { z: 1 }] } };
    const patchCopy = structuredClone(patch);
    const result = applyPatch(state, patch, 2, limits);
    expect(state).toEqual(snapshot);
    expect(patch).toEqual(patchCopy);
    (patch.a.c[1] as { z: number }).z = 99;
    expect(result.ok && result.state.doc).toEqual({ a: { c: [1, { z: 1 }] } });
  });

  it('compact metadata: c is stored only on object markers that need it', () => {
    const s = run([
      [{ a: { b: 1 }, x: 1, y: null }, 1],
      [{ a: 5 }, 2],
      [{ a: { c: 2 } }, 3],
    ]);
    expect(s.meta).toEqual({
      '["a"]': { t: 3, k: 'o', c: 2 },
      '["a","b"]': { t: 1, k: 'v', v: 1 },
      '["a","c"]': { t: 3, k: 'v', v: 2 },
      '["x"]': { t: 1, k: 'v', v: 1 },
      '["y"]': { t: 1, k: 'd' },
    });
  });

  it('rejects a non-finite ts as a programming error', () => {
    expect(() => applyPatch(emptySection(), {}, Number.NaN, limits)).toThrow(RangeError);
    expect(() => applyPatch(emptySection(), {}, -1, limits)).toThrow(RangeError);
  });
});

describe('applyPatch: validation', () => {
  const base = run([[{ a: { b: 1 } }, 1]]);

  function refuse(patch: unknown, lim: TwinLimits = limits) {
    const snapshot = structuredClone(base);
    const result = applyPatch(base, patch, 2, lim);
    // Never partial: the state is untouched.
    expect(base).toEqual(snapshot);
    if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
    expect(result.error).toBeInstanceOf(TwinValidationError);
    return result.error;
  }

  it.each([
    [[1, 2], 'an array'],
    [null, 'null'],
    ['text', 'a string'],
    [42, '42'],
    [undefined, 'undefined'],
    [new Date(0), 'a Date'],
  ])('NOT_AN_OBJECT for %j', (patch, what) => {
    const error = refuse(patch);
    expect(error.toJSON()).toEqual({ code: 'NOT_AN_OBJECT', message: `state must be a JSON object, not ${what}`, path: [] });
  });

  it('accepts null-prototype objects (what GraphQL literal parsers build)', () => {
    const patch = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    expect(applyPatch(emptySection(), patch, 1, limits)).toMatchObject({ ok: true, changed: true });
    expect(isPlainObject(patch)).toBe(true);
  });

  it('TOO_DEEP: {a:{b:1}} has depth 2; arrays count as a level too', () => {
    const lim = { ...limits, maxDepth: 2 };
    expect(applyPatch(emptySection(), { a: { b: 1 } }, 1, lim).ok).toBe(true);
    expect(applyPatch(emptySection(), { a: [1] }, 1, lim).ok).toBe(true);
    let error = refuse({ a: { b: { c: 1 } } }, lim);
    expect(error.toJSON()).toEqual({ code: 'TOO_DEEP', message: 'state.a.b is nested 3 levels deep; the limit is 2', path: ['a', 'b'] });
    error = refuse({ a: [[1]] }, lim);
    expect(error.toJSON()).toEqual({ code: 'TOO_DEEP', message: 'state.a[0] is nested 3 levels deep; the limit is 2', path: ['a', '0'] });
    expect(refuse({ a: { b: {} } }, lim).code).toBe('TOO_DEEP');
  });

  it('TOO_DEEP terminates on cyclic input', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(refuse(cyclic).code).toBe('TOO_DEEP');
  });

  it('INVALID_KEY: starts with $', () => {
    expect(refuse({ a: { $foo: 1 } }).toJSON()).toEqual({
      code: 'INVALID_KEY',
      message: `key "$foo" at state.a starts with '$'`,
      path: ['a', '$foo'],
    });
    expect(refuse({ $set: {} }).message).toBe(`key "$set" at state starts with '$'`);
  });

  it('INVALID_KEY: empty', () => {
    expect(refuse({ a: { '': 1 } }).toJSON()).toEqual({ code: 'INVALID_KEY', message: 'empty key at state.a', path: ['a', ''] });
  });

  it('INVALID_KEY: too long, counted in characters', () => {
    const lim = { ...limits, maxKeyLength: 4 };
    expect(applyPatch(emptySection(), { '😀😀😀😀': 1 }, 1, lim).ok).toBe(true); // 8 UTF-16 units, 4 characters
    expect(refuse({ 'with space': { abcde: 1 } }, lim).toJSON()).toEqual({
      code: 'INVALID_KEY',
      message: 'key "with space" at state is 10 characters long; the limit is 4',
      path: ['with space'],
    });
    // Messages stay short even for huge keys; the path keeps the full key.
    const huge = 'k'.repeat(10_000);
    const error = refuse({ a: { [huge]: 1 } });
    expect(error.message).toBe(`key "${'k'.repeat(32)}…" at state.a is 10000 characters long; the limit is 128`);
    expect(error.path).toEqual(['a', huge]);
  });

  it('INVALID_KEY: __proto__ and strings PostgreSQL cannot store', () => {
    const proto = JSON.parse('{"a":{"__proto__":{"polluted":true}}}') as unknown;
    expect(refuse(proto).toJSON()).toMatchObject({ code: 'INVALID_KEY', path: ['a', '__proto__'], message: 'key "__proto__" at state.a is reserved' });
    expect(refuse({ 'a\u0000b': 1 }).toJSON()).toMatchObject({ code: 'INVALID_KEY', path: ['a\u0000b'] });
    expect(refuse({ '\ud800': 1 }).message).toContain('unpaired UTF-16 surrogate');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keys inside arrays follow the same rules', () => {
    expect(refuse({ a: [{ ok: 1 }, { $bad: 1 }] }).toJSON()).toEqual({
      code: 'INVALID_KEY',
      message: `key "$bad" at state.a[1] starts with '$'`,
      path: ['a', '1', '$bad'],
    });
  });

  it.each([
    [{ a: { b: undefined } }, ['a', 'b'], 'state.a.b is undefined, which is not a JSON value'],
    [{ a: () => 1 }, ['a'], 'state.a is a function, which is not a JSON value'],
    [{ a: Number.NaN }, ['a'], 'state.a is NaN; numbers must be finite'],
    [{ a: Number.POSITIVE_INFINITY }, ['a'], 'state.a is Infinity; numbers must be finite'],
    [{ a: 10n }, ['a'], 'state.a is a bigint, which is not a JSON value'],
    [{ a: Symbol('s') }, ['a'], 'state.a is a symbol, which is not a JSON value'],
    [{ a: new Date(0) }, ['a'], 'state.a is a Date, not a plain JSON object'],
    [{ a: new Map() }, ['a'], 'state.a is a Map, not a plain JSON object'],
    [{ a: [1, undefined] }, ['a', '1'], 'state.a[1] is undefined, which is not a JSON value'],
    // eslint-disable-next-line no-sparse-arrays
    [{ a: [1, , 3] }, ['a', '1'], 'state.a[1] is an empty array slot'],
    [{ 'odd key': { x: 'a\u0000' } }, ['odd key', 'x'], 'state["odd key"].x contains a NUL character (\\u0000), which cannot be stored'],
    [{ s: 'x\udc00' }, ['s'], 'state.s contains an unpaired UTF-16 surrogate, which is not valid Unicode'],
  ])('INVALID_VALUE: %s', (patch, path, message) => {
    expect(refuse(patch).toJSON()).toEqual({ code: 'INVALID_VALUE', message, path });
  });

  it('valid surrogate pairs and -0 are fine', () => {
    const result = applyPatch(emptySection(), { e: '😀', z: -0 }, 1, limits);
    expect(result.ok && result.state.doc).toEqual({ e: '😀', z: 0 });
  });

  it('validates the whole patch before merging anything', () => {
    // The valid part (x) comes first and must not be applied.
    const error = refuse({ x: 1, a: { b: 2, $c: 3 } });
    expect(error.code).toBe('INVALID_KEY');
    expect(base.doc).toEqual({ a: { b: 1 } });
  });

  it('TOO_LARGE: measured on the visible document in UTF-8 bytes; the whole patch is refused', () => {
    const lim = { ...limits, maxSectionBytes: 30 };
    // {"a":{"b":1},"é":"éé"} is 22 characters but 25 bytes (é takes two);
    // {"a":{"b":1},"x":0,"é":"éééé"} is 30 characters but 35 bytes.
    expect(applyPatch(base, { é: 'éé' }, 2, lim).ok).toBe(true);
    const error = refuse({ x: 0, é: 'éééé' }, lim);
    expect(error.toJSON()).toEqual({ code: 'TOO_LARGE', message: 'state would be 35 bytes as JSON; the limit is 30 bytes', path: [] });
  });

  it('TOO_LARGE: a patch that removes data is still accepted when the document is under the limit', () => {
    const big = run([[{ a: 'x'.repeat(100), b: 1 }, 1]]);
    const lim = { ...limits, maxSectionBytes: 50 };
    expect(applyPatch(big, { a: null }, 2, lim)).toMatchObject({ ok: true, changed: true });
    // A replay of what is already there is not refused even if the limit was lowered since.
    expect(applyPatch(big, { b: 1 }, 1, lim)).toMatchObject({ ok: true, changed: false });
  });

  it('uses the label given by the caller in messages', () => {
    const result = applyPatch(emptySection(), { a: { $x: 1 } }, 1, limits, 'patch');
    expect(!result.ok && result.error.message).toBe(`key "$x" at patch.a starts with '$'`);
  });
});

describe('mergeMeta', () => {
  const m1 = run([[{ a: { b: 1 } }, 1]]).meta;
  const m2 = run([[{ a: 5 }, 2]]).meta;
  const m3 = run([[{ a: { c: 2 } }, 3]]).meta;

  it('is a join: commutative, associative, idempotent', () => {
    expect(mergeMeta(m1, m2)).toEqual(mergeMeta(m2, m1));
    expect(mergeMeta(mergeMeta(m1, m2), m3)).toEqual(mergeMeta(m1, mergeMeta(m2, m3)));
    expect(mergeMeta(m1, m1)).toEqual(m1);
    expect(materialize(mergeMeta(mergeMeta(m3, m1), m2))).toEqual({ a: { c: 2 } });
  });

  it('does not mutate its inputs', () => {
    const copy = structuredClone(m1);
    mergeMeta(m1, m3);
    expect(m1).toEqual(copy);
  });
});

describe('materialize', () => {
  it('sorts keys, so every instance writes the same JSON', () => {
    const a = run([[{ b: 1, a: { z: 1, y: 2 } }, 1]]);
    expect(JSON.stringify(a.doc)).toBe('{"a":{"y":2,"z":1},"b":1}');
  });

  it('ignores keys that are not paths rather than failing to read the twin', () => {
    const meta = {
      '["café"]': { t: 1, k: 'o' as const },
      '["café","x"]': { t: 1, k: 'v' as const, v: 1 },
      'not json': { t: 1, k: 'v' as const, v: 1 },
      '[]': { t: 1, k: 'v' as const, v: 1 },
      '{"a":1}': { t: 1, k: 'v' as const, v: 1 },
    };
    expect(materialize(meta)).toEqual({ café: { x: 1 } });
  });
});

describe('metadataTree', () => {
  it('mirrors the visible document with { ts } leaves', () => {
    const s = run([
      [{ a: { b: 1, gone: 1 }, list: [1, 2], e: {} }, 1],
      [{ a: { c: 'x', gone: null } }, 2],
      [{ old: 1 }, 3],
      [{ old: null }, 4],
    ]);
    expect(metadataTree(s.meta)).toEqual({ a: { b: { ts: 1 }, c: { ts: 2 } }, list: { ts: 1 }, e: {} });
  });

  it('omits wiped descendants', () => {
    const s = run([
      [{ a: { b: 1 } }, 1],
      [{ a: 5 }, 2],
      [{ a: { c: 2 } }, 3],
    ]);
    expect(metadataTree(s.meta)).toEqual({ a: { c: { ts: 3 } } });
  });
});

describe('computeDelta', () => {
  it('lists desired leaves that reported lacks or has with another value, nested as in desired', () => {
    const desired = { mode: 'eco', fan: { speed: 3, dir: 'in' }, list: [1, 2], same: 1, empty: {}, obj: { x: 1 } };
    const reported = { mode: 'eco', fan: { speed: 2, dir: 'in' }, list: [1, 2, 3], same: 1, extra: true, obj: 5 };
    expect(computeDelta(desired, reported)).toEqual({ fan: { speed: 3 }, list: [1, 2], obj: { x: 1 } });
  });

  it('compares arrays whole and deeply, objects inside arrays regardless of key order', () => {
    expect(computeDelta({ a: [{ x: 1, y: 2 }] }, { a: [{ y: 2, x: 1 }] })).toEqual({});
    expect(computeDelta({ a: [{ x: 1 }] }, { a: [{ x: 2 }] })).toEqual({ a: [{ x: 1 }] });
  });

  it('a desired value against a reported object (and vice versa) is a difference', () => {
    expect(computeDelta({ a: 1 }, { a: { b: 1 } })).toEqual({ a: 1 });
    expect(computeDelta({ a: { b: 1 } }, { a: [1] })).toEqual({ a: { b: 1 } });
  });

  it('is not fooled by inherited properties', () => {
    expect(computeDelta({ constructor: 1, toString: { x: 1 } }, {})).toEqual({ constructor: 1, toString: { x: 1 } });
    expect(computeDelta({ a: 1 }, Object.create({ a: 1 }) as JsonObject)).toEqual({ a: 1 });
  });

  it('empty objects ask for nothing', () => {
    expect(computeDelta({ a: {}, b: { c: {} } }, {})).toEqual({});
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and writes -0 as 0', () => {
    expect(canonicalJson({ b: [{ d: 1, c: -0 }], a: null })).toBe('{"a":null,"b":[{"c":0,"d":1}]}');
    expect(canonicalJson({ 10: 1, 9: 2, a: 3 })).toBe('{"10":1,"9":2,"a":3}');
  });
});

describe('parseTimestamp', () => {
  const now = Date.UTC(2025, 0, 1);

  it('accepts epoch ms and ISO-8601 with a zone; absent means now', () => {
    expect(parseTimestamp(1_700_000_000_000, now)).toBe(1_700_000_000_000);
    expect(parseTimestamp(0, now)).toBe(0);
    expect(parseTimestamp(undefined, now)).toBe(now);
    expect(parseTimestamp(null, now)).toBe(now);
    expect(parseTimestamp('2024-05-01T12:00:00Z', now)).toBe(Date.UTC(2024, 4, 1, 12));
    expect(parseTimestamp('2024-05-01T12:00:00.123456Z', now)).toBe(Date.UTC(2024, 4, 1, 12, 0, 0, 123));
    expect(parseTimestamp('2024-05-01T12:00:00.5+02:00', now)).toBe(Date.UTC(2024, 4, 1, 10, 0, 0, 500));
    expect(parseTimestamp('2024-05-01T12:00-0130', now)).toBe(Date.UTC(2024, 4, 1, 13, 30));
    expect(parseTimestamp('2024-05-01 12:00:00z', now)).toBe(Date.UTC(2024, 4, 1, 12));
    expect(parseTimestamp('2024-02-29', now)).toBe(Date.UTC(2024, 1, 29));
    expect(parseTimestamp('1969-12-31T23:00:00-02:00', now)).toBe(3_600_000);
  });

  it.each([
    [-1, 'ts -1 is negative (before 1970)'],
    [Number.NaN, 'ts NaN is not a finite number'],
    [Number.POSITIVE_INFINITY, 'ts Infinity is not a finite number'],
    [9e15, 'ts 9000000000000000 is after the latest date JavaScript can represent'],
    [true, 'ts must be epoch milliseconds or an ISO-8601 string, not a boolean'],
    [{}, 'ts must be epoch milliseconds or an ISO-8601 string, not an object'],
    ['yesterday', 'ts "yesterday" is not an ISO-8601 date-time (like 2024-05-01T12:00:00Z) or epoch milliseconds'],
    ['1700000000000', 'ts "1700000000000" is not an ISO-8601 date-time (like 2024-05-01T12:00:00Z) or epoch milliseconds'],
    ['2024-05-01T12:00:00', 'ts "2024-05-01T12:00:00" has no time zone; add Z or an offset like +02:00'],
    ['2023-02-29T00:00:00Z', 'ts "2023-02-29T00:00:00Z" is not a valid date-time'],
    ['2024-13-01T00:00:00Z', 'ts "2024-13-01T00:00:00Z" is not a valid date-time'],
    ['2024-01-01T24:00:00Z', 'ts "2024-01-01T24:00:00Z" is not a valid date-time'],
    ['0075-01-01T00:00:00Z', 'ts "0075-01-01T00:00:00Z" is before 1970'],
    ['1969-12-31T23:59:59Z', 'ts "1969-12-31T23:59:59Z" is negative (before 1970)'],
  ])('rejects %s', (input, message) => {
    const result = parseTimestamp(input, now);
    expect(result).toBeInstanceOf(TwinValidationError);
    expect((result as TwinValidationError).toJSON()).toEqual({ code: 'INVALID_TIMESTAMP', message, path: ['ts'] });
  });

  it('optionally refuses timestamps too far in the future', () => {
    expect(parseTimestamp(now + 1000, now, { maxFutureMs: 1000 })).toBe(now + 1000);
    const result = parseTimestamp(now + 1001, now, { maxFutureMs: 1000 });
    expect(result instanceof Error && result.message).toBe(`ts ${now + 1001} is 1001 ms ahead of the server clock; the limit is 1000 ms`);
  });
});
