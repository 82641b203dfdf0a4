/**
 * Properties of the alarm state machine over random rules and event sequences: at most one open alarm
 * and a consistent window, condition edges that alternate starting with a raise, timers that fire once
 * however often they are fired, no flapping inside the hysteresis band, and decisions that do not
 * depend on when the sweeper runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  alarmEvents,
  initialState,
  isConsistent,
  transition,
  type AlarmEvent,
  type AlarmRecord,
  type AlarmState,
} from '../../../src/domain/rules/alarm-state.ts';
import { checkRule, type Condition, type RuleDefinition } from '../../../src/domain/rules/rule.ts';
import { TWIN_LIMITS } from './fixtures.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);
const T0 = 1_000_000;

interface Shape {
  high: number;
  gap: number;
  raiseFor: number | null;
  clearFor: number | null;
  explicitClear: boolean;
  silence: boolean;
}

/** raise `> high` (or no data), clear `< high - gap` or the default negation, with optional durations. */
function ruleOf(shape: Shape): RuleDefinition {
  const raise: Condition = shape.silence
    ? { op: 'noData', forMs: shape.raiseFor ?? 10 }
    : shape.raiseFor === null
      ? { op: '>', value: shape.high }
      : { op: '>', value: shape.high, forMs: shape.raiseFor };
  const rule: RuleDefinition = { scope: {}, source: { type: 'telemetry', metric: 'v' }, raise, severity: 'MINOR', onRaise: [], onClear: [] };
  if (shape.explicitClear)
    rule.clear = shape.clearFor === null ? { op: '<', value: shape.high - shape.gap } : { op: '<', value: shape.high - shape.gap, forMs: shape.clearFor };
  // Every generated rule is one the save-time check accepts.
  const checked = checkRule(rule, { twin: TWIN_LIMITS });
  if (!checked.ok) throw new Error(JSON.stringify(checked.error.issues));
  return checked.rule;
}

const shapeArb = fc.record({
  high: fc.integer({ min: 5, max: 15 }),
  gap: fc.integer({ min: 1, max: 4 }),
  raiseFor: fc.option(fc.integer({ min: 1, max: 50 })),
  clearFor: fc.option(fc.integer({ min: 1, max: 50 })),
  explicitClear: fc.boolean(),
  silence: fc.boolean(),
});

type Step =
  | { kind: 'observe'; dt: number; value: number }
  | { kind: 'late'; back: number; value: number }
  | { kind: 'deadline'; ahead: number }
  | { kind: 'acknowledge' }
  | { kind: 'clear' }
  | { kind: 'edit'; shape: Shape };

