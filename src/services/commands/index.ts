/**
 * Durable commands (DESIGN §6): validated against the device's model before they are stored, stored
 * before they are published (outbox), published QoS 1 to connected devices in creation order, and moved
 * through their lifecycle by the pure state machine (src/domain/commands/state-machine.ts).
 *
 * Every state change is one guarded, set-based UPDATE (`WHERE status = <the state the transition was
 * computed from>`): a row that moved meanwhile (an ack racing the SENT mark, another instance) is
 * re-read and re-decided, so nothing is lost or applied twice. Deadlines live in the indexed
 * `deadlineAt` column and a sweeper drives them from the database, so a restart loses nothing.
 *
 * Delivery runs in rounds, one at a time per instance: a round loads the deliverable commands of the
 * devices it was asked about (connected and `online`: subscribed), claims them by storing SENT in one
 * guarded statement, then publishes each device's commands in order. The claim means one command is
 * published once however many rounds or instances look at it; a failed publish releases it.
 */
import type { Config, CommandsConfig } from '../config.ts';
import type { Database } from '../db/client.ts';
import { deadlineOf, deliveryOrder, dueEvents } from '../domain/commands/deadlines.ts';
import { fromCounts, type FleetProgress } from '../domain/commands/fleet.ts';
import {
  commandEvents,
  isFinalStatus,
  transition,
  type CommandEvent,
  type CommandLifecycle,
  type CommandStatus,
  type TransitionReason,
} from '../domain/commands/state-machine.ts';
import { MAX_DURATION_MS, type CompiledModel } from '../domain/models.ts';
import type { JsonObject, JsonValue } from '../domain/twin.ts';
import { isPlainObject } from '../domain/twin.ts';
import type { EventBus } from '../events/bus.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { CommandAck, CommandMessage } from '../mqtt/contract.ts';
import { topics } from '../mqtt/topics.ts';
import { CommandStateError, NotFoundError, RateLimitedError, ValidationError, type FieldIssue } from '../domain/errors.ts';
import type { ModelService } from './models.ts';
import { SerialBatcher } from './serial-batcher.ts';

export const COMMANDS_METRIC = 'doppel_commands_total';
export const ACKS_IGNORED_METRIC = 'doppel_command_acks_ignored_total';
export const TRANSITIONS_METRIC = 'doppel_command_transitions_total';

/** Who asked: the API token. */
export interface Requester {
  tenantId: string;
  tokenId: string;
  name: string;
}

export interface SendCommandInput {
  deviceId: string;
  name: string;
  params?: unknown;
  ttlMs?: number | null;
  idempotencyKey?: string | null;
}

export interface FleetTarget {
  uuid: string;
  deviceId: string;
  modelId: string | null;
  modelVersion: number | null;
  modelName: string | null;
}

export interface CommandServiceOptions {
  db: Database;
  bus: EventBus;
  logger: Logger;
  metrics: Metrics;
  models: ModelService;
  config: CommandsConfig;
  /** Publishes to a device (QoS 1). Bound late: the transport is created after this service. */
  publish: (topic: string, payload: string) => Promise<void>;
  now?: () => number;
}

/** The columns a command row carries as they are, whether read raw or converted. */
interface CommandIdentity {
  id: string;
  tenantId: string;
  deviceUuid: string;
  deviceId: string;
  fleetCommandId: string | null;
  name: string;
  params: JsonObject;
}

/** A command as loaded for a transition. */
interface Row extends CommandLifecycle, CommandIdentity {
  seq: bigint;
  /** When the device's current session announced `online` (epoch ms), as loaded; null when it has not. */
  deviceReadyAt: number | null;
  result?: JsonValue;
  error?: JsonValue;
  canceledBy?: string;
}

const SELECT_ROWS = `
  SELECT c.id, c.seq::text AS seq, c."tenantId", c."deviceId" AS "deviceUuid", d."deviceId", c."fleetCommandId", c.name, c.params,
         c.status, c."timeoutMs", c."expiresAt", c."createdAt", c."stateTimes", d."commandsReadyAt"
    FROM "Command" c JOIN "Device" d ON d.id = c."deviceId"`;

/** A command as SELECT_ROWS returns it. */
interface RawRow extends CommandIdentity {
  seq: string;
  status: CommandStatus;
  timeoutMs: number | null;
  expiresAt: Date | string | null;
  createdAt: Date | string;
  stateTimes: Record<string, number>;
  commandsReadyAt: Date | string | null;
}

function ms(value: Date | string | null): number | null {
  return value === null ? null : new Date(value).getTime();
}

