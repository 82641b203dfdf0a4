/**
 * Holding on through a database outage: runs a store operation, and while it fails transiently
 * (src/domain/faults.ts) retries it with capped exponential back-off and jitter until it succeeds. A
 * deterministic failure is rethrown at once: retrying it would only fail again. Once `stop()` is called
 * (shutdown), a transient failure is no longer retried: the operation rejects with `UnavailableError`,
 * which the transports answer by leaving the message unacknowledged, so the broker redelivers it.
 *
 * One outage is logged twice (when it starts and when it ends), not once per retry; each retry is
 * counted in `doppel_store_retries_total{kind}`.
 */
import { isTransientFailure, UnavailableError } from '../domain/faults.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

export const STORE_RETRIES_METRIC = 'doppel_store_retries_total';

export interface Backoff {
  /** The first delay, ms; each further one doubles. */
  initialMs: number;
  /** The longest delay, ms. */
  maxMs: number;
}

/** 50 ms doubling to 2 s: a blip costs little latency, a long outage one attempt per 2 s per writer. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 50, maxMs: 2000 };

export interface StoreRetry {
  /**
   * Runs `attempt` until it succeeds, retrying transient failures (see the module comment). Resolves
   * with its result; rejects with a deterministic error as it came, or with `UnavailableError` after `stop()`.
   *
   * @param onTransient called after each transient failure, before waiting (e.g. to forget cached state).
   */
  run<T>(attempt: () => Promise<T>, onTransient?: (error: unknown) => void): Promise<T>;
  /** Shutdown: stop waiting and retrying; runs held now, and transient failures from now on, reject with `UnavailableError`. */
  stop(): void;
  /** Whether a transient failure is being held right now (the store is down as far as we know). */
  readonly holding: boolean;
}

export interface StoreRetryOptions {
  /** What is being stored, for the metric label and the log (e.g. 'telemetry', 'twins'). */
  kind: string;
  logger: Logger;
  metrics: Metrics;
  backoff?: Backoff;
  now?: () => number;
}

export function describeStoreRetryMetrics(metrics: Metrics): void {
  metrics.describe(STORE_RETRIES_METRIC, 'Store writes retried after a transient database failure (the messages were held, not acknowledged), by kind.');
}

export function createStoreRetry(options: StoreRetryOptions): StoreRetry {
  const { kind, logger, metrics } = options;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const now = options.now ?? Date.now;
  describeStoreRetryMetrics(metrics);
  let stopped = false;
  /** Runs currently failing transiently; the outage is over when the last of them succeeds. */
  let failing = 0;
  let outageStartedAt = 0;
  let outageRetries = 0;
  const wakers = new Set<() => void>();

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });
  }

  function enterOutage(error: unknown): void {
    if (failing++ > 0) return;
    outageStartedAt = now();
    outageRetries = 0;
    logger.warn({ err: error, kind }, 'database unavailable: holding writes unacknowledged and retrying until it is back');
  }

  function leaveOutage(): void {
    if (--failing > 0) return;
    logger.info({ kind, outageMs: now() - outageStartedAt, retries: outageRetries }, 'database back: held writes stored');
  }

  return {
    async run(attempt, onTransient) {
      let inOutage = false;
      try {
        for (let retry = 0; ; retry++) {
          try {
            const result = await attempt();
            if (inOutage) {
              inOutage = false;
              leaveOutage();
            }
            return result;
          } catch (error) {
            if (!isTransientFailure(error)) throw error;
            onTransient?.(error);
            if (stopped) throw new UnavailableError(`the database is unavailable (${kind} left unacknowledged)`, { cause: error });
            if (!inOutage) {
              inOutage = true;
              enterOutage(error);
            }
            outageRetries++;
            metrics.inc(STORE_RETRIES_METRIC, { kind });
            const ceiling = Math.min(backoff.initialMs * 2 ** Math.min(retry, 30), backoff.maxMs);
            // Full jitter on the upper half: writers that failed together do not retry in lockstep.
            await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
          }
        }
      } finally {
        if (inOutage) leaveOutageQuietly();
      }
    },
    stop() {
      stopped = true;
      for (const wake of [...wakers]) wake();
    },
    get holding() {
      return failing > 0;
    },
  };

  /** A run given up (shutdown, or a deterministic error after transient ones) no longer counts towards the outage. */
  function leaveOutageQuietly(): void {
    failing--;
  }
}
