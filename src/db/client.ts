import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { DatabaseConfig } from '../config.ts';
import { PrismaClient } from '../generated/prisma/client.ts';

export type { PrismaClient };

/** An open database: the Prisma client plus what the edges need to know about it. */
export interface Database {
  prisma: PrismaClient;
  kind: DatabaseConfig['kind'];
  /** Closes the client and the underlying driver (PGlite instance or pg pool). */
  close(): Promise<void>;
}

/**
 * Opens the database named by the config: PGlite in-process (a directory, or memory when `dataDir` is
 * undefined) or PostgreSQL through a `pg` pool. Both go through Prisma driver adapters, so the rest of
 * the code never branches on the kind.
 */
export async function openDatabase(config: DatabaseConfig, options: { poolSize?: number } = {}): Promise<Database> {
  if (config.kind === 'pglite') {
    if (config.dataDir) fs.mkdirSync(config.dataDir, { recursive: true });
    const pglite = config.dataDir ? new PGlite(config.dataDir) : new PGlite();
    await pglite.waitReady;
    const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
    return {
      prisma,
      kind: 'pglite',
      async close() {
        await prisma.$disconnect();
        await pglite.close();
      },
    };
  }
  const adapter = new PrismaPg({ connectionString: config.url, max: options.poolSize ?? 10 });
  const prisma = new PrismaClient({ adapter });
  return {
    prisma,
    kind: 'postgres',
    async close() {
      await prisma.$disconnect();
    },
  };
}
