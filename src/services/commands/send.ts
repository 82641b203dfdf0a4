/**
 * Sending one command to one device: validated against the device's model, answered from an earlier
 * command with the same idempotency key, rate limited per device, stored PENDING and handed to
 * delivery. The caller's action is written to the audit log once the command is stored.
 */
import { traceparentOfActiveSpan } from '../../tracing/index.ts';
import type { CommandsConfig } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import { NotFoundError, RateLimitedError } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import type { JsonValue } from '../../domain/twin.ts';
import type { Metrics } from '../../metrics.ts';
import type { AuditLog } from '../audit.ts';
import { eventsWrittenSql, type EventsWrittenCounter } from '../outbox/fanout.ts';
import type { CommandDelivery } from './delivery.ts';
import type { SendCommandInput } from './requests.ts';
import { commandEventsCte, epochMs, requesterColumns, type CommandStore } from './store.ts';
import type { CommandTransitions } from './transitions.ts';
import type { CommandValidation } from './validation.ts';

export const COMMANDS_METRIC = 'doppel_commands_total';

export interface SentCommand {
  id: string;
  /** False when an earlier command with the same idempotency key answered instead. */
  created: boolean;
}

export interface SendOptions {
  db: Database;
  store: CommandStore;
  validation: CommandValidation;
  transitions: CommandTransitions;
  delivery: CommandDelivery;
  audit: Pick<AuditLog, 'record'>;
  metrics: Metrics;
  config: CommandsConfig;
  now: () => number;
  /** Counts the command.updated webhook events the insert wrote. */
  countEvents?: EventsWrittenCounter;
}

export function createSend(options: SendOptions): (actor: Actor, input: SendCommandInput) => Promise<SentCommand> {
  const { db, store, metrics, config, now } = options;

  /** Throws RateLimitedError when the device had its share of (non-fleet) commands in the window. */
  async function checkRateLimit(deviceUuid: string, deviceId: string, t: number): Promise<void> {
    const [recent] = await db.sql.query<{ n: number; oldest: Date | string | null }>(
      `SELECT count(*)::int AS n, min("createdAt") AS oldest FROM "Command"
        WHERE "deviceId" = $1 AND "createdAt" > $2 AND "fleetCommandId" IS NULL`,
      [deviceUuid, new Date(t - config.rateWindowMs)],
    );
    if (recent && Number(recent.n) >= config.rateLimit) {
      const retryAfterMs = Math.max(1, (epochMs(recent.oldest) ?? t) + config.rateWindowMs - t);
      metrics.inc(COMMANDS_METRIC, { kind: 'rate_limited' });
      throw new RateLimitedError(deviceId, config.rateLimit, config.rateWindowMs, retryAfterMs);
    }
  }

  async function create(actor: Actor, input: SendCommandInput): Promise<SentCommand> {
    const device = await db.prisma.device.findFirst({
      where: { tenantId: actor.tenantId, deviceId: input.deviceId },
      select: { id: true, connected: true, modelId: true, model: { select: { name: true, version: true } } },
    });
    if (!device) throw new NotFoundError('Device', input.deviceId);
    const checked = await options.validation.single(device, input);
    if (!checked.ok) {
      metrics.inc(COMMANDS_METRIC, { kind: 'invalid' });
      throw checked.error;
    }
    const { params, definition } = checked;

    // A retry with the same key is answered before the rate limit: it creates nothing.
    const key = input.idempotencyKey ?? null;
    if (key !== null) {
      const existing = await store.findByKey(device.id, key);
      if (existing) {
        metrics.inc(COMMANDS_METRIC, { kind: 'idempotent_replay' });
        return { id: existing, created: false };
      }
    }
    const t = now();
    await checkRateLimit(device.id, input.deviceId, t);

    const ttl = input.ttlMs ?? definition.ttlMs ?? null;
    const expiresAt = ttl === null ? null : new Date(t + ttl);
    const requester = requesterColumns(actor);
    // The command and its command.updated events (null → PENDING) in one statement; a lost idempotency
    // race inserts nothing and so writes no event.
    const rows = await db.sql.query<{ id: string; events: number }>(
      `WITH created AS (
         INSERT INTO "Command" (id, "tenantId", "deviceId", name, params, "modelVersion", status, "idempotencyKey", "requestedBy", "requestedById",
                                "timeoutMs", "expiresAt", "deadlineAt", "stateTimes", "createdAt", "updatedAt", traceparent)
         VALUES (gen_random_uuid(), $1, $2, $3, $4::jsonb, $5, 'PENDING', $6, $7, $8, $9, $10, $10, $11::jsonb, $12, $12, $13)
         ON CONFLICT ("deviceId", "idempotencyKey") DO NOTHING
         RETURNING id, "deviceId" AS device_uuid, name, seq, NULL::text AS from_status, status AS to_status, "createdAt" AS at
       ), ${commandEventsCte('command_events', 'created')}
       SELECT id, ${eventsWrittenSql('command_events')} AS events FROM created`,
      [
        actor.tenantId,
        device.id,
        input.name,
        JSON.stringify(params),
        device.model!.version,
        key,
        requester.requestedBy,
        requester.requestedById,
        definition.timeoutMs ?? null,
        expiresAt,
        JSON.stringify({ PENDING: t }),
        new Date(t),
        // The sending span (the sendCommand operation's), so the device's ack links back to it on any
        // instance and after restarts; the MQTT payload stays as the device contract says.
        traceparentOfActiveSpan(),
      ],
    );
    if (rows.length === 0) {
      // A concurrent request with the same key won the unique index: answer with its command.
      metrics.inc(COMMANDS_METRIC, { kind: 'idempotent_replay' });
      return { id: (await store.findByKey(device.id, key!))!, created: false };
    }
    const id = rows[0]!.id;
    options.countEvents?.('command.updated', Number(rows[0]!.events));
    metrics.inc(COMMANDS_METRIC, { kind: 'single' });
    options.transitions.announceCreated([{ id, deviceUuid: device.id, deviceId: input.deviceId, tenantId: actor.tenantId, fleetCommandId: null }], t);
    if (device.connected) options.delivery.kick([input.deviceId]);
    return { id, created: true };
  }

  return async (actor, input) => {
    const sent = await create(actor, input);
    // A replay is audited too: the caller asked again.
    await options.audit.record({
      ...actor,
      action: 'command.send',
      target: `command:${sent.id}`,
      details: { deviceId: input.deviceId, name: input.name, params: (input.params ?? {}) as JsonValue },
    });
    return sent;
  };
}
