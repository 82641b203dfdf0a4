/**
 * A command service on a real database, without MQTT or GraphQL: commands leave through a recording
 * CommandOutbox, the audit log is the real one, and the clock is the test's.
 */
import { loadConfig, type CommandsConfig } from '../../../src/config.ts';
import type { Database } from '../../../src/db/client.ts';
import type { CommandStatus } from '../../../src/domain/commands/state-machine.ts';
import { actorOf, systemActor, type Actor } from '../../../src/domain/principal.ts';
import { createEventBus, type CommandUpdatedEvent, type FleetProgressEvent } from '../../../src/events/bus.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { createCommandService, type CommandOutbox, type OutboundCommand } from '../../../src/services/commands/index.ts';
import { createModelService } from '../../../src/services/models.ts';
import { uniqueDeviceId } from '../../support/harness.ts';
import { until } from '../../support/commands.ts';

export { until };

export const TOASTER = [
  {
    name: 'toast',
    params: { type: 'object', properties: { power: { type: 'integer', minimum: 0, maximum: 100 } }, required: ['power'] },
    timeoutMs: 60_000,
  },
  { name: 'eject', params: {}, ttlMs: 5_000 },
];

/** An operator's token, as `actorOf` makes an Actor of it. */
export const operator: Actor = actorOf({
  tokenId: '00000000-0000-4000-8000-000000000001',
  tenantId: 'default',
  role: 'operator',
  name: 'ops',
  expiresAt: null,
});

/** A CommandOutbox that records what it is handed; `failFor` makes deliveries to a device reject. */
export function recordingOutbox() {
  const delivered: OutboundCommand[] = [];
  const failing = new Set<string>();
  const outbox: CommandOutbox = {
    async deliver(command) {
      if (failing.has(command.deviceId)) throw new Error('broker unavailable (simulated)');
      delivered.push(command);
    },
  };
  return {
    outbox,
    delivered,
    to: (deviceId: string) => delivered.filter((c) => c.deviceId === deviceId),
    failFor: (deviceId: string) => void failing.add(deviceId),
    recover: (deviceId: string) => void failing.delete(deviceId),
  };
}

export function commandsFixture(db: Database, options: { config?: Partial<CommandsConfig>; clock?: { now: number } } = {}) {
  const logger = createLogger('silent');
  const metrics = new Metrics();
  const bus = createEventBus();
  const updates: CommandUpdatedEvent[] = [];
  const progress: FleetProgressEvent[] = [];
  void (async () => {
    for await (const e of bus.subscribe('commandUpdated')) updates.push(e);
  })();
  void (async () => {
    for await (const e of bus.subscribe('fleetProgress')) progress.push(e);
  })();
  const audit = createAuditLog({ prisma: db.prisma, logger });
  const models = createModelService({ db, logger, audit });
  const outbox = recordingOutbox();
  const clock = options.clock;
  const service = createCommandService({
    db,
    bus,
    logger,
    metrics,
    models,
    config: { ...loadConfig({}).commands, ...options.config },
    outbox: outbox.outbox,
    audit,
    ...(clock ? { now: () => clock.now } : {}),
  });

  return {
    service,
    metrics,
    outbox,
    updates,
    progress,

    /** A model that declares TOASTER's commands (or `commands`); returns its name. */
    async createModel(commands: unknown[] = TOASTER): Promise<{ id: string; name: string }> {
      const name = uniqueDeviceId('model');
      const id = await models.create(systemActor('default', 'test'), { name, commands: commands as never });
      return { id, name };
    },

    /** A device of the default tenant; `online` = connected and subscribed (announced `online`). */
    async createDevice(modelId: string | null, state: { online?: boolean } = {}) {
      const deviceId = uniqueDeviceId('cmd');
      const d = await db.prisma.device.create({
        data: { deviceId, secretHash: 'x', modelId, twin: { create: {} }, ...(state.online ? { connected: true, commandsReadyAt: new Date() } : {}) },
      });
      return { deviceId, uuid: d.id };
    },

    /** The device connected and announced `online`; the service is told, as the bridge would. */
    async comeOnline(deviceId: string) {
      await db.prisma.device.update({ where: { deviceId }, data: { connected: true, commandsReadyAt: new Date() } });
      service.onConnected(deviceId);
    },

    async goOffline(deviceId: string) {
      await db.prisma.device.update({ where: { deviceId }, data: { connected: false, commandsReadyAt: null } });
    },

    command: (id: string) => db.prisma.command.findUniqueOrThrow({ where: { id } }),
    commandsOf: (uuid: string) => db.prisma.command.findMany({ where: { deviceId: uuid }, orderBy: [{ createdAt: 'asc' }, { seq: 'asc' }] }),
    auditOf: (target: string) => db.prisma.auditEvent.findMany({ where: { target }, orderBy: { id: 'asc' } }),

    async waitForStatus(id: string, status: CommandStatus) {
      let last: string | undefined;
      await until(
        async () => (last = (await db.prisma.command.findUniqueOrThrow({ where: { id } })).status) === status,
        `command ${id} to be ${status} (is ${last})`,
      );
    },
  };
}
