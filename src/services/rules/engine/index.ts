/**
 * The rules engine (docs/rules.md "Windows and alarms"): evaluates the enabled rules where data is
 * stored, keeps every window's timers in the database, and writes alarms, their history and their
 * outbox rows in one statement per batch (./writer.ts).
 *
 * - Readings: `telemetryStored`, `twinsStored` and `connectionStored` hooks (src/services/hooks.ts),
 *   once per stored batch on the storing instance. One query loads the pairs (rule, device) the batch
 *   concerns (./load.ts), the pure machine judges them (./plan.ts), one statement stores the result.
 * - Timers: `sweep()` (run by `start()` through periodic()) claims due states with FOR UPDATE SKIP
 *   LOCKED and fires their deadlines; it also re-judges states whose rule version lags, ends the
 *   flapping of alarms whose edges left the window, and creates the states of no-data rules for the
 *   devices in their scope. Everything is in the database, so a crash,
 *   a restart or another instance carries on where this one stopped.
 * - Users: acknowledge / clear / comment (./control.ts) go through the same machine and writer.
 *
 * Concurrency: every state write is guarded by its revision; a pair whose guard was lost (another
 * instance wrote it in between) is reloaded and judged again, and only the winning write's alarm
 * events are published (`alarmChanged` on the bus) — after the statement committed.
 *
 * Failures never reach ingestion: a rule that cannot be evaluated is counted
 * (doppel_rule_evaluation_errors_total{rule}) and logged, and only its own pairs are skipped.
 */
import type { Database, SqlExecutor as SqlRunner } from '../../../db/client.ts';
import type { Reading } from '../../../domain/rules/evaluate.ts';
import type { RuleDefinition } from '../../../domain/rules/rule.ts';
import type { JsonObject, JsonValue } from '../../../domain/twin.ts';
import type { EventBus } from '../../../events/bus.ts';
import type { RulesConfig } from '../../../config/types.ts';
import type { Logger } from '../../../logger.ts';
import type { Metrics } from '../../../metrics.ts';
import { periodic, type PeriodicJob } from '../../../periodic.ts';
import type { ConnectionStored, TelemetryStored, TwinsStored } from '../../hooks.ts';
import { createDefinitionCache, loadListedPairs, loadPairs, loadVersions, SCOPE_SQL, type DefinitionCache } from './load.ts';
import { createPairCache } from './pair-cache.ts';
import { createCoalescer } from './coalesce.ts';
import { mergePlans, planPair, SETTLED_WATERMARK_FACTOR, type Observed, type PairPlan } from './plan.ts';
import { emptyPlan, type PairInput, type PairRow, type WritePlan } from './types.ts';
import { pairKey, writePlan } from './writer.ts';

export const EVALUATION_ERRORS_METRIC = 'doppel_rule_evaluation_errors_total';
export const ALARM_TRANSITIONS_METRIC = 'doppel_alarm_transitions_total';
export const WRITE_CONFLICTS_METRIC = 'doppel_rule_state_conflicts_total';
export const STATE_WRITES_METRIC = 'doppel_rule_state_writes_total';
export const STATE_SKIPS_METRIC = 'doppel_rule_state_skips_total';
export const STATE_FLUSHES_METRIC = 'doppel_rule_state_flushes_total';
export const EVALUATION_SECONDS_METRIC = 'doppel_rule_evaluation_seconds';

/** From a few ms (one small batch) to seconds (a backlog coalesced into one evaluation). */
const EVALUATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A pair's newest reading, judged here and not written (see `observed` below). */
interface Remembered extends Observed {
  ruleId: string;
  deviceUuid: string;
  /** The stored revision it was judged from. */
  revision: string;
  /** When this instance first left it unwritten on that revision (engine clock). */
  since: number;
  /** Readings laid into this entry (it is updated in place), so a flush can tell whether it moved on. */
  updates: number;
}

/** Default of `RulesConfig.stateWatermarkMs` (RULES_STATE_WATERMARK_MS). */
export const DEFAULT_STATE_WATERMARK_MS = 10_000;
/** Pairs whose newest reading this instance remembers without having written it (bounded; the oldest go first). */
const MAX_OBSERVED = 200_000;

/** Attempts for pairs whose revision guard keeps losing before the batch gives them up (logged, counted). */
const MAX_CONFLICT_RETRIES = 8;

