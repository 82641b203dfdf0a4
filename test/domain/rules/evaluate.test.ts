import { describe, expect, it } from 'vitest';
import { clearConditionOf, evaluate, holds, isSilence, negate, raiseConditionOf, sameReading } from '../../../src/domain/rules/evaluate.ts';
import type { Condition } from '../../../src/domain/rules/rule.ts';
import { COLD_STORAGE, threshold } from './fixtures.ts';

describe('evaluate', () => {
  it('compares numbers with every operator, bounds included where the operator says so', () => {
    const at = (op: Condition['op'], v: number) => evaluate({ op, value: 8 } as Condition, v);
    expect([at('>', 8), at('>', 8.1), at('>=', 8), at('<', 8), at('<', 7.9), at('<=', 8), at('==', 8), at('!=', 8)]).toEqual([
      false,
      true,
      true,
      false,
      true,
      true,
      true,
      false,
    ]);
    expect(evaluate({ op: '==', value: 0 }, -0)).toBe(true);
  });

  it('between is inclusive, outside exclusive, on both bounds', () => {
    const between: Condition = { op: 'between', low: 2, high: 8 };
    const outside: Condition = { op: 'outside', low: 2, high: 8 };
    expect([1.9, 2, 8, 8.1].map((v) => evaluate(between, v))).toEqual([false, true, true, false]);
    expect([1.9, 2, 8, 8.1].map((v) => evaluate(outside, v))).toEqual([true, false, false, true]);
  });

  it('booleans and strings by == and != only', () => {
    expect(evaluate({ op: '==', value: true }, true)).toBe(true);
    expect(evaluate({ op: '!=', value: true }, false)).toBe(true);
    expect(evaluate({ op: '==', value: 'eco' }, 'eco')).toBe(true);
    expect(evaluate({ op: '!=', value: 'eco' }, 'ECO')).toBe(true);
  });

  it('cannot tell (null) for a missing value, another kind, or an ordering on non-numbers', () => {
    expect(evaluate({ op: '>', value: 8 }, undefined)).toBeNull();
    expect(evaluate({ op: '>', value: 8 }, '9')).toBeNull();
    expect(evaluate({ op: '==', value: 1 }, true)).toBeNull();
    expect(evaluate({ op: '!=', value: 'a' }, 5)).toBeNull();
    expect(evaluate({ op: '==', value: 'a' }, { a: 1 })).toBeNull();
    expect(evaluate({ op: 'between', low: 0, high: 1 }, null)).toBeNull();
    expect(evaluate({ op: '<', value: 'b' } as Condition, 'a')).toBeNull();
    expect(evaluate({ op: 'bogus' } as unknown as Condition, 1)).toBeNull();
    expect(evaluate(undefined as unknown as Condition, 1)).toBeNull();
  });

  it('changed needs a previous reading; missing is a reading; objects compare by canonical JSON', () => {
    const changed: Condition = { op: 'changed' };
    expect(evaluate(changed, 1)).toBeNull();
    expect(evaluate(changed, 1, { value: 1 })).toBe(false);
    expect(evaluate(changed, 2, { value: 1 })).toBe(true);
    expect(evaluate(changed, undefined, { value: 1 })).toBe(true);
    expect(evaluate(changed, undefined, { value: undefined })).toBe(false);
    expect(evaluate(changed, { a: 1, b: [1, 2] }, { value: { b: [1, 2], a: 1 } })).toBe(false);
    expect(evaluate(changed, { a: 1, b: [2, 1] }, { value: { b: [1, 2], a: 1 } })).toBe(true);
    expect(evaluate(changed, null, { value: 0 })).toBe(true);
    expect(sameReading(null, null)).toBe(true);
  });

  it('noData is false on any reading: a reading is data', () => {
    expect(evaluate({ op: 'noData', forMs: 1000 }, undefined)).toBe(false);
    expect(evaluate({ op: 'noData', forMs: 1000 }, 5)).toBe(false);
  });
});

describe('window conditions', () => {
  it('the default clear is the raise negated, at once; cannot tell stays cannot tell', () => {
    const rule = threshold(30, { raise: { op: '>', value: 30, forMs: 5000 } });
    const clear = clearConditionOf(rule);
    expect(clear).toEqual({ condition: rule.raise, negated: true, forMs: undefined });
    expect([holds(clear, 31), holds(clear, 30), holds(clear, 'x')]).toEqual([false, true, null]);
    expect(negate(null)).toBeNull();
    expect(raiseConditionOf(rule).forMs).toBe(5000);
  });

  it('an explicit clear keeps its own duration', () => {
    expect(clearConditionOf(COLD_STORAGE)).toEqual({ condition: COLD_STORAGE.clear, negated: false, forMs: 5 * 60_000 });
  });

  it('a silence is a non-negated noData; its negation holds on any reading', () => {
    const rule = threshold(0, { raise: { op: 'noData', forMs: 1000 } });
    expect(isSilence(raiseConditionOf(rule))).toBe(true);
    expect(isSilence(clearConditionOf(rule))).toBe(false);
    expect(holds(clearConditionOf(rule), undefined)).toBe(true);
  });
});
