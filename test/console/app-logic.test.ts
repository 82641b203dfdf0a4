/** The console's page logic that needs no browser: windowing, live fleet state, filters, the desired-state patch, back-off. */
import { describe, expect, it } from 'vitest';
import { rowWindow } from '../../src/console/app/virtual.ts';
import { applyConnection, openAlarmDevices, parseCondition, type FleetRow } from '../../src/console/app/fleet-state.ts';
import { desiredPatchOf } from '../../src/console/app/twin-edit.ts';
import { linkStateAfterClose, retryDelayMs } from '../../src/console/app/api.ts';
import { fieldOfPath, formFields, paramsFrom } from '../../src/console/app/schema-form.ts';

describe('rowWindow', () => {
  it('renders the rows in view plus the overscan, and pads the rest', () => {
    expect(rowWindow(0, 340, 34, 10_000, 10)).toEqual({ start: 0, end: 21, padTop: 0, padBottom: (10_000 - 21) * 34 });
    const middle = rowWindow(34 * 5_000, 340, 34, 10_000, 10);
    expect(middle).toEqual({ start: 4_990, end: 5_021, padTop: 4_990 * 34, padBottom: (10_000 - 5_021) * 34 });
  });
  it('stays inside the table at the end and for empty or odd input', () => {
    expect(rowWindow(34 * 9_999, 340, 34, 10_000, 10)).toMatchObject({ start: 9_979, end: 10_000, padBottom: 0 });
    expect(rowWindow(99_999_999, 340, 34, 5, 10)).toEqual({ start: 0, end: 5, padTop: 0, padBottom: 0 });
    expect(rowWindow(0, 340, 34, 0)).toEqual({ start: 0, end: 0, padTop: 0, padBottom: 0 });
    expect(rowWindow(-50, -1, 34, 3)).toMatchObject({ start: 0, end: 3 });
  });
});

const row = (deviceId: string, lastSeenAt: string | null, connected = false): FleetRow => ({
  deviceId,
  name: null,
  connected,
  lastSeenAt,
  tags: [],
  model: null,
  hasDelta: false,
});

describe('applyConnection', () => {
  it('updates the device’s row and leaves the others (and unknown devices) alone', () => {
    const rows = [row('a', null), row('b', null)];
    const next = applyConnection(rows, { deviceId: 'a', connected: true, at: '2026-12-02T10:00:00Z' });
    expect(next[0]).toMatchObject({ connected: true, lastSeenAt: '2026-12-02T10:00:00Z' });
    expect(next[1]).toBe(rows[1]);
    expect(applyConnection(rows, { deviceId: 'zzz', connected: true, at: '2026-12-02T10:00:00Z' })).toBe(rows);
  });
  it('ignores an event older than what the row shows', () => {
    const rows = [row('a', '2026-12-02T10:00:05Z', true)];
    expect(applyConnection(rows, { deviceId: 'a', connected: false, at: '2026-12-02T10:00:00Z' })).toBe(rows);
  });
});

describe('openAlarmDevices', () => {
  it('tracks open alarms per device through their states', () => {
    let open = openAlarmDevices(new Map(), [
      { alarmId: 'x1', deviceId: 'a', status: 'ACTIVE' },
      { alarmId: 'x2', deviceId: 'a', status: 'LATCHED' },
    ]);
    expect([...open.get('a')!]).toEqual(['x1', 'x2']);
    open = openAlarmDevices(open, [{ alarmId: 'x1', deviceId: 'a', status: 'CLEARED' }]);
    expect([...open.get('a')!]).toEqual(['x2']);
    open = openAlarmDevices(open, [{ alarmId: 'x2', deviceId: 'a', status: 'CLEARED' }]);
    expect(open.has('a')).toBe(false);
  });
});

describe('parseCondition', () => {
  it('reads path, operator and a JSON value (a bare word is a string)', () => {
    expect(parseCondition('firmware == "1.2"')).toEqual({ ok: true, value: { path: ['firmware'], eq: '1.2' } });
    expect(parseCondition('fw.version != 3')).toEqual({ ok: true, value: { path: ['fw', 'version'], ne: 3 } });
    expect(parseCondition('temperature>30')).toEqual({ ok: true, value: { path: ['temperature'], gt: 30 } });
    expect(parseCondition('mode == heat')).toEqual({ ok: true, value: { path: ['mode'], eq: 'heat' } });
    expect(parseCondition('door.open == true')).toEqual({ ok: true, value: { path: ['door', 'open'], eq: true } });
    expect(parseCondition('battery exists')).toEqual({ ok: true, value: { path: ['battery'], exists: true } });
    expect(parseCondition('battery missing')).toEqual({ ok: true, value: { path: ['battery'], exists: false } });
  });
  it('explains what it cannot read', () => {
    expect(parseCondition('temperature')).toMatchObject({ ok: false, problem: expect.stringContaining('path, operator, value') });
    expect(parseCondition('x == null')).toMatchObject({ ok: false, problem: expect.stringContaining('string, number or boolean') });
    expect(parseCondition('x == {"a":1}')).toMatchObject({ ok: false });
  });
});

