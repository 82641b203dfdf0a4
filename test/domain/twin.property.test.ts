import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TwinLimits } from '../../src/config.ts';
import {
  applyPatch,
  computeDelta,
  emptySection,
  materialize,
  mergeMeta,
  type JsonObject,
  type JsonValue,
  type SectionMeta,
  type SectionState,
  type WriteOrder,
} from '../../src/domain/twin.ts';
import { deepEqual, isSubset, mergePatch } from './reference.ts';

const limits: TwinLimits = {
  maxSectionBytes: 1024 * 1024,
  maxDepth: 10,
  maxKeyLength: 128,
  maxFutureSkewMs: 600_000,
  tombstoneTtlMs: 86_400_000,
  maxMetadataEntries: 100_000,
};
// PROP_RUNS=5000 for a deeper search when touching the reducer.
const numRuns = Number(process.env.PROP_RUNS ?? 200);

// Two keys and tiny values, so that paths and values collide often: collisions are where merges go wrong.
const key = fc.constantFrom('a', 'b');
const scalar = fc.oneof(
  fc.integer({ min: 0, max: 3 }),
  fc.boolean(),
  fc.constantFrom('x', 'y'),
  fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 2 }),
  // Equal values with different key order, and objects inside arrays.
  fc.constantFrom<JsonValue>([{ p: 1, q: 2 }], [{ q: 2, p: 1 }], [{ p: 2 }]),
);

// Keys that are awkward once JSON-encoded into a path key (quotes, backslashes, commas, brackets),
// that JS objects order specially (integer-like), or that are not ASCII.
const nastyKey = fc.constantFrom('a', '"', 'a"', '\\', 'a\\', ',', '","', '["x"]', '1', '10', '-1', 'é', '😀');

/** Merge patches up to `depth` levels; `null` (delete) and `{}` (marker only) included. */
function patchArb(depth: number, keys: fc.Arbitrary<string> = key): fc.Arbitrary<JsonObject> {
  const value: fc.Arbitrary<JsonValue> =
    depth <= 1 ? fc.oneof(scalar, fc.constant(null)) : fc.oneof(scalar, fc.constant(null), { arbitrary: patchArb(depth - 1, keys), weight: 2 });
  return fc.dictionary(keys, value, { maxKeys: 2 });
}

/** Documents (what a section can look like): no nulls at object level. */
function docArb(depth: number): fc.Arbitrary<JsonObject> {
  const value: fc.Arbitrary<JsonValue> = depth <= 1 ? scalar : fc.oneof(scalar, docArb(depth - 1));
  return fc.dictionary(key, value, { maxKeys: 2 });
}

const patch = patchArb(3);

type Timed = [JsonObject, number];

function apply(state: SectionState, [p, ts]: Timed) {
  const result = applyPatch(state, p, ts, limits);
  if (!result.ok) throw result.error;
  return result;
}

function run(patches: Timed[]): SectionState {
  return patches.reduce((state, timed) => apply(state, timed).state, emptySection());
}

/** A patch set with timestamps that often tie, and a second arrival order of the same set. */
const patchSetTwoOrders = fc
  .array(fc.tuple(patch, fc.integer({ min: 1, max: 4 })), { maxLength: 8 })
  .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })));

/** Patches with distinct timestamps (index + 1), and an arrival order. */
const distinctTsArrival = fc
  .array(patch, { maxLength: 8 })
  .map((ps) => ps.map((p, i): Timed => [p, i + 1]))
  .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })));

