/**
 * The deliverer as the composition root wires it: running in the server, sealing with the server's
 * webhook key, and woken by a local twin change instead of waiting for its (here one-minute) poll.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventIdOf } from '../../../src/domain/webhooks/envelope.ts';
import { createSecretSealer, resolveWebhookSecretKey } from '../../../src/security/webhook-key.ts';
import { registerDevice } from '../../support/commands.ts';
import { modeName, startTestServer, type TestServer } from '../../support/harness.ts';
import { newSecret } from './fixture.ts';
import { startReceiver, type Receiver } from '../../support/webhook-receiver.ts';

let t: TestServer;
let r: Receiver;

beforeAll(async () => {
  r = await startReceiver([newSecret()]);
  t = await startTestServer({ WEBHOOKS_ALLOW_HTTP: 'true', WEBHOOKS_ALLOWED_NETWORKS: '127.0.0.1/32', WEBHOOK_POLL_INTERVAL_MS: '60000' });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await r?.close();
});

const metricsText = async () => (await fetch(`${t.httpUrl.replace(/\/graphql$/, '')}/metrics`)).text();

describe(`outbox wiring (${modeName})`, () => {
  it('delivers a pending event after a local twin change wakes the deliverer', async () => {
    // The first round (at start) has sampled the gauges: what is inserted now waits for a wake or a poll.
    while (!(await metricsText()).includes('doppel_outbox_pending ')) await new Promise((resolve) => setTimeout(resolve, 20));
    const sealer = createSecretSealer(resolveWebhookSecretKey(t.config.webhooks.secretKey, t.config.dataDir));
    const { deviceId } = await registerDevice(t, null);
    const endpointId = randomUUID();
    await t.database.sql.query(
      `INSERT INTO "WebhookEndpoint" (id, "tenantId", url, "eventTypes") VALUES ($1::uuid, 'default', $2, ARRAY['twin.changed']::text[])`,
      [endpointId, r.url],
    );
    await t.database.sql.query(`INSERT INTO "WebhookSecret" (id, "endpointId", sealed) VALUES (gen_random_uuid(), $1::uuid, $2)`, [
      endpointId,
      sealer.seal(endpointId, r.secrets[0]!),
    ]);
    const eventId = randomUUID();
    await t.database.sql.query(
      `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", "deviceKey", type, "occurredAt", data)
       SELECT gen_random_uuid(), $1::uuid, 'default', 'WEBHOOK', $2::uuid, d.id, 'twin.changed', now(), jsonb_build_object('deviceId', d."deviceId")
         FROM "Device" d WHERE d."deviceId" = $3`,
      [eventId, endpointId, deviceId],
    );
    const changed = await t.gql(`mutation M($d: String!) { updateDesired(deviceId: $d, patch: {fan: "on"}) { __typename } }`, { d: deviceId });
    expect(changed.errors).toBeUndefined();
    // The change itself also produces a twin.changed event for the endpoint; which of the two arrives
    // first depends on the round that claims them (on PostgreSQL both often go in one), so the test waits
    // for the row it wrote and checks that everything else delivered is the change's own event.
    const webhookId = eventIdOf(eventId)!;
    while (!r.accepted.includes(webhookId)) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.requests.every((q) => q.verified)).toBe(true);
    const bodies = r.requests.map((q) => JSON.parse(q.body ?? 'null') as { id: string; type: string; data: { deviceId: string } });
    expect(bodies.find((b) => b.id === webhookId)).toMatchObject({ type: 'twin.changed', tenant: 'default', data: { deviceId } });
    for (const other of bodies.filter((b) => b.id !== webhookId)) expect(other).toMatchObject({ type: 'twin.changed', data: { deviceId } });
  }, 50_000);
});
