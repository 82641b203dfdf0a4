/**
 * `npm run db:diff -- <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql with the SQL that
 * takes the schema built by the existing migrations to prisma/schema.prisma (what `prisma migrate dev
 * --create-only` would write). The migrations are replayed on a throwaway in-memory PGlite by Prisma's
 * WASM schema engine; no database server is involved.
 *
 * `npm run db:diff -- --check`: writes nothing; exits 1 when schema.prisma has changes that no migration
 * contains yet (CI runs this).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { diffSql, MIGRATION_LOCK_CONTENT, MIGRATION_LOCK_FILE, SchemaEngineError } from '../src/db/schema-engine.ts';

const root = path.resolve(import.meta.dirname, '..');
const usage = `Usage: npm run db:diff -- <name>       write prisma/migrations/<timestamp>_<name>/migration.sql
       npm run db:diff -- --check      exit 1 if schema.prisma has changes not in a migration
Options: --schema <file> (default prisma/schema.prisma), --migrations <dir> (default prisma/migrations)`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      check: { type: 'boolean', default: false },
      schema: { type: 'string', default: path.join(root, 'prisma', 'schema.prisma') },
      migrations: { type: 'string', default: path.join(root, 'prisma', 'migrations') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const name = slug(positionals.join('_'));
  if (!values.check && (positionals.length === 0 || !name)) {
    console.error(`A migration name is required (letters, digits, underscores).\n${usage}`);
    return 2;
  }

  const migrationsDir = path.resolve(values.migrations);
  const schemaPath = path.resolve(values.schema);
  const sql = await diffSql({
    from: { kind: 'migrations', migrationsDir },
    to: { kind: 'schema', schema: fs.readFileSync(schemaPath, 'utf8'), path: path.relative(root, schemaPath) },
  });

  if (sql === '') {
    console.log('No schema changes');
    return 0;
  }
  if (values.check) {
    console.error(
      `${path.relative(process.cwd(), schemaPath)} has changes that no migration contains yet. ` +
        'Run `npm run db:diff -- <name>` and commit the new migration. Pending SQL:\n',
    );
    console.error(sql);
    return 1;
  }

  fs.mkdirSync(migrationsDir, { recursive: true });
  const folder = `${nextTimestamp(migrationsDir)}_${name}`;
  fs.mkdirSync(path.join(migrationsDir, folder));
  fs.writeFileSync(path.join(migrationsDir, folder, 'migration.sql'), sql);
  const lockPath = path.join(migrationsDir, MIGRATION_LOCK_FILE);
  if (!fs.existsSync(lockPath)) fs.writeFileSync(lockPath, MIGRATION_LOCK_CONTENT);
  console.log(`Wrote ${path.relative(process.cwd(), path.join(migrationsDir, folder, 'migration.sql'))}. Review it, then commit it.`);
  return 0;
}

/** Prisma-style migration name: lowercase words joined by underscores. */
function slug(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
}

/**
 * `YYYYMMDDHHMMSS` in UTC, as Prisma names folders, moved past the newest existing folder if the clock
 * disagrees, so the new migration always sorts (and therefore applies) last.
 */
function nextTimestamp(migrationsDir: string): string {
  const format = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const newest = fs
    .readdirSync(migrationsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d{14}/.test(e.name))
    .map((e) => e.name.slice(0, 14))
    .sort()
    .at(-1);
  const now = format(new Date());
  if (newest === undefined || now > newest) return now;
  const parsed = newest.replace(/^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/, '$1-$2-$3T$4:$5:$6Z');
  return format(new Date(Date.parse(parsed) + 1000));
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof SchemaEngineError) console.error(`db:diff failed${error.code ? ` (${error.code})` : ''}: ${error.message}`);
    else console.error(error);
    process.exitCode = 1;
  },
);
