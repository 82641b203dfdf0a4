/**
 * Storm control on the embedded broker (MQTT_MAX_CONNECTS_PER_S): real mqtt.js devices connecting at
 * once beyond the admission rate get a clean CONNACK 3 "server unavailable" — no other error, nothing
 * looked up — and are admitted when they retry, as a device in the field does. The GraphQL API keeps
 * answering meanwhile. An external broker does its own admission, so the suite runs with the embedded
 * one only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDevice } from '../support/commands.ts';
import { connackCode, embeddedBroker, startTestServer, type TestServer } from '../support/harness.ts';

const suite = embeddedBroker ? describe : describe.skip;
let t: TestServer;

beforeAll(async () => {
  if (!embeddedBroker) return;
  t = await startTestServer({ MQTT_MAX_CONNECTS_PER_S: '2' });
}, 120_000);
afterAll(async () => t?.stop());

suite('a connect storm against the admission rate', () => {
  it('refuses the excess with CONNACK 3 only, and every device gets in by retrying', async () => {
    const devices = await Promise.all(Array.from({ length: 8 }, () => registerDevice(t, null)));
    // All at once, no retry: at most the burst (2) gets in, the rest is refused with code 3 and nothing else.
    const codes = await Promise.all(devices.map((d) => connackCode(t.mqttUrl, d.username, d.password)));
    expect(codes.filter((c) => c !== 0 && c !== 3)).toEqual([]);
    expect(codes.filter((c) => c === 3).length).toBeGreaterThan(0);
    const throttled = t.running.metrics.get('doppel_mqtt_connects_throttled_total');
    expect(throttled).toBe(codes.filter((c) => c === 3).length);

    // Retrying (here every 300 ms, as a device's back-off would) each device is admitted in the end,
    // and the only refusal any of them ever sees is code 3.
    const seen: number[] = [];
    await Promise.all(
      devices.map(async (d) => {
        for (;;) {
          const code = await connackCode(t.mqttUrl, d.username, d.password);
          if (code === 0) return;
          seen.push(code);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
      }),
    );
    expect(seen.filter((c) => c !== 3)).toEqual([]);
    // The API answered throughout.
    expect((await t.gql('{ devices(first: 1) { totalCount } }')).status).toBe(200);
  }, 120_000);
});
