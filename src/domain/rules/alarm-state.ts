/**
 * The state of one rule on one device, as a pure state machine (docs/rules.md): its condition window
 * and its open alarm. No I/O, no clocks, never throws. The edge stores the state per (rule, device),
 * its `deadlineAt` is what a sweeper looks for, and the records it returns are what the edge appends
 * to the alarm's history (and, on a condition edge, what it turns into the rule's actions).
 *
 * The window (which condition is being watched, and since when):
 *
 *   NORMAL ──raise holds──▶ PENDING_RAISE ──held forMs (deadline)──▶ RAISED ──clear holds──▶ PENDING_CLEAR ──held forMs──▶ NORMAL
 *     │      (no forMs: straight to RAISED)  │ raise stops holding: back to NORMAL    │ (no forMs: straight to NORMAL)  │ clear stops holding: back to RAISED
 *
 * The alarm (at most one open per rule and device, by construction: it is one field):
 *
 *   (none) ──raise──▶ ACTIVE ──acknowledge──▶ ACKNOWLEDGED ──clear edge or manual clear──▶ CLEARED
 *                       │ clear edge                                         ▲
 *                       ▼                                                    │
 *                    LATCHED (cleared, nobody has seen it) ──acknowledge─────┘
 *                       └── raise again ──▶ ACTIVE (the same alarm: one incident nobody has seen yet)
 *   ACTIVE | LATCHED ──manual clear──▶ CLEARED
 *
 * Why these choices:
 *
 * - Time is the readings' time (device `ts`), so that replayed or buffered data and a backtest over
 *   stored data decide exactly what live evaluation decides. "Held for D" means no reading in between
 *   said otherwise: between readings a value is taken to stay as last read (sample and hold).
 * - Deadlines are fired by whatever comes first: a sweeper's `deadline` event (server clock), or any
 *   other event whose time is at or past the deadline (a late reading proves the value held until it).
 *   They fire at `deadlineAt`, not at the time the sweeper ran, so a late sweep or a restart changes
 *   nothing. Every event first fires what is due by its time, so firing twice is firing once.
 * - "No data for D" is a window that every reading restarts: pending since the last reading, due D
 *   later. Its negation (the default clear of a no-data rule) is "a reading arrived".
 * - A reading older than the newest one taken is STALE and ignored: it describes the past, which the
 *   state has already moved past, and evaluating it would let an old value undo a newer one. (The
 *   service feeds a batch in `ts` order.) An identical reading (same ts, same value) is a DUPLICATE.
 *   A reading at or after the newest one but before a deadline already fired (a device clock behind the
 *   server's) is taken, with its transitions stamped no earlier than what is already recorded: recorded
 *   times never go backwards (`asOf`).
 * - A "cannot tell" reading (./evaluate.ts: missing, wrong kind) neither starts nor ends a window.
 * - Manual clear closes the alarm and resets the window to NORMAL: the rule watches again from the next
 *   reading (a no-data rule from the clear), so a clear never re-sends the raise actions by itself.
 * - A rule edit (`ruleChanged`) first fires what was due under the old rule, then re-judges the window
 *   on the last reading under the new rule, and records every change it makes (`WindowRecord`, cause
 *   `ruleChanged`); nothing is reset silently. An open alarm stays open. See `transition`.
 * - Condition edges never evaluate the other condition on the same reading: an explicit clear overlapping
 *   the raise is refused when the rule is saved (./rule.ts), and evaluating both would flap.
 *
 * Refusals are values (`ok: false`) with a stable `reason`. States are immutable values.
 */
import { canonicalJson, type JsonValue } from '../twin.ts';
import { clearConditionOf, holds, isSilence, raiseConditionOf, sameReading, type Reading, type Truth, type WindowCondition } from './evaluate.ts';
import type { RuleDefinition } from './rule.ts';

export const WINDOW_PHASES = ['NORMAL', 'PENDING_RAISE', 'RAISED', 'PENDING_CLEAR'] as const;
export type WindowPhase = (typeof WINDOW_PHASES)[number];

