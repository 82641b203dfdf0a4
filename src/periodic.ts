/**
 * A background job run every `intervalMs`, measured from the end of the previous run (runs never
 * overlap), that never keeps the process alive on its own. `stop()` cancels the next run and waits for
 * the one in flight, so a server can stop its jobs before it closes the database.
 */
export interface PeriodicOptions {
  intervalMs: number;
  /** Delay before the first run; default `intervalMs`. */
  firstDelayMs?: number;
  run: () => Promise<unknown>;
  /** A failed run; the job carries on with the next one. */
  onError: (error: unknown) => void;
}

/**
 * A started-or-stopped job. Members are plain functions, not methods, so callers may hand them on
 * (`stop: job.stop`) without binding.
 */
export interface PeriodicJob {
  /** Schedules the first run after `firstDelayMs`; a no-op once started or stopped. */
  start: () => void;
  /** Cancels the next run and waits for the one in flight; the job never runs again. */
  stop: () => Promise<void>;
}

export function periodic(options: PeriodicOptions): PeriodicJob {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  function schedule(ms: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = Promise.resolve()
        .then(options.run)
        .then(
          () => undefined,
          (error: unknown) => options.onError(error),
        )
        .finally(() => {
          running = undefined;
          schedule(options.intervalMs);
        });
    }, ms);
    timer.unref();
  }

  return {
    start: () => {
      if (!timer && !running && !stopped) schedule(options.firstDelayMs ?? options.intervalMs);
    },
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
