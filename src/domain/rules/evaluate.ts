/**
 * Whether a condition holds for one value of a rule's source (docs/rules.md). Pure.
 *
 * Three answers, not two: `true`, `false`, and `null` for "cannot tell" — the value is missing (a twin
 * path that does not exist), is of a kind the condition does not compare (a string against `> 30`, a
 * boolean against `== 5`), or `changed` has no previous value to compare with. The alarm state machine
 * (./alarm-state.ts) lets "cannot tell" neither start nor end a window, so a device that sends one
 * malformed value neither raises nor clears an alarm by it.
 *
 * Values are JSON: numbers compare numerically (0 equals -0), booleans and strings only by `==` and
 * `!=` (ordering strings would depend on a collation nobody asked for), objects and arrays only by
 * `changed` (on their canonical JSON, so key order does not matter). A telemetry boolean is given as a
 * boolean (the service turns a stored 1/0 with its boolean flag back into true/false).
 */
import { canonicalJson, type JsonValue } from '../twin.ts';
import type { Condition, RuleDefinition } from './rule.ts';

/** One reading of a source: a JSON value, or `undefined` when the source has none (a missing twin path). */
export type Reading = JsonValue | undefined;

/** true, false, or null for "cannot tell". */
export type Truth = boolean | null;

/**
 * `condition` on `value`. `previous` is the reading before it, when there was one (`changed` needs it;
 * `{ value: undefined }` means the previous reading was "missing", absent means there was none).
 * `noData` is false on every reading: a reading is data. Never throws.
 */
export function evaluate(condition: Condition, value: Reading, previous?: { value: Reading }): Truth {
  switch (condition?.op) {
    case 'noData':
      return false;
    case 'changed':
      if (previous === undefined) return null;
      return !sameReading(previous.value, value);
    case 'between':
    case 'outside': {
      if (typeof value !== 'number') return null;
      const inside = value >= condition.low && value <= condition.high;
      return condition.op === 'between' ? inside : !inside;
    }
    case '>':
    case '>=':
    case '<':
    case '<=':
    case '==':
    case '!=': {
      const operand = condition.value;
      if (value === undefined || typeof value !== typeof operand) return null;
      if (condition.op === '==') return value === operand;
      if (condition.op === '!=') return value !== operand;
      if (typeof value !== 'number' || typeof operand !== 'number') return null;
      if (condition.op === '>') return value > operand;
      if (condition.op === '>=') return value >= operand;
      if (condition.op === '<') return value < operand;
      return value <= operand;
    }
    default:
      return null;
  }
}

/** Whether two readings are the same value (missing equals missing; objects compare by canonical JSON). */
export function sameReading(a: Reading, b: Reading): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

export function negate(truth: Truth): Truth {
  return truth === null ? null : !truth;
}

/**
 * A condition as a window uses it: the condition, whether it is negated (the default clear condition is
 * the raise condition negated), and how long it must hold (`undefined`: at once). For `noData` the
 * duration is the silence itself and `negated` means "data arrived".
 */
export interface WindowCondition {
  condition: Condition;
  negated: boolean;
  forMs: number | undefined;
}

export function raiseConditionOf(rule: RuleDefinition): WindowCondition {
  return { condition: rule.raise, negated: false, forMs: durationOf(rule.raise) };
}

/** The explicit clear condition, or the raise condition negated, at once (no duration). */
export function clearConditionOf(rule: RuleDefinition): WindowCondition {
  if (rule.clear !== undefined) return { condition: rule.clear, negated: false, forMs: durationOf(rule.clear) };
  return { condition: rule.raise, negated: true, forMs: undefined };
}

/** Whether a window condition holds for a reading (see `evaluate`). */
export function holds(w: WindowCondition, value: Reading, previous?: { value: Reading }): Truth {
  const truth = evaluate(w.condition, value, previous);
  return w.negated ? negate(truth) : truth;
}

/** A silence condition ("no data for D"): time, not readings, makes it hold. */
export function isSilence(w: WindowCondition): w is WindowCondition & { condition: { op: 'noData'; forMs: number } } {
  return w.condition.op === 'noData' && !w.negated;
}

function durationOf(c: Condition): number | undefined {
  return c.op === 'changed' ? undefined : c.forMs;
}
