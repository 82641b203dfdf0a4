import { describe, expect, it } from 'vitest';
import {
  alarmEvents,
  initialState,
  isConsistent,
  transition,
  type AlarmEvent,
  type AlarmRecord,
  type AlarmState,
  type WindowRecord,
} from '../../../src/domain/rules/alarm-state.ts';
import type { RuleDefinition } from '../../../src/domain/rules/rule.ts';
import { COLD_STORAGE, MINUTE, threshold } from './fixtures.ts';

const T0 = 1_000_000;

/** Recursively freezes, so any mutation of an input fails the test loudly. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Runs events in order; every one must be accepted. Returns the final state and everything recorded. */
function run(rule: RuleDefinition, events: AlarmEvent[], state: AlarmState = initialState(rule, T0)) {
  const alarm: AlarmRecord[] = [];
  const window: WindowRecord[] = [];
  for (const event of events) {
    const result = transition(deepFreeze(state), rule, event);
    if (!result.ok) throw new Error(`${event.type} refused: ${result.reason} ${result.message}`);
    expect(isConsistent(result.state)).toBe(true);
    state = result.state;
    alarm.push(...result.alarm);
    window.push(...result.window);
  }
  return { state, alarm, window };
}

const observe = alarmEvents.observe;
const deadline = alarmEvents.deadline;

describe('a threshold without durations', () => {
  const rule = threshold(30);

  it('raises on the first reading above, latches on the first at or below, closes on acknowledge', () => {
    const { state, alarm } = run(rule, [
      observe(T0 + 1, 25),
      observe(T0 + 2, 31),
      observe(T0 + 3, 35),
      observe(T0 + 4, 30),
      alarmEvents.acknowledge(T0 + 5, 'user:ann'),
    ]);
    expect(alarm).toEqual([
      { from: null, to: 'ACTIVE', at: T0 + 2, cause: 'conditionRaised', value: 31 },
      { from: 'ACTIVE', to: 'LATCHED', at: T0 + 4, cause: 'conditionCleared', value: 30 },
      { from: 'LATCHED', to: 'CLEARED', at: T0 + 5, cause: 'acknowledge', actor: 'user:ann' },
    ]);
    expect(state).toMatchObject({ phase: 'NORMAL', alarm: null, lastTs: T0 + 4, lastValue: 30 });
  });

  it('acknowledged first, the clear edge closes it', () => {
    const { alarm, state } = run(rule, [observe(T0 + 1, 31), alarmEvents.acknowledge(T0 + 2, 'user:ann'), observe(T0 + 3, 20)]);
    expect(alarm.map((r) => `${r.from}→${r.to}`)).toEqual(['null→ACTIVE', 'ACTIVE→ACKNOWLEDGED', 'ACKNOWLEDGED→CLEARED']);
    expect(state.alarm).toBeNull();
  });

  it('a raise while LATCHED re-activates the same alarm (one open alarm, nobody has seen it yet)', () => {
    const { alarm, state } = run(rule, [observe(T0 + 1, 31), observe(T0 + 2, 20), observe(T0 + 3, 40)]);
    expect(alarm.map((r) => `${r.from}→${r.to}`)).toEqual(['null→ACTIVE', 'ACTIVE→LATCHED', 'LATCHED→ACTIVE']);
    expect(state.alarm).toEqual({ status: 'ACTIVE', raisedAt: T0 + 3 });
  });

  it('a value it cannot judge neither raises nor clears', () => {
    const { alarm } = run(rule, [observe(T0 + 1, 'n/a'), observe(T0 + 2, 31), observe(T0 + 3, undefined), observe(T0 + 4, true)]);
    expect(alarm.map((r) => r.cause)).toEqual(['conditionRaised']);
  });
});

