/**
 * The authorization matrix: every operation in the schema × {no token, revoked token, token of another
 * tenant, too-low role}. Refusals are consistent:
 *
 * - no token / revoked token → HTTP 401, UNAUTHENTICATED, no data (graphql-ws: the socket closes 4403);
 * - too-low role            → FORBIDDEN GraphQL error, the field is null (no data);
 * - another tenant          → the other tenant's things do not exist for you: queries return null or
 *                             nothing, mutations the typed NotFound (registerDevice: AlreadyExists, the
 *                             same answer whoever owns the id), subscriptions never deliver their events.
 *
 * To add an operation, add a row to OPERATIONS (the test at the bottom fails until every root field has one).
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_RANK, ROLES, type Role } from '../../src/domain/principal.ts';
import { buildSchema } from '../../src/schema/index.ts';
import { modeName, startTestServer, subscribe, uniqueDeviceId, type TestServer } from '../support/harness.ts';

const OTHER = 'other-tenant';

interface Fixture {
  /** A device of the 'default' tenant, with its global node id and its model's. */
  deviceId: string;
  deviceNodeId: string;
  modelNodeId: string;
  /** A live (not revoked) token of the 'default' tenant that nobody uses. */
  spareTokenId: string;
  /** Admin tokens: default tenant and OTHER. */
  adminA: string;
  adminB: string;
  /** A device of OTHER. */
  otherDeviceId: string;
  /** A PENDING command for `deviceId` (its device stays offline), and a fleet command of the default tenant. */
  commandId: string;
  fleetCommandId: string;
  /** A dead letter of `deviceId` (default tenant). */
  deadLetterId: string;
  /** An open (ACTIVE) alarm of `deviceId` (default tenant). */
  alarmId: string;
  /** A rule of the default tenant. */
  ruleId: string;
  /** A webhook endpoint of the default tenant, and the evt_ id of a FAILED event of it. */
  webhookEndpointId: string;
  webhookEventId: string;
  /** A provisioning policy of the default tenant. */
  provisioningPolicyId: string;
}

type Result = Awaited<ReturnType<TestServer['gql']>>;

interface Operation {
  /** Root type and field; the coverage test matches these against the schema. */
  root: 'Query' | 'Mutation';
  field: string;
  /** Lowest role that may call it. */
  role: Role;
  document: string;
  variables: (f: Fixture) => Record<string, unknown>;
  /**
   * What a caller with enough role but from OTHER gets: asserts it is nothing of the default tenant's,
   * and (for mutations) that nothing of it changed.
   */
  otherTenant: (r: Result, f: Fixture) => Promise<void> | void;
}

interface SubscriptionOperation {
  field: string;
  role: Role;
  /** Unfiltered subscription (every device the caller may see); selects `deviceId`. */
  document: string;
  /** Makes the subscribed event happen on a device of the tenant whose admin token is given. */
  trigger: (tenant: 'A' | 'B', f: Fixture) => Promise<void>;
}

let t: TestServer;
let f: Fixture;
let revoked: string;
/** tokens[role] in the default tenant. */
const tokens = {} as Record<Role, string>;
const devices: Record<'A' | 'B', { deviceId: string; password: string; client?: MqttClient }> = {} as never;

const REGISTER = `mutation R($input: RegisterDeviceInput!) {
  registerDevice(input: $input) { __typename ... on DeviceWithCredentials { device { id model { id } } credentials { password } } ... on Error { code } }
}`;

async function register(deviceId: string, token: string, model?: string) {
  const r = await t.gql(REGISTER, { input: { deviceId, ...(model ? { model } : {}) } }, token);
  const p = (r.data as { registerDevice: { __typename: string; device: { id: string; model: { id: string } | null }; credentials: { password: string } } })
    .registerDevice;
  if (p.__typename !== 'DeviceWithCredentials') throw new Error(`register failed: ${JSON.stringify(r)}`);
  return p;
}

/** A dead letter of a default-tenant device, stored as the bridge would store one. */
async function insertDeadLetter(deviceId: string): Promise<string> {
  const rows = await t.database.sql.query<{ id: string }>(
    `INSERT INTO "DeadLetter" (id, "tenantId", "deviceId", topic, kind, payload, "errorCode", error, "receivedAt")
     VALUES (gen_random_uuid(), 'default', $1, $2, 'telemetry', convert_to('{"m":1}', 'UTF8'), 'INTERNAL', 'matrix', now()) RETURNING id::text AS id`,
    [deviceId, `devices/${deviceId}/telemetry`],
  );
  return rows[0]!.id;
}

/** An ACTIVE alarm of a device, with its rule and state, stored as the rules engine stores them. */
async function insertOpenAlarm(deviceId: string, tenantId = 'default'): Promise<string> {
  const rows = await t.database.sql.query<{ id: string }>(
    `WITH d AS (SELECT id FROM "Device" WHERE "deviceId" = $1),
          r AS (INSERT INTO "Rule" (id, "tenantId", name, definition, "sourceType", "sourceKey")
                VALUES (gen_random_uuid(), $2, 'matrix-' || gen_random_uuid(), $3::jsonb, 'telemetry', 'matrixMetric') RETURNING id),
          a AS (INSERT INTO "Alarm" (id, "tenantId", "ruleId", "ruleVersion", "deviceId", status, severity, "raisedAt")
                SELECT gen_random_uuid(), $2, r.id, 1, d.id, 'ACTIVE', 'INFO', now() FROM r, d RETURNING id, "ruleId", "deviceId"),
          s AS (INSERT INTO "RuleState" ("ruleId", "deviceId", "ruleVersion", phase, "asOf", "alarmId") SELECT "ruleId", "deviceId", 1, 'RAISED', now(), id FROM a)
     SELECT id::text AS id FROM a`,
    [
      deviceId,
      tenantId,
      JSON.stringify({
        scope: { deviceIds: [deviceId] },
        source: { type: 'telemetry', metric: 'matrixMetric' },
        raise: { op: '>', value: 1 },
        severity: 'INFO',
        onRaise: [],
        onClear: [],
      }),
    ],
  );
  return rows[0]!.id;
}

const alarmStatus = async (id: string) => (await t.database.sql.query<{ status: string }>(`SELECT status FROM "Alarm" WHERE id = $1::uuid`, [id]))[0]?.status;

const deadLetterRow = (id: string) => t.database.sql.query<{ replayCount: number }>(`SELECT "replayCount" FROM "DeadLetter" WHERE id = $1::uuid`, [id]);

async function secretHashOf(deviceId: string) {
  return await t.database.prisma.device.findUnique({ where: { deviceId }, select: { secretHash: true, tenantId: true } });
}

