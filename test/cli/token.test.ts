import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExpiry, runTokenCli } from '../../src/cli/token.ts';
import { resolveApiToken } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';

// The CLI opens the database named by DATABASE_URL, like the server; here a PGlite directory per file.
let dir: string;
let env: Record<string, string>;
/** Every CLI run opens the PGlite directory afresh (a couple of seconds each on a busy machine). */
const SLOW = 120_000;
const state = { id: '', token: '' };

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-token-cli-'));
  env = { DATABASE_URL: `pglite:${path.join(dir, 'db')}`, LOG_LEVEL: 'silent' };
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTokenCli(argv, env, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function withDb<T>(fn: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>): Promise<T> {
  const db = await openDatabase(loadConfig(env).database);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe('npm run token', () => {
  it(
    'refuses bad usage with exit code 2 and the usage text, before touching the database',
    async () => {
      const cases: Array<[string[], RegExp]> = [
        [[], /no command given/],
        [['frobnicate'], /unknown command "frobnicate"/],
        [['create', '--tenant', 'acme', '--name', 'ops'], /create needs --role/],
        [['create', '--tenant', 'acme', '--role', 'root', '--name', 'ops'], /--role must be one of admin, operator, viewer/],
        [['create', '--tenant', 'a b', '--role', 'admin', '--name', 'ops'], /--tenant: tenantId must be/],
        [['create', '--tenant', 'acme', '--role', 'admin', '--name', 'ops', '--expires', 'soon'], /--expires "soon"/],
        [['create', '--tenant', 'acme', '--role', 'admin', '--name', 'ops', '--expires', '2001-01-01T00:00:00Z'], /--expires: expiresAt must be in the future/],
        [['revoke'], /exactly one token id/],
        [['revoke', 'abc'], /"abc" is not a token id/],
        [['list', '--role', 'admin'], /list takes only --tenant and --all/],
        [['create', '--bogus'], /Unknown option '--bogus'/],
      ];
      for (const [argv, message] of cases) {
        const r = await run(...argv);
        expect(r.code, argv.join(' ')).toBe(2);
        expect(r.err).toMatch(message);
        expect(r.err).toMatch(/Usage:/);
        expect(r.out).toBe('');
      }
      expect(fs.existsSync(path.join(dir, 'db'))).toBe(false);
      expect((await run('--help')).out).toMatch(/npm run token -- create --tenant/);
    },
    SLOW,
  );

  it(
    "bootstraps a tenant's first admin",
    async () => {
      const created = await run('create', '--tenant', 'acme', '--role', 'admin', '--name', 'ops', '--expires', '90d');
      expect(created.code).toBe(0);
      // Only the token on stdout, so `TOKEN=$(npm run -s token -- create …)` captures exactly it.
      expect(created.out).toMatch(/^dpl_[A-Za-z0-9_-]{43}$/);
      const id = /token ([0-9a-f-]{36})/.exec(created.err)![1]!;
      expect(created.err).toMatch(/in tenant acme, expires/);

      const principal = await withDb((db) => resolveApiToken(db.prisma, created.out));
      expect(principal).toMatchObject({ tokenId: id, tenantId: 'acme', role: 'admin', name: 'ops' });
      state.id = id;
      state.token = created.out;
    },
    SLOW,
  );

  it(
    'lists tokens per tenant without secrets',
    async () => {
      const { id } = state;
      await run('create', '--tenant', 'other', '--role', 'viewer', '--name', 'dash');
      const listed = await run('list', '--tenant', 'acme');
      expect(listed.code).toBe(0);
      const rows = listed.out
        .split('\n')
        .slice(1)
        .map((l) => l.split('\t'));
      expect(rows).toEqual([[id, 'acme', 'admin', 'ops', expect.any(String), expect.stringMatching(/^\d{4}-/), '-']]);
      expect(listed.out).not.toContain(state.token);
      expect((await run('list')).out.split('\n')).toHaveLength(3);
    },
    SLOW,
  );

  it(
    'revokes tokens (idempotently) and audits creation and revocation',
    async () => {
      const { id } = state;

      expect(await run('revoke', id)).toMatchObject({ code: 0, err: expect.stringMatching(/revoked token .* \(tenant acme\)/) });
      expect(await run('revoke', id)).toMatchObject({ code: 0, err: expect.stringMatching(/already revoked/) });
      expect(await run('revoke', '00000000-0000-4000-8000-000000000000')).toMatchObject({ code: 1, err: expect.stringMatching(/no token with id/) });
      expect((await run('list', '--tenant', 'acme')).out.split('\n')).toHaveLength(1);
      expect((await run('list', '--tenant', 'acme', '--all')).out).toContain(id);

      const audit = await withDb((db) => db.prisma.auditEvent.findMany({ where: { target: `apiToken:${id}` }, orderBy: { id: 'asc' } }));
      expect(audit.map((e) => [e.tenantId, e.actor, e.actorName, e.action])).toEqual([
        ['acme', 'system', 'cli', 'apiToken.create'],
        ['acme', 'system', 'cli', 'apiToken.revoke'],
      ]);
      expect(await withDb((db) => resolveApiToken(db.prisma, state.token))).toBeNull();
    },
    SLOW,
  );

  it('reads --expires as an instant or a duration from now', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseExpiry('90d', now).toISOString()).toBe('2026-04-01T00:00:00.000Z');
    expect(parseExpiry('12h', now).toISOString()).toBe('2026-01-01T12:00:00.000Z');
    expect(parseExpiry('30m', now).toISOString()).toBe('2026-01-01T00:30:00.000Z');
    expect(parseExpiry('2027-02-03T04:05:06Z', now).toISOString()).toBe('2027-02-03T04:05:06.000Z');
    expect(() => parseExpiry('tomorrow', now)).toThrow(/--expires/);
  });
});
