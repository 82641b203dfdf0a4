import { describe, expect, it } from 'vitest';
import { isolateFailures, ItemFailure } from '../../src/services/poison.ts';

/** A batch "statement" over items: fails (deterministically) when it contains a poison item, else completes them all. */
function statement(poison: Set<number>, results: Array<string | ItemFailure | undefined>, calls: number[][]) {
  return async (indices: number[]) => {
    calls.push(indices);
    if (indices.some((i) => poison.has(i))) throw Object.assign(new Error('violates a check constraint'), { code: '23514' });
    for (const i of indices) results[i] = `ok${i}`;
  };
}

describe('isolateFailures', () => {
  it('a healthy batch is one statement', async () => {
    const results: Array<string | ItemFailure | undefined> = new Array(8);
    const calls: number[][] = [];
    await isolateFailures([0, 1, 2, 3, 4, 5, 6, 7], results, statement(new Set(), results, calls), () => undefined);
    expect(calls).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(results.every((r) => typeof r === 'string')).toBe(true);
  });

  it('only the items that fail alone fail; the others complete once each, in arrival order', async () => {
    const n = 100;
    const results: Array<string | ItemFailure | undefined> = new Array(n);
    const calls: number[][] = [];
    const poisoned: number[] = [];
    const indices = Array.from({ length: n }, (_, i) => i);
    await isolateFailures(indices, results, statement(new Set([17, 18, 90]), results, calls), (i) => poisoned.push(i));
    expect(poisoned).toEqual([17, 18, 90]);
    for (const i of indices) {
      if ([17, 18, 90].includes(i)) expect(results[i]).toBeInstanceOf(ItemFailure);
      else expect(results[i]).toBe(`ok${i}`);
    }
    // Completed items are never run again, and the successful statements ran in arrival order.
    const completedBy = calls.filter((c) => !c.some((i) => [17, 18, 90].includes(i))).flat();
    expect(completedBy).toEqual(indices.filter((i) => ![17, 18, 90].includes(i)));
    // Bounded: about 2·log2(n) statements per poison item.
    expect(calls.length).toBeLessThanOrEqual(3 * 2 * Math.ceil(Math.log2(n)) + 1);
  });

  it('does not re-run what completed before the statement failed (a later conflict round failing)', async () => {
    const results: Array<string | ItemFailure | undefined> = new Array(4);
    const runs: number[][] = [];
    await isolateFailures(
      [0, 1, 2, 3],
      results,
      async (indices) => {
        runs.push(indices);
        // The first half is stored, then a second statement fails because of item 3.
        for (const i of indices.filter((i) => i < 2)) results[i] = `ok${i}`;
        if (indices.includes(3)) throw new Error('deterministic');
        for (const i of indices) results[i] = `ok${i}`;
      },
      () => undefined,
    );
    expect(runs).toEqual([[0, 1, 2, 3], [2], [3]]);
    expect(results.slice(0, 3)).toEqual(['ok0', 'ok1', 'ok2']);
    expect(results[3]).toBeInstanceOf(ItemFailure);
  });

  it('rethrows a transient failure as it came, isolating nothing', async () => {
    const results: Array<string | ItemFailure | undefined> = new Array(4);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    await expect(
      isolateFailures(
        [0, 1, 2, 3],
        results,
        async () => {
          throw refused;
        },
        () => undefined,
      ),
    ).rejects.toBe(refused);
    expect(results.every((r) => r === undefined)).toBe(true);
  });
});
