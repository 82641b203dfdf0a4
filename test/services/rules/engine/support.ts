/**
 * Rules for the engine's tests: checked by checkRule and written as "Rule" + "RuleVersion" rows the
 * way the rules service stores them (definition, sourceType, sourceKey = metric or JSON path text).
 */
import { randomUUID } from 'node:crypto';
import { checkRule, type RuleDefinition } from '../../../../src/domain/rules/rule.ts';
import type { SqlExecutor } from '../../../../src/db/client.ts';
import { TWIN_LIMITS } from '../../../domain/rules/fixtures.ts';

export function checked(input: Record<string, unknown>): RuleDefinition {
  const result = checkRule({ onRaise: [], onClear: [], ...input }, { twin: TWIN_LIMITS });
  if (!result.ok) throw new Error(`rule refused: ${JSON.stringify(result.error.issues)}`);
  return result.rule;
}

function sourceKeyOf(definition: RuleDefinition): string | null {
  const source = definition.source;
  if (source.type === 'telemetry') return source.metric;
  if (source.type === 'connection') return null;
  return JSON.stringify(source.path);
}

/** Inserts a rule at version 1 (enabled); returns its id. */
export async function insertRule(sql: SqlExecutor, input: Record<string, unknown>, options: { tenantId?: string; name?: string } = {}): Promise<string> {
  const definition = checked(input);
  const id = randomUUID();
  await sql.query(
    `WITH r AS (INSERT INTO "Rule" (id, "tenantId", name, enabled, version, definition, "sourceType", "sourceKey") VALUES ($1, $2, $3, true, 1, $4::jsonb, $5, $6) RETURNING id)
     INSERT INTO "RuleVersion" ("ruleId", version, definition, enabled) SELECT id, 1, $4::jsonb, true FROM r`,
    [id, options.tenantId ?? 'default', options.name ?? `rule-${id.slice(0, 8)}`, JSON.stringify(definition), definition.source.type, sourceKeyOf(definition)],
  );
  return id;
}

/** Saves a new version of a rule (as an edit does); returns the new version. */
export async function updateRule(sql: SqlExecutor, ruleId: string, input: Record<string, unknown>): Promise<number> {
  const definition = checked(input);
  const rows = await sql.query<{ version: number }>(
    `WITH r AS (UPDATE "Rule" SET version = version + 1, definition = $2::jsonb, "sourceType" = $3, "sourceKey" = $4, "updatedAt" = now() WHERE id = $1 RETURNING id, version)
     INSERT INTO "RuleVersion" ("ruleId", version, definition, enabled) SELECT id, version, $2::jsonb, true FROM r RETURNING version`,
    [ruleId, JSON.stringify(definition), definition.source.type, sourceKeyOf(definition)],
  );
  return rows[0]!.version;
}
