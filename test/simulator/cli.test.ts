import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCli, readCaFile, readToken, UsageError } from '../../src/simulator/cli.ts';
import { createCertificateAuthority } from '../../src/security/tls/certificates.ts';
import { openCredentialStore, CredentialsFileError } from '../../src/simulator/credentials.ts';

function options(argv: string[], env: Record<string, string> = {}) {
  const result = parseCli(argv, env);
  if (result.kind !== 'run') throw new Error('expected run options');
  return result.options;
}

function problems(argv: string[], env: Record<string, string> = {}): string[] {
  try {
    parseCli(argv, env);
  } catch (error) {
    if (error instanceof UsageError) return error.problems;
    throw error;
  }
  throw new Error('expected a UsageError');
}

describe('simulator command line', () => {
  it('has the documented defaults', () => {
    expect(options([])).toEqual({
      url: 'http://127.0.0.1:4000/graphql',
      tokenFile: './data/admin-token',
      mqttUrl: 'mqtt://127.0.0.1:1883',
      devices: 3,
      prefix: 'sim',
      model: 'thermostat',
      intervalMs: 2000,
      credentialsFile: './data/simulator-credentials.json',
      flap: 0,
    });
  });

  it('reads flags (both --flag value and --flag=value)', () => {
    expect(
      options([
        '--url',
        'http://h:4100/graphql',
        '--mqtt=mqtt://h:18900',
        '--token',
        'tok',
        '--devices',
        '5',
        '--prefix',
        'lab.a',
        '--model',
        'hvac',
        '--interval',
        '500',
        '--credentials-file',
        '/tmp/c.json',
        '--flap',
        '0.25',
        '--duration',
        '1.5',
      ]),
    ).toEqual({
      url: 'http://h:4100/graphql',
      mqttUrl: 'mqtt://h:18900',
      token: 'tok',
      tokenFile: './data/admin-token',
      devices: 5,
      prefix: 'lab.a',
      model: 'hvac',
      intervalMs: 500,
      credentialsFile: '/tmp/c.json',
      flap: 0.25,
      durationS: 1.5,
    });
  });

  it('falls back to the environment; flags win; paths follow DOPPEL_DATA_DIR', () => {
    const env = { SIM_URL: 'http://e/graphql', SIM_DEVICES: '7', SIM_TOKEN: 'from-env', SIM_INTERVAL_MS: '100', DOPPEL_DATA_DIR: '/srv/doppel' };
    expect(options([], env)).toMatchObject({
      url: 'http://e/graphql',
      devices: 7,
      token: 'from-env',
      intervalMs: 100,
      tokenFile: '/srv/doppel/admin-token',
      credentialsFile: '/srv/doppel/simulator-credentials.json',
    });
    expect(options(['--devices', '2'], env).devices).toBe(2);
    // An explicit --token-file is the latest word over a token in the environment.
    const withFile = options(['--token-file', '/t'], env);
    expect(withFile.token).toBeUndefined();
    expect(withFile.tokenFile).toBe('/t');
  });

  it('lists every bad input at once', () => {
    expect(problems(['--devices', 'x', '--interval', '10', '--flap', '2', '--url', 'ftp://x', '--mqtt', 'http://x', '--duration', '0'])).toEqual([
      '--url must be an http:// or https:// URL (got "ftp://x")',
      '--mqtt must be an mqtt://, mqtts://, ws:// or wss:// URL (got "http://x")',
      '--devices="x" is not a whole number',
      '--interval=10 is out of range (50–86400000 ms)',
      '--flap=2 is out of range (0–1)',
      '--duration=0 is out of range (0.001–31536000 s)',
    ]);
    expect(problems(['--prefix', 'bad/prefix'])[0]).toMatch(/does not make valid device ids/);
    expect(problems(['--prefix', 'x'.repeat(62), '--devices', '100'])[0]).toMatch(/does not make valid device ids/);
    expect(problems(['--nope'])[0]).toMatch(/--nope/);
    expect(problems(['stray'])[0]).toMatch(/stray/);
    expect(problems([], { SIM_DEVICES: '0' })).toEqual(['SIM_DEVICES=0 is out of range (1–10000)']);
  });

  it('prints help', () => {
    const result = parseCli(['--help']);
    expect(result.kind).toBe('help');
    if (result.kind !== 'help') return;
    for (const flag of [
      '--url',
      '--token',
      '--token-file',
      '--mqtt',
      '--devices',
      '--prefix',
      '--model',
      '--interval',
      '--credentials-file',
      '--flap',
      '--duration',
    ]) {
      expect(result.text).toContain(flag);
    }
    expect(parseCli(['-h']).kind).toBe('help');
  });
});

describe('token and credentials files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'doppel-sim-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a --ca file, and refuses one that is missing, not a certificate, or given for a plain broker', async () => {
    const ca = await createCertificateAuthority('Sim CA', new Date());
    await writeFile(path.join(dir, 'ca.pem'), ca.certPem);
    await writeFile(path.join(dir, 'junk.pem'), 'junk');
    expect(await readCaFile(path.join(dir, 'ca.pem'))).toBe(ca.certPem);
    await expect(readCaFile(path.join(dir, 'missing.pem'))).rejects.toThrow(/cannot read the CA file .*ENOENT/);
    await expect(readCaFile(path.join(dir, 'junk.pem'))).rejects.toThrow(/is not a PEM certificate/);
    const parsed = parseCli(['--mqtt', 'mqtts://localhost:8883', '--ca', 'data/tls/ca.pem']);
    expect(parsed.kind === 'run' && parsed.options.caFile).toBe('data/tls/ca.pem');
    expect(() => parseCli(['--ca', 'data/tls/ca.pem'])).toThrow(/--ca needs an mqtts:\/\/ or wss:\/\/ broker URL/);
  });

  it('reads the token from the file, or explains how to get one', async () => {
    await writeFile(path.join(dir, 'admin-token'), 'secret-token\n', { mode: 0o600 });
    expect(await readToken({ tokenFile: path.join(dir, 'admin-token') })).toBe('secret-token');
    expect(await readToken({ token: 'given', tokenFile: '/nonexistent' })).toBe('given');
    await expect(readToken({ tokenFile: path.join(dir, 'missing') })).rejects.toThrow(/ENOENT[\s\S]*npm start/);
  });

  it('keeps secrets in a 0600 file, creating its directory, and keeps other entries', async () => {
    const file = path.join(dir, 'nested', 'creds.json');
    const store = await openCredentialStore(file);
    expect(store.get('a')).toBeUndefined();
    await Promise.all([store.set('a', { username: 'a', password: 'pa' }), store.set('b', { username: 'b', password: 'pb' })]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const again = await openCredentialStore(file);
    expect(again.get('a')).toEqual({ username: 'a', password: 'pa' });
    await again.set('a', { username: 'a', password: 'pa2' });
    const body = JSON.parse(await readFile(file, 'utf8')) as { devices: Record<string, { password: string }> };
    expect(Object.keys(body.devices)).toEqual(['a', 'b']);
    expect(body.devices.a!.password).toBe('pa2');
  });

  it('refuses to work with (and overwrite) a corrupt file', async () => {
    const file = path.join(dir, 'corrupt.json');
    await writeFile(file, '{nope');
    await expect(openCredentialStore(file)).rejects.toThrow(CredentialsFileError);
  });
});
