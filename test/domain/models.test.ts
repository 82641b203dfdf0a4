import { describe, expect, it } from 'vitest';
import { checkCapabilities, compileModel, createValidatorCache, type ModelCapabilities } from '../../src/domain/models.ts';

const toaster: ModelCapabilities = {
  commands: [
    {
      name: 'toast',
      params: {
        type: 'object',
        properties: { power: { type: 'integer', minimum: 0, maximum: 100 }, mode: { enum: ['bagel', 'bread'] } },
        required: ['power'],
      },
      timeoutMs: 5000,
      ttlMs: 60000,
    },
    { name: 'eject', params: {} },
  ],
  desiredSchema: { type: 'object', properties: { power: { type: 'integer', maximum: 100 } } },
  reportedSchema: { type: 'object', properties: { temp: { type: 'number' } } },
};

describe('device model capabilities', () => {
  it('accepts a valid model', () => {
    expect(checkCapabilities(toaster)).toEqual([]);
  });

  it('refuses broken schemas, bad names, duplicates and bad durations with paths', () => {
    const issues = checkCapabilities({
      commands: [
        { name: 'toast', params: { type: 'object', properties: { power: { type: 'integr' } } } },
        { name: 'toast', params: { type: 'object', properties: { power: { minimun: 3 } } } },
        { name: 'bad name!', params: { type: 'string' }, timeoutMs: -1 },
      ],
      desiredSchema: { type: 'object', required: 'power' },
    });
    const paths = issues.map((i) => i.path.join('.'));
    expect(paths).toContain('commands.0.params.properties.power.type');
    expect(paths).toContain('commands.1.name');
    expect(paths).toContain('commands.1.params');
    expect(paths).toContain('commands.2.name');
    expect(paths).toContain('commands.2.params.type');
    expect(paths).toContain('commands.2.timeoutMs');
    expect(paths).toContain('desiredSchema.required');
    expect(issues.every((i) => i.message.length > 0)).toBe(true);
  });

  it('refuses a non-object schema', () => {
    expect(checkCapabilities({ commands: [], reportedSchema: [] as never })).toEqual([
      { path: ['reportedSchema'], code: 'INVALID_SCHEMA', message: 'must be a JSON Schema object' },
    ]);
  });
});

describe('compiled validators', () => {
  const model = compileModel(toaster);

  it('passes valid params', () => {
    expect(model.command('toast')!.validate({ power: 50, mode: 'bagel' })).toEqual([]);
  });

  it('lists every failing path: range, type, enum, missing and extra', () => {
    const issues = model.command('toast')!.validate({ power: 9000, mode: 'croissant', extra: 1 });
    expect(issues).toEqual([
      { path: ['extra'], code: 'UNKNOWN_FIELD', message: 'is not a known field' },
      { path: ['mode'], code: 'INVALID_ENUM', message: 'must be one of ["bagel","bread"]' },
      { path: ['power'], code: 'OUT_OF_RANGE', message: 'must be <= 100' },
    ]);
    expect(model.command('toast')!.validate({ power: 'max' })).toEqual([{ path: ['power'], code: 'INVALID_TYPE', message: 'must be integer' }]);
    expect(model.command('toast')!.validate({})).toEqual([{ path: ['power'], code: 'REQUIRED', message: 'is required' }]);
    expect(model.command('eject')!.validate({ a: 1 })).toEqual([{ path: ['a'], code: 'UNKNOWN_FIELD', message: 'is not a known field' }]);
    expect(model.command('eject')!.validate([])[0]!.code).toBe('INVALID_TYPE');
  });

  it('unknown commands are undefined', () => {
    expect(model.command('explode')).toBeUndefined();
  });

  it('validates whole twin documents', () => {
    expect(model.validateDesired({ power: 101 })).toEqual([{ path: ['power'], code: 'OUT_OF_RANGE', message: 'must be <= 100' }]);
    expect(model.validateReported({ temp: 'hot' })).toEqual([{ path: ['temp'], code: 'INVALID_TYPE', message: 'must be number' }]);
    expect(compileModel({ commands: [] }).validateDesired({ anything: 1 })).toEqual([]);
  });

  it('the cache compiles once per (model, version)', () => {
    const cache = createValidatorCache(2);
    let compiles = 0;
    const caps = () => {
      compiles++;
      return toaster;
    };
    const a = cache.get('m', 1, caps);
    expect(cache.get('m', 1, caps)).toBe(a);
    expect(compiles).toBe(1);
    cache.get('m', 2, caps);
    cache.get('n', 1, caps);
    expect(cache.size).toBe(2);
    expect(cache.has('m', 1)).toBe(false);
  });
});
