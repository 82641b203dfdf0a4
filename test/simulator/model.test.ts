import { describe, expect, it } from 'vitest';
import { applyDelta, DEFAULT_PHYSICS, diff, initialState, mergePatch, runCommand, tick, twinPart } from '../../src/simulator/model.ts';
import type { JsonObject } from '../../src/domain/twin.ts';

/** A deterministic "random" that always returns the same number. */
const constant = (n: number) => () => n;

describe('thermostat model', () => {
  it('starts near ambient with the known keys', () => {
    const state = initialState(constant(0.5));
    expect(state).toEqual({ temperature: 18, targetTemperature: 21, mode: 'heat', fan: 'auto', firmware: '1.0.0' });
    const low = initialState(constant(0));
    expect(low.temperature).toBe(17);
  });

  it('drifts toward targetTemperature, reporting only what changed', () => {
    const state = { ...initialState(constant(0.5)), temperature: 18, targetTemperature: 24 };
    // No noise (random 0.5 → 0): after one time constant, ~63 % of the 6 °C gap is closed.
    const { state: next, changed } = tick(state, DEFAULT_PHYSICS.tauMs, constant(0.5));
    expect(next.temperature).toBe(21.8);
    expect(changed).toEqual({ temperature: 21.8 });
    expect(state.temperature).toBe(18); // inputs are not mutated

    let s: JsonObject = state;
    for (let i = 0; i < 50; i++) s = tick(s, 5000, constant(0.5)).state;
    expect(s.temperature).toBe(24);
    expect(tick(s, 5000, constant(0.5)).changed).toEqual({});
  });

  it('drifts back to ambient when mode is off or the set point is not a number', () => {
    const off = { ...initialState(constant(0.5)), temperature: 24, mode: 'off' };
    expect(tick(off, 1_000_000, constant(0.5)).state.temperature).toBe(DEFAULT_PHYSICS.ambient);
    const odd = { ...initialState(constant(0.5)), temperature: 24, targetTemperature: 'warm' };
    expect(tick(odd, 1_000_000, constant(0.5)).state.temperature).toBe(DEFAULT_PHYSICS.ambient);
    const broken = { ...initialState(constant(0.5)), temperature: 'hot' };
    expect(tick(broken, 0, constant(0.5)).state.temperature).toBe(DEFAULT_PHYSICS.ambient);
  });

  it('adds bounded sensor noise', () => {
    const state = { ...initialState(constant(0.5)), temperature: 21, targetTemperature: 21 };
    expect(tick(state, 1000, constant(0.999)).state.temperature).toBe(21.1);
    expect(tick(state, 1000, constant(0)).state.temperature).toBe(20.9);
    expect(tick(state, 1000, constant(0.6)).changed).toEqual({}); // +0.02 rounds back to 21.0
    for (let i = 0; i < 100; i++) {
      const t = tick(state, 1000, Math.random).state.temperature as number;
      expect(Math.abs(t - 21)).toBeLessThanOrEqual(0.1 + 1e-9);
    }
  });

  it('applies any delta by deep merge and reports the applied keys', () => {
    const state = initialState(constant(0.5));
    const delta = { targetTemperature: 24, schedule: { weekday: { from: '07:00' } }, led: [1, 2] };
    const { state: next, report } = applyDelta(state, delta);
    expect(next).toEqual({ ...state, targetTemperature: 24, schedule: { weekday: { from: '07:00' } }, led: [1, 2] });
    expect(report).toEqual(delta);
    expect(report).not.toBe(delta); // a copy: later changes to the state never leak into a queued report
    expect(state.targetTemperature).toBe(21);

    // Nested keys merge into what is there instead of replacing the object.
    const again = applyDelta(next, { schedule: { weekday: { to: '22:00' } } });
    expect(again.state.schedule).toEqual({ weekday: { from: '07:00', to: '22:00' } });
    expect(again.report).toEqual({ schedule: { weekday: { to: '22:00' } } });
  });

  it('follows a delta for a known key in the physics', () => {
    const { state } = applyDelta(initialState(constant(0.5)), { targetTemperature: 25, mode: 'auto' });
    let s: JsonObject = state;
    for (let i = 0; i < 60; i++) s = tick(s, 5000, constant(0.5)).state;
    expect(s.temperature).toBe(25);
  });
});

