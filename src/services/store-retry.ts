/**
 * Holding on through a database outage: runs a store operation, and while it fails transiently
 * (src/domain/faults.ts) retries it with capped exponential back-off and jitter until it succeeds. A
 * deterministic failure is rethrown at once: retrying it would only fail again. Once `stop()` is called
 * (shutdown), a transient failure is no longer retried: the operation rejects with `UnavailableError`,
 * which the transports answer by leaving the message unacknowledged, so the broker redelivers it.
 *
 * One outage is logged twice (when it starts and when it ends), not once per retry; each retry is
 * counted in `doppel_store_retries_total{kind}`.
 *
 * Recovery is immediate: the back-off only paces retries against a database that does not answer. The
 * retries of one process share a {@link StoreRecovery}: while any of them is held, ONE prober asks the
 * database a trivial question every `probeIntervalMs`, and the moment it answers every waiting retry is
 * woken, so held writes resume within a probe interval of the database's return instead of after the
 * rest of a 2 s back-off. A down database thus sees one probe per interval plus the backed-off retries.
 */
import { isDiskFull, isTransientFailure, UnavailableError } from '../domain/faults.ts';
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
  /** The process's shared prober (see the module comment). Without one, retries wait out their back-off. */
  recovery?: StoreRecovery;
}

/**
 * What the store retries of one process share: whether any of them is holding (the database is down as
 * far as the writers know, for readiness), and one prober that wakes them all when the database answers.
 */
export interface StoreRecovery {
  /** Whether any retry sharing this recovery is holding a transient failure right now. */
  readonly holding: boolean;
  /** A retry started holding, after `error` (its first transient failure). */
  enter(error?: unknown): void;
  /**
   * The error to answer an API caller with while writes are held: UNAVAILABLE, saying the disk is
   * full when that is why (the last failure that started an outage).
   */
  unavailable(what: string): UnavailableError;
  /** A retry stopped holding (it succeeded, or gave up). */
  leave(): void;
  /**
   * Waits `ms`, or less: resolves as soon as the prober sees the database answer, or at `stop()`.
   * While anyone waits (and until `stop()`), the prober runs.
   */
  wait(ms: number): Promise<void>;
  /** Shutdown: wakes every waiter once and stops probing; later waits last their whole `ms`. */
  stop(): void;
}

export interface StoreRecoveryOptions {
  /** Resolves when the database answers, rejects (or resolves false) when it does not; it must be bounded in time. */
  probe?: () => Promise<boolean>;
  /** Pause between probes while someone waits. Default 200 ms. */
  probeIntervalMs?: number;
  /** Called on each change of `holding` (readiness and its gauge follow it). */
  onHoldingChanged?: (holding: boolean) => void;
}

export const DEFAULT_PROBE_INTERVAL_MS = 200;

export function createStoreRecovery(options: StoreRecoveryOptions = {}): StoreRecovery {
  const { probe, onHoldingChanged } = options;
  const intervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  let held = 0;
  let stopped = false;
  let lastOutageCause: unknown;
  const wakers = new Set<() => void>();
  let probing = false;

  function wakeAll(): void {
    for (const wake of [...wakers]) wake();
  }

  /** One probe loop at a time, for as long as someone waits: probe, and on an answer wake everyone. */
  async function probeWhileWaiting(): Promise<void> {
    if (!probe || probing) return;
    probing = true;
    try {
      while (!stopped && wakers.size > 0) {
        await new Promise<void>((resolve) => setTimeout(resolve, intervalMs).unref());
        if (stopped || wakers.size === 0) break;
        const answered = await probe().catch(() => false);
        if (answered) wakeAll();
      }
    } finally {
      probing = false;
    }
  }

  return {
    get holding() {
      return held > 0;
    },
    enter(error) {
      if (error !== undefined) lastOutageCause = error;
      if (held++ === 0) onHoldingChanged?.(true);
    },
    unavailable(what) {
      return unavailableError(what, lastOutageCause);
    },
    leave() {
      if (held > 0 && --held === 0) onHoldingChanged?.(false);
    },
    wait(ms) {
      const waiting = new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          wakers.delete(wake);
          resolve();
        };
        // Unref'd: a writer whose service stopped waking it (shutdown) must not keep the process alive.
        const timer = setTimeout(wake, ms);
        timer.unref();
        wakers.add(wake);
      });
      // After stop() a wait is a plain back-off: no prober (each retry's own stop() ends its waiting).
      if (!stopped) void probeWhileWaiting();
      return waiting;
    },
    stop() {
      stopped = true;
      wakeAll();
    },
  };
}

