/**
 * HTTPS for the API (docs/security.md, "Transport encryption"): with HTTPS=auto the API serves the
 * generated server certificate, GraphQL over HTTPS and graphql-ws over wss; a client that does not
 * trust the CA is refused by its own TLS check and the server keeps serving.
 */
import https from 'node:https';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfig } from '../../src/config.ts';
import { embeddedBroker, startTestServer, type TestServer } from '../support/harness.ts';

const suite = embeddedBroker ? describe : describe.skip;

let t: TestServer;
beforeAll(async () => {
  if (embeddedBroker) t = await startTestServer({ HTTPS: 'auto' });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

function post(url: string, body: string, headers: Record<string, string>, ca: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, ...(ca ? { ca } : {}) }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.once('error', reject);
    request.end(body);
  });
}

suite('HTTPS for the API', () => {
  it('answers GraphQL over HTTPS for a client trusting the CA', async () => {
    expect(t.httpUrl).toMatch(/^https:\/\//);
    const response = await post(t.httpUrl, JSON.stringify({ query: '{ __typename }' }), { authorization: `Bearer ${t.token}` }, t.caPem);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ data: { __typename: 'Query' } });
  });

  it('is refused by a client that does not trust the CA, and keeps serving', async () => {
    await expect(post(t.httpUrl, '{}', {}, undefined)).rejects.toThrow(/self.signed|unable to (get|verify)/i);
    const response = await post(t.httpUrl, JSON.stringify({ query: '{ __typename }' }), { authorization: `Bearer ${t.token}` }, t.caPem);
    expect(response.status).toBe(200);
  });

  it('serves graphql-ws over wss', async () => {
    const ca = t.caPem!;
    class TrustingWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { ca });
      }
    }
    const client = createClient({
      url: t.wsUrl.replace(/^https/, 'wss'),
      webSocketImpl: TrustingWebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${t.token}` },
    });
    try {
      const result = await new Promise<unknown>((resolve, reject) => {
        client.subscribe({ query: '{ __typename }' }, { next: resolve, error: reject, complete: () => undefined });
      });
      expect(result).toEqual({ data: { __typename: 'Query' } });
    } finally {
      await client.dispose();
    }
  });
});

describe('HTTPS configuration', () => {
  it('refuses half a certificate pair and HTTPS=auto without the TLS listener', () => {
    expect(() => loadConfig({ HTTPS_CERT: '/x.pem' })).toThrow(/HTTPS_CERT and HTTPS_KEY must be set together/);
    expect(() => loadConfig({ HTTPS: 'auto', MQTT_TLS: 'off' })).toThrow(/HTTPS=auto uses the MQTT TLS server certificate/);
    expect(() => loadConfig({ MQTT_TLS_KEY: '/k.pem' })).toThrow(/MQTT_TLS_CERT and MQTT_TLS_KEY must be set together/);
  });

  it('keeps the plain MQTT listener on loopback once TLS is on, and refuses plaintext on the network in production', () => {
    const embedded = (env: Record<string, string>) => {
      const { mqtt } = loadConfig(env);
      if (mqtt.kind !== 'embedded') throw new Error('expected the embedded broker');
      return mqtt;
    };
    expect(embedded({}).host).toBe('127.0.0.1');
    expect(embedded({ MQTT_TLS: 'off' }).host).toBe('0.0.0.0');
    expect(embedded({ MQTT_TLS: 'off' }).tls).toBeUndefined();
    expect(() => loadConfig({ NODE_ENV: 'production', MQTT_HOST: '0.0.0.0' })).toThrow(
      /MQTT_HOST=0\.0\.0\.0: with NODE_ENV=production .* MQTT_ALLOW_PLAINTEXT=true/,
    );
    expect(() => loadConfig({ NODE_ENV: 'production', MQTT_TLS: 'off' })).toThrow(/MQTT_ALLOW_PLAINTEXT/);
    expect(embedded({ NODE_ENV: 'production', MQTT_HOST: '0.0.0.0', MQTT_ALLOW_PLAINTEXT: 'true' }).host).toBe('0.0.0.0');
    expect(embedded({ NODE_ENV: 'production' }).host).toBe('127.0.0.1');
  });
});
