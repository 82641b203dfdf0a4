/**
 * /metrics as Prometheus scrapes it (src/http/router.ts, src/metrics.ts): METRICS_TOKEN refusal and
 * success, the name and TYPE of every metric family, prom-client's process and event-loop metrics, and
 * histograms observed by real traffic (an mqtt.js device, GraphQL operations over HTTP and graphql-ws).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_AUTH_REFUSED_METRIC } from '../../src/http/router.ts';
import { OPERATION_SECONDS_METRIC, SUBSCRIPTIONS_OPEN_METRIC } from '../../src/http/graphql.ts';
import { commandDevice, createToaster, registerDevice, send, waitForStatus } from '../support/commands.ts';
import { EVALUATION_SECONDS_METRIC } from '../../src/services/rules/engine/index.ts';
import { BATCH_WRITE_METRIC, COMMAND_ROUND_TRIP_METRIC, PUBLISH_TO_STORED_METRIC } from '../../src/services/latency-metrics.ts';
import { embeddedBroker, messageWaiter, modeName, startTestServer, subscribe, type TestServer } from '../support/harness.ts';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ METRICS_TOKEN });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

const scrape = (authorization?: string) => fetch(`${t.running.url}/metrics`, { headers: authorization ? { authorization } : {} });

/** `# TYPE name type` of every family in an exposition. */
function familyTypes(text: string): Record<string, string> {
  const types: Record<string, string> = {};
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types[match[1]!] = match[2]!;
  return types;
}