/** Alarm statuses. Stable names: they are stored and exposed through GraphQL. */
export const ALARM_STATUSES = ['ACTIVE', 'ACKNOWLEDGED', 'LATCHED', 'CLEARED'] as const;
export type AlarmStatus = (typeof ALARM_STATUSES)[number];
/** The statuses of an open alarm (all but CLEARED): at most one per rule and device. */
export type OpenAlarmStatus = Exclude<AlarmStatus, 'CLEARED'>;

export const ALARM_EVENT_TYPES = ['observe', 'deadline', 'acknowledge', 'clear', 'ruleChanged'] as const;
export type AlarmEventType = (typeof ALARM_EVENT_TYPES)[number];

export type AlarmEvent =
  /** A reading of the rule's source at `ts` (epoch ms); `value` undefined when the source has none. */
  | { type: 'observe'; ts: number; value: Reading }
  /** A sweeper found `deadlineAt` passed; `now` is the clock reading it judged by. */
  | { type: 'deadline'; now: number }
  /** A user acknowledged the open alarm. */
  | { type: 'acknowledge'; now: number; actor: string }
  /** A user cleared the open alarm by hand. */
  | { type: 'clear'; now: number; actor: string }
  /** The rule was edited; `rule` is the new version (the `rule` argument of `transition` is the old one). */
  | { type: 'ruleChanged'; now: number; rule: RuleDefinition };

export const alarmEvents = {
  observe: (ts: number, value: Reading): AlarmEvent => ({ type: 'observe', ts, value }),
  deadline: (now: number): AlarmEvent => ({ type: 'deadline', now }),
  acknowledge: (now: number, actor: string): AlarmEvent => ({ type: 'acknowledge', now, actor }),
  clear: (now: number, actor: string): AlarmEvent => ({ type: 'clear', now, actor }),
  ruleChanged: (now: number, rule: RuleDefinition): AlarmEvent => ({ type: 'ruleChanged', now, rule }),
};

/** The open alarm, as far as the lifecycle needs it (the stored alarm row carries the rest). */
export interface OpenAlarm {
  status: OpenAlarmStatus;
  /** When it was raised (the last time, for an alarm raised again from LATCHED). */
  raisedAt: number;
}

export interface AlarmState {
  phase: WindowPhase;
  /** When the pending window started (PENDING_* only, else null). */
  pendingSince: number | null;
  /** When the pending window completes unless a reading interrupts it (PENDING_* only, else null). */
  deadlineAt: number | null;
  /** The time of the newest reading taken; null before the first. */
  lastTs: number | null;
  /** Its value; absent when there was none or it was missing. */
  lastValue?: JsonValue;
  /** No recorded time is ever earlier than this (the latest time a transition was stamped with). */
  asOf: number;
  alarm: OpenAlarm | null;
}

/** One alarm transition: a row of the alarm's append-only history. */
export interface AlarmRecord {
  /** null: a new alarm was opened. */
  from: OpenAlarmStatus | null;
  to: AlarmStatus;
  at: number;
  /**
   * conditionRaised / conditionCleared are the condition edges: the rule's onRaise / onClear actions
   * run on them, and on nothing else. acknowledge / clear come from a user (`actor`).
   */
  cause: 'conditionRaised' | 'conditionCleared' | 'acknowledge' | 'clear';
  /** The reading that caused the edge (absent when missing, and for no-data raises). */
  value?: JsonValue;
  actor?: string;
}

/** A change of window phase (and, for a rule edit, of its deadline): for logs and the history. */
export interface WindowRecord {
  from: WindowPhase;
  to: WindowPhase;
  at: number;
  cause: AlarmEventType;
  pendingSince: number | null;
  deadlineAt: number | null;
}

export type AlarmRefusal =
  /** A reading older than the newest one taken. */
  | 'STALE'
  /** The same reading again, or acknowledging an acknowledged alarm. Idempotent: no change. */
  | 'DUPLICATE'
  /** A deadline event with no deadline due by its `now`. */
  | 'NOT_DUE'
  /** Acknowledge or clear with no open alarm. */
  | 'NO_ALARM'
  /** Not a state, an event or a time (a bug at the edge, or a corrupt row). */
  | 'INVALID_INPUT';