describe('twin reducer properties', () => {
  it('(1) any arrival order of the same patches converges to the same metadata and document', () => {
    fc.assert(
      fc.property(patchSetTwoOrders, ([order1, order2]) => {
        const s1 = run(order1);
        const s2 = run(order2);
        expect(s2.meta).toEqual(s1.meta);
        expect(s2.doc).toEqual(s1.doc);
        // Not just equal: byte-identical JSON, so two instances write the same row.
        expect(JSON.stringify(s2.doc)).toBe(JSON.stringify(s1.doc));
        // The incrementally maintained document is exactly the one materialized from scratch.
        expect(JSON.stringify(materialize(s1.meta))).toBe(JSON.stringify(s1.doc));
        expect(JSON.stringify(materialize(s2.meta))).toBe(JSON.stringify(s2.doc));
      }),
      { numRuns },
    );
  });

  it('(1b) mergeMeta of per-patch metadata, in any grouping, equals applying the patches', () => {
    fc.assert(
      fc.property(patchSetTwoOrders, ([order1, order2]) => {
        const metas = order2.map((timed) => run([timed]).meta);
        // Right fold over the shuffled order: a different grouping and order than the sequential run.
        const joined = metas.reduceRight<SectionMeta>((acc, m) => mergeMeta(m, acc), {});
        expect(joined).toEqual(run(order1).meta);
      }),
      { numRuns },
    );
  });

  it('(2) with distinct timestamps, the document equals RFC 7386 applied in timestamp order', () => {
    fc.assert(
      fc.property(distinctTsArrival, ([inTsOrder, arrival]) => {
        const expected = inTsOrder.reduce<JsonValue>((doc, [p]) => mergePatch(doc, p), {});
        expect(run(arrival).doc).toEqual(expected);
      }),
      { numRuns },
    );
  });

  it('(2b) the same holds for keys that are awkward to encode, and the document is the one materialize builds', () => {
    const arrival = fc
      .array(patchArb(3, nastyKey), { maxLength: 8 })
      .map((ps) => ps.map((p, i): Timed => [p, i + 1]))
      .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })));
    fc.assert(
      fc.property(arrival, ([inTsOrder, order]) => {
        const expected = inTsOrder.reduce<JsonValue>((doc, [p]) => mergePatch(doc, p), {});
        const state = run(order);
        expect(state.doc).toEqual(expected);
        expect(JSON.stringify(state.doc)).toBe(JSON.stringify(materialize(state.meta)));
      }),
      { numRuns },
    );
  });

  it('`applied` turns the previous document into the next one, and `changed` says whether they differ', () => {
    fc.assert(
      fc.property(patchSetTwoOrders, ([, arrival]) => {
        let state = emptySection();
        for (const timed of arrival) {
          const result = apply(state, timed);
          expect(mergePatch(state.doc, result.applied)).toEqual(result.state.doc);
          expect(result.changed).toBe(!deepEqual(state.doc, result.state.doc));
          expect(result.changed).toBe(Object.keys(result.applied).length > 0);
          if (result.changed) expect(result.metaChanged).toBe(true);
          state = result.state;
        }
      }),
      { numRuns },
    );
  });

  it('(3) applying a patch again, right away or after others, changes nothing', () => {
    fc.assert(
      fc.property(patchSetTwoOrders, fc.nat(), ([order1], pick) => {
        fc.pre(order1.length > 0);
        const once = apply(emptySection(), order1[0]!);
        const twice = apply(once.state, order1[0]!);
        expect(twice).toMatchObject({ changed: false, metaChanged: false, applied: {} });
        expect(twice.state).toBe(once.state);

        const all = run(order1);
        const replay = apply(all, order1[pick % order1.length]!);
        expect(replay).toMatchObject({ changed: false, metaChanged: false });
        expect(replay.state).toBe(all);
      }),
      { numRuns },
    );
  });

  it('(4) the delta is empty exactly when desired ⊆ reported', () => {
    const desiredAndReported = docArb(3).chain((desired) =>
      fc.tuple(
        fc.constant(desired),
        fc.oneof(
          docArb(3), // unrelated
          fc.constant(desired), // equal
          patchArb(3).map((p) => mergePatch(desired, p) as JsonObject), // close to it
          docArb(2).map((extra) => mergePatch(extra, desired) as JsonObject), // a superset
        ),
      ),
    );
    fc.assert(
      fc.property(desiredAndReported, ([desired, reported]) => {
        const delta = computeDelta(desired, reported);
        expect(Object.keys(delta).length === 0).toBe(isSubset(desired, reported));
        // The delta is what a device must apply to get there.
        const converged = mergePatch(reported, delta) as JsonObject;
        expect(computeDelta(desired, converged)).toEqual({});
        expect(isSubset(delta, desired)).toBe(true);
      }),
      { numRuns },
    );
  });
});

describe('twin reducer: size limit is all-or-nothing', () => {
  it('a refused patch leaves the state untouched, and an accepted state is within the limit', () => {
    const small: TwinLimits = { ...limits, maxSectionBytes: 40 };
    let refused = 0;
    fc.assert(
      fc.property(patchSetTwoOrders, ([, arrival]) => {
        let state = emptySection();
        for (const [p, ts] of arrival) {
          const before = structuredClone(state);
          const result = applyPatch(state, p, ts, small);
          if (result.ok) {
            state = result.state;
            expect(Buffer.byteLength(JSON.stringify(state.doc))).toBeLessThanOrEqual(40);
          } else {
            expect(result.error.code).toBe('TOO_LARGE');
            expect(state).toEqual(before);
            refused++;
          }
        }
      }),
      { numRuns },
    );
    expect(refused).toBeGreaterThan(0); // the limit was actually exercised
  });
});