describe(`/metrics (${modeName})`, () => {
  it('needs the METRICS_TOKEN bearer token: none or a wrong one is 401 and counted, the right one is 200', async () => {
    const before = t.running.metrics.get(METRICS_AUTH_REFUSED_METRIC);
    const missing = await scrape();
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect((await scrape(`Bearer ${METRICS_TOKEN}x`)).status).toBe(401);
    expect((await scrape(`Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}`)).status).toBe(401);
    expect(t.running.metrics.get(METRICS_AUTH_REFUSED_METRIC)).toBe(before + 3);
    const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
  }, 60_000);

  it('counts open subscriptions by transport, graphql-ws and Server-Sent Events, until each one ends', async () => {
    const open = (transport: string) => t.running.metrics.get(SUBSCRIPTIONS_OPEN_METRIC, { transport });
    const [ws0, http0] = [open('ws'), open('http')];
    const client = t.ws();
    const live = subscribe(client, 'subscription { twinChanged { deviceId } }');
    await t.waitForSubscriptions(1);
    await expect.poll(() => open('ws'), { timeout: 30_000 }).toBe(ws0 + 1);
    const abort = new AbortController();
    const sse = await fetch(t.httpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${t.token}` },
      body: JSON.stringify({ query: 'subscription { twinChanged { deviceId } }' }),
      signal: abort.signal,
    });
    expect(sse.status).toBe(200);
    await expect.poll(() => open('http'), { timeout: 30_000 }).toBe(http0 + 1);
    expect(await (await scrape(`Bearer ${METRICS_TOKEN}`)).text()).toMatch(/^doppel_subscriptions_open\{transport="http"\} [1-9]/m);
    // The client leaving ends each stream, whichever transport carried it.
    live.unsubscribe();
    abort.abort();
    await sse.body?.cancel().catch(() => undefined);
    await expect.poll(() => open('ws'), { timeout: 30_000 }).toBe(ws0);
    await expect.poll(() => open('http'), { timeout: 30_000 }).toBe(http0);
    await client.dispose();
  }, 120_000);

  it('observes GraphQL operations by type and the device traffic, and exposes every family with its type', async () => {
    const creds = await registerDevice(t, null);
    const device = await t.mqtt({ username: creds.username, password: creds.password, clientId: `${creds.deviceId}-m` });
    const messages = messageWaiter(device);
    await device.subscribeAsync(`devices/${creds.deviceId}/twin/#`, { qos: 1 });
    await device.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state: { on: true }, clientToken: 'm1' }), { qos: 1 });
    await messages.next(`devices/${creds.deviceId}/twin/reported/accepted`);
    expect((await t.gql(`{ device(deviceId: "${creds.deviceId}") { deviceId } }`)).errors).toBeUndefined();
    expect(t.running.metrics.histogram(OPERATION_SECONDS_METRIC, { operation: 'query' })?.count).toBeGreaterThan(0);
    expect(t.running.metrics.histogram(OPERATION_SECONDS_METRIC, { operation: 'mutation' })?.count).toBeGreaterThan(0);
    // The write paths' latencies, observed by the same traffic: the report above, telemetry, a command.
    expect(t.running.metrics.histogram(PUBLISH_TO_STORED_METRIC, { kind: 'twin' })?.count).toBeGreaterThan(0);
    expect(t.running.metrics.histogram(BATCH_WRITE_METRIC, { kind: 'twin', outcome: 'ok' })?.count).toBeGreaterThan(0);
    await device.publishAsync(`devices/${creds.deviceId}/telemetry`, JSON.stringify({ values: { temp: 21.5 } }), { qos: 1 });
    await expect.poll(() => t.running.metrics.histogram(PUBLISH_TO_STORED_METRIC, { kind: 'telemetry' })?.count ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);
    expect(t.running.metrics.histogram(BATCH_WRITE_METRIC, { kind: 'telemetry', outcome: 'ok' })?.count).toBeGreaterThan(0);
    // The stored batch is evaluated by the rules engine (with or without rules), timed in two stages.
    for (const stage of ['wait', 'run'])
      await expect
        .poll(() => t.running.metrics.histogram(EVALUATION_SECONDS_METRIC, { source: 'telemetry', stage })?.count ?? 0, { timeout: 30_000 })
        .toBeGreaterThan(0);
    const toaster = await registerDevice(t, await createToaster(t));
    const toasterClient = await commandDevice(t, toaster, { autoAck: { status: 'SUCCEEDED', result: { crumbs: 0 } } });
    const sent = await send(t, { deviceId: toaster.deviceId, name: 'toast', params: { power: 5 } });
    await waitForStatus(t, sent.commandId as string, 'SUCCEEDED');
    await toasterClient.client.endAsync();
    const roundTrip = t.running.metrics.histogram(COMMAND_ROUND_TRIP_METRIC, { status: 'SUCCEEDED' });
    expect(roundTrip?.count).toBe(1);
    expect(roundTrip!.sum).toBeGreaterThan(0);

    const text = await (await scrape(`Bearer ${METRICS_TOKEN}`)).text();
    const types = familyTypes(text);
    // prom-client's defaults, on this server's registry.
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(types[name], name).toBe(name.endsWith('_total') ? 'counter' : 'gauge');
    expect(text).toMatch(/^doppel_graphql_operation_seconds_count\{operation="query"\} [1-9]/m);
    expect(text).toMatch(/^doppel_telemetry_points_pending 0$/m);
    expect(text).toMatch(/^doppel_twin_ops_pending 0$/m);
    if (embeddedBroker) expect(text).toMatch(/^doppel_mqtt_connected_clients [1-9]/m);
    // Fleet gauges from the twin store: the device above is registered and online (in every broker mode).
    expect(Number(/^doppel_devices_registered (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
    expect(Number(/^doppel_devices_connected (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    const ours = Object.fromEntries(Object.entries(types).filter(([name]) => name.startsWith('doppel_')));
    // The list is the default mode's (PGlite + Aedes); other modes drop the embedded-only families.
    if (modeName === 'pglite+aedes') expect(ours).toEqual(EXPECTED_FAMILIES);
    else for (const [name, type] of Object.entries(ours)) if (name in EXPECTED_FAMILIES) expect(type, name).toBe(EXPECTED_FAMILIES[name]);
  }, 120_000);
});

/** Every doppel_* family a server exposes in this mode, with its type. */
const EXPECTED_FAMILIES: Record<string, string> = {
  doppel_alarm_transitions_total: 'counter',
  doppel_batch_write_seconds: 'histogram',
  doppel_command_round_trip_seconds: 'histogram',
  doppel_publish_to_stored_seconds: 'histogram',
  doppel_telemetry_points_pending: 'gauge',
  doppel_twin_ops_pending: 'gauge',
  doppel_api_auth_refused_total: 'counter',
  doppel_api_sessions_ended_by_revocation_total: 'counter',
  doppel_broker_auth_requests_total: 'counter',
  doppel_command_acks_ignored_total: 'counter',
  doppel_command_transitions_total: 'counter',
  doppel_commands_total: 'counter',
  doppel_dead_letter_replays_total: 'counter',
  doppel_dead_letters_swept_total: 'counter',
  doppel_dead_letters_total: 'counter',
  doppel_dependency_outages_total: 'counter',
  doppel_dependency_up: 'gauge',
  doppel_device_filter_refused_total: 'counter',
  doppel_embedded_checkpoints_total: 'counter',
  doppel_embedded_maintenance_failures_total: 'counter',
  doppel_embedded_vacuums_total: 'counter',
  doppel_graphql_operation_seconds: 'histogram',
  doppel_graphql_refused_total: 'counter',
  doppel_graphql_ws_operations_active: 'gauge',
  doppel_subscriptions_open: 'gauge',
  doppel_devices_connected: 'gauge',
  doppel_devices_registered: 'gauge',
  doppel_history_retention_batches_total: 'counter',
  doppel_history_retention_deleted_rows_total: 'counter',
  doppel_history_retention_failures_total: 'counter',
  doppel_hook_listener_failures_total: 'counter',
  doppel_metrics_auth_refused_total: 'counter',
  doppel_mqtt_acl_denials_total: 'counter',
  doppel_mqtt_auth_failures_total: 'counter',
  doppel_mqtt_connected_clients: 'gauge',
  doppel_mqtt_certificate_refusals_total: 'counter',
  doppel_mqtt_connects_abandoned_total: 'counter',
  doppel_mqtt_connects_throttled_total: 'counter',
  doppel_mqtt_handler_errors_total: 'counter',
  doppel_mqtt_messages_total: 'counter',
  doppel_mqtt_oversize_total: 'counter',
  doppel_mqtt_protocol_refused_total: 'counter',
  doppel_mqtt_tls_handshake_failures_total: 'counter',
  doppel_mqtt_rejected_total: 'counter',
  doppel_mqtt_ws_connections_total: 'counter',
  doppel_mqtt_ws_refused_total: 'counter',
  doppel_outbox_action_attempts_total: 'counter',
  doppel_outbox_claimed_total: 'counter',
  doppel_outbox_events_delivered_total: 'counter',
  doppel_outbox_events_written_total: 'counter',
  doppel_outbox_oldest_pending_seconds: 'gauge',
  doppel_outbox_pending: 'gauge',
  doppel_outbox_pruned_total: 'counter',
  doppel_outbox_retention_failures_total: 'counter',
  doppel_outbox_round_failures_total: 'counter',
  doppel_outbox_stale_completions_total: 'counter',
  doppel_presence_stale_cleared_total: 'counter',
  doppel_provisioning_attempts_total: 'counter',
  doppel_rule_evaluation_errors_total: 'counter',
  doppel_rule_evaluation_seconds: 'histogram',
  doppel_rule_state_conflicts_total: 'counter',
  doppel_rule_state_flushes_total: 'counter',
  doppel_rule_state_skips_total: 'counter',
  doppel_rule_state_writes_total: 'counter',
  doppel_store_retries_total: 'counter',
  doppel_subscriptions_slow_consumer_total: 'counter',
  doppel_telemetry_backpressure_waits_total: 'counter',
  doppel_telemetry_batches_total: 'counter',
  doppel_telemetry_points_total: 'counter',
  doppel_telemetry_retention_batches_total: 'counter',
  doppel_telemetry_retention_deleted_rows_total: 'counter',
  doppel_telemetry_retention_failures_total: 'counter',
  doppel_telemetry_rollup_hours_settled_total: 'counter',
  doppel_telemetry_rollup_settle_failures_total: 'counter',
  doppel_twin_resume_duplicates_dropped_total: 'counter',
  doppel_twin_resume_replayed_changes_total: 'counter',
  doppel_twin_resumes_total: 'counter',
  doppel_webhook_attempt_seconds: 'histogram',
  doppel_webhook_attempts_total: 'counter',
  doppel_webhook_delivery_seconds: 'histogram',
  doppel_webhook_endpoint_refusals_total: 'counter',
  doppel_webhook_endpoints_disabled_total: 'counter',
  doppel_webhook_events_failed_total: 'counter',
  doppel_webhook_resends_total: 'counter',
  doppel_webhook_secrets_unreadable_total: 'counter',
};
