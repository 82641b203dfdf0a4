/**
 * Migrations: a freshly migrated database matches prisma/schema.prisma, and our `_prisma_migrations`
 * bookkeeping is the one Prisma's engine writes and reads. Runs on in-memory PGlite always, and on
 * PostgreSQL when DOPPEL_TEST_DATABASE_URL is set (in a throwaway database, dropped afterwards).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.ts';
import { applyMigrations, migrationChecksum, MigrationError, readMigrations, type ApplyMigrationsResult, type MigrationRecord } from '../../src/db/migrate.ts';
import { diffSql, readMigrationList, withSchemaEngine } from '../../src/db/schema-engine.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const MIGRATIONS_DIR = path.join(ROOT, 'prisma', 'migrations');
const SCHEMA = fs.readFileSync(path.join(ROOT, 'prisma', 'schema.prisma'), 'utf8');
const MIGRATIONS = readMigrations(MIGRATIONS_DIR);
const FILTERS = { externalTables: [], externalEnums: [] };
const PG_URL = process.env.DOPPEL_TEST_DATABASE_URL;

/** A fresh, empty database and how to get rid of it. */
interface Scratch {
  db: Database;
  dispose(): Promise<void>;
}

const targets: Array<{ name: string; create(): Promise<Scratch> }> = [
  {
    name: 'PGlite (memory)',
    async create() {
      const db = await openDatabase({ kind: 'pglite', dataDir: undefined });
      return { db, dispose: () => db.close() };
    },
  },
];
if (PG_URL) targets.push({ name: 'PostgreSQL', create: () => throwawayPostgres(PG_URL) });

