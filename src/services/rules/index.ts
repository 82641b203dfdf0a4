/**
 * Rule management (docs/rules.md): rules of a tenant, saved only after the save-time check
 * (./actions-check.ts), versioned, enabled and disabled, deleted, each change audited. The rules engine
 * (./engine/) reads the "Rule" and "RuleVersion" rows written here; a state whose rule version lags the
 * rule's is re-judged by the engine, so an update needs nothing else from this service.
 *
 * Versions: every save of a definition is a new version. The "Rule" row holds the current one, and
 * "RuleVersion" keeps every version ever saved (version 1 included), immutable, written in the same
 * statement or transaction as the "Rule" row. Enabling and disabling is not a new version: it changes
 * no definition, only whether the engine evaluates the rule; it is audited.
 *
 * Refusals are thrown: ValidationError (nothing saved; issue paths under `["input", …]`, including
 * the per-tenant limit as `LIMIT_EXCEEDED` at `["input"]`), AlreadyExistsError (the name is taken in
 * the tenant: the unique constraint decides, so two concurrent creates cannot both win), NotFoundError
 * (no such rule in the actor's tenant).
 */
import type { Database } from '../../db/client.ts';
import { AlreadyExistsError, NotFoundError, ValidationError, type FieldIssue } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import type { RuleDefinition } from '../../domain/rules/rule.ts';
import type { TwinLimits } from '../../domain/twin.ts';
import type { Logger } from '../../logger.ts';
import type { AuditLog } from '../audit.ts';
import type { ModelService } from '../models.ts';
import { checkRuleForSave } from './actions-check.ts';

/** A rule as callers write it: the definition is untrusted (the shape `checkRule` accepts). */
export interface RuleInput {
  /** 1–100 characters; unique in the tenant. */
  name: string;
  description?: string | null;
  /** Default true. */
  enabled?: boolean | null;
  /** scope, source, raise, clear, severity, onRaise, onClear (src/domain/rules/rule.ts). */
  definition: unknown;
}

/** A stored rule (its current version). */
export interface RuleRecord {
  id: string;
  tenantId: string;
  name: string;
  description: string | null;
  enabled: boolean;
  version: number;
  definition: RuleDefinition;
  createdAt: Date;
  updatedAt: Date;
}

export interface RuleService {
  /** Checks and saves a new rule at version 1. Audited as `rule.create`. */
  createRule(actor: Actor, input: RuleInput): Promise<RuleRecord>;
  /** Checks and saves a new version of the rule (name, description, enabled and definition as given). Audited as `rule.update`. */
  updateRule(actor: Actor, id: string, input: RuleInput): Promise<RuleRecord>;
  /** Starts evaluating the rule again; no new version. Audited as `rule.enable` (also when it was enabled). */
  enableRule(actor: Actor, id: string): Promise<RuleRecord>;
  /** Stops evaluating the rule; no new version. Audited as `rule.disable`. */
  disableRule(actor: Actor, id: string): Promise<RuleRecord>;
  /** Deletes the rule with its versions, states and alarms. Audited as `rule.delete`. Returns its id. */
  deleteRule(actor: Actor, id: string): Promise<string>;
  /** The rule, in the tenant; null when there is none. */
  rule(tenantId: string, id: string): Promise<RuleRecord | null>;
  /**
   * `input` checked as a rule of the tenant would be when saved (the same refusals as createRule,
   * thrown as ValidationError); the normalized definition. Used by the backtest.
   */
  check(tenantId: string, definition: unknown): Promise<RuleDefinition>;
}

export interface RuleServiceOptions {
  db: Pick<Database, 'sql' | 'withSession'>;
  models: Pick<ModelService, 'compiledOne'>;
  audit: Pick<AuditLog, 'record'>;
  logger: Logger;
  twinLimits: TwinLimits;
  /** Most rules per tenant (RULES_MAX_PER_TENANT). */
  maxPerTenant: number;
  /**
   * Called after an enabled rule was created, updated or enabled (committed and audited), before the
   * call returns: the rules engine judges it on what its devices hold now (./engine/index.ts
   * `judgeSaved`), so the answer of createRule already reflects a condition that holds. Must not throw.
   */
  onSaved?: (ruleId: string) => Promise<unknown>;
}

