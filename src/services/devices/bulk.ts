/**
 * Bulk registration (docs/onboarding.md "Bulk registration"): up to {@link MAX_BULK_DEVICES} devices in
 * one call, set-based. Every row is answered on its own: created (with its password, shown once),
 * would be created (dry run), refused with a typed error at its path, or not created because the
 * call was all-or-nothing and another row was refused.
 *
 * Why these choices:
 * - One transaction of three statements whatever the row count: the devices with their twins and
 *   models, their `device.registered` webhook events (src/services/outbox/fanout.ts), and one audit
 *   row per device. Registering 10,000 devices one call each cost 47 s of aliased GraphQL calls.
 * - Uniqueness stays the database's: the existence check before the insert only answers rows early;
 *   a concurrent registration of the same id is caught by the unique index (`ON CONFLICT DO NOTHING`
 *   per row, or the whole transaction rolled back when all-or-nothing), never by check-then-insert.
 * - Passwords are generated here and hashed with SHA-256 (src/security/secrets.ts: high-entropy
 *   secrets need no slow KDF), which is what makes thousands per second possible.
 */
import { randomUUID } from 'node:crypto';
import type { FieldIssue } from '../../domain/errors.ts';
import { ValidationError } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import { generateSecret, hashSecret } from '../../security/secrets.ts';
import { eventsWrittenCounter } from '../outbox/fanout.ts';
import { REGISTERED_EVENTS_SQL, validateRegistration } from './registry.ts';
import type { DeviceServiceOptions, RegisterDeviceInput } from './types.ts';

/** The most rows one call takes (a larger import is split by the caller; the CLI does). */
export const MAX_BULK_DEVICES = 10_000;

export interface BulkRegisterOptions {
  /** Check every row (syntax, duplicates, ids taken) and write nothing. */
  dryRun?: boolean;
  /** All-or-nothing: one refused row refuses the call (the others answer NOT_CREATED). Default: per row. */
  atomic?: boolean;
  /**
   * Per-row mode only: the caller has just looked the ids up itself (provisioning's creation batch
   * does, to answer taken ids before spending its policy counter), so the SELECT of taken ids is
   * skipped; an id taken since is still answered ALREADY_EXISTS, by the INSERT's ON CONFLICT.
   */
  takenIdsCheckedByCaller?: boolean;
}

/** Why a row was not registered. Stable names: they are part of the GraphQL API. */
export type BulkRowErrorCode =
  'INVALID_DEVICE_ID' | 'TOO_LONG' | 'TOO_MANY' | 'INVALID_TAG' | 'INVALID_MODEL' | 'DUPLICATE_IN_REQUEST' | 'ALREADY_EXISTS' | 'NOT_CREATED';

export interface BulkRowError {
  code: BulkRowErrorCode;
  message: string;
  /** Where, as the GraphQL arguments name it: ['inputs', '<index>', 'deviceId'], … */
  path: string[];
}

export type BulkRowResult =
  | { index: number; deviceId: string; status: 'CREATED'; deviceUuid: string; password: string }
  | { index: number; deviceId: string; status: 'VALID' }
  | { index: number; deviceId: string; status: 'FAILED'; errors: BulkRowError[] };

export interface BulkRegisterResult {
  dryRun: boolean;
  atomic: boolean;
  /** Rows created (0 on a dry run and on a refused all-or-nothing call). */
  created: number;
  /** Rows refused or not created. */
  failed: number;
  /** One per input row, in input order. */
  rows: BulkRowResult[];
}

export interface BulkRegistration {
  /**
   * Registers many devices of the actor's tenant. Throws a ValidationError only for the call itself
   * (more than {@link MAX_BULK_DEVICES} rows); every row's problem is answered in its row.
   * Audited as one `device.register` entry per created device.
   */
  registerMany(actor: Actor, inputs: RegisterDeviceInput[], options?: BulkRegisterOptions): Promise<BulkRegisterResult>;
}

