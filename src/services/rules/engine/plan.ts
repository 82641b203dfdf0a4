/**
 * What one rule does on one device with the inputs of a batch, as rows to write (./writer.ts): the
 * pure state machine (src/domain/rules/alarm-state.ts `transition`) fed input by input, its alarm
 * records turned into alarm rows, history rows, outbox ACTION rows and alarm.changed notifications,
 * and the flapping bookkeeping (docs/rules.md "Flapping"). No I/O; ids and the clock come in.
 */
import { randomUUID } from 'node:crypto';
import {
  initialState,
  transition,
  type AlarmEvent,
  type AlarmRecord,
  type AlarmRefusal,
  type AlarmState,
  type OpenAlarmStatus,
} from '../../../domain/rules/alarm-state.ts';
import { sameReading } from '../../../domain/rules/evaluate.ts';
import { expandTemplates, type RuleDefinition } from '../../../domain/rules/rule.ts';
import type { JsonValue } from '../../../domain/twin.ts';
import { emptyPlan, type AlarmWrite, type PairInput, type PairRow, type WritePlan } from './types.ts';

export interface FlapLimits {
  flapMaxEdges: number;
  flapWindowMs: number;
}

export interface PlanOptions extends FlapLimits {
  now: number;
  /** The definition of the state's rule version, when it lags the rule's (re-judged first: `ruleChanged`). */
  previous?: { version: number; definition: RuleDefinition };
  newId?: () => string;
  /**
   * The longest a stored state may keep an older lastTs / lastValue / asOf than the readings taken
   * (docs/rules.md "What is written, and when"): a pair whose transition changes nothing else is not
   * written unless its row is at least this old (ms, the database's clock). Undefined: always written.
   */
  watermarkMs?: number;
}

/** What a transition that changed nothing else did to the bookkeeping of the newest reading (not written). */
export interface Observed {
  lastTs: number | null;
  /** Absent: no reading, or a missing one. */
  lastValue?: JsonValue;
  asOf: number;
  /**
   * The window is settled (NORMAL, no deadline, no alarm): no deadline raises with its last value and
   * nothing but the ordering of late readings reads its bookkeeping, so it is stored on the longer
   * SETTLED_WATERMARK_FACTOR × watermark instead (docs/rules.md "What is written, and when").
   */
  settled: boolean;
}

/**
 * How many watermarks a settled window's newest reading may stay unwritten. Rewriting every settled
 * pair's bookkeeping each watermark was the engine's largest write (docs/performance.md "Rules engine
 * cost": about 1,100 rows/s at 11,000 pairs and 10 s); most pairs are settled most of the time.
 */
export const SETTLED_WATERMARK_FACTOR = 30;

/** A window with nothing pending and no open alarm (see `Observed.settled`). */
export function isSettled(state: Pick<AlarmState, 'phase' | 'deadlineAt' | 'alarm'>): boolean {
  return state.phase === 'NORMAL' && state.deadlineAt === null && state.alarm === null;
}

export type PairPlan =
  /**
   * `changed` false: nothing to write. `observed` then carries the newest reading taken when only its
   * bookkeeping moved (lastTs, lastValue, asOf): the engine remembers it in process (./index.ts).
   */
  | { ok: true; plan: WritePlan; changed: boolean; observed?: Observed }
  /** The state machine refused a user's input (no open alarm, already acknowledged). */
  | { ok: false; reason: AlarmRefusal; message: string };

/** The plan of a pair that changed nothing (shared, frozen: never merged or written to). */
const NOTHING_WRITTEN: WritePlan = Object.freeze({
  states: Object.freeze([]),
  alarms: Object.freeze([]),
  events: Object.freeze([]),
  actions: Object.freeze([]),
}) as unknown as WritePlan;

/** The edges of a pair that has none (never written to: edges are replaced, not pushed). */
const NO_EDGES: number[] = Object.freeze([]) as unknown as number[];

/** Refusals that are the normal life of a stream (replays, a sweep that lost to a reading): skipped. */
const SKIPPED: ReadonlySet<AlarmRefusal> = new Set(['STALE', 'DUPLICATE', 'NOT_DUE']);

