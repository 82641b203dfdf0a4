/**
 * Device models: create and version their capabilities, and hand out compiled validators.
 *
 * Versioning: every save of a model's capabilities is a new version (`DeviceModelVersion`, immutable);
 * the `DeviceModel` row holds the current one. Devices reference the model, not a version, so they
 * follow the latest version: a command or twin write is validated against the model as it is at that
 * moment, and each command records the version it was validated against (`Command.modelVersion`).
 */
import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { Actor } from '../domain/principal.ts';
import type { AuditLog } from './audit.ts';
import { checkCapabilities, createValidatorCache, type CommandDefinition, type CompiledModel, type ModelCapabilities } from '../domain/models.ts';
import { AlreadyExistsError, InUseError, NotFoundError, ValidationError } from '../domain/errors.ts';

export interface ModelInput {
  name: string;
  description?: string | null;
  /** Omitted in an update: keep the current ones. */
  commands?: CommandDefinition[] | null;
  /** Omitted (undefined) in an update: keep; null: remove. */
  desiredSchema?: Record<string, unknown> | null;
  reportedSchema?: Record<string, unknown> | null;
}

const MODEL_NAME = /^[A-Za-z0-9._ -]{1,100}$/;

export interface ModelServiceOptions {
  db: Database;
  logger: Logger;
  /** Where creations and updates are recorded. */
  audit: AuditLog;
  cacheSize?: number;
}

/**
 * Device models of a tenant and their compiled validators. Mutations take the acting {@link Actor}
 * (its tenant, its name as `createdBy` of the version) and record themselves in the audit log;
 * refusals are thrown as ValidationError, AlreadyExistsError or NotFoundError.
 */
export interface ModelService {
  /** Creates a model at version 1; returns its id. Audited as `model.create`. */
  create(actor: Actor, input: ModelInput): Promise<string>;
  /** Saves a new version; fields left undefined keep their current value. Returns the id. Audited as `model.update`. */
  update(actor: Actor, input: ModelInput): Promise<string>;
  /**
   * Deletes a model with its versions. Refused with InUseError while devices use it (the model row is
   * locked first, so a registration naming it waits and then fails cleanly instead of racing the check).
   * Audited as `model.delete`.
   */
  remove(actor: Actor, name: string): Promise<void>;
  /** Compiled validators for (model, version) pairs, keyed `${modelId}@${version}`; unknown pairs are absent. */
  compiled(keys: Array<{ modelId: string; version: number }>): Promise<Map<string, CompiledModel>>;
  /** The compiled validators of one model version, if it exists. */
  compiledOne(modelId: string, version: number): Promise<CompiledModel | undefined>;
}

interface CapsRow {
  commands: unknown;
  desiredSchema: unknown;
  reportedSchema: unknown;
}

function capsOf(row: CapsRow): ModelCapabilities {
  return {
    commands: (Array.isArray(row.commands) ? row.commands : []) as CommandDefinition[],
    desiredSchema: (row.desiredSchema ?? null) as Record<string, unknown> | null,
    reportedSchema: (row.reportedSchema ?? null) as Record<string, unknown> | null,
  };
}

