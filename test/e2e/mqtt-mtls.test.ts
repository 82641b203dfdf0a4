/**
 * Device certificates (mutual TLS, docs/security.md "Device certificates") on the embedded broker's TLS
 * listener: a password-less CONNECT with a client certificate is accepted when the CN is the device id
 * and the certificate is registered for it or signed by a CA of its tenant; refused (CONNACK 5, counted
 * by reason) otherwise; a revocation disconnects a connected device at once. Password logins unchanged.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CERTIFICATE_REFUSALS_METRIC } from '../../src/mqtt/embedded/certificates.ts';
import { createCertificateAuthority, issueCertificate, type KeyPairPem } from '../../src/security/tls/certificates.ts';
import { fingerprintOf } from '../../src/security/device-certificates.ts';
import { X509Certificate } from 'node:crypto';
import { embeddedBroker, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const suite = embeddedBroker ? describe : describe.skip;
const DAY = 86_400_000;

let t: TestServer;
let tenantCa: KeyPairPem;
beforeAll(async () => {
  if (!embeddedBroker) return;
  t = await startTestServer();
  tenantCa = await createCertificateAuthority('Acme devices', new Date());
  const r = await t.gql(
    `mutation U($pem: String!) { uploadTenantCertificateAuthority(name: "acme", pem: $pem) { __typename ... on TenantCertificateAuthority { fingerprint } } }`,
    {
      pem: tenantCa.certPem,
    },
  );
  expect(r.data).toMatchObject({ uploadTenantCertificateAuthority: { __typename: 'TenantCertificateAuthority' } });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

async function registerDevice(deviceId = uniqueDeviceId('mtls')) {
  const result = await t.gql(
    `mutation R($id: String!) { registerDevice(input: {deviceId: $id}) { ... on DeviceWithCredentials { credentials { password } } } }`,
    { id: deviceId },
  );
  return { deviceId, password: (result.data as { registerDevice: { credentials: { password: string } } }).registerDevice.credentials.password };
}

function clientCert(ca: KeyPairPem, commonName: string, notBefore = new Date(Date.now() - 60_000), notAfter = new Date(Date.now() + DAY)) {
  return issueCertificate({ ca, commonName, notBefore, notAfter, usage: 'client' });
}

/** CONNECT over TLS with a client certificate and no password: 'connected' or the error message. */
function attempt(deviceId: string, cert: KeyPairPem): Promise<string> {
  return new Promise((resolve) => {
    const client = mqtt.connect(t.mqttTlsUrl!, {
      username: deviceId,
      clientId: deviceId,
      ca: t.caPem,
      cert: cert.certPem,
      key: cert.keyPem,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
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

const refusals = (reason: string) => t.running.metrics.get(CERTIFICATE_REFUSALS_METRIC, { reason });

async function expectRefused(deviceId: string, cert: KeyPairPem, reason: string) {
  const before = refusals(reason);
  expect(await attempt(deviceId, cert)).toMatch(/Not authorized/i);
  expect(refusals(reason)).toBe(before + 1);
}

suite('device certificates (mutual TLS, embedded broker)', () => {
  it('accepts a registered fingerprint without a password, and a certificate signed by the tenant CA', async () => {
    const { deviceId } = await registerDevice();
    const selfSigned = await createCertificateAuthority('unrelated', new Date());
    const cert = await clientCert(selfSigned, deviceId);
    expect(await attempt(deviceId, cert)).toMatch(/Not authorized/i);
    const fingerprint = fingerprintOf(new X509Certificate(cert.certPem));
    const r = await t.gql(
      `mutation R($id: String!, $fp: String!) { registerDeviceCertificate(deviceId: $id, fingerprint: $fp) { __typename ... on DeviceCertificate { fingerprint } } }`,
      {
        id: deviceId,
        fp: fingerprint.toUpperCase().match(/../g)!.join(':'),
      },
    );
    expect(r.data).toEqual({ registerDeviceCertificate: { __typename: 'DeviceCertificate', fingerprint } });
    expect(await attempt(deviceId, cert)).toBe('connected');

    const other = await registerDevice();
    expect(await attempt(other.deviceId, await clientCert(tenantCa, other.deviceId))).toBe('connected');
  });

  it('refuses a certificate whose CN is another device, expired and not-yet-valid ones, and one from another CA', async () => {
    const { deviceId } = await registerDevice();
    const victim = await registerDevice();
    await expectRefused(victim.deviceId, await clientCert(tenantCa, deviceId), 'cn_mismatch');
    await expectRefused(deviceId, await clientCert(tenantCa, deviceId, new Date(Date.now() - 3 * DAY), new Date(Date.now() - DAY)), 'expired');
    await expectRefused(deviceId, await clientCert(tenantCa, deviceId, new Date(Date.now() + DAY), new Date(Date.now() + 2 * DAY)), 'expired');
    const otherCa = await createCertificateAuthority('Acme devices', new Date());
    await expectRefused(deviceId, await clientCert(otherCa, deviceId), 'wrong_ca');
    // The server is unharmed and the device still gets in with a good certificate.
    expect(await attempt(deviceId, await clientCert(tenantCa, deviceId))).toBe('connected');
  });

  it('refuses a disabled device', async () => {
    const { deviceId } = await registerDevice();
    await t.gql(`mutation D($id: String!) { disableDevice(deviceId: $id) { __typename } }`, { id: deviceId });
    await expectRefused(deviceId, await clientCert(tenantCa, deviceId), 'disabled_device');
  });

  it('revokes a fingerprint: the connected device is disconnected at once and refused afterwards', async () => {
    const { deviceId } = await registerDevice();
    const cert = await clientCert(tenantCa, deviceId);
    const client = await mqtt.connectAsync(t.mqttTlsUrl!, {
      username: deviceId,
      clientId: deviceId,
      ca: t.caPem,
      cert: cert.certPem,
      key: cert.keyPem,
      reconnectPeriod: 0,
    });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const fingerprint = fingerprintOf(new X509Certificate(cert.certPem));
    const r = await t.gql(
      `mutation V($fp: String!) { revokeDeviceCertificate(fingerprint: $fp) { __typename ... on RevokedDeviceCertificate { disconnected } } }`,
      { fp: fingerprint },
    );
    expect(r.data).toEqual({ revokeDeviceCertificate: { __typename: 'RevokedDeviceCertificate', disconnected: 1 } });
    await closed;
    await client.endAsync(true);
    await expectRefused(deviceId, cert, 'revoked');
    const rows = await t.database.sql.query(`SELECT 1 FROM "RevokedCertificate" WHERE fingerprint = $1`, [fingerprint]);
    expect(rows).toHaveLength(1);
  });

  it('leaves password devices unaffected on the TLS listener', async () => {
    const { deviceId, password } = await registerDevice();
    const client = await mqtt.connectAsync(t.mqttTlsUrl!, { username: deviceId, password, ca: t.caPem, reconnectPeriod: 0 });
    await client.endAsync(true);
    // A password CONNECT is judged on the password even when a (foreign) certificate is presented.
    const foreign = await clientCert(await createCertificateAuthority('x', new Date()), deviceId);
    const withCert = await mqtt.connectAsync(t.mqttTlsUrl!, {
      username: deviceId,
      password,
      ca: t.caPem,
      cert: foreign.certPem,
      key: foreign.keyPem,
      reconnectPeriod: 0,
    });
    await withCert.endAsync(true);
  });

  it('refuses bad CA uploads and bad registrations with paths, and non-admins', async () => {
    const upload = (pem: string) =>
      t.gql(
        `mutation U($pem: String!) { uploadTenantCertificateAuthority(name: "bad", pem: $pem) { __typename ... on ValidationError { fieldErrors { path code } } } }`,
        { pem },
      );
    const leaf = await clientCert(tenantCa, 'leaf-device');
    expect((await upload(leaf.certPem)).data).toEqual({
      uploadTenantCertificateAuthority: { __typename: 'ValidationError', fieldErrors: [{ path: ['pem'], code: 'NOT_A_CA' }] },
    });
    const expired = await createCertificateAuthority('old', new Date(Date.now() - 10 * DAY), 2);
    expect((await upload(expired.certPem)).data).toEqual({
      uploadTenantCertificateAuthority: { __typename: 'ValidationError', fieldErrors: [{ path: ['pem'], code: 'NOT_VALID_NOW' }] },
    });
    expect((await upload('-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----')).data).toEqual({
      uploadTenantCertificateAuthority: { __typename: 'ValidationError', fieldErrors: [{ path: ['pem'], code: 'NOT_A_CERTIFICATE' }] },
    });
    expect((await upload('hello')).data).toEqual({
      uploadTenantCertificateAuthority: { __typename: 'ValidationError', fieldErrors: [{ path: ['pem'], code: 'NOT_A_CERTIFICATE' }] },
    });
    const rows = await t.database.sql.query(`SELECT 1 FROM "TenantCertificateAuthority" WHERE name = 'bad'`);
    expect(rows).toHaveLength(0);

    const { deviceId } = await registerDevice();
    const register = (vars: Record<string, string>) =>
      t.gql(
        `mutation R($id: String!, $pem: String, $fp: String) { registerDeviceCertificate(deviceId: $id, certificatePem: $pem, fingerprint: $fp) { __typename ... on ValidationError { fieldErrors { path code } } } }`,
        { id: deviceId, ...vars },
      );
    expect((await register({ fp: 'nothex' })).data).toEqual({
      registerDeviceCertificate: { __typename: 'ValidationError', fieldErrors: [{ path: ['fingerprint'], code: 'INVALID_FINGERPRINT' }] },
    });
    expect((await register({ pem: (await clientCert(tenantCa, 'someone-else')).certPem })).data).toEqual({
      registerDeviceCertificate: { __typename: 'ValidationError', fieldErrors: [{ path: ['certificatePem'], code: 'CN_MISMATCH' }] },
    });
    expect((await register({})).data).toEqual({
      registerDeviceCertificate: { __typename: 'ValidationError', fieldErrors: [{ path: ['certificatePem'], code: 'ONE_OF' }] },
    });

    const viewer = await t.gql(`mutation { createApiToken(input: {name: "mtls-viewer", role: OPERATOR}) { ... on CreatedApiToken { token } } }`);
    const operatorToken = (viewer.data as { createApiToken: { token: string } }).createApiToken.token;
    const forbidden = await t.gql(
      `mutation U($pem: String!) { uploadTenantCertificateAuthority(name: "op", pem: $pem) { __typename } }`,
      { pem: tenantCa.certPem },
      operatorToken,
    );
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