/** The state machine's view of a stored pair (a fresh state for a pair never judged). */
export function stateOf(row: PairRow, now: number): AlarmState {
  const s = row.state;
  if (s === null) return initialState(row.definition, now);
  const alarm =
    row.alarm !== null && s.alarmId === row.alarm.id && row.alarm.status !== 'CLEARED'
      ? { status: row.alarm.status as OpenAlarmStatus, raisedAt: row.alarm.raisedAt }
      : null;
  const state: AlarmState = {
    phase: s.phase as AlarmState['phase'],
    pendingSince: s.pendingSince,
    deadlineAt: s.deadlineAt,
    lastTs: s.lastTs,
    asOf: s.asOf,
    alarm,
  };
  if (s.lastValue !== undefined) state.lastValue = s.lastValue;
  return state;
}

export function planPair(row: PairRow, inputs: PairInput[], options: PlanOptions): PairPlan {
  const newId = options.newId ?? randomUUID;
  // Most pairs of a batch change nothing: the plan, the alarm map and a copy of the edges are made only
  // once something is written into them (this runs for every pair of every batch).
  // (Inline `??=` rather than helper closures: under tsx every named closure costs a defineProperty per call.)
  let written: WritePlan | undefined;
  // A pair judged for the first time starts watching at its first reading (recorded times never go
  // before the state's start, so starting at the server's clock would restamp buffered readings).
  const firstReading = inputs.find((i) => i.type === 'observe');
  let state = stateOf(row, firstReading ? Math.min(firstReading.ts, options.now) : options.now);
  let dirty = row.state === null;
  const loadedEdges = row.state?.recentEdges;
  let edges: number[] = loadedEdges === undefined || loadedEdges.length === 0 ? NO_EDGES : loadedEdges.filter((t) => typeof t === 'number');
  const storedEdges = edges;
  const loadedFlapping = row.alarm?.flapping ?? edges.length > options.flapMaxEdges;
  let flapping = loadedFlapping;
  // The newest time this plan judged by (readings' time, or the clock of a deadline or a user action).
  let latest = Number.NEGATIVE_INFINITY;

  // The open alarm as it will be written (null: none), and every alarm row this plan touches.
  let current: AlarmWrite | null =
    row.alarm !== null && row.state?.alarmId === row.alarm.id && row.alarm.status !== 'CLEARED'
      ? { ...row.alarm, isNew: false, expectedStatus: row.alarm.status, tenantId: row.tenantId, ruleId: row.ruleId, deviceUuid: row.deviceUuid }
      : null;
  let touchedAlarms: Map<string, AlarmWrite> | undefined;

  function apply(
    records: AlarmRecord[],
    versionOf: (record: AlarmRecord) => { definition: RuleDefinition; version: number },
    comment: string | undefined,
  ): void {
    for (const record of records) {
      const { definition, version } = versionOf(record);
      const edge = record.cause === 'conditionRaised' || record.cause === 'conditionCleared';
      if (edge) edges = [...edges, record.at].filter((t) => t > record.at - options.flapWindowMs);
      let alarm = current;
      if (record.from === null || alarm === null) {
        alarm = {
          id: newId(),
          isNew: true,
          expectedStatus: null,
          tenantId: row.tenantId,
          ruleId: row.ruleId,
          deviceUuid: row.deviceUuid,
          status: 'ACTIVE',
          severity: definition.severity,
          ruleVersion: version,
          raisedAt: record.at,
          raisedValue: record.value ?? null,
          clearedAt: null,
          clearedValue: null,
          acknowledgedAt: null,
          acknowledgedBy: null,
          flapping,
        };
      }
      switch (record.to) {
        case 'ACTIVE':
          alarm.raisedAt = record.at;
          alarm.raisedValue = record.value ?? null;
          alarm.clearedAt = null;
          alarm.clearedValue = null;
          alarm.ruleVersion = version;
          alarm.severity = definition.severity;
          break;
        case 'LATCHED':
          alarm.clearedAt = record.at;
          alarm.clearedValue = record.value ?? null;
          break;
        case 'ACKNOWLEDGED':
          alarm.acknowledgedAt = record.at;
          alarm.acknowledgedBy = record.actor ?? null;
          break;
        case 'CLEARED':
          if (record.cause === 'acknowledge') {
            alarm.acknowledgedAt = record.at;
            alarm.acknowledgedBy = record.actor ?? null;
          } else {
            alarm.clearedAt = record.at;
            if (record.value !== undefined) alarm.clearedValue = record.value;
          }
          break;
      }
      alarm.status = record.to;
      (touchedAlarms ??= new Map<string, AlarmWrite>()).set(alarm.id, alarm);
      current = record.to === 'CLEARED' ? null : alarm;

      // Flapping: the edge that crosses the limit is announced once (cause 'flapping'); edges while it
      // lasts are recorded but neither notify nor run actions.
      const startsFlapping = edge && !flapping && edges.length > options.flapMaxEdges;
      if (startsFlapping) flapping = true;
      const suppressed = edge && flapping;
      const eventId = newId();
      const notifyEndpoints: string[] = [];
      if (edge && !suppressed) {
        const kind = record.cause === 'conditionRaised' ? 'raise' : 'clear';
        const actions = kind === 'raise' ? definition.onRaise : definition.onClear;
        actions.forEach((action, index) => {
          if (action.type === 'notifyWebhook') {
            notifyEndpoints.push(action.endpointId);
            return;
          }
          const trigger = { value: record.value, deviceId: row.deviceId };
          const target = action.deviceId ?? row.deviceId;
          const expanded =
            action.type === 'sendCommand'
              ? { ...action, deviceId: target, params: expandTemplates(action.params, trigger) }
              : { ...action, deviceId: target, patch: expandTemplates(action.patch, trigger) };
          (written ??= emptyPlan()).actions.push({
            eventId,
            tenantId: row.tenantId,
            actionKey: `${row.ruleId}:${version}:${kind}:${index}`,
            alarmId: alarm.id,
            targetDeviceId: target,
            data: {
              action: expanded as unknown as JsonValue,
              ruleId: row.ruleId,
              ruleVersion: version,
              alarmId: alarm.id,
              trigger: { deviceId: row.deviceId, value: record.value ?? null },
            },
          });
        });
      }
      (written ??= emptyPlan()).events.push({
        alarmId: alarm.id,
        from: record.from,
        to: record.to,
        cause: record.cause,
        value: record.value,
        actor: record.actor ?? null,
        comment: record.cause === 'acknowledge' || record.cause === 'clear' ? (comment ?? null) : null,
        at: record.at,
        eventId,
        notify: !suppressed,
        notifyEndpoints,
        severity: alarm.severity,
        ruleId: row.ruleId,
        ruleVersion: version,
        tenantId: row.tenantId,
        deviceUuid: row.deviceUuid,
        deviceId: row.deviceId,
      });
      if (startsFlapping) flappingEvent(alarm, true, record.at);
      latest = Math.max(latest, record.at);
    }
  }

  function flappingEvent(alarm: AlarmWrite, on: boolean, at: number): void {
    alarm.flapping = on;
    (touchedAlarms ??= new Map<string, AlarmWrite>()).set(alarm.id, alarm);
    (written ??= emptyPlan()).events.push({
      alarmId: alarm.id,
      from: alarm.status,
      to: alarm.status,
      cause: 'flapping',
      value: on,
      actor: null,
      comment: null,
      at,
      eventId: newId(),
      notify: true,
      notifyEndpoints: [],
      severity: alarm.severity,
      ruleId: row.ruleId,
      ruleVersion: alarm.ruleVersion,
      tenantId: row.tenantId,
      deviceUuid: row.deviceUuid,
      deviceId: row.deviceId,
    });
  }

  const currentVersion = { definition: row.definition, version: row.ruleVersion };
  function run(
    event: AlarmEvent,
    definition: RuleDefinition,
    versionOf: (record: AlarmRecord) => { definition: RuleDefinition; version: number },
    comment?: string,
  ): { reason: AlarmRefusal; message: string } | undefined {
    const result = transition(state, definition, event);
    if (!result.ok) return { reason: result.reason, message: result.message };
    if (result.changed) dirty = true;
    state = result.state;
    apply(result.alarm, versionOf, comment);
    return undefined;
  }

  // A lagging state is re-judged under the edit first: deadlines due under the old version fire first.
  const stateVersion = row.state?.ruleVersion ?? row.ruleVersion;
  if (row.state !== null && stateVersion < row.ruleVersion) {
    dirty = true;
    if (options.previous !== undefined) {
      const old = options.previous;
      // Deadlines due under the old version fire before the edit (stamped earlier); what the edit
      // itself decides is stamped at the edit and belongs to the new version.
      const refusal = run({ type: 'ruleChanged', now: options.now, rule: row.definition }, old.definition, (record) =>
        record.at < options.now ? old : currentVersion,
      );
      if (refusal !== undefined && !SKIPPED.has(refusal.reason)) return { ok: false, ...refusal };
    }
  }

  for (const input of inputs) {
    let event: AlarmEvent;
    switch (input.type) {
      case 'observe':
        event = { type: 'observe', ts: input.ts, value: input.value };
        latest = Math.max(latest, input.ts);
        break;
      case 'deadline':
        event = { type: 'deadline', now: input.now };
        latest = Math.max(latest, input.now);
        break;
      case 'acknowledge':
      case 'clear':
        event = { type: input.type, now: input.now, actor: input.actor };
        latest = Math.max(latest, input.now);
        break;
    }
    const refusal = run(event, row.definition, () => currentVersion, 'comment' in input ? input.comment : undefined);
    if (refusal === undefined) continue;
    if (input.type === 'acknowledge' || input.type === 'clear' || !SKIPPED.has(refusal.reason)) return { ok: false, ...refusal };
  }

  // The flag ends once the edges in the window fall back to the limit (judged at the newest time seen).
  if (latest === Number.NEGATIVE_INFINITY) latest = options.now;
  if (edges.length > 0) {
    const before = edges.length;
    edges = edges.filter((t) => t > latest - options.flapWindowMs);
    if (edges.length !== before) dirty = true;
  }
  if (flapping && edges.length <= options.flapMaxEdges) {
    flapping = false;
    const alarm = current as AlarmWrite | null;
    if (alarm !== null && alarm.flapping) flappingEvent(alarm, false, Math.max(latest, state.asOf));
  }

  const alarms = touchedAlarms === undefined ? [] : [...touchedAlarms.values()];
  if (!dirty && alarms.length === 0) return { ok: true, plan: written ?? NOTHING_WRITTEN, changed: false };
  if (alarms.length === 0 && !mustWrite(row, state, edges, storedEdges, options.watermarkMs)) {
    const observed: Observed = { lastTs: state.lastTs, asOf: state.asOf, settled: isSettled(state) };
    if (state.lastValue !== undefined) observed.lastValue = state.lastValue;
    return { ok: true, plan: written ?? NOTHING_WRITTEN, changed: false, observed };
  }
  const open = current as AlarmWrite | null;
  const result = (written ??= emptyPlan());
  result.alarms = alarms;
  result.states.push({
    ruleId: row.ruleId,
    deviceUuid: row.deviceUuid,
    ruleVersion: row.ruleVersion,
    phase: state.phase,
    pendingSince: state.pendingSince,
    deadlineAt: state.deadlineAt,
    lastTs: state.lastTs,
    lastValue: state.lastValue,
    asOf: state.asOf,
    alarmId: open?.id ?? null,
    recentEdges: edges === NO_EDGES ? [] : edges,
    expectedRevision: row.state?.revision ?? null,
  });
  return { ok: true, plan: result, changed: true };
}