const CREATE_RULE = `mutation M($n: String!) { createRule(input: {name: $n, scope: {}, source: {type: TELEMETRY, metric: "temp"}, raise: {op: GT, value: 8}, severity: MINOR}) { __typename ... on Rule { ruleId } ... on Error { code } } }`;
const ruleRow = (id: string) => t.database.sql.query<{ version: number; enabled: boolean }>(`SELECT version, enabled FROM "Rule" WHERE id = $1::uuid`, [id]);

async function createRule(token: string): Promise<string> {
  const r = await t.gql(CREATE_RULE, { n: uniqueDeviceId('matrix-rule') }, token);
  return (r.data as { createRule: { ruleId: string } }).createRule.ruleId;
}

/**
 * A webhook endpoint of the default tenant (public literal address: no DNS involved), filtered to a
 * device that never exists, so the changes the matrix makes write no events for it and its state stays
 * exactly what the fixture made.
 */
async function createWebhookEndpoint(): Promise<string> {
  const r = await t.gql(
    `mutation { createWebhookEndpoint(input: {url: "https://93.184.215.14/matrix", filter: {deviceIds: ["matrix-nobody"]}}) { ... on CreatedWebhookEndpoint { endpoint { id } } } }`,
  );
  return (r.data as { createWebhookEndpoint: { endpoint: { id: string } } }).createWebhookEndpoint.endpoint.id;
}

/** A FAILED outbox event of the endpoint, as the deliverer leaves one; its evt_ id. */
async function insertFailedWebhookEvent(endpointId: string): Promise<string> {
  const rows = await t.database.sql.query<{ eventId: string }>(
    `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", type, "occurredAt", data, status, "failedAt")
     VALUES (gen_random_uuid(), gen_random_uuid(), 'default', 'WEBHOOK', $1::uuid, 'twin.changed', now(), '{}', 'FAILED', now()) RETURNING "eventId"::text AS "eventId"`,
    [endpointId],
  );
  return `evt_${rows[0]!.eventId.replaceAll('-', '')}`;
}

/** The endpoint as the mutations would change it, with its secrets and events. */
const webhookState = async (id: string) => ({
  endpoint: await t.database.prisma.webhookEndpoint.findUnique({
    where: { id },
    select: { tenantId: true, url: true, description: true, enabled: true, disabledReason: true, eventTypes: true, maxInFlight: true },
  }),
  secrets: await t.database.prisma.webhookSecret.findMany({ where: { endpointId: id }, select: { id: true, expiresAt: true }, orderBy: { id: 'asc' } }),
  events: await t.database.prisma.outbox.findMany({
    where: { endpointId: id },
    select: { id: true, status: true, nextAttemptAt: true },
    orderBy: { seq: 'asc' },
  }),
});

/** Another tenant's call changed nothing of the fixture endpoint. */
async function expectWebhookUntouched(x: Fixture) {
  const state = await webhookState(x.webhookEndpointId);
  expect(state.endpoint).toMatchObject({ tenantId: 'default', enabled: true, description: null });
  expect(state.secrets).toHaveLength(1);
  expect(state.secrets[0]!.expiresAt).toBeNull();
  expect(state.events.map((e) => e.status)).toEqual(['FAILED']);
}

const CREATE_PROVISIONING_POLICY = `mutation M($n: String!) { createProvisioningPolicy(input: {name: $n, mode: CLAIM_TOKEN}) { __typename ... on CreateProvisioningPolicyPayload { policy { id } } ... on Error { code } } }`;

async function createProvisioningPolicy(token: string): Promise<string> {
  const r = await t.gql(CREATE_PROVISIONING_POLICY, { n: uniqueDeviceId('matrix-policy') }, token);
  return (r.data as { createProvisioningPolicy: { policy: { id: string } } }).createProvisioningPolicy.policy.id;
}

const provisioningPolicyRow = (id: string) => t.database.sql.query<{ enabled: boolean }>(`SELECT enabled FROM "ProvisioningPolicy" WHERE id = $1::uuid`, [id]);

const PROVISIONING_OPERATIONS: Operation[] = [
  {
    root: 'Query',
    field: 'provisioningPolicies',
    role: 'admin',
    document: `{ provisioningPolicies { id } }`,
    variables: () => ({}),
    otherTenant: (r, x) =>
      expect((r.data as { provisioningPolicies: Array<{ id: string }> }).provisioningPolicies).not.toContainEqual({ id: x.provisioningPolicyId }),
  },
  {
    root: 'Query',
    field: 'provisioningAttempts',
    role: 'admin',
    document: `{ provisioningAttempts(first: 50) { edges { node { policyId } } } }`,
    variables: () => ({}),
    otherTenant: (r, x) =>
      expect(
        (r.data as { provisioningAttempts: { edges: Array<{ node: { policyId: string } }> } }).provisioningAttempts.edges.map((e) => e.node.policyId),
      ).not.toContain(x.provisioningPolicyId),
  },
  {
    root: 'Mutation',
    field: 'createProvisioningPolicy',
    role: 'admin',
    document: CREATE_PROVISIONING_POLICY,
    variables: () => ({ n: uniqueDeviceId('matrix-policy') }),
    // Created in OTHER's own tenant: nothing of the default tenant's.
    otherTenant: (r) =>
      expect((r.data as { createProvisioningPolicy: { __typename: string } }).createProvisioningPolicy.__typename).toBe('CreateProvisioningPolicyPayload'),
  },
  {
    root: 'Mutation',
    field: 'updateProvisioningPolicy',
    role: 'admin',
    document: `mutation M($id: ID!) { updateProvisioningPolicy(id: $id, input: {enabled: false}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.provisioningPolicyId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ updateProvisioningPolicy: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await provisioningPolicyRow(x.provisioningPolicyId)).toEqual([{ enabled: true }]);
    },
  },
  {
    root: 'Mutation',
    field: 'deleteProvisioningPolicy',
    role: 'admin',
    document: `mutation M($id: ID!) { deleteProvisioningPolicy(id: $id) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.provisioningPolicyId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ deleteProvisioningPolicy: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await provisioningPolicyRow(x.provisioningPolicyId)).toHaveLength(1);
    },
  },
];