export interface RulesEngineOptions {
  db: Pick<Database, 'sql' | 'withSession'>;
  bus: EventBus;
  logger: Logger;
  metrics: Metrics;
  config: RulesConfig;
  /** Most pairs remembered with an unwritten newest reading (default 200,000). */
  maxObserved?: number;
  /** States claimed per sweep round (bounded so one round stays one short transaction). */
  sweepBatchSize?: number;
  now?: () => number;
}

export interface RulesEngine {
  /** Evaluates a stored telemetry batch (the telemetryStored listener). */
  onTelemetryStored(batch: TelemetryStored): Promise<void>;
  /** Evaluates stored twin changes (the twinsStored listener). */
  onTwinsStored(batch: TwinsStored): Promise<void>;
  /** Evaluates connection changes (the connectionStored listener). */
  onConnectionStored(batch: ConnectionStored): Promise<void>;
  /**
   * Resolves once every batch handed over so far has been evaluated. The `on…Stored` listeners resolve
   * when their batch has been; the app does not wait for them per batch (so batches coalesce), and
   * drains here on shutdown instead.
   */
  drain(): Promise<void>;
  /** One sweep: due deadlines, lagging rule versions, flapping that stopped, new no-data states. Returns the pairs it judged. */
  sweep(): Promise<number>;
  /**
   * Runs user inputs through the machine and the writer, for ./control.ts: the plan outcome per pair
   * (refusals come back as values), after the write committed.
   */
  applyToPair(ruleId: string, deviceUuid: string, input: PairInput, expectedAlarmId?: string): Promise<PairPlan | null>;
  /**
   * Judges a rule just created, updated or enabled on what the devices in its scope hold now
   * (docs/rules.md "When a rule is saved"), so a condition that already holds starts its window (or
   * raises) at once instead of at the device's next change: a twin path's current value and the
   * current connection state are fed as readings at the engine's clock, and a no-data rule's silence
   * window starts now on the devices it has no state for. One query reads the scope with the values,
   * the pairs are judged and written like a batch. A telemetry rule waits for the next reading (a
   * stored point is a past reading, not a current value). Never throws: a failure is counted and
   * logged as the rule's evaluation error (the rule is saved either way). Returns the pairs judged.
   */
  judgeSaved(ruleId: string): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function createRulesEngine(options: RulesEngineOptions): RulesEngine {
  const { db, bus, logger, metrics, config } = options;
  const now = options.now ?? Date.now;
  const sweepBatchSize = options.sweepBatchSize ?? 500;
  const definitions: DefinitionCache = createDefinitionCache();
  const watermarkMs = config.stateWatermarkMs ?? DEFAULT_STATE_WATERMARK_MS;
  const maxObserved = options.maxObserved ?? MAX_OBSERVED;
  /**
   * The newest reading of the pairs judged here whose transition changed nothing but that reading's
   * bookkeeping, so it was not written (docs/rules.md "What is written, and when"): exact for this
   * instance as long as the stored row is still the revision it was judged from.
   */
  const observed = new Map<string, Remembered>();
  /** The rules and pair states of the devices this instance judges, valid while their fingerprints hold (./pair-cache.ts). */
  const pairCache = createPairCache({ definitions, maxPairs: maxObserved });

  /**
   * Called for most pairs of every batch, so it allocates only for a pair not remembered yet on this
   * revision: an entry on the same revision is updated in place and keeps its place in the map. The map
   * is therefore ordered by when a pair was first left unwritten (`since`), which is the order the
   * watermark stores them in, and the bound drops the longest-unwritten first.
   */
  function remember(row: PairRow, seen: Observed): void {
    const key = pairKey(row.ruleId, row.deviceUuid);
    const revision = row.state!.revision;
    const before = observed.get(key);
    if (before !== undefined && before.revision === revision) {
      before.lastTs = seen.lastTs;
      before.asOf = seen.asOf;
      before.settled = seen.settled;
      if (seen.lastValue === undefined) delete before.lastValue;
      else before.lastValue = seen.lastValue;
      before.updates++;
      return;
    }
    if (before !== undefined) observed.delete(key);
    observed.set(key, { ...seen, ruleId: row.ruleId, deviceUuid: row.deviceUuid, revision, since: now(), updates: 0 });
    if (observed.size > maxObserved) observed.delete(observed.keys().next().value!);
  }

  /**
   * Stores the newest reading of the pairs remembered for at least the watermark (a settled window's:
   * SETTLED_WATERMARK_FACTOR watermarks, ./plan.ts; all of them with
   * `everything`, on stop), so what a restart or a move forgets is bounded by RULES_STATE_WATERMARK_MS
   * even for a device that went quiet. Only lastTs / lastValue / asOf, only onto the revision they were
   * judged from and only forwards; the revision is not bumped (nothing a decision depends on changes).
   */
  async function flushObserved(everything: boolean): Promise<void> {
    const at = now();
    // Copies: `remember` updates an entry in place, possibly while the statement below runs.
    const due = [...observed.values()]
      .filter((o) => everything || at - o.since >= (o.settled ? watermarkMs * SETTLED_WATERMARK_FACTOR : watermarkMs))
      .slice(0, everything ? undefined : sweepBatchSize)
      .map((o) => ({ ...o, entry: o }));
    if (due.length === 0) return;
    // The revision is bumped like any write's: another instance that judged this pair on the older row
    // reads it again instead of laying an older reading over it, and the pair cache's fingerprint of
    // the device moves by exactly this write (./pair-cache.ts).
    const stored = await db.sql.query<{ ruleId: string; deviceId: string }>(
      `UPDATE "RuleState" s SET "lastTs" = t.last_ts, "lastValue" = t.last_value, "asOf" = t.as_of, revision = s.revision + 1, "updatedAt" = now()
         FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::jsonb[], $6::timestamptz[]) AS t(rule_id, device_id, revision, last_ts, last_value, as_of)
        WHERE s."ruleId" = t.rule_id AND s."deviceId" = t.device_id AND s.revision = t.revision AND (s."lastTs" IS NULL OR s."lastTs" < t.last_ts)
        RETURNING s."ruleId", s."deviceId"`,
      [
        due.map((o) => o.ruleId),
        due.map((o) => o.deviceUuid),
        due.map((o) => o.revision),
        due.map((o) => (o.lastTs === null ? null : new Date(o.lastTs).toISOString())),
        due.map((o) => (o.lastValue === undefined ? null : JSON.stringify(o.lastValue))),
        due.map((o) => new Date(o.asOf).toISOString()),
      ],
    );
    metrics.inc(STATE_FLUSHES_METRIC, {}, stored.length);
    const landed = new Set(stored.map((r) => pairKey(r.ruleId, r.deviceId)));
    pairCache.flushed(
      due
        .filter((o) => landed.has(pairKey(o.ruleId, o.deviceUuid)))
        .map((o) => ({ ruleId: o.ruleId, deviceUuid: o.deviceUuid, fromRevision: o.revision, lastTs: o.lastTs, lastValue: o.lastValue, asOf: o.asOf })),
    );
    // A row the guard skipped moved on under another writer: the device's cached pairs are read again.
    for (const o of due) if (!landed.has(pairKey(o.ruleId, o.deviceUuid))) pairCache.forgetDevice(o.deviceUuid);
    // Stored (or moved on under another writer): either way the row now knows better. An entry a
    // concurrent evaluation replaced or moved on meanwhile stays.
    for (const o of due) {
      const key = pairKey(o.ruleId, o.deviceUuid);
      const entry = observed.get(key);
      if (entry === o.entry && entry.updates === o.updates) observed.delete(key);
    }
  }

  /** Lays what this instance remembers over freshly loaded rows (the stored row is older, or moved on). */
  function overlay(rows: PairRow[]): PairRow[] {
    if (observed.size === 0) return rows;
    for (const row of rows) {
      const key = pairKey(row.ruleId, row.deviceUuid);
      const seen = observed.get(key);
      if (seen === undefined) continue;
      const state = row.state;
      // Another write (ours or another instance's) stored a newer truth than the one remembered.
      if (state === null || state.revision !== seen.revision) {
        observed.delete(key);
        continue;
      }
      state.lastTs = seen.lastTs;
      state.asOf = seen.asOf;
      if (seen.lastValue === undefined) delete state.lastValue;
      else state.lastValue = seen.lastValue;
    }
    return rows;
  }
  metrics.describeHistogram(
    EVALUATION_SECONDS_METRIC,
    'Rule evaluations of stored batches, by source (telemetry, twin, connection) and stage: wait (from the oldest batch’s commit to the evaluation’s start) and run (the evaluation: load, judge, write, publish).',
    EVALUATION_BUCKETS,
  );
  metrics.describe(EVALUATION_ERRORS_METRIC, 'Rule evaluations that failed, by rule id (the rule is skipped for that batch; ingestion is not affected).');
  metrics.describe(ALARM_TRANSITIONS_METRIC, 'Alarm transitions written, by cause.');
  metrics.describe(STATE_WRITES_METRIC, 'Rule states (rule, device) written: windows started, moved or completed.');
  metrics.describe(
    STATE_FLUSHES_METRIC,
    'Rule states whose unwritten newest reading the sweep stored once it was older than RULES_STATE_WATERMARK_MS (or on stop).',
  );
  metrics.describe(STATE_SKIPS_METRIC, 'Rule states (rule, device) judged on a reading that changed nothing but the newest reading, so not written.');
  metrics.describe(WRITE_CONFLICTS_METRIC, 'Rule state writes that lost their revision guard to another writer and were judged again.');

  function evaluationFailed(ruleId: string, error: unknown): void {
    metrics.inc(EVALUATION_ERRORS_METRIC, { rule: ruleId });
    logger.warn({ err: error, ruleId }, 'a rule could not be evaluated on this batch');
  }

  /**
   * Judges `pairs` with their inputs and writes the result; pairs whose guard was lost are reloaded
   * (`reload`) and judged again. Returns the plan outcome of every pair that was written or refused.
   */
  async function judge(
    runner: SqlRunner,
    initial: PairRow[],
    inputsOf: (row: PairRow) => PairInput[],
    reload: (lost: PairRow[]) => Promise<PairRow[]>,
  ): Promise<Map<string, PairPlan>> {
    const outcomes = new Map<string, PairPlan>();
    let pairs = initial;
    for (let attempt = 0; pairs.length > 0; attempt++) {
      const at = now();
      const lagging = pairs
        .filter((p) => p.state !== null && p.state.ruleVersion < p.ruleVersion)
        .map((p) => ({ ruleId: p.ruleId, version: p.state!.ruleVersion }));
      const previous = await loadVersions(runner, definitions, lagging);
      const plan: WritePlan = emptyPlan();
      const planned: PairRow[] = [];
      let skipped = 0;
      for (const row of pairs) {
        try {
          const inputs = inputsOf(row);
          const old = row.state !== null && row.state.ruleVersion < row.ruleVersion ? previous.get(`${row.ruleId}:${row.state.ruleVersion}`) : undefined;
          const outcome = planPair(row, inputs, {
            now: at,
            flapMaxEdges: config.flapMaxEdges,
            flapWindowMs: config.flapWindowMs,
            watermarkMs,
            ...(old ? { previous: { version: row.state!.ruleVersion, definition: old } } : {}),
          });
          outcomes.set(pairKey(row.ruleId, row.deviceUuid), outcome);
          if (!outcome.ok) {
            if (outcome.reason === 'INVALID_INPUT') evaluationFailed(row.ruleId, new Error(outcome.message));
            continue;
          }
          if (!outcome.changed) {
            if (outcome.observed !== undefined && row.state !== null) {
              remember(row, outcome.observed);
              skipped++;
            }
            continue;
          }
          mergePlans(plan, outcome.plan);
          planned.push(row);
        } catch (error) {
          evaluationFailed(row.ruleId, error);
        }
      }
      if (skipped > 0) metrics.inc(STATE_SKIPS_METRIC, {}, skipped);
      if (planned.length === 0) return outcomes;
      const written = await writePlan(runner, plan);
      // Only a committed write is laid into memory: the sweeper writes inside its claim's transaction,
      // which may still roll back, so its devices are read again instead.
      if (runner === db.sql) pairCache.written(plan, written.won, written.alarms);
      else for (const state of plan.states) pairCache.forgetDevice(state.deviceUuid);
      metrics.inc(STATE_WRITES_METRIC, {}, written.won.size);
      for (const key of written.won) observed.delete(key);
      publish(plan, written.won, written.alarms);
      const lost = planned.filter((row) => !written.won.has(pairKey(row.ruleId, row.deviceUuid)));
      if (lost.length === 0) return outcomes;
      for (const row of lost) outcomes.delete(pairKey(row.ruleId, row.deviceUuid));
      metrics.inc(WRITE_CONFLICTS_METRIC, {}, lost.length);
      if (attempt >= MAX_CONFLICT_RETRIES) {
        for (const row of lost) evaluationFailed(row.ruleId, new Error(`the state of rule ${row.ruleId} on device ${row.deviceId} kept conflicting`));
        return outcomes;
      }
      pairs = await reload(lost);
    }
    return outcomes;
  }

  function publish(plan: WritePlan, won: Set<string>, alarms: Set<string>): void {
    for (const event of plan.events) {
      if (!alarms.has(event.alarmId) || !won.has(pairKey(event.ruleId, event.deviceUuid))) continue;
      metrics.inc(ALARM_TRANSITIONS_METRIC, { cause: event.cause });
      bus.publish('alarmChanged', {
        tenantId: event.tenantId,
        alarmId: event.alarmId,
        ruleId: event.ruleId,
        deviceUuid: event.deviceUuid,
        deviceId: event.deviceId,
        status: event.to,
        from: event.from,
        severity: event.severity,
        cause: event.cause,
        at: event.at,
      });
    }
  }

  /** Evaluates readings per device: one load for the batch, one write. */
  async function evaluateReadings(
    deviceUuids: string[],
    sourceTypes: string[],
    sourceKeys: string[] | null,
    inputsOf: (row: PairRow) => PairInput[],
  ): Promise<void> {
    if (deviceUuids.length === 0) return;
    const judged = overlay(await pairCache.pairsFor(db.sql, { deviceUuids, sourceTypes, sourceKeys })).filter((row) => inputsOf(row).length > 0);
    if (judged.length === 0) return;
    const reload = async (lost: PairRow[]): Promise<PairRow[]> => {
      const wanted = new Set(lost.map((l) => pairKey(l.ruleId, l.deviceUuid)));
      const lostDevices = [...new Set(lost.map((l) => l.deviceUuid))];
      for (const device of lostDevices) pairCache.forgetDevice(device);
      const rows = await pairCache.pairsFor(db.sql, { deviceUuids: lostDevices, sourceTypes, sourceKeys });
      return overlay(rows.filter((row) => wanted.has(pairKey(row.ruleId, row.deviceUuid))));
    };
    try {
      await judge(db.sql, judged, inputsOf, reload);
    } catch (error) {
      // The batch is stored whatever happens here; its rules are counted as failed on it. What this
      // instance cached of these devices may be off by the failed write: read again next time.
      for (const device of deviceUuids) pairCache.forgetDevice(device);
      for (const ruleId of new Set(judged.map((p) => p.ruleId))) evaluationFailed(ruleId, error);
    }
  }

  async function evaluateTelemetry(batch: TelemetryStored): Promise<void> {
    const readings = new Map<string, Map<string, Array<{ ts: number; value: Reading }>>>();
    const metricsSeen = new Set<string>();
    for (const device of batch.devices) {
      let byMetric = readings.get(device.deviceUuid);
      if (!byMetric) readings.set(device.deviceUuid, (byMetric = new Map<string, Array<{ ts: number; value: Reading }>>()));
      for (const point of device.points) {
        metricsSeen.add(point.metric);
        let list = byMetric.get(point.metric);
        if (!list) byMetric.set(point.metric, (list = []));
        list.push({ ts: point.ts, value: point.isBool ? point.value !== 0 : point.value });
      }
    }
    // Sorted and turned into inputs once per (device, metric), not once per rule watching it.
    const inputs = new Map<string, Map<string, PairInput[]>>();
    for (const [deviceUuid, byMetric] of readings) {
      const perMetric = new Map<string, PairInput[]>();
      for (const [metric, list] of byMetric)
        perMetric.set(
          metric,
          list.sort((a, b) => a.ts - b.ts).map((r) => ({ type: 'observe' as const, ts: r.ts, value: r.value })),
        );
      inputs.set(deviceUuid, perMetric);
    }
    await evaluateReadings([...readings.keys()], ['telemetry'], [...metricsSeen], (row) => {
      const source = row.definition.source;
      if (source.type !== 'telemetry') return [];
      return inputs.get(row.deviceUuid)?.get(source.metric) ?? [];
    });
  }

  async function evaluateTwins(batch: TwinsStored): Promise<void> {
    const changes = new Map<string, TwinsStored['changes']>();
    for (const change of batch.changes) {
      let list = changes.get(change.deviceUuid);
      if (!list) changes.set(change.deviceUuid, (list = []));
      list.push(change);
    }
    const sections = [...new Set(batch.changes.map((c) => c.section))];
    await evaluateReadings([...changes.keys()], sections, null, (row) => {
      const source = row.definition.source;
      if (source.type !== 'reported' && source.type !== 'desired') return [];
      const inputs: PairInput[] = [];
      for (const change of [...(changes.get(row.deviceUuid) ?? [])].sort((a, b) => a.at - b.at || a.version - b.version)) {
        if (change.section !== source.type) continue;
        const touched = valueAfterPatch(change.patch, source.path);
        if (touched.touched) inputs.push({ type: 'observe', ts: change.at, value: touched.value });
      }
      return inputs;
    });
  }

  async function evaluateConnections(batch: ConnectionStored): Promise<void> {
    const changes = new Map<string, Array<{ connected: boolean; at: number }>>();
    for (const change of batch.changes) {
      let list = changes.get(change.deviceUuid);
      if (!list) changes.set(change.deviceUuid, (list = []));
      list.push(change);
    }
    await evaluateReadings([...changes.keys()], ['connection'], null, (row) =>
      row.definition.source.type !== 'connection'
        ? []
        : [...(changes.get(row.deviceUuid) ?? [])].sort((a, b) => a.at - b.at).map((c) => ({ type: 'observe' as const, ts: c.at, value: c.connected })),
    );
  }

  async function sweep(): Promise<number> {
    let judged = 0;
    await flushObserved(false);
    const at = now();
    // New no-data rules (or devices that entered their scope) start their silence window now.
    await db.sql.query(
      `INSERT INTO "RuleState" ("ruleId", "deviceId", "ruleVersion", phase, "pendingSince", "deadlineAt", "asOf")
       SELECT r.id, d.id, r.version, 'PENDING_RAISE', $1::timestamptz, $1::timestamptz + ((r.definition #>> '{raise,forMs}')::bigint * interval '1 millisecond'), $1::timestamptz
         FROM "Rule" r JOIN "Device" d ON d."tenantId" = r."tenantId" LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
        WHERE r.enabled AND r.definition #>> '{raise,op}' = 'noData' AND ${SCOPE_SQL}
          AND NOT EXISTS (SELECT 1 FROM "RuleState" s WHERE s."ruleId" = r.id AND s."deviceId" = d.id)
        LIMIT $2
       ON CONFLICT ("ruleId", "deviceId") DO NOTHING`,
      [new Date(at).toISOString(), sweepBatchSize],
    );
    const iso = new Date(at).toISOString();
    const rounds: Array<{ claim: string; params: unknown[]; inputsOf: () => PairInput[] }> = [
      {
        claim: `SELECT s."ruleId", s."deviceId" FROM "RuleState" s JOIN "Rule" r ON r.id = s."ruleId"
                 WHERE r.enabled AND s."deadlineAt" <= $1 ORDER BY s."deadlineAt" LIMIT $2 FOR UPDATE OF s SKIP LOCKED`,
        params: [iso, sweepBatchSize],
        inputsOf: () => [{ type: 'deadline', now: at }],
      },
      {
        claim: `SELECT s."ruleId", s."deviceId" FROM "RuleState" s JOIN "Rule" r ON r.id = s."ruleId"
                 WHERE r.enabled AND s."ruleVersion" < r.version AND $1::timestamptz IS NOT NULL LIMIT $2 FOR UPDATE OF s SKIP LOCKED`,
        params: [iso, sweepBatchSize],
        inputsOf: () => [],
      },
      {
        // Flapping that stopped: the open alarm is flagged, its pair's edges inside the window are back
        // within the limit, and the pair was not written for a whole window of the database clock (no
        // edge since: replayed old data keeps flapping until its own readings end it). Judged with no
        // input, the plan ends the flag at the sweep's clock (./plan.ts), so a pair that went quiet
        // does not stay flapping until its next event.
        claim: `SELECT s."ruleId", s."deviceId" FROM "Alarm" a JOIN "RuleState" s ON s."alarmId" = a.id JOIN "Rule" r ON r.id = s."ruleId"
                 WHERE a.status <> 'CLEARED' AND a.flapping AND r.enabled
                   AND (SELECT count(*) FROM jsonb_array_elements_text(s."recentEdges") t WHERE t::float8 > $3) <= $4
                   AND s."updatedAt" <= now() - $5::float8 * interval '1 millisecond' AND $1::timestamptz IS NOT NULL
                 LIMIT $2 FOR UPDATE OF s SKIP LOCKED`,
        params: [iso, sweepBatchSize, at - config.flapWindowMs, config.flapMaxEdges, config.flapWindowMs],
        inputsOf: () => [],
      },
    ];
    for (const { claim, params, inputsOf } of rounds) {
      judged += await db.withSession((session) =>
        session.transaction(async (tx) => {
          const claimed = await tx.query<{ ruleId: string; deviceId: string }>(claim, params);
          if (claimed.length === 0) return 0;
          const pairs = overlay(
            await loadPairs(
              tx,
              definitions,
              claimed.map((c) => ({ ruleId: c.ruleId, deviceUuid: c.deviceId })),
            ),
          );
          const outcomes = await judge(tx, pairs, inputsOf, async (lost) => overlay(await loadPairs(tx, definitions, lost)));
          return outcomes.size;
        }),
      );
    }
    return judged;
  }

  async function applyToPair(ruleId: string, deviceUuid: string, input: PairInput, expectedAlarmId?: string): Promise<PairPlan | null> {
    const key = pairKey(ruleId, deviceUuid);
    const pairs = overlay(await loadPairs(db.sql, definitions, [{ ruleId, deviceUuid }]));
    if (pairs.length === 0) return null;
    if (expectedAlarmId !== undefined && pairs[0]!.state?.alarmId !== expectedAlarmId) {
      return { ok: false, reason: 'NO_ALARM', message: 'the alarm is not the open alarm of its rule on this device' };
    }
    const outcomes = await judge(
      db.sql,
      pairs,
      () => [input],
      async (lost) => overlay(await loadPairs(db.sql, definitions, lost)),
    );
    return outcomes.get(key) ?? null;
  }

  async function judgeSaved(ruleId: string): Promise<number> {
    // The clock is read before the scope: a change committed later carries a later time, so it is
    // judged after this reading instead of being refused as older.
    const at = now();
    try {
      const iso = new Date(at).toISOString();
      const inserted = await db.sql.query<{ deviceId: string }>(
        `INSERT INTO "RuleState" ("ruleId", "deviceId", "ruleVersion", phase, "pendingSince", "deadlineAt", "asOf")
         SELECT r.id, d.id, r.version, 'PENDING_RAISE', $2::timestamptz, $2::timestamptz + ((r.definition #>> '{raise,forMs}')::bigint * interval '1 millisecond'), $2::timestamptz
           FROM "Rule" r JOIN "Device" d ON d."tenantId" = r."tenantId" LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
          WHERE r.id = $1::uuid AND r.enabled AND r.definition #>> '{raise,op}' = 'noData' AND ${SCOPE_SQL}
         ON CONFLICT ("ruleId", "deviceId") DO NOTHING
         RETURNING "deviceId"`,
        [ruleId, iso],
      );
      for (const row of inserted) pairCache.forgetDevice(row.deviceId);
      // The devices in scope with the source's current value: a twin path (SQL NULL when absent, JSON
      // null is a deletion: both missing) or the connection state. Nothing for telemetry and no-data.
      const current = await db.sql.query<{ deviceUuid: string; value: unknown }>(
        `SELECT d.id AS "deviceUuid",
                CASE r."sourceType"
                  WHEN 'reported' THEN t.reported #> ARRAY(SELECT jsonb_array_elements_text(r.definition #> '{source,path}'))
                  WHEN 'desired' THEN t.desired #> ARRAY(SELECT jsonb_array_elements_text(r.definition #> '{source,path}'))
                  ELSE to_jsonb(d.connected) END AS value
           FROM "Rule" r JOIN "Device" d ON d."tenantId" = r."tenantId" LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
           LEFT JOIN "Twin" t ON t."deviceId" = d.id
          WHERE r.id = $1::uuid AND r.enabled AND r."sourceType" IN ('reported', 'desired', 'connection')
            AND r.definition #>> '{raise,op}' <> 'noData' AND ${SCOPE_SQL}`,
        [ruleId],
      );
      if (current.length === 0) return inserted.length;
      const values = new Map<string, Reading>();
      for (const row of current) {
        // The drivers parse jsonb: a string here is a JSON string value, not JSON text.
        values.set(row.deviceUuid, row.value === null || row.value === undefined ? undefined : (row.value as JsonValue));
      }
      const listed = [...values.keys()].map((deviceUuid) => ({ ruleId, deviceUuid }));
      const rows = overlay(await loadListedPairs(db.sql, definitions, listed));
      const outcomes = await judge(
        db.sql,
        rows,
        (row) => (values.has(row.deviceUuid) ? [{ type: 'observe', ts: at, value: values.get(row.deviceUuid) }] : []),
        async (lost) => overlay(await loadListedPairs(db.sql, definitions, lost)),
      );
      return inserted.length + outcomes.size;
    } catch (error) {
      evaluationFailed(ruleId, error);
      return 0;
    }
  }

  // Each source's batches are coalesced (./coalesce.ts): what was stored while an evaluation ran is
  // judged in the next one, together. A device's entries from several batches are merged by the
  // evaluators (grouped per device, readings sorted by time).
  const evaluationFailedUnexpectedly = (error: unknown) => logger.error({ err: error }, 'a rule evaluation failed unexpectedly');
  const latest = (batches: Array<{ at: number }>) => Math.max(...batches.map((b) => b.at));
  /**
   * `evaluate`, timed: how long the oldest of the batches waited since its commit (behind the running
   * evaluation) and how long this one took — the two parts of the rules' share of an alarm's latency.
   */
  const timedEvaluation =
    <B extends { at: number }>(source: string, evaluate: (batches: B[]) => Promise<void>) =>
    async (batches: B[]): Promise<void> => {
      const startedAt = Date.now();
      const started = performance.now();
      metrics.observe(EVALUATION_SECONDS_METRIC, { source, stage: 'wait' }, Math.max(0, startedAt - Math.min(...batches.map((b) => b.at))) / 1000);
      try {
        await evaluate(batches);
      } finally {
        metrics.observe(EVALUATION_SECONDS_METRIC, { source, stage: 'run' }, (performance.now() - started) / 1000);
      }
    };
  const telemetryQueue = createCoalescer<TelemetryStored>(
    timedEvaluation('telemetry', (batches) => evaluateTelemetry({ at: latest(batches), devices: batches.flatMap((b) => b.devices) })),
    evaluationFailedUnexpectedly,
  );
  const twinsQueue = createCoalescer<TwinsStored>(
    timedEvaluation('twin', (batches) => evaluateTwins({ at: latest(batches), changes: batches.flatMap((b) => b.changes) })),
    evaluationFailedUnexpectedly,
  );
  const connectionQueue = createCoalescer<ConnectionStored>(
    timedEvaluation('connection', (batches) => evaluateConnections({ at: latest(batches), changes: batches.flatMap((b) => b.changes) })),
    evaluationFailedUnexpectedly,
  );

  let job: PeriodicJob | undefined;
  return {
    onTelemetryStored: (batch) => telemetryQueue.submit(batch),
    onTwinsStored: (batch) => twinsQueue.submit(batch),
    onConnectionStored: (batch) => connectionQueue.submit(batch),
    async drain() {
      await Promise.all([telemetryQueue.drain(), twinsQueue.drain(), connectionQueue.drain()]);
    },
    sweep,
    applyToPair,
    judgeSaved,
    start() {
      job ??= periodic({
        intervalMs: config.sweepIntervalMs,
        run: sweep,
        onError: (error) => logger.error({ err: error }, 'rule sweep failed; the next one retries'),
      });
      job.start();
    },
    async stop() {
      await job?.stop();
      // A graceful stop forgets nothing: what was remembered is stored for the next instance.
      await flushObserved(true).catch((error: unknown) => logger.warn({ err: error }, 'storing the newest readings on stop failed'));
    },
  };
}

/**
 * What a twin merge patch did at `path`: not touched (the patch says nothing about it), or the value
 * there afterwards (undefined: deleted, or the path no longer exists).
 */
export function valueAfterPatch(patch: JsonObject, path: readonly string[]): { touched: false } | { touched: true; value: Reading } {
  let node: JsonValue = patch;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return { touched: true, value: undefined };
    if (!Object.hasOwn(node, key)) return { touched: false };
    node = (node as JsonObject)[key]!;
  }
  return { touched: true, value: node === null ? undefined : node };
}

export type { RuleDefinition };