export function createModelService(options: ModelServiceOptions): ModelService {
  const { db, logger, audit } = options;
  const cache = createValidatorCache(options.cacheSize ?? 1000);

  function check(input: ModelInput, caps: ModelCapabilities): void {
    const issues = checkCapabilities(caps).map((i) => ({ ...i, path: ['input', ...i.path] }));
    if (!MODEL_NAME.test(input.name)) {
      issues.unshift({ path: ['input', 'name'], code: 'INVALID_NAME', message: 'name must be 1–100 characters of letters, digits, space, ".", "_" or "-"' });
    }
    if (input.description != null && input.description.length > 1000) {
      issues.push({ path: ['input', 'description'], code: 'TOO_LONG', message: 'description must be at most 1000 characters' });
    }
    if (issues.length > 0) throw new ValidationError('invalid device model', issues);
  }

  async function create(actor: Actor, input: ModelInput): Promise<string> {
    const { tenantId } = actor;
    const caps: ModelCapabilities = {
      commands: input.commands ?? [],
      desiredSchema: input.desiredSchema ?? null,
      reportedSchema: input.reportedSchema ?? null,
    };
    check(input, caps);
    const rows = await db.sql.query<{ id: string }>(
      `WITH m AS (
         INSERT INTO "DeviceModel" (id, "tenantId", name, description, version, commands, "desiredSchema", "reportedSchema", "updatedAt")
         VALUES (gen_random_uuid(), $1, $2, $3, 1, $4::jsonb, $5::jsonb, $6::jsonb, now())
         ON CONFLICT ("tenantId", name) DO NOTHING
         RETURNING id, description, commands, "desiredSchema", "reportedSchema"
       ), v AS (
         INSERT INTO "DeviceModelVersion" ("modelId", version, description, commands, "desiredSchema", "reportedSchema", "createdBy")
         SELECT id, 1, description, commands, "desiredSchema", "reportedSchema", $7 FROM m
       )
       SELECT id FROM m`,
      [tenantId, input.name, input.description ?? null, JSON.stringify(caps.commands), json(caps.desiredSchema), json(caps.reportedSchema), actor.actorName],
    );
    if (rows.length === 0) throw new AlreadyExistsError('DeviceModel', input.name);
    logger.info({ tenantId, model: input.name }, 'device model created');
    await audit.record({ ...actor, action: 'model.create', target: `model:${input.name}` });
    return rows[0]!.id;
  }

  async function update(actor: Actor, input: ModelInput): Promise<string> {
    const { tenantId } = actor;
    const current = await db.prisma.deviceModel.findFirst({ where: { tenantId, name: input.name } });
    if (!current) throw new NotFoundError('DeviceModel', input.name);
    const caps: ModelCapabilities = {
      commands: input.commands ?? capsOf(current).commands,
      desiredSchema: input.desiredSchema === undefined ? capsOf(current).desiredSchema : input.desiredSchema,
      reportedSchema: input.reportedSchema === undefined ? capsOf(current).reportedSchema : input.reportedSchema,
    };
    const description = input.description === undefined ? current.description : input.description;
    check({ ...input, description }, caps);
    // One statement: the version bump and its history row commit together, and concurrent updates
    // each get their own version number (the row lock serializes them).
    const rows = await db.sql.query<{ id: string; version: number }>(
      `WITH m AS (
         UPDATE "DeviceModel" SET version = version + 1, description = $3, commands = $4::jsonb, "desiredSchema" = $5::jsonb,
                "reportedSchema" = $6::jsonb, "updatedAt" = now()
          WHERE "tenantId" = $1 AND name = $2
         RETURNING id, version, description, commands, "desiredSchema", "reportedSchema"
       ), v AS (
         INSERT INTO "DeviceModelVersion" ("modelId", version, description, commands, "desiredSchema", "reportedSchema", "createdBy")
         SELECT id, version, description, commands, "desiredSchema", "reportedSchema", $7 FROM m
       )
       SELECT id, version FROM m`,
      [tenantId, input.name, description ?? null, JSON.stringify(caps.commands), json(caps.desiredSchema), json(caps.reportedSchema), actor.actorName],
    );
    if (rows.length === 0) throw new NotFoundError('DeviceModel', input.name);
    logger.info({ tenantId, model: input.name, version: rows[0]!.version }, 'device model updated');
    await audit.record({ ...actor, action: 'model.update', target: `model:${input.name}` });
    return rows[0]!.id;
  }

  async function remove(actor: Actor, name: string): Promise<void> {
    const { tenantId } = actor;
    const outcome = await db.prisma.$transaction(async (tx) => {
      const [model] = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM "DeviceModel" WHERE "tenantId" = ${tenantId} AND name = ${name} FOR UPDATE`;
      if (!model) return { found: false as const };
      const [{ used }] = (await tx.$queryRaw<Array<{ used: number }>>`SELECT count(*)::int AS used FROM "Device" WHERE "modelId" = ${model.id}::uuid`) as [
        { used: number },
      ];
      if (used > 0) return { found: true as const, used };
      await tx.$executeRaw`DELETE FROM "DeviceModel" WHERE id = ${model.id}::uuid`;
      return { found: true as const, used: 0 };
    });
    if (!outcome.found) throw new NotFoundError('DeviceModel', name);
    if (outcome.used > 0) throw new InUseError('DeviceModel', name, outcome.used);
    logger.info({ tenantId, model: name }, 'device model deleted');
    await audit.record({ ...actor, action: 'model.delete', target: `model:${name}` });
  }

  /** Loads what the cache does not hold in one query. */
  async function compiled(keys: Array<{ modelId: string; version: number }>): Promise<Map<string, CompiledModel>> {
    const out = new Map<string, CompiledModel>();
    const missing = keys.filter((k) => !cache.has(k.modelId, k.version));
    const loaded = new Map<string, ModelCapabilities>();
    if (missing.length > 0) {
      // Models created implicitly by registerDevice have no history row: their current row is version 1.
      const rows = await db.sql.query<CapsRow & { modelId: string; version: number }>(
        `SELECT k.model_id AS "modelId", k.version,
                COALESCE(v.commands, m.commands) AS commands,
                CASE WHEN v."modelId" IS NOT NULL THEN v."desiredSchema" ELSE m."desiredSchema" END AS "desiredSchema",
                CASE WHEN v."modelId" IS NOT NULL THEN v."reportedSchema" ELSE m."reportedSchema" END AS "reportedSchema"
           FROM unnest($1::uuid[], $2::int[]) AS k(model_id, version)
           LEFT JOIN "DeviceModelVersion" v ON v."modelId" = k.model_id AND v.version = k.version
           LEFT JOIN "DeviceModel" m ON m.id = k.model_id AND m.version = k.version
          WHERE v."modelId" IS NOT NULL OR m.id IS NOT NULL`,
        [missing.map((k) => k.modelId), missing.map((k) => k.version)],
      );
      for (const row of rows) loaded.set(`${row.modelId}@${Number(row.version)}`, capsOf(row));
    }
    for (const k of keys) {
      const key = `${k.modelId}@${k.version}`;
      if (out.has(key)) continue;
      const caps = loaded.get(key);
      if (!cache.has(k.modelId, k.version) && !caps) continue;
      out.set(
        key,
        cache.get(k.modelId, k.version, () => caps!),
      );
    }
    return out;
  }

  async function compiledOne(modelId: string, version: number): Promise<CompiledModel | undefined> {
    return (await compiled([{ modelId, version }])).get(`${modelId}@${version}`);
  }

  return { create, update, remove, compiled, compiledOne };
}

function json(value: unknown): string | null {
  return value == null ? null : JSON.stringify(value);
}
