/**
 * The rules and (rule, device) states this instance judges, kept in memory with the database as the
 * durable copy (docs/rules.md "How the engine runs it"). Reading every matching pair's "RuleState"
 * row and every candidate rule with each stored batch was most of the engine's cost (bench/RESULTS.md,
 * bench:rules at 5c47624: 525 pair rows and a rules query per batch). Instead, per batch, ONE
 * statement reads the batch's devices (tags, model: scopes are matched here) with two fingerprints:
 *
 * - the rule set's generation ("RuleSetGeneration", bumped by a trigger on every write to "Rule",
 *   whoever makes it): while unchanged, the enabled rules cached per tenant, indexed by source, are
 *   the rules; when it moves, every cache here is dropped and the tenant's rules are read again;
 * - per device, the number of its "RuleState" rows and the sum of their revisions. Every write of a
 *   state bumps its revision (./writer.ts, and the engine's flush of the newest readings), rows are
 *   only ever deleted with their rule (which moves the generation) or their device, so while a
 *   device's fingerprint is the one its cached pairs were read or written at, they are exactly the
 *   stored rows. Otherwise (another instance, the sweeper, a user, a no-data state created) the
 *   device's pairs are read again.
 *
 * What this instance writes it lays into the cache itself (`written`), with the fingerprint moved by
 * exactly its own writes; anything it cannot account for exactly (a lost guard, an alarm write that
 * did not land) drops the device's entry, so the next batch reads it. A cache that is wrong can
 * therefore only ever be dropped, never trusted: a device's pairs are trusted only at the fingerprint
 * they were read at, in a snapshot no older than that fingerprint.
 *
 * Decisions are taken exactly as before: on the stored rows as of the batch's statement, every state
 * write still guarded by its revision (a pair judged on rows another writer changed meanwhile loses
 * its guard and is judged again on fresh rows).
 */
import type { SqlExecutor as SqlRunner } from '../../../db/client.ts';
import type { RuleDefinition } from '../../../domain/rules/rule.ts';
import { loadListedPairs, type DefinitionCache } from './load.ts';
import type { PairRow, StoredAlarm, StoredState, WritePlan } from './types.ts';
import { pairKey } from './writer.ts';

/** A device of a batch as the statement reads it. */
interface BatchDevice {
  id: string;
  deviceId: string;
  tenantId: string;
  tags: string[] | null;
  model: string | null;
  /** `count:sum` of its "RuleState" rows' revisions. */
  fingerprint: string;
  generation: string;
}

/** An enabled rule as cached (its current version), with its scope compiled. */
interface CachedRule {
  id: string;
  name: string;
  version: number;
  tenantId: string;
  definition: RuleDefinition;
  deviceIds: Set<string> | null;
  tags: string[];
  model: string | null;
}

interface CachedPair {
  row: PairRow;
  /**
   * When the stored row was last written, on this process's monotonic clock (the watermark is real
   * time passing, as the database's clock measured it before: not the engine's injectable clock).
   */
  storedAt: number;
}

interface DeviceEntry {
  count: number;
  sum: number;
  /** By rule id; a pair with no stored state is cached too (state null). */
  pairs: Map<string, CachedPair>;
}

export interface PairCacheStats {
  /** Pairs served from memory / read from the database. */
  hits: number;
  misses: number;
}

const DEVICES_SQL = `
SELECT d.id, d."deviceId", d."tenantId", d.tags, m.name AS model,
       (SELECT count(*)::text || ':' || COALESCE(sum(s.revision), 0)::text FROM "RuleState" s WHERE s."deviceId" = d.id) AS fingerprint,
       (SELECT g.generation::text FROM "RuleSetGeneration" g WHERE g.id = 1) AS generation
  FROM "Device" d LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
 WHERE d.id = ANY($1::uuid[])`;

const sourceIndexKey = (type: string, key: string | null) => `${type}\u0000${key ?? ''}`;

function parseFingerprint(text: string): { count: number; sum: number } {
  const [count, sum] = text.split(':');
  return { count: Number(count), sum: Number(sum) };
}