it('the reference merge patch is RFC 7386 (its appendix A examples)', () => {
  const cases: Array<[JsonValue, JsonValue, JsonValue]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, p, result] of cases) expect(mergePatch(target, p)).toEqual(result);
});

describe('twin reducer properties with seq (contract v1.1)', () => {
  type Ordered = [JsonObject, WriteOrder];
  const orderOf = (ts: number, seq: number | undefined): WriteOrder => (seq === undefined ? { ts } : { ts, seq });

  function runOrdered(patches: Ordered[]): SectionState {
    return patches.reduce((state, [p, order]) => {
      const result = applyPatch(state, p, order, limits);
      if (!result.ok) throw result.error;
      return result.state;
    }, emptySection());
  }

  /** Patches with and without seq, seqs and timestamps that often tie, and a second arrival order. */
  const mixedTwoOrders = fc
    .array(fc.tuple(patch, fc.integer({ min: 1, max: 4 }), fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined })), { maxLength: 8 })
    .map((set) => set.map(([p, ts, seq]): Ordered => [p, orderOf(ts, seq)]))
    .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })));

  it('(S1) any arrival order of patches with and without seq converges to the same metadata and document', () => {
    let withSeqAndClock = 0;
    fc.assert(
      fc.property(mixedTwoOrders, ([order1, order2]) => {
        const s1 = runOrdered(order1);
        const s2 = runOrdered(order2);
        expect(s2.meta).toEqual(s1.meta);
        expect(JSON.stringify(s2.doc)).toBe(JSON.stringify(s1.doc));
        expect(JSON.stringify(materialize(s1.meta))).toBe(JSON.stringify(s1.doc));
        if (Object.hasOwn(s1.meta, '[]')) withSeqAndClock++;
      }),
      { numRuns },
    );
    // Not vacuous: a higher seq with an older t did supersede the entry that carried the clock.
    expect(withSeqAndClock).toBeGreaterThan(0);
  });

  it('(S1b) mergeMeta of per-patch metadata with and without seq, in any grouping, equals applying the patches', () => {
    fc.assert(
      fc.property(mixedTwoOrders, ([order1, order2]) => {
        const metas = order2.map((ordered) => runOrdered([ordered]).meta);
        const joined = metas.reduceRight<SectionMeta>((acc, m) => mergeMeta(m, acc), {});
        expect(joined).toEqual(runOrdered(order1).meta);
      }),
      { numRuns },
    );
  });

  it('(S2) with distinct stamps, the document equals RFC 7386 applied in (seq, ts) order, whatever the timestamps say', () => {
    // Timestamps are a permutation, so time order and seq order disagree; some patches have no seq.
    const arrival = fc
      .array(fc.tuple(patch, fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined })), { maxLength: 8 })
      .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray([...set.keys()], { minLength: set.length })))
      .map(([set, times]) => set.map(([p, seq], i): Ordered => [p, orderOf(times[i]! + 1, seq)]))
      .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })));
    fc.assert(
      fc.property(arrival, ([set, order]) => {
        const rank = ([, o]: Ordered) => [o.seq ?? -1, o.ts] as const;
        const inStampOrder = [...set].sort((x, y) => rank(x)[0] - rank(y)[0] || rank(x)[1] - rank(y)[1]);
        const expected = inStampOrder.reduce<JsonValue>((doc, [p]) => mergePatch(doc, p), {});
        expect(runOrdered(order).doc).toEqual(expected);
      }),
      { numRuns },
    );
  });

  it('(S3) applying a patch with seq again, right away or after others, changes nothing', () => {
    fc.assert(
      fc.property(mixedTwoOrders, fc.nat(), ([order1], pick) => {
        fc.pre(order1.length > 0);
        const all = runOrdered(order1);
        const [p, order] = order1[pick % order1.length]!;
        const replay = applyPatch(all, p, order, limits);
        expect(replay).toMatchObject({ ok: true, changed: false, metaChanged: false });
        if (replay.ok) expect(replay.state).toBe(all);
      }),
      { numRuns },
    );
  });
});