/** Device certificates and tenant CAs (mutual TLS): admin only; another tenant's admin sees and changes nothing of the default tenant's. */
const MATRIX_FINGERPRINT = 'ab'.repeat(32);
const CERTIFICATE_OPERATIONS: Operation[] = [
  {
    root: 'Query',
    field: 'tenantCertificateAuthorities',
    role: 'admin',
    document: `{ tenantCertificateAuthorities { name } }`,
    variables: () => ({}),
    otherTenant: (r) => expect((r.data as { tenantCertificateAuthorities: unknown[] }).tenantCertificateAuthorities).toEqual([]),
  },
  {
    root: 'Query',
    field: 'deviceCertificates',
    role: 'admin',
    document: `query Q($id: String!) { deviceCertificates(deviceId: $id) { fingerprint } }`,
    variables: (x) => ({ id: x.deviceId }),
    otherTenant: (r) => expect((r.data as { deviceCertificates: unknown[] }).deviceCertificates).toEqual([]),
  },
  {
    root: 'Mutation',
    field: 'registerDeviceCertificate',
    role: 'admin',
    document: `mutation M($id: String!, $fp: String) { registerDeviceCertificate(deviceId: $id, fingerprint: $fp) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.deviceId, fp: MATRIX_FINGERPRINT }),
    otherTenant: async (r) => {
      expect(r.data).toEqual({ registerDeviceCertificate: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await t.database.sql.query(`SELECT 1 FROM "DeviceCertificate" WHERE fingerprint = $1`, [MATRIX_FINGERPRINT])).toHaveLength(0);
    },
  },
  {
    root: 'Mutation',
    field: 'removeDeviceCertificate',
    role: 'admin',
    document: `mutation M($fp: String!) { removeDeviceCertificate(fingerprint: $fp) { __typename ... on Error { code } } }`,
    variables: () => ({ fp: MATRIX_FINGERPRINT }),
    otherTenant: (r) => expect(r.data).toEqual({ removeDeviceCertificate: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'revokeDeviceCertificate',
    role: 'admin',
    document: `mutation M($fp: String!) { revokeDeviceCertificate(fingerprint: $fp) { __typename ... on RevokedDeviceCertificate { disconnected } } }`,
    variables: () => ({ fp: MATRIX_FINGERPRINT }),
    // A revocation is the revoking tenant's own: it writes nothing for the default tenant.
    otherTenant: async (r) => {
      expect(r.data).toEqual({ revokeDeviceCertificate: { __typename: 'RevokedDeviceCertificate', disconnected: 0 } });
      expect(
        await t.database.sql.query(`SELECT 1 FROM "RevokedCertificate" WHERE fingerprint = $1 AND "tenantId" = 'default'`, [MATRIX_FINGERPRINT]),
      ).toHaveLength(0);
    },
  },
  {
    root: 'Mutation',
    field: 'uploadTenantCertificateAuthority',
    role: 'admin',
    document: `mutation M($pem: String!) { uploadTenantCertificateAuthority(name: "matrix-ca", pem: $pem) { __typename ... on Error { code } } }`,
    variables: () => ({ pem: 'not a certificate' }),
    otherTenant: (r) => expect(r.data).toEqual({ uploadTenantCertificateAuthority: { __typename: 'ValidationError', code: 'VALIDATION_FAILED' } }),
  },
  {
    root: 'Mutation',
    field: 'removeTenantCertificateAuthority',
    role: 'admin',
    document: `mutation M { removeTenantCertificateAuthority(name: "matrix-ca") { __typename ... on Error { code } } }`,
    variables: () => ({}),
    otherTenant: (r) => expect(r.data).toEqual({ removeTenantCertificateAuthority: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
];

const OPERATIONS: Operation[] = [
  ...PROVISIONING_OPERATIONS,
  ...CERTIFICATE_OPERATIONS,
  {
    root: 'Query',
    field: 'rules',
    role: 'viewer',
    document: `{ rules(first: 100) { totalCount edges { node { ruleId } } } }`,
    variables: () => ({}),
    otherTenant: (r, x) => {
      const page = (r.data as { rules: { totalCount: number; edges: Array<{ node: { ruleId: string } }> } }).rules;
      expect(page.edges.map((e) => e.node.ruleId)).not.toContain(x.ruleId);
      expect(page.totalCount).toBe(page.edges.length);
    },
  },
  {
    root: 'Query',
    field: 'rule',
    role: 'viewer',
    document: `query Q($id: String!) { rule(ruleId: $id) { ruleId name } }`,
    variables: (x) => ({ id: x.ruleId }),
    otherTenant: (r) => expect(r.data).toEqual({ rule: null }),
  },
  {
    root: 'Query',
    field: 'testRule',
    role: 'viewer',
    document: `query Q($id: String!) { testRule(ruleId: $id, from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { __typename ... on RuleBacktest { devices } ... on Error { code } } }`,
    variables: (x) => ({ id: x.ruleId }),
    otherTenant: (r) => expect(r.data).toEqual({ testRule: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'createRule',
    role: 'operator',
    document: CREATE_RULE,
    variables: () => ({ n: uniqueDeviceId('matrix-rule') }),
    // OTHER creates a rule of its own; nothing of the default tenant's is involved.
    otherTenant: async (r) => {
      const { createRule: created } = r.data as { createRule: { __typename: string; ruleId: string } };
      expect(created.__typename).toBe('Rule');
      expect((await t.database.prisma.rule.findUniqueOrThrow({ where: { id: created.ruleId } })).tenantId).toBe(OTHER);
    },
  },
  {
    root: 'Mutation',
    field: 'updateRule',
    role: 'operator',
    document: `mutation M($id: String!, $n: String!) { updateRule(ruleId: $id, input: {name: $n, scope: {}, source: {type: TELEMETRY, metric: "temp"}, raise: {op: GT, value: 9}, severity: MAJOR}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.ruleId, n: 'matrix-rule-a' }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ updateRule: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await ruleRow(x.ruleId)).toEqual([{ version: 1, enabled: true }]);
    },
  },
  ...(['enableRule', 'disableRule'] as const).map((field): Operation => ({
    root: 'Mutation',
    field,
    role: 'operator',
    document: `mutation M($id: String!) { ${field}(ruleId: $id) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.ruleId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ [field]: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect((await ruleRow(x.ruleId))[0]?.enabled).toBe(true);
    },
  })),
  {
    root: 'Mutation',
    field: 'deleteRule',
    role: 'operator',
    document: `mutation M($id: String!) { deleteRule(ruleId: $id) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.ruleId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ deleteRule: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await ruleRow(x.ruleId)).toHaveLength(1);
    },
  },
  {
    root: 'Query',
    field: 'device',
    role: 'viewer',
    document: `query Q($d: String!) { device(deviceId: $d) { id deviceId } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ device: null }),
  },
  {
    root: 'Query',
    field: 'devices',
    role: 'viewer',
    document: `{ devices(first: 100) { totalCount edges { node { deviceId } } } }`,
    variables: () => ({}),
    otherTenant: (r, x) => {
      const { devices: page } = r.data as { devices: { totalCount: number; edges: Array<{ node: { deviceId: string } }> } };
      expect(page.edges.map((e) => e.node.deviceId)).toEqual([x.otherDeviceId]);
      expect(page.totalCount).toBe(1);
    },
  },
  {
    root: 'Query',
    field: 'deviceModels',
    role: 'viewer',
    document: `{ deviceModels { id name } }`,
    variables: () => ({}),
    // OTHER sees its own models only.
    otherTenant: (r, x) => {
      const models = (r.data as { deviceModels: Array<{ id: string; name: string }> }).deviceModels;
      expect(models.map((m) => m.name).sort()).toEqual(['matrix-model', 'matrix-model-b']);
      expect(models.map((m) => m.id)).not.toContain(x.modelNodeId);
    },
  },
  {
    root: 'Query',
    field: 'node',
    role: 'viewer',
    document: `query Q($id: ID!) { node(id: $id) { id ... on Device { deviceId } } }`,
    variables: (x) => ({ id: x.deviceNodeId }),
    otherTenant: (r) => expect(r.data).toEqual({ node: null }),
  },
  {
    root: 'Query',
    field: 'nodes',
    role: 'viewer',
    document: `query Q($ids: [ID!]!) { nodes(ids: $ids) { id } }`,
    variables: (x) => ({ ids: [x.deviceNodeId, x.modelNodeId] }),
    otherTenant: (r) => expect(r.data).toEqual({ nodes: [null, null] }),
  },
  {
    root: 'Query',
    field: 'deviceModel',
    role: 'viewer',
    document: `query Q { deviceModel(name: "matrix-model") { id commands { name } } }`,
    variables: () => ({}),
    // OTHER has a model of the same name: it must see its own (no commands), never the default tenant's.
    otherTenant: (r) => expect(r.data).toMatchObject({ deviceModel: { commands: [] } }),
  },
  {
    root: 'Query',
    field: 'command',
    role: 'viewer',
    document: `query Q($c: String!) { command(commandId: $c) { id status } }`,
    variables: (x) => ({ c: x.commandId }),
    otherTenant: (r) => expect(r.data).toEqual({ command: null }),
  },
  {
    root: 'Query',
    field: 'fleetCommand',
    role: 'viewer',
    document: `query Q($id: String!) { fleetCommand(id: $id) { id } }`,
    variables: (x) => ({ id: x.fleetCommandId }),
    otherTenant: (r) => expect(r.data).toEqual({ fleetCommand: null }),
  },
  {
    root: 'Mutation',
    field: 'createDeviceModel',
    role: 'admin',
    document: `mutation M($n: String!) { createDeviceModel(input: {name: $n}) { __typename ... on Error { code } } }`,
    variables: () => ({ n: `mx-model-${Math.random().toString(36).slice(2)}` }),
    // Created in OTHER's own tenant: nothing of the default tenant's.
    otherTenant: (r) => expect(r.data).toEqual({ createDeviceModel: { __typename: 'DeviceModel' } }),
  },
  {
    root: 'Mutation',
    field: 'updateDeviceModel',
    role: 'admin',
    document: `mutation M { updateDeviceModel(input: {name: "matrix-only-a", description: "probe"}) { __typename ... on Error { code } } }`,
    variables: () => ({}),
    otherTenant: (r) => expect(r.data).toEqual({ updateDeviceModel: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'deleteDeviceModel',
    role: 'admin',
    document: `mutation M($n: String!) { deleteDeviceModel(name: $n) { __typename ... on Error { code } } }`,
    variables: () => ({ n: 'matrix-only-a' }),
    otherTenant: (r) => expect(r.data).toEqual({ deleteDeviceModel: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'updateDevice',
    role: 'admin',
    document: `mutation M($d: String!) { updateDevice(deviceId: $d, input: {name: "probe"}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ updateDevice: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'sendCommand',
    role: 'operator',
    document: `mutation M($d: String!) { sendCommand(input: {deviceId: $d, name: "ping"}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ sendCommand: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'cancelCommand',
    role: 'operator',
    document: `mutation M($c: String!) { cancelCommand(commandId: $c) { __typename ... on Error { code } } }`,
    variables: (x) => ({ c: x.commandId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ cancelCommand: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect((await t.database.prisma.command.findUnique({ where: { id: x.commandId } }))?.status).toBe('PENDING');
    },
  },
  {
    root: 'Mutation',
    field: 'sendFleetCommand',
    role: 'operator',
    document: `mutation M($d: String!) { sendFleetCommand(input: {deviceIds: [$d], name: "ping"}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ sendFleetCommand: { __typename: 'ValidationError', code: 'VALIDATION_FAILED' } }),
  },
  {
    root: 'Query',
    field: 'me',
    role: 'viewer',
    document: `{ me { tenantId role } }`,
    variables: () => ({}),
    // Another tenant's token learns only about itself.
    otherTenant: (r) => expect(r.data).toEqual({ me: { tenantId: OTHER, role: 'ADMIN' } }),
  },
  {
    root: 'Query',
    field: 'apiTokens',
    role: 'admin',
    document: `{ apiTokens(includeRevoked: true) { id tenantId } }`,
    variables: () => ({}),
    otherTenant: (r) => {
      const list = (r.data as { apiTokens: Array<{ tenantId: string }> }).apiTokens;
      expect(list.length).toBeGreaterThan(0);
      expect(list.every((tok) => tok.tenantId === OTHER)).toBe(true);
    },
  },
  {
    root: 'Query',
    field: 'auditLog',
    role: 'admin',
    document: `{ auditLog(first: 500) { edges { node { target actor } } } }`,
    variables: () => ({}),
    otherTenant: (r, x) => {
      const events = (r.data as { auditLog: { edges: Array<{ node: { target: string } }> } }).auditLog.edges.map((e) => e.node);
      expect(events.length).toBeGreaterThan(0); // OTHER's own token creations and device registration
      expect(events.filter((e) => e.target === `device:${x.deviceId}` || e.target === `apiToken:${x.spareTokenId}`)).toEqual([]);
    },
  },
  {
    root: 'Query',
    field: 'deadLetters',
    role: 'admin',
    document: `{ deadLetters(first: 500) { edges { node { id deviceId } } } }`,
    variables: () => ({}),
    otherTenant: (r) => expect(r.data).toEqual({ deadLetters: { edges: [] } }),
  },
  {
    root: 'Mutation',
    field: 'replayDeadLetter',
    role: 'admin',
    document: `mutation M($id: ID!) { replayDeadLetter(id: $id) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.deadLetterId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ replayDeadLetter: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await deadLetterRow(x.deadLetterId)).toEqual([{ replayCount: 0 }]);
    },
  },
  {
    root: 'Mutation',
    field: 'discardDeadLetter',
    role: 'admin',
    document: `mutation M($id: ID!) { discardDeadLetter(id: $id) { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.deadLetterId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ discardDeadLetter: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await deadLetterRow(x.deadLetterId)).toHaveLength(1);
    },
  },
  {
    root: 'Mutation',
    field: 'registerDevice',
    role: 'admin',
    document: REGISTER,
    variables: (x) => ({ input: { deviceId: x.deviceId } }),
    // Device ids are global (MQTT usernames): taken is taken, whoever owns it; nothing else is revealed.
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ registerDevice: { __typename: 'AlreadyExists', code: 'ALREADY_EXISTS' } });
      expect((await secretHashOf(x.deviceId))?.tenantId).toBe('default');
    },
  },
  {
    root: 'Mutation',
    field: 'registerDevices',
    role: 'admin',
    document: `mutation M($inputs: [RegisterDeviceInput!]!) { registerDevices(inputs: $inputs) { __typename ... on RegisterDevicesPayload { created results { status errors { code } } } ... on Error { code } } }`,
    variables: (x) => ({ inputs: [{ deviceId: x.deviceId }] }),
    // The same answer as registerDevice: a taken id is taken, whoever owns it, and nothing else is revealed.
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({
        registerDevices: { __typename: 'RegisterDevicesPayload', created: 0, results: [{ status: 'FAILED', errors: [{ code: 'ALREADY_EXISTS' }] }] },
      });
      expect((await secretHashOf(x.deviceId))?.tenantId).toBe('default');
    },
  },
  {
    root: 'Mutation',
    field: 'rotateDeviceCredentials',
    role: 'admin',
    document: `mutation M($d: String!) { rotateDeviceCredentials(deviceId: $d) { __typename ... on DeviceWithCredentials { credentials { password } } ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ rotateDeviceCredentials: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'revokeDeviceCredentials',
    role: 'admin',
    document: `mutation M($d: String!) { revokeDeviceCredentials(deviceId: $d) { __typename ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ revokeDeviceCredentials: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'disableDevice',
    role: 'admin',
    document: `mutation M($d: String!) { disableDevice(deviceId: $d) { __typename ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ disableDevice: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'enableDevice',
    role: 'admin',
    document: `mutation M($d: String!) { enableDevice(deviceId: $d) { __typename ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ enableDevice: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'deleteDevice',
    role: 'admin',
    document: `mutation M($d: String!) { deleteDevice(deviceId: $d) { __typename ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ deleteDevice: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await secretHashOf(x.deviceId)).not.toBeNull();
    },
  },
  {
    root: 'Mutation',
    field: 'updateDesired',
    role: 'operator',
    document: `mutation M($d: String!) { updateDesired(deviceId: $d, patch: {matrix: "probe"}) { __typename ... on UpdateDesiredPayload { twin { desired } } ... on Error { code } } }`,
    variables: (x) => ({ d: x.deviceId }),
    otherTenant: (r) => expect(r.data).toEqual({ updateDesired: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Mutation',
    field: 'createApiToken',
    role: 'admin',
    document: `mutation M($input: CreateApiTokenInput!) { createApiToken(input: $input) { __typename ... on CreatedApiToken { token } ... on ValidationError { fieldErrors { path code } } } }`,
    variables: () => ({ input: { name: 'probe', role: 'ADMIN', tenantId: 'default' } }),
    otherTenant: (r) =>
      expect(r.data).toEqual({ createApiToken: { __typename: 'ValidationError', fieldErrors: [{ path: ['input', 'tenantId'], code: 'OTHER_TENANT' }] } }),
  },
  {
    root: 'Mutation',
    field: 'revokeApiToken',
    role: 'admin',
    document: `mutation M($id: ID!) { revokeApiToken(id: $id) { __typename ... on RevokedApiToken { apiToken { id } } ... on Error { code } } }`,
    variables: (x) => ({ id: x.spareTokenId }),
    otherTenant: (r) => expect(r.data).toEqual({ revokeApiToken: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
  {
    root: 'Query',
    field: 'webhookEndpoints',
    role: 'admin',
    document: `{ webhookEndpoints { id url } }`,
    variables: () => ({}),
    otherTenant: async (r, x) => {
      const ids = (r.data as { webhookEndpoints: Array<{ id: string }> }).webhookEndpoints.map((e) => e.id);
      expect(ids).not.toContain(x.webhookEndpointId);
      const owners = await t.database.prisma.webhookEndpoint.findMany({ where: { id: { in: ids } }, select: { tenantId: true } });
      expect(owners.every((o) => o.tenantId === OTHER)).toBe(true);
    },
  },
  {
    root: 'Query',
    field: 'webhookEndpoint',
    role: 'admin',
    document: `query Q($id: ID!) { webhookEndpoint(id: $id) { id url } }`,
    variables: (x) => ({ id: x.webhookEndpointId }),
    otherTenant: (r) => expect(r.data).toEqual({ webhookEndpoint: null }),
  },
  {
    root: 'Query',
    field: 'webhookDeliveries',
    role: 'admin',
    document: `query Q($id: ID!) { webhookDeliveries(endpointId: $id) { totalCount edges { node { eventId } } } }`,
    variables: (x) => ({ id: x.webhookEndpointId }),
    otherTenant: (r) => expect(r.data).toEqual({ webhookDeliveries: null }),
  },
  {
    root: 'Mutation',
    field: 'createWebhookEndpoint',
    role: 'admin',
    document: `mutation M($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { __typename ... on CreatedWebhookEndpoint { endpoint { id } } ... on Error { code } } }`,
    variables: () => ({ input: { url: 'https://93.184.215.14/probe' } }),
    // OTHER's admin creates in OTHER: nothing of this tenant's is involved.
    otherTenant: async (r, x) => {
      const id = (r.data as { createWebhookEndpoint: { endpoint: { id: string } } }).createWebhookEndpoint.endpoint.id;
      expect((await webhookState(id)).endpoint?.tenantId).toBe(OTHER);
      await expectWebhookUntouched(x);
    },
  },
  ...(
    [
      ['updateWebhookEndpoint', 'updateWebhookEndpoint(id: $id, input: {description: "probe"})'],
      ['enableWebhookEndpoint', 'enableWebhookEndpoint(id: $id)'],
      ['disableWebhookEndpoint', 'disableWebhookEndpoint(id: $id)'],
      ['deleteWebhookEndpoint', 'deleteWebhookEndpoint(id: $id)'],
      ['rotateWebhookSecret', 'rotateWebhookSecret(id: $id)'],
      ['sendTestWebhook', 'sendTestWebhook(id: $id)'],
      ['redeliverWebhooks', 'redeliverWebhooks(endpointId: $id, since: "2000-01-01T00:00:00Z")'],
    ] as const
  ).map(([field, call]): Operation => ({
    root: 'Mutation',
    field,
    role: 'admin',
    document: `mutation M($id: ID!) { ${call} { __typename ... on Error { code } } }`,
    variables: (x) => ({ id: x.webhookEndpointId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ [field]: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      await expectWebhookUntouched(x);
    },
  })),
  {
    root: 'Mutation',
    field: 'redeliverWebhook',
    role: 'admin',
    document: `mutation M($e: String!) { redeliverWebhook(eventId: $e) { __typename ... on Error { code } } }`,
    variables: (x) => ({ e: x.webhookEventId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ redeliverWebhook: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      await expectWebhookUntouched(x);
    },
  },
  {
    root: 'Query',
    field: 'alarms',
    role: 'viewer',
    document: `{ alarms(first: 50) { totalCount edges { node { alarmId device { deviceId } } } } }`,
    variables: () => ({}),
    otherTenant: (r, x) => {
      const page = (r.data as { alarms: { edges: Array<{ node: { alarmId: string; device: { deviceId: string } } }> } }).alarms;
      expect(page.edges.every((e) => e.node.device.deviceId === x.otherDeviceId)).toBe(true);
    },
  },
  {
    root: 'Query',
    field: 'alarm',
    role: 'viewer',
    document: `query Q($a: String!) { alarm(alarmId: $a) { alarmId status } }`,
    variables: (x) => ({ a: x.alarmId }),
    otherTenant: (r) => expect(r.data).toEqual({ alarm: null }),
  },
  {
    root: 'Mutation',
    field: 'acknowledgeAlarm',
    role: 'operator',
    document: `mutation M($a: String!) { acknowledgeAlarm(input: {alarmId: $a}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ a: x.alarmId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ acknowledgeAlarm: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await alarmStatus(x.alarmId)).toBe('ACTIVE');
    },
  },
  {
    root: 'Mutation',
    field: 'clearAlarm',
    role: 'operator',
    document: `mutation M($a: String!) { clearAlarm(input: {alarmId: $a}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ a: x.alarmId }),
    otherTenant: async (r, x) => {
      expect(r.data).toEqual({ clearAlarm: { __typename: 'NotFound', code: 'NOT_FOUND' } });
      expect(await alarmStatus(x.alarmId)).toBe('ACTIVE');
    },
  },
  {
    root: 'Mutation',
    field: 'commentAlarm',
    role: 'operator',
    document: `mutation M($a: String!) { commentAlarm(input: {alarmId: $a, text: "matrix"}) { __typename ... on Error { code } } }`,
    variables: (x) => ({ a: x.alarmId }),
    otherTenant: (r) => expect(r.data).toEqual({ commentAlarm: { __typename: 'NotFound', code: 'NOT_FOUND' } }),
  },
];

const SUBSCRIPTIONS: SubscriptionOperation[] = [
  {
    field: 'twinChanged',
    role: 'viewer',
    document: `subscription { twinChanged { deviceId } }`,
    trigger: async (tenant, x) => {
      const r = await t.gql(
        `mutation M($d: String!) { updateDesired(deviceId: $d, patch: {n: ${Date.now()}}) { __typename } }`,
        { d: tenant === 'A' ? x.deviceId : x.otherDeviceId },
        tenant === 'A' ? x.adminA : x.adminB,
      );
      expect(r.data).toEqual({ updateDesired: { __typename: 'UpdateDesiredPayload' } });
    },
  },
  {
    field: 'telemetry',
    role: 'viewer',
    document: `subscription { telemetry { deviceId } }`,
    trigger: async (tenant) => {
      const d = await connected(tenant);
      await d.client!.publishAsync(`devices/${d.deviceId}/telemetry`, JSON.stringify({ values: { probe: 1 } }), { qos: 1 });
    },
  },
  {
    field: 'deviceConnection',
    role: 'viewer',
    document: `subscription { deviceConnection { deviceId } }`,
    trigger: async (tenant) => {
      const d = await connected(tenant);
      await d.client!.publishAsync(`devices/${d.deviceId}/status`, 'online', { qos: 1 });
    },
  },
  {
    field: 'commandUpdated',
    role: 'viewer',
    document: `subscription { commandUpdated { deviceId } }`,
    trigger: async (tenant, x) => {
      const r = await t.gql(
        `mutation M($d: String!) { sendCommand(input: {deviceId: $d, name: "ping"}) { __typename } }`,
        { d: tenant === 'A' ? x.deviceId : x.otherDeviceId },
        tenant === 'A' ? x.adminA : x.adminB,
      );
      expect(r.data).toEqual({ sendCommand: { __typename: 'Command' } });
    },
  },
  {
    field: 'alarmChanged',
    role: 'viewer',
    document: `subscription { alarmChanged { deviceId } }`,
    trigger: async (tenant, x) => {
      const alarmId = tenant === 'A' ? x.alarmId : await insertOpenAlarm(x.otherDeviceId, OTHER);
      const r = await t.gql(
        `mutation M($a: String!) { commentAlarm(input: {alarmId: $a, text: "probe"}) { __typename } }`,
        { a: alarmId },
        tenant === 'A' ? x.adminA : x.adminB,
      );
      expect(r.data).toEqual({ commentAlarm: { __typename: 'Alarm' } });
    },
  },
];

async function connected(tenant: 'A' | 'B') {
  const d = devices[tenant];
  d.client ??= await t.mqtt({ username: d.deviceId, password: d.password, clientId: `${d.deviceId}-${Math.random()}` });
  return d;
}

beforeAll(async () => {
  // A fixed sealing key: webhook secrets are sealed with it instead of a key file under the data directory.
  t = await startTestServer({ WEBHOOK_SECRET_KEY: '11'.repeat(32) });
  for (const role of ROLES) tokens[role] = await t.createToken(role, 'default');
  const adminB = await t.createToken('admin', OTHER);
  const MODEL = `mutation M($n: String!, $c: [CommandDefinitionInput!]) { createDeviceModel(input: {name: $n, commands: $c}) { __typename } }`;
  const ping = [{ name: 'ping', params: { type: 'object', properties: {} } }];
  expect((await t.gql(MODEL, { n: 'matrix-model', c: ping })).data).toEqual({ createDeviceModel: { __typename: 'DeviceModel' } });
  expect((await t.gql(MODEL, { n: 'matrix-only-a' })).data).toEqual({ createDeviceModel: { __typename: 'DeviceModel' } });
  expect((await t.gql(MODEL, { n: 'matrix-model' }, adminB)).data).toEqual({ createDeviceModel: { __typename: 'DeviceModel' } });
  expect((await t.gql(MODEL, { n: 'matrix-model-b', c: ping }, adminB)).data).toEqual({ createDeviceModel: { __typename: 'DeviceModel' } });
  const deviceId = uniqueDeviceId('mx');
  const a = await register(deviceId, t.token, 'matrix-model');
  const otherDeviceId = uniqueDeviceId('mxb');
  const b = await register(otherDeviceId, adminB, 'matrix-model-b');
  const sent = await t.gql(`mutation M($d: String!) { sendCommand(input: {deviceId: $d, name: "ping", ttlMs: 86400000}) { ... on Command { commandId } } }`, {
    d: deviceId,
  });
  const commandId = (sent.data as { sendCommand: { commandId: string } }).sendCommand.commandId;
  const fleet = await t.gql(
    `mutation M($d: String!) { sendFleetCommand(input: {deviceIds: [$d], name: "ping", ttlMs: 86400000}) { ... on FleetCommand { fleetCommandId } } }`,
    { d: deviceId },
  );
  const fleetCommandId = (fleet.data as { sendFleetCommand: { fleetCommandId: string } }).sendFleetCommand.fleetCommandId;
  devices.A = { deviceId, password: a.credentials.password };
  devices.B = { deviceId: otherDeviceId, password: b.credentials.password };
  const spare = await t.gql(`mutation { createApiToken(input: {name: "spare", role: VIEWER}) { ... on CreatedApiToken { apiToken { id } } } }`);
  const spareTokenId = (spare.data as { createApiToken: { apiToken: { id: string } } }).createApiToken.apiToken.id;
  // The revoked token was an admin: only its revocation can explain a refusal.
  const victim = await t.gql(`mutation { createApiToken(input: {name: "victim", role: ADMIN}) { ... on CreatedApiToken { token apiToken { id } } } }`);
  const created = (victim.data as { createApiToken: { token: string; apiToken: { id: string } } }).createApiToken;
  revoked = created.token;
  const r = await t.gql(`mutation M($id: ID!) { revokeApiToken(id: $id) { __typename } }`, { id: created.apiToken.id });
  expect(r.data).toEqual({ revokeApiToken: { __typename: 'RevokedApiToken' } });
  const deadLetterId = await insertDeadLetter(deviceId);
  const alarmId = await insertOpenAlarm(deviceId);
  const ruleId = await createRule(t.token);
  const webhookEndpointId = await createWebhookEndpoint();
  const webhookEventId = await insertFailedWebhookEvent(webhookEndpointId);
  const provisioningPolicyId = await createProvisioningPolicy(t.token);
  f = {
    deviceId,
    deviceNodeId: a.device.id,
    modelNodeId: a.device.model!.id,
    spareTokenId,
    adminA: t.token,
    adminB,
    otherDeviceId,
    commandId,
    fleetCommandId,
    deadLetterId,
    alarmId,
    ruleId,
    webhookEndpointId,
    webhookEventId,
    provisioningPolicyId,
  };
});
afterAll(async () => {
  await t?.stop();
});

function expectUnauthenticated(r: Result) {
  expect(r.status).toBe(401);
  expect(r.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
  expect(r.data ?? null).toBeNull();
}

/** No data: the whole result is null, or every root field in it is. */
function expectForbidden(r: Result) {
  expect(r.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  expect(Object.values((r.data ?? {}) as Record<string, unknown>).every((v) => v === null)).toBe(true);
}

/** The state the mutations touch, to prove a refused call changed nothing. */
async function snapshot() {
  const prisma = t.database.prisma;
  return {
    device: await prisma.device.findUnique({
      where: { deviceId: f.deviceId },
      select: { tenantId: true, secretHash: true, twin: { select: { desired: true, version: true } } },
    }),
    tokens: await prisma.apiToken.findMany({ orderBy: { id: 'asc' }, select: { id: true, tenantId: true, revokedAt: true } }),
    devices: await prisma.device.count(),
    webhook: await webhookState(f.webhookEndpointId),
  };
}

describe(`authorization matrix (${modeName})`, () => {
  for (const op of OPERATIONS) {
    describe(`${op.root}.${op.field} (needs ${op.role})`, () => {
      it('no token → 401 UNAUTHENTICATED, nothing changes', async () => {
        const before = await snapshot();
        expectUnauthenticated(await t.gql(op.document, op.variables(f), null));
        expect(await snapshot()).toEqual(before);
      });

      it('revoked token → 401 UNAUTHENTICATED, nothing changes', async () => {
        const before = await snapshot();
        expectUnauthenticated(await t.gql(op.document, op.variables(f), revoked));
        expect(await snapshot()).toEqual(before);
      });

      const lower = ROLES.filter((r) => ROLE_RANK[r] < ROLE_RANK[op.role]);
      for (const role of lower) {
        it(`${role} token → FORBIDDEN, no data, nothing changes`, async () => {
          const before = await snapshot();
          expectForbidden(await t.gql(op.document, op.variables(f), tokens[role]));
          expect(await snapshot()).toEqual(before);
        });
      }

      it(`admin of another tenant → nothing of this tenant's`, async () => {
        const before = await snapshot();
        const r = await t.gql(op.document, op.variables(f), f.adminB);
        expect(r.errors).toBeUndefined();
        await op.otherTenant(r, f);
        const after = await snapshot();
        // Only OTHER's own tokens may have changed (none of these calls creates or revokes one there).
        expect(after).toEqual(before);
      });

      it(`${op.role} token of this tenant → allowed`, async () => {
        // The positive control: the refusals above are about the caller, not a broken document.
        // (Mutations run last in this file's order per operation and target fresh state where it matters.)
        const variables = op.root === 'Mutation' ? await freshVariables(op) : op.variables(f);
        const r = await t.gql(op.document, variables, tokens[op.role]);
        expect(r.errors).toBeUndefined();
        expect(r.status).toBe(200);
      });
    });
  }

  for (const sub of SUBSCRIPTIONS) {
    describe(`Subscription.${sub.field} (needs ${sub.role})`, () => {
      it('no token and revoked token → the socket closes with 4403; over SSE, 401', async () => {
        for (const token of [null, revoked]) {
          expect(await wsCloseCode(token, sub.document)).toBe(4403);
          const sse = await fetch(t.httpUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
            body: JSON.stringify({ query: sub.document }),
          });
          expect(sse.status).toBe(401);
          await sse.body?.cancel();
        }
      });

      it("another tenant never receives this tenant's events", async () => {
        const seen = { A: [] as string[], B: [] as string[] };
        const active = t.running.metrics.get('doppel_graphql_ws_operations_active');
        const subA = subscribe<Record<string, { deviceId: string }>>(t.ws(tokens[sub.role]), sub.document);
        const subB = subscribe<Record<string, { deviceId: string }>>(t.ws(f.adminB), sub.document);
        await t.waitForSubscriptions(active + 2);
        // A's event reaches A's subscriber first: the bus has then offered it to B's subscriber too.
        await sub.trigger('A', f);
        for (;;) {
          const e = await subA.next();
          const id = e.data![sub.field]!.deviceId;
          seen.A.push(id);
          if (id === f.deviceId) break;
        }
        // Then an event of B's own: everything B got up to it must be B's.
        await sub.trigger('B', f);
        for (;;) {
          const e = await subB.next();
          expect(e.errors).toBeUndefined();
          const id = e.data![sub.field]!.deviceId;
          seen.B.push(id);
          if (id === f.otherDeviceId) break;
        }
        expect(seen.B.filter((id) => id !== f.otherDeviceId)).toEqual([]);
        subA.unsubscribe();
        subB.unsubscribe();
      });
    });
  }

  describe('Subscription.fleetCommandProgress (needs viewer; takes the id of one fleet command)', () => {
    it('no token and revoked token → the socket closes with 4403', async () => {
      const doc = `subscription { fleetCommandProgress(id: "${'0'.repeat(8)}-0000-0000-0000-000000000000") { done } }`;
      for (const token of [null, revoked]) expect(await wsCloseCode(token, doc)).toBe(4403);
    });
    it("another tenant gets NOT_FOUND for this tenant's fleet command, its own tenant gets the progress", async () => {
      const doc = `subscription S($id: String!) { fleetCommandProgress(id: $id) { fleetCommandId total } }`;
      const other = subscribe<{ fleetCommandProgress: { fleetCommandId: string; total: number } }>(t.ws(f.adminB), doc, { id: f.fleetCommandId });
      for (let i = 0; i < 100 && !other.error; i++) await new Promise((r) => setTimeout(r, 50));
      expect(other.error?.message).toContain('NOT_FOUND');
      other.unsubscribe();
      const own = subscribe<{ fleetCommandProgress: { fleetCommandId: string; total: number } }>(t.ws(tokens.viewer), doc, { id: f.fleetCommandId });
      expect((await own.next()).data).toEqual({ fleetCommandProgress: { fleetCommandId: f.fleetCommandId, total: 1 } });
      own.unsubscribe();
    });
  });

  it('covers every root field of the schema (add a row to OPERATIONS or SUBSCRIPTIONS for a new one)', () => {
    const schema = buildSchema();
    const inSchema = [schema.getQueryType()!, schema.getMutationType()!, schema.getSubscriptionType()!].flatMap((type) =>
      Object.keys(type.getFields()).map((name) => `${type.name}.${name}`),
    );
    const inMatrix = [
      ...OPERATIONS.map((o) => `${o.root}.${o.field}`),
      ...SUBSCRIPTIONS.map((s) => `Subscription.${s.field}`),
      'Subscription.fleetCommandProgress',
    ];
    expect([...inMatrix].sort()).toEqual([...inSchema].sort());
    // And each row states the role the schema declares.
    for (const o of OPERATIONS) {
      const type = o.root === 'Query' ? schema.getQueryType()! : schema.getMutationType()!;
      const scopes = (type.getFields()[o.field]!.extensions as { pothosOptions?: { authScopes?: unknown } }).pothosOptions?.authScopes;
      expect(scopes, `${o.root}.${o.field}`).toEqual({ [o.role]: true });
    }
  });
});

