import { describe, expect, it } from 'vitest';
import { createCoalescer } from '../../../../src/services/rules/engine/coalesce.ts';

/** A promise and the function that settles it. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('createCoalescer', () => {
  it('evaluates what arrived during an evaluation together, in arrival order, and resolves every submitter', async () => {
    const calls: number[][] = [];
    const first = gate();
    const q = createCoalescer<number>(
      async (batches) => {
        calls.push(batches);
        if (calls.length === 1) await first.promise;
      },
      () => undefined,
    );
    const done = [q.submit(1), q.submit(2), q.submit(3), q.submit(4)];
    expect(q.waiting).toBe(3);
    first.open();
    await Promise.all(done);
    expect(calls).toEqual([[1], [2, 3, 4]]);
    expect(q.waiting).toBe(0);
  });

  it('reports a failed evaluation and goes on with the next batches; submitters still resolve', async () => {
    const errors: unknown[] = [];
    const seen: number[][] = [];
    const q = createCoalescer<number>(
      async (batches) => {
        seen.push(batches);
        if (batches.includes(1)) throw new Error('boom');
      },
      (error) => errors.push(error),
    );
    await Promise.all([q.submit(1), q.submit(2)]);
    expect(errors).toHaveLength(1);
    expect(seen).toEqual([[1], [2]]);
  });

  it('drain waits for the running and the queued evaluations', async () => {
    const slow = gate();
    let evaluated = 0;
    const q = createCoalescer<number>(
      async (batches) => {
        await slow.promise;
        evaluated += batches.length;
      },
      () => undefined,
    );
    void q.submit(1);
    void q.submit(2);
    const drained = q.drain().then(() => evaluated);
    slow.open();
    expect(await drained).toBe(2);
  });
});
