import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { externalDatabaseUrl, externalMqttUrl } from '../support/harness.ts';
import { startOnDataDir, type ServerProcess } from '../support/process.ts';

// `npm start` as a user runs it: a real process on the embedded defaults. The embedded mode is the
// subject here, so the suite runs once, in the embedded pass of CI.
const suite = externalDatabaseUrl || externalMqttUrl ? describe.skip : describe;
const root = path.resolve(import.meta.dirname, '..', '..');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-process-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function startProcess(): Promise<ServerProcess> {
  const started = await startOnDataDir(dataDir);
  children.push(started.child);
  return started;
}

async function query(url: string, token: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ devices { totalCount } }' }),
  });
  return { status: response.status, body: (await response.json()) as { data?: { devices: { totalCount: number } } } };
}

suite('the server process (npm start)', () => {
  it('creates an admin token on first start (mode 0600, location logged, token never logged), and drains on SIGTERM', async () => {
    const first = await startProcess();
    const tokenFile = path.join(dataDir, 'admin-token');
    expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = fs.readFileSync(tokenFile, 'utf8').trim();
    const output = first.lines.join('\n');
    expect(output).toContain(tokenFile);
    expect(output).not.toContain(token);
    expect(await query(first.graphql, token)).toEqual({ status: 200, body: { data: { devices: { totalCount: 0 } } } });

    // GraphiQL's page is served without a token; operations are not.
    const page = await fetch(first.graphql, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/GraphiQL|graphiql/);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // Second start: the same token still works and no new one is made.
    const second = await startProcess();
    expect(second.lines.join('\n')).not.toContain('created the first admin API token');
    expect((await query(second.graphql, token)).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 120_000); // two cold starts of a real process on a fresh embedded database: slow on a loaded 2-core machine

  it('refuses to start on a bad configuration, naming each bad variable', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { ...process.env, PORT: 'x', LOG_LEVEL: 'loud', DATABASE_URL: '', MQTT_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/PORT="x" is not a whole number/);
    expect(stderr).toMatch(/LOG_LEVEL must be one of/);
  });
});