export type AlarmTransitionResult =
  | {
      ok: true;
      state: AlarmState;
      /** The state differs from the input (store it). */
      changed: boolean;
      /** Alarm transitions, in order (a late reading can raise and clear in one event). */
      alarm: AlarmRecord[];
      window: WindowRecord[];
    }
  | { ok: false; reason: AlarmRefusal; message: string };

/**
 * The state of a rule on a device it starts watching at `now` (rule saved, device joined the scope):
 * NORMAL, or for a no-data rule a silence window running from `now`.
 */
export function initialState(rule: RuleDefinition, now: number): AlarmState {
  const raise = raiseConditionOf(rule);
  if (isSilence(raise)) return { phase: 'PENDING_RAISE', pendingSince: now, deadlineAt: now + raise.condition.forMs, lastTs: null, asOf: now, alarm: null };
  return { phase: 'NORMAL', pendingSince: null, deadlineAt: null, lastTs: null, asOf: now, alarm: null };
}

/**
 * The invariant every state this module returns keeps: the window is RAISED or PENDING_CLEAR exactly
 * when the alarm is ACTIVE or ACKNOWLEDGED (a LATCHED alarm's condition has cleared).
 */
export function isConsistent({ phase, alarm }: AlarmState): boolean {
  const raised = phase === 'RAISED' || phase === 'PENDING_CLEAR';
  const open = alarm !== null && (alarm.status === 'ACTIVE' || alarm.status === 'ACKNOWLEDGED');
  return raised === open;
}

// ---------------------------------------------------------------------------------------------
// The transition function
// ---------------------------------------------------------------------------------------------

/** At most this many deadlines fire in one event (a silence raise then a silence clear; more is a bug). */
const MAX_FIRINGS = 4;

/**
 * What `event` does to `state` under `rule` (the rule version in force before the event).
 *
 * `ruleChanged`, exactly: deadlines due by `now` fire under the old rule. An edit that leaves the
 * source and both conditions as they were (severity, actions, scope) changes nothing here. If the
 * source changed (another metric or path), the last reading means nothing to the new rule: it is
 * forgotten and the window restarts from its base (NORMAL, or RAISED while an alarm is ACTIVE or
 * ACKNOWLEDGED; a no-data condition from `now`). Otherwise the new condition of the base phase is
 * judged on the last reading (`changed` cannot tell at an edit: there is no new reading):
 * - it holds: a pending window keeps `pendingSince` and its deadline becomes `pendingSince + forMs`;
 *   a window not yet pending becomes pending since the last reading; with no `forMs` it completes;
 * - it does not hold, or cannot tell: a pending window ends (back to its base), a base phase stays.
 *   An edit keeps or completes a window only on evidence;
 * - a no-data condition runs from the last reading (or from when it was pending, or `now`).
 * A deadline that the new durations put at or before the edit completes at the edit, never earlier:
 * no transition is back-dated before the rule version that caused it. Every change to the window is
 * recorded (`WindowRecord`, cause `ruleChanged`).
 */
export function transition(state: AlarmState, rule: RuleDefinition, event: AlarmEvent): AlarmTransitionResult {
  const problem = stateProblem(state) ?? eventProblem(event) ?? (isRecord(rule) ? undefined : 'the rule is not an object');
  if (problem !== undefined) return { ok: false, reason: 'INVALID_INPUT', message: problem };
  try {
    return new Run(state, rule, event).result();
  } catch (error) {
    // A rule that slipped past checkRule (a corrupt row) must not crash ingestion.
    return { ok: false, reason: 'INVALID_INPUT', message: `the rule could not be evaluated: ${error instanceof Error ? error.message : String(error)}` };
  }
}