describe('thermostat commands', () => {
  const state = { temperature: 19.5, targetTemperature: 21, mode: 'heat', fan: 'auto', firmware: '1.0.0' };

  it('sets the target temperature and the mode, returning what changed', () => {
    const set = runCommand(state, 'setTargetTemperature', { value: 23.5 });
    expect(set).toEqual({
      status: 'SUCCEEDED',
      state: { ...state, targetTemperature: 23.5 },
      result: { targetTemperature: 23.5 },
      changed: { targetTemperature: 23.5 },
    });
    expect(runCommand(state, 'setMode', { mode: 'off' })).toMatchObject({ status: 'SUCCEEDED', changed: { mode: 'off' } });
    expect(runCommand(state, 'setMode', { mode: 'heat' })).toMatchObject({ status: 'SUCCEEDED', changed: {}, result: {} });
    expect(runCommand(state, 'ping', {})).toEqual({ status: 'SUCCEEDED', state, result: { pong: true, temperature: 19.5 }, changed: {} });
    expect(state.targetTemperature).toBe(21); // not mutated
  });

  it('rejects what it does not know or cannot do, with a reason', () => {
    expect(runCommand(state, 'selfDestruct', {})).toMatchObject({ status: 'REJECTED', error: { code: 'UNKNOWN_COMMAND' } });
    for (const params of [{}, { value: '22' }, { value: 4.9 }, { value: 35.1 }, { value: Number.NaN }]) {
      expect(runCommand(state, 'setTargetTemperature', params as never)).toMatchObject({ status: 'REJECTED', error: { code: 'BAD_PARAMS' } });
    }
    expect(runCommand(state, 'setMode', { mode: 'turbo' })).toMatchObject({
      status: 'REJECTED',
      error: { code: 'BAD_PARAMS', message: 'mode must be one of heat, cool, auto, off' },
    });
  });
});

describe('mergePatch / diff', () => {
  it('implements RFC 7386 without mutating its inputs', () => {
    const target = { a: 1, b: { c: 2, d: 3 }, e: [1] };
    const patch = { a: null, b: { c: null, x: 1 }, e: [2, 3], f: { g: { h: true } } };
    expect(mergePatch(target, patch)).toEqual({ b: { d: 3, x: 1 }, e: [2, 3], f: { g: { h: true } } });
    expect(target).toEqual({ a: 1, b: { c: 2, d: 3 }, e: [1] });
    // A scalar replaced by an object and the other way round.
    expect(mergePatch({ a: 1, b: { c: 1 } }, { a: { x: 1 }, b: 2 })).toEqual({ a: { x: 1 }, b: 2 });
  });

  it('treats __proto__ as an ordinary key', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}}') as JsonObject;
    const merged = mergePatch({}, patch);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.hasOwn(merged, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('diff is the patch that mergePatch needs', () => {
    const before = { a: 1, b: { c: 2, d: 3 }, e: [1], gone: 'x' };
    const after = { a: 1, b: { c: 2, d: 4 }, e: [1, 2], added: { z: null as null } };
    const patch = diff(before, after as JsonObject);
    expect(patch).toEqual({ b: { d: 4 }, e: [1, 2], gone: null, added: { z: null } });
    expect(diff(before, before)).toEqual({});
    const roundTrip = { a: 1, b: { c: 2, d: 4 }, e: [1, 2] };
    expect(mergePatch(before, diff(before, roundTrip))).toEqual(roundTrip);
  });
});

describe('twinPart', () => {
  it('keeps the settings and drops the measurements, without mutating its input', () => {
    const state = { temperature: 19.5, targetTemperature: 21, mode: 'heat', fan: 'auto', firmware: '1.0.0', display: { theme: 'dark' } };
    expect(twinPart(state)).toEqual({ targetTemperature: 21, mode: 'heat', fan: 'auto', firmware: '1.0.0', display: { theme: 'dark' } });
    expect(twinPart({ temperature: 20 })).toEqual({});
    expect(state.temperature).toBe(19.5);
  });
});