describe('durations (hysteresis in time) and a separate clear (hysteresis in value)', () => {
  const rule = COLD_STORAGE; // > 8 for 10 min; clear < 6 for 5 min

  it('a window interrupted before its deadline never raises, and says so', () => {
    const { state, alarm, window } = run(rule, [observe(T0, 9), observe(T0 + 5 * MINUTE, 9.5), observe(T0 + 6 * MINUTE, 7)]);
    expect(alarm).toEqual([]);
    expect(state.phase).toBe('NORMAL');
    expect(window.map((w) => `${w.from}→${w.to}@${w.at - T0}`)).toEqual(['NORMAL→PENDING_RAISE@0', `PENDING_RAISE→NORMAL@${6 * MINUTE}`]);
  });

  it('the timer raises at the deadline, not when the sweeper ran; firing again is NOT_DUE', () => {
    const start = run(rule, [observe(T0, 9)]).state;
    expect(start).toMatchObject({ phase: 'PENDING_RAISE', pendingSince: T0, deadlineAt: T0 + 10 * MINUTE });
    const early = transition(start, rule, deadline(T0 + 10 * MINUTE - 1));
    expect(early).toMatchObject({ ok: false, reason: 'NOT_DUE' });
    const { state, alarm } = run(rule, [deadline(T0 + 12 * MINUTE)], start);
    expect(alarm).toEqual([{ from: null, to: 'ACTIVE', at: T0 + 10 * MINUTE, cause: 'conditionRaised', value: 9 }]);
    expect(state).toMatchObject({ phase: 'RAISED', deadlineAt: null, asOf: T0 + 10 * MINUTE });
    expect(transition(state, rule, deadline(T0 + 12 * MINUTE))).toMatchObject({ ok: false, reason: 'NOT_DUE' });
  });

  it('a reading past the deadline fires it first (the value held until then), then counts itself', () => {
    const { state, alarm } = run(rule, [observe(T0, 9), observe(T0 + 11 * MINUTE, 5)]);
    expect(alarm).toEqual([{ from: null, to: 'ACTIVE', at: T0 + 10 * MINUTE, cause: 'conditionRaised', value: 9 }]);
    expect(state).toMatchObject({ phase: 'PENDING_CLEAR', pendingSince: T0 + 11 * MINUTE, deadlineAt: T0 + 16 * MINUTE });
  });

  it('inside the band between clear and raise, a raised alarm stays raised and a pending clear is called off', () => {
    const raised = run(rule, [observe(T0, 9), deadline(T0 + 10 * MINUTE)]).state;
    const { alarm, state } = run(
      rule,
      [observe(T0 + 11 * MINUTE, 7), observe(T0 + 12 * MINUTE, 5), observe(T0 + 13 * MINUTE, 6.5), observe(T0 + 30 * MINUTE, 7.9)],
      raised,
    );
    expect(alarm).toEqual([]);
    expect(state.phase).toBe('RAISED');
    const cleared = run(rule, [observe(T0 + 31 * MINUTE, 5), deadline(T0 + 36 * MINUTE)], state);
    expect(cleared.alarm).toEqual([{ from: 'ACTIVE', to: 'LATCHED', at: T0 + 36 * MINUTE, cause: 'conditionCleared', value: 5 }]);
  });
});

describe('no data for D', () => {
  const rule = threshold(0, { raise: { op: 'noData', forMs: 10 * MINUTE } });

  it('starts watching at once, every reading restarts the silence, and the first reading after it clears', () => {
    const start = initialState(rule, T0);
    expect(start).toMatchObject({ phase: 'PENDING_RAISE', pendingSince: T0, deadlineAt: T0 + 10 * MINUTE });
    const { state, alarm, window } = run(rule, [observe(T0 + 5 * MINUTE, 1), observe(T0 + 9 * MINUTE, 2), deadline(T0 + 19 * MINUTE)], start);
    expect(alarm).toEqual([{ from: null, to: 'ACTIVE', at: T0 + 19 * MINUTE, cause: 'conditionRaised' }]);
    // Refreshes of the silence are not news; only the phase change is recorded.
    expect(window.map((w) => `${w.from}→${w.to}`)).toEqual(['PENDING_RAISE→RAISED']);
    const back = run(rule, [observe(T0 + 25 * MINUTE, 3)], state);
    expect(back.alarm).toEqual([{ from: 'ACTIVE', to: 'LATCHED', at: T0 + 25 * MINUTE, cause: 'conditionCleared', value: 3 }]);
    expect(back.state).toMatchObject({ phase: 'PENDING_RAISE', pendingSince: T0 + 25 * MINUTE, deadlineAt: T0 + 35 * MINUTE });
  });

  it('a reading after a gap longer than D raises at the end of the silence and clears at the reading', () => {
    const { alarm } = run(rule, [observe(T0 + MINUTE, 1), observe(T0 + 30 * MINUTE, 2)]);
    expect(alarm.map((r) => `${r.to}@${r.at - T0}`)).toEqual([`ACTIVE@${11 * MINUTE}`, `LATCHED@${30 * MINUTE}`]);
  });

  it('a data condition as clear with a silence: a clear noData runs from the raise', () => {
    const quiet = threshold(30, { clear: { op: 'noData', forMs: MINUTE } });
    const { alarm, state } = run(quiet, [observe(T0 + 1, 31), deadline(T0 + 1 + MINUTE)]);
    expect(alarm.map((r) => r.to)).toEqual(['ACTIVE', 'LATCHED']);
    expect(state.phase).toBe('NORMAL');
  });
});