class Run {
  private s: AlarmState;
  private rule: RuleDefinition;
  private readonly alarm: AlarmRecord[] = [];
  private readonly window: WindowRecord[] = [];

  constructor(
    private readonly input: AlarmState,
    rule: RuleDefinition,
    private readonly event: AlarmEvent,
  ) {
    this.s = { ...input };
    this.rule = rule;
  }

  result(): AlarmTransitionResult {
    const refusal = this.apply();
    if (refusal !== undefined) return { ok: false, ...refusal };
    const changed = !sameState(this.input, this.s);
    return { ok: true, state: changed ? this.s : this.input, changed, alarm: this.alarm, window: this.window };
  }

  private apply(): { reason: AlarmRefusal; message: string } | undefined {
    const e = this.event;
    switch (e.type) {
      case 'observe':
        return this.observe(e.ts, e.value);
      case 'deadline': {
        const due = this.s.deadlineAt;
        if (due === null) return { reason: 'NOT_DUE', message: 'there is no pending window' };
        if (e.now < due) return { reason: 'NOT_DUE', message: `the window completes at ${due}, after ${e.now}` };
        this.fireDue(e.now);
        return undefined;
      }
      case 'acknowledge': {
        this.fireDue(e.now);
        const alarm = this.s.alarm;
        if (alarm === null) return { reason: 'NO_ALARM', message: 'there is no open alarm to acknowledge' };
        if (alarm.status === 'ACKNOWLEDGED') return { reason: 'DUPLICATE', message: 'the alarm is already acknowledged' };
        const at = this.stamp(e.now);
        // LATCHED: the condition has already cleared, so seeing it closes it.
        const to = alarm.status === 'LATCHED' ? 'CLEARED' : 'ACKNOWLEDGED';
        this.alarm.push({ from: alarm.status, to, at, cause: 'acknowledge', actor: e.actor });
        this.s.alarm = to === 'CLEARED' ? null : { ...alarm, status: to };
        return undefined;
      }
      case 'clear': {
        this.fireDue(e.now);
        const alarm = this.s.alarm;
        if (alarm === null) return { reason: 'NO_ALARM', message: 'there is no open alarm to clear' };
        const at = this.stamp(e.now);
        this.alarm.push({ from: alarm.status, to: 'CLEARED', at, cause: 'clear', actor: e.actor });
        this.s.alarm = null;
        this.arm('NORMAL', at, at);
        return undefined;
      }
      case 'ruleChanged':
        this.fireDue(e.now);
        this.ruleChanged(e.rule, e.now);
        return undefined;
    }
  }

  private observe(ts: number, value: Reading): { reason: AlarmRefusal; message: string } | undefined {
    const s = this.s;
    if (s.lastTs !== null && ts < s.lastTs) return { reason: 'STALE', message: `a reading at ${ts} is older than the newest taken (${s.lastTs})` };
    const previous = s.lastTs === null ? undefined : { value: s.lastValue };
    if (s.lastTs === ts && sameReading(s.lastValue, value)) return { reason: 'DUPLICATE', message: `the reading at ${ts} was already taken` };
    // A reading at or past a deadline proves the window held until the deadline.
    this.fireDue(ts);
    s.lastTs = ts;
    if (value === undefined) delete s.lastValue;
    else s.lastValue = value;
    const base = baseOf(s.phase);
    const w = this.conditionOf(base);
    const at = this.stamp(ts);
    if (isSilence(w)) {
      // Data: the silence starts again from this reading.
      this.setWindow(pendingOf(base), at, ts, ts + w.condition.forMs, false);
      return undefined;
    }
    const truth: Truth = holds(w, value, previous);
    if (truth === null) return undefined;
    const pending = s.phase !== base;
    if (!truth) {
      if (pending) this.setWindow(base, at, null, null, true);
      return undefined;
    }
    if (pending) return undefined;
    if (w.forMs === undefined) this.edge(base, at, value);
    else this.setWindow(pendingOf(base), at, ts, ts + w.forMs, true);
    return undefined;
  }