/**
 * The API's store: one attempt, never held. A transient failure, or any while the process's writers are
 * holding (the database is down as far as they know), rejects at once with `UnavailableError`, which
 * GraphQL answers as UNAVAILABLE (HTTP 503): a caller waiting on the API gets a prompt "try again"
 * instead of waiting out the outage, and what it sent was not stored.
 */
/** UNAVAILABLE for `what`, saying the disk is full when `cause` says so (GraphQL repeats it). */
function unavailableError(what: string, cause: unknown): UnavailableError {
  return new UnavailableError(
    cause !== undefined && isDiskFull(cause)
      ? `the database's disk is full (${what} not stored; try again once space is freed)`
      : `the database is unavailable (${what} not stored; try again shortly)`,
    cause === undefined ? undefined : { cause },
  );
}

export function createFailFastStore(kind: string, recovery?: Pick<StoreRecovery, 'holding' | 'unavailable'>): StoreRetry {
  const unavailable = (cause?: unknown) => unavailableError(kind, cause);
  return {
    async run(attempt, onTransient) {
      if (recovery?.holding) throw recovery.unavailable(kind);
      try {
        return await attempt();
      } catch (error) {
        if (!isTransientFailure(error)) throw error;
        onTransient?.(error);
        throw unavailable(error);
      }
    },
    stop() {},
    holding: false,
  };
}

export function describeStoreRetryMetrics(metrics: Metrics): void {
  metrics.describe(STORE_RETRIES_METRIC, 'Store writes retried after a transient database failure (the messages were held, not acknowledged), by kind.');
}

export function createStoreRetry(options: StoreRetryOptions): StoreRetry {
  const { kind, logger, metrics } = options;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const now = options.now ?? Date.now;
  describeStoreRetryMetrics(metrics);
  // Without a shared one, a private recovery without a prober: retries wait out their back-off.
  const recovery = options.recovery ?? createStoreRecovery();
  let stopped = false;
  /** Runs currently failing transiently; the outage is over when the last of them succeeds. */
  let failing = 0;
  let outageStartedAt = 0;
  let outageRetries = 0;
  /** Wakes this retry's own waits at `stop()` (the shared recovery outlives one service's shutdown). */
  const stoppers = new Set<() => void>();

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      stoppers.add(resolve);
      void recovery.wait(ms).then(() => {
        stoppers.delete(resolve);
        resolve();
      });
    });
  }

  function enterOutage(error: unknown): void {
    recovery.enter(error);
    if (failing++ > 0) return;
    outageStartedAt = now();
    outageRetries = 0;
    if (isDiskFull(error)) logger.error({ err: error, kind }, 'database disk full: holding writes unacknowledged and retrying until space is freed');
    else logger.warn({ err: error, kind }, 'database unavailable: holding writes unacknowledged and retrying until it is back');
  }

  function leaveOutage(): void {
    recovery.leave();
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
      for (const wake of [...stoppers]) wake();
      stoppers.clear();
    },
    get holding() {
      return failing > 0;
    },
  };

  /** A run given up (shutdown, or a deterministic error after transient ones) no longer counts towards the outage. */
  function leaveOutageQuietly(): void {
    recovery.leave();
    failing--;
  }
}