function toRow(r: RawRow): Row {
  return {
    id: r.id,
    seq: BigInt(r.seq),
    tenantId: r.tenantId,
    deviceUuid: r.deviceUuid,
    deviceId: r.deviceId,
    fleetCommandId: r.fleetCommandId,
    name: r.name,
    params: r.params,
    status: r.status,
    timeoutMs: r.timeoutMs === null ? null : Number(r.timeoutMs),
    expiresAt: ms(r.expiresAt),
    createdAt: ms(r.createdAt)!,
    stateTimes: r.stateTimes ?? {},
    deviceReadyAt: ms(r.commandsReadyAt),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_ATTEMPTS = 8;
const MAX_REFUSALS_KEPT = 50;

export type AckOutcome =
  | { ok: true; status: CommandStatus }
  | { ok: false; reason: 'UNKNOWN_COMMAND' | 'OTHER_DEVICE' | TransitionReason | 'INVALID_INPUT'; message: string };

export function createCommandService(options: CommandServiceOptions) {
  const { db, bus, logger, metrics, models, config } = options;
  const now = options.now ?? Date.now;
  metrics.describe(COMMANDS_METRIC, 'sendCommand / sendFleetCommand outcomes, by kind (single, fleet members, idempotent_replay, invalid, invalid_fleet, rate_limited).');
  metrics.describe(ACKS_IGNORED_METRIC, 'Command acks (and other events) ignored, by reason.');
  metrics.describe(TRANSITIONS_METRIC, 'Stored command transitions, by target status.');

  // ------------------------------------------------------------------------------------------
  // Loading and transitions
  // ------------------------------------------------------------------------------------------

  async function loadByIds(ids: string[]): Promise<Row[]> {
    if (ids.length === 0) return [];
    const rows = await db.sql.query<RawRow>(`${SELECT_ROWS} WHERE c.id = ANY($1::uuid[])`, [ids]);
    return rows.map(toRow);
  }

  /**
   * Applies `eventFor(row)` to each row through the state machine and stores the changes with one
   * guarded UPDATE per attempt; rows that moved meanwhile are re-read and re-decided. Refusals go to
   * `onRefused`. Returns the stored commands.
   */
  async function transitionRows(
    initial: Row[],
    eventFor: (row: Row) => CommandEvent,
    at: number,
    onRefused?: (row: Row, reason: TransitionReason | 'INVALID_INPUT', message: string) => void,
  ): Promise<Row[]> {
    const stored: Array<{ from: CommandStatus; to: Row }> = [];
    let rows = initial;
    for (let attempt = 0; rows.length > 0; attempt++) {
      const changes: Array<{ from: Row; to: Row }> = [];
      for (const row of rows) {
        const result = transition(row, eventFor(row), at);
        if (!result.ok) onRefused?.(row, result.reason, result.message);
        else if (result.changed) changes.push({ from: row, to: result.command });
      }
      if (changes.length === 0) break;
      const updated = await writeTransitions(changes);
      for (const c of changes) if (updated.has(c.to.id)) stored.push({ from: c.from.status, to: c.to });
      const conflicted = changes.filter((c) => !updated.has(c.to.id)).map((c) => c.to.id);
      if (conflicted.length > 0 && attempt >= MAX_ATTEMPTS) throw new Error(`command transitions kept conflicting: ${conflicted.join(', ')}`);
      rows = await loadByIds(conflicted);
    }
    afterTransitions(stored);
    return stored.map((s) => s.to);
  }

  function timeOf(c: CommandLifecycle, ...states: CommandStatus[]): Date | null {
    for (const s of states) {
      const t = c.stateTimes?.[s];
      if (typeof t === 'number') return new Date(t);
    }
    return null;
  }

  async function writeTransitions(changes: Array<{ from: Row; to: Row }>): Promise<Set<string>> {
    const out = await db.sql.query<{ id: string }>(
      `UPDATE "Command" c
          SET status = i.status, "stateTimes" = i.state_times, result = COALESCE(i.result, c.result), error = COALESCE(i.error, c.error),
              "canceledBy" = COALESCE(i.canceled_by, c."canceledBy"), "deadlineAt" = i.deadline_at,
              "sentAt" = i.sent_at, "acceptedAt" = i.accepted_at, "completedAt" = i.completed_at, "updatedAt" = now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::text[], $8::timestamptz[],
                     $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
           AS i(id, from_status, status, state_times, result, error, canceled_by, deadline_at, sent_at, accepted_at, completed_at)
        WHERE c.id = i.id AND c.status = i.from_status
       RETURNING c.id`,
      [
        changes.map((c) => c.to.id),
        changes.map((c) => c.from.status),
        changes.map((c) => c.to.status),
        changes.map((c) => JSON.stringify(c.to.stateTimes)),
        changes.map((c) => (c.to.result !== undefined ? JSON.stringify(c.to.result) : null)),
        changes.map((c) => (c.to.error !== undefined ? JSON.stringify(c.to.error) : null)),
        changes.map((c) => c.to.canceledBy ?? null),
        changes.map((c) => {
          const d = deadlineOf(c.to);
          return d === null ? null : new Date(d.at);
        }),
        changes.map((c) => timeOf(c.to, 'SENT')),
        changes.map((c) => timeOf(c.to, 'ACCEPTED')),
        changes.map((c) => (isFinalStatus(c.to.status) ? timeOf(c.to, c.to.status) : null)),
      ],
    );
    return new Set(out.map((r) => r.id));
  }

  function afterTransitions(steps: Array<{ from: CommandStatus; to: Row }>): void {
    const fleets = new Set<string>();
    for (const { from, to: c } of steps) {
      metrics.inc(TRANSITIONS_METRIC, { status: c.status });
      bus.publish('commandUpdated', {
        commandId: c.id,
        deviceUuid: c.deviceUuid,
        deviceId: c.deviceId,
        tenantId: c.tenantId,
        fleetCommandId: c.fleetCommandId,
        from,
        status: c.status,
        at: c.stateTimes[c.status] ?? now(),
      });
      if (c.fleetCommandId) fleets.add(c.fleetCommandId);
    }
    if (fleets.size > 0) fleetProgressWorker.kick([...fleets]);
  }

  // ------------------------------------------------------------------------------------------
  // Coalescing workers: kicks that arrive while a round runs are handled by the next round.
  // ------------------------------------------------------------------------------------------

  function coalescing<T>(name: string, round: (items: T[]) => Promise<void>) {
    const dirty = new Set<T>();
    let running: Promise<void> | null = null;
    async function loop(): Promise<void> {
      try {
        while (dirty.size > 0) {
          const items = [...dirty];
          dirty.clear();
          try {
            await round(items);
          } catch (error) {
            logger.error({ err: error, worker: name }, 'command worker round failed');
          }
        }
      } finally {
        running = null;
      }
    }
    return {
      kick(items: Iterable<T>): void {
        for (const i of items) dirty.add(i);
        if (!running && dirty.size > 0) running = loop();
      },
      async idle(): Promise<void> {
        while (running) await running;
      },
    };
  }

  // ------------------------------------------------------------------------------------------
  // Delivery
  // ------------------------------------------------------------------------------------------

  /** Devices (ids) whose next round should also redeliver SENT commands (they reconnected). */
  const redeliverSent = new Set<string>();

  async function deliverRound(deviceIds: string[]): Promise<void> {
    // Taken before the read: an `online` that arrives while this round runs must leave its flag for the
    // next round (which it kicked), or a command this round publishes before the device subscribed
    // would never be sent again.
    const redeliver = new Set(deviceIds.filter((id) => redeliverSent.delete(id)));
    const t = now();
    // Only devices whose current session announced `online` (subscribed): a command published between
    // CONNECT and SUBSCRIBE would be lost, and would have to be sent again (a duplicate) on `online`.
    const raw = await db.sql.query<RawRow>(
      `${SELECT_ROWS}
        WHERE d."deviceId" = ANY($1::text[]) AND d.connected AND d."commandsReadyAt" IS NOT NULL AND c.status IN ('PENDING', 'SENT')
        ORDER BY c."deviceId", c."createdAt", c.seq`,
      [deviceIds],
    );
    const byDevice = new Map<string, Row[]>();
    for (const r of raw.map(toRow)) {
      let list = byDevice.get(r.deviceId);
      if (!list) byDevice.set(r.deviceId, (list = []));
      list.push(r);
    }
    // A redelivery is for SENT commands the broker may have lost with an earlier session: those sent
    // before this session said `online`. One sent after it went to a subscribed session — e.g. by a
    // round that started between the `online` being stored and its redelivery flag being set.
    const lostWithEarlierSession = (c: Row) => c.status !== 'SENT' || (c.stateTimes.SENT ?? 0) < (c.deviceReadyAt ?? 0);
    const ordered = [...byDevice].map(([deviceId, rows]) =>
      deliveryOrder(rows, t, { includeSent: redeliver.has(deviceId) }).filter(lostWithEarlierSession),
    );
    // Claim before publishing: PENDING → SENT is stored first, guarded on PENDING, so of two instances
    // (or a round racing a cancel, an expiry or an early ack) exactly one publishes each command.
    const claimed = new Set(
      (await transitionRows(ordered.flat().filter((c) => c.status === 'PENDING'), () => commandEvents.published(), t)).map((c) => c.id),
    );
    const unpublished: Row[] = [];
    await Promise.all(
      ordered.map(async (commands) => {
        for (const [i, c] of commands.entries()) {
          // A redelivery (SENT, the device reconnected) or our claim; a PENDING command another round claimed is theirs.
          if (c.status === 'PENDING' && !claimed.has(c.id)) continue;
          const message: CommandMessage = { name: c.name, params: c.params, expiresAt: c.expiresAt ?? null };
          try {
            await options.publish(topics.command(c.deviceId, c.id), JSON.stringify(message));
          } catch (error) {
            // Released back to PENDING with the rest of this device's claims: the sweeper tries again,
            // and later commands wait, so order holds.
            logger.warn({ err: error, deviceId: c.deviceId, commandId: c.id }, 'publishing a command failed');
            unpublished.push(...commands.slice(i).filter((r) => claimed.has(r.id)));
            break;
          }
        }
      }),
    );
    if (unpublished.length > 0) await releaseClaims(unpublished);
  }

  /** Undoes claims whose publish failed (SENT → PENDING, guarded on SENT: an ack meanwhile wins). */
  async function releaseClaims(rows: Row[]): Promise<void> {
    const released = await db.sql.query<{ id: string }>(
      `UPDATE "Command" c
          SET status = 'PENDING', "stateTimes" = c."stateTimes" - 'SENT', "sentAt" = NULL, "deadlineAt" = i.deadline_at, "updatedAt" = now()
         FROM unnest($1::uuid[], $2::timestamptz[]) AS i(id, deadline_at)
        WHERE c.id = i.id AND c.status = 'SENT'
       RETURNING c.id`,
      [
        rows.map((r) => r.id),
        rows.map((r) => {
          const d = deadlineOf(r);
          return d === null ? null : new Date(d.at);
        }),
      ],
    );
    const ids = new Set(released.map((r) => r.id));
    afterTransitions(rows.filter((r) => ids.has(r.id)).map((r) => ({ from: 'SENT' as const, to: r })));
  }

  const delivery = coalescing<string>('delivery', deliverRound);

  // ------------------------------------------------------------------------------------------
  // Fleet progress
  // ------------------------------------------------------------------------------------------

  async function progressOf(fleetIds: string[]): Promise<Map<string, FleetProgress>> {
    const rows = await db.sql.query<{ fleetCommandId: string; status: CommandStatus; n: number }>(
      `SELECT "fleetCommandId", status, count(*)::int AS n FROM "Command" WHERE "fleetCommandId" = ANY($1::uuid[]) GROUP BY 1, 2`,
      [fleetIds],
    );
    const counts = new Map<string, Partial<Record<CommandStatus, number>>>(fleetIds.map((id) => [id, {}]));
    for (const r of rows) counts.get(r.fleetCommandId)![r.status] = Number(r.n);
    return new Map([...counts].map(([id, c]) => [id, fromCounts(c)]));
  }

  const fleetTenants = new Map<string, string>();
  const fleetProgressWorker = coalescing<string>('fleet-progress', async (fleetIds) => {
    const progress = await progressOf(fleetIds);
    const missing = fleetIds.filter((id) => !fleetTenants.has(id));
    if (missing.length > 0) {
      const rows = await db.sql.query<{ id: string; tenantId: string }>(`SELECT id, "tenantId" FROM "FleetCommand" WHERE id = ANY($1::uuid[])`, [missing]);
      for (const r of rows) fleetTenants.set(r.id, r.tenantId);
    }
    const at = now();
    for (const [id, p] of progress) {
      const tenantId = fleetTenants.get(id);
      if (tenantId) bus.publish('fleetProgress', { fleetCommandId: id, tenantId, progress: p, at });
      if (p.finished) fleetTenants.delete(id);
    }
  });

  // ------------------------------------------------------------------------------------------
  // Creating commands
  // ------------------------------------------------------------------------------------------

  function paramIssues(params: unknown): { params: JsonObject; issues: FieldIssue[] } {
    const value = params ?? {};
    if (!isPlainObject(value)) return { params: {}, issues: [{ path: ['input', 'params'], code: 'INVALID_TYPE', message: 'params must be a JSON object' }] };
    if (Buffer.byteLength(JSON.stringify(value)) > config.maxParamsBytes) {
      return { params: value, issues: [{ path: ['input', 'params'], code: 'TOO_LARGE', message: `params must serialize to at most ${config.maxParamsBytes} bytes` }] };
    }
    return { params: value, issues: [] };
  }

  function ttlIssues(ttlMs: number | null | undefined): FieldIssue[] {
    if (ttlMs == null) return [];
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_DURATION_MS) {
      return [{ path: ['input', 'ttlMs'], code: 'OUT_OF_RANGE', message: `ttlMs must be 1–${MAX_DURATION_MS}` }];
    }
    return [];
  }

  /** Validates `name` + `params` against a compiled model; paths under `input`. */
  function commandIssues(model: CompiledModel | undefined, modelName: string | null, name: string, params: JsonObject) {
    const command = model?.command(name);
    if (!command) {
      const message = modelName ? `device model ${JSON.stringify(modelName)} declares no command ${JSON.stringify(name)}` : 'the device has no model, so it accepts no commands';
      return { command: undefined, issues: [{ path: ['input', 'name'], code: 'UNKNOWN_COMMAND', message }] };
    }
    const issues = command.validate(params).map((i) => ({ ...i, path: ['input', 'params', ...i.path] }));
    return { command, issues };
  }

  async function findByKey(deviceUuid: string, key: string): Promise<string | undefined> {
    const rows = await db.sql.query<{ id: string }>(`SELECT id FROM "Command" WHERE "deviceId" = $1 AND "idempotencyKey" = $2`, [deviceUuid, key]);
    return rows[0]?.id;
  }

  /** Validates and stores a command, then hands it to delivery. Resolves with its id once it is stored. */
  async function send(requester: Requester, input: SendCommandInput): Promise<{ id: string; created: boolean }> {
    const device = await db.prisma.device.findFirst({
      where: { tenantId: requester.tenantId, deviceId: input.deviceId },
      select: { id: true, connected: true, modelId: true, model: { select: { name: true, version: true } } },
    });
    if (!device) throw new NotFoundError('Device', input.deviceId);
    const { params, issues } = paramIssues(input.params);
    issues.push(...ttlIssues(input.ttlMs));
    const key = input.idempotencyKey ?? null;
    if (key !== null && (key.length < 1 || key.length > 128)) {
      issues.push({ path: ['input', 'idempotencyKey'], code: 'INVALID_LENGTH', message: 'idempotencyKey must be 1–128 characters' });
    }
    const model = device.modelId && device.model ? await models.compiledOne(device.modelId, device.model.version) : undefined;
    const checked = commandIssues(model, device.model?.name ?? null, input.name, params);
    if (issues.length === 0) issues.push(...checked.issues);
    else if (checked.issues.length > 0 && !issues.some((i) => i.path[1] === 'params')) issues.push(...checked.issues);
    if (issues.length > 0) {
      metrics.inc(COMMANDS_METRIC, { kind: 'invalid' });
      throw new ValidationError('invalid command', issues);
    }
    const definition = checked.command!.definition;

    // A retry with the same key is answered before the rate limit: it creates nothing.
    if (key !== null) {
      const existing = await findByKey(device.id, key);
      if (existing) {
        metrics.inc(COMMANDS_METRIC, { kind: 'idempotent_replay' });
        return { id: existing, created: false };
      }
    }
    const t = now();
    const windowStart = new Date(t - config.rateWindowMs);
    const [recent] = await db.sql.query<{ n: number; oldest: Date | string | null }>(
      `SELECT count(*)::int AS n, min("createdAt") AS oldest FROM "Command"
        WHERE "deviceId" = $1 AND "createdAt" > $2 AND "fleetCommandId" IS NULL`,
      [device.id, windowStart],
    );
    if (recent && Number(recent.n) >= config.rateLimit) {
      const retryAfterMs = Math.max(1, (ms(recent.oldest) ?? t) + config.rateWindowMs - t);
      metrics.inc(COMMANDS_METRIC, { kind: 'rate_limited' });
      throw new RateLimitedError(input.deviceId, config.rateLimit, config.rateWindowMs, retryAfterMs);
    }

    const ttl = input.ttlMs ?? definition.ttlMs ?? null;
    const expiresAt = ttl === null ? null : new Date(t + ttl);
    const rows = await db.sql.query<{ id: string }>(
      `INSERT INTO "Command" (id, "tenantId", "deviceId", name, params, "modelVersion", status, "idempotencyKey", "requestedBy", "requestedById",
                              "timeoutMs", "expiresAt", "deadlineAt", "stateTimes", "createdAt", "updatedAt")
       VALUES (gen_random_uuid(), $1, $2, $3, $4::jsonb, $5, 'PENDING', $6, $7, $8, $9, $10, $10, $11::jsonb, $12, $12)
       ON CONFLICT ("deviceId", "idempotencyKey") DO NOTHING
       RETURNING id`,
      [
        requester.tenantId,
        device.id,
        input.name,
        JSON.stringify(params),
        device.model!.version,
        key,
        requester.name,
        requester.tokenId,
        definition.timeoutMs ?? null,
        expiresAt,
        JSON.stringify({ PENDING: t }),
        new Date(t),
      ],
    );
    if (rows.length === 0) {
      // A concurrent request with the same key won the unique index: answer with its command.
      metrics.inc(COMMANDS_METRIC, { kind: 'idempotent_replay' });
      return { id: (await findByKey(device.id, key!))!, created: false };
    }
    const id = rows[0]!.id;
    metrics.inc(COMMANDS_METRIC, { kind: 'single' });
    bus.publish('commandUpdated', {
      commandId: id,
      deviceUuid: device.id,
      deviceId: input.deviceId,
      tenantId: requester.tenantId,
      fleetCommandId: null,
      from: null,
      status: 'PENDING',
      at: t,
    });
    if (device.connected) delivery.kick([input.deviceId]);
    return { id, created: true };
  }

  /**
   * One command per target device, validated per device model (all or nothing), created with one
   * statement. Fleet members are not rate limited.
   */
  async function sendFleet(
    requester: Requester,
    input: { name: string; params?: unknown; ttlMs?: number | null },
    targets: FleetTarget[],
    targetPath: string[],
  ): Promise<string> {
    const { params, issues } = paramIssues(input.params);
    issues.push(...ttlIssues(input.ttlMs));
    if (targets.length === 0) issues.push({ path: targetPath, code: 'NO_DEVICES', message: 'the fleet command targets no device' });
    if (targets.length > config.maxFleetSize) {
      issues.push({ path: targetPath, code: 'TOO_MANY', message: `a fleet command may target at most ${config.maxFleetSize} devices (got ${targets.length})` });
    }
    const keys = new Map<string, { modelId: string; version: number; name: string; devices: FleetTarget[] }>();
    const noModel: FleetTarget[] = [];
    for (const d of targets) {
      if (!d.modelId || d.modelVersion === null) {
        noModel.push(d);
        continue;
      }
      const key = `${d.modelId}@${d.modelVersion}`;
      let group = keys.get(key);
      if (!group) keys.set(key, (group = { modelId: d.modelId, version: d.modelVersion, name: d.modelName ?? '', devices: [] }));
      group.devices.push(d);
    }
    if (noModel.length > 0) {
      const sample = noModel.slice(0, 5).map((d) => d.deviceId).join(', ');
      issues.push({ path: targetPath, code: 'UNKNOWN_COMMAND', message: `${noModel.length} device(s) have no model, so they accept no commands: ${sample}` });
    }
    const compiled = await models.compiled([...keys.values()].map((g) => ({ modelId: g.modelId, version: g.version })));
    const definitions = new Map<string, NonNullable<ReturnType<CompiledModel['command']>>['definition']>();
    if (issues.length === 0 || !issues.some((i) => i.path[1] === 'params')) {
      for (const [key, group] of keys) {
        const checked = commandIssues(compiled.get(key), group.name, input.name, params);
        const label = `model ${JSON.stringify(group.name)} v${group.version} (${group.devices.length} device(s))`;
        for (const i of checked.issues) issues.push({ ...i, message: `${label}: ${i.message}` });
        if (checked.command) definitions.set(key, checked.command.definition);
      }
    }
    if (issues.length > 0) {
      metrics.inc(COMMANDS_METRIC, { kind: 'invalid_fleet' });
      throw new ValidationError('invalid fleet command', issues);
    }

    const t = now();
    const members = targets.map((d) => {
      const key = `${d.modelId}@${d.modelVersion}`;
      const definition = definitions.get(key)!;
      const ttl = input.ttlMs ?? definition.ttlMs ?? null;
      return { d, timeoutMs: definition.timeoutMs ?? null, expiresAt: ttl === null ? null : new Date(t + ttl) };
    });
    const rows = await db.sql.query<{ fleetId: string; id: string; deviceUuid: string }>(
      `WITH f AS (
         INSERT INTO "FleetCommand" (id, "tenantId", name, params, "requestedBy", "requestedById", "createdAt")
         VALUES (gen_random_uuid(), $1, $2, $3::jsonb, $4, $5, $6) RETURNING id
       ), c AS (
         INSERT INTO "Command" (id, "tenantId", "deviceId", "fleetCommandId", name, params, "modelVersion", status, "requestedBy", "requestedById",
                                "timeoutMs", "expiresAt", "deadlineAt", "stateTimes", "createdAt", "updatedAt")
         SELECT gen_random_uuid(), $1, m.device_uuid, f.id, $2, $3::jsonb, m.model_version, 'PENDING', $4, $5, m.timeout_ms, m.expires_at, m.expires_at,
                $7::jsonb, $6, $6
           FROM f, unnest($8::uuid[], $9::int[], $10::int[], $11::timestamptz[]) WITH ORDINALITY AS m(device_uuid, model_version, timeout_ms, expires_at, n)
          ORDER BY m.n
         RETURNING id, "deviceId", "fleetCommandId"
       )
       SELECT c."fleetCommandId" AS "fleetId", c.id, c."deviceId" AS "deviceUuid" FROM c`,
      [
        requester.tenantId,
        input.name,
        JSON.stringify(params),
        requester.name,
        requester.tokenId,
        new Date(t),
        JSON.stringify({ PENDING: t }),
        members.map((m) => m.d.uuid),
        members.map((m) => m.d.modelVersion),
        members.map((m) => m.timeoutMs),
        members.map((m) => m.expiresAt),
      ],
    );
    const fleetId = rows[0]!.fleetId;
    fleetTenants.set(fleetId, requester.tenantId);
    const deviceIdOf = new Map(targets.map((d) => [d.uuid, d.deviceId]));
    for (const r of rows) {
      bus.publish('commandUpdated', {
        commandId: r.id,
        deviceUuid: r.deviceUuid,
        deviceId: deviceIdOf.get(r.deviceUuid) ?? '',
        tenantId: requester.tenantId,
        fleetCommandId: fleetId,
        from: null,
        status: 'PENDING',
        at: t,
      });
    }
    metrics.inc(COMMANDS_METRIC, { kind: 'fleet' }, members.length);
    logger.info({ fleetCommandId: fleetId, devices: members.length, name: input.name }, 'fleet command created');
    fleetProgressWorker.kick([fleetId]);
    // Delivery checks `connected` itself; kicking every member keeps this one round.
    delivery.kick(members.map((m) => m.d.deviceId));
    return fleetId;
  }

  // ------------------------------------------------------------------------------------------
  // Acks, cancel, deadlines
  // ------------------------------------------------------------------------------------------

  function ignored(reason: string, fields: Record<string, unknown>, message: string): void {
    metrics.inc(ACKS_IGNORED_METRIC, { reason });
    // Debug only: the bridge logs refused device messages throttled per device.
    logger.debug({ ...fields, reason }, message);
  }

  async function recordRefusal(row: Row, reason: string, event: CommandEvent, at: number): Promise<void> {
    await db.sql.query(
      `UPDATE "Command" SET refusals = refusals || $2::jsonb WHERE id = $1 AND jsonb_array_length(refusals) < $3`,
      [row.id, JSON.stringify([{ reason, from: row.status, event, at }]), MAX_REFUSALS_KEPT],
    );
  }

  interface AckItem {
    deviceId: string;
    commandId: string;
    ack: CommandAck;
    receivedAt: number;
  }

  /**
   * Acks of one batch: one SELECT for every command they name, the state machine in memory (several
   * acks for one command chain in arrival order), one guarded UPDATE. Commands another writer moved
   * meanwhile are re-read and their acks re-decided.
   */
  async function processAcks(items: AckItem[]): Promise<AckOutcome[]> {
    const out: AckOutcome[] = new Array(items.length);
    let todo: number[] = [];
    items.forEach((item, i) => {
      if (UUID.test(item.commandId)) todo.push(i);
      else out[i] = { ok: false, reason: 'UNKNOWN_COMMAND', message: 'no such command' };
    });
    for (let attempt = 0; todo.length > 0; attempt++) {
      const loaded = new Map((await loadByIds([...new Set(todo.map((i) => items[i]!.commandId))])).map((r) => [r.id, r]));
      const working = new Map<string, Row>();
      const steps: Array<{ from: CommandStatus; to: Row }> = [];
      const refusals: Array<{ i: number; row: Row; event: CommandEvent }> = [];
      const decided = new Map<number, AckOutcome>();
      for (const i of todo) {
        const item = items[i]!;
        const base = working.get(item.commandId) ?? loaded.get(item.commandId);
        if (!base) {
          decided.set(i, { ok: false, reason: 'UNKNOWN_COMMAND', message: 'no such command' });
          continue;
        }
        if (base.deviceId !== item.deviceId) {
          decided.set(i, { ok: false, reason: 'OTHER_DEVICE', message: 'the command belongs to another device' });
          continue;
        }
        const event = commandEvents.deviceAck(item.ack.status, item.ack.result, item.ack.error);
        const result = transition(base, event, item.receivedAt);
        if (!result.ok) {
          decided.set(i, { ok: false, reason: result.reason, message: result.message });
          refusals.push({ i, row: base, event });
        } else {
          if (result.changed) {
            working.set(item.commandId, result.command);
            steps.push({ from: base.status, to: result.command });
          }
          decided.set(i, { ok: true, status: result.command.status });
        }
      }
      const changes = [...working].map(([id, to]) => ({ from: loaded.get(id)!, to }));
      const updated = changes.length > 0 ? await writeTransitions(changes) : new Set<string>();
      const conflicted = new Set(changes.filter((c) => !updated.has(c.to.id)).map((c) => c.to.id));
      if (conflicted.size > 0 && attempt >= MAX_ATTEMPTS) throw new Error(`command acks kept conflicting: ${[...conflicted].join(', ')}`);
      afterTransitions(steps.filter((s) => !conflicted.has(s.to.id)));
      const retry: number[] = [];
      for (const i of todo) {
        if (conflicted.has(items[i]!.commandId)) retry.push(i);
        else out[i] = decided.get(i)!;
      }
      for (const r of refusals) if (!conflicted.has(r.row.id)) await recordRefusal(r.row, (out[r.i] as { reason: string }).reason, r.event, items[r.i]!.receivedAt);
      todo = retry;
    }
    items.forEach((item, i) => {
      const o = out[i]!;
      if (!o.ok) ignored(o.reason, { deviceId: item.deviceId, commandId: item.commandId, ack: item.ack.status }, `command ack ignored: ${o.message}`);
    });
    return out;
  }

  const acks = new SerialBatcher<AckItem, AckOutcome>({ maxBatch: 2000, maxPending: 20_000, flush: processAcks });

  /** A device's ack. Never throws for bad input: the outcome says what happened, and refusals are recorded and counted. */
  function handleAck(deviceId: string, commandId: string, ack: CommandAck, receivedAt: number): Promise<AckOutcome> {
    return acks.submit({ deviceId, commandId, ack, receivedAt });
  }

  /** Cancels a command that has not been delivered. Canceling a canceled command returns it unchanged. */
  async function cancel(requester: Requester, commandId: string): Promise<string> {
    const [row] = UUID.test(commandId) ? await loadByIds([commandId]) : [];
    if (!row || row.tenantId !== requester.tenantId) throw new NotFoundError('Command', commandId);
    let refusal: { reason: string; message: string; status: CommandStatus } | undefined;
    await transitionRows([row], () => commandEvents.cancel(`${requester.name} (${requester.tokenId})`), now(), (r, reason, message) => {
      refusal = { reason, message, status: r.status };
    });
    if (refusal && refusal.reason !== 'DUPLICATE') {
      throw new CommandStateError(commandId, refusal.status, `only commands not yet delivered can be canceled; this one is ${refusal.status}`);
    }
    return row.id;
  }

  // ------------------------------------------------------------------------------------------
  // Sweeper
  // ------------------------------------------------------------------------------------------

  let sweeping = false;
  async function sweep(): Promise<void> {
    if (sweeping) return;
    sweeping = true;
    try {
      const t = now();
      // Deadlines: expiries and timeouts that are due, oldest first, bounded per tick.
      for (;;) {
        const due = (
          await db.sql.query<RawRow>(
            `${SELECT_ROWS} WHERE c."deadlineAt" <= $1 AND c.status IN ('PENDING', 'SENT', 'ACCEPTED') ORDER BY c."deadlineAt" LIMIT 1000`,
            [new Date(t)],
          )
        ).map(toRow);
        if (due.length === 0) break;
        const events = new Map(dueEvents(due, t).map((e) => [e.command.id, e.event]));
        const stored = await transitionRows(
          due.filter((r) => events.has(r.id)),
          (r) => events.get(r.id) ?? commandEvents.expire(t),
          t,
        );
        if (stored.length === 0 || due.length < 1000) break;
      }
      // Undelivered commands of connected devices: after a restart (an external broker keeps devices
      // connected through it) or a failed publish.
      const waiting = await db.sql.query<{ deviceId: string }>(
        `SELECT DISTINCT d."deviceId" FROM "Command" c JOIN "Device" d ON d.id = c."deviceId"
          WHERE c.status = 'PENDING' AND d.connected AND d."commandsReadyAt" IS NOT NULL LIMIT 10000`,
      );
      if (waiting.length > 0) delivery.kick(waiting.map((w) => w.deviceId));
    } catch (error) {
      logger.error({ err: error }, 'command sweep failed');
    } finally {
      sweeping = false;
    }
  }

  let timer: NodeJS.Timeout | undefined;

  return {
    send,
    sendFleet,
    handleAck,
    cancel,
    progressOf: async (fleetId: string) => (await progressOf([fleetId])).get(fleetId)!,
    /** A device connected: deliver what waits for it (redelivering SENT commands its broker session may have lost). */
    onConnected(deviceId: string): void {
      redeliverSent.add(deviceId);
      delivery.kick([deviceId]);
    },
    sweep,
    /** Starts the sweeper (and sweeps once at once, for what a previous run left). */
    start(): void {
      if (timer) return;
      void sweep();
      timer = setInterval(() => void sweep(), config.sweepIntervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = undefined;
      while (sweeping) await new Promise((r) => setTimeout(r, 5));
      await acks.drain();
      await delivery.idle();
      await fleetProgressWorker.idle();
    },
  };
}

export type CommandService = ReturnType<typeof createCommandService>;
export type { Config };
