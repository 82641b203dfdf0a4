/**
 * MQTT over TLS on the embedded broker (docs/security.md, "Transport encryption"): a device trusting
 * the generated CA connects and is served as on the plain port; everything else — plain MQTT to the TLS
 * port, TLS to the plain port, a client trusting another CA, TLS 1.1 — is refused cleanly, counted,
 * and the broker keeps serving. Certificates given by path: used as given, or the start refused.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TLS_HANDSHAKE_FAILURES_METRIC } from '../../src/mqtt/embedded/tls.ts';
import { createCertificateAuthority, fingerprintOf, issueServerCertificate } from '../../src/security/tls/certificates.ts';
import { connackCode, embeddedBroker, messageWaiter, startTestServer, storedPoints, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const suite = embeddedBroker ? describe : describe.skip;
const DAY = 86_400_000;

let t: TestServer;
beforeAll(async () => {
  if (embeddedBroker) t = await startTestServer();
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

async function register(server: TestServer, deviceId = uniqueDeviceId('tls')) {
  const result = await server.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { username password } } } }`,
    { id: deviceId },
  );
  const { password } = (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials;
  return { deviceId, password };
}

function failures(server: TestServer, reason: string): number {
  return server.running.metrics.get(TLS_HANDSHAKE_FAILURES_METRIC, { reason });
}

/** Connects over TLS; resolves 'connected' or the client's error message. */
function tlsAttempt(url: string, options: mqtt.IClientOptions): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
    client.once('connect', () => {
      client.end(true);
      resolve('connected');
    });
    client.once('error', (error) => {
      client.end(true);
      resolve(error.message);
    });
    client.once('close', () => resolve('closed'));
  });
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

suite('MQTT over TLS (embedded broker)', () => {
  it('serves a device that trusts the generated CA, on port 0 next to the plain listener', async () => {
    expect(t.mqttTlsUrl).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    expect(t.caPem).toContain('BEGIN CERTIFICATE');
    expect(t.running.caPath && fs.statSync(t.running.caPath).mode & 0o777).toBe(0o600);
    const { deviceId, password } = await register(t);
    const client = await mqtt.connectAsync(t.mqttTlsUrl!, { username: deviceId, password, ca: t.caPem, reconnectPeriod: 0, clientId: deviceId });
    try {
      const socket = (client as unknown as { stream: tls.TLSSocket }).stream;
      expect(['TLSv1.2', 'TLSv1.3']).toContain(socket.getProtocol());
      const replies = messageWaiter(client);
      await client.subscribeAsync(`devices/${deviceId}/twin/#`);
      await client.publishAsync(`devices/${deviceId}/twin/reported`, JSON.stringify({ state: { on: true }, clientToken: 'c1' }), { qos: 1 });
      expect((await replies.next(`devices/${deviceId}/twin/reported/accepted`)).json).toMatchObject({ clientToken: 'c1', version: 1 });
      await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ values: { temp: 20 } }), { qos: 1 });
      expect(await storedPoints(t.database, deviceId)).toBe(1);
    } finally {
      await client.endAsync(true);
    }
    // The password rules are the same as on the plain port.
    expect(await tlsAttempt(t.mqttTlsUrl!, { username: deviceId, password: `${password}x`, ca: t.caPem })).toMatch(/Bad username or password/i);
  });

  it('refuses plain MQTT on the TLS port, counted, and keeps serving', async () => {
    const before = failures(t, 'not_tls');
    const plainToTls = t.mqttTlsUrl!.replace('mqtts://', 'mqtt://');
    // The TLS listener closes the connection without a CONNACK.
    expect(await tlsAttempt(plainToTls, { username: 'someone', password: 'x' })).toBe('closed');
    await until(() => failures(t, 'not_tls') > before, 'the not_tls count');
    const { deviceId, password } = await register(t);
    expect(await tlsAttempt(t.mqttTlsUrl!, { username: deviceId, password, ca: t.caPem })).toBe('connected');
  });

  it('refuses TLS on the plain port, counted, and keeps serving', async () => {
    const before = failures(t, 'tls_on_plain_port');
    const tlsToPlain = t.mqttUrl.replace('mqtt://', 'mqtts://');
    expect(await tlsAttempt(tlsToPlain, { username: 'someone', password: 'x', ca: t.caPem })).not.toBe('connected');
    await until(() => failures(t, 'tls_on_plain_port') > before, 'the tls_on_plain_port count');
    const { deviceId, password } = await register(t);
    expect(await connackCode(t.mqttUrl, deviceId, password)).toBe(0);
  });

  it('is refused by a client that trusts another CA, and by one without any CA', async () => {
    const other = await createCertificateAuthority('Some other CA', new Date());
    const { deviceId, password } = await register(t);
    expect(await tlsAttempt(t.mqttTlsUrl!, { username: deviceId, password, ca: other.certPem })).toMatch(/self.signed|unable to (get|verify)/i);
    expect(await tlsAttempt(t.mqttTlsUrl!, { username: deviceId, password })).toMatch(/self.signed|unable to (get|verify)/i);
    expect(await tlsAttempt(t.mqttTlsUrl!, { username: deviceId, password, ca: t.caPem })).toBe('connected');
  });

  it('refuses TLS 1.1, counted as protocol', async () => {
    const before = failures(t, 'protocol');
    const port = Number(new URL(t.mqttTlsUrl!).port);
    const error = await new Promise<Error | undefined>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: t.caPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (e: Error) => resolve(e));
    });
    expect(error).toBeDefined();
    await until(() => failures(t, 'protocol') > before, 'the protocol count');
  });

  it('survives a half-open handshake and garbage on the TLS port', async () => {
    const port = Number(new URL(t.mqttTlsUrl!).port);
    const garbage = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => garbage.once('connect', resolve));
    garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x02]));
    garbage.destroy();
    const { deviceId, password } = await register(t);
    expect(await tlsAttempt(t.mqttTlsUrl!, { username: deviceId, password, ca: t.caPem })).toBe('connected');
  });
});

