/**
 * Reading (rule, device) pairs with their "RuleState" and open alarm: the pairs a batch needs that
 * the pair cache (./pair-cache.ts) does not hold, the sweeper's claimed pairs, a user's alarm. Rule
 * definitions are parsed once per (rule, version) and kept (`createDefinitionCache`).
 */
import type { SqlExecutor as SqlRunner } from '../../../db/client.ts';
import type { AlarmStatus } from '../../../domain/rules/alarm-state.ts';
import type { RuleDefinition } from '../../../domain/rules/rule.ts';
import type { JsonValue } from '../../../domain/twin.ts';
import type { PairRow } from './types.ts';

/**
 * A rule's scope (src/domain/rules/rule.ts RuleScope) as SQL over `r` ("Rule"), `d` ("Device") and
 * `m` ("DeviceModel", left-joined): every field given must match.
 */
export const SCOPE_SQL = `(
      (r.definition #> '{scope,deviceIds}' IS NULL OR jsonb_typeof(r.definition #> '{scope,deviceIds}') <> 'array' OR (r.definition #> '{scope,deviceIds}') @> to_jsonb(d."deviceId"))
  AND (r.definition #>> '{scope,tag}' IS NULL OR (r.definition #>> '{scope,tag}') = ANY(d.tags))
  AND (r.definition #> '{scope,tags}' IS NULL OR jsonb_typeof(r.definition #> '{scope,tags}') <> 'array' OR ARRAY(SELECT jsonb_array_elements_text(r.definition #> '{scope,tags}')) <@ d.tags)
  AND (r.definition #>> '{scope,model}' IS NULL OR (r.definition #>> '{scope,model}') = m.name))`;

const pairColumns = (definition: string) => `
SELECT r.id AS "ruleId", r.name AS "ruleName", r.version AS "ruleVersion", ${definition} AS definition, d."tenantId", d.id AS "deviceUuid", d."deviceId",
       s."ruleId" IS NOT NULL AS "hasState", s."ruleVersion" AS "stateVersion", s.phase, s."pendingSince", s."deadlineAt", s."lastTs",
       s."lastValue", s."lastValue" IS NULL AS "lastValueMissing", s."asOf", s."alarmId", s."recentEdges", s.revision::text AS revision,
       (extract(epoch FROM (now() - s."updatedAt")) * 1000)::float8 AS "stateAgeMs",
       a.id AS "aId", a.status AS "aStatus", a.severity AS "aSeverity", a."ruleVersion" AS "aRuleVersion", a."raisedAt" AS "aRaisedAt",
       a."raisedValue" AS "aRaisedValue", a."clearedAt" AS "aClearedAt", a."clearedValue" AS "aClearedValue",
       a."acknowledgedAt" AS "aAckAt", a."acknowledgedBy" AS "aAckBy", a.flapping AS "aFlapping"`;

const SELECT_PAIRS = `${pairColumns('r.definition')}
  FROM "Device" d
  JOIN "Rule" r ON r."tenantId" = d."tenantId"
  LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
  LEFT JOIN "RuleState" s ON s."ruleId" = r.id AND s."deviceId" = d.id
  LEFT JOIN "Alarm" a ON a.id = s."alarmId"`;

/** Exactly these (rule, device) pairs, driven by the pair list (primary-key lookups only; definitions come from the cache). */
const SELECT_LISTED_PAIRS = `${pairColumns('NULL::jsonb')}
  FROM unnest($1::uuid[], $2::uuid[]) AS p(rule_id, device_id)
  JOIN "Rule" r ON r.id = p.rule_id
  JOIN "Device" d ON d.id = p.device_id AND d."tenantId" = r."tenantId"
  LEFT JOIN "RuleState" s ON s."ruleId" = p.rule_id AND s."deviceId" = p.device_id
  LEFT JOIN "Alarm" a ON a.id = s."alarmId"
 WHERE r.enabled`;

interface RawPair {
  ruleId: string;
  ruleName: string;
  ruleVersion: number;
  definition: unknown;
  tenantId: string;
  deviceUuid: string;
  deviceId: string;
  hasState: boolean;
  stateVersion: number | null;
  phase: string | null;
  pendingSince: unknown;
  deadlineAt: unknown;
  lastTs: unknown;
  lastValue: unknown;
  lastValueMissing: boolean;
  asOf: unknown;
  alarmId: string | null;
  recentEdges: unknown;
  revision: string | null;
  stateAgeMs: number | string | null;
  aId: string | null;
  aStatus: string | null;
  aSeverity: string | null;
  aRuleVersion: number | null;
  aRaisedAt: unknown;
  aRaisedValue: unknown;
  aClearedAt: unknown;
  aClearedValue: unknown;
  aAckAt: unknown;
  aAckBy: string | null;
  aFlapping: boolean | null;
}

function ms(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.getTime();
  const t = new Date(value as string).getTime();
  return Number.isFinite(t) ? t : null;
}

/** A definition or edge list (always an object or array): text from a driver that does not parse jsonb. */
function parseJson(value: unknown): unknown {
  return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
}

/** Parsed definitions per (rule, version); `peek` answers without a raw definition (undefined: not cached). */
export interface DefinitionCache {
  (ruleId: string, version: number, raw: unknown): RuleDefinition;
  peek(ruleId: string, version: number): RuleDefinition | undefined;
}

/** A cache of parsed definitions per (rule, version): versions never change once saved. */
export function createDefinitionCache(max = 10_000): DefinitionCache {
  const cache = new Map<string, RuleDefinition>();
  const lookup = (ruleId: string, version: number, raw: unknown): RuleDefinition => {
    const key = `${ruleId}:${version}`;
    let definition = cache.get(key);
    if (definition === undefined) {
      definition = parseJson(raw) as RuleDefinition;
      if (cache.size >= max) cache.clear();
      cache.set(key, definition);
    }
    return definition;
  };
  return Object.assign(lookup, { peek: (ruleId: string, version: number) => cache.get(`${ruleId}:${version}`) });
}

