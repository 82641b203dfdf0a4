/**
 * Sending one command to many devices: the targets are selected (a list of ids, every one of which
 * must exist, or a filter), each gets its own Command, validated against its own model version (all or
 * nothing), and all are created with one statement together with their FleetCommand. Fleet members are
 * not rate limited. The caller's action is audited once, on the fleet.
 */
import { traceparentOfActiveSpan } from '../../tracing/index.ts';
import type { CommandsConfig } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import { ValidationError } from '../../domain/errors.ts';
import type { FleetFilter } from '../../domain/fleet-filter.ts';
import type { Actor } from '../../domain/principal.ts';
import type { JsonValue } from '../../domain/twin.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { AuditLog } from '../audit.ts';
import { DEVICE_TWIN_FROM, deviceFilterSql } from '../device-reads.ts';
import { eventsWrittenSql, type EventsWrittenCounter } from '../outbox/fanout.ts';
import type { CommandDelivery } from './delivery.ts';
import type { FleetProgressWorker } from './fleet.ts';
import type { FleetCommandInput, FleetTarget } from './requests.ts';
import { COMMANDS_METRIC } from './send.ts';
import { commandEventsCte, requesterColumns } from './store.ts';
import type { CommandTransitions } from './transitions.ts';
import type { CommandValidation } from './validation.ts';

/**
 * Which devices of the actor's tenant a fleet command goes to: these ids (each must exist), or those a
 * checked device filter matches (the devices query's meaning and SQL: src/services/device-reads.ts).
 */
export type FleetSelection = { deviceIds: string[] } | { filter: FleetFilter };

export type SendFleet = (actor: Actor, input: FleetCommandInput, selection: FleetSelection) => Promise<string>;

export interface SendFleetOptions {
  db: Database;
  validation: CommandValidation;
  transitions: CommandTransitions;
  delivery: CommandDelivery;
  fleetProgress: FleetProgressWorker;
  audit: Pick<AuditLog, 'record'>;
  metrics: Metrics;
  logger: Logger;
  config: CommandsConfig;
  now: () => number;
  /** Counts the command.updated webhook events the insert wrote. */
  countEvents?: EventsWrittenCounter;
}

