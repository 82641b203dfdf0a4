/**
 * Applies `prisma/migrations/<timestamp>_<name>/migration.sql` the way `prisma migrate deploy` does and
 * keeps the same books (`_prisma_migrations`), so the Prisma CLI agrees with us on any machine that has
 * its native engine. We apply them ourselves because that engine cannot be downloaded here, and the WASM
 * one would cost a 5 MB module load on every start (see docs/migrations.md).
 *
 * Differences from Prisma, on purpose: each migration runs in one transaction together with its
 * `_prisma_migrations` row, so a failure leaves neither a half-applied schema nor a "failed" row to resolve;
 * and an applied migration whose file has since changed stops us (Prisma's deploy only reports it).
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Database, SqlRunner, SqlSession } from './client.ts';

/** Stable codes of {@link MigrationError}. */
export type MigrationErrorCode =
  /** The migrations directory is unusable (a folder without migration.sql, another provider's lock file). */
  | 'MIGRATIONS_DIR_INVALID'
  /** An applied migration's file no longer matches the checksum recorded when it was applied. */
  | 'MIGRATION_CHECKSUM_MISMATCH'
  /** `_prisma_migrations` records a migration that failed (written by Prisma's own deploy); resolve it first. */
  | 'MIGRATION_PREVIOUSLY_FAILED'
  /** A migration's SQL failed; it was rolled back and nothing was recorded. */
  | 'MIGRATION_FAILED'
  /** Tables exist but `_prisma_migrations` does not: the schema was not made by migrations. */
  | 'DATABASE_NOT_EMPTY'
  /** Another process held the migration lock for longer than `lockTimeoutMs`. */
  | 'MIGRATION_LOCK_TIMEOUT';

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    readonly code: MigrationErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One migration folder. */
export interface MigrationFile {
  /** Folder name, e.g. `20250101120000_init`; what `_prisma_migrations.migration_name` holds. */
  name: string;
  sql: string;
  /** SHA-256 of the file's bytes, lowercase hex: Prisma's checksum. */
  checksum: string;
}

export interface ApplyMigrationsOptions {
  /** Directory holding `<name>/migration.sql` folders (normally `prisma/migrations`). */
  migrationsDir: string;
  /** Receives one line per applied migration, lock wait and oddity found. */
  log?: (message: string) => void;
  /** How long to wait for another process that is migrating the same database, in ms. Default 60 000. */
  lockTimeoutMs?: number;
}

export interface ApplyMigrationsResult {
  /** Names of the migrations applied by this call, in order (empty when the database was up to date). */
  applied: string[];
  /** How many migrations the directory holds. */
  total: number;
}

/**
 * The advisory lock key `prisma migrate` takes on PostgreSQL ("a unique number we chose to identify
 * Migrate"), so our migrator and Prisma's exclude each other too.
 */
export const MIGRATE_ADVISORY_LOCK_KEY = 72707369;