/** Devices, twins and models in one statement; `ON CONFLICT` only in per-row mode ($9). */
function insertDevicesSql(perRow: boolean): string {
  return `WITH input AS (
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                     AS i(id, device_id, name, tags_json, model_name, secret_hash, broker_secret)
          ), models AS (
            INSERT INTO "DeviceModel" (id, "tenantId", name, "updatedAt")
            SELECT gen_random_uuid(), $8, m.name, now() FROM (SELECT DISTINCT model_name AS name FROM input WHERE model_name IS NOT NULL) m
            ON CONFLICT ("tenantId", name) DO UPDATE SET name = EXCLUDED.name
            RETURNING id, name
          ), devices AS (
            INSERT INTO "Device" (id, "tenantId", "deviceId", name, tags, "modelId", "secretHash", "brokerSecret", "updatedAt")
            SELECT i.id, $8, i.device_id, i.name, ARRAY(SELECT jsonb_array_elements_text(i.tags_json::jsonb)), m.id,
                   i.secret_hash, i.broker_secret, now()
              FROM input i LEFT JOIN models m ON m.name = i.model_name
             ORDER BY i.device_id
            ${perRow ? 'ON CONFLICT ("deviceId") DO NOTHING' : ''}
            RETURNING id
          ), twins AS (
            INSERT INTO "Twin" ("deviceId") SELECT id FROM devices RETURNING "deviceId"
          )
          SELECT (SELECT count(*) FROM twins)::int AS created, COALESCE((SELECT array_agg(id::text) FROM devices), '{}') AS ids`;
}

/** One audit row per created device, as `audit.record` would write it. */
const AUDIT_SQL = `INSERT INTO "AuditEvent" ("tenantId", actor, "actorName", action, target, details)
                   SELECT d."tenantId", $2, $3, 'device.register', 'device:' || d."deviceId",
                          jsonb_build_object('name', d.name, 'tags', to_jsonb(d.tags), 'model', m.name, 'bulk', true)
                     FROM "Device" d LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
                    WHERE d.id = ANY($1::uuid[])
                    ORDER BY d."deviceId"`;

export function createBulkRegistration(options: DeviceServiceOptions): BulkRegistration {
  const { db, logger } = options;
  const { prisma } = db;
  const countEvents = eventsWrittenCounter(options.metrics);

  async function takenIds(deviceIds: string[]): Promise<Set<string>> {
    if (deviceIds.length === 0) return new Set();
    const rows = await db.sql.query<{ deviceId: string }>(`SELECT "deviceId" FROM "Device" WHERE "deviceId" = ANY($1::text[])`, [deviceIds]);
    return new Set(rows.map((r) => r.deviceId));
  }

  async function registerMany(actor: Actor, inputs: RegisterDeviceInput[], opts: BulkRegisterOptions = {}): Promise<BulkRegisterResult> {
    const dryRun = opts.dryRun ?? false;
    const atomic = opts.atomic ?? false;
    if (inputs.length > MAX_BULK_DEVICES) {
      throw new ValidationError(`at most ${MAX_BULK_DEVICES} devices per call (got ${inputs.length}); split the import`, [
        { path: ['inputs'], code: 'TOO_MANY', message: `at most ${MAX_BULK_DEVICES} devices per call` },
      ]);
    }

    // Per-row checks, then duplicates within the call, then ids already taken (any tenant: ids are global).
    const errors = new Map<number, BulkRowError[]>();
    const fail = (index: number, error: BulkRowError): void => {
      const list = errors.get(index);
      if (list) list.push(error);
      else errors.set(index, [error]);
    };
    const firstIndexOf = new Map<string, number>();
    inputs.forEach((input, index) => {
      for (const issue of validateRegistration(input)) fail(index, rowError(index, issue));
      const first = firstIndexOf.get(input.deviceId);
      if (first === undefined) firstIndexOf.set(input.deviceId, index);
      else {
        fail(index, {
          code: 'DUPLICATE_IN_REQUEST',
          message: `deviceId ${JSON.stringify(input.deviceId)} is also row ${first}`,
          path: ['inputs', String(index), 'deviceId'],
        });
      }
    });
    const skipTakenCheck = (opts.takenIdsCheckedByCaller ?? false) && !atomic && !dryRun;
    const taken = skipTakenCheck ? new Set<string>() : await takenIds([...firstIndexOf.keys()]);
    inputs.forEach((input, index) => {
      if (taken.has(input.deviceId) && firstIndexOf.get(input.deviceId) === index) fail(index, alreadyExists(index, input.deviceId));
    });

    const candidates = inputs.map((input, index) => ({ input, index })).filter(({ index }) => !errors.has(index));
    const refusedWhole = atomic && errors.size > 0;
    if (dryRun || refusedWhole || candidates.length === 0) {
      return answer(inputs, errors, new Map(), { dryRun, atomic, refusedWhole });
    }

    const rows = candidates.map(({ input, index }) => ({ index, input, id: randomUUID(), password: generateSecret() }));
    const tenantId = actor.tenantId;
    const params = [
      rows.map((r) => r.id),
      rows.map((r) => r.input.deviceId),
      rows.map((r) => r.input.name ?? null),
      rows.map((r) => JSON.stringify([...new Set(r.input.tags ?? [])])),
      rows.map((r) => r.input.modelName ?? null),
      rows.map((r) => hashSecret(r.password)),
      rows.map((r) => options.sealSecret?.(r.input.deviceId, r.password) ?? null),
      tenantId,
    ];
    const ids = rows.map((r) => r.id);
    let createdIds: Set<string>;
    try {
      const [inserted, events] = await prisma.$transaction([
        prisma.$queryRawUnsafe<Array<{ created: number; ids: string[] }>>(insertDevicesSql(!atomic), ...params),
        prisma.$queryRawUnsafe<Array<{ events: number }>>(REGISTERED_EVENTS_SQL, ids),
        prisma.$executeRawUnsafe(AUDIT_SQL, ids, actor.actor, actor.actorName ?? null),
      ]);
      createdIds = new Set(inserted[0]?.ids ?? []);
      countEvents('device.registered', Number(events[0]?.events ?? 0));
    } catch (error) {
      // All-or-nothing lost a race for an id on the unique index: the transaction rolled back whole.
      if (!atomic) throw error;
      const nowTaken = await takenIds(rows.map((r) => r.input.deviceId));
      if (nowTaken.size === 0) throw error;
      for (const r of rows) if (nowTaken.has(r.input.deviceId)) fail(r.index, alreadyExists(r.index, r.input.deviceId));
      return answer(inputs, errors, new Map(), { dryRun, atomic, refusedWhole: true });
    }

    // Per-row mode: a row skipped by ON CONFLICT lost a concurrent registration of its id.
    const created = new Map<number, { deviceUuid: string; password: string }>();
    for (const r of rows) {
      if (createdIds.has(r.id)) created.set(r.index, { deviceUuid: r.id, password: r.password });
      else fail(r.index, alreadyExists(r.index, r.input.deviceId));
    }
    if (options.onSecurityEvents) {
      await options.onSecurityEvents(
        rows.filter((r) => created.has(r.index)).map((r) => ({ type: 'registered' as const, deviceId: r.input.deviceId, password: r.password })),
      );
    }
    logger.info({ tenantId, created: created.size, refused: errors.size }, 'devices registered in bulk');
    return answer(inputs, errors, created, { dryRun, atomic, refusedWhole: false });
  }

  return { registerMany };
}