export function createSendFleet(options: SendFleetOptions): SendFleet {
  const { db, metrics, now } = options;
  const select = { id: true, deviceId: true, modelId: true, model: { select: { name: true, version: true } } } as const;

  /** The devices selected, and where issues about them point (`input.deviceIds` or `input.filter`). */
  async function selectTargets(actor: Actor, selection: FleetSelection): Promise<{ targets: FleetTarget[]; targetPath: string[] }> {
    const { tenantId } = actor;
    const byIds = 'deviceIds' in selection;
    const devices = byIds
      ? await db.prisma.device.findMany({ where: { tenantId, deviceId: { in: selection.deviceIds } }, select })
      : await matching(tenantId, selection.filter);
    if (byIds) {
      const found = new Set(devices.map((d) => d.deviceId));
      const missing = selection.deviceIds.map((id, i) => ({ id, i })).filter(({ id }) => !found.has(id));
      if (missing.length > 0) {
        throw new ValidationError(
          'invalid fleet command',
          missing.map(({ id, i }) => ({ path: ['input', 'deviceIds', String(i)], code: 'NOT_FOUND', message: `device ${JSON.stringify(id)} not found` })),
        );
      }
    }
    const targets = devices.map((d) => ({
      uuid: d.id,
      deviceId: d.deviceId,
      modelId: d.modelId,
      modelVersion: d.model?.version ?? null,
      modelName: d.model?.name ?? null,
    }));
    return { targets, targetPath: ['input', byIds ? 'deviceIds' : 'filter'] };
  }

  /** The devices the filter matches with their models, in one statement (set-based, whatever the fleet's size). */
  async function matching(tenantId: string, filter: FleetFilter) {
    const params: unknown[] = [];
    const where = deviceFilterSql(tenantId, filter, params);
    // One more than allowed, so validation can tell "too many" from "exactly the maximum".
    params.push(options.config.maxFleetSize + 1);
    const rows = await db.sql.query<{ id: string; deviceId: string; modelId: string | null; modelName: string | null; modelVersion: number | null }>(
      `SELECT d.id, d."deviceId", d."modelId", dm.name AS "modelName", dm.version AS "modelVersion"
         ${DEVICE_TWIN_FROM} LEFT JOIN "DeviceModel" dm ON dm.id = d."modelId"
        WHERE ${where} ORDER BY d.id LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({
      id: r.id,
      deviceId: r.deviceId,
      modelId: r.modelId,
      model: r.modelName === null ? null : { name: r.modelName, version: r.modelVersion! },
    }));
  }

  async function create(actor: Actor, input: FleetCommandInput, targets: FleetTarget[], targetPath: string[]): Promise<string> {
    const checked = await options.validation.fleet(input, targets, targetPath);
    if (!checked.ok) {
      metrics.inc(COMMANDS_METRIC, { kind: 'invalid_fleet' });
      throw checked.error;
    }
    const t = now();
    const members = targets.map((d) => {
      const definition = checked.definitionOf(d);
      const ttl = input.ttlMs ?? definition.ttlMs ?? null;
      return { d, timeoutMs: definition.timeoutMs ?? null, expiresAt: ttl === null ? null : new Date(t + ttl) };
    });
    const requester = requesterColumns(actor);
    // The fleet, its commands and their command.updated events (null → PENDING): one statement.
    const rows = await db.sql.query<{ fleetId: string; id: string; deviceUuid: string; events: number }>(
      `WITH f AS (
         INSERT INTO "FleetCommand" (id, "tenantId", name, params, "requestedBy", "requestedById", "createdAt")
         VALUES (gen_random_uuid(), $1, $2, $3::jsonb, $4, $5, $6) RETURNING id
       ), c AS (
         INSERT INTO "Command" (id, "tenantId", "deviceId", "fleetCommandId", name, params, "modelVersion", status, "requestedBy", "requestedById",
                                "timeoutMs", "expiresAt", "deadlineAt", "stateTimes", "createdAt", "updatedAt", traceparent)
         SELECT gen_random_uuid(), $1, m.device_uuid, f.id, $2, $3::jsonb, m.model_version, 'PENDING', $4, $5, m.timeout_ms, m.expires_at, m.expires_at,
                $7::jsonb, $6, $6, $12
           FROM f, unnest($8::uuid[], $9::int[], $10::int[], $11::timestamptz[]) WITH ORDINALITY AS m(device_uuid, model_version, timeout_ms, expires_at, n)
          ORDER BY m.n
         RETURNING id, "deviceId", "fleetCommandId", name, seq, "createdAt"
       ), created AS (
         SELECT id, "deviceId" AS device_uuid, name, seq, NULL::text AS from_status, 'PENDING'::text AS to_status, "createdAt" AS at FROM c
       ), ${commandEventsCte('command_events', 'created')}
       SELECT c."fleetCommandId" AS "fleetId", c.id, c."deviceId" AS "deviceUuid", ${eventsWrittenSql('command_events')} AS events FROM c`,
      [
        actor.tenantId,
        input.name,
        JSON.stringify(checked.params),
        requester.requestedBy,
        requester.requestedById,
        new Date(t),
        JSON.stringify({ PENDING: t }),
        members.map((m) => m.d.uuid),
        members.map((m) => m.d.modelVersion),
        members.map((m) => m.timeoutMs),
        members.map((m) => m.expiresAt),
        // The sending span, so each member's ack links back to it (src/tracing/traceparent.ts).
        traceparentOfActiveSpan(),
      ],
    );
    const fleetId = rows[0]!.fleetId;
    options.countEvents?.('command.updated', Number(rows[0]!.events));
    options.fleetProgress.remember(fleetId, actor.tenantId);
    const deviceIdOf = new Map(targets.map((d) => [d.uuid, d.deviceId]));
    options.transitions.announceCreated(
      rows.map((r) => ({
        id: r.id,
        deviceUuid: r.deviceUuid,
        deviceId: deviceIdOf.get(r.deviceUuid) ?? '',
        tenantId: actor.tenantId,
        fleetCommandId: fleetId,
      })),
      t,
    );
    metrics.inc(COMMANDS_METRIC, { kind: 'fleet' }, members.length);
    options.logger.info({ fleetCommandId: fleetId, devices: members.length, name: input.name }, 'fleet command created');
    options.fleetProgress.kick([fleetId]);
    // Delivery checks `connected` itself; kicking every member keeps this one round.
    options.delivery.kick(members.map((m) => m.d.deviceId));
    return fleetId;
  }

  return async (actor, input, selection) => {
    const { targets, targetPath } = await selectTargets(actor, selection);
    const fleetId = await create(actor, input, targets, targetPath);
    await options.audit.record({
      ...actor,
      action: 'command.send',
      target: `fleetCommand:${fleetId}`,
      details: { name: input.name, params: (input.params ?? {}) as JsonValue, devices: targets.length },
    });
    return fleetId;
  };
}