/** Prisma's DDL for its bookkeeping table on PostgreSQL, verbatim (prisma-engines, postgres flavour). */
export const PRISMA_MIGRATIONS_TABLE_DDL = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
`;

/** A row of `_prisma_migrations`. */
export interface MigrationRecord {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

/** Prisma's checksum of a migration script: SHA-256 of its bytes as lowercase hex. */
export function migrationChecksum(script: string | Uint8Array): string {
  return createHash('sha256').update(script).digest('hex');
}

/**
 * Whether `script` matches a recorded checksum, ignoring CRLF/LF differences as Prisma does (git may
 * rewrite line endings on checkout), and accepting the unpadded hex of very old Prisma versions.
 */
export function checksumMatches(script: string, recorded: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((variant) => {
    const digest = createHash('sha256').update(variant).digest();
    const hex = recorded.length === 64 ? digest.toString('hex') : [...digest].map((b) => b.toString(16)).join('');
    return hex === recorded;
  });
}

/** Lists the migrations in `migrationsDir` in the order they apply (folder names, byte order, like Prisma). */
export function readMigrations(migrationsDir: string): MigrationFile[] {
  if (!fs.existsSync(migrationsDir)) return [];
  const lockPath = path.join(migrationsDir, 'migration_lock.toml');
  if (fs.existsSync(lockPath)) {
    const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(fs.readFileSync(lockPath, 'utf8'))?.[1];
    if (provider !== undefined && provider !== 'postgresql') {
      throw new MigrationError('MIGRATIONS_DIR_INVALID', `${lockPath} says provider = "${provider}", but Doppel's migrations are for "postgresql"`);
    }
  }
  const names = fs
    .readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((name) => {
    const file = path.join(migrationsDir, name, 'migration.sql');
    if (!fs.existsSync(file)) throw new MigrationError('MIGRATIONS_DIR_INVALID', `Migration folder ${name} has no migration.sql (${file})`);
    const bytes = fs.readFileSync(file);
    return { name, sql: bytes.toString('utf8'), checksum: migrationChecksum(bytes) };
  });
}

/**
 * Applies the pending migrations of `options.migrationsDir` to `db`, in order, each in its own
 * transaction, recording each in `_prisma_migrations` as Prisma does. Safe to call from several processes
 * at once: a PostgreSQL advisory lock (Prisma's own key) lets one apply while the others wait and then
 * find nothing to do. Throws a {@link MigrationError}: before applying anything if the recorded history
 * disagrees with the files; or when a migration fails (it is rolled back, earlier ones stay applied).
 */
export async function applyMigrations(db: Database, options: ApplyMigrationsOptions): Promise<ApplyMigrationsResult> {
  // Advisory locks are re-entrant within one connection, and PGlite is one connection: calls on the same
  // database from this process queue here instead.
  const key = db.driver.kind === 'pglite' ? db.driver.pglite : db.driver.pool;
  const previous = inProcess.get(key) ?? Promise.resolve();
  const run = previous.catch(() => {}).then(() => applyLocked(db, options));
  inProcess.set(key, run);
  try {
    return await run;
  } finally {
    if (inProcess.get(key) === run) inProcess.delete(key);
  }
}

const inProcess = new WeakMap<object, Promise<unknown>>();

async function applyLocked(db: Database, options: ApplyMigrationsOptions): Promise<ApplyMigrationsResult> {
  const log = options.log ?? (() => {});
  const migrations = readMigrations(options.migrationsDir);

  return db.withSession(async (session) => {
    await acquireLock(session, options.lockTimeoutMs ?? 60_000, log);
    try {
      const records = await loadRecords(session);
      const appliedByName = checkHistory(records, migrations, log);
      const applied: string[] = [];
      for (const migration of migrations) {
        if (appliedByName.has(migration.name)) continue;
        const started = performance.now();
        await applyOne(session, migration);
        applied.push(migration.name);
        log(`Applied migration ${migration.name} (${Math.round(performance.now() - started)} ms)`);
      }
      return { applied, total: migrations.length };
    } finally {
      // Ending the session would release it too; a failure here must not hide the real error.
      await session.query(`SELECT pg_advisory_unlock(${MIGRATE_ADVISORY_LOCK_KEY})`).catch(() => {});
    }
  });
}