function rowError(index: number, issue: FieldIssue): BulkRowError {
  // validateRegistration names paths from a single `input` argument: re-root them at this row.
  return { code: issue.code as BulkRowErrorCode, message: issue.message, path: ['inputs', String(index), ...issue.path.slice(1)] };
}

function alreadyExists(index: number, deviceId: string): BulkRowError {
  return { code: 'ALREADY_EXISTS', message: `Device ${JSON.stringify(deviceId)} already exists`, path: ['inputs', String(index), 'deviceId'] };
}

function answer(
  inputs: RegisterDeviceInput[],
  errors: Map<number, BulkRowError[]>,
  created: Map<number, { deviceUuid: string; password: string }>,
  how: { dryRun: boolean; atomic: boolean; refusedWhole: boolean },
): BulkRegisterResult {
  const rows = inputs.map((input, index): BulkRowResult => {
    const rowErrors = errors.get(index);
    if (rowErrors) return { index, deviceId: input.deviceId, status: 'FAILED', errors: rowErrors };
    if (how.refusedWhole) {
      return {
        index,
        deviceId: input.deviceId,
        status: 'FAILED',
        errors: [{ code: 'NOT_CREATED', message: 'not created: the call is all-or-nothing and another row was refused', path: ['inputs', String(index)] }],
      };
    }
    const made = created.get(index);
    if (made) return { index, deviceId: input.deviceId, status: 'CREATED', ...made };
    return { index, deviceId: input.deviceId, status: 'VALID' };
  });
  const createdCount = created.size;
  return { dryRun: how.dryRun, atomic: how.atomic, created: createdCount, failed: rows.filter((r) => r.status === 'FAILED').length, rows };
}
