/**
 * `npm run db:migrate`: applies pending migrations from prisma/migrations to the database named by
 * DATABASE_URL (postgres://…, pglite:<dir>, file:<dir>, memory://; unset: ./data/pglite), the same one
 * the server would open. Equivalent to `prisma migrate deploy`, which needs a native engine we lack.
 */
import path from 'node:path';
import { loadConfigOrReport, type DatabaseConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations, MigrationError } from '../src/db/migrate.ts';

const migrationsDir = path.resolve(import.meta.dirname, '..', 'prisma', 'migrations');

function describe(database: DatabaseConfig): string {
  if (database.kind === 'pglite') return database.dataDir ? `PGlite at ${database.dataDir}` : 'in-memory PGlite (discarded on exit)';
  const url = new URL(database.url);
  url.password = url.password ? '***' : '';
  return `PostgreSQL ${url.toString()}`;
}

async function main(): Promise<number> {
  const config = loadConfigOrReport();
  if (!config) {
    return 2;
  }
  console.log(`Migrating ${describe(config.database)}`);
  const db = await openDatabase(config.database, { poolSize: 2 });
  try {
    const { applied, total } = await applyMigrations(db, { migrationsDir, log: (message) => console.log(message) });
    console.log(
      applied.length === 0
        ? `Database is up to date (${total} migration${total === 1 ? '' : 's'}).`
        : `Applied ${applied.length} of ${total} migration${total === 1 ? '' : 's'}.`,
    );
    return 0;
  } catch (error) {
    if (error instanceof MigrationError) {
      console.error(`${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