const NAME_MAX = 100;
const DESCRIPTION_MAX = 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The advisory-lock class of "creating a rule in a tenant" (the second key is the tenant's hash). */
const CREATE_LOCK_CLASS = 0x52554c45; // "RULE"

interface RuleRow {
  id: string;
  tenantId: string;
  name: string;
  description: string | null;
  enabled: boolean;
  version: number;
  definition: RuleDefinition;
  createdAt: Date | string;
  updatedAt: Date | string;
}

const COLUMNS = `id, "tenantId", name, description, enabled, version, definition, "createdAt", "updatedAt"`;

function toRecord(row: RuleRow): RuleRecord {
  return { ...row, version: Number(row.version), createdAt: new Date(row.createdAt), updatedAt: new Date(row.updatedAt) };
}

/** What the evaluators look rules up by (the "Rule" columns sourceType and sourceKey). */
export function sourceColumns(rule: RuleDefinition): { sourceType: string; sourceKey: string | null } {
  const source = rule.source;
  switch (source.type) {
    case 'telemetry':
      return { sourceType: 'telemetry', sourceKey: source.metric };
    case 'reported':
    case 'desired':
      return { sourceType: source.type, sourceKey: JSON.stringify(source.path) };
    case 'connection':
      return { sourceType: 'connection', sourceKey: null };
  }
}

/**
 * The statement parameters create and update share, in their order in both statements: name,
 * description, enabled, definition, sourceType, sourceKey, and the actor (createdBy / updatedBy).
 */
function ruleParams(input: RuleInput, definition: RuleDefinition, actor: Actor): [string, string | null, boolean, string, string, string | null, string] {
  const { sourceType, sourceKey } = sourceColumns(definition);
  return [input.name, input.description ?? null, input.enabled ?? true, JSON.stringify(definition), sourceType, sourceKey, actor.actorName ?? actor.actor];
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === '23505';
}

export function createRuleService(options: RuleServiceOptions): RuleService {
  const { db, audit, logger } = options;
  const deps = { sql: db.sql, models: options.models, twinLimits: options.twinLimits };

  function headerIssues(input: RuleInput): FieldIssue[] {
    const issues: FieldIssue[] = [];
    if (typeof input.name !== 'string' || input.name.trim().length === 0 || input.name.length > NAME_MAX) {
      issues.push({ path: ['input', 'name'], code: 'INVALID_NAME', message: `name must be 1–${NAME_MAX} characters, not only spaces` });
    }
    if (input.description != null && input.description.length > DESCRIPTION_MAX) {
      issues.push({ path: ['input', 'description'], code: 'TOO_LONG', message: `description must be at most ${DESCRIPTION_MAX} characters` });
    }
    return issues;
  }

  /** The whole input checked: header fields and definition, every problem at once. */
  async function checkInput(tenantId: string, input: RuleInput): Promise<RuleDefinition> {
    const issues = headerIssues(input);
    const checked = await checkRuleForSave(deps, tenantId, input.definition, ['input']);
    if (!checked.ok) issues.push(...checked.error.issues);
    if (issues.length > 0 || !checked.ok) {
      throw new ValidationError(`the rule was refused: ${issues.length} problem${issues.length === 1 ? '' : 's'}`, issues);
    }
    return checked.rule;
  }

  async function createRule(actor: Actor, input: RuleInput): Promise<RuleRecord> {
    const { tenantId } = actor;
    const definition = await checkInput(tenantId, input);
    let row: RuleRow;
    try {
      row = await db.withSession((session) =>
        session.transaction(async (tx) => {
          // Count and insert under one per-tenant lock: two concurrent creates cannot both pass the count.
          await tx.query(`SELECT pg_advisory_xact_lock($1::int, hashtext($2))`, [CREATE_LOCK_CLASS, tenantId]);
          const [count] = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Rule" WHERE "tenantId" = $1`, [tenantId]);
          if (Number(count?.n ?? 0) >= options.maxPerTenant) {
            throw new ValidationError('the rule was refused: the tenant has as many rules as allowed', [
              {
                path: ['input'],
                code: 'LIMIT_EXCEEDED',
                message: `a tenant may have at most ${options.maxPerTenant} rules (RULES_MAX_PER_TENANT); delete one first`,
              },
            ]);
          }
          const rows = await tx.query<RuleRow>(
            `WITH r AS (
               INSERT INTO "Rule" (id, "tenantId", name, description, enabled, version, definition, "sourceType", "sourceKey", "createdBy", "updatedBy")
               VALUES (gen_random_uuid(), $1, $2, $3, $4, 1, $5::jsonb, $6, $7, $8, $8)
               RETURNING ${COLUMNS}
             ), v AS (
               INSERT INTO "RuleVersion" ("ruleId", version, definition, enabled, "createdBy") SELECT id, version, definition, enabled, $8 FROM r
             )
             SELECT * FROM r`,
            [tenantId, ...ruleParams(input, definition, actor)],
          );
          return rows[0]!;
        }),
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new AlreadyExistsError('Rule', input.name);
      throw error;
    }
    const record = toRecord(row);
    logger.info({ tenantId, ruleId: record.id, rule: record.name }, 'rule created');
    await audit.record({ ...actor, action: 'rule.create', target: `rule:${record.id}`, details: { name: record.name, version: 1 } });
    if (record.enabled) await options.onSaved?.(record.id);
    return record;
  }

  async function updateRule(actor: Actor, id: string, input: RuleInput): Promise<RuleRecord> {
    const { tenantId } = actor;
    if (!UUID.test(id)) throw new NotFoundError('Rule', id);
    const definition = await checkInput(tenantId, input);
    let rows: RuleRow[];
    try {
      // One statement: the version bump and its history row commit together, and concurrent updates
      // each get their own version (the row lock serializes them).
      rows = await db.sql.query<RuleRow>(
        `WITH r AS (
           UPDATE "Rule" SET version = version + 1, name = $3, description = $4, enabled = $5, definition = $6::jsonb,
                  "sourceType" = $7, "sourceKey" = $8, "updatedBy" = $9, "updatedAt" = now()
            WHERE id = $1::uuid AND "tenantId" = $2
           RETURNING ${COLUMNS}
         ), v AS (
           INSERT INTO "RuleVersion" ("ruleId", version, definition, enabled, "createdBy") SELECT id, version, definition, enabled, $9 FROM r
         )
         SELECT * FROM r`,
        [id, tenantId, ...ruleParams(input, definition, actor)],
      );
    } catch (error) {
      if (isUniqueViolation(error)) throw new AlreadyExistsError('Rule', input.name);
      throw error;
    }
    if (rows.length === 0) throw new NotFoundError('Rule', id);
    const record = toRecord(rows[0]!);
    logger.info({ tenantId, ruleId: id, version: record.version }, 'rule updated');
    await audit.record({ ...actor, action: 'rule.update', target: `rule:${id}`, details: { name: record.name, version: record.version } });
    if (record.enabled) await options.onSaved?.(id);
    return record;
  }

  async function setEnabled(actor: Actor, id: string, enabled: boolean): Promise<RuleRecord> {
    if (!UUID.test(id)) throw new NotFoundError('Rule', id);
    const rows = await db.sql.query<RuleRow>(
      `UPDATE "Rule" SET enabled = $3, "updatedBy" = $4, "updatedAt" = now() WHERE id = $1::uuid AND "tenantId" = $2 RETURNING ${COLUMNS}`,
      [id, actor.tenantId, enabled, actor.actorName ?? actor.actor],
    );
    if (rows.length === 0) throw new NotFoundError('Rule', id);
    const record = toRecord(rows[0]!);
    await audit.record({ ...actor, action: enabled ? 'rule.enable' : 'rule.disable', target: `rule:${id}`, details: { name: record.name } });
    if (enabled) await options.onSaved?.(id);
    return record;
  }

  async function deleteRule(actor: Actor, id: string): Promise<string> {
    if (!UUID.test(id)) throw new NotFoundError('Rule', id);
    const rows = await db.sql.query<{ name: string; version: number }>(`DELETE FROM "Rule" WHERE id = $1::uuid AND "tenantId" = $2 RETURNING name, version`, [
      id,
      actor.tenantId,
    ]);
    if (rows.length === 0) throw new NotFoundError('Rule', id);
    logger.info({ tenantId: actor.tenantId, ruleId: id }, 'rule deleted');
    await audit.record({ ...actor, action: 'rule.delete', target: `rule:${id}`, details: { name: rows[0]!.name, version: Number(rows[0]!.version) } });
    return id;
  }

  async function rule(tenantId: string, id: string): Promise<RuleRecord | null> {
    if (!UUID.test(id)) return null;
    const rows = await db.sql.query<RuleRow>(`SELECT ${COLUMNS} FROM "Rule" WHERE id = $1::uuid AND "tenantId" = $2`, [id, tenantId]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async function check(tenantId: string, definition: unknown): Promise<RuleDefinition> {
    const checked = await checkRuleForSave(deps, tenantId, definition, ['input']);
    if (!checked.ok) throw checked.error;
    return checked.rule;
  }

  return {
    createRule,
    updateRule,
    enableRule: (actor, id) => setEnabled(actor, id, true),
    disableRule: (actor, id) => setEnabled(actor, id, false),
    deleteRule,
    rule,
    check,
  };
}