describe('desiredPatchOf', () => {
  it('is the merge patch from the current document to the edited one', () => {
    expect(desiredPatchOf({ a: 1, b: { c: 2, d: 3 }, e: 5 }, '{"a": 1, "b": {"c": 20, "d": 3}, "f": [1]}')).toEqual({
      ok: true,
      value: { b: { c: 20 }, e: null, f: [1] },
    });
    expect(desiredPatchOf({ a: 1 }, '{"a": 1}')).toEqual({ ok: true, value: {} });
  });
  it('refuses text that is not a JSON object, saying why', () => {
    expect(desiredPatchOf({}, '{ "a": ')).toMatchObject({ ok: false, problem: expect.stringContaining('not valid JSON') });
    expect(desiredPatchOf({}, '[1]')).toEqual({ ok: false, problem: 'The desired state must be a JSON object.' });
  });
});

describe('linkStateAfterClose', () => {
  it('is idle after the client closed its lazy socket (no subscriber left), reconnecting after any other close', () => {
    expect(linkStateAfterClose(1000)).toBe('idle');
    expect(linkStateAfterClose(1006)).toBe('reconnecting');
    expect(linkStateAfterClose(1001)).toBe('reconnecting');
    expect(linkStateAfterClose(undefined)).toBe('reconnecting');
  });
});

describe('retryDelayMs', () => {
  it('grows from 0.5 s to a 15 s cap with jitter in the upper half', () => {
    expect(retryDelayMs(0, () => 0)).toBe(250);
    expect(retryDelayMs(0, () => 1)).toBe(500);
    expect(retryDelayMs(3, () => 1)).toBe(4_000);
    expect(retryDelayMs(20, () => 0)).toBe(7_500);
    expect(retryDelayMs(20, () => 1)).toBe(15_000);
  });
});

describe('schema-driven command forms', () => {
  const schema = {
    type: 'object',
    required: ['power'],
    properties: {
      power: { type: 'integer', minimum: 0, maximum: 100, description: 'Heat' },
      ratio: { type: 'number' },
      mode: { enum: ['bread', 'bagel'] },
      crisp: { type: 'boolean' },
      label: { type: 'string', maxLength: 10 },
      extra: { type: 'object' },
    },
  };

  it('makes one typed field per property, with the schema’s hints', () => {
    expect(formFields(schema)).toEqual([
      { name: 'power', kind: 'integer', required: true, hint: 'Heat · ≥ 0 · ≤ 100' },
      { name: 'ratio', kind: 'number', required: false, hint: '' },
      { name: 'mode', kind: 'enum', required: false, hint: '', options: ['bread', 'bagel'] },
      { name: 'crisp', kind: 'boolean', required: false, hint: '' },
      { name: 'label', kind: 'string', required: false, hint: 'at most 10 characters' },
      { name: 'extra', kind: 'json', required: false, hint: '' },
    ]);
    expect(formFields(null)).toEqual([]);
    expect(formFields({ type: 'object' })).toEqual([]);
  });

  it('turns typed text into params and leaves ranges to the server', () => {
    const fields = formFields(schema);
    expect(paramsFrom(fields, { power: '9000', ratio: '0.5', mode: 'bagel', crisp: 'false', label: ' x ', extra: '{"a":1}' })).toEqual({
      ok: true,
      params: { power: 9000, ratio: 0.5, mode: 'bagel', crisp: false, label: ' x ', extra: { a: 1 } },
    });
    expect(paramsFrom(fields, { power: '' })).toEqual({ ok: true, params: {} });
  });

  it('names the field whose text has the wrong type', () => {
    expect(paramsFrom(formFields(schema), { power: '1.5', ratio: 'x', mode: 'croissant', extra: '{' })).toEqual({
      ok: false,
      errors: { power: 'must be a whole number', ratio: 'must be a number', mode: 'must be one of bread, bagel', extra: 'must be JSON' },
    });
  });

  it('maps the server’s field error paths to form fields', () => {
    expect(fieldOfPath(['input', 'params', 'power'])).toBe('power');
    expect(fieldOfPath(['params', 'mode'])).toBe('mode');
    expect(fieldOfPath(['input', 'name'])).toBe('');
  });
});
