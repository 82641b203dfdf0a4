/**
 * Presence after a crash of the embedded broker. Its sessions die with the process, so every device
 * the database still shows connected at the next start is connected only on paper. The devices that
 * come back within the grace window (set to 1.5 × their keepalive) simply reconnect; the others are
 * marked offline once the window has passed, with the same events as any disconnect
 * (src/services/devices/broker.ts `disconnectStale`). Waiting first avoids an offline/online flap for
 * every device of a farm that reconnects within seconds of a restart.
 *
 * Runs once per start; a transient database failure is retried every `retryMs` until it succeeds or
 * the server stops. Nothing needs to be durable: a crash before the sweep leaves the same stale rows,
 * which the next start sweeps.
 */
import { isTransientFailure } from '../domain/faults.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

export const STALE_PRESENCE_METRIC = 'doppel_presence_stale_cleared_total';

export interface StalePresenceSweep {
  /** Schedules the sweep of devices not seen since `brokerStartedAt`, `graceMs` from now. Once. */
  start(brokerStartedAt: Date): void;
  /** Cancels a sweep not run yet and waits for one in flight. */
  stop(): Promise<void>;
}

export interface StalePresenceOptions {
  disconnectStale(asOf: Date): Promise<number>;
  graceMs: number;
  retryMs?: number;
  logger: Logger;
  metrics?: Metrics;
}

export function createStalePresenceSweep(options: StalePresenceOptions): StalePresenceSweep {
  const { logger, metrics, graceMs, retryMs = 5000 } = options;
  metrics?.describe(
    STALE_PRESENCE_METRIC,
    'Devices marked offline after a start because they were still marked connected from before it and did not reconnect in MQTT_PRESENCE_GRACE_S.',
  );
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let started = false;

  function schedule(asOf: Date, delayMs: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = sweep(asOf).finally(() => (running = undefined));
    }, delayMs);
    timer.unref();
  }

  async function sweep(asOf: Date): Promise<void> {
    try {
      const cleared = await options.disconnectStale(asOf);
      metrics?.inc(STALE_PRESENCE_METRIC, {}, cleared);
      if (cleared > 0)
        logger.info({ cleared, graceS: graceMs / 1000 }, 'marked offline the devices still shown connected from before the start that did not reconnect');
    } catch (error) {
      if (!isTransientFailure(error)) return logger.error({ err: error }, 'stale presence sweep failed');
      logger.warn({ err: error }, 'stale presence sweep: database unavailable, retrying');
      schedule(asOf, retryMs);
    }
  }

  return {
    start(brokerStartedAt) {
      if (started) return;
      started = true;
      schedule(brokerStartedAt, graceMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
