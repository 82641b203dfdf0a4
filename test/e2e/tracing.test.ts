/**
 * Tracing end to end (docs/operations.md, "Tracing"), with an InMemorySpanExporter handed to the server
 * as a dependency: a sendCommand mutation over HTTP and an mqtt.js device acking it give a span for the
 * mutation, spans for its statements (children, no values), and an ack-batch span linked to the
 * mutation's span through the traceparent stored with the command. Device reports and telemetry give
 * one span per batch with device and item counts. Runs embedded and against PostgreSQL + Mosquitto.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR_DB_OPERATION_NAME, ATTR_DB_SYSTEM_NAME } from '@opentelemetry/semantic-conventions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR_GRAPHQL_OPERATION_NAME, ATTR_GRAPHQL_OPERATION_TYPE } from '../../src/http/tracing-plugin.ts';
import { ACK_BATCH_SPAN, ACK_LINK_COMMAND_ATTRIBUTE } from '../../src/services/commands/acks.ts';
import { TELEMETRY_BATCH_SPAN } from '../../src/services/telemetry/index.ts';
import { TWIN_BATCH_SPAN } from '../../src/services/twins/index.ts';
import { BATCH_DEVICES_ATTRIBUTE, BATCH_ITEMS_ATTRIBUTE, createTracing, formatTraceparent, type Tracing } from '../../src/tracing/index.ts';
import { modeName, startTestServer, type TestServer } from '../support/harness.ts';
import { commandDevice, createToaster, registerDevice, SEND, until, waitForStatus } from '../support/commands.ts';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let t: TestServer;

beforeAll(async () => {
  tracing = createTracing({ config: undefined, exporter });
  t = await startTestServer({ COMMAND_SWEEP_INTERVAL_MS: '50' }, { tracing });
}, 120_000);
afterAll(async () => {
  await t?.stop();
  await tracing?.shutdown();
});

const spans = () => exporter.getFinishedSpans();
const named = (name: string) => spans().filter((s) => s.name === name);
const childrenOf = (parent: ReadableSpan) => spans().filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);

describe(`tracing (${modeName})`, () => {
  it('follows sendCommand from the mutation through its statements to the device ack', async () => {
    const dev = await registerDevice(t, await createToaster(t));
    const device = await commandDevice(t, dev, { autoAck: { status: 'SUCCEEDED', result: { crumbs: 1 } } });
    await until(
      async () =>
        (await t.gql<{ device: { connected: boolean } }, unknown>(`query($d: String!) { device(deviceId: $d) { connected } }`, { d: dev.deviceId })).data!
          .device.connected,
      'connected',
    );
    exporter.reset();

    const sent = await t.gql<{ sendCommand: { commandId: string } }, unknown>(SEND, {
      input: { deviceId: dev.deviceId, name: 'toast', params: { power: 40, mode: 'bagel' } },
    });
    const commandId = sent.data!.sendCommand.commandId;
    await waitForStatus(t, commandId, 'SUCCEEDED');
    await device.client.endAsync();

    const [mutation] = named('mutation Send');
    expect(
      mutation,
      `spans: ${spans()
        .map((s) => s.name)
        .join(', ')}`,
    ).toBeDefined();
    expect(mutation!.attributes).toMatchObject({ [ATTR_GRAPHQL_OPERATION_TYPE]: 'mutation', [ATTR_GRAPHQL_OPERATION_NAME]: 'Send' });
    expect(mutation!.status.code).not.toBe(SpanStatusCode.ERROR);

    // Its statements are its children, each with the database system and operation, never a value.
    const statements = childrenOf(mutation!);
    expect(statements.map((s) => s.attributes[ATTR_DB_OPERATION_NAME])).toEqual(expect.arrayContaining(['SELECT', 'WITH']));
    for (const statement of statements) {
      expect(statement.attributes[ATTR_DB_SYSTEM_NAME]).toBe('postgresql');
      expect(statement.spanContext().traceId).toBe(mutation!.spanContext().traceId);
      expect(JSON.stringify(statement.attributes)).not.toMatch(/bagel|40/);
    }

    // The command remembers the mutation's span: the ack, whichever instance takes it, links to it.
    const [stored] = await t.database.sql.query<{ traceparent: string }>(`SELECT traceparent FROM "Command" WHERE id = $1`, [commandId]);
    expect(stored!.traceparent).toBe(formatTraceparent(mutation!.spanContext()));
    await until(() => named(ACK_BATCH_SPAN).some((s) => s.links.length > 0), 'the ack batch span');
    const ack = named(ACK_BATCH_SPAN).find((s) => s.links.length > 0)!;
    expect(ack.links).toEqual([
      expect.objectContaining({
        context: expect.objectContaining({ traceId: mutation!.spanContext().traceId, spanId: mutation!.spanContext().spanId }),
        attributes: { [ACK_LINK_COMMAND_ATTRIBUTE]: commandId },
      }),
    ]);
    expect(ack.attributes).toMatchObject({ [BATCH_DEVICES_ATTRIBUTE]: 1, [BATCH_ITEMS_ATTRIBUTE]: 1 });
    // The ack's own statements (load, guarded update) are its children.
    expect(childrenOf(ack).map((s) => s.attributes[ATTR_DB_OPERATION_NAME])).toEqual(expect.arrayContaining(['SELECT']));
  });

  it('makes one span per twin and telemetry batch, counting devices and items', async () => {
    const dev = await registerDevice(t, null);
    const device = await t.mqtt({ username: dev.username, password: dev.password, clientId: `${dev.deviceId}-tr` });
    exporter.reset();
    await device.publishAsync(`devices/${dev.deviceId}/telemetry`, JSON.stringify({ values: { temp: 21.5, hum: 40 } }), { qos: 1 });
    await device.publishAsync(`devices/${dev.deviceId}/twin/reported`, JSON.stringify({ state: { mode: 'heat' } }), { qos: 1 });
    await until(() => named(TELEMETRY_BATCH_SPAN).length > 0 && named(TWIN_BATCH_SPAN).length > 0, 'batch spans');
    await device.endAsync();

    const telemetry = named(TELEMETRY_BATCH_SPAN).find((s) => s.attributes[BATCH_ITEMS_ATTRIBUTE] === 2);
    expect(telemetry?.attributes).toMatchObject({ [BATCH_DEVICES_ATTRIBUTE]: 1, [BATCH_ITEMS_ATTRIBUTE]: 2 });
    expect(telemetry!.parentSpanContext).toBeUndefined();
    expect(childrenOf(telemetry!).length).toBeGreaterThan(0);
    const twin = named(TWIN_BATCH_SPAN)[0]!;
    expect(twin.attributes).toMatchObject({ [BATCH_DEVICES_ATTRIBUTE]: 1, [BATCH_ITEMS_ATTRIBUTE]: 1 });
    expect(childrenOf(twin).length).toBeGreaterThan(0);
  });

  it('records the errors of an operation on its span', async () => {
    const viewer = await t.createToken('viewer');
    exporter.reset();
    const refused = await t.gql(`mutation Forbidden { createApiToken(input: { name: "x", role: ADMIN }) { __typename } }`, {}, viewer);
    expect(refused.errors?.length, JSON.stringify(refused)).toBeGreaterThan(0);
    expect(
      spans().map((s) => s.name),
      JSON.stringify(refused),
    ).toContain('mutation Forbidden');
    const [span] = named('mutation Forbidden');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.events.map((e) => e.name)).toContain('exception');
    expect(span!.attributes['error.type']).toBe(refused.errors![0]!.extensions?.code);
  });
});