/**
 * Variables for the positive control of a mutation, on state of its own so the shared fixture stays
 * intact (a deleted device or revoked spare token would change what later rows see).
 */
async function freshVariables(op: Operation): Promise<Record<string, unknown>> {
  switch (op.field) {
    case 'registerDevice':
      return { input: { deviceId: uniqueDeviceId('mxok') } };
    case 'registerDevices':
      return { inputs: [{ deviceId: uniqueDeviceId('mxok') }] };
    case 'deleteDeviceModel': {
      const n = uniqueDeviceId('mxok-model');
      expect((await t.gql(`mutation M($n: String!) { createDeviceModel(input: {name: $n}) { __typename } }`, { n })).data).toEqual({
        createDeviceModel: { __typename: 'DeviceModel' },
      });
      return { n };
    }
    case 'deleteDevice':
    case 'updateDevice':
    case 'revokeDeviceCredentials':
    case 'disableDevice':
    case 'enableDevice':
    case 'rotateDeviceCredentials': {
      const deviceId = uniqueDeviceId('mxok');
      await register(deviceId, t.token);
      return { d: deviceId };
    }
    case 'cancelCommand': {
      const r = await t.gql(`mutation M($d: String!) { sendCommand(input: {deviceId: $d, name: "ping"}) { ... on Command { commandId } } }`, { d: f.deviceId });
      return { c: (r.data as { sendCommand: { commandId: string } }).sendCommand.commandId };
    }
    case 'deleteRule':
    case 'updateRule':
      return { ...op.variables(f), id: await createRule(t.token) };
    case 'acknowledgeAlarm':
    case 'clearAlarm':
    case 'commentAlarm':
      return { a: await insertOpenAlarm(f.deviceId) };
    case 'replayDeadLetter':
    case 'discardDeadLetter':
      return { id: await insertDeadLetter(f.deviceId) };
    case 'updateWebhookEndpoint':
    case 'enableWebhookEndpoint':
    case 'disableWebhookEndpoint':
    case 'deleteWebhookEndpoint':
    case 'rotateWebhookSecret':
    case 'sendTestWebhook':
    case 'redeliverWebhooks':
      return { id: await createWebhookEndpoint() };
    case 'redeliverWebhook':
      return { e: await insertFailedWebhookEvent(await createWebhookEndpoint()) };
    case 'updateProvisioningPolicy':
    case 'deleteProvisioningPolicy':
      return { id: await createProvisioningPolicy(t.token) };
    case 'revokeApiToken': {
      const r = await t.gql(`mutation { createApiToken(input: {name: "throwaway", role: VIEWER}) { ... on CreatedApiToken { apiToken { id } } } }`);
      return { id: (r.data as { createApiToken: { apiToken: { id: string } } }).createApiToken.apiToken.id };
    }
    default:
      return op.variables(f);
  }
}

async function wsCloseCode(token: string | null, query: string): Promise<number> {
  const client = t.ws(token);
  return new Promise<number>((resolve) => {
    client.on('closed', (event) => resolve((event as { code: number }).code));
    client.subscribe({ query }, { next: () => undefined, error: () => undefined, complete: () => undefined });
  });
}
