import fc from 'fast-check';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  checkRule,
  conditionsOverlap,
  DEFAULT_RULE_LIMITS,
  expandTemplates,
  sourceKinds,
  type Condition,
  type RuleCheckOptions,
  type RuleScope,
} from '../../../src/domain/rules/rule.ts';
import type { DeviceFilter } from '../../../src/schema/device.ts';
import type { JsonObject } from '../../../src/domain/twin.ts';
import { COLD_STORAGE, MINUTE, TWIN_LIMITS } from './fixtures.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);
const OPTIONS: RuleCheckOptions = { twin: TWIN_LIMITS };

/** A valid rule as a client sends it; `patch` replaces top-level fields (undefined deletes one). */
function input(patch: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    scope: { tags: ['cold-room'] },
    source: { type: 'telemetry', metric: 'temp' },
    raise: { op: '>', value: 8, forMs: 10 * MINUTE },
    severity: 'MAJOR',
  };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete base[k];
    else base[k] = v;
  }
  return base;
}

/** The issues of a refused rule as `path:code` strings (the check must refuse). */
function issues(value: unknown, options: Partial<RuleCheckOptions> = {}): string[] {
  const result = checkRule(value, { ...OPTIONS, ...options });
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.rule)}`);
  expect(result.error.code).toBe('VALIDATION_FAILED');
  for (const issue of result.error.issues) expect(issue.message.length).toBeGreaterThan(0);
  return result.error.issues.map((i) => `${i.path.join('.')}:${i.code}`);
}

describe('checkRule accepts', () => {
  it('the cold-storage rule, and returns it unchanged', () => {
    const result = checkRule(COLD_STORAGE, OPTIONS);
    expect(result).toEqual({ ok: true, rule: COLD_STORAGE });
  });

  it('a soil-moisture automation: a command to another device with templated params, and a desired patch', () => {
    const rule = {
      scope: { model: 'soil-sensor', deviceIds: ['bed-1', 'bed-2'] },
      source: { type: 'reported', path: ['soil', 'moisture'] },
      raise: { op: '<', value: 20, forMs: 15 * MINUTE },
      clear: { op: '>=', value: 35 },
      severity: 'INFO',
      onRaise: [
        { type: 'sendCommand', deviceId: 'valve-7', command: 'open', params: { minutes: 10, reason: '{{deviceId}}', level: '{{value}}' } },
        { type: 'updateDesired', patch: { watering: true } },
      ],
      onClear: [{ type: 'sendCommand', deviceId: 'valve-7', command: 'close' }],
    };
    const result = checkRule(rule, { ...OPTIONS, declaredType: ['number', 'null'] });
    expect(result.ok).toBe(true);
    // Normalized: params default to {}, nulls dropped.
    if (result.ok) expect(result.rule.onClear).toEqual([{ type: 'sendCommand', deviceId: 'valve-7', command: 'close', params: {} }]);
  });

  it('nulls as absent (GraphQL sends them), and no actions as empty lists', () => {
    const result = checkRule(input({ clear: null, onRaise: null, scope: { tag: null, tags: null, model: null, deviceIds: null } }), OPTIONS);
    expect(result).toEqual({
      ok: true,
      rule: {
        scope: {},
        source: { type: 'telemetry', metric: 'temp' },
        raise: { op: '>', value: 8, forMs: 10 * MINUTE },
        severity: 'MAJOR',
        onRaise: [],
        onClear: [],
      },
    });
  });

  it('every operator on a fitting source', () => {
    const ok = (raise: unknown, source: unknown = { type: 'telemetry', metric: 'temp' }, declaredType?: string) =>
      expect(checkRule(input({ raise, source }), { ...OPTIONS, declaredType }).ok).toBe(true);
    for (const op of ['>', '>=', '<', '<=', '==', '!=']) ok({ op, value: 1.5 });
    ok({ op: '==', value: true });
    ok({ op: 'between', low: 2, high: 8, forMs: 1 });
    ok({ op: 'outside', low: 2, high: 2 });
    ok({ op: 'changed' });
    ok({ op: 'noData', forMs: 30 * 24 * 3600 * 1000 });
    ok({ op: '==', value: false, forMs: 5 * MINUTE }, { type: 'connection' });
    ok({ op: 'changed' }, { type: 'connection' });
    ok({ op: '!=', value: 'ok' }, { type: 'desired', path: ['mode'] }, 'string');
    ok({ op: 'changed' }, { type: 'reported', path: ['config'] }, 'object');
    ok({ op: '>', value: 3 }, { type: 'reported', path: ['n'] }, 'integer');
  });

  it('an empty scope (every device of the tenant)', () => {
    expect(checkRule(input({ scope: {} }), OPTIONS).ok).toBe(true);
  });

  it('a scope typed by the API DeviceFilter, minus connected', () => {
    type Filter = Omit<typeof DeviceFilter.$inferInput, 'connected'>;
    expectTypeOf<Filter>().toMatchTypeOf<RuleScope>();
  });
});

describe('checkRule refuses', () => {
  it('what is not a rule', () => {
    expect(issues(null)).toEqual(['input:REQUIRED']);
    expect(issues([1])).toEqual(['input:INVALID_TYPE']);
    expect(issues('rule')).toEqual(['input:INVALID_TYPE']);
  });

  it('unknown fields, at every level', () => {
    expect(issues(input({ name: 'x' }))).toEqual(['input.name:UNKNOWN_FIELD']);
    expect(issues(input({ scope: { connected: true } }))).toEqual(['input.scope.connected:UNKNOWN_FIELD']);
    expect(issues(input({ source: { type: 'telemetry', metric: 't', unit: 'C' } }))).toEqual(['input.source.unit:UNKNOWN_FIELD']);
    expect(issues(input({ raise: { op: '>', value: 1, for: 5 } }))).toEqual(['input.raise.for:UNKNOWN_FIELD']);
    expect(issues(input({ onRaise: [{ type: 'notifyWebhook', endpointId: 'e', url: 'x' }] }))).toEqual(['input.onRaise.0.url:UNKNOWN_FIELD']);
  });

  it('a missing scope, source, raise or severity, all at once', () => {
    expect(issues({})).toEqual(['input.scope:REQUIRED', 'input.source:REQUIRED', 'input.raise:REQUIRED', 'input.severity:REQUIRED']);
  });

  it('scope: bad device ids, tags and models', () => {
    expect(issues(input({ scope: { deviceIds: [] } }))).toEqual(['input.scope.deviceIds:REQUIRED']);
    expect(issues(input({ scope: { deviceIds: 'd1' } }))).toEqual(['input.scope.deviceIds:INVALID_TYPE']);
    expect(issues(input({ scope: { deviceIds: ['d1', 7] } }))).toEqual(['input.scope.deviceIds.1:INVALID_TYPE']);
    expect(issues(input({ scope: { deviceIds: ['d 1', 'd2', 'd2'] } }))).toEqual([
      'input.scope.deviceIds.0:INVALID_DEVICE_ID',
      'input.scope.deviceIds.2:DUPLICATE',
    ]);
    expect(issues(input({ scope: { deviceIds: ['a', 'b', 'c'] } }), { limits: { ...DEFAULT_RULE_LIMITS, maxScopeDeviceIds: 2 } })).toEqual([
      'input.scope.deviceIds:TOO_MANY',
    ]);
    expect(issues(input({ scope: { tag: 'a b' } }))).toEqual(['input.scope.tag:INVALID_TAG']);
    expect(issues(input({ scope: { tags: ['ok', ''] } }))).toEqual(['input.scope.tags.1:INVALID_TAG']);
    expect(issues(input({ scope: { model: 'x'.repeat(101) } }))).toEqual(['input.scope.model:INVALID_MODEL']);
  });

  it('source: unknown type, bad metric syntax, fields of another source type', () => {
    expect(issues(input({ source: { type: 'log' } }))).toEqual(['input.source.type:INVALID_VALUE']);
    expect(issues(input({ source: {} }))).toEqual(['input.source.type:REQUIRED']);
    expect(issues(input({ source: { type: 'telemetry' } }))).toEqual(['input.source.metric:REQUIRED']);
    expect(issues(input({ source: { type: 'telemetry', metric: 'temp/1' } }))).toEqual(['input.source.metric:INVALID_METRIC']);
    expect(issues(input({ source: { type: 'telemetry', metric: 'x'.repeat(65) } }))).toEqual(['input.source.metric:INVALID_METRIC']);
    expect(issues(input({ source: { type: 'telemetry', metric: 't', path: ['a'] } }))).toEqual(['input.source.path:UNKNOWN_FIELD']);
    expect(issues(input({ source: { type: 'connection', metric: 't' } }))).toEqual(['input.source.metric:UNKNOWN_FIELD']);
    expect(issues(input({ source: { type: 'reported', path: ['a'], metric: 't' } }))).toEqual(['input.source.metric:UNKNOWN_FIELD']);
  });

  it('source: twin paths the twin would refuse to write', () => {
    const path = (p: unknown) => issues(input({ source: { type: 'reported', path: p } }));
    expect(path(undefined)).toEqual(['input.source.path:REQUIRED']);
    expect(path([])).toEqual(['input.source.path:REQUIRED']);
    expect(path('a.b')).toEqual(['input.source.path:INVALID_TYPE']);
    expect(path(['a', 1])).toEqual(['input.source.path.1:INVALID_TYPE']);
    expect(path(['a', '$b'])).toEqual(['input.source.path.1:INVALID_PATH']);
    expect(path(['', 'b'])).toEqual(['input.source.path.0:INVALID_PATH']);
    expect(path(['__proto__'])).toEqual(['input.source.path.0:INVALID_PATH']);
    expect(path(['k'.repeat(17)])).toEqual(['input.source.path.0:INVALID_PATH']);
    expect(path(['a\u0000'])).toEqual(['input.source.path.0:INVALID_PATH']);
    expect(path(['a', 'b', 'c', 'd', 'e', 'f'])).toEqual(['input.source.path.5:INVALID_PATH']);
    const result = checkRule(input({ source: { type: 'desired', path: ['a', '$b'] } }), OPTIONS);
    expect(!result.ok && result.error.issues[0]!.message).toContain('INVALID_KEY');
  });

  it('conditions: unknown or missing operators and operands', () => {
    expect(issues(input({ raise: { op: '=>', value: 1 } }))).toEqual(['input.raise.op:INVALID_VALUE']);
    expect(issues(input({ raise: { value: 1 } }))).toEqual(['input.raise.op:REQUIRED']);
    expect(issues(input({ raise: { op: '>' } }))).toEqual(['input.raise.value:REQUIRED']);
    expect(issues(input({ raise: { op: '>', value: Number.POSITIVE_INFINITY } }))).toEqual(['input.raise.value:OUT_OF_RANGE']);
    expect(issues(input({ raise: { op: '==', value: [1] } }))).toEqual(['input.raise.value:INVALID_TYPE']);
    expect(issues(input({ raise: { op: '>', value: 1, low: 0 } }))).toEqual(['input.raise.low:UNKNOWN_FIELD']);
    expect(issues(input({ raise: { op: 'between', low: 1, high: 2, value: 0 } }))).toEqual(['input.raise.value:UNKNOWN_FIELD']);
    expect(issues(input({ raise: { op: 'between', high: 2 } }))).toEqual(['input.raise.low:REQUIRED']);
    expect(issues(input({ raise: { op: 'outside', low: '1', high: Number.NaN } }))).toEqual(['input.raise.low:INVALID_TYPE', 'input.raise.high:OUT_OF_RANGE']);
    expect(issues(input({ raise: { op: 'changed', value: 1 } }))).toEqual(['input.raise.value:UNKNOWN_FIELD']);
  });

  it('between and outside with low above high', () => {
    expect(issues(input({ raise: { op: 'between', low: 5, high: 4 } }))).toEqual(['input.raise.high:INVALID_RANGE']);
    expect(issues(input({ raise: { op: 'outside', low: 5, high: -5 } }))).toEqual(['input.raise.high:INVALID_RANGE']);
  });

  it('durations ≤ 0, over the limit (30 days), fractional or not numbers; changed with one; noData without one', () => {
    const forMs = (v: unknown) => issues(input({ raise: { op: '>', value: 1, forMs: v } }));
    expect(forMs(0)).toEqual(['input.raise.forMs:OUT_OF_RANGE']);
    expect(forMs(-1)).toEqual(['input.raise.forMs:OUT_OF_RANGE']);
    expect(forMs(30 * 24 * 3600 * 1000 + 1)).toEqual(['input.raise.forMs:OUT_OF_RANGE']);
    expect(forMs(1.5)).toEqual(['input.raise.forMs:OUT_OF_RANGE']);
    expect(forMs('5m')).toEqual(['input.raise.forMs:INVALID_TYPE']);
    expect(issues(input({ raise: { op: 'changed', forMs: 1000 } }))).toEqual(['input.raise.forMs:DURATION_NOT_ALLOWED']);
    expect(issues(input({ raise: { op: 'noData' } }))).toEqual(['input.raise.forMs:REQUIRED']);
    expect(issues(input({ raise: { op: 'noData', forMs: 0 } }))).toEqual(['input.raise.forMs:OUT_OF_RANGE']);
    expect(issues(input({ clear: { op: '<', value: 1, forMs: 0 } }))).toEqual(['input.clear.forMs:OUT_OF_RANGE']);
  });

  it('operators against the value type: telemetry carries numbers and booleans, connection a boolean', () => {
    expect(issues(input({ raise: { op: '>', value: 'hot' } }))).toEqual(['input.raise.value:TYPE_MISMATCH']);
    expect(issues(input({ raise: { op: '==', value: 'hot' } }))).toEqual(['input.raise.value:TYPE_MISMATCH']);
    const connection = { type: 'connection' };
    expect(issues(input({ source: connection, raise: { op: '>', value: 0 } }))).toEqual(['input.raise.value:TYPE_MISMATCH']);
    expect(issues(input({ source: connection, raise: { op: 'between', low: 0, high: 1 } }))).toEqual(['input.raise.op:TYPE_MISMATCH']);
    expect(issues(input({ source: connection, raise: { op: 'noData', forMs: 1000 } }))).toEqual(['input.raise.op:NOT_APPLICABLE']);
  });

  it('operators against the type the model declares for a twin path', () => {
    const reported = { type: 'reported', path: ['mode'] };
    expect(issues(input({ source: reported, raise: { op: '>', value: 1 } }), { declaredType: 'string' })).toEqual(['input.raise.value:TYPE_MISMATCH']);
    expect(issues(input({ source: reported, raise: { op: '<', value: 'b' } }), { declaredType: 'string' })).toEqual(['input.raise.value:TYPE_MISMATCH']);
    expect(issues(input({ source: reported, raise: { op: '==', value: true } }), { declaredType: ['number', 'string'] })).toEqual([
      'input.raise.value:TYPE_MISMATCH',
    ]);
    expect(issues(input({ source: reported, raise: { op: 'outside', low: 1, high: 2 } }), { declaredType: 'boolean' })).toEqual([
      'input.raise.op:TYPE_MISMATCH',
    ]);
    expect(issues(input({ source: reported, clear: { op: '==', value: 1 } }), { declaredType: 'object' })).toEqual([
      'input.raise.value:TYPE_MISMATCH',
      'input.clear.value:TYPE_MISMATCH',
    ]);
    // Undeclared: anything a twin can hold.
    expect(checkRule(input({ source: reported, raise: { op: '==', value: 'eco' } }), OPTIONS).ok).toBe(true);
  });

  it('strings longer than the limit', () => {
    const reported = { type: 'reported', path: ['mode'] };
    expect(issues(input({ source: reported, raise: { op: '==', value: 'x'.repeat(257) } }))).toEqual(['input.raise.value:OUT_OF_RANGE']);
  });

  it('explicit raise and clear conditions one value satisfies both of', () => {
    expect(issues(input({ raise: { op: '>', value: 30 }, clear: { op: '>', value: 20 } }))).toEqual(['input.clear:OVERLAPPING_CONDITIONS']);
    expect(issues(input({ raise: { op: '>=', value: 30 }, clear: { op: '<=', value: 30 } }))).toEqual(['input.clear:OVERLAPPING_CONDITIONS']);
    expect(issues(input({ raise: { op: 'outside', low: 2, high: 8 }, clear: { op: 'between', low: 0, high: 3 } }))).toEqual([
      'input.clear:OVERLAPPING_CONDITIONS',
    ]);
    expect(issues(input({ raise: { op: 'noData', forMs: 1000 }, clear: { op: 'noData', forMs: 2000 } }))).toEqual(['input.clear:OVERLAPPING_CONDITIONS']);
    expect(issues(input({ raise: { op: '==', value: true }, clear: { op: '!=', value: false } }))).toEqual(['input.clear:OVERLAPPING_CONDITIONS']);
  });

  it('severity outside the list', () => {
    expect(issues(input({ severity: 'HIGH' }))).toEqual(['input.severity:INVALID_VALUE']);
  });

  it('actions: not a list, too many, unknown type, fields of another type', () => {
    expect(issues(input({ onRaise: { type: 'notifyWebhook' } }))).toEqual(['input.onRaise:INVALID_TYPE']);
    expect(issues(input({ onClear: Array.from({ length: 11 }, () => ({ type: 'notifyWebhook', endpointId: 'e' })) }))).toEqual(['input.onClear:TOO_MANY']);
    expect(issues(input({ onRaise: [{ type: 'email' }] }))).toEqual(['input.onRaise.0.type:INVALID_VALUE']);
    expect(issues(input({ onRaise: [7] }))).toEqual(['input.onRaise.0:INVALID_TYPE']);
    expect(issues(input({ onRaise: [{ type: 'sendCommand', command: 'open', patch: { a: 1 } }] }))).toEqual(['input.onRaise.0.patch:UNKNOWN_FIELD']);
    expect(issues(input({ onRaise: [{ type: 'notifyWebhook', endpointId: 'e', deviceId: 'd' }] }))).toEqual(['input.onRaise.0.deviceId:UNKNOWN_FIELD']);
  });

  it('sendCommand: a bad command name, target or params', () => {
    const send = (a: Record<string, unknown>) => issues(input({ onRaise: [{ type: 'sendCommand', command: 'open', ...a }] }));
    expect(send({ command: undefined })).toEqual(['input.onRaise.0.command:REQUIRED']);
    expect(send({ command: 'open valve' })).toEqual(['input.onRaise.0.command:INVALID_COMMAND']);
    expect(send({ deviceId: 'a/b' })).toEqual(['input.onRaise.0.deviceId:INVALID_DEVICE_ID']);
    expect(send({ params: [1] })).toEqual(['input.onRaise.0.params:INVALID_TYPE']);
    expect(send({ params: { $power: 1 } })).toEqual(['input.onRaise.0.params.$power:INVALID_KEY']);
    expect(send({ params: { a: { b: { c: { d: { e: { f: 1 } } } } } } })).toEqual(['input.onRaise.0.params.a.b.c.d.e:TOO_DEEP']);
    expect(send({ params: { power: '{{value}} W' } })).toEqual(['input.onRaise.0.params.power:INVALID_TEMPLATE']);
    expect(send({ params: { list: ['{{tenantId}}'] } })).toEqual(['input.onRaise.0.params.list.0:INVALID_TEMPLATE']);
  });

  it('updateDesired and notifyWebhook: a missing or bad patch or endpoint', () => {
    expect(issues(input({ onClear: [{ type: 'updateDesired' }] }))).toEqual(['input.onClear.0.patch:REQUIRED']);
    expect(issues(input({ onClear: [{ type: 'updateDesired', patch: 'on' }] }))).toEqual(['input.onClear.0.patch:INVALID_TYPE']);
    expect(issues(input({ onClear: [{ type: 'updateDesired', patch: { mode: '{{ value }}' } }] }))).toEqual(['input.onClear.0.patch.mode:INVALID_TEMPLATE']);
    expect(issues(input({ onClear: [{ type: 'notifyWebhook' }] }))).toEqual(['input.onClear.0.endpointId:REQUIRED']);
    expect(issues(input({ onClear: [{ type: 'notifyWebhook', endpointId: '' }] }))).toEqual(['input.onClear.0.endpointId:INVALID_VALUE']);
  });

  it('with every problem at once, under the caller’s path prefix', () => {
    const all = issues(
      {
        scope: { tag: '' },
        source: { type: 'telemetry', metric: '' },
        raise: { op: '>', value: 1, forMs: 0 },
        severity: 'x',
        onRaise: [{ type: 'sendCommand' }],
      },
      { at: [] },
    );
    expect(all).toEqual([
      'scope.tag:INVALID_TAG',
      'source.metric:INVALID_METRIC',
      'raise.forMs:OUT_OF_RANGE',
      'severity:INVALID_VALUE',
      'onRaise.0.command:REQUIRED',
    ]);
  });

  it('never throws, and accepts only what it can return as a rule', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const result = checkRule(value, OPTIONS);
        if (!result.ok) expect(result.error.issues.length).toBeGreaterThan(0);
      }),
      { numRuns },
    );
    const condition = fc.record(
      {
        op: fc.constantFrom('>', '==', 'between', 'changed', 'noData', '?'),
        value: fc.anything(),
        low: fc.double(),
        high: fc.double(),
        forMs: fc.oneof(fc.integer(), fc.double()),
      },
      { requiredKeys: ['op'] },
    );
    fc.assert(
      fc.property(condition, condition, (raise, clear) => {
        const result = checkRule(input({ raise, clear }), OPTIONS);
        if (result.ok) expect(checkRule(result.rule, OPTIONS)).toEqual(result);
      }),
      { numRuns },
    );
  });
});

describe('conditionsOverlap', () => {
  const numeric = fc.oneof(
    fc.record({
      op: fc.constantFrom('>' as const, '>=' as const, '<' as const, '<=' as const, '==' as const, '!=' as const),
      value: fc.integer({ min: -5, max: 5 }),
    }),
    fc
      .tuple(fc.constantFrom('between' as const, 'outside' as const), fc.integer({ min: -5, max: 5 }), fc.integer({ min: 0, max: 4 }))
      .map(([op, low, width]) => ({ op, low, high: low + width })),
  );
  const holdsFor = (c: Condition, v: number): boolean => {
    switch (c.op) {
      case '>':
        return v > (c.value as number);
      case '>=':
        return v >= (c.value as number);
      case '<':
        return v < (c.value as number);
      case '<=':
        return v <= (c.value as number);
      case '==':
        return v === c.value;
      case '!=':
        return v !== c.value;
      case 'between':
        return v >= c.low && v <= c.high;
      case 'outside':
        return v < c.low || v > c.high;
      default:
        return false;
    }
  };

  it('is exactly "some number satisfies both" for numeric conditions (checked on a fine grid)', () => {
    fc.assert(
      fc.property(numeric, numeric, (a, b) => {
        const grid = Array.from({ length: 81 }, (_, i) => -20 + i / 2);
        expect(conditionsOverlap(a as Condition, b as Condition)).toBe(grid.some((v) => holdsFor(a as Condition, v) && holdsFor(b as Condition, v)));
      }),
      { numRuns },
    );
  });

  it('never for different kinds, changed, or silence against a value', () => {
    expect(conditionsOverlap({ op: '==', value: 1 }, { op: '==', value: true })).toBe(false);
    expect(conditionsOverlap({ op: 'changed' }, { op: 'changed' })).toBe(false);
    expect(conditionsOverlap({ op: 'noData', forMs: 1 }, { op: '>', value: 1 })).toBe(false);
    expect(conditionsOverlap({ op: '!=', value: 'a' }, { op: '!=', value: 'b' })).toBe(true);
    expect(conditionsOverlap({ op: '!=', value: true }, { op: '!=', value: false })).toBe(false);
  });
});

describe('sourceKinds', () => {
  it('narrows what a source can carry by the declared type, and ignores names it does not know', () => {
    expect(sourceKinds({ type: 'telemetry', metric: 't' })).toEqual(['number', 'boolean']);
    expect(sourceKinds({ type: 'telemetry', metric: 't' }, 'string')).toEqual([]);
    expect(sourceKinds({ type: 'reported', path: ['a'] }, ['integer', 'null'])).toEqual(['number', 'other']);
    expect(sourceKinds({ type: 'reported', path: ['a'] }, 'decimal')).toEqual(['number', 'boolean', 'string', 'other']);
  });
});

describe('expandTemplates', () => {
  it('replaces whole-string templates by the triggering value (keeping its type) and device id, everywhere, without touching the input', () => {
    const params = Object.freeze({ level: '{{value}}', who: '{{deviceId}}', nested: { list: ['{{value}}', 'plain', 3] }, text: 'no {{ template }} here' });
    expect(expandTemplates(params as JsonObject, { value: 17.5, deviceId: 'bed-1' })).toEqual({
      level: 17.5,
      who: 'bed-1',
      nested: { list: [17.5, 'plain', 3] },
      text: 'no {{ template }} here',
    });
    expect(expandTemplates({ on: '{{value}}' }, { value: undefined, deviceId: 'd' })).toEqual({ on: null });
    expect(expandTemplates({ cfg: '{{value}}' }, { value: { a: [1] }, deviceId: 'd' })).toEqual({ cfg: { a: [1] } });
  });
});