function toPair(raw: RawPair, definitions: (ruleId: string, version: number, raw: unknown) => RuleDefinition): PairRow {
  const state: PairRow['state'] = raw.hasState
    ? {
        ruleVersion: raw.stateVersion ?? raw.ruleVersion,
        phase: raw.phase ?? 'NORMAL',
        pendingSince: ms(raw.pendingSince),
        deadlineAt: ms(raw.deadlineAt),
        lastTs: ms(raw.lastTs),
        asOf: ms(raw.asOf) ?? 0,
        alarmId: raw.alarmId,
        recentEdges: ((): number[] => {
          const edges = parseJson(raw.recentEdges);
          return Array.isArray(edges) ? edges.filter((t): t is number => typeof t === 'number') : [];
        })(),
        revision: raw.revision ?? '0',
        ageMs: Math.max(0, Number(raw.stateAgeMs ?? 0)),
      }
    : null;
  if (state !== null && !raw.lastValueMissing) state.lastValue = raw.lastValue as JsonValue; // parsed by the driver; a string is a JSON string value
  const alarm: PairRow['alarm'] =
    raw.aId === null
      ? null
      : {
          id: raw.aId,
          status: raw.aStatus as AlarmStatus,
          severity: raw.aSeverity ?? 'INFO',
          ruleVersion: raw.aRuleVersion ?? raw.ruleVersion,
          raisedAt: ms(raw.aRaisedAt) ?? 0,
          raisedValue: (raw.aRaisedValue ?? null) as JsonValue | null,
          clearedAt: ms(raw.aClearedAt),
          clearedValue: (raw.aClearedValue ?? null) as JsonValue | null,
          acknowledgedAt: ms(raw.aAckAt),
          acknowledgedBy: raw.aAckBy,
          flapping: raw.aFlapping ?? false,
        };
  return {
    ruleId: raw.ruleId,
    ruleName: raw.ruleName,
    ruleVersion: raw.ruleVersion,
    definition: definitions(raw.ruleId, raw.ruleVersion, raw.definition),
    tenantId: raw.tenantId,
    deviceUuid: raw.deviceUuid,
    deviceId: raw.deviceId,
    state,
    alarm,
  };
}

/**
 * Exactly these (rule, device) pairs of enabled rules, each with its stored state (null: none yet) and
 * open alarm, at the rule's current version; definitions from the cache (read once per version).
 */
export async function loadListedPairs(sql: SqlRunner, definitions: DefinitionCache, pairs: Array<{ ruleId: string; deviceUuid: string }>): Promise<PairRow[]> {
  if (pairs.length === 0) return [];
  const rows = await sql.query<RawPair>(SELECT_LISTED_PAIRS, [pairs.map((p) => p.ruleId), pairs.map((p) => p.deviceUuid)]);
  const missing = rows.filter((r) => definitions.peek(r.ruleId, Number(r.ruleVersion)) === undefined);
  if (missing.length > 0)
    await loadCurrentDefinitions(
      sql,
      definitions,
      missing.map((r) => r.ruleId),
    );
  return rows.flatMap((raw) => {
    const definition = definitions.peek(raw.ruleId, Number(raw.ruleVersion));
    return definition === undefined ? [] : [toPair(raw, () => definition)];
  });
}

/** The current definitions of these rules ("Rule".definition, as the rest of the engine reads it), into the cache. */
async function loadCurrentDefinitions(sql: SqlRunner, definitions: DefinitionCache, ruleIds: string[]): Promise<void> {
  const rows = await sql.query<{ id: string; version: number; definition: unknown }>(`SELECT id, version, definition FROM "Rule" WHERE id = ANY($1::uuid[])`, [
    ruleIds,
  ]);
  for (const row of rows) definitions(row.id, row.version, row.definition);
}

/** These (rule, device) pairs, if the rule is enabled and the state exists (the sweeper's and control's load). */
export async function loadPairs(
  sql: SqlRunner,
  definitions: DefinitionCache,
  pairs: Array<{ ruleId: string; deviceUuid: string }>,
  lock = false,
): Promise<PairRow[]> {
  if (pairs.length === 0) return [];
  const rows = await sql.query<RawPair>(
    `${SELECT_PAIRS}
      WHERE (r.id, d.id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) AND r.enabled AND s."ruleId" IS NOT NULL
      ${lock ? 'FOR UPDATE OF s SKIP LOCKED' : ''}`,
    [pairs.map((p) => p.ruleId), pairs.map((p) => p.deviceUuid)],
  );
  return rows.map((raw) => toPair(raw, definitions));
}

/** The definitions of older rule versions (for states that lag their rule), one query. */
export async function loadVersions(
  sql: SqlRunner,
  definitions: DefinitionCache,
  wanted: Array<{ ruleId: string; version: number }>,
): Promise<Map<string, RuleDefinition>> {
  const found = new Map<string, RuleDefinition>();
  if (wanted.length === 0) return found;
  const rows = await sql.query<{ ruleId: string; version: number; definition: unknown }>(
    `SELECT "ruleId", version, definition FROM "RuleVersion" WHERE ("ruleId", version) IN (SELECT * FROM unnest($1::uuid[], $2::int[]))`,
    [wanted.map((w) => w.ruleId), wanted.map((w) => w.version)],
  );
  for (const row of rows) found.set(`${row.ruleId}:${row.version}`, definitions(row.ruleId, row.version, row.definition));
  return found;
}
