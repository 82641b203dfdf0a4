/** The rule editor's form logic (src/console/app/rule-form.ts): form → RuleInput, saved rule → form, server error paths → fields. */
import { describe, expect, it } from 'vitest';
import {
  describeCondition,
  describeScope,
  emptyRuleForm,
  fieldOfErrorPath,
  formOf,
  inputOf,
  operandsOf,
  parseLooseValue,
  problemsByField,
  type RuleForm,
} from '../../src/console/app/rule-form.ts';

const filled = (patch: Partial<RuleForm> = {}): RuleForm => ({
  ...emptyRuleForm(),
  name: ' too hot ',
  metric: 'temp',
  raise: { op: 'GT', value: '30', low: '', high: '', forSeconds: '' },
  ...patch,
});

describe('inputOf', () => {
  it('makes the API’s RuleInput from a filled form, leaving out what is empty', () => {
    expect(inputOf(filled())).toEqual({
      ok: true,
      value: { name: 'too hot', severity: 'MAJOR', enabled: true, source: { type: 'TELEMETRY', metric: 'temp' }, raise: { op: 'GT', value: 30 }, scope: {} },
    });
  });

  it('reads ranges, seconds, twin paths, scope lists, a clear condition and actions', () => {
    const result = inputOf(
      filled({
        sourceType: 'REPORTED',
        path: 'battery.level',
        raise: { op: 'OUTSIDE', value: '', low: '10', high: '90.5', forSeconds: '1.5' },
        hasClear: true,
        clear: { op: 'EQ', value: 'ok', low: '', high: '', forSeconds: '' },
        deviceIds: 'a, b  c',
        tags: 'lab',
        model: ' thermostat ',
        onRaise: '[{"type":"UPDATE_DESIRED","patch":{"fan":"on"}}]',
        description: 'when it leaves the band',
      }),
    );
    expect(result).toEqual({
      ok: true,
      value: {
        name: 'too hot',
        description: 'when it leaves the band',
        severity: 'MAJOR',
        enabled: true,
        source: { type: 'REPORTED', path: ['battery', 'level'] },
        raise: { op: 'OUTSIDE', low: 10, high: 90.5, forMs: 1500 },
        clear: { op: 'EQ', value: 'ok' },
        scope: { deviceIds: ['a', 'b', 'c'], tags: ['lab'], model: 'thermostat' },
        onRaise: [{ type: 'UPDATE_DESIRED', patch: { fan: 'on' } }],
      },
    });
  });

  it('names every field it cannot send, and sends nothing', () => {
    const result = inputOf(
      filled({
        name: '  ',
        metric: '',
        raise: { op: 'BETWEEN', value: '', low: 'x', high: '', forSeconds: '-3' },
        hasClear: true,
        clear: { op: 'GT', value: '', low: '', high: '', forSeconds: '' },
        onRaise: '{"type":',
        onClear: '{"type":"UPDATE_DESIRED"}',
      }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(Object.keys(result.problems).sort()).toEqual(
      ['name', 'source.metric', 'raise.low', 'raise.high', 'raise.forMs', 'clear.value', 'onRaise', 'onClear'].sort(),
    );
    expect(result.problems.onRaise![0]).toContain('Not valid JSON');
    expect(result.problems.onClear![0]).toContain('JSON list');
  });

  it('refuses an empty twin path or an empty key in it, and a missing operator', () => {
    const bad = inputOf(filled({ sourceType: 'DESIRED', path: 'a..b', raise: { op: '', value: '', low: '', high: '', forSeconds: '' } }));
    expect(bad.ok ? [] : Object.keys(bad.problems).sort()).toEqual(['raise.op', 'source.path']);
  });

  it('takes a value as JSON when it is JSON, else as the string typed', () => {
    expect(parseLooseValue('21.5')).toBe(21.5);
    expect(parseLooseValue('true')).toBe(true);
    expect(parseLooseValue('"on"')).toBe('on');
    expect(parseLooseValue(' heat ')).toBe('heat');
    expect(operandsOf('CHANGED')).toBe('none');
    expect(operandsOf('BETWEEN')).toBe('range');
    expect(operandsOf('LTE')).toBe('value');
  });
});

describe('formOf', () => {
  it('is the inverse of inputOf for a saved rule (nulls from GraphQL dropped)', () => {
    const rule = {
      name: 'too hot',
      description: null,
      enabled: false,
      severity: 'CRITICAL' as const,
      source: { type: 'TELEMETRY' as const, metric: 'temp', path: null },
      raise: { op: 'GT' as const, value: 30, low: null, high: null, forMs: 60_000 },
      clear: { op: 'LT' as const, value: 25, low: null, high: null, forMs: null },
      scope: { deviceIds: ['d1'], tag: 'lab', tags: null, model: null },
      onRaise: [{ type: 'UPDATE_DESIRED', patch: { fan: 'on' }, command: null, deviceId: null, endpointId: null, params: null }],
      onClear: [],
    };
    const form = formOf(rule);
    expect(form).toMatchObject({ metric: 'temp', hasClear: true, tags: 'lab', deviceIds: 'd1', raise: { value: '30', forSeconds: '60' } });
    expect(inputOf(form)).toEqual({
      ok: true,
      value: {
        name: 'too hot',
        severity: 'CRITICAL',
        enabled: false,
        source: { type: 'TELEMETRY', metric: 'temp' },
        raise: { op: 'GT', value: 30, forMs: 60_000 },
        clear: { op: 'LT', value: 25 },
        scope: { deviceIds: ['d1'], tags: ['lab'] },
        onRaise: [{ type: 'UPDATE_DESIRED', patch: { fan: 'on' } }],
      },
    });
  });
});

describe('server error paths', () => {
  it('land on the form field they are about', () => {
    expect(fieldOfErrorPath(['input', 'raise', 'value'])).toBe('raise.value');
    expect(fieldOfErrorPath(['input', 'scope', 'tags', '2'])).toBe('scope.tags');
    expect(fieldOfErrorPath(['input', 'scope', 'tag'])).toBe('scope.tags');
    expect(fieldOfErrorPath(['input', 'onRaise', '0', 'patch', 'x'])).toBe('onRaise');
    expect(fieldOfErrorPath(['input', 'source', 'metric'])).toBe('source.metric');
    expect(fieldOfErrorPath(['input'])).toBe('');
    expect(fieldOfErrorPath(['input', 'nonsense'])).toBe('');
  });
  it('are grouped by field, several messages kept', () => {
    expect(
      problemsByField([
        { path: ['input', 'name'], message: 'taken' },
        { path: ['input', 'name'], message: 'too long' },
        { path: ['input', 'weird'], message: 'whole rule' },
      ]),
    ).toEqual({ name: ['taken', 'too long'], '': ['whole rule'] });
  });
});

describe('list descriptions', () => {
  it('say the scope and the condition in a line', () => {
    expect(describeScope({})).toBe('every device');
    expect(describeScope({ deviceIds: ['a'], tag: 't', model: 'm' })).toBe('devices a · tags t · model m');
    expect(describeCondition('temp', { op: 'GT', value: 30, forMs: 60_000 })).toBe('temp > 30 for 60 s');
    expect(describeCondition('temp', { op: 'BETWEEN', low: 1, high: 2 })).toBe('temp between 1 and 2');
    expect(describeCondition('temp', { op: 'NO_DATA', forMs: 1000 })).toBe('no temp for 1 s');
  });
});
