/** The meaning and the checks of a device filter (src/domain/fleet-filter.ts), without a database. */
import { describe, expect, it } from 'vitest';
import {
  compareCodePoints,
  conditionHolds,
  containmentDocument,
  EMPTY_FLEET_FILTER,
  FLEET_FILTER_LIMITS,
  jsonPathOf,
  parseFleetFilter,
  searchesTwin,
  type FleetFilterInput,
  type TwinCondition,
} from '../../src/domain/fleet-filter.ts';
import type { ValidationError } from '../../src/domain/errors.ts';

/** A condition without its section, kept per operator (a plain Omit would merge the union's members). */
type Unsectioned<C> = C extends unknown ? Omit<C, 'section'> : never;

function issuesOf(input: FleetFilterInput) {
  const parsed = parseFleetFilter(input);
  if (parsed.ok) throw new Error(`expected a refusal, got ${JSON.stringify(parsed.filter)}`);
  expect(parsed.error.code).toBe('VALIDATION_FAILED');
  return (parsed.error as ValidationError).issues.map(({ path, code }) => ({ path: path.join('.'), code }));
}

describe('parseFleetFilter', () => {
  it('types every condition, keeps the membership fields as before, and means "no condition" for null or absent fields', () => {
    const before = new Date('2026-12-01T00:00:00Z');
    const after = new Date('2026-11-01T00:00:00Z');
    const parsed = parseFleetFilter({
      tag: 'lab',
      tags: ['eu'],
      connected: true,
      model: 'thermostat',
      reported: [
        { path: ['fw', 'version'], eq: '1.2' },
        { path: ['temp'], lt: 30 },
        { path: ['mode'], in: ['heat', 'cool'] },
        { path: ['beta'], exists: false },
      ],
      desired: [{ path: ['target'], ne: 21, eq: undefined }],
      hasDelta: true,
      lastSeenBefore: before,
      lastSeenAfter: after,
      alarmActive: false,
    });
    expect(parsed).toEqual({
      ok: true,
      filter: {
        tags: ['eu', 'lab'],
        connected: true,
        model: 'thermostat',
        twin: [
          { section: 'reported', path: ['fw', 'version'], op: 'eq', value: '1.2' },
          { section: 'reported', path: ['temp'], op: 'lt', value: 30 },
          { section: 'reported', path: ['mode'], op: 'in', values: ['heat', 'cool'] },
          { section: 'reported', path: ['beta'], op: 'exists', exists: false },
          { section: 'desired', path: ['target'], op: 'ne', value: 21 },
        ],
        hasDelta: true,
        lastSeenBefore: before,
        lastSeenAfter: after,
        alarmActive: false,
      },
    });
    expect(parseFleetFilter(null)).toEqual({ ok: true, filter: EMPTY_FLEET_FILTER });
    expect(parseFleetFilter({ reported: null, hasDelta: null, model: '' })).toEqual({ ok: true, filter: EMPTY_FLEET_FILTER });
  });

  it('refuses an empty, malformed, too deep or impossible path, with the path of the offending field', () => {
    expect(issuesOf({ reported: [{ path: [], eq: 1 }] })).toEqual([{ path: 'filter.reported.0.path', code: 'INVALID_PATH' }]);
    expect(issuesOf({ reported: [{ path: 'fw.version', eq: 1 }] })).toEqual([{ path: 'filter.reported.0.path', code: 'INVALID_PATH' }]);
    const deep = Array.from({ length: FLEET_FILTER_LIMITS.maxPathDepth + 1 }, (_, i) => `k${i}`);
    expect(issuesOf({ desired: [{ path: deep, exists: true }] })).toEqual([{ path: 'filter.desired.0.path', code: 'PATH_TOO_DEEP' }]);
    expect(
      issuesOf({ reported: [{ path: ['ok', '', '$meta', 'x'.repeat(FLEET_FILTER_LIMITS.maxKeyLength + 1), 'nul\u0000', 'lone\ud800', 7], eq: 1 }] }),
    ).toEqual([
      { path: 'filter.reported.0.path.1', code: 'INVALID_PATH_KEY' },
      { path: 'filter.reported.0.path.2', code: 'INVALID_PATH_KEY' },
      { path: 'filter.reported.0.path.3', code: 'INVALID_PATH_KEY' },
      { path: 'filter.reported.0.path.4', code: 'INVALID_PATH_KEY' },
      { path: 'filter.reported.0.path.5', code: 'INVALID_PATH_KEY' },
      { path: 'filter.reported.0.path.6', code: 'INVALID_PATH_KEY' },
    ]);
    // A well-formed surrogate pair is a character like any other.
    expect(parseFleetFilter({ reported: [{ path: ['😀'], eq: '😀' }] }).ok).toBe(true);
  });

  it('refuses zero operators and two operators (an explicit null counts as given)', () => {
    expect(issuesOf({ reported: [{ path: ['a'] }] })).toEqual([{ path: 'filter.reported.0', code: 'NO_OPERATOR' }]);
    expect(issuesOf({ reported: [{ path: ['a'], eq: 1, gt: 0 }] })).toEqual([{ path: 'filter.reported.0', code: 'TOO_MANY_OPERATORS' }]);
    expect(issuesOf({ reported: [{ path: ['a'], eq: null, exists: true }] })).toEqual([{ path: 'filter.reported.0', code: 'TOO_MANY_OPERATORS' }]);
    expect(issuesOf({ reported: ['a'] })).toEqual([{ path: 'filter.reported.0', code: 'INVALID_CONDITION' }]);
  });

  it('refuses values that are not JSON scalars, null, booleans to lt/gt, and unstorable strings', () => {
    expect(issuesOf({ reported: [{ path: ['a'], eq: { b: 1 } }] })).toEqual([{ path: 'filter.reported.0.eq', code: 'NOT_SCALAR' }]);
    expect(issuesOf({ reported: [{ path: ['a'], lt: [1] }] })).toEqual([{ path: 'filter.reported.0.lt', code: 'NOT_SCALAR' }]);
    expect(issuesOf({ reported: [{ path: ['a'], gt: { n: 1 } }] })).toEqual([{ path: 'filter.reported.0.gt', code: 'NOT_SCALAR' }]);
    expect(issuesOf({ reported: [{ path: ['a'], gt: true }] })).toEqual([{ path: 'filter.reported.0.gt', code: 'NOT_ORDERED' }]);
    expect(issuesOf({ reported: [{ path: ['a'], eq: null }] })).toEqual([{ path: 'filter.reported.0.eq', code: 'NULL_VALUE' }]);
    expect(issuesOf({ reported: [{ path: ['a'], ne: Number.NaN }] })).toEqual([{ path: 'filter.reported.0.ne', code: 'NOT_SCALAR' }]);
    expect(issuesOf({ reported: [{ path: ['a'], eq: 'x\u0000' }] })).toEqual([{ path: 'filter.reported.0.eq', code: 'NOT_SCALAR' }]);
    expect(issuesOf({ reported: [{ path: ['a'], eq: 'x'.repeat(FLEET_FILTER_LIMITS.maxStringLength + 1) }] })).toEqual([
      { path: 'filter.reported.0.eq', code: 'VALUE_TOO_LONG' },
    ]);
    expect(issuesOf({ reported: [{ path: ['a'], exists: 'yes' }] })).toEqual([{ path: 'filter.reported.0.exists', code: 'NOT_SCALAR' }]);
  });

  it('refuses an empty in, too many values, and every bad value of an in', () => {
    expect(issuesOf({ reported: [{ path: ['a'], in: [] }] })).toEqual([{ path: 'filter.reported.0.in', code: 'EMPTY_IN' }]);
    const many = Array.from({ length: FLEET_FILTER_LIMITS.maxInValues + 1 }, (_, i) => i);
    expect(issuesOf({ reported: [{ path: ['a'], in: many }] })).toEqual([{ path: 'filter.reported.0.in', code: 'TOO_MANY_VALUES' }]);
    expect(parseFleetFilter({ reported: [{ path: ['a'], in: many.slice(1) }] }).ok).toBe(true);
    expect(issuesOf({ reported: [{ path: ['a'], in: [1, null, { x: 1 }] }] })).toEqual([
      { path: 'filter.reported.0.in.1', code: 'NULL_VALUE' },
      { path: 'filter.reported.0.in.2', code: 'NOT_SCALAR' },
    ]);
    expect(issuesOf({ reported: [{ path: ['a'], in: 'heat' }] })).toEqual([{ path: 'filter.reported.0.in', code: 'NOT_SCALAR' }]);
  });

  it('refuses too many conditions, an empty lastSeen range and invalid dates; reports every problem at once, under the given root', () => {
    const conditions = Array.from({ length: FLEET_FILTER_LIMITS.maxConditions + 1 }, () => ({ path: ['a'], exists: true }));
    expect(issuesOf({ desired: conditions })).toEqual([{ path: 'filter.desired', code: 'TOO_MANY_CONDITIONS' }]);
    const at = new Date('2026-12-01T00:00:00Z');
    expect(issuesOf({ lastSeenBefore: at, lastSeenAfter: at })).toEqual([{ path: 'filter.lastSeenAfter', code: 'EMPTY_RANGE' }]);
    expect(issuesOf({ lastSeenBefore: new Date(Number.NaN) })).toEqual([{ path: 'filter.lastSeenBefore', code: 'INVALID_DATE' }]);
    const parsed = parseFleetFilter({ reported: [{ path: [] }, { path: ['a'], lt: false }], desired: [{ path: ['b'], in: [] }] }, ['input', 'filter']);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.error.issues.map((i) => `${i.path.join('.')} ${i.code}`)).toEqual([
        'input.filter.reported.0.path INVALID_PATH',
        'input.filter.reported.0 NO_OPERATOR',
        'input.filter.reported.1.lt NOT_ORDERED',
        'input.filter.desired.0.in EMPTY_IN',
      ]);
    }
  });
});

