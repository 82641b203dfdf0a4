/**
 * Durable commands (docs/commands.md): validated against the device's model before they are stored, stored
 * before they are published (outbox), published QoS 1 to connected devices in creation order, and moved
 * through their lifecycle by the pure state machine (src/domain/commands/state-machine.ts).
 *
 * Every state change is one guarded, set-based UPDATE (`WHERE status = <the state the transition was
 * computed from>`): a row that moved meanwhile (an ack racing the SENT mark, another instance) is
 * re-read and re-decided, so nothing is lost or applied twice. Deadlines live in the indexed
 * `deadlineAt` column and a sweeper drives them from the database, so a restart loses nothing.
 *
 * The parts, each in its own file:
 *   store.ts        rows: loading, mapping, guarded lifecycle writes
 *   transitions.ts  state machine → guarded writes → `commandUpdated` events
 *   validation.ts   params, TTL, idempotency key and model checks of new commands
 *   send.ts, send-fleet.ts, cancel.ts   what API callers ask for, audited
 *   delivery.ts     delivery rounds through the CommandOutbox port, ordered, redelivery on reconnect
 *   acks.ts         device acks in batches → transitions, refusals as values
 *   fleet.ts        fleet progress events
 *   sweeper.ts      expiries, timeouts and delivery retries, periodically
 */
import type { Tracer } from '@opentelemetry/api';
import type { CommandsConfig } from '../../config.ts';
import type { Database } from '../../db/client.ts';
import type { FleetProgress } from '../../domain/commands/fleet.ts';
import type { Actor } from '../../domain/principal.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { AuditLog } from '../audit.ts';
import type { ModelService } from '../models.ts';
import { eventsWrittenCounter } from '../outbox/fanout.ts';
import type { StoreRecovery } from '../store-retry.ts';
import { ACKS_IGNORED_METRIC, createAckProcessor, type AckOutcome, type DeviceAck } from './acks.ts';
import { createCancel } from './cancel.ts';
import { createDelivery, type CommandOutbox } from './delivery.ts';
import { createFleetProgress } from './fleet.ts';
import type { FleetCommandInput, SendCommandInput } from './requests.ts';
import { COMMANDS_METRIC, createSend, type SentCommand } from './send.ts';
import { createSendFleet, type FleetSelection } from './send-fleet.ts';
import { createCommandStore } from './store.ts';
import { createSweeper } from './sweeper.ts';
import { createTransitions, TRANSITIONS_METRIC } from './transitions.ts';
import { createCommandValidation } from './validation.ts';

export { ACKS_IGNORED_METRIC, AckRefusedError, type AckOutcome, type AckRefusalCode, type DeviceAck } from './acks.ts';
export type { CommandOutbox, OutboundCommand } from './delivery.ts';
export type { FleetCommandInput, SendCommandInput } from './requests.ts';
export type { FleetSelection } from './send-fleet.ts';
export { COMMANDS_METRIC, type SentCommand } from './send.ts';
export { TRANSITIONS_METRIC } from './transitions.ts';