  private ruleChanged(next: RuleDefinition, now: number): void {
    const s = this.s;
    const old = this.rule;
    if (sameJson(old.source, next.source) && sameJson(old.raise, next.raise) && sameJson(old.clear ?? null, next.clear ?? null)) return;
    this.rule = next;
    const at = this.stamp(now);
    const base = baseOf(s.phase);
    const pending = s.phase !== base;
    if (!sameJson(old.source, next.source)) {
      s.lastTs = null;
      delete s.lastValue;
      this.arm(base, at, at, true);
      return;
    }
    const w = this.conditionOf(base);
    if (isSilence(w)) {
      const since = s.lastTs ?? (pending ? s.pendingSince! : at);
      this.setWindow(pendingOf(base), at, since, Math.max(since + w.condition.forMs, at), true);
    } else {
      const truth = s.lastTs === null ? null : holds(w, s.lastValue);
      if (pending && truth === true) {
        const since = s.pendingSince!;
        this.setWindow(s.phase, at, since, Math.max(since + (w.forMs ?? 0), at), true);
      } else if (pending) {
        this.setWindow(base, at, null, null, true);
      } else if (truth === true) {
        const since = s.lastTs!;
        if (w.forMs === undefined) this.edge(base, at, s.lastValue);
        else this.setWindow(pendingOf(base), at, since, Math.max(since + w.forMs, at), true);
      }
    }
    this.fireDue(at);
  }

  /** Fires every deadline due by `now`, each at its own time (never before `asOf`). */
  private fireDue(now: number): void {
    for (let i = 0; i < MAX_FIRINGS; i++) {
      const s = this.s;
      if (s.deadlineAt === null || s.deadlineAt > now || s.phase === baseOf(s.phase)) return;
      const at = this.stamp(s.deadlineAt);
      // A silence has no reading that caused it.
      const w = this.conditionOf(baseOf(s.phase));
      this.edge(baseOf(s.phase), at, isSilence(w) ? undefined : s.lastValue);
    }
  }

  /** The condition edge out of `base` (raise out of NORMAL, clear out of RAISED), at `at`. */
  private edge(base: 'NORMAL' | 'RAISED', at: number, value: Reading): void {
    const s = this.s;
    const alarm = s.alarm;
    if (base === 'NORMAL') {
      const record: AlarmRecord = { from: alarm === null ? null : alarm.status, to: 'ACTIVE', at, cause: 'conditionRaised' };
      if (value !== undefined) record.value = value;
      this.alarm.push(record);
      s.alarm = { status: 'ACTIVE', raisedAt: at };
      this.arm('RAISED', at, s.lastTs ?? at);
    } else {
      // RAISED implies an ACTIVE or ACKNOWLEDGED alarm (isConsistent); anything else is repaired to CLEARED.
      const from = alarm?.status ?? 'ACTIVE';
      const to: AlarmStatus = from === 'ACTIVE' ? 'LATCHED' : 'CLEARED';
      const record: AlarmRecord = { from, to, at, cause: 'conditionCleared' };
      if (value !== undefined) record.value = value;
      this.alarm.push(record);
      s.alarm = to === 'LATCHED' ? { status: 'LATCHED', raisedAt: alarm?.raisedAt ?? at } : null;
      this.arm('NORMAL', at, s.lastTs ?? at);
    }
  }

  /** Enters a base phase: a silence condition starts pending from `silenceSince`, anything else waits for readings. */
  private arm(base: 'NORMAL' | 'RAISED', at: number, silenceSince: number, record = true): void {
    const w = this.conditionOf(base);
    if (isSilence(w)) this.setWindow(pendingOf(base), at, silenceSince, silenceSince + w.condition.forMs, record);
    else this.setWindow(base, at, null, null, record);
  }

