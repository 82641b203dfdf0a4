import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../../src/db/client.ts';
import { arrayLiteral, textArrayLiteral } from '../../../src/services/telemetry/sql-arrays.ts';
import { openTestDatabase } from '../../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

describe('array literals for the ingest statement', () => {
  it('reads back as the same values in PostgreSQL', async () => {
    const numbers = [0, -1.5, 1e21, 5e-324, Number.MAX_SAFE_INTEGER, 0.1 + 0.2];
    const texts = ['a', 'NULL', 'with "quote"', 'back\\slash', '', 'x,y', '{}'];
    const [row] = await db.sql.query<{ n: number[]; b: boolean[]; t: string[] }>(`SELECT $1::float8[] AS n, $2::bool[] AS b, $3::text[] AS t`, [
      arrayLiteral(numbers),
      arrayLiteral([true, false]),
      textArrayLiteral(texts),
    ]);
    expect(row!.n).toEqual(numbers);
    expect(row!.b).toEqual([true, false]);
    expect(row!.t).toEqual(texts);
    expect(textArrayLiteral([])).toBe('{}');
  });
});
