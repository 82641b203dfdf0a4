import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createStoredHook, HOOK_FAILURES_METRIC } from '../../src/services/hooks.ts';

const options = () => ({ logger: createLogger('silent'), metrics: new Metrics() });

describe('stored hooks', () => {
  it('hand every batch to every listener once, in emit order, one batch at a time', async () => {
    const hook = createStoredHook<number>('test', options());
    const seen: string[] = [];
    let running = 0;
    hook.subscribe(async (n) => {
      running++;
      expect(running).toBe(1);
      await new Promise((r) => setTimeout(r, 5 - n));
      seen.push(`a${n}`);
      running--;
    });
    hook.subscribe((n) => void seen.push(`b${n}`));
    for (let n = 1; n <= 3; n++) hook.emit(n);
    expect(seen).toEqual([]); // never inside emit: the store has already answered its callers
    await hook.drain();
    expect(seen).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  });

  it('count and log a failing listener without keeping the batch from the others', async () => {
    const o = options();
    const hook = createStoredHook<number>('test', o);
    const seen: number[] = [];
    hook.subscribe(() => {
      throw new Error('boom');
    });
    hook.subscribe((n) => void seen.push(n));
    hook.emit(1);
    hook.emit(2);
    await hook.drain();
    expect(seen).toEqual([1, 2]);
    expect(o.metrics.get(HOOK_FAILURES_METRIC, { hook: 'test' })).toBe(2);
  });

  it('stop telling a listener once it unsubscribes; emit with no listener queues nothing', async () => {
    const hook = createStoredHook<number>('test', options());
    const seen: number[] = [];
    const unsubscribe = hook.subscribe((n) => void seen.push(n));
    hook.emit(1);
    await hook.drain();
    unsubscribe();
    hook.emit(2);
    await hook.drain();
    expect(seen).toEqual([1]);
  });
});