/** Creates a uniquely named database next to the one in `url`; dispose() drops it. */
async function throwawayPostgres(url: string): Promise<Scratch & { url: string }> {
  const name = `doppel_test_migrations_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const scratchUrl = new URL(url);
  scratchUrl.pathname = `/${name}`;
  const db = await openDatabase({ kind: 'postgres', url: scratchUrl.toString() }, { poolSize: 3 });
  return {
    db,
    url: scratchUrl.toString(),
    async dispose() {
      await db.close();
      const drop = new pg.Client({ connectionString: url });
      await drop.connect();
      try {
        await drop.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await drop.end();
      }
    },
  };
}

async function records(db: Database): Promise<MigrationRecord[]> {
  return db.withSession((s) => s.query<MigrationRecord>('SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name'));
}

/** A copy of the migrations directory that a test may edit. */
function copyMigrations(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-migrations-'));
  fs.cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

it('has migrations, and schema.prisma has no changes missing from them', async () => {
  expect(MIGRATIONS.length).toBeGreaterThan(0);
  expect(await diffSql({ from: { kind: 'migrations', migrationsDir: MIGRATIONS_DIR }, to: { kind: 'schema', schema: SCHEMA } })).toBe('');
});

describe.each(targets)('migrations on $name', (target) => {
  let scratch: Scratch;
  let db: Database;
  let first: ApplyMigrationsResult;

  beforeAll(async () => {
    scratch = await target.create();
    db = scratch.db;
    first = await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
  });
  afterAll(async () => {
    await scratch?.dispose();
  });

  it('applies every migration, in order, to an empty database', () => {
    expect(first).toEqual({ applied: MIGRATIONS.map((m) => m.name), total: MIGRATIONS.length });
  });

  it('leaves a database that matches schema.prisma exactly', async () => {
    expect(await diffSql({ from: { kind: 'database', driver: db.driver }, to: { kind: 'schema', schema: SCHEMA } })).toBe('');
  });

  it('records each migration in _prisma_migrations as Prisma does', async () => {
    const rows = await records(db);
    expect(rows.map((r) => r.migration_name)).toEqual(MIGRATIONS.map((m) => m.name));
    for (const [i, row] of rows.entries()) {
      const file = fs.readFileSync(path.join(MIGRATIONS_DIR, row.migration_name, 'migration.sql'));
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row.checksum).toBe(migrationChecksum(file));
      expect(row.checksum).toBe(MIGRATIONS[i]!.checksum);
      expect(row.applied_steps_count).toBe(1);
      expect(row.logs).toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    }
  });

  it("satisfies Prisma's own engine: history in sync, nothing edited or failed (what `migrate status` checks)", async () => {
    const diagnosis = await withSchemaEngine({ database: db.driver }, (engine) =>
      engine.diagnoseMigrationHistory({ migrationsList: readMigrationList(MIGRATIONS_DIR), optInToShadowDatabase: false, filters: FILTERS }),
    );
    expect(diagnosis).toMatchObject({ history: null, editedMigrationNames: [], failedMigrationNames: [], hasMigrationsTable: true });
  });

  it('is a no-op when applied again', async () => {
    const before = await records(db);
    const again = await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR });
    expect(again).toEqual({ applied: [], total: MIGRATIONS.length });
    expect(await records(db)).toEqual(before);
  });

  it('refuses to run when an applied migration.sql was edited afterwards', async () => {
    const dir = copyMigrations();
    try {
      const file = path.join(dir, MIGRATIONS[0]!.name, 'migration.sql');
      fs.appendFileSync(file, '\n-- edited after it was applied\n');
      const error = await applyMigrations(db, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect(error).toMatchObject({ code: 'MIGRATION_CHECKSUM_MISMATCH' });
      expect((error as Error).message).toContain(MIGRATIONS[0]!.name);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to run when the recorded checksum was tampered with', async () => {
    const name = MIGRATIONS[0]!.name;
    await db.executeScript(`UPDATE _prisma_migrations SET checksum = repeat('0', 64) WHERE migration_name = '${name}'`);
    try {
      await expect(applyMigrations(db, { migrationsDir: MIGRATIONS_DIR })).rejects.toMatchObject({ code: 'MIGRATION_CHECKSUM_MISMATCH' });
    } finally {
      await db.executeScript(`UPDATE _prisma_migrations SET checksum = '${MIGRATIONS[0]!.checksum}' WHERE migration_name = '${name}'`);
    }
    expect((await applyMigrations(db, { migrationsDir: MIGRATIONS_DIR })).applied).toEqual([]);
  });

  it('accepts a migration whose only change is CRLF line endings, as Prisma does', async () => {
    const dir = copyMigrations();
    try {
      const file = path.join(dir, MIGRATIONS[0]!.name, 'migration.sql');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replaceAll('\n', '\r\n'));
      expect((await applyMigrations(db, { migrationsDir: dir })).applied).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rolls back a failing migration and records nothing, then applies it once fixed', async () => {
    const dir = copyMigrations();
    const name = '99999999999999_broken';
    try {
      fs.mkdirSync(path.join(dir, name));
      const script = 'CREATE TABLE "MigrationProbe" (id INTEGER PRIMARY KEY);\nSELECT no_such_function();\n';
      fs.writeFileSync(path.join(dir, name, 'migration.sql'), script);
      const error = await applyMigrations(db, { migrationsDir: dir }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'MIGRATION_FAILED' });
      expect((error as Error).message).toContain(name);
      const [probe] = await db.withSession((s) => s.query<{ t: string | null }>(`SELECT to_regclass('"MigrationProbe"')::text AS t`));
      expect(probe!.t).toBeNull();
      expect((await records(db)).map((r) => r.migration_name)).not.toContain(name);

      fs.writeFileSync(path.join(dir, name, 'migration.sql'), 'CREATE TABLE "MigrationProbe" (id INTEGER PRIMARY KEY);\n');
      expect((await applyMigrations(db, { migrationsDir: dir })).applied).toEqual([name]);
    } finally {
      await db.executeScript(`DROP TABLE IF EXISTS "MigrationProbe"; DELETE FROM _prisma_migrations WHERE migration_name = '${name}'`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PGlite only', () => {
  it("writes the same table and rows as Prisma's engine applying the same migrations", async () => {
    const ours = await openDatabase({ kind: 'pglite', dataDir: undefined });
    const theirs = new PGlite();
    try {
      await applyMigrations(ours, { migrationsDir: MIGRATIONS_DIR });
      const output = await withSchemaEngine({ database: { kind: 'pglite', pglite: theirs } }, (engine) =>
        engine.applyMigrations({ migrationsList: readMigrationList(MIGRATIONS_DIR), filters: FILTERS }),
      );
      expect(output.appliedMigrationNames).toEqual(MIGRATIONS.map((m) => m.name));

      const columns = `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
                         FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`;
      const theirColumns = (await theirs.query(columns)).rows;
      expect(theirColumns.length).toBe(8);
      expect(await ours.withSession((s) => s.query(columns))).toEqual(theirColumns);

      // ids and timestamps differ by nature; everything else must be identical.
      const comparable = (rows: MigrationRecord[]) =>
        rows.map(({ id, started_at, finished_at, ...rest }) => ({ ...rest, idLength: id.length, finished: finished_at !== null }));
      const theirRows = (await theirs.query<MigrationRecord>('SELECT * FROM _prisma_migrations ORDER BY migration_name')).rows;
      expect(comparable(await records(ours))).toEqual(comparable(theirRows));

      // And both produce the same schema.
      expect(await diffSql({ from: { kind: 'database', driver: { kind: 'pglite', pglite: theirs } }, to: { kind: 'schema', schema: SCHEMA } })).toBe('');
    } finally {
      await ours.close();
      await theirs.close();
    }
  });

  it('queues concurrent calls in one process (advisory locks are re-entrant on its single connection)', async () => {
    const db = await openDatabase({ kind: 'pglite', dataDir: undefined });
    try {
      const results = await Promise.all([1, 2, 3].map(() => applyMigrations(db, { migrationsDir: MIGRATIONS_DIR })));
      expect(results.map((r) => r.applied)).toEqual([MIGRATIONS.map((m) => m.name), [], []]);
      expect(await records(db)).toHaveLength(MIGRATIONS.length);
    } finally {
      await db.close();
    }
  });

  it('refuses a database that has tables but no _prisma_migrations', async () => {
    const db = await openDatabase({ kind: 'pglite', dataDir: undefined });
    try {
      await db.executeScript('CREATE TABLE "Stray" (id INTEGER);');
      await expect(applyMigrations(db, { migrationsDir: MIGRATIONS_DIR })).rejects.toMatchObject({ code: 'DATABASE_NOT_EMPTY' });
    } finally {
      await db.close();
    }
  });
});

describe.runIf(PG_URL)('PostgreSQL only', () => {
  it('lets exactly one of several concurrent migrators apply each migration', async () => {
    const scratch = await throwawayPostgres(PG_URL!);
    const others = await Promise.all([1, 2].map(() => openDatabase({ kind: 'postgres', url: scratch.url }, { poolSize: 2 })));
    try {
      const results = await Promise.all([scratch.db, ...others].map((db) => applyMigrations(db, { migrationsDir: MIGRATIONS_DIR })));
      expect(results.flatMap((r) => r.applied).sort()).toEqual(MIGRATIONS.map((m) => m.name).sort());
      expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1);
      expect((await records(scratch.db)).map((r) => r.migration_name)).toEqual(MIGRATIONS.map((m) => m.name));
      expect(await diffSql({ from: { kind: 'database', driver: scratch.db.driver }, to: { kind: 'schema', schema: SCHEMA } })).toBe('');
    } finally {
      await Promise.all(others.map((db) => db.close()));
      await scratch.dispose();
    }
  });
});
