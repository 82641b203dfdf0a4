/**
 * Device acks, in batches: one SELECT for every command a batch names, the state machine in memory
 * (several acks for one command chain in arrival order), one guarded UPDATE. Commands another writer
 * moved meanwhile are re-read and their acks re-decided. Refusals are values: recorded on the command,
 * counted and logged at debug level, never thrown. A statement that fails deterministically is narrowed
 * down to the acks that fail alone (../poison.ts): only those fail (the bridge dead-letters them).
 */
import { trace, type Link, type Tracer } from '@opentelemetry/api';
import {
  commandEvents,
  transition,
  type AckStatus,
  type CommandEvent,
  type CommandStatus,
  type TransitionReason,
} from '../../domain/commands/state-machine.ts';
import { DoppelError, failed, type Failed } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { JsonValue } from '../../domain/twin.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { BATCH_DEVICES_ATTRIBUTE, BATCH_ITEMS_ATTRIBUTE, linkFromTraceparent, TRACER_NAME, withSpan } from '../../tracing/index.ts';
import { isolateFailures, ItemFailure } from '../poison.ts';
import { SerialBatcher } from '../serial-batcher.ts';
import { createStoreRetry, type Backoff, type StoreRecovery } from '../store-retry.ts';
import type { CommandRow, CommandStore, StoredStep } from './store.ts';
import { throwIfStillConflicting, type CommandTransitions } from './transitions.ts';

export const ACKS_IGNORED_METRIC = 'doppel_command_acks_ignored_total';
/** The span of one batch of device acks; it links to the span that sent each acked command. */
export const ACK_BATCH_SPAN = 'doppel.commands.acks';
/** On each link of an ack batch's span: the command the link's span sent. */
export const ACK_LINK_COMMAND_ATTRIBUTE = 'doppel.command.id';

/** What a device says about a command (the MQTT contract's parsed ack is one). */
export interface DeviceAck {
  status: AckStatus;
  /** Any JSON; stored as given. */
  result?: JsonValue;
  error?: JsonValue;
}

/** Why an ack was not taken: the command is unknown or another device's, or the lifecycle refuses it. */
export type AckRefusalCode = 'UNKNOWN_COMMAND' | 'OTHER_DEVICE' | TransitionReason | 'INVALID_INPUT';

export class AckRefusedError extends DoppelError {
  declare readonly code: AckRefusalCode;
  constructor(code: AckRefusalCode, message: string) {
    super(code, message);
  }
}

export type AckOutcome = { ok: true; status: CommandStatus } | Failed<AckRefusedError>;

export interface AckProcessor {
  /** Queues a device's ack for the next batch and resolves with its outcome. */
  handleAck(deviceId: string, commandId: string, ack: DeviceAck, receivedAt: number): Promise<AckOutcome>;
  /** Resolves once every queued ack is processed; from now on a transient failure is not retried (shutdown). */
  drain(): Promise<void>;
}

export interface AckOptions {
  store: CommandStore;
  transitions: CommandTransitions;
  metrics: Metrics;
  logger: Logger;
  /** Back-off between retries of a statement that failed transiently. Default 50 ms doubling to 2 s. */
  retryBackoff?: Backoff;
  /** The process's shared store recovery (../store-retry.ts): wakes held writes when the database answers. */
  recovery?: StoreRecovery | undefined;
  /** Spans for ack batches (src/tracing/index.ts); the no-op tracer when absent. */
  tracer?: Tracer | undefined;
}

interface AckItem {
  deviceId: string;
  commandId: string;
  ack: DeviceAck;
  receivedAt: number;
}

const unknownCommand = () => failed(new AckRefusedError('UNKNOWN_COMMAND', 'no such command'));

