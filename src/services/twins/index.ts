/**
 * The twin service: applies twin patches and reads twins in arrival order, in batches. One SELECT loads
 * every twin a batch touches (loader.ts), the pure reducer merges in memory (merge.ts), one statement
 * writes all twins and their change-log rows (writer.ts), and what was stored is announced
 * (announce.ts). Writes are guarded by the row's `revision`, so two instances handling the same device
 * never lose an update: the loser reloads and re-merges (batch.ts).
 */
import { trace, type Tracer } from '@opentelemetry/api';
import type { TwinLimits } from '../../domain/twin.ts';
import type { SqlExecutor } from '../../db/client.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import { BATCH_DEVICES_ATTRIBUTE, BATCH_ITEMS_ATTRIBUTE, TRACER_NAME, withSpan } from '../../tracing/index.ts';
import type { Actor } from '../../domain/principal.ts';
import type { AuditLog } from '../audit.ts';
import type { DomainHooks } from '../hooks.ts';
import { eventsWrittenCounter } from '../outbox/fanout.ts';
import { SerialBatcher } from '../serial-batcher.ts';
import { createFailFastStore, createStoreRetry, type Backoff, type StoreRecovery } from '../store-retry.ts';
import { createTwinAnnouncer } from './announce.ts';
import { createTwinBatchProcessor } from './batch.ts';
import { createDesiredStateUpdater, type DesiredUpdate, type UpdateDesiredOutcome } from './desired.ts';
import { createTwinLoader } from './loader.ts';
import {
  deviceIdOf,
  type DeltaListener,
  type GetOutcome,
  type PatchOutcome,
  type PatchRequest,
  type TwinDelta,
  type TwinOp,
  type TwinOpOutcome,
  type TwinSchemaSource,
} from './types.ts';
import { createTwinWriter } from './writer.ts';
import { createLatencyMetrics, timed, TWIN_PENDING_METRIC } from '../latency-metrics.ts';

export type { DesiredUpdate, UpdateDesiredOutcome } from './desired.ts';
export type { DeltaListener, GetOutcome, PatchError, PatchOutcome, PatchRequest, TwinDelta, TwinSchemaSource, TwinSection, TwinSnapshot } from './types.ts';

export interface TwinService {
  /**
   * Merges a patch into a twin section (the bridge: a device's `reported`). Resolves once the change is
   * stored and published live (`twinsStored` listeners run after that); refusals (unknown device, stale
   * `ifVersion`, bad patch, model schema) come back as `Failed` and leave the twin untouched.
   */
  applyPatch(request: PatchRequest): Promise<PatchOutcome>;
  /**
   * The API's desired-state write: only a device of the actor's tenant, issue paths under `patch`, and
   * an audit entry (`twin.updateDesired`) for every accepted patch.
   */
  updateDesired(actor: Actor, update: DesiredUpdate): Promise<UpdateDesiredOutcome>;
  /** Reads a twin in order with pending writes (what `twin/get` must answer). */
  get(deviceId: string): Promise<GetOutcome>;
  /** The stored delta of a device (handed over on connect); null when there is no such device. */
  readDelta(deviceId: string): Promise<TwinDelta | null>;
  /** Adds a listener called after each commit that changed a device's delta. */
  onDeltaChanged(listener: DeltaListener): void;
  /** Waits for queued operations to be written and their `twinsStored` batches delivered (graceful shutdown). */
  drain(): Promise<void>;
  /** Operations waiting to be written. */
  readonly pending: number;
}

export interface TwinServiceOptions {
  sql: SqlExecutor;
  bus: EventBus;
  /** `twinsStored` is emitted once per committed write, with exactly the changes it stored. */
  hooks: Pick<DomainHooks, 'twinsStored'>;
  /** Where `updateDesired` records what the API changed. */
  audit: AuditLog;
  limits: TwinLimits;
  logger: Logger;
  /** Counts the retries of writes held through database outages. */
  metrics: Metrics;
  /** Back-off between retries of a statement that failed transiently. Default 50 ms doubling to 2 s. */
  retryBackoff?: Backoff;
  /** The process's shared store recovery (../store-retry.ts): wakes held writes when the database answers. */
  recovery?: StoreRecovery;
  /** Largest number of operations written in one statement. */
  maxBatch?: number;
  /** Operations allowed to wait before submitters are held back. */
  maxPending?: number;
  now?: () => number;
  /** Typed twins: the merged document of a section must satisfy the device model's schema for it. */
  schemas?: TwinSchemaSource;
  /** Spans for device batches (src/tracing/index.ts); the no-op tracer when absent. */
  tracer?: Tracer;
}

