import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createCertificateAuthority, issueServerCertificate } from '../../../src/security/tls/certificates.ts';
import { createServerTls } from '../../../src/security/tls/index.ts';
import { ensureGeneratedCertificates, loadGivenCertificates, TlsMaterialError } from '../../../src/security/tls/store.ts';

const DAY = 86_400_000;
const now = new Date('2026-12-02T12:00:00Z');
const names = ['localhost', '127.0.0.1'];
const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-tls-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});
const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe('generated certificates', () => {
  it('are created on first start with private file modes, and reused on the next', async () => {
    const dataDir = tempDir();
    const first = await ensureGeneratedCertificates(dataDir, names, now);
    expect(first.createdCa).toBe(true);
    expect(first.issued).toBe('none yet');
    const dir = path.join(dataDir, 'tls');
    expect(mode(dir)).toBe(0o700);
    for (const file of fs.readdirSync(dir)) expect(mode(path.join(dir, file))).toBe(0o600);
    expect(first.material.caPath).toBe(path.join(dir, 'ca.pem'));

    const second = await ensureGeneratedCertificates(dataDir, names, new Date(now.getTime() + DAY));
    expect(second.createdCa).toBe(false);
    expect(second.issued).toBeUndefined();
    expect(second.material.certPem).toBe(first.material.certPem);
    expect(second.material.caFingerprint).toBe(first.material.caFingerprint);
  });

  it('re-issue the server certificate (same CA) when it nears its end or the names change', async () => {
    const dataDir = tempDir();
    const first = await ensureGeneratedCertificates(dataDir, names, now);
    const late = await ensureGeneratedCertificates(dataDir, names, new Date(now.getTime() + 61 * DAY));
    expect(late.issued).toBe('expires soon');
    expect(late.material.caFingerprint).toBe(first.material.caFingerprint);
    const renamed = await ensureGeneratedCertificates(dataDir, [...names, 'doppel.example.com'], new Date(now.getTime() + 62 * DAY));
    expect(renamed.issued).toBe('hostnames changed');
  });

  it('replace a damaged server certificate instead of serving it', async () => {
    const dataDir = tempDir();
    await ensureGeneratedCertificates(dataDir, names, now);
    fs.writeFileSync(path.join(dataDir, 'tls', 'server.pem'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n');
    const again = await ensureGeneratedCertificates(dataDir, names, now);
    expect(again.issued).toBe('none yet');
  });

  it('are re-issued while running and handed to the listeners (daily check)', async () => {
    const dataDir = tempDir();
    let clock = now;
    const serverTls = createServerTls({ dataDir, hostnames: names, logger: pino({ level: 'silent' }), now: () => clock });
    const started = await serverTls.start();
    const renewed: string[] = [];
    serverTls.onRenewed((material) => renewed.push(material.certPem));
    expect(await serverTls.checkRenewal()).toBe(false);
    clock = new Date(now.getTime() + 70 * DAY);
    expect(await serverTls.checkRenewal()).toBe(true);
    expect(renewed).toHaveLength(1);
    expect(renewed[0]).not.toBe(started.certPem);
    expect(serverTls.current().certPem).toBe(renewed[0]);
    await serverTls.stop();
  });
});

describe('certificates given by path', () => {
  async function writeGiven(validFrom: Date, validDays: number) {
    const dir = tempDir();
    const ca = await createCertificateAuthority('Given CA', new Date(validFrom.getTime() - DAY));
    const server = await issueServerCertificate(ca, names, validFrom, validDays);
    const paths = { certPath: path.join(dir, 'cert.pem'), keyPath: path.join(dir, 'key.pem'), caPath: path.join(dir, 'ca.pem') };
    fs.writeFileSync(paths.certPath, server.certPem);
    fs.writeFileSync(paths.keyPath, server.keyPem);
    fs.writeFileSync(paths.caPath, ca.certPem);
    return { paths, ca, server, dir };
  }

  it('are used as they are', async () => {
    const { paths, server } = await writeGiven(now, 30);
    const material = await loadGivenCertificates(paths, now);
    expect(material.source).toBe('given');
    expect(material.certPem).toBe(server.certPem);
    expect(material.caFingerprint).toMatch(/^[0-9A-F:]{95}$/);
  });

  it('refuse the start when expired, not yet valid, unreadable, not PEM or with a foreign key', async () => {
    const { paths, dir } = await writeGiven(now, 30);
    await expect(loadGivenCertificates(paths, new Date(now.getTime() + 31 * DAY))).rejects.toThrow(/MQTT_TLS_CERT: .* expired at/);
    await expect(loadGivenCertificates(paths, new Date(now.getTime() - 2 * DAY))).rejects.toThrow(/MQTT_TLS_CERT: .* is not valid before/);
    await expect(loadGivenCertificates({ ...paths, certPath: path.join(dir, 'missing.pem') }, now)).rejects.toThrow(/MQTT_TLS_CERT: cannot read/);
    fs.writeFileSync(path.join(dir, 'junk.pem'), 'junk');
    await expect(loadGivenCertificates({ ...paths, certPath: path.join(dir, 'junk.pem') }, now)).rejects.toThrow(/is not a PEM certificate/);
    const other = await writeGiven(now, 30);
    await expect(loadGivenCertificates({ ...paths, keyPath: other.paths.keyPath }, now)).rejects.toThrow(TlsMaterialError);
    await expect(loadGivenCertificates({ ...paths, keyPath: other.paths.keyPath }, now)).rejects.toThrow(/MQTT_TLS_KEY: .* does not fit/);
  });
});