describe('out-of-order and repeated readings', () => {
  const rule = threshold(30);

  it('a reading older than the newest taken is STALE and changes nothing', () => {
    const { state } = run(rule, [observe(T0 + 10, 31)]);
    expect(transition(state, rule, observe(T0 + 9, 20))).toMatchObject({ ok: false, reason: 'STALE' });
  });

  it('the same reading again is a DUPLICATE; another value at the same ts is taken', () => {
    const { state } = run(rule, [observe(T0 + 10, 31)]);
    expect(transition(state, rule, observe(T0 + 10, 31))).toMatchObject({ ok: false, reason: 'DUPLICATE' });
    const again = transition(state, rule, observe(T0 + 10, 20));
    expect(again.ok && again.alarm.map((r) => r.to)).toEqual(['LATCHED']);
  });

  it('a reading behind a deadline already fired (device clock behind) is taken, stamped no earlier than the deadline', () => {
    const held = threshold(30, { raise: { op: '>', value: 30, forMs: 1000 } });
    const raised = run(held, [observe(T0, 31), deadline(T0 + 5000)]).state;
    expect(raised.asOf).toBe(T0 + 1000);
    const { alarm, state } = run(held, [observe(T0 + 500, 20)], raised);
    expect(alarm).toEqual([{ from: 'ACTIVE', to: 'LATCHED', at: T0 + 1000, cause: 'conditionCleared', value: 20 }]);
    expect(state.lastTs).toBe(T0 + 500);
  });
});

describe('acknowledge and manual clear', () => {
  const rule = threshold(30);

  it('refuses without an open alarm, and a second acknowledge is a DUPLICATE', () => {
    const start = initialState(rule, T0);
    expect(transition(start, rule, alarmEvents.acknowledge(T0, 'u'))).toMatchObject({ ok: false, reason: 'NO_ALARM' });
    expect(transition(start, rule, alarmEvents.clear(T0, 'u'))).toMatchObject({ ok: false, reason: 'NO_ALARM' });
    const acked = run(rule, [observe(T0 + 1, 31), alarmEvents.acknowledge(T0 + 2, 'u')]).state;
    expect(transition(acked, rule, alarmEvents.acknowledge(T0 + 3, 'u'))).toMatchObject({ ok: false, reason: 'DUPLICATE' });
  });

  it('a manual clear closes the alarm and watches again from the next reading, which opens a new alarm', () => {
    const { alarm, state } = run(rule, [observe(T0 + 1, 31), alarmEvents.clear(T0 + 2, 'user:bob')]);
    expect(alarm.at(-1)).toEqual({ from: 'ACTIVE', to: 'CLEARED', at: T0 + 2, cause: 'clear', actor: 'user:bob' });
    expect(state).toMatchObject({ phase: 'NORMAL', alarm: null });
    const next = run(rule, [observe(T0 + 3, 32)], state);
    expect(next.alarm).toEqual([{ from: null, to: 'ACTIVE', at: T0 + 3, cause: 'conditionRaised', value: 32 }]);
  });

  it('a manual clear of a no-data alarm starts a new silence at the clear', () => {
    const silent = threshold(0, { raise: { op: 'noData', forMs: MINUTE } });
    const { state } = run(silent, [deadline(T0 + MINUTE), alarmEvents.clear(T0 + 5 * MINUTE, 'u')]);
    expect(state).toMatchObject({ phase: 'PENDING_RAISE', pendingSince: T0 + 5 * MINUTE, deadlineAt: T0 + 6 * MINUTE, alarm: null });
  });

  it('an acknowledge fires what is due first: acknowledging an alarm whose clear window completed closes it', () => {
    const { alarm } = run(COLD_STORAGE, [
      observe(T0, 9),
      deadline(T0 + 10 * MINUTE),
      observe(T0 + 11 * MINUTE, 5),
      alarmEvents.acknowledge(T0 + 20 * MINUTE, 'u'),
    ]);
    expect(alarm.map((r) => `${r.from}→${r.to}:${r.cause}`)).toEqual([
      'null→ACTIVE:conditionRaised',
      'ACTIVE→LATCHED:conditionCleared',
      'LATCHED→CLEARED:acknowledge',
    ]);
  });
});

