/**
 * `testRule`: what a rule would have done over stored data (docs/rules.md "Backtest"). The rule is
 * checked exactly as when it is saved (the same refusals), then, for each device in its scope, the
 * stored readings of its source between `from` and `to` are fed in time order to the pure state
 * machine the live engine uses (`transition` of src/domain/rules/alarm-state.ts), with a `deadline`
 * event at every deadline that falls before the next reading and up to `to`, as the live sweeper would
 * fire them. Time is the readings' time in both, so the backtest decides what live evaluation decides.
 *
 * Readings:
 * - telemetry: the stored points of the metric ("TelemetryPoint", a boolean back as true/false);
 * - reported / desired: the twin change log ("TwinChange"), patches replayed from the first one so the
 *   value at the path is known at `from` (taken as a reading at `from` when the path had one) and at
 *   every later change that touches the path (a reading at the change's commit time; a deleted or
 *   missing path is a "missing" reading, which neither starts nor ends a window);
 * - connection: no history of it is stored, so such a rule is refused (NOT_SUPPORTED).
 *
 * Bounded: at most `maxDevices` devices (in device id order) and `maxReadings` readings per device (the
 * earliest); `truncated` says when a bound cut the run short. Nothing is written: no alarm, no action.
 * Each raise edge starts an entry of `alarms`, closed by the next clear edge (live, an alarm that
 * clears unacknowledged stays LATCHED and a new raise re-opens the same alarm row; here each episode is
 * its own entry, which is what a rule author tuning thresholds wants to count).
 */
import type { SqlExecutor } from '../../db/client.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { alarmEvents, initialState, transition, type AlarmEvent, type AlarmState } from '../../domain/rules/alarm-state.ts';
import type { Reading } from '../../domain/rules/evaluate.ts';
import type { RuleDefinition, RuleScope, Severity } from '../../domain/rules/rule.ts';
import { isPlainObject, type JsonObject, type JsonValue } from '../../domain/twin.ts';
import type { RuleService } from './index.ts';

export interface BacktestRequest {
  tenantId: string;
  /** A rule definition to try (untrusted, checked as at save) … */
  definition?: unknown;
  /** … or a saved rule of the tenant (its current version). */
  ruleId?: string | null;
  /** Epoch ms; readings with from ≤ ts < to. */
  from: number;
  to: number;
  /** Only these devices of the scope. */
  deviceIds?: string[] | null;
}

export interface BacktestAlarm {
  deviceId: string;
  severity: Severity;
  raisedAt: number;
  /** The reading that raised it; null for a no-data raise. */
  raisedValue: JsonValue | null;
  /** null: still raised at `to`. */
  clearedAt: number | null;
  clearedValue: JsonValue | null;
}

export interface BacktestResult {
  /** In raise order per device, devices in id order. */
  alarms: BacktestAlarm[];
  /** Devices evaluated. */
  devices: number;
  /** Readings fed to the state machine. */
  readings: number;
  raised: number;
  cleared: number;
  /** Alarms still raised at `to`. */
  openAtEnd: number;
  /** A bound (devices or readings per device) cut the run short. */
  truncated: boolean;
}

export interface RuleBacktest {
  /** Throws ValidationError (the rule, or the time range) or NotFoundError (no such rule). */
  testRule(request: BacktestRequest): Promise<BacktestResult>;
}

export interface BacktestOptions {
  sql: SqlExecutor;
  rules: Pick<RuleService, 'check' | 'rule'>;
  maxDevices?: number;
  maxReadings?: number;
}

export const BACKTEST_MAX_DEVICES = 100;
export const BACKTEST_MAX_READINGS = 10_000;
/** Longest range a backtest may cover: a year. */
const MAX_RANGE_MS = 366 * 86_400_000;

interface TimedReading {
  ts: number;
  value: Reading;
}