export interface CommandService {
  /**
   * Validates a command for one device of the actor's tenant, stores it PENDING and hands it to
   * delivery; resolves once it is stored. A known idempotency key answers with the earlier command
   * (`created: false`) and stores nothing. Audited as `command.send` either way.
   * Throws NotFoundError (no such device), ValidationError (nothing stored) or RateLimitedError.
   */
  send(actor: Actor, input: SendCommandInput): Promise<SentCommand>;
  /**
   * One command to each selected device of the actor's tenant, validated per device model (all or
   * nothing: ValidationError, also for ids that name no device), created with one statement; resolves
   * with the fleet command's id. Fleet members are not rate limited. Audited as `command.send` on the fleet.
   */
  sendFleet(actor: Actor, input: FleetCommandInput, selection: FleetSelection): Promise<string>;
  /**
   * Cancels a command that has not been delivered; resolves with its id. Canceling a canceled command
   * returns it unchanged. Audited as `command.cancel`. Throws NotFoundError (not in the actor's tenant)
   * or CommandStateError (already delivered or final).
   */
  cancel(actor: Actor, commandId: string): Promise<string>;
  /**
   * A device's ack, batched with others. Never throws for bad input: a refusal (unknown command,
   * another device's, or one the lifecycle forbids) is the outcome, and is also recorded on the command
   * and counted.
   */
  handleAck(deviceId: string, commandId: string, ack: DeviceAck, receivedAt: number): Promise<AckOutcome>;
  /** The progress of a fleet command, read now (an unknown id counts no members). */
  progressOf(fleetId: string): Promise<FleetProgress>;
  /** A device subscribed (`online`): deliver what waits for it, redelivering SENT commands its broker session may have lost. */
  onConnected(deviceId: string): void;
  /** One sweep now (expiries, timeouts, delivery retries); resolves at once when one is running. */
  sweep(): Promise<void>;
  /** Starts the sweeper, which sweeps at once for what a previous run left, then every `sweepIntervalMs`. */
  start(): void;
  /** Stops the sweeper and waits for queued acks, delivery rounds and fleet progress to finish. */
  stop(): Promise<void>;
}

export interface CommandServiceOptions {
  db: Database;
  bus: EventBus;
  logger: Logger;
  metrics: Metrics;
  models: Pick<ModelService, 'compiled' | 'compiledOne'>;
  config: CommandsConfig;
  /** Where commands leave for their devices (MQTT in the server). */
  outbox: CommandOutbox;
  /** Where `send`, `sendFleet` and `cancel` record what their actor did. */
  audit: Pick<AuditLog, 'record'>;
  /** The process's shared store recovery (../store-retry.ts): wakes held ack writes when the database answers. */
  recovery?: StoreRecovery;
  /** Spans for ack batches, linked to the spans that sent the commands (src/tracing/index.ts). */
  tracer?: Tracer;
  now?: () => number;
}

export function createCommandService(options: CommandServiceOptions): CommandService {
  const { db, bus, logger, metrics, config, audit } = options;
  const now = options.now ?? Date.now;
  metrics.describe(
    COMMANDS_METRIC,
    'sendCommand / sendFleetCommand outcomes, by kind (single, fleet members, idempotent_replay, invalid, invalid_fleet, rate_limited).',
  );
  metrics.describe(ACKS_IGNORED_METRIC, 'Command acks (and other events) ignored, by reason.');
  metrics.describe(TRANSITIONS_METRIC, 'Stored command transitions, by target status.');

  const countEvents = eventsWrittenCounter(metrics);
  const store = createCommandStore(db, countEvents);
  const fleetProgress = createFleetProgress({ db, bus, logger, now });
  const transitions = createTransitions({ store, bus, metrics, now, fleetsChanged: (ids) => fleetProgress.kick(ids) });
  const delivery = createDelivery({ store, transitions, outbox: options.outbox, logger, now });
  const acks = createAckProcessor({ store, transitions, metrics, logger, recovery: options.recovery, tracer: options.tracer });
  const sweeper = createSweeper({ store, transitions, delivery, logger, intervalMs: config.sweepIntervalMs, now });
  const validation = createCommandValidation({ models: options.models, config });

  return {
    send: createSend({ db, store, validation, transitions, delivery, audit, metrics, config, now, countEvents }),
    sendFleet: createSendFleet({ db, validation, transitions, delivery, fleetProgress, audit, metrics, logger, config, now, countEvents }),
    cancel: createCancel({ store, transitions, audit, now }),
    handleAck: (deviceId, commandId, ack, receivedAt) => acks.handleAck(deviceId, commandId, ack, receivedAt),
    progressOf: async (fleetId) => (await fleetProgress.progressOf([fleetId])).get(fleetId)!,
    onConnected: (deviceId) => delivery.onConnected(deviceId),
    sweep: () => sweeper.sweep(),
    start: () => sweeper.start(),
    async stop() {
      await sweeper.stop();
      await acks.drain();
      await delivery.idle();
      await fleetProgress.idle();
    },
  };
}