describe('rule edits re-judge the open window and record what they change', () => {
  const held = (forMs: number, value = 30): RuleDefinition => threshold(value, { raise: { op: '>', value, forMs } });

  it('an edit of severity or actions changes nothing', () => {
    const rule = held(10 * MINUTE);
    const { state } = run(rule, [observe(T0, 31)]);
    const result = transition(
      state,
      rule,
      alarmEvents.ruleChanged(T0 + MINUTE, { ...rule, severity: 'CRITICAL', onRaise: [{ type: 'notifyWebhook', endpointId: 'e' }] }),
    );
    expect(result).toEqual({ ok: true, state, changed: false, alarm: [], window: [] });
  });

  it('a longer duration keeps the window’s start and moves its deadline', () => {
    const { state } = run(held(10 * MINUTE), [observe(T0, 31)]);
    const { state: next, window } = run(held(10 * MINUTE), [alarmEvents.ruleChanged(T0 + MINUTE, held(20 * MINUTE))], state);
    expect(next).toMatchObject({ phase: 'PENDING_RAISE', pendingSince: T0, deadlineAt: T0 + 20 * MINUTE });
    expect(window).toEqual([
      { from: 'PENDING_RAISE', to: 'PENDING_RAISE', at: T0 + MINUTE, cause: 'ruleChanged', pendingSince: T0, deadlineAt: T0 + 20 * MINUTE },
    ]);
  });

  it('a shorter duration that has already elapsed raises at the edit, never before it', () => {
    const { state } = run(held(10 * MINUTE), [observe(T0, 31)]);
    const { alarm } = run(held(10 * MINUTE), [alarmEvents.ruleChanged(T0 + 5 * MINUTE, held(2 * MINUTE))], state);
    expect(alarm).toEqual([{ from: null, to: 'ACTIVE', at: T0 + 5 * MINUTE, cause: 'conditionRaised', value: 31 }]);
  });

  it('a window the new condition no longer holds for ends, recorded', () => {
    const { state } = run(held(10 * MINUTE), [observe(T0, 31)]);
    const { state: next, window } = run(held(10 * MINUTE), [alarmEvents.ruleChanged(T0 + MINUTE, held(10 * MINUTE, 40))], state);
    expect(next.phase).toBe('NORMAL');
    expect(window.map((w) => `${w.from}→${w.to}:${w.cause}`)).toEqual(['PENDING_RAISE→NORMAL:ruleChanged']);
  });

  it('a condition the last reading now meets starts a window from that reading', () => {
    const { state } = run(held(10 * MINUTE), [observe(T0, 25)]);
    const { state: next } = run(held(10 * MINUTE), [alarmEvents.ruleChanged(T0 + MINUTE, held(10 * MINUTE, 20))], state);
    expect(next).toMatchObject({ phase: 'PENDING_RAISE', pendingSince: T0, deadlineAt: T0 + 10 * MINUTE });
  });

  it('a new clear condition the last reading meets clears the alarm at the edit', () => {
    const rule = threshold(30, { clear: { op: '<', value: 20 } });
    const { state } = run(rule, [observe(T0, 31), observe(T0 + 1, 25)]);
    expect(state.phase).toBe('RAISED');
    const { alarm } = run(rule, [alarmEvents.ruleChanged(T0 + MINUTE, threshold(30))], state);
    expect(alarm).toEqual([{ from: 'ACTIVE', to: 'LATCHED', at: T0 + MINUTE, cause: 'conditionCleared', value: 25 }]);
  });

  it('what was due under the old rule fires under the old rule first, then the new rule judges the result', () => {
    const { state } = run(held(MINUTE), [observe(T0, 31)]);
    const { alarm } = run(held(MINUTE), [alarmEvents.ruleChanged(T0 + 5 * MINUTE, held(MINUTE, 40))], state);
    // Raised when the old window completed; the new default clear (not > 40) holds for 31 at the edit.
    expect(alarm).toEqual([
      { from: null, to: 'ACTIVE', at: T0 + MINUTE, cause: 'conditionRaised', value: 31 },
      { from: 'ACTIVE', to: 'LATCHED', at: T0 + 5 * MINUTE, cause: 'conditionCleared', value: 31 },
    ]);
  });

  it('another source forgets the last reading and restarts the window from its base; the alarm stays open', () => {
    const rule = threshold(30);
    const { state } = run(rule, [observe(T0, 31)]);
    const other = threshold(30, { source: { type: 'telemetry', metric: 'temp2' }, raise: { op: '>', value: 30 }, clear: { op: 'noData', forMs: MINUTE } });
    const { state: next, window, alarm } = run(rule, [alarmEvents.ruleChanged(T0 + 10, other)], state);
    expect(alarm).toEqual([]);
    expect(next).toMatchObject({ phase: 'PENDING_CLEAR', pendingSince: T0 + 10, deadlineAt: T0 + 10 + MINUTE, lastTs: null, alarm: { status: 'ACTIVE' } });
    expect(next).not.toHaveProperty('lastValue');
    expect(window.map((w) => `${w.from}→${w.to}:${w.cause}`)).toEqual(['RAISED→PENDING_CLEAR:ruleChanged']);
  });

  it('a new no-data condition runs from the last reading', () => {
    const rule = threshold(30);
    const { state } = run(rule, [observe(T0, 5)]);
    const silent = threshold(0, { raise: { op: 'noData', forMs: 10 * MINUTE } });
    const { state: next } = run(rule, [alarmEvents.ruleChanged(T0 + MINUTE, silent)], state);
    expect(next).toMatchObject({ phase: 'PENDING_RAISE', pendingSince: T0, deadlineAt: T0 + 10 * MINUTE });
  });
});