export function createRuleBacktest(options: BacktestOptions): RuleBacktest {
  const { sql, rules } = options;
  const maxDevices = options.maxDevices ?? BACKTEST_MAX_DEVICES;
  const maxReadings = options.maxReadings ?? BACKTEST_MAX_READINGS;

  async function testRule(request: BacktestRequest): Promise<BacktestResult> {
    const { tenantId, from, to } = request;
    let definition: unknown = request.definition;
    if (request.ruleId != null) {
      const saved = await rules.rule(tenantId, request.ruleId);
      if (saved === null) throw new NotFoundError('Rule', request.ruleId);
      definition = saved.definition;
    }
    const issues = [];
    if (request.ruleId == null && definition === undefined)
      issues.push({ path: ['input'], code: 'REQUIRED', message: 'give a rule definition (input) or a ruleId' });
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to)
      issues.push({ path: ['to'], code: 'INVALID_RANGE', message: '`to` must be after `from`' });
    else if (to - from > MAX_RANGE_MS) issues.push({ path: ['to'], code: 'OUT_OF_RANGE', message: 'a backtest covers at most 366 days' });
    if (issues.length > 0) throw new ValidationError('the backtest was refused', issues);
    const rule = await rules.check(tenantId, definition);
    if (rule.source.type === 'connection') {
      throw new ValidationError('the backtest was refused', [
        { path: ['input', 'source', 'type'], code: 'NOT_SUPPORTED', message: 'the connection state has no stored history to replay' },
      ]);
    }

    const devices = await devicesInScope(tenantId, rule.scope, request.deviceIds ?? null);
    let truncated = devices.length > maxDevices;
    const chosen = devices.slice(0, maxDevices);
    const readings = await readingsOf(rule, chosen, from, to);
    const result: BacktestResult = { alarms: [], devices: chosen.length, readings: 0, raised: 0, cleared: 0, openAtEnd: 0, truncated };
    for (const device of chosen) {
      let series = readings.get(device.uuid) ?? [];
      if (series.length > maxReadings) {
        series = series.slice(0, maxReadings);
        truncated = true;
      }
      result.readings += series.length;
      replay(rule, device.deviceId, series, from, to, result);
    }
    result.truncated = truncated;
    return result;
  }

  async function devicesInScope(tenantId: string, scope: RuleScope, only: string[] | null): Promise<Array<{ uuid: string; deviceId: string }>> {
    return sql.query<{ uuid: string; deviceId: string }>(
      `SELECT d.id AS uuid, d."deviceId" FROM "Device" d LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
        WHERE d."tenantId" = $1
          AND ($2::text[] IS NULL OR d."deviceId" = ANY($2::text[]))
          AND ($3::text IS NULL OR $3::text = ANY(d.tags))
          AND ($4::text[] IS NULL OR d.tags @> $4::text[])
          AND ($5::text IS NULL OR m.name = $5::text)
          AND ($6::text[] IS NULL OR d."deviceId" = ANY($6::text[]))
        ORDER BY d."deviceId" LIMIT $7`,
      [tenantId, scope.deviceIds ?? null, scope.tag ?? null, scope.tags ?? null, scope.model ?? null, only, maxDevices + 1],
    );
  }

  /** Every chosen device's readings in one statement (at most `maxReadings + 1` each). */
  async function readingsOf(rule: RuleDefinition, devices: Array<{ uuid: string }>, from: number, to: number): Promise<Map<string, TimedReading[]>> {
    const out = new Map<string, TimedReading[]>();
    if (devices.length === 0) return out;
    const uuids = devices.map((d) => d.uuid);
    const source = rule.source;
    if (source.type === 'telemetry') {
      const rows = await sql.query<{ deviceId: string; ts: Date | string; value: number; isBool: boolean }>(
        `SELECT "deviceId", ts, value, "isBool" FROM (
           SELECT p.*, row_number() OVER (PARTITION BY "deviceId" ORDER BY ts) AS n FROM "TelemetryPoint" p
            WHERE "deviceId" = ANY($1::uuid[]) AND metric = $2 AND ts >= $3 AND ts < $4
         ) x WHERE n <= $5 ORDER BY "deviceId", ts`,
        [uuids, source.metric, new Date(from), new Date(to), maxReadings + 1],
      );
      for (const row of rows) {
        const value = row.isBool ? Number(row.value) !== 0 : Number(row.value);
        push(out, row.deviceId, { ts: new Date(row.ts).getTime(), value });
      }
      return out;
    }
    if (source.type !== 'reported' && source.type !== 'desired') return out;
    // The whole log up to `to` (the value at `from` needs what came before), replayed per device.
    const rows = await sql.query<{ deviceId: string; createdAt: Date | string; patch: unknown }>(
      `SELECT "deviceId", "createdAt", patch FROM "TwinChange"
        WHERE "deviceId" = ANY($1::uuid[]) AND section = $2 AND "createdAt" < $3
        ORDER BY "deviceId", version, id`,
      [uuids, source.type, new Date(to)],
    );
    const logs = new Map<string, Array<{ ts: number; patch: JsonObject }>>();
    for (const row of rows) {
      if (!isPlainObject(row.patch)) continue;
      let log = logs.get(row.deviceId);
      if (!log) logs.set(row.deviceId, (log = []));
      log.push({ ts: new Date(row.createdAt).getTime(), patch: row.patch });
    }
    for (const [uuid, log] of logs) {
      let doc: JsonValue = {};
      let atStart: Reading;
      let started = false;
      for (const change of log) {
        doc = mergePatch(doc, change.patch);
        if (change.ts < from) {
          atStart = valueAt(doc, source.path);
          continue;
        }
        if (!started) {
          // The value held at `from` comes first.
          started = true;
          if (atStart !== undefined) push(out, uuid, { ts: from, value: atStart });
        }
        if (touches(change.patch, source.path)) push(out, uuid, { ts: change.ts, value: valueAt(doc, source.path) });
      }
      if (!started && atStart !== undefined) push(out, uuid, { ts: from, value: atStart });
    }
    return out;
  }

  return { testRule };
}

