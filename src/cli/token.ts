/**
 * `npm run token -- …`: API tokens from the console, for bootstrap (a new tenant's first admin) and for
 * recovery (every admin token lost). Works on the database the server would open (DATABASE_URL; see
 * scripts/token.ts). The console is trusted with every tenant; GraphQL admins only see their own.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.ts';
import { openDatabase, type Database } from '../db/client.ts';
import { applyMigrations, MigrationError } from '../db/migrate.ts';
import { systemActor } from '../domain/principal.ts';
import { createApiToken, listApiTokens, revokeApiToken, validateApiTokenInput } from '../auth/tokens.ts';
import { isUuid } from '../domain/ids.ts';
import { ROLES, type Role } from '../domain/principal.ts';

export const TOKEN_CLI_USAGE = `Usage:
  npm run token -- create --tenant <tenant> --role <admin|operator|viewer> --name <name> [--expires <when>]
  npm run token -- list [--tenant <tenant>] [--all]
  npm run token -- revoke <token id>

create   prints the new token on stdout (only there, only now) and its id on stderr:
         TOKEN=$(npm run -s token -- create --tenant acme --role admin --name ops)
         --expires: an ISO-8601 instant, or a duration from now such as 90d, 12h, 30m.
list     the tokens of one tenant (default: all tenants); --all includes revoked ones. Never secrets.
revoke   the token is refused at once; subscriptions open with it end on every instance within
         API_TOKEN_RECHECK_MS.

The database is DATABASE_URL (unset: ./data/pglite). An embedded PGlite directory must not be open in a
running server at the same time: stop it first, or use the GraphQL mutations with an admin token.`;

export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

class UsageError extends Error {}

/** Parses --expires: an ISO instant or <n>d / <n>h / <n>m from now. */
export function parseExpiry(value: string, now = Date.now()): Date {
  const duration = /^(\d{1,6})([dhm])$/.exec(value);
  if (duration) {
    const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[duration[2] as 'd' | 'h' | 'm'];
    return new Date(now + Number(duration[1]) * unit);
  }
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new UsageError(`--expires ${JSON.stringify(value)}: use an ISO-8601 instant or a duration like 90d, 12h, 30m`);
  }
  return date;
}

/** Runs the CLI; returns the exit code (0 ok, 1 failed, 2 usage or configuration error). */
export async function runTokenCli(argv: string[], env: Record<string, string | undefined>, io: CliIo): Promise<number> {
  let command: string | undefined;
  let values: {
    tenant?: string | undefined;
    role?: string | undefined;
    name?: string | undefined;
    expires?: string | undefined;
    all?: boolean | undefined;
    help?: boolean | undefined;
  };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        tenant: { type: 'string' },
        role: { type: 'string' },
        name: { type: 'string' },
        expires: { type: 'string' },
        all: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
    command = positionals[0];
    if (values.help) {
      io.out(TOKEN_CLI_USAGE);
      return 0;
    }
    if (command === undefined) throw new UsageError('no command given');
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${TOKEN_CLI_USAGE}`);
    return 2;
  }

  // Everything is checked before the database is opened: a typo costs nothing.
  let run: (db: Database) => Promise<number>;
  try {
    run = plan(command, values, positionals.slice(1), io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`${error.message}\n\n${TOKEN_CLI_USAGE}`);
    return 2;
  }

  const config = loadConfigOrReport(env, io.err);
  if (!config) {
    return 2;
  }
  const db = await openDatabase(config.database, { poolSize: 1 });
  try {
    await applyMigrations(db, { migrationsDir: path.resolve(import.meta.dirname, '..', '..', 'prisma', 'migrations') });
    return await run(db);
  } catch (error) {
    if (error instanceof MigrationError) {
      io.err(`${error.code}: ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await db.close();
  }
}

function plan(
  command: string,
  values: { tenant?: string | undefined; role?: string | undefined; name?: string | undefined; expires?: string | undefined; all?: boolean | undefined },
  rest: string[],
  io: CliIo,
): (db: Database) => Promise<number> {
  switch (command) {
    case 'create': {
      if (rest.length > 0) throw new UsageError(`create takes no positional arguments (got ${rest.join(' ')})`);
      const missing = (['tenant', 'role', 'name'] as const).filter((k) => !values[k]);
      if (missing.length > 0) throw new UsageError(`create needs ${missing.map((m) => `--${m}`).join(', ')}`);
      if (!(ROLES as readonly string[]).includes(values.role!)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      const input = { tenantId: values.tenant!, role: values.role as Role, name: values.name!, expiresAt: values.expires ? parseExpiry(values.expires) : null };
      const issues = validateApiTokenInput(input);
      if (issues.length > 0)
        throw new UsageError(
          issues.map((i) => `--${i.path[0] === 'tenantId' ? 'tenant' : i.path[0] === 'expiresAt' ? 'expires' : i.path[0]}: ${i.message}`).join('\n'),
        );
      return async (db) => {
        const created = await createApiToken(db.prisma, input, systemActor(input.tenantId, 'cli'));
        io.err(
          `created ${input.role} token ${created.id} "${created.apiToken.name}" in tenant ${input.tenantId}${input.expiresAt ? `, expires ${input.expiresAt.toISOString()}` : ''}; it is shown only now:`,
        );
        io.out(created.token);
        return 0;
      };
    }
    case 'list': {
      if (rest.length > 0) throw new UsageError(`list takes no positional arguments (got ${rest.join(' ')})`);
      if (values.role || values.name || values.expires) throw new UsageError('list takes only --tenant and --all');
      return async (db) => {
        const rows = await listApiTokens(db.prisma, values.tenant ?? null, { includeRevoked: values.all ?? false });
        io.out(['id', 'tenant', 'role', 'name', 'created', 'expires', 'revoked'].join('\t'));
        for (const r of rows) {
          io.out(
            [r.id, r.tenantId, r.role, r.name, r.createdAt.toISOString(), r.expiresAt?.toISOString() ?? '-', r.revokedAt?.toISOString() ?? '-'].join('\t'),
          );
        }
        return 0;
      };
    }
    case 'revoke': {
      if (rest.length !== 1) throw new UsageError('revoke takes exactly one token id (see `npm run token -- list`)');
      const id = rest[0]!;
      if (!isUuid(id)) throw new UsageError(`${JSON.stringify(id)} is not a token id (a UUID; see \`npm run token -- list\`)`);
      return async (db) => {
        const result = await revokeApiToken(db.prisma, null, id, (tenantId) => systemActor(tenantId, 'cli'));
        if (!result) {
          io.err(`no token with id ${id}`);
          return 1;
        }
        io.err(
          result.changed
            ? `revoked token ${id} "${result.apiToken.name}" (tenant ${result.apiToken.tenantId})`
            : `token ${id} was already revoked at ${result.apiToken.revokedAt!.toISOString()}`,
        );
        return 0;
      };
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}
