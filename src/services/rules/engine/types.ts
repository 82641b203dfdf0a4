/**
 * The shapes the rules engine passes between its loader, its planner and its writer
 * (./load.ts, ./plan.ts, ./writer.ts). One `PairRow` is a rule on a device as stored: the rule's
 * current version, the device, its "RuleState" (if any) and its open alarm (if any).
 */
import type { AlarmStatus } from '../../../domain/rules/alarm-state.ts';
import type { Reading } from '../../../domain/rules/evaluate.ts';
import type { RuleDefinition } from '../../../domain/rules/rule.ts';
import type { JsonValue } from '../../../domain/twin.ts';

/** The stored open alarm of a pair (the columns a transition rewrites). */
export interface StoredAlarm {
  id: string;
  status: AlarmStatus;
  severity: string;
  ruleVersion: number;
  raisedAt: number;
  raisedValue: JsonValue | null;
  clearedAt: number | null;
  clearedValue: JsonValue | null;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  flapping: boolean;
}

/** The stored "RuleState" row of a pair. */
export interface StoredState {
  ruleVersion: number;
  phase: string;
  pendingSince: number | null;
  deadlineAt: number | null;
  lastTs: number | null;
  /** Absent when the row's lastValue is SQL NULL (no reading, or a missing one). */
  lastValue?: JsonValue;
  asOf: number;
  alarmId: string | null;
  recentEdges: number[];
  revision: string;
  /** How long ago (database clock) the row was last written: the age of its persisted lastTs. */
  ageMs: number;
}

export interface PairRow {
  ruleId: string;
  ruleName: string;
  ruleVersion: number;
  definition: RuleDefinition;
  tenantId: string;
  deviceUuid: string;
  deviceId: string;
  state: StoredState | null;
  alarm: StoredAlarm | null;
}

/** What happens to one pair: a reading, a sweeper's deadline, or a user's acknowledge / clear. */
export type PairInput =
  | { type: 'observe'; ts: number; value: Reading }
  | { type: 'deadline'; now: number }
  | { type: 'acknowledge'; now: number; actor: string; comment?: string }
  | { type: 'clear'; now: number; actor: string; comment?: string };

/** The new "RuleState" of a pair; `expectedRevision` null: the row does not exist yet (insert). */
export interface StateWrite {
  ruleId: string;
  deviceUuid: string;
  ruleVersion: number;
  phase: string;
  pendingSince: number | null;
  deadlineAt: number | null;
  lastTs: number | null;
  lastValue: JsonValue | undefined;
  asOf: number;
  alarmId: string | null;
  recentEdges: number[];
  expectedRevision: string | null;
}

/** An alarm row after the transition: inserted (`isNew`) or updated if still in `expectedStatus`. */
export interface AlarmWrite extends StoredAlarm {
  isNew: boolean;
  /** The status the row must still have for the update to apply (null for a new alarm). */
  expectedStatus: AlarmStatus | null;
  tenantId: string;
  ruleId: string;
  deviceUuid: string;
}

/** One row of an alarm's history (and, with `notify`, one alarm.changed event). */
export interface AlarmEventWrite {
  alarmId: string;
  from: string | null;
  to: string;
  cause: string;
  value: JsonValue | undefined;
  actor: string | null;
  comment: string | null;
  at: number;
  /** The outbox event id of this transition (alarm.changed webhooks and the actions share it). */
  eventId: string;
  /** Write alarm.changed webhook rows (false while flapping suppresses notifications). */
  notify: boolean;
  /** Endpoint ids named by the rule's notifyWebhook actions for this edge. */
  notifyEndpoints: string[];
  severity: string;
  ruleId: string;
  ruleVersion: number;
  tenantId: string;
  deviceUuid: string;
  deviceId: string;
}

/** One ACTION outbox row (contract 1). */
export interface ActionWrite {
  eventId: string;
  tenantId: string;
  actionKey: string;
  alarmId: string;
  /** The target's public device id; resolved to its uuid in the tenant by the statement. */
  targetDeviceId: string;
  data: JsonValue;
}

export interface WritePlan {
  states: StateWrite[];
  alarms: AlarmWrite[];
  events: AlarmEventWrite[];
  actions: ActionWrite[];
}

export function emptyPlan(): WritePlan {
  return { states: [], alarms: [], events: [], actions: [] };
}