const valueArb = fc.integer({ min: 0, max: 20 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('observe' as const), dt: fc.integer({ min: 0, max: 30 }), value: valueArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('late' as const), back: fc.integer({ min: 1, max: 20 }), value: valueArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deadline' as const), ahead: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'acknowledge' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('edit' as const), shape: shapeArb }) },
);

/** Turns steps into events on a clock that moves forward with readings (late readings and sweeps look around it). */
function eventsOf(steps: Step[], rule: RuleDefinition): Array<{ event: AlarmEvent; rule: RuleDefinition }> {
  let t = T0;
  let current = rule;
  const out: Array<{ event: AlarmEvent; rule: RuleDefinition }> = [];
  for (const step of steps) {
    switch (step.kind) {
      case 'observe':
        t += step.dt;
        out.push({ event: alarmEvents.observe(t, step.value), rule: current });
        break;
      case 'late':
        out.push({ event: alarmEvents.observe(Math.max(T0, t - step.back), step.value), rule: current });
        break;
      case 'deadline':
        out.push({ event: alarmEvents.deadline(t + step.ahead), rule: current });
        break;
      case 'acknowledge':
        out.push({ event: alarmEvents.acknowledge(t, 'user:a'), rule: current });
        break;
      case 'clear':
        out.push({ event: alarmEvents.clear(t, 'user:a'), rule: current });
        break;
      case 'edit': {
        const next = ruleOf(step.shape);
        out.push({ event: alarmEvents.ruleChanged(t, next), rule: current });
        current = next;
        break;
      }
    }
  }
  return out;
}

/** Runs the events, taking refusals as no-ops (as the edge does), checking invariants after each. */
function replay(
  rule: RuleDefinition,
  events: Array<{ event: AlarmEvent; rule: RuleDefinition }>,
  check?: (s: AlarmState, before: AlarmState, event: AlarmEvent) => void,
) {
  let state = initialState(rule, T0);
  const records: AlarmRecord[] = [];
  for (const { event, rule: r } of events) {
    const result = transition(state, r, event);
    if (result.ok) {
      check?.(result.state, state, event);
      state = result.state;
      records.push(...result.alarm);
    } else {
      expect(['STALE', 'DUPLICATE', 'NOT_DUE', 'NO_ALARM']).toContain(result.reason);
    }
  }
  return { state, records };
}

describe('alarm state machine properties', () => {
  it('at most one open alarm, a consistent window, and a history that chains: each record starts where the last ended', () => {
    fc.assert(
      fc.property(shapeArb, fc.array(stepArb, { maxLength: 60 }), (shape, steps) => {
        const rule = ruleOf(shape);
        const { state, records } = replay(rule, eventsOf(steps, rule), (s) => {
          expect(isConsistent(s)).toBe(true);
          if (s.alarm !== null) expect(['ACTIVE', 'ACKNOWLEDGED', 'LATCHED']).toContain(s.alarm.status);
          if (s.phase === 'PENDING_RAISE' || s.phase === 'PENDING_CLEAR') expect(s.deadlineAt).not.toBeNull();
        });
        let open: string | null = null;
        let lastAt = -Infinity;
        for (const r of records) {
          expect(r.from).toBe(open);
          open = r.to === 'CLEARED' ? null : r.to;
          // Recorded times never go backwards.
          expect(r.at).toBeGreaterThanOrEqual(lastAt);
          lastAt = r.at;
        }
        expect(state.alarm?.status ?? null).toBe(open);
      }),
      { numRuns },
    );
  });

  it('a raise always precedes a clear: condition edges alternate, starting with a raise', () => {
    fc.assert(
      fc.property(shapeArb, fc.array(stepArb, { maxLength: 60 }), (shape, steps) => {
        const rule = ruleOf(shape);
        const { records } = replay(rule, eventsOf(steps, rule));
        let raised = false;
        for (const r of records) {
          if (r.cause === 'conditionRaised') {
            expect(raised).toBe(false);
            raised = true;
          } else if (r.cause === 'conditionCleared') {
            expect(raised).toBe(true);
            raised = false;
          } else if (r.cause === 'clear') {
            // A manual clear ends the raised window too; the next edge is a raise again.
            raised = false;
          }
        }
      }),
      { numRuns },
    );
  });

  it('timers are idempotent: firing a deadline twice is firing it once', () => {
    fc.assert(
      fc.property(shapeArb, fc.array(stepArb, { maxLength: 40 }), fc.integer({ min: 0, max: 200 }), (shape, steps, ahead) => {
        const rule = ruleOf(shape);
        const events = eventsOf(steps, rule);
        const { state } = replay(rule, events);
        const current =
          events
            .filter((e) => e.event.type === 'ruleChanged')
            .map((e) => (e.event as { rule: RuleDefinition }).rule)
            .at(-1) ?? rule;
        const now = Math.max(state.asOf, state.lastTs ?? 0) + ahead;
        const once = transition(state, current, alarmEvents.deadline(now));
        const after = once.ok ? once.state : state;
        const twice = transition(after, current, alarmEvents.deadline(now));
        if (twice.ok) {
          expect(twice.changed).toBe(false);
          expect(twice.alarm).toEqual([]);
        } else expect(twice.reason).toBe('NOT_DUE');
      }),
      { numRuns },
    );
  });

  it('no flapping inside hysteresis: after the first reading in the band between clear and raise, nothing changes the alarm', () => {
    const band = shapeArb.map((s) => ({ ...s, explicitClear: true, silence: false }));
    fc.assert(
      fc.property(
        band,
        fc.array(stepArb, { maxLength: 30 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 60 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (shape, prefix, inBand) => {
          const rule = ruleOf(shape);
          const events = eventsOf(
            prefix.filter((s) => s.kind !== 'edit'),
            rule,
          );
          const { state } = replay(rule, events);
          let s = state;
          let t = Math.max(s.lastTs ?? T0, s.asOf);
          const low = shape.high - shape.gap;
          let first = true;
          for (const [dt, where, ahead] of inBand) {
            t += dt;
            const value = low + where * shape.gap; // low ≤ value ≤ high: neither > high nor < low
            for (const event of [alarmEvents.observe(t, value), alarmEvents.deadline(t + ahead)]) {
              const result = transition(s, rule, event);
              if (!result.ok) continue;
              if (!first) expect(result.alarm).toEqual([]);
              s = result.state;
            }
            first = false;
          }
        },
      ),
      { numRuns },
    );
  });

  it('decisions do not depend on when the sweeper runs: sweeps between readings give the edges readings alone give', () => {
    fc.assert(
      fc.property(
        shapeArb,
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), valueArb, fc.option(fc.integer({ min: 0, max: 100 }))), { maxLength: 40 }),
        (shape, readings) => {
          const rule = ruleOf(shape);
          let t = T0;
          const plain: Array<{ event: AlarmEvent; rule: RuleDefinition }> = [];
          const swept: Array<{ event: AlarmEvent; rule: RuleDefinition }> = [];
          for (const [dt, value, sweep] of readings) {
            // A sweep somewhere between the previous reading and this one (never past it).
            if (sweep !== null) swept.push({ event: alarmEvents.deadline(t + Math.floor((sweep * dt) / 100)), rule });
            t += dt;
            plain.push({ event: alarmEvents.observe(t, value), rule });
            swept.push({ event: alarmEvents.observe(t, value), rule });
          }
          const end = { event: alarmEvents.deadline(t + 1000), rule };
          const a = replay(rule, [...plain, end]);
          const b = replay(rule, [...swept, end]);
          expect(b.records).toEqual(a.records);
          expect(b.state).toEqual(a.state);
        },
      ),
      { numRuns },
    );
  });

  it('never throws and never mutates its input, whatever the event', () => {
    fc.assert(
      fc.property(shapeArb, fc.array(stepArb, { maxLength: 20 }), fc.anything(), (shape, steps, junk) => {
        const rule = ruleOf(shape);
        const { state } = replay(rule, eventsOf(steps, rule));
        const frozen = structuredClone(state);
        transition(state, rule, junk as AlarmEvent);
        transition(state, rule, { type: 'observe', ts: T0 * 2, value: junk } as AlarmEvent);
        expect(state).toEqual(frozen);
      }),
      { numRuns },
    );
  });
});
