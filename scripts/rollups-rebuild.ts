/**
 * `npm run db:rollups -- [--from <ISO date>] [--to <ISO date>]`: recomputes telemetry rollups from the raw
 * points of the database named by DATABASE_URL (as the server opens it), one transaction per UTC day,
 * with the fold the ingest statement runs (src/services/rollups.ts). Default range: the days holding raw
 * points. For points stored before rollups existed; run it while that range receives no new points (a
 * day's rebuild replaces its rollups), and never over days whose raw points retention already deleted.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { rebuildRollups } from '../src/services/rollups.ts';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { from: { type: 'string' }, to: { type: 'string' } } });
  const config = loadConfigOrReport();
  if (!config) {
    return 2;
  }
  const parse = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const ts = Date.parse(raw);
    if (Number.isNaN(ts)) throw new Error(`--${name} must be an ISO-8601 date (got ${JSON.stringify(raw)})`);
    return ts;
  };
  const db = await openDatabase(config.database, { poolSize: 2 });
  try {
    const [bounds] = await db.sql.query<{ lo: number | null; hi: number | null }>(
      `SELECT (extract(epoch FROM min(ts)) * 1000)::float8 AS lo, (extract(epoch FROM max(ts)) * 1000)::float8 AS hi FROM "TelemetryPoint"`,
    );
    const from = parse('from', values.from) ?? (bounds?.lo == null ? undefined : Number(bounds.lo));
    const to = parse('to', values.to) ?? (bounds?.hi == null ? undefined : Number(bounds.hi) + 1);
    if (from === undefined || to === undefined) {
      console.log('No telemetry points: nothing to rebuild.');
      return 0;
    }
    const started = Date.now();
    const rows = await rebuildRollups(db, { from, to });
    console.log(
      `Rebuilt ${rows} rollup rows for ${new Date(from).toISOString()} – ${new Date(to).toISOString()} in ${((Date.now() - started) / 1000).toFixed(1)} s.`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
