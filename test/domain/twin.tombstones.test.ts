/**
 * Forgetting in the twin reducer: tombstones and shadowed entries older than the horizon
 * (`TwinLimits.tombstoneTtlMs` behind a section's newest write) are collected when the section is
 * written, and merges stay order-independent and idempotent for patches inside the window.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyPatch,
  collectMeta,
  emptySection,
  horizonOf,
  materialize,
  type JsonObject,
  type JsonValue,
  type SectionState,
  type TwinLimits,
  type WriteOrder,
} from '../../src/domain/twin.ts';

const base: TwinLimits = {
  maxSectionBytes: 1024 * 1024,
  maxDepth: 10,
  maxKeyLength: 128,
  maxFutureSkewMs: 0,
  tombstoneTtlMs: 1_000_000,
  maxMetadataEntries: 100_000,
};
const numRuns = Number(process.env.PROP_RUNS ?? 300);

const key = fc.constantFrom('a', 'b', 'c');
const scalar = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('x', 'y'), fc.constantFrom<JsonValue>([1], [{ p: 1 }]));
function patchArb(depth: number): fc.Arbitrary<JsonObject> {
  const value: fc.Arbitrary<JsonValue> =
    depth <= 1 ? fc.oneof(scalar, fc.constant(null)) : fc.oneof(scalar, fc.constant(null), { arbitrary: patchArb(depth - 1), weight: 2 });
  return fc.dictionary(key, value, { maxKeys: 3 });
}
const patch = patchArb(3);

type Timed = [JsonObject, number];

function run(patches: Timed[], limits: TwinLimits, from: SectionState = emptySection()): SectionState {
  return patches.reduce((state, [p, ts]) => {
    const result = applyPatch(state, p, ts, limits);
    if (!result.ok) throw result.error;
    return result.state;
  }, from);
}

/**
 * A history written in timestamp order (ts 1..20, ties allowed), a window `ttl`, and a set of patches
 * whose timestamps lie inside the window, in two arrival orders: ts in [t0, t0 + ttl] with t0 at or
 * after the history's newest write, so every one of them is at or after the final horizon.
 */
const scenario = fc
  .record({
    history: fc.array(fc.tuple(patch, fc.integer({ min: 1, max: 20 })), { maxLength: 8 }),
    ttl: fc.integer({ min: 0, max: 5 }),
    start: fc.integer({ min: 20, max: 40 }),
  })
  .chain(({ history, ttl, start }) =>
    fc
      .array(fc.tuple(patch, fc.integer({ min: start, max: start + ttl })), { maxLength: 7 })
      .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })))
      .map(([order1, order2]) => ({ history: [...history].sort((x, y) => x[1] - y[1]), ttl, order1, order2 })),
  );