function push(map: Map<string, TimedReading[]>, key: string, reading: TimedReading): void {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  list.push(reading);
}

/** Feeds one device's readings, and the deadlines between them, to the state machine. */
function replay(rule: RuleDefinition, deviceId: string, series: TimedReading[], from: number, to: number, result: BacktestResult): void {
  let state: AlarmState = initialState(rule, from);
  let open: BacktestAlarm | undefined;
  const apply = (event: AlarmEvent): void => {
    const outcome = transition(state, rule, event);
    if (!outcome.ok) return; // STALE, DUPLICATE: changes nothing, live or here
    state = outcome.state;
    for (const record of outcome.alarm) {
      if (record.cause === 'conditionRaised') {
        open = { deviceId, severity: rule.severity, raisedAt: record.at, raisedValue: record.value ?? null, clearedAt: null, clearedValue: null };
        result.alarms.push(open);
        result.raised++;
      } else if (record.cause === 'conditionCleared' && open !== undefined) {
        open.clearedAt = record.at;
        open.clearedValue = record.value ?? null;
        open = undefined;
        result.cleared++;
      }
    }
  };
  const fireDeadlines = (until: number, inclusive: boolean): void => {
    // Each deadline moves the window on (or ends it); a bound keeps a corrupt state from looping.
    for (let i = 0; i < 8 && state.deadlineAt !== null && (inclusive ? state.deadlineAt <= until : state.deadlineAt < until); i++) {
      apply(alarmEvents.deadline(state.deadlineAt));
    }
  };
  for (const reading of series) {
    fireDeadlines(reading.ts, false);
    apply(alarmEvents.observe(reading.ts, reading.value));
  }
  fireDeadlines(to, true);
  if (open !== undefined) result.openAtEnd++;
}

/** RFC 7386 merge patch: objects merge, null deletes, anything else replaces. */
function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isPlainObject(patch)) return patch;
  const out: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const key of Object.keys(patch)) {
    const value = patch[key]!;
    if (value === null) delete out[key];
    else Object.defineProperty(out, key, { value: mergePatch(out[key], value), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function valueAt(doc: JsonValue, path: string[]): Reading {
  let node: JsonValue | undefined = doc;
  for (const key of path) {
    if (!isPlainObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

/** Whether a merge patch can change the value at `path`: it writes the path, a parent of it, or under it. */
function touches(patch: JsonValue, path: string[]): boolean {
  let node: JsonValue = patch;
  for (const key of path) {
    if (!isPlainObject(node)) return true; // a parent replaced by a non-object
    if (!Object.hasOwn(node, key)) return false;
    node = node[key]!;
  }
  return true;
}
