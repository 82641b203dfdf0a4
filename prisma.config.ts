import path from 'node:path';
import { defineConfig } from 'prisma/config';

// The Prisma CLI wants a native schema engine it cannot download on air-gapped machines. `generate`,
// `validate` and `format` never run it, so any existing file satisfies the check (DESIGN §10).
// Migrations are produced and applied by our own WASM-based tooling (scripts/db-diff.ts, src/db/migrate.ts).
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.resolve('package.json');

export default defineConfig({
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
});