function compile(rule: { id: string; name: string; version: number; tenantId: string }, definition: RuleDefinition): CachedRule {
  const scope = (definition.scope ?? {}) as Record<string, unknown>;
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : null);
  const ids = strings(scope.deviceIds);
  return {
    ...rule,
    definition,
    deviceIds: ids === null ? null : new Set(ids),
    tags: [...(strings(scope.tags) ?? []), ...(typeof scope.tag === 'string' ? [scope.tag] : [])],
    model: typeof scope.model === 'string' ? scope.model : null,
  };
}

function matches(rule: CachedRule, device: { deviceId: string; tags: string[] | null; model: string | null }): boolean {
  if (rule.deviceIds !== null && !rule.deviceIds.has(device.deviceId)) return false;
  if (rule.model !== null && rule.model !== device.model) return false;
  if (rule.tags.length === 0) return true;
  const tags = device.tags ?? [];
  return rule.tags.every((t) => tags.includes(t));
}

/**
 * The rules of one source, split by scope: a rule naming its devices is found by device id, so a batch
 * device meets only the rules that can match it (matching all 1,000 rules of bench:rules against every
 * device of every batch was the largest JavaScript cost of the engine: docs/performance.md "Rules engine cost").
 */
interface RuleBucket {
  /** Rules with no device list (every device, or tags / model only). */
  anyDevice: CachedRule[];
  byDeviceId: Map<string, CachedRule[]>;
}

function candidatesIn(bucket: RuleBucket | undefined, deviceId: string, into: CachedRule[]): void {
  if (bucket === undefined) return;
  into.push(...bucket.anyDevice);
  const listed = bucket.byDeviceId.get(deviceId);
  if (listed !== undefined) into.push(...listed);
}

export interface PairCache {
  /**
   * The pairs of the enabled rules of `sourceTypes` (and, if given, one of `sourceKeys`) whose scope
   * contains one of `deviceUuids`, each with its stored state and open alarm: copies the caller may
   * change. One statement when everything is cached; one more for the pairs that are not.
   */
  pairsFor(sql: SqlRunner, query: { deviceUuids: string[]; sourceTypes: string[]; sourceKeys: string[] | null }): Promise<PairRow[]>;
  /** Lays a committed write into the cache (`won`: the pairs whose state write won, `alarms`: the alarm rows that landed). */
  written(plan: WritePlan, won: Set<string>, alarms: Set<string>): void;
  /** The newest-reading bookkeeping stored onto these pairs (the flush), each at its new revision. */
  flushed(rows: Array<{ ruleId: string; deviceUuid: string; fromRevision: string; lastTs: number | null; lastValue?: unknown; asOf: number }>): void;
  /** Forgets a device's pairs (its next batch reads them). */
  forgetDevice(deviceUuid: string): void;
  readonly stats: PairCacheStats;
}

