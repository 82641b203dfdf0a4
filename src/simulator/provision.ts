/**
 * A simulated device's first boot without an admin (docs/onboarding.md "Provisioning"): with a claim
 * token (`dpc_…`, claim-token and allow-list policies) it connects as `provision`, asks for its id on
 * `provision/{clientId}/request` and receives its own credentials once; with a group key (`dpg_…`) it
 * derives its key, Base64(HMAC-SHA256(groupKey, deviceId)), and its first connect registers it.
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { PROVISIONING_USERNAME } from '../domain/provisioning/policy.ts';
import { deriveDeviceKey } from '../security/derived-keys.ts';
import type { DeviceCredentials } from './credentials.ts';

export type ProvisioningSecret = { kind: 'claimToken'; secret: string } | { kind: 'groupKey'; secret: string };

/** Which kind of secret `--provision` was given, by the prefix the API gives them; undefined for neither. */
export function provisioningSecretOf(value: string): ProvisioningSecret | undefined {
  if (value.startsWith('dpc_')) return { kind: 'claimToken', secret: value };
  if (value.startsWith('dpg_')) return { kind: 'groupKey', secret: value };
  return undefined;
}

/** Refused by the server: `code` is the reason (ALREADY_PROVISIONED, TOKEN_EXHAUSTED, …). */
export class ProvisioningRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`provisioning refused: ${code}: ${message}`);
    this.name = 'ProvisioningRefused';
  }
}

/** The device's credentials: asked for over MQTT (claim token), or derived (group key: the first connect registers). */
export async function provisionDevice(mqttUrl: string, how: ProvisioningSecret, deviceId: string, timeoutMs = 15_000, ca?: string): Promise<DeviceCredentials> {
  if (how.kind === 'groupKey') return { username: deviceId, password: deriveDeviceKey(how.secret, deviceId) };
  return claimCredentials(mqttUrl, how.secret, deviceId, timeoutMs, ca);
}

/** Claim-token provisioning, one request: connect as `provision`, subscribe to the replies, ask, wait. */
export async function claimCredentials(mqttUrl: string, claimToken: string, deviceId: string, timeoutMs = 15_000, ca?: string): Promise<DeviceCredentials> {
  // The request id is the client id: random, so nobody else's answer is ours (the broker keeps it to us).
  const clientId = `prov-${randomBytes(8).toString('hex')}`;
  const client = await mqtt.connectAsync(mqttUrl, {
    username: PROVISIONING_USERNAME,
    password: claimToken,
    clientId,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
    ...(ca ? { ca } : {}),
  });
  try {
    const answer = new Promise<DeviceCredentials>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no provisioning answer within ${timeoutMs} ms`)), timeoutMs);
      client.on('message', (topic, payload) => {
        // `provision/{id}/+` also matches our own request, which a broker without Doppel's ACL echoes back.
        if (topic !== `provision/${clientId}/accepted` && topic !== `provision/${clientId}/rejected`) return;
        clearTimeout(timer);
        let body: { username?: string; password?: string; code?: string; message?: string };
        try {
          body = JSON.parse(payload.toString('utf8')) as typeof body;
        } catch {
          return reject(new Error(`unreadable provisioning answer on ${topic}`));
        }
        if (topic.endsWith('/accepted') && body.username && body.password) resolve({ username: body.username, password: body.password });
        else reject(new ProvisioningRefused(body.code ?? 'UNKNOWN', body.message ?? ''));
      });
      client.once('close', () => reject(new Error('the broker closed the provisioning connection')));
    });
    await client.subscribeAsync(`provision/${clientId}/+`, { qos: 1 });
    // claimToken in the body too: behind an external broker Doppel does not see who published.
    await client.publishAsync(`provision/${clientId}/request`, JSON.stringify({ deviceId, claimToken }), { qos: 1 });
    return await answer;
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}
