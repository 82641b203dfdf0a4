/**
 * Stored batches waiting for evaluation, evaluated together. While one evaluation runs, the batches
 * stored meanwhile queue up, and the next evaluation takes all of them at once: the engine's cost is
 * one load and one write per evaluation, so under load it does fewer, larger evaluations instead of
 * falling further behind one batch at a time (which grew the raise latency without bound).
 *
 * Readings keep their own times: merging batches changes what is judged together, never the times a
 * window is measured on (docs/rules.md, "Time is the readings' time").
 */
export interface Coalescer<B> {
  /** Queues a batch; resolves once an evaluation that included it has ended (it never rejects). */
  submit(batch: B): Promise<void>;
  /** Resolves once every batch submitted so far has been evaluated. */
  drain(): Promise<void>;
  /** Batches waiting (not yet in an evaluation). */
  readonly waiting: number;
}

export function createCoalescer<B>(evaluate: (batches: B[]) => Promise<void>, onError: (error: unknown) => void): Coalescer<B> {
  let queued: B[] = [];
  let waiters: Array<() => void> = [];
  let running: Promise<void> | undefined;

  function pump(): void {
    if (running || queued.length === 0) return;
    const batches = queued;
    const done = waiters;
    queued = [];
    waiters = [];
    running = evaluate(batches)
      .catch(onError)
      .finally(() => {
        running = undefined;
        for (const resolve of done) resolve();
        pump();
      });
  }

  return {
    submit(batch) {
      return new Promise<void>((resolve) => {
        queued.push(batch);
        waiters.push(resolve);
        pump();
      });
    },
    async drain() {
      while (running || queued.length > 0) await (running ?? Promise.resolve());
    },
    get waiting() {
      return queued.length;
    },
  };
}
