/**
 * The last step of a batch, run in take order once its write is done: count it, announce what was
 * newly stored (the live bus for subscribers, best effort; the `telemetryStored` hook for processing,
 * exactly once per committed batch; the `telemetryReceipts` hook for the seq cursors), and answer each message's ticket — which, over MQTT, sends the
 * PUBACK. A device whose points the store refused gets STORE_REFUSED; a batch the database was
 * unavailable for at shutdown rejects its tickets with `UnavailableError` (no PUBACK: redelivered).
 */
import { failed } from '../../domain/errors.ts';
import { UnavailableError } from '../../domain/faults.ts';
import { TelemetryRefusedError, type IngestOutcome } from '../../domain/telemetry/ingest-outcome.ts';
import type { Batch } from '../../domain/telemetry/batcher.ts';
import type { EventBus } from '../../events/bus.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { DomainHooks } from '../hooks.ts';
import type { StoredBatch } from './batch-store.ts';
import { TELEMETRY_BATCHES_METRIC, TELEMETRY_POINTS_METRIC } from './metric-names.ts';

/** One message on its way through the pipeline: whose it is, and how to answer its caller. */
export interface Ticket {
  deviceId: string;
  points: number;
  resolve(outcome: IngestOutcome): void;
  reject(error: unknown): void;
}

/** How a batch's write ended: what it stored, or why it could not. */
export type WriteOutcome = { ok: true; result: StoredBatch } | { ok: false; error: unknown };

export interface BatchSettler {
  /** Accounts for a written (or failed) batch and answers its tickets. Call once per batch, in take order. */
  settle(batch: Batch<Ticket>, written: WriteOutcome): void;
}

function outcomeOf(deviceId: string, points: number, result: StoredBatch): IngestOutcome {
  if (result.missing.has(deviceId)) return failed(new TelemetryRefusedError('DEVICE_NOT_FOUND', `device ${deviceId} does not exist`));
  const refusal = result.refused.get(deviceId);
  if (result.refused.has(deviceId)) {
    const why = refusal instanceof Error ? refusal.message : String(refusal);
    return failed(new TelemetryRefusedError('STORE_REFUSED', `the store refuses the points of device ${deviceId}: ${why}`));
  }
  return { ok: true, points };
}

export interface BatchSettlerOptions {
  bus: EventBus;
  hooks: Pick<DomainHooks, 'telemetryStored' | 'telemetryReceipts'>;
  logger: Logger;
  metrics: Metrics;
}

export function createBatchSettler(options: BatchSettlerOptions): BatchSettler {
  const { bus, hooks, logger, metrics } = options;
  return {
    settle(batch, written) {
      if (!written.ok) {
        // UnavailableError at shutdown: the transports leave these messages unacknowledged, so the broker
        // redelivers them. Anything else is a bug of ours; the messages fail.
        const unavailable = written.error instanceof UnavailableError;
        metrics.inc(TELEMETRY_BATCHES_METRIC, { result: unavailable ? 'unavailable' : 'failed' });
        const context = { err: written.error, points: batch.points.length, messages: batch.tickets.length };
        if (unavailable) logger.warn(context, 'telemetry batch not stored (database unavailable at shutdown); left unacknowledged');
        else logger.error(context, 'telemetry batch could not be stored');
        for (const ticket of batch.tickets) ticket.reject(written.error);
        return;
      }
      const { result } = written;
      metrics.inc(TELEMETRY_BATCHES_METRIC, { result: 'stored' });
      metrics.inc(TELEMETRY_POINTS_METRIC, { result: 'stored' }, result.stored);
      metrics.inc(TELEMETRY_POINTS_METRIC, { result: 'duplicate' }, result.duplicates);
      metrics.inc(TELEMETRY_POINTS_METRIC, { result: 'dropped' }, result.dropped);
      if (result.refusedPoints > 0) metrics.inc(TELEMETRY_POINTS_METRIC, { result: 'refused' }, result.refusedPoints);
      for (const [deviceId, error] of result.refused) logger.error({ err: error, deviceId }, 'telemetry refused: the store rejects these points even alone');
      for (const event of result.events) bus.publish('telemetry', event);
      if (result.events.length > 0) hooks.telemetryStored.emit({ at: result.at, devices: result.events });
      for (const ticket of batch.tickets) ticket.resolve(outcomeOf(ticket.deviceId, ticket.points, result));
      // After the commit, one per device per batch (docs/telemetry.md "Receipts").
      if (result.receipts.size > 0) hooks.telemetryReceipts.emit({ at: result.at, cursors: result.receipts });
    },
  };
}
