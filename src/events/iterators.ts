/**
 * Async-iterator adapters between the event bus and the subscription resolvers. They replace
 * graphql-yoga's `pipe(map(…))`, which runs every event through a Repeater (several promises and
 * closures per event); here an event costs one call and no allocation beyond the result object.
 */
import { TelemetrySampler, type SampledEvent } from '../domain/telemetry/sampling.ts';

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true }) as IteratorResult<never>;

/** `source` with `fn` applied to every event; ending the result ends the source. */
export function mapEvents<T, U>(source: AsyncIterator<T>, fn: (event: T) => U): AsyncIterableIterator<U> {
  const step = (r: IteratorResult<T>): IteratorResult<U> => (r.done ? DONE : { value: fn(r.value), done: false });
  return {
    next: () => source.next().then(step),
    return: () => (source.return ? source.return().then(() => DONE) : Promise.resolve(DONE)),
    throw: (error: unknown) => (source.throw ? source.throw(error).then(step) : Promise.reject(error)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * `source` through a TelemetrySampler (see src/domain/telemetry/sampling.ts for the semantics). The
 * source is read eagerly, as fast as it produces, so the bus never queues events for this subscriber:
 * the sampler keeps at most one point per device and metric however slowly the client reads. One timer,
 * set only while the client waits for an event, delivers the trailing edge of an interval.
 */
export function sampleEvents<E extends SampledEvent>(
  source: AsyncIterator<E>,
  intervalMs: number,
  clock: () => number = () => performance.now(),
): AsyncIterableIterator<E> {
  const sampler = new TelemetrySampler<E>(intervalMs);
  let waiter: { resolve: (r: IteratorResult<E>) => void; reject: (e: unknown) => void } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let sourceDone = false;
  let closed = false;
  let failure: { error: unknown } | undefined;

  function clearTimer(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
  }

  /** What `next()` answers now, or undefined when it has to wait. */
  function ready(): Promise<IteratorResult<E>> | IteratorResult<E> | undefined {
    if (closed) return DONE;
    const event = sampler.take(clock());
    if (event) return { value: event, done: false };
    if (sourceDone) {
      closed = true;
      if (failure) return Promise.reject(failure.error);
      return DONE;
    }
    return undefined;
  }

  /** Answers a waiting `next()` if it can, else sets the timer for the next trailing edge. */
  function wake(): void {
    if (!waiter) return;
    const answer = ready();
    if (answer) {
      const w = waiter;
      waiter = undefined;
      clearTimer();
      Promise.resolve(answer).then(w.resolve, w.reject);
      return;
    }
    const due = sampler.nextDueAt();
    if (due === undefined || timer) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        wake();
      },
      Math.max(0, due - clock()),
    );
  }

  void (async () => {
    try {
      for (;;) {
        const r = await source.next();
        if (r.done || closed) break;
        sampler.offer(r.value, clock());
        wake();
      }
    } catch (error) {
      failure = { error };
    }
    sourceDone = true;
    wake();
  })();

  return {
    next() {
      const answer = ready();
      if (answer) return Promise.resolve(answer);
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
        wake();
      });
    },
    async return() {
      closed = true;
      clearTimer();
      const w = waiter;
      waiter = undefined;
      w?.resolve(DONE);
      await source.return?.();
      return DONE;
    },
    async throw(error: unknown) {
      await this.return!();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