describe('searchesTwin', () => {
  it('is true for conditions on the twin (paths, hasDelta) and false for device fields alone', () => {
    const of = (input: FleetFilterInput) => {
      const parsed = parseFleetFilter(input);
      if (!parsed.ok) throw parsed.error;
      return searchesTwin(parsed.filter);
    };
    expect(of({ desired: [{ path: ['a'], exists: true }] })).toBe(true);
    expect(of({ hasDelta: false })).toBe(true);
    expect(of({ tag: 'x', connected: true, alarmActive: true, lastSeenAfter: new Date(0) })).toBe(false);
  });
});

describe('the SQL forms of a path', () => {
  it('containment documents nest the value under the path', () => {
    expect(containmentDocument(['fw', 'version'], '1.2')).toEqual({ fw: { version: '1.2' } });
    expect(containmentDocument(['on'], false)).toEqual({ on: false });
  });

  it('SQL/JSON paths are strict (no array unwrapping) and quote every key as a JSON string', () => {
    expect(jsonPathOf(['fw', 'version'])).toBe('strict $."fw"."version"');
    expect(jsonPathOf(['a "b"', 'c\\d', 'é\n'])).toBe('strict $."a \\"b\\""."c\\\\d"."é\\n"');
  });
});

describe('conditionHolds (the reference meaning)', () => {
  const twin = { fw: { version: '1.2' }, temp: 21.5, on: true, list: [1, 2], mode: 'heat', n: '10' };
  const c = (condition: Unsectioned<TwinCondition>) => conditionHolds({ section: 'reported', ...condition } as TwinCondition, twin);

  it('eq and in match the same JSON type only; ne also matches an absent leaf', () => {
    expect(c({ path: ['fw', 'version'], op: 'eq', value: '1.2' })).toBe(true);
    expect(c({ path: ['n'], op: 'eq', value: 10 })).toBe(false);
    expect(c({ path: ['mode'], op: 'in', values: ['cool', 'heat'] })).toBe(true);
    expect(c({ path: ['on'], op: 'ne', value: false })).toBe(true);
    expect(c({ path: ['missing'], op: 'ne', value: 1 })).toBe(true);
    expect(c({ path: ['temp'], op: 'ne', value: 21.5 })).toBe(false);
  });

  it('lt/gt compare numbers numerically and strings by code point, never across types', () => {
    expect(c({ path: ['temp'], op: 'lt', value: 22 })).toBe(true);
    expect(c({ path: ['temp'], op: 'gt', value: 21.5 })).toBe(false);
    expect(c({ path: ['n'], op: 'gt', value: 9 })).toBe(false);
    expect(c({ path: ['n'], op: 'lt', value: '9' })).toBe(true);
    expect(c({ path: ['fw'], op: 'gt', value: 0 })).toBe(false);
    expect(compareCodePoints('1.10', '1.9')).toBeLessThan(0);
    expect(compareCodePoints('\uffff', '😀')).toBeLessThan(0);
  });

  it('paths never step into arrays; exists sees objects and leaves', () => {
    expect(c({ path: ['list', '0'], op: 'exists', exists: true })).toBe(false);
    expect(c({ path: ['fw'], op: 'exists', exists: true })).toBe(true);
    expect(c({ path: ['fw', 'build'], op: 'exists', exists: false })).toBe(true);
  });
});
