import { ItemFailure } from './poison.ts';

/**
 * Collects work items and hands them to one flush at a time, in arrival order.
 *
 * Items that arrive while a flush runs form the next batch, so batches grow with load on their own
 * (no fixed timer adds latency when idle). At most `maxPending` items wait; further submitters wait
 * for room, which pushes back on the MQTT connections feeding us instead of growing memory.
 */
export interface SerialBatcherOptions<T, R> {
  maxBatch: number;
  maxPending: number;
  /**
   * Must return one result per item, in order; an `ItemFailure` rejects just that item (./poison.ts).
   * A throw fails every item of the batch.
   */
  flush(items: T[]): Promise<Array<R | ItemFailure>>;
}

interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class SerialBatcher<T, R> {
  private queue: Pending<T, R>[] = [];
  private flushing = false;
  private scheduled = false;
  private roomWaiters: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: SerialBatcherOptions<T, R>) {}

  get pending(): number {
    return this.queue.length;
  }

  async submit(item: T): Promise<R> {
    while (this.queue.length >= this.options.maxPending) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far has been flushed. */
  async drain(): Promise<void> {
    if (!this.flushing && !this.scheduled && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    // setImmediate lets every message already read from the sockets join this batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch);
        this.releaseRoom();
        try {
          const results = await this.options.flush(batch.map((p) => p.item));
          batch.forEach((p, i) => {
            const result = results[i];
            if (result instanceof ItemFailure) p.reject(result.error);
            else p.resolve(result as R);
          });
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.flushing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private releaseRoom(): void {
    const free = this.options.maxPending - this.queue.length;
    for (const w of this.roomWaiters.splice(0, Math.max(0, free))) w();
  }
}