export function createPairCache(options: { definitions: DefinitionCache; maxPairs?: number }): PairCache {
  const { definitions } = options;
  const now = () => performance.now();
  const maxPairs = options.maxPairs ?? 200_000;
  let generation: string | null = null;
  /** Per tenant: enabled rules by source (`sourceIndexKey`). */
  const rulesByTenant = new Map<string, Map<string, RuleBucket>>();
  /** Per device uuid, in least recently used order (a Map keeps insertion order; a use re-inserts). */
  const devices = new Map<string, DeviceEntry>();
  let pairCount = 0;
  const stats: PairCacheStats = { hits: 0, misses: 0 };

  function dropAll(): void {
    rulesByTenant.clear();
    devices.clear();
    pairCount = 0;
  }

  function forgetDevice(deviceUuid: string): void {
    const entry = devices.get(deviceUuid);
    if (entry === undefined) return;
    pairCount -= entry.pairs.size;
    devices.delete(deviceUuid);
  }

  async function loadRules(sql: SqlRunner, tenants: string[]): Promise<void> {
    const rows = await sql.query<{
      id: string;
      name: string;
      version: number;
      tenantId: string;
      sourceType: string;
      sourceKey: string | null;
      definition: unknown;
    }>(`SELECT id, name, version, "tenantId", "sourceType", "sourceKey", definition FROM "Rule" WHERE enabled AND "tenantId" = ANY($1::text[])`, [tenants]);
    for (const tenant of tenants) rulesByTenant.set(tenant, new Map());
    for (const row of rows) {
      const version = Number(row.version);
      let rule: CachedRule;
      try {
        rule = compile({ id: row.id, name: row.name, version, tenantId: row.tenantId }, definitions(row.id, version, row.definition));
      } catch {
        continue; // A definition that is not an object (a corrupt row) matches nothing; the rule is skipped.
      }
      const index = rulesByTenant.get(row.tenantId)!;
      const key = sourceIndexKey(row.sourceType, row.sourceKey);
      let bucket = index.get(key);
      if (!bucket) index.set(key, (bucket = { anyDevice: [], byDeviceId: new Map() }));
      if (rule.deviceIds === null) bucket.anyDevice.push(rule);
      else
        for (const deviceId of rule.deviceIds) {
          let listed = bucket.byDeviceId.get(deviceId);
          if (!listed) bucket.byDeviceId.set(deviceId, (listed = []));
          listed.push(rule);
        }
    }
  }

  function copyOf(cached: CachedPair, at: number): PairRow {
    const row = cached.row;
    if (row.state === null) return { ...row };
    const state: StoredState = { ...row.state, ageMs: Math.max(0, at - cached.storedAt) };
    return { ...row, state, alarm: row.alarm === null ? null : { ...row.alarm } };
  }

  function evictIfFull(): void {
    while (pairCount > maxPairs && devices.size > 0) forgetDevice(devices.keys().next().value!);
  }

  async function pairsFor(sql: SqlRunner, query: { deviceUuids: string[]; sourceTypes: string[]; sourceKeys: string[] | null }): Promise<PairRow[]> {
    if (query.deviceUuids.length === 0) return [];
    const batchDevices = await sql.query<BatchDevice>(DEVICES_SQL, [query.deviceUuids]);
    if (batchDevices.length === 0) return [];
    const seen = batchDevices[0]!.generation ?? '';
    if (seen !== generation) {
      dropAll();
      generation = seen;
    }
    const tenants = [...new Set(batchDevices.map((d) => d.tenantId))].filter((t) => !rulesByTenant.has(t));
    if (tenants.length > 0) await loadRules(sql, tenants);

    const keys = query.sourceKeys;
    const at = now();
    const out: PairRow[] = [];
    const missing: Array<{ device: BatchDevice; rule: CachedRule }> = [];
    for (const device of batchDevices) {
      const index = rulesByTenant.get(device.tenantId);
      if (index === undefined) continue;
      const candidates: CachedRule[] = [];
      for (const type of query.sourceTypes) {
        if (keys === null) {
          for (const [key, bucket] of index) if (key.startsWith(`${type}\u0000`)) candidatesIn(bucket, device.deviceId, candidates);
        } else {
          for (const key of keys) candidatesIn(index.get(sourceIndexKey(type, key)), device.deviceId, candidates);
        }
      }
      if (candidates.length === 0) continue;
      const { count, sum } = parseFingerprint(device.fingerprint);
      let entry = devices.get(device.id);
      if (entry !== undefined && (entry.count !== count || entry.sum !== sum)) {
        forgetDevice(device.id);
        entry = undefined;
      }
      if (entry === undefined) {
        entry = { count, sum, pairs: new Map() };
      } else {
        devices.delete(device.id); // re-inserted below: most recently used
      }
      devices.set(device.id, entry);
      for (const rule of candidates) {
        if (!matches(rule, device)) continue;
        const cached = entry.pairs.get(rule.id);
        if (cached !== undefined && cached.row.ruleVersion === rule.version) {
          stats.hits++;
          out.push(copyOf(cached, at));
        } else {
          missing.push({ device, rule });
        }
      }
    }
    if (missing.length > 0) {
      stats.misses += missing.length;
      const loadedAt = now();
      const rows = await loadListedPairs(
        sql,
        definitions,
        missing.map((m) => ({ ruleId: m.rule.id, deviceUuid: m.device.id })),
      );
      const wanted = new Map(missing.map((m) => [pairKey(m.rule.id, m.device.id), m.rule]));
      for (const row of rows) {
        const entry = devices.get(row.deviceUuid);
        // Cached only at the version the rules cache holds (a rule edited since is read again next time).
        if (entry !== undefined && wanted.get(pairKey(row.ruleId, row.deviceUuid))?.version === row.ruleVersion) {
          const cached: CachedPair = { row, storedAt: loadedAt - (row.state?.ageMs ?? 0) };
          if (!entry.pairs.has(row.ruleId)) pairCount++;
          entry.pairs.set(row.ruleId, cached);
          out.push(copyOf(cached, at));
        } else {
          out.push(row);
        }
      }
      evictIfFull();
    }
    return out;
  }

  function written(plan: WritePlan, won: Set<string>, alarms: Set<string>): void {
    if (devices.size === 0) return;
    const at = now();
    for (const s of plan.states) {
      const entry = devices.get(s.deviceUuid);
      if (entry === undefined) continue;
      const key = pairKey(s.ruleId, s.deviceUuid);
      const cached = entry.pairs.get(s.ruleId);
      const own = plan.alarms.filter((a) => a.ruleId === s.ruleId && a.deviceUuid === s.deviceUuid);
      // Only what is known exactly is kept: the write won on the revision the cache holds, and every
      // alarm row of the pair landed.
      if (!won.has(key) || cached === undefined || (cached.row.state?.revision ?? null) !== s.expectedRevision || own.some((a) => !alarms.has(a.id))) {
        forgetDevice(s.deviceUuid);
        continue;
      }
      let alarm: StoredAlarm | null = null;
      if (s.alarmId !== null) {
        const mine = own.find((a) => a.id === s.alarmId);
        if (mine !== undefined) alarm = storedAlarmOf(mine);
        else if (cached.row.alarm?.id === s.alarmId) alarm = cached.row.alarm;
        else {
          forgetDevice(s.deviceUuid);
          continue;
        }
      }
      const inserted = s.expectedRevision === null;
      const state: StoredState = {
        ruleVersion: s.ruleVersion,
        phase: s.phase,
        pendingSince: s.pendingSince,
        deadlineAt: s.deadlineAt,
        lastTs: s.lastTs,
        asOf: s.asOf,
        alarmId: s.alarmId,
        recentEdges: [...s.recentEdges],
        revision: inserted ? '0' : String(Number(s.expectedRevision) + 1),
        ageMs: 0,
      };
      if (s.lastValue !== undefined) state.lastValue = s.lastValue;
      entry.pairs.set(s.ruleId, { row: { ...cached.row, state, alarm }, storedAt: at });
      if (inserted) entry.count++;
      else entry.sum++;
    }
  }

  function flushed(rows: Array<{ ruleId: string; deviceUuid: string; fromRevision: string; lastTs: number | null; lastValue?: unknown; asOf: number }>): void {
    const at = now();
    for (const f of rows) {
      const entry = devices.get(f.deviceUuid);
      if (entry === undefined) continue;
      const cached = entry.pairs.get(f.ruleId);
      if (cached === undefined || cached.row.state === null || cached.row.state.revision !== f.fromRevision) {
        forgetDevice(f.deviceUuid);
        continue;
      }
      const state: StoredState = { ...cached.row.state, lastTs: f.lastTs, asOf: f.asOf, revision: String(Number(f.fromRevision) + 1), ageMs: 0 };
      delete state.lastValue;
      if (f.lastValue !== undefined) state.lastValue = f.lastValue as StoredState['lastValue'];
      entry.pairs.set(f.ruleId, { row: { ...cached.row, state }, storedAt: at });
      entry.sum++;
    }
  }

  return { pairsFor, written, flushed, forgetDevice, stats };
}

function storedAlarmOf(a: StoredAlarm): StoredAlarm {
  return {
    id: a.id,
    status: a.status,
    severity: a.severity,
    ruleVersion: a.ruleVersion,
    raisedAt: a.raisedAt,
    raisedValue: a.raisedValue,
    clearedAt: a.clearedAt,
    clearedValue: a.clearedValue,
    acknowledgedAt: a.acknowledgedAt,
    acknowledgedBy: a.acknowledgedBy,
    flapping: a.flapping,
  };
}