suite('MQTT over TLS with certificates given by path', () => {
  async function given(validFrom: Date, days: number) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'doppel-given-'));
    const ca = await createCertificateAuthority('Operator CA', new Date(validFrom.getTime() - DAY));
    const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'], validFrom, days);
    fs.writeFileSync(path.join(dir, 'server.pem'), server.certPem);
    fs.writeFileSync(path.join(dir, 'server-key.pem'), server.keyPem);
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
    const env = {
      MQTT_TLS_CERT: path.join(dir, 'server.pem'),
      MQTT_TLS_KEY: path.join(dir, 'server-key.pem'),
      MQTT_TLS_CA: path.join(dir, 'ca.pem'),
      DOPPEL_DATA_DIR: dir,
    };
    return { env, ca, dir };
  }

  it('serves them, generating nothing', async () => {
    const { env, ca, dir } = await given(new Date(), 30);
    const server = await startTestServer(env);
    try {
      expect(fs.existsSync(path.join(dir, 'tls'))).toBe(false);
      expect(server.running.caPath).toBe(env.MQTT_TLS_CA);
      const { deviceId, password } = await register(server);
      expect(await tlsAttempt(server.mqttTlsUrl!, { username: deviceId, password, ca: ca.certPem })).toBe('connected');
      expect(fingerprintOf(server.caPem!)).toBe(fingerprintOf(ca.certPem));
    } finally {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('refuses to start with an expired or a not yet valid certificate, saying which and when', async () => {
    const expired = await given(new Date(Date.now() - 40 * DAY), 30);
    await expect(startTestServer(expired.env)).rejects.toThrow(/MQTT_TLS_CERT: .*server\.pem expired at/);
    const early = await given(new Date(Date.now() + 5 * DAY), 30);
    await expect(startTestServer(early.env)).rejects.toThrow(/MQTT_TLS_CERT: .*server\.pem is not valid before/);
    for (const dir of [expired.dir, early.dir]) fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
