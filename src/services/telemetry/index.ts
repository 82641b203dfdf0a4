/**
 * Telemetry ingestion (docs/telemetry.md): parsed messages go into the pure TelemetryBatcher, and batches are
 * written with ONE set-based statement each (`unnest` arrays; points and latest values together). Each
 * message carries a ticket that settles once its batch is stored; the bridge awaits it, so a QoS 1 PUBACK
 * follows the store.
 *
 * The parts, in the order a message meets them:
 * - pipeline.ts: batching schedule, concurrent writes settled in take order, backpressure, drain;
 * - batch-store.ts: one batch's write, held through outages (../store-retry.ts), deterministic
 *   failures isolated to the devices that cause them, and what became of each point;
 *   - device-resolver.ts: device id → uuid and tenant, cached, re-resolved after deletes;
 *   - writer.ts: the one statement per batch;
 * - settle.ts: metrics, the live bus, the `telemetryStored` and `telemetryReceipts` hooks, and the messages' answers.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import type { TelemetryConfig } from '../../config.ts';
import type { SqlExecutor } from '../../db/client.ts';
import { failed } from '../../domain/errors.ts';
import { TelemetryRefusedError, type IngestOutcome } from '../../domain/telemetry/ingest-outcome.ts';
import { DEFAULT_TELEMETRY_LIMITS, parseTelemetry, type TelemetryLimits } from '../../domain/telemetry/message.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { BATCH_DEVICES_ATTRIBUTE, BATCH_ITEMS_ATTRIBUTE, TRACER_NAME, withSpan } from '../../tracing/index.ts';
import type { DomainHooks } from '../hooks.ts';
import { eventsWrittenCounter } from '../outbox/fanout.ts';
import { createSubscriptionFlag } from '../outbox/fanout-subscribed.ts';
import { createStoreRetry, type Backoff, type StoreRecovery } from '../store-retry.ts';
import { createBatchStore, type BatchStore } from './batch-store.ts';
import { createDeviceResolver } from './device-resolver.ts';
import { describeTelemetryMetrics } from './metric-names.ts';
import { createTelemetryPipeline } from './pipeline.ts';
import { createBatchSettler, type Ticket } from './settle.ts';
import { createTelemetryWriter } from './writer.ts';
import { createLatencyMetrics, TELEMETRY_PENDING_METRIC, timed } from '../latency-metrics.ts';

export type { IngestOutcome, TelemetryIngestError, TelemetryRefusalCode } from '../../domain/telemetry/ingest-outcome.ts';
export { TELEMETRY_BACKPRESSURE_METRIC, TELEMETRY_BATCHES_METRIC, TELEMETRY_POINTS_METRIC } from './metric-names.ts';
export { arrayLiteral, textArrayLiteral } from './sql-arrays.ts';

export interface TelemetryService {
  /**
   * Parses one `devices/{id}/telemetry` payload and stores it. Resolves once the message's points are
   * stored (or refused: a parse error with its path, DEVICE_NOT_FOUND, STORE_REFUSED when the store
   * rejects the device's points even alone, OVERLOADED after waiting `backpressureTimeoutMs` for room,
   * SHUTTING_DOWN after `drain`). While the database is unavailable it waits, however long: it never
   * answers before the points are stored. Rejects with `UnavailableError` when `drain` finds the
   * database unavailable: the caller must then leave the message unacknowledged.
   *
   * @param receivedAt the receive time, epoch ms: the points' ts when the device sent none.
   */
  ingest(deviceId: string, payload: string | Uint8Array, receivedAt: number): Promise<IngestOutcome>;
  /**
   * Writes everything accepted so far, then refuses new messages, and waits until the
   * `telemetryStored` listeners have seen every stored batch (graceful shutdown, before the database
   * closes).
   */
  drain(): Promise<void>;
  /** Points waiting or being written (for tests and metrics). */
  readonly pendingPoints: number;
}