/**
 * Whether a transition that opened, moved or closed no alarm must still be written: anything a later
 * decision or the sweeper reads from the row changed (the row is new or lags its rule, the window's
 * phase or timers, the flapping edges, the last value where a \`changed\` condition compares with it),
 * or the row's newest-reading bookkeeping is older than the watermark (SETTLED_WATERMARK_FACTOR times
 * it for a settled window). Otherwise only lastTs,
 * lastValue and asOf moved, which the engine keeps in process.
 */
function mustWrite(row: PairRow, state: AlarmState, edges: number[], storedEdges: number[], watermarkMs: number | undefined): boolean {
  const stored = row.state;
  if (watermarkMs === undefined || stored === null || stored.ruleVersion < row.ruleVersion) return true;
  if (state.phase !== stored.phase || state.pendingSince !== stored.pendingSince || state.deadlineAt !== stored.deadlineAt) return true;
  if (edges.length !== storedEdges.length || edges.some((t, i) => t !== storedEdges[i])) return true;
  const readsLastValue = row.definition.raise.op === 'changed' || row.definition.clear?.op === 'changed';
  if (readsLastValue && !sameReading(state.lastValue, stored.lastValue)) return true;
  return stored.ageMs >= (isSettled(state) ? watermarkMs * SETTLED_WATERMARK_FACTOR : watermarkMs);
}

export function mergePlans(into: WritePlan, from: WritePlan): void {
  into.states.push(...from.states);
  into.alarms.push(...from.alarms);
  into.events.push(...from.events);
  into.actions.push(...from.actions);
}
