/**
 * `npm run devices -- import` (src/cli/devices.ts) against a running server: credentials written to a
 * new 0600 file after every batch, refused rows listed with their file line, bad files importing nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDevicesCli } from '../../src/cli/devices.ts';
import { connackCode, embeddedBroker, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
let dir: string;
beforeAll(async () => {
  t = await startTestServer();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-devices-cli-'));
});
afterAll(async () => {
  await t?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runDevicesCli(argv, { DOPPEL_URL: t.httpUrl, DOPPEL_TOKEN: t.token }, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe(`npm run devices -- import (${modeName})`, () => {
  it('imports a CSV in batches and writes every password to a new 0600 file', async () => {
    const p = uniqueDeviceId('cli');
    const file = write(`${p}.csv`, `deviceId,name,tags,model\n${[1, 2, 3, 4, 5].map((i) => `${p}-${i},Device ${i},farm;row:${i},${p}-model`).join('\n')}\n`);
    const r = await run('import', file, '--batch-size', '2');
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe(`5 created, 0 refused; credentials in ${file}.credentials.csv`);
    const creds = fs.readFileSync(`${file}.credentials.csv`, 'utf8').trim().split('\n');
    expect(fs.statSync(`${file}.credentials.csv`).mode & 0o777).toBe(0o600);
    expect(creds[0]).toBe('deviceId,username,password');
    expect(creds.slice(1).map((l) => l.split(',')[0])).toEqual([1, 2, 3, 4, 5].map((i) => `${p}-${i}`));
    const stored = await t.database.prisma.device.findMany({
      where: { deviceId: { startsWith: `${p}-` } },
      include: { model: true },
      orderBy: { deviceId: 'asc' },
    });
    expect(stored.map((d) => [d.name, d.tags, d.model?.name])).toEqual([1, 2, 3, 4, 5].map((i) => [`Device ${i}`, ['farm', `row:${i}`], `${p}-model`]));
    if (embeddedBroker) {
      const [deviceId, username, password] = creds[3]!.split(',');
      expect(username).toBe(deviceId);
      expect(await connackCode(t.mqttUrl, username!, password!)).toBe(0);
    }
    // The credentials file is never overwritten.
    const again = await run('import', file);
    expect(again.code).toBe(2);
    expect(again.err).toContain('never overwritten');
  });

  it('lists refused rows with their file line, keeps the credentials of the rest, exits 1', async () => {
    const p = uniqueDeviceId('clibad');
    const file = write(
      `${p}.jsonl`,
      [`{"deviceId":"${p}-1"}`, `{"deviceId":"${p}-1"}`, `{"deviceId":"${p}-2","tags":["bad tag"]}`, `{"deviceId":"${p}-3"}`].join('\n'),
    );
    const r = await run('import', file, '--out', path.join(dir, `${p}-creds.csv`));
    expect(r.code).toBe(1);
    expect(r.err.split('\n')).toEqual([
      `${file}:2: ${p}-1: DUPLICATE_IN_REQUEST deviceId "${p}-1" is also row 0`,
      `${file}:3: ${p}-2: INVALID_TAG tag "bad tag" must be 1–64 characters of A–Z, a–z, 0–9 and . _ : = / -`,
    ]);
    expect(
      fs
        .readFileSync(path.join(dir, `${p}-creds.csv`), 'utf8')
        .trim()
        .split('\n').length,
    ).toBe(3);
  });

  it('dry run and all-or-nothing write nothing when a row is refused', async () => {
    const p = uniqueDeviceId('clidry');
    const file = write(`${p}.csv`, `deviceId\n${p}-1\n${p} bad\n`);
    const dry = await run('import', file, '--dry-run');
    expect(dry).toMatchObject({ code: 1, out: 'dry run: 1 valid, 1 refused, nothing written' });
    expect(fs.existsSync(`${file}.credentials.csv`)).toBe(false);
    const atomic = await run('import', file, '--atomic');
    expect(atomic.code).toBe(1);
    expect(atomic.err).toContain('NOT_CREATED');
    expect(await t.database.prisma.device.count({ where: { deviceId: `${p}-1` } })).toBe(0);
  });

  it('a bad file, bad usage or a refused token import nothing, with the reason', async () => {
    const p = uniqueDeviceId('cliuse');
    const bad = write(`${p}.csv`, `deviceId,colour\n${p}-1,red\n`);
    expect(await run('import', bad)).toMatchObject({ code: 2, err: expect.stringContaining(`${bad}:1: unknown column(s) colour`) });
    expect(await run('export', bad)).toMatchObject({ code: 2, err: expect.stringContaining('unknown command export') });
    expect(await run('import', bad, '--batch-size', '0')).toMatchObject({ code: 2, err: expect.stringContaining('--batch-size must be') });
    const good = write(`${p}-ok.csv`, `deviceId\n${p}-1\n`);
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDevicesCli(
      ['import', good, '--out', path.join(dir, `${p}-x.csv`)],
      { DOPPEL_URL: t.httpUrl, DOPPEL_TOKEN: 'not-a-token' },
      { out: (l) => out.push(l), err: (l) => err.push(l) },
    );
    expect(code).toBe(3);
    expect(err.join('\n')).toContain('the server refused the import: UNAUTHENTICATED');
    expect(await t.database.prisma.device.count({ where: { deviceId: `${p}-1` } })).toBe(0);
  });
});