export interface TelemetryServiceOptions {
  sql: SqlExecutor;
  bus: EventBus;
  /**
   * `telemetryStored` is emitted once per committed batch that stored new points; `telemetryReceipts`
   * once per committed batch whose messages carried `seq`.
   */
  hooks: Pick<DomainHooks, 'telemetryStored' | 'telemetryReceipts'>;
  logger: Logger;
  metrics: Metrics;
  config: TelemetryConfig;
  /** Largest payload, in bytes (the MQTT payload limit). */
  maxPayloadBytes: number;
  now?: () => number;
  /** Back-off between retries of a write that failed transiently (store-retry.ts). Default 50 ms doubling to 2 s. */
  retryBackoff?: Backoff;
  /** The process's shared store recovery (../store-retry.ts): wakes held writes when the database answers. */
  recovery?: StoreRecovery;
  /** Spans for stored batches (src/tracing/index.ts); the no-op tracer when absent. */
  tracer?: Tracer;
}

/** The span of one telemetry batch as it is stored. */
export const TELEMETRY_BATCH_SPAN = 'doppel.telemetry.batch';

/** The batch store with a root span per batch: a batch carries many devices' messages and belongs to none of them. */
function tracedBatchStore(store: BatchStore, tracer: Tracer): BatchStore {
  return {
    store: (points) =>
      withSpan(
        tracer,
        TELEMETRY_BATCH_SPAN,
        { root: true, attributes: { [BATCH_DEVICES_ATTRIBUTE]: new Set(points.map((p) => p.device)).size, [BATCH_ITEMS_ATTRIBUTE]: points.length } },
        () => store.store(points),
      ),
  };
}

export function createTelemetryService(options: TelemetryServiceOptions): TelemetryService {
  const { sql, bus, hooks, logger, metrics, config } = options;
  const now = options.now ?? Date.now;
  const limits: TelemetryLimits = {
    maxBytes: Math.min(options.maxPayloadBytes, config.maxMessageBytes),
    maxDepth: DEFAULT_TELEMETRY_LIMITS.maxDepth,
    maxValuesPerMessage: config.maxValuesPerMessage,
    maxBatchEntries: config.maxBatchEntries,
    maxFutureSkewMs: config.maxFutureSkewMs,
  };
  describeTelemetryMetrics(metrics);
  const retry = createStoreRetry({ kind: 'telemetry', logger, metrics, backoff: options.retryBackoff, now, recovery: options.recovery });
  // telemetry.stored events join the tuned statement only while an endpoint subscribes (docs/outbox.md).
  const subscribed = createSubscriptionFlag(sql, 'telemetry.stored');
  const writer = createTelemetryWriter(sql, { eventsWanted: () => subscribed.current(), countEvents: eventsWrittenCounter(metrics) });
  const latency = createLatencyMetrics(metrics);
  const traced = tracedBatchStore(
    createBatchStore({ resolver: createDeviceResolver(sql), writer, retry, now }),
    options.tracer ?? trace.getTracer(TRACER_NAME),
  );
  const store: BatchStore = {
    store: (points) =>
      timed(
        () => traced.store(points),
        (seconds, outcome) => latency.batchWrite('telemetry', seconds, outcome),
      ),
  };
  const settler = createBatchSettler({ bus, hooks, logger, metrics });
  const pipeline = createTelemetryPipeline({ config, store, settler, logger, metrics, now });
  latency.watchBacklog(TELEMETRY_PENDING_METRIC, () => pipeline.pendingPoints);

  return {
    async ingest(deviceId, payload, receivedAt) {
      const parsed = parseTelemetry(payload, receivedAt, limits);
      if (!parsed.ok) return parsed;
      let ticket!: Ticket;
      const stored = new Promise<IngestOutcome>((resolve, reject) => {
        ticket = { deviceId, points: parsed.points.length, resolve, reject };
      });
      const admitted = await pipeline.admit(deviceId, parsed.points, ticket);
      if (admitted === 'accepted')
        return stored.then((outcome) => {
          if (outcome.ok) latency.publishToStored('telemetry', (now() - receivedAt) / 1000);
          return outcome;
        });
      if (admitted === 'closed') return failed(new TelemetryRefusedError('SHUTTING_DOWN', 'the server is shutting down'));
      return failed(new TelemetryRefusedError('OVERLOADED', `no room for ${parsed.points.length} points within ${config.backpressureTimeoutMs} ms`));
    },

    async drain() {
      // Shutdown: a write the database is unavailable for now is not waited for; its messages stay
      // unacknowledged (the tickets reject with UnavailableError) and the broker redelivers them.
      retry.stop();
      await pipeline.drain();
      await Promise.all([hooks.telemetryStored.drain(), hooks.telemetryReceipts.drain()]);
    },

    get pendingPoints() {
      return pipeline.pendingPoints;
    },
  };
}