describe('bad input', () => {
  const rule = threshold(30);
  const good = initialState(rule, T0);

  it('is refused as INVALID_INPUT, never thrown', () => {
    const bad: Array<[unknown, unknown, unknown]> = [
      [null, rule, observe(T0, 1)],
      [{ ...good, phase: 'HOT' }, rule, observe(T0, 1)],
      [{ ...good, asOf: Number.NaN }, rule, observe(T0, 1)],
      [{ ...good, phase: 'PENDING_RAISE' }, rule, observe(T0, 1)],
      [{ ...good, alarm: { status: 'CLEARED', raisedAt: 1 } }, rule, observe(T0, 1)],
      [good, rule, { type: 'observe', ts: -1, value: 1 }],
      [good, rule, { type: 'deadline' }],
      [good, rule, { type: 'acknowledge', now: 1 }],
      [good, rule, { type: 'ruleChanged', now: 1 }],
      [good, rule, { type: 'explode' }],
      [good, rule, 'observe'],
      [good, null, observe(T0, 1)],
      [good, { raise: null }, observe(T0, 1)],
    ];
    for (const [state, r, event] of bad) {
      const result = transition(state as AlarmState, r as RuleDefinition, event as AlarmEvent);
      expect(result).toMatchObject({ ok: false, reason: 'INVALID_INPUT' });
    }
  });
});
