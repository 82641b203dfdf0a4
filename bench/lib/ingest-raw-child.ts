/**
 * bench:ingest raw-insert baseline: the rows the ingest path stores (device uuid, metric a/b/c, unique ts,
 * value, isBool), written set-based with one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` per
 * batch into a copy of "TelemetryPoint" (same columns and key), from one connection — raw `pg` on
 * PostgreSQL, PGlite in this process on the embedded mode. No latest-values upsert, no RETURNING.
 */
import { randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { serveRpc } from './rpc.ts';

interface Exec {
  query(text: string, params?: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

let db: Exec | undefined;
let uuids: string[] = [];

export interface RawInsertResult {
  rows: number;
  seconds: number;
  batches: number;
  cpuSeconds: number;
  peakRss: number;
}

serveRpc({
  async setup({ url, devices }: { url: string | undefined; devices: number }): Promise<null> {
    if (url) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      db = { query: (t, p) => client.query(t, p), close: () => client.end() };
    } else {
      const lite = new PGlite();
      await lite.waitReady;
      db = { query: (t, p) => lite.query(t, p), close: () => lite.close() };
    }
    await db.query(`CREATE TABLE raw_point ("deviceId" uuid NOT NULL, metric text NOT NULL, ts timestamptz(3) NOT NULL, value double precision NOT NULL,
      "isBool" boolean NOT NULL DEFAULT false, PRIMARY KEY ("deviceId", metric, ts))`);
    uuids = Array.from({ length: devices }, () => randomUUID());
    return null;
  },
  /** Inserts batches of `batchRows` rows for `seconds` (after one warm-up batch). */
  async run({ seconds, batchRows }: { seconds: number; batchRows: number }): Promise<RawInsertResult> {
    let ts = Date.now();
    let seq = 0;
    const makeBatch = () => {
      const dev: string[] = [];
      const met: string[] = [];
      const tss: number[] = [];
      const val: number[] = [];
      const isb: boolean[] = [];
      for (let i = 0; dev.length < batchRows; i++) {
        // one message: three rows of one device with one ts
        const d = uuids[seq % uuids.length]!;
        if (seq % uuids.length === 0) ts++;
        seq++;
        dev.push(d, d, d);
        met.push('a', 'b', 'c');
        tss.push(ts, ts, ts);
        val.push(ts + 0.123, seq, seq % 2);
        isb.push(false, false, true);
      }
      return [dev, met, tss, val, isb];
    };
    const sql = `INSERT INTO raw_point ("deviceId", metric, ts, value, "isBool")
      SELECT d, m, timestamptz 'epoch' + t * interval '1 millisecond', v, b FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::float8[], $5::bool[]) AS i(d, m, t, v, b)
      ON CONFLICT ("deviceId", metric, ts) DO NOTHING`;
    await db!.query(sql, makeBatch());
    let peakRss = process.memoryUsage.rss();
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    let rows = 0;
    let batches = 0;
    while (performance.now() - start < seconds * 1000) {
      const batch = makeBatch();
      await db!.query(sql, batch);
      rows += (batch[0] as string[]).length;
      batches++;
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }
    const c = process.cpuUsage(cpu0);
    return { rows, seconds: (performance.now() - start) / 1000, batches, cpuSeconds: (c.user + c.system) / 1e6, peakRss };
  },
  async close(): Promise<null> {
    await db?.close();
    setTimeout(() => process.exit(0), 20);
    return null;
  },
});