async function acquireLock(session: SqlRunner, timeoutMs: number, log: (message: string) => void): Promise<void> {
  // try-lock in a loop rather than pg_advisory_lock: a bounded wait with a clear error beats hanging
  // behind a stuck process.
  const deadline = Date.now() + timeoutMs;
  let waiting = false;
  for (;;) {
    const [row] = await session.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${MIGRATE_ADVISORY_LOCK_KEY}) AS locked`);
    if (row?.locked) return;
    if (Date.now() >= deadline) {
      throw new MigrationError(
        'MIGRATION_LOCK_TIMEOUT',
        `Another process has been migrating this database for more than ${timeoutMs} ms (advisory lock ${MIGRATE_ADVISORY_LOCK_KEY})`,
      );
    }
    if (!waiting) log('Waiting for another process to finish migrating this database');
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Reads `_prisma_migrations`, creating it first (as Prisma's deploy does) in an empty database. */
async function loadRecords(session: SqlRunner): Promise<MigrationRecord[]> {
  // The table lives in the connection's current schema, as Prisma's does; so do our application tables.
  const tables = await session.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
  );
  if (!tables.some((t) => t.name === '_prisma_migrations')) {
    if (tables.length > 0) {
      const names = tables
        .slice(0, 5)
        .map((t) => t.name)
        .join(', ');
      throw new MigrationError(
        'DATABASE_NOT_EMPTY',
        `The database schema is not empty (${names}${tables.length > 5 ? ', …' : ''}) but has no _prisma_migrations table, ` +
          'so it was not created by these migrations. Use an empty database, or baseline this one ' +
          '(https://pris.ly/d/migrate-baseline).',
      );
    }
    await session.executeScript(PRISMA_MIGRATIONS_TABLE_DDL);
    return [];
  }
  return session.query<MigrationRecord>(
    `SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count
       FROM _prisma_migrations ORDER BY started_at, migration_name`,
  );
}

/** Refuses a history we must not build on; returns the names that count as applied. */
function checkHistory(records: MigrationRecord[], migrations: MigrationFile[], log: (message: string) => void): Set<string> {
  const live = records.filter((r) => r.rolled_back_at === null);
  const failed = live.filter((r) => r.finished_at === null);
  if (failed.length > 0) {
    const details = failed
      .map((r) => `  - ${r.migration_name} (started ${r.started_at.toISOString()})${r.logs?.trim() ? `: ${r.logs.trim()}` : ''}`)
      .join('\n');
    throw new MigrationError(
      'MIGRATION_PREVIOUSLY_FAILED',
      `_prisma_migrations records failed migrations; fix the database, then mark them with ` +
        `\`prisma migrate resolve --rolled-back|--applied <name>\` (https://pris.ly/d/migrate-resolve):\n${details}`,
    );
  }
  const files = new Map(migrations.map((m) => [m.name, m]));
  const edited = live.filter((r) => {
    const file = files.get(r.migration_name);
    return file !== undefined && !checksumMatches(file.sql, r.checksum);
  });
  if (edited.length > 0) {
    throw new MigrationError(
      'MIGRATION_CHECKSUM_MISMATCH',
      `Applied migration${edited.length > 1 ? 's were' : ' was'} modified after being applied: ` +
        `${edited.map((r) => r.migration_name).join(', ')}. Restore the original migration.sql and put the ` +
        'change in a new migration (`npm run db:diff -- <name>`).',
    );
  }
  const unknown = live.filter((r) => !files.has(r.migration_name)).map((r) => r.migration_name);
  if (unknown.length > 0) log(`The database has applied migrations that are not in the migrations directory: ${unknown.join(', ')}`);
  return new Set(live.map((r) => r.migration_name));
}

async function applyOne(session: SqlSession, migration: MigrationFile): Promise<void> {
  const startedAt = new Date();
  try {
    await session.transaction(async (tx) => {
      await tx.executeScript(migration.sql);
      // The row Prisma ends up with after record_migration_started → record_successful_step →
      // record_migration_finished: client-side timestamps, logs NULL, one step.
      await tx.query(
        `INSERT INTO _prisma_migrations
           (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
         VALUES ($1, $2, $3, $4, NULL, NULL, $5, 1)`,
        [randomUUID(), migration.checksum, new Date(), migration.name, startedAt],
      );
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new MigrationError('MIGRATION_FAILED', `Migration ${migration.name} failed and was rolled back: ${message}`, { cause: error });
  }
}