describe('twin tombstone collection', () => {
  it('within the window, any arrival order gives the same metadata and document, with collection happening', () => {
    let collectedSomething = 0;
    fc.assert(
      fc.property(scenario, ({ history, ttl, order1, order2 }) => {
        const limits = { ...base, tombstoneTtlMs: ttl };
        const before = run(history, limits);
        const s1 = run(order1, limits, before);
        const s2 = run(order2, limits, before);
        expect(s2.meta).toEqual(s1.meta);
        expect(JSON.stringify(s2.doc)).toBe(JSON.stringify(s1.doc));
        expect(JSON.stringify(materialize(s1.meta))).toBe(JSON.stringify(s1.doc));

        // Forgetting changes nothing visible: the same patches without collection give the same document,
        // and the collected metadata is exactly the full metadata collected at the final horizon.
        const full = run(order1, base, run(history, base));
        expect(JSON.stringify(s1.doc)).toBe(JSON.stringify(full.doc));
        expect(s1.meta).toEqual(collectMeta(full.meta, horizonOf(full.meta, ttl)));
        if (Object.keys(s1.meta).length < Object.keys(full.meta).length) collectedSomething++;
      }),
      { numRuns },
    );
    // The property is not vacuous: in many runs something was actually forgotten.
    expect(collectedSomething).toBeGreaterThan(numRuns / 10);
  });

  it('within the window, replaying every patch again changes nothing (idempotence)', () => {
    fc.assert(
      fc.property(scenario, ({ history, ttl, order1, order2 }) => {
        const limits = { ...base, tombstoneTtlMs: ttl };
        const once = run(order1, limits, run(history, limits));
        let state = once;
        for (const [p, ts] of order2) {
          const result = applyPatch(state, p, ts, limits);
          if (!result.ok) throw result.error;
          expect(result.changed).toBe(false);
          state = result.state;
        }
        expect(state.meta).toEqual(once.meta);
        expect(state.doc).toEqual(once.doc);
      }),
      { numRuns },
    );
  });

  it('a collected tombstone disappears from the stored metadata, with what it hid', () => {
    const limits = { ...base, tombstoneTtlMs: 10 };
    const s = run(
      [
        [{ gone: 1, nested: { x: 1 } }, 1],
        [{ gone: null, nested: null }, 2],
      ],
      limits,
    );
    expect(Object.keys(s.meta)).toEqual(['["gone"]', '["nested"]', '["nested","x"]']);
    // Inside the window (2 is not older than 12 - 10) the deletions are remembered; the value the
    // deletion of `nested` hid (ts 1) is already behind the horizon and can never show again.
    expect(Object.keys(run([[{ other: 1 }, 12]], limits, s).meta).sort()).toEqual(['["gone"]', '["nested"]', '["other"]']);
    // Beyond it: gone, the value below the deleted object too.
    const later = run([[{ other: 1 }, 13]], limits, s);
    expect(later.meta).toEqual({ '["other"]': { t: 13, k: 'v', v: 1 } });
    expect(later.doc).toEqual({ other: 1 });
  });

  it('collects the entries a re-created object hid, and the clearedAt that hid them', () => {
    const limits = { ...base, tombstoneTtlMs: 10 };
    const s = run(
      [
        [{ a: { old: 1 } }, 1],
        [{ a: 5 }, 2],
        [{ a: { fresh: 1 } }, 3],
      ],
      limits,
    );
    expect(s.meta['["a"]']).toEqual({ t: 3, k: 'o', c: 2 });
    expect(s.meta['["a","old"]']).toBeDefined();
    const later = run([[{ z: 0 }, 20]], limits, s);
    expect(later.meta).toEqual({ '["a"]': { t: 3, k: 'o' }, '["a","fresh"]': { t: 3, k: 'v', v: 1 }, '["z"]': { t: 20, k: 'v', v: 0 } });
    expect(later.doc).toEqual({ a: { fresh: 1 }, z: 0 });
  });

  it('a patch older than the horizon cannot bring back a forgotten key, but still updates keys the twin holds', () => {
    const limits = { ...base, tombstoneTtlMs: 10 };
    const s = run(
      [
        [{ kept: 1, deleted: 1 }, 1],
        [{ deleted: null }, 2],
        [{ now: 1 }, 100],
      ],
      limits,
    );
    expect(s.meta['["deleted"]']).toBeUndefined();
    // The replay of the write the deletion superseded: accepted, and the deletion still wins.
    const replay = applyPatch(s, { deleted: 1 }, 1, limits);
    expect(replay).toMatchObject({ ok: true, changed: false, metaChanged: false });
    // A late write to a key still held merges as always (here, newer than what is held).
    const late = applyPatch(s, { kept: 2, deleted: 2, brandNew: 1 }, 5, limits);
    expect(late.ok && late.state.doc).toEqual({ kept: 2, now: 1 });
  });

  it('churning distinct keys keeps the metadata bounded by the window', () => {
    const limits = { ...base, tombstoneTtlMs: 10 };
    let state = emptySection();
    for (let i = 0; i < 2000; i++) {
      state = run(
        [
          [{ [`k${i}`]: i }, 2 * i],
          [{ [`k${i}`]: null }, 2 * i + 1],
        ],
        limits,
        state,
      );
    }
    expect(state.doc).toEqual({});
    // Tombstones of the last 10 ms only: about 5 pairs.
    expect(Object.keys(state.meta).length).toBeLessThanOrEqual(6);
  });

  it('refuses growth beyond maxMetadataEntries with METADATA_TOO_LARGE, stores nothing, and frees room as the window passes', () => {
    const limits = { ...base, tombstoneTtlMs: 10, maxMetadataEntries: 3 };
    const s = run([[{ a: 1, b: 1, c: 1 }, 1]], limits);
    const refused = applyPatch(s, { d: 1 }, 2, limits);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error.code).toBe('METADATA_TOO_LARGE');
    expect(refused.error.message).toBe(
      'state would keep 4 metadata entries (its keys, objects and the deletions remembered for 10 ms); the limit is 3: add and delete fewer distinct keys',
    );
    // Deleting and updating do not grow it: accepted even at the cap.
    const cleaned = run(
      [
        [{ a: null }, 3],
        [{ b: 2 }, 4],
      ],
      limits,
      s,
    );
    expect(cleaned.doc).toEqual({ b: 2, c: 1 });
    // Still refused while the tombstone of `a` is remembered…
    expect(applyPatch(cleaned, { d: 1 }, 13, limits).ok).toBe(false);
    // …accepted once it is forgotten.
    const later = applyPatch(cleaned, { d: 1 }, 14, limits);
    expect(later.ok && later.state.doc).toEqual({ b: 2, c: 1, d: 1 });
  });
});