/** The span of one batch of devices' twin messages (reports and gets), as it is stored. */
export const TWIN_BATCH_SPAN = 'doppel.twins.batch';

export function createTwinService(options: TwinServiceOptions): TwinService {
  const { sql, limits, logger } = options;
  const now = options.now ?? Date.now;
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  const loader = createTwinLoader({ sql, schemas: options.schemas });
  const announcer = createTwinAnnouncer({ bus: options.bus, hooks: options.hooks, logger });
  const retry = createStoreRetry({ kind: 'twins', logger, metrics: options.metrics, backoff: options.retryBackoff, now, recovery: options.recovery });
  const writer = createTwinWriter(sql, eventsWrittenCounter(options.metrics));
  const processor = createTwinBatchProcessor({ loader, writer, announcer, limits, logger, retry, now });
  const latency = createLatencyMetrics(options.metrics);
  const batcher = new SerialBatcher<TwinOp, TwinOpOutcome>({
    maxBatch: options.maxBatch ?? 1000,
    maxPending: options.maxPending ?? 20_000,
    // A root span: a batch serves many devices' messages, none of which it belongs to.
    flush: (ops) =>
      withSpan(
        tracer,
        TWIN_BATCH_SPAN,
        { root: true, attributes: { [BATCH_DEVICES_ATTRIBUTE]: new Set(ops.map(deviceIdOf)).size, [BATCH_ITEMS_ATTRIBUTE]: ops.length } },
        () =>
          timed(
            () => processor.process(ops),
            (seconds, outcome) => latency.batchWrite('twin', seconds, outcome),
          ),
      ),
  });
  // The API's writes are batched apart and never held: during an outage a device's message stays
  // unacknowledged (the broker keeps it), but an API caller gets UNAVAILABLE at once rather than a
  // request that hangs for the outage. The rows' revision guard keeps the two batchers from losing each
  // other's updates, as it does between instances.
  const apiProcessor = createTwinBatchProcessor({
    loader,
    writer,
    announcer,
    limits,
    logger,
    retry: createFailFastStore('twin update', options.recovery),
    now,
  });
  const apiBatcher = new SerialBatcher<TwinOp, TwinOpOutcome>({
    maxBatch: options.maxBatch ?? 1000,
    maxPending: options.maxPending ?? 20_000,
    flush: (ops) => apiProcessor.process(ops),
  });

  function applyPatch(request: PatchRequest): Promise<PatchOutcome> {
    const receivedAt = now();
    if (request.source === 'api') return apiBatcher.submit({ kind: 'patch', request, receivedAt }) as Promise<PatchOutcome>;
    return (batcher.submit({ kind: 'patch', request, receivedAt }) as Promise<PatchOutcome>).then((outcome) => {
      if (outcome.ok) latency.publishToStored('twin', (now() - receivedAt) / 1000);
      return outcome;
    });
  }
  latency.watchBacklog(TWIN_PENDING_METRIC, () => batcher.pending + apiBatcher.pending);
  const desired = createDesiredStateUpdater({ sql, audit: options.audit, applyPatch, recovery: options.recovery });

  return {
    applyPatch,
    updateDesired: desired.updateDesired,
    get: (deviceId) => batcher.submit({ kind: 'get', deviceId }) as Promise<GetOutcome>,
    readDelta: loader.readDelta,
    onDeltaChanged: announcer.onDeltaChanged,
    async drain() {
      // Shutdown: ops the database is unavailable for fail with UnavailableError (left unacknowledged over MQTT).
      retry.stop();
      await Promise.all([batcher.drain(), apiBatcher.drain()]);
      await announcer.drain();
    },
    get pending() {
      return batcher.pending + apiBatcher.pending;
    },
  };
}