  private setWindow(to: WindowPhase, at: number, pendingSince: number | null, deadlineAt: number | null, record: boolean): void {
    const s = this.s;
    const from = s.phase;
    const moved = from !== to || s.pendingSince !== pendingSince || s.deadlineAt !== deadlineAt;
    s.phase = to;
    s.pendingSince = pendingSince;
    s.deadlineAt = deadlineAt;
    // Phase changes are always recorded; a moved deadline only on a rule edit (a silence refresh is not news).
    if (moved && (from !== to || (record && this.event.type === 'ruleChanged'))) {
      this.window.push({ from, to, at, cause: this.event.type, pendingSince, deadlineAt });
    }
  }

  private conditionOf(base: 'NORMAL' | 'RAISED'): WindowCondition {
    return base === 'NORMAL' ? raiseConditionOf(this.rule) : clearConditionOf(this.rule);
  }

  /** The time a transition is recorded at: `t`, or later if something already recorded is later. */
  private stamp(t: number): number {
    const at = Math.max(t, this.s.asOf);
    this.s.asOf = at;
    return at;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function baseOf(phase: WindowPhase): 'NORMAL' | 'RAISED' {
  return phase === 'NORMAL' || phase === 'PENDING_RAISE' ? 'NORMAL' : 'RAISED';
}

function pendingOf(base: 'NORMAL' | 'RAISED'): WindowPhase {
  return base === 'NORMAL' ? 'PENDING_RAISE' : 'PENDING_CLEAR';
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a as JsonValue) === canonicalJson(b as JsonValue);
}

function sameState(a: AlarmState, b: AlarmState): boolean {
  return (
    a.phase === b.phase &&
    a.pendingSince === b.pendingSince &&
    a.deadlineAt === b.deadlineAt &&
    a.lastTs === b.lastTs &&
    a.asOf === b.asOf &&
    Object.hasOwn(a, 'lastValue') === Object.hasOwn(b, 'lastValue') &&
    sameReading(a.lastValue, b.lastValue) &&
    (a.alarm === b.alarm || (a.alarm !== null && b.alarm !== null && a.alarm.status === b.alarm.status && a.alarm.raisedAt === b.alarm.raisedAt))
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A usable epoch-ms value. */
function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isTimeOrNull(value: unknown): value is number | null {
  return value === null || isTime(value);
}

function stateProblem(state: unknown): string | undefined {
  if (!isRecord(state)) return 'the state is not an object';
  if (!(WINDOW_PHASES as readonly unknown[]).includes(state.phase)) return `the phase ${String(state.phase)} is not one of ${WINDOW_PHASES.join(', ')}`;
  if (!isTimeOrNull(state.pendingSince) || !isTimeOrNull(state.deadlineAt) || !isTimeOrNull(state.lastTs) || !isTime(state.asOf)) {
    return 'pendingSince, deadlineAt and lastTs must be epoch ms or null, asOf epoch ms';
  }
  const pending = state.phase === 'PENDING_RAISE' || state.phase === 'PENDING_CLEAR';
  if (pending !== (state.deadlineAt !== null) || pending !== (state.pendingSince !== null))
    return 'pendingSince and deadlineAt are set exactly in the pending phases';
  const alarm = state.alarm;
  if (alarm !== null && !(isRecord(alarm) && ['ACTIVE', 'ACKNOWLEDGED', 'LATCHED'].includes(alarm.status as string) && isTime(alarm.raisedAt))) {
    return 'the alarm must be null or an open alarm with a raisedAt';
  }
  return undefined;
}

function eventProblem(event: unknown): string | undefined {
  if (!isRecord(event)) return 'the event is not an object';
  switch (event.type) {
    case 'observe':
      return isTime(event.ts) ? undefined : 'observe needs a ts in epoch ms';
    case 'deadline':
      return isTime(event.now) ? undefined : 'deadline needs now in epoch ms';
    case 'acknowledge':
    case 'clear':
      return isTime(event.now) && typeof event.actor === 'string' ? undefined : `${event.type} needs now in epoch ms and an actor`;
    case 'ruleChanged':
      return isTime(event.now) && isRecord(event.rule) ? undefined : 'ruleChanged needs now in epoch ms and the new rule';
    default:
      return `unknown event type ${JSON.stringify(event.type) ?? 'undefined'}`;
  }
}
