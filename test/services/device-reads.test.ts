/**
 * The process-wide batching of the hot reads (src/services/device-reads.ts): the by-key reads of
 * concurrent requests share one statement per tenant and turn of the event loop, and nothing is kept
 * between statements. The statements themselves run against a real database in
 * test/e2e/device-reads.test.ts; here a recording executor shows how many go out and with which keys.
 */
import { describe, expect, it } from 'vitest';
import type { SqlExecutor } from '../../src/db/client.ts';
import { createDeviceReadBatches, createDeviceReader } from '../../src/services/device-reads.ts';

interface Statement {
  tenantId: string;
  keys: string[];
}

/** Answers every device-id read with a row per key it knows, and records each statement. */
function recordingExecutor(known: Map<string, string>): { sql: SqlExecutor; statements: Statement[] } {
  const statements: Statement[] = [];
  const sql = {
    async query<T>(_text: string, params: unknown[] = []): Promise<T[]> {
      const [tenantId, keys] = params as [string, string[]];
      statements.push({ tenantId, keys: [...keys] });
      await new Promise((resolve) => setTimeout(resolve, 1));
      return keys
        .filter((key) => known.get(key) === tenantId)
        .map((deviceId) => ({ id: `uuid-${deviceId}`, tenantId, deviceId, name: deviceId, 'twin.deviceId': null }) as T);
    },
  } as SqlExecutor;
  return { sql, statements };
}

describe('device reads shared between requests', () => {
  it('reads of concurrent requests in one turn of the event loop go out as one statement', async () => {
    const { sql, statements } = recordingExecutor(
      new Map([
        ['a', 't1'],
        ['b', 't1'],
        ['c', 't1'],
      ]),
    );
    const batches = createDeviceReadBatches(sql);
    const requests = [createDeviceReader(sql, batches), createDeviceReader(sql, batches), createDeviceReader(sql, batches)];
    const [a, b, c] = await Promise.all([requests[0]!.byDeviceId('t1', 'a'), requests[1]!.byDeviceId('t1', 'b'), requests[2]!.byDeviceId('t1', 'c')]);
    expect(statements).toEqual([{ tenantId: 't1', keys: ['a', 'b', 'c'] }]);
    expect([a?.deviceId, b?.deviceId, c?.deviceId]).toEqual(['a', 'b', 'c']);
  });

  it('two requests reading the same device each get their own object', async () => {
    const { sql, statements } = recordingExecutor(new Map([['a', 't1']]));
    const batches = createDeviceReadBatches(sql);
    const [first, second] = await Promise.all([createDeviceReader(sql, batches).byDeviceId('t1', 'a'), createDeviceReader(sql, batches).byDeviceId('t1', 'a')]);
    expect(statements).toEqual([{ tenantId: 't1', keys: ['a'] }]);
    expect(first).toEqual(second);
    expect(first).not.toBe(second);
  });

  it('keeps tenants apart: one statement per tenant, and a device of another tenant is not found', async () => {
    const { sql, statements } = recordingExecutor(
      new Map([
        ['a', 't1'],
        ['b', 't2'],
      ]),
    );
    const batches = createDeviceReadBatches(sql);
    const [a, bFromT1, b] = await Promise.all([
      createDeviceReader(sql, batches).byDeviceId('t1', 'a'),
      createDeviceReader(sql, batches).byDeviceId('t1', 'b'),
      createDeviceReader(sql, batches).byDeviceId('t2', 'b'),
    ]);
    expect(statements).toEqual([
      { tenantId: 't1', keys: ['a', 'b'] },
      { tenantId: 't2', keys: ['b'] },
    ]);
    expect(a?.deviceId).toBe('a');
    expect(bFromT1).toBeNull();
    expect(b?.deviceId).toBe('b');
  });

  it('caches nothing between statements: a later read goes to the database again', async () => {
    const { sql, statements } = recordingExecutor(new Map([['a', 't1']]));
    const batches = createDeviceReadBatches(sql);
    await createDeviceReader(sql, batches).byDeviceId('t1', 'a');
    await createDeviceReader(sql, batches).byDeviceId('t1', 'a');
    expect(statements).toHaveLength(2);
  });

  it('within one request a key asked twice is read once', async () => {
    const { sql, statements } = recordingExecutor(new Map([['a', 't1']]));
    const reader = createDeviceReader(sql, createDeviceReadBatches(sql));
    const [x, y] = await Promise.all([reader.byDeviceId('t1', 'a'), reader.byDeviceId('t1', 'a')]);
    expect(x).toBe(y);
    expect(statements).toEqual([{ tenantId: 't1', keys: ['a'] }]);
  });

  it('a failed statement fails the reads in it, and the next statement is tried afresh', async () => {
    let fail = true;
    const sql = {
      async query<T>(_text: string, params: unknown[] = []): Promise<T[]> {
        if (fail) throw new Error('connection terminated');
        const [tenantId, keys] = params as [string, string[]];
        return keys.map((deviceId) => ({ id: `uuid-${deviceId}`, tenantId, deviceId, 'twin.deviceId': null }) as T);
      },
    } as SqlExecutor;
    const batches = createDeviceReadBatches(sql);
    await expect(createDeviceReader(sql, batches).byDeviceId('t1', 'a')).rejects.toThrow('connection terminated');
    fail = false;
    expect((await createDeviceReader(sql, batches).byDeviceId('t1', 'a'))?.deviceId).toBe('a');
  });
});