describe('twin tombstone collection with seq (contract v1.1)', () => {
  type Ordered = [JsonObject, WriteOrder];

  function runOrdered(patches: Ordered[], limits: TwinLimits, from: SectionState = emptySection()): SectionState {
    return patches.reduce((state, [p, order]) => {
      const result = applyPatch(state, p, order, limits);
      if (!result.ok) throw result.error;
      return result.state;
    }, from);
  }

  /**
   * A history in the device's order (ts 1..20 ascending; the first `unsequenced` reports without seq, as
   * from firmware before seq, then seqs that never go back), and patches inside the window: ts in
   * [t0, t0 + ttl] after the history, seqs not below the history's, paired at random — so a higher seq
   * often comes with an older ts, as when two instances stamp receive times.
   */
  const seqScenario = fc
    .record({
      history: fc.array(fc.tuple(patch, fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 2 })), { maxLength: 8 }),
      unsequenced: fc.nat({ max: 8 }),
      ttl: fc.integer({ min: 0, max: 5 }),
      start: fc.integer({ min: 20, max: 40 }),
    })
    .chain(({ history, unsequenced, ttl, start }) => {
      const sorted = [...history].sort((x, y) => x[1] - y[1]);
      let seq = 0;
      const past = sorted.map(([p, ts, step], i): Ordered => {
        if (i < unsequenced) return [p, { ts }];
        seq += step;
        return [p, { ts, seq }];
      });
      return fc
        .array(fc.tuple(patch, fc.integer({ min: start, max: start + ttl }), fc.integer({ min: seq, max: seq + 3 })), { maxLength: 7 })
        .map((set) => set.map(([p, ts, s]): Ordered => [p, { ts, seq: s }]))
        .chain((set) => fc.tuple(fc.constant(set), fc.shuffledSubarray(set, { minLength: set.length })))
        .map(([order1, order2]) => ({ history: past, ttl, order1, order2 }));
    });

  it('within the window, any arrival order gives the same metadata and document, with collection happening', () => {
    let collectedSomething = 0;
    fc.assert(
      fc.property(seqScenario, ({ history, ttl, order1, order2 }) => {
        const limits = { ...base, tombstoneTtlMs: ttl };
        const before = runOrdered(history, limits);
        const s1 = runOrdered(order1, limits, before);
        const s2 = runOrdered(order2, limits, before);
        expect(s2.meta).toEqual(s1.meta);
        expect(JSON.stringify(s2.doc)).toBe(JSON.stringify(s1.doc));
        expect(JSON.stringify(materialize(s1.meta))).toBe(JSON.stringify(s1.doc));

        const full = runOrdered(order1, base, runOrdered(history, base));
        expect(JSON.stringify(s1.doc)).toBe(JSON.stringify(full.doc));
        expect(s1.meta).toEqual(collectMeta(full.meta, horizonOf(full.meta, ttl)));
        if (Object.keys(s1.meta).length < Object.keys(full.meta).length) collectedSomething++;
      }),
      { numRuns },
    );
    expect(collectedSomething).toBeGreaterThan(numRuns / 10);
  });

  it('within the window, replaying every patch again changes nothing', () => {
    fc.assert(
      fc.property(seqScenario, ({ history, ttl, order1, order2 }) => {
        const limits = { ...base, tombstoneTtlMs: ttl };
        const once = runOrdered(order1, limits, runOrdered(history, limits));
        let state = once;
        for (const [p, order] of order2) {
          const result = applyPatch(state, p, order, limits);
          if (!result.ok) throw result.error;
          expect(result.changed).toBe(false);
          state = result.state;
        }
        expect(state.meta).toEqual(once.meta);
      }),
      { numRuns },
    );
  });

  it('collecting at any horizon never changes the visible document, whatever order and lateness the patches had', () => {
    const anyHistory = fc.record({
      patches: fc.array(fc.tuple(patch, fc.integer({ min: 1, max: 30 }), fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined })), { maxLength: 10 }),
      horizon: fc.integer({ min: 0, max: 35 }),
    });
    fc.assert(
      fc.property(anyHistory, ({ patches, horizon }) => {
        const full = runOrdered(
          patches.map(([p, ts, seq]): Ordered => [p, seq === undefined ? { ts } : { ts, seq }]),
          base,
        );
        expect(JSON.stringify(materialize(collectMeta(full.meta, horizon)))).toBe(JSON.stringify(full.doc));
      }),
      { numRuns },
    );
  });

  it('the clock is the newest ts ever written: kept at the root when a higher seq with an older ts took over', () => {
    const limits = { ...base, tombstoneTtlMs: 10 };
    const s = runOrdered(
      [
        [{ a: 1 }, { ts: 100, seq: 1 }],
        [{ a: 2 }, { ts: 90, seq: 2 }],
      ],
      limits,
    );
    expect(s.meta).toEqual({ '[]': { t: 100, k: 'o' }, '["a"]': { t: 90, s: 2, k: 'v', v: 2 } });
    expect(s.doc).toEqual({ a: 2 });
    expect(horizonOf(s.meta, 10)).toBe(90);
    // Once an entry carries the clock again, the root entry goes.
    expect(runOrdered([[{ b: 1 }, { ts: 101, seq: 3 }]], limits, s).meta['[]']).toBeUndefined();
  });

  it('a report without seq never overrides one with seq, but still moves the clock', () => {
    const limits = { ...base, tombstoneTtlMs: 10 };
    const s = runOrdered(
      [
        [
          { a: 1, gone: null },
          { ts: 1, seq: 0 },
        ],
      ],
      limits,
    );
    const late = applyPatch(s, { a: 2, gone: 2 }, 50, limits);
    expect(late).toMatchObject({ ok: true, changed: false, metaChanged: true, applied: {} });
    if (!late.ok) return;
    expect(late.state.doc).toEqual({ a: 1 });
    // The clock moved to 50, so the seq'd deletion (ts 1) is behind the horizon and forgotten.
    expect(late.state.meta).toEqual({ '[]': { t: 50, k: 'o' }, '["a"]': { t: 1, s: 0, k: 'v', v: 1 } });
  });

  it('forgets what an old deletion hid even when its ts is recent (a seq delivered after the window)', () => {
    const s = runOrdered(
      [
        [{ o: { x: 1 } }, { ts: 1, seq: 1 }],
        [{ o: null }, { ts: 2, seq: 5 }],
        [{ o: { y: 1 } }, { ts: 3, seq: 6 }],
        // Seq 4 comes long after seq 5 deleted `o`: hidden below the deletion's clearedAt.
        [{ o: { z: 1 } }, { ts: 30, seq: 4 }],
      ],
      base,
    );
    expect(s.doc).toEqual({ o: { y: 1 } });
    expect(s.meta['["o","z"]']).toEqual({ t: 30, s: 4, k: 'v', v: 1 });
    const collected = collectMeta(s.meta, horizonOf(s.meta, 10));
    expect(collected).toEqual({ '[]': { t: 30, k: 'o' }, '["o"]': { t: 3, s: 6, k: 'o' }, '["o","y"]': { t: 3, s: 6, k: 'v', v: 1 } });
    expect(materialize(collected)).toEqual(s.doc);
  });

  it('refuses a seq that is not a non-negative safe integer as a caller bug', () => {
    for (const seq of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
      expect(() => applyPatch(emptySection(), { a: 1 }, { ts: 1, seq }, base)).toThrow(RangeError);
    }
    expect(applyPatch(emptySection(), { a: 1 }, { ts: 1, seq: Number.MAX_SAFE_INTEGER }, base).ok).toBe(true);
  });
});