export function createAckProcessor(options: AckOptions): AckProcessor {
  const { store, transitions, metrics, logger } = options;
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  // Each statement is held through transient database failures (one statement: safe to run again; a
  // transition that did commit reads as a conflict next time and is re-decided).
  const held = createStoreRetry({ kind: 'command-acks', logger, metrics, backoff: options.retryBackoff, recovery: options.recovery });

  async function processAcks(items: AckItem[]): Promise<Array<AckOutcome | ItemFailure>> {
    const out = new Array<AckOutcome | ItemFailure | undefined>(items.length);
    const todo: number[] = [];
    items.forEach((item, i) => {
      if (isUuid(item.commandId)) todo.push(i);
      else out[i] = unknownCommand();
    });
    await isolateFailures(
      todo,
      out,
      (indices) => decideAndWrite(items, indices, out),
      (i, error) =>
        logger.warn(
          { err: error, deviceId: items[i]!.deviceId, commandId: items[i]!.commandId },
          'command ack fails alone: poison, the rest of its batch is stored',
        ),
    );
    items.forEach((item, i) => {
      const o = out[i]!;
      if (o instanceof ItemFailure || o.ok) return;
      metrics.inc(ACKS_IGNORED_METRIC, { reason: o.error.code });
      // Debug only: the bridge logs refused device messages throttled per device.
      logger.debug(
        { deviceId: item.deviceId, commandId: item.commandId, ack: item.ack.status, reason: o.error.code },
        `command ack ignored: ${o.error.message}`,
      );
    });
    return out as Array<AckOutcome | ItemFailure>;
  }

  /** Decides and writes the acks at `indices`; each outcome is set once its transition is stored. */
  async function decideAndWrite(items: AckItem[], indices: number[], out: Array<AckOutcome | ItemFailure | undefined>): Promise<void> {
    let todo = indices;
    for (let attempt = 0; todo.length > 0; attempt++) {
      const loaded = new Map((await held.run(() => store.loadByIds([...new Set(todo.map((i) => items[i]!.commandId))]))).map((r) => [r.id, r]));
      // The commands' sending spans, read with them from the database, so the trace of a sendCommand
      // reaches its ack whichever instance took it and however many restarts lay between.
      if (attempt === 0) trace.getActiveSpan()?.addLinks(sendingSpanLinks(loaded.values()));
      const working = new Map<string, CommandRow>();
      const steps: StoredStep[] = [];
      const refusals: Array<{ i: number; row: CommandRow; event: CommandEvent }> = [];
      const decided = new Map<number, AckOutcome>();
      for (const i of todo) {
        const item = items[i]!;
        const base = working.get(item.commandId) ?? loaded.get(item.commandId);
        if (!base) {
          decided.set(i, unknownCommand());
          continue;
        }
        if (base.deviceId !== item.deviceId) {
          decided.set(i, failed(new AckRefusedError('OTHER_DEVICE', 'the command belongs to another device')));
          continue;
        }
        const event = commandEvents.deviceAck(item.ack.status, item.ack.result, item.ack.error);
        const result = transition(base, event, item.receivedAt);
        if (!result.ok) {
          decided.set(i, failed(new AckRefusedError(result.reason, result.message)));
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
      const updated = await held.run(() => store.writeTransitions(changes));
      const conflicted = new Set(changes.filter((c) => !updated.has(c.to.id)).map((c) => c.to.id));
      throwIfStillConflicting(attempt, conflicted, 'command acks');
      transitions.announce(steps.filter((s) => !conflicted.has(s.to.id)));
      const retry: number[] = [];
      for (const i of todo) {
        if (conflicted.has(items[i]!.commandId)) retry.push(i);
        else out[i] = decided.get(i)!;
      }
      for (const r of refusals) {
        if (conflicted.has(r.row.id)) continue; // re-decided in the next attempt
        const outcome = out[r.i]!;
        if (!(outcome instanceof ItemFailure) && !outcome.ok)
          await held.run(() => store.recordRefusal(r.row, outcome.error.code, r.event, items[r.i]!.receivedAt));
      }
      todo = retry;
    }
  }

  const batcher = new SerialBatcher<AckItem, AckOutcome>({
    maxBatch: 2000,
    maxPending: 20_000,
    // A root span: the batch holds many devices' acks; each command's sending span is a link.
    flush: (items) =>
      withSpan(
        tracer,
        ACK_BATCH_SPAN,
        { root: true, attributes: { [BATCH_DEVICES_ATTRIBUTE]: new Set(items.map((i) => i.deviceId)).size, [BATCH_ITEMS_ATTRIBUTE]: items.length } },
        () => processAcks(items),
      ),
  });

  return {
    handleAck: (deviceId, commandId, ack, receivedAt) => batcher.submit({ deviceId, commandId, ack, receivedAt }),
    drain() {
      // Shutdown: acks the database is unavailable for fail with UnavailableError (left unacknowledged over MQTT).
      held.stop();
      return batcher.drain();
    },
  };
}

function sendingSpanLinks(rows: Iterable<CommandRow>): Link[] {
  const links: Link[] = [];
  for (const row of rows) {
    const link = linkFromTraceparent(row.traceparent, { [ACK_LINK_COMMAND_ATTRIBUTE]: row.id });
    if (link) links.push(link);
  }
  return links;
}
