/**
 * Webhook endpoints through GraphQL over HTTP (docs/webhooks.md): the secret is shown once and signs
 * what the receiver verifies; reads never show it; rotation overlaps; every refusal is a typed
 * ValidationError with its path and code; another tenant's endpoint does not exist; redelivery and the
 * test event write the outbox rows the deliverer (src/services/outbox/) sends. Rows are seeded with SQL
 * where the producers would write them; nothing here delivers over HTTP.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventIdOf } from '../../src/domain/webhooks/envelope.ts';
import { signWebhook } from '../../src/domain/webhooks/signing.ts';
import { createSecretSealer } from '../../src/security/webhook-key.ts';
import { verifyWebhook } from '../../src/webhooks-verify.ts';
import { modeName, startTestServer, type TestServer } from '../support/harness.ts';

const SEAL_KEY = randomBytes(32);
let t: TestServer;
let otherAdmin: string;
beforeAll(async () => {
  t = await startTestServer({ WEBHOOK_SECRET_KEY: SEAL_KEY.toString('hex') });
  otherAdmin = await t.createToken('admin', 'webhooks-other');
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

const ENDPOINT_FIELDS = `id url description eventTypes filter { deviceIds tags model } enabled disabledReason disabledAt maxInFlight
  consecutiveFailures failingSince createdAt secretRotation { liveSecrets oldSecretExpiresAt }`;

const CREATE = `mutation C($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    __typename
    ... on CreatedWebhookEndpoint { secret endpoint { ${ENDPOINT_FIELDS} } }
    ... on ValidationError { code fieldErrors { path code message } }
  }
}`;

interface Endpoint {
  id: string;
  url: string;
  eventTypes: string[];
  filter: { deviceIds: string[]; tags: string[]; model: string | null };
  enabled: boolean;
  disabledReason: string | null;
  maxInFlight: number;
  secretRotation: { liveSecrets: number; oldSecretExpiresAt: string | null };
}

type CreateResult =
  | { __typename: 'CreatedWebhookEndpoint'; secret: string; endpoint: Endpoint }
  | { __typename: 'ValidationError'; code: string; fieldErrors: Array<{ path: string[]; code: string; message: string }> };

async function create(input: Record<string, unknown>, token?: string): Promise<CreateResult> {
  const r = await t.gql(CREATE, { input }, token);
  expect(r.errors).toBeUndefined();
  return (r.data as { createWebhookEndpoint: CreateResult }).createWebhookEndpoint;
}

async function createOk(input: Record<string, unknown> = {}, token?: string) {
  const result = await create({ url: 'https://93.184.215.14/hooks', ...input }, token);
  if (result.__typename !== 'CreatedWebhookEndpoint') throw new Error(JSON.stringify(result));
  return result;
}

async function seedRow(endpointId: string, status: string, eventId = randomUUID(), tenantId = 'default'): Promise<string> {
  await t.database.sql.query(
    `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", type, "occurredAt", data, status, attempts, "failedAt", "lastStatus", "lastError")
     VALUES (gen_random_uuid(), $1::uuid, $2, 'WEBHOOK', $3::uuid, 'twin.changed', now(), '{"deviceId":"pump-1"}', $4, 20, CASE WHEN $4 = 'FAILED' THEN now() END, 503, 'HTTP 503')`,
    [eventId, tenantId, endpointId, status],
  );
  return eventId;
}

const statuses = async (endpointId: string) =>
  (await t.database.sql.query<{ status: string }>(`SELECT status FROM "Outbox" WHERE "endpointId" = $1::uuid ORDER BY seq`, [endpointId])).map((r) => r.status);

const auditOf = async (target: string) =>
  (await t.database.prisma.auditEvent.findMany({ where: { target }, orderBy: { id: 'asc' }, select: { action: true, actorName: true } })).map((e) => e.action);

describe(`webhooks API over GraphQL (${modeName})`, () => {
  it('shows the secret once: it is the stored one, and verifies what Doppel signs with it; reads never show it', async () => {
    const created = await createOk({ description: 'ops receiver' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created.endpoint).toMatchObject({
      url: 'https://93.184.215.14/hooks',
      enabled: true,
      disabledReason: null,
      maxInFlight: 4,
      eventTypes: ['twin.changed', 'device.connected', 'device.disconnected', 'device.registered', 'device.deleted', 'command.updated', 'alarm.changed'],
      filter: { deviceIds: [], tags: [], model: null },
      secretRotation: { liveSecrets: 1, oldSecretExpiresAt: null },
    });
    // What the deliverer will sign with: the sealed row opened with the instance's key.
    const [row] = await t.database.sql.query<{ sealed: string }>(`SELECT sealed FROM "WebhookSecret" WHERE "endpointId" = $1::uuid`, [created.endpoint.id]);
    const stored = createSecretSealer(SEAL_KEY).open(created.endpoint.id, row!.sealed)!;
    expect(row!.sealed).not.toContain(created.secret.slice('whsec_'.length));
    const body = JSON.stringify({ id: 'evt_x', type: 'webhook.test' });
    const signed = signWebhook([stored], eventIdOf(randomUUID())!, 1_800_000_000, body);
    if (!signed.ok) throw new Error(signed.message);
    expect(verifyWebhook(created.secret, { ...signed.headers }, body, { nowSeconds: 1_800_000_000 }).ok).toBe(true);

    const list = await t.gql(`{ webhookEndpoints { ${ENDPOINT_FIELDS} } }`);
    expect(list.errors).toBeUndefined();
    expect(JSON.stringify(list)).not.toContain(created.secret.slice('whsec_'.length));
    expect((list.data as { webhookEndpoints: Endpoint[] }).webhookEndpoints.map((e) => e.id)).toContain(created.endpoint.id);
    const one = await t.gql(`query Q($id: ID!) { webhookEndpoint(id: $id) { ${ENDPOINT_FIELDS} } }`, { id: created.endpoint.id });
    expect((one.data as { webhookEndpoint: Endpoint }).webhookEndpoint).toEqual(created.endpoint);
    // There is no field to read it back.
    const asked = await t.gql(`{ webhookEndpoints { id secret } }`);
    expect(asked.errors?.[0]?.message).toContain('Cannot query field "secret"');
    expect(await auditOf(`webhookEndpoint:${created.endpoint.id}`)).toEqual(['webhook.create']);
  });

  it('rotates: a new secret once, two live secrets, the old one expiring after the overlap', async () => {
    const created = await createOk();
    const r = await t.gql(
      `mutation R($id: ID!, $o: Int) { rotateWebhookSecret(id: $id, overlapSeconds: $o) {
         __typename ... on RotatedWebhookSecret { secret endpoint { secretRotation { liveSecrets oldSecretExpiresAt } } } ... on Error { code } } }`,
      { id: created.endpoint.id, o: 3600 },
    );
    const rotated = (
      r.data as {
        rotateWebhookSecret: { __typename: string; secret: string; endpoint: { secretRotation: { liveSecrets: number; oldSecretExpiresAt: string } } };
      }
    ).rotateWebhookSecret;
    expect(rotated.__typename).toBe('RotatedWebhookSecret');
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.endpoint.secretRotation.liveSecrets).toBe(2);
    const expires = Date.parse(rotated.endpoint.secretRotation.oldSecretExpiresAt);
    expect(Math.abs(expires - (Date.now() + 3600_000))).toBeLessThan(60_000);

    const tooLong = await t.gql(
      `mutation R($id: ID!) { rotateWebhookSecret(id: $id, overlapSeconds: 604801) { __typename ... on ValidationError { fieldErrors { path code } } } }`,
      {
        id: created.endpoint.id,
      },
    );
    expect(tooLong.data).toEqual({ rotateWebhookSecret: { __typename: 'ValidationError', fieldErrors: [{ path: ['overlapSeconds'], code: 'OUT_OF_RANGE' }] } });
    expect(await auditOf(`webhookEndpoint:${created.endpoint.id}`)).toEqual(['webhook.create', 'webhook.rotateSecret']);
  });

  const REFUSALS: Array<[string, Record<string, unknown>, string[], string]> = [
    ['http without WEBHOOKS_ALLOW_HTTP', { url: 'http://93.184.215.14/h' }, ['url'], 'SCHEME_NOT_ALLOWED'],
    ['credentials in the URL', { url: 'https://user:secret@93.184.215.14/h' }, ['url'], 'CREDENTIALS_IN_URL'],
    ['a loopback address', { url: 'https://127.0.0.1/h' }, ['url'], 'REFUSED_ADDRESS'],
    ['a host resolving to loopback', { url: 'https://localhost/h' }, ['url'], 'REFUSED_ADDRESS'],
    ['a private address', { url: 'https://10.0.0.5/h' }, ['url'], 'REFUSED_ADDRESS'],
    ['the cloud metadata address', { url: 'https://169.254.169.254/latest/meta-data' }, ['url'], 'REFUSED_ADDRESS'],
    ['an IPv4-mapped loopback', { url: 'https://[::ffff:127.0.0.1]/h' }, ['url'], 'REFUSED_ADDRESS'],
    ['not a URL', { url: 'hooks.example.com' }, ['url'], 'INVALID_URL'],
    ['an unknown event type', { eventTypes: ['twin.changed', 'twin.melted'] }, ['eventTypes', '1'], 'UNKNOWN_EVENT_TYPE'],
    ['webhook.test as a subscription', { eventTypes: ['webhook.test'] }, ['eventTypes', '0'], 'NOT_SUBSCRIBABLE'],
    ['telemetry.stored without a filter', { eventTypes: ['telemetry.stored'] }, ['filter'], 'FILTER_REQUIRED'],
    ['maxInFlight 0', { maxInFlight: 0 }, ['maxInFlight'], 'OUT_OF_RANGE'],
    ['maxInFlight 65', { maxInFlight: 65 }, ['maxInFlight'], 'OUT_OF_RANGE'],
    ['a bad device id in the filter', { filter: { deviceIds: ['pump 1'] } }, ['filter', 'deviceIds', '0'], 'INVALID_DEVICE_ID'],
    ['a bad tag in the filter', { filter: { tags: ['ok', 'no spaces'] } }, ['filter', 'tags', '1'], 'INVALID_TAG'],
    ['a bad model name in the filter', { filter: { model: 'a$b' } }, ['filter', 'model'], 'INVALID_MODEL_NAME'],
  ];
  for (const [what, input, path, code] of REFUSALS) {
    it(`refuses ${what}: ValidationError ${code} at ${path.join('.')}, nothing stored`, async () => {
      const before = await t.database.prisma.webhookEndpoint.count();
      const result = await create({ url: 'https://93.184.215.14/h', ...input });
      expect(result.__typename).toBe('ValidationError');
      if (result.__typename !== 'ValidationError') return;
      expect(result.code).toBe('VALIDATION_FAILED');
      expect(result.fieldErrors).toContainEqual(expect.objectContaining({ path, code }));
      expect(await t.database.prisma.webhookEndpoint.count()).toBe(before);
    });
  }

  it('updates, disables and enables, refusing a bad update as a whole', async () => {
    const created = await createOk({ eventTypes: ['telemetry.stored'], filter: { deviceIds: ['pump-1'] } });
    const UPDATE = `mutation U($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) {
      __typename ... on WebhookEndpoint { url eventTypes filter { deviceIds tags model } maxInFlight } ... on ValidationError { fieldErrors { path code } } } }`;
    const refused = await t.gql(UPDATE, { id: created.endpoint.id, input: { filter: { deviceIds: [] } } });
    expect(refused.data).toEqual({ updateWebhookEndpoint: { __typename: 'ValidationError', fieldErrors: [{ path: ['filter'], code: 'FILTER_REQUIRED' }] } });
    const updated = await t.gql(UPDATE, {
      id: created.endpoint.id,
      input: { eventTypes: ['alarm.changed'], filter: { deviceIds: [], tags: ['site=berlin'] }, maxInFlight: 8 },
    });
    expect(updated.data).toEqual({
      updateWebhookEndpoint: {
        __typename: 'WebhookEndpoint',
        url: 'https://93.184.215.14/hooks',
        eventTypes: ['alarm.changed'],
        filter: { deviceIds: [], tags: ['site=berlin'], model: null },
        maxInFlight: 8,
      },
    });
    const toggle = (name: string) =>
      t.gql(`mutation M($id: ID!) { ${name}(id: $id) { __typename ... on WebhookEndpoint { enabled disabledReason consecutiveFailures } } }`, {
        id: created.endpoint.id,
      });
    expect((await toggle('disableWebhookEndpoint')).data).toEqual({
      disableWebhookEndpoint: { __typename: 'WebhookEndpoint', enabled: false, disabledReason: 'ADMIN', consecutiveFailures: 0 },
    });
    await t.database.sql.query(`UPDATE "WebhookEndpoint" SET "consecutiveFailures" = 7, "failingSince" = now() WHERE id = $1::uuid`, [created.endpoint.id]);
    expect((await toggle('enableWebhookEndpoint')).data).toEqual({
      enableWebhookEndpoint: { __typename: 'WebhookEndpoint', enabled: true, disabledReason: null, consecutiveFailures: 0 },
    });
    expect(await auditOf(`webhookEndpoint:${created.endpoint.id}`)).toEqual(['webhook.create', 'webhook.update', 'webhook.disable', 'webhook.enable']);
  });

  it("another tenant's endpoint is NOT_FOUND to every mutation and invisible to every query", async () => {
    const created = await createOk();
    const eventId = await seedRow(created.endpoint.id, 'FAILED');
    const id = created.endpoint.id;
    const mutations: Array<[string, string, Record<string, unknown>]> = [
      ['updateWebhookEndpoint', `updateWebhookEndpoint(id: $id, input: {description: "mine"})`, { id }],
      ['enableWebhookEndpoint', `enableWebhookEndpoint(id: $id)`, { id }],
      ['disableWebhookEndpoint', `disableWebhookEndpoint(id: $id)`, { id }],
      ['deleteWebhookEndpoint', `deleteWebhookEndpoint(id: $id)`, { id }],
      ['rotateWebhookSecret', `rotateWebhookSecret(id: $id)`, { id }],
      ['sendTestWebhook', `sendTestWebhook(id: $id)`, { id }],
      ['redeliverWebhooks', `redeliverWebhooks(endpointId: $id, since: "2000-01-01T00:00:00Z")`, { id }],
    ];
    for (const [field, call, variables] of mutations) {
      const r = await t.gql(`mutation M($id: ID!) { ${call} { __typename ... on Error { code } } }`, variables, otherAdmin);
      expect(r.data, field).toEqual({ [field]: { __typename: 'NotFound', code: 'NOT_FOUND' } });
    }
    const redeliver = await t.gql(
      `mutation M($e: String!) { redeliverWebhook(eventId: $e) { __typename ... on Error { code } } }`,
      { e: eventIdOf(eventId) },
      otherAdmin,
    );
    expect(redeliver.data).toEqual({ redeliverWebhook: { __typename: 'NotFound', code: 'NOT_FOUND' } });
    const queries = await t.gql(
      `query Q($id: ID!) { webhookEndpoints { id } webhookEndpoint(id: $id) { id } webhookDeliveries(endpointId: $id) { totalCount } }`,
      { id },
      otherAdmin,
    );
    expect(queries.errors).toBeUndefined();
    expect((queries.data as { webhookEndpoints: Array<{ id: string }> }).webhookEndpoints.map((e) => e.id)).not.toContain(id);
    expect(queries.data).toMatchObject({ webhookEndpoint: null, webhookDeliveries: null });
    // Unchanged: still enabled, one secret, its FAILED row still FAILED, no test row.
    const mine = await t.gql(`query Q($id: ID!) { webhookEndpoint(id: $id) { enabled description secretRotation { liveSecrets } } }`, { id });
    expect(mine.data).toEqual({ webhookEndpoint: { enabled: true, description: null, secretRotation: { liveSecrets: 1 } } });
    expect(await statuses(id)).toEqual(['FAILED']);
    expect(await auditOf(`webhookEndpoint:${id}`)).toEqual(['webhook.create']);
  });

  it('lists deliveries with attempts and totalCount; redelivers one event and the FAILED ones since; sends a test event; deletes with its rows', async () => {
    const created = await createOk();
    const id = created.endpoint.id;
    const failedEvent = await seedRow(id, 'FAILED');
    await seedRow(id, 'DELIVERED');
    const olderFailed = await seedRow(id, 'FAILED');
    const [row] = await t.database.sql.query<{ id: string }>(`SELECT id::text AS id FROM "Outbox" WHERE "eventId" = $1::uuid`, [failedEvent]);
    await t.database.sql.query(
      `INSERT INTO "OutboxAttempt" ("outboxId", attempt, "startedAt", "statusCode", "latencyMs", error, "nextAttemptAt") VALUES ($1::uuid, 1, now(), 503, 40, 'HTTP 503', now())`,
      [row!.id],
    );
    const DELIVERIES = `query D($id: ID!, $s: WebhookDeliveryStatus, $after: String) { webhookDeliveries(endpointId: $id, status: $s, first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { node { eventId type deviceId status attempts lastStatus lastError attemptLog { attempt statusCode latencyMs error } } } } }`;
    type Page = {
      webhookDeliveries: {
        totalCount: number;
        pageInfo: { hasNextPage: boolean; endCursor: string };
        edges: Array<{ node: { eventId: string; status: string; attemptLog: unknown[] } }>;
      };
    };
    const first = (await t.gql(DELIVERIES, { id })).data as Page;
    expect(first.webhookDeliveries.totalCount).toBe(3);
    expect(first.webhookDeliveries.pageInfo.hasNextPage).toBe(true);
    expect(first.webhookDeliveries.edges.map((e) => e.node.eventId)).toEqual([eventIdOf(olderFailed), expect.stringMatching(/^evt_[0-9a-f]{32}$/)]);
    const second = (await t.gql(DELIVERIES, { id, after: first.webhookDeliveries.pageInfo.endCursor })).data as Page;
    expect(second.webhookDeliveries.edges).toEqual([
      {
        node: {
          eventId: eventIdOf(failedEvent),
          type: 'twin.changed',
          deviceId: 'pump-1',
          status: 'FAILED',
          attempts: 20,
          lastStatus: 503,
          lastError: 'HTTP 503',
          attemptLog: [{ attempt: 1, statusCode: 503, latencyMs: 40, error: 'HTTP 503' }],
        },
      },
    ]);
    expect(((await t.gql(DELIVERIES, { id, s: 'FAILED' })).data as Page).webhookDeliveries.totalCount).toBe(2);

    const one = await t.gql(`mutation M($e: String!) { redeliverWebhook(eventId: $e) { __typename ... on RedeliveredWebhook { eventId count } } }`, {
      e: eventIdOf(failedEvent),
    });
    expect(one.data).toEqual({ redeliverWebhook: { __typename: 'RedeliveredWebhook', eventId: eventIdOf(failedEvent), count: 1 } });
    expect(await statuses(id)).toEqual(['PENDING', 'DELIVERED', 'FAILED']);
    const [back] = await t.database.sql.query<{ attempts: number; due: boolean; failedAt: Date | null }>(
      `SELECT attempts, "nextAttemptAt" <= now() AS due, "failedAt" FROM "Outbox" WHERE "eventId" = $1::uuid`,
      [failedEvent],
    );
    expect(back).toEqual({ attempts: 20, due: true, failedAt: null });

    const bulk = await t.gql(
      `mutation M($id: ID!, $since: DateTime!) { redeliverWebhooks(endpointId: $id, since: $since) { __typename ... on RedeliveredWebhooks { count more } } }`,
      {
        id,
        since: new Date(Date.now() - 3600_000).toISOString(),
      },
    );
    expect(bulk.data).toEqual({ redeliverWebhooks: { __typename: 'RedeliveredWebhooks', count: 1, more: false } });
    expect(await statuses(id)).toEqual(['PENDING', 'DELIVERED', 'PENDING']);

    const test = await t.gql(`mutation M($id: ID!) { sendTestWebhook(id: $id) { __typename ... on SentTestWebhook { eventId } } }`, { id });
    const testEventId = (test.data as { sendTestWebhook: { eventId: string } }).sendTestWebhook.eventId;
    expect(testEventId).toMatch(/^evt_[0-9a-f]{32}$/);
    const testRows = await t.database.sql.query<{ type: string; data: unknown; status: string }>(
      `SELECT type, data, status FROM "Outbox" WHERE "endpointId" = $1::uuid AND type = 'webhook.test'`,
      [id],
    );
    expect(testRows).toEqual([{ type: 'webhook.test', data: { endpointId: id }, status: 'PENDING' }]);
    const listed = (await t.gql(DELIVERIES, { id })).data as Page;
    expect(listed.webhookDeliveries.edges[0]!.node).toMatchObject({ eventId: testEventId, status: 'PENDING', attemptLog: [] });

    const deleted = await t.gql(`mutation M($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename ... on DeletedWebhookEndpoint { id deletedEvents } } }`, {
      id,
    });
    expect(deleted.data).toEqual({ deleteWebhookEndpoint: { __typename: 'DeletedWebhookEndpoint', id, deletedEvents: 4 } });
    expect(await statuses(id)).toEqual([]);
    expect(await auditOf(`webhookEndpoint:${id}`)).toEqual(['webhook.create', 'webhook.redeliverFailed', 'webhook.test', 'webhook.delete']);
    expect(await auditOf(`webhookEvent:${eventIdOf(failedEvent)}`)).toEqual(['webhook.redeliver']);
  });

  it('refuses bad paging arguments as user input', async () => {
    const created = await createOk();
    const r = await t.gql(`query Q($id: ID!) { webhookDeliveries(endpointId: $id, first: 501) { totalCount } }`, { id: created.endpoint.id });
    expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const c = await t.gql(`query Q($id: ID!) { webhookDeliveries(endpointId: $id, after: "bm9wZQ") { totalCount } }`, { id: created.endpoint.id });
    expect(c.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
