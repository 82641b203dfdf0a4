/**
 * A backtest decides what live evaluation decided on the same data (docs/rules.md "Backtest" and
 * "Time is the readings' time"). A rule is saved through the API; a real mqtt.js device publishes a
 * sequence through the broker, one reading a message: a threshold crossing whose "for" is interrupted,
 * one that holds, hysteresis (a separate clear condition with its own "for", interrupted once, then
 * holding), and a final raise whose "for" completes with no later reading (the sweeper fires it).
 * The live engine's alarms are read back with their history; then `testRule`, for the saved rule by id
 * and for the same input unsaved, over the same range, must list the same raise-to-clear episodes.
 * The same for a reported twin path, whose readings are the changes at their commit times (server
 * time, so its "for" is one that holds: an interruption would race the sweeper on the wall clock).
 *
 * Telemetry readings carry the device's own timestamps, set a little ahead of the server clock, so
 * every reading is judged before the sweeper could fire a deadline on the wall clock: a reading that
 * interrupts a window then always comes first, as its timestamp says (with timestamps in the past,
 * the sweeper may fire a deadline between two messages, which a device clock behind the server's
 * legitimately decides differently; docs/rules.md "Out of order").
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BacktestResult } from '../../src/services/rules/backtest.ts';
import { registerDevice, until, type Creds } from '../support/commands.ts';
import { modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ RULES_SWEEP_INTERVAL_MS: '50' });
}, 120_000);
afterAll(async () => {
  await t?.stop();
});

interface Episode {
  raisedAt: string;
  raisedValue: unknown;
  clearedAt: string | null;
  clearedValue: unknown;
}

interface HistoryEntry {
  cause: string;
  at: string;
  value: unknown;
  from: string | null;
  to: string;
}

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const result = await t.gql<T, unknown>(query, variables);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data!;
}

async function device(prefix: string): Promise<{ creds: Creds; client: MqttClient }> {
  const creds = await registerDevice(t, null, uniqueDeviceId(prefix));
  const client = await t.mqtt({ username: creds.username, password: creds.password, clientId: creds.deviceId });
  return { creds, client };
}

async function createRule(input: Record<string, unknown>): Promise<string> {
  const data = await gql<{ createRule: { __typename: string; ruleId?: string; fieldErrors?: unknown } }>(
    `mutation C($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ruleId } ... on ValidationError { fieldErrors { path code message } } } }`,
    { input },
  );
  if (!data.createRule.ruleId) throw new Error(JSON.stringify(data.createRule));
  return data.createRule.ruleId;
}

/** The live alarm history of (rule, device): the condition edges, oldest first. */
async function liveEdges(ruleId: string, deviceId: string): Promise<HistoryEntry[]> {
  const data = await gql<{ alarms: { edges: Array<{ node: { history: HistoryEntry[] } }> } }>(
    `query A($r: ID!, $d: String!) { alarms(filter: { ruleId: $r, deviceId: $d }, first: 10) { edges { node { history { cause at value from to } } } } }`,
    { r: ruleId, d: deviceId },
  );
  return data.alarms.edges
    .flatMap((e) => e.node.history)
    .filter((h) => h.cause === 'conditionRaised' || h.cause === 'conditionCleared')
    .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** Raise-to-clear episodes from the live history, in the backtest's shape. */
function episodesOf(edges: HistoryEntry[]): Episode[] {
  const episodes: Episode[] = [];
  for (const edge of edges) {
    if (edge.cause === 'conditionRaised') episodes.push({ raisedAt: edge.at, raisedValue: edge.value, clearedAt: null, clearedValue: null });
    else Object.assign(episodes.at(-1)!, { clearedAt: edge.at, clearedValue: edge.value });
  }
  return episodes;
}

const BACKTEST = `query B($ruleId: String, $input: RuleInput, $from: DateTime!, $to: DateTime!, $devices: [String!]) {
  testRule(ruleId: $ruleId, input: $input, from: $from, to: $to, deviceIds: $devices) {
    __typename
    ... on RuleBacktest { devices readings raised cleared openAtEnd truncated alarms { deviceId severity raisedAt raisedValue clearedAt clearedValue } }
    ... on Error { code message }
  }
}`;

/** The service's result as GraphQL serializes it (times as ISO strings). */
type Backtest = Omit<BacktestResult, 'alarms'> & { alarms: Array<Episode & { deviceId: string; severity: string }> };

async function backtest(variables: Record<string, unknown>): Promise<Backtest> {
  const data = await gql<{ testRule: Backtest & { __typename: string } }>(BACKTEST, variables);
  if (data.testRule.__typename !== 'RuleBacktest') throw new Error(JSON.stringify(data.testRule));
  return data.testRule;
}

/** Both backtests (saved rule by id, the same input unsaved) must list the live episodes. */
async function expectBacktestsToMatch(ruleId: string, input: Record<string, unknown>, deviceId: string, from: number, to: number, live: Episode[]) {
  const range = { from: new Date(from).toISOString(), to: new Date(to).toISOString(), devices: [deviceId] };
  const expected = live.map((e) => ({ deviceId, severity: input.severity, ...e }));
  const { name: _name, ...unsaved } = input;
  for (const result of [await backtest({ ruleId, ...range }), await backtest({ input: { ...unsaved, name: 'unsaved twin of the rule' }, ...range })]) {
    expect(result.alarms).toEqual(expected);
    expect(result).toMatchObject({
      devices: 1,
      raised: live.length,
      cleared: live.filter((e) => e.clearedAt !== null).length,
      openAtEnd: live.filter((e) => e.clearedAt === null).length,
      truncated: false,
    });
  }
}

describe(`backtest == live evaluation (${modeName})`, () => {
  it('telemetry: interrupted and holding "for" windows, hysteresis with its own clear "for", a raise the sweeper completes', { timeout: 300_000 }, async () => {
    const { creds, client } = await device('bt-live');
    const input = {
      name: `backtest-live ${creds.deviceId}`,
      scope: { deviceIds: [creds.deviceId] },
      source: { type: 'TELEMETRY', metric: 'temp' },
      raise: { op: 'GT', value: 30, forMs: 3000 },
      clear: { op: 'LT', value: 20, forMs: 2000 },
      severity: 'MAJOR',
    };
    const ruleId = await createRule(input);
    // Seconds after T0 and the value read then.
    const sequence: Array<[number, number]> = [
      [0, 25], // normal
      [1, 35], // raise condition holds: pending until 4
      [2, 36],
      [3, 28], // interrupted before its deadline: normal again (28 is not a clear, nothing was raised)
      [4, 33], // pending until 7
      [5, 34],
      [8, 32], // past the deadline: raised at 7
      [9, 25], // between the conditions: stays raised (hysteresis)
      [10, 18], // clear condition holds: pending clear until 12
      [11, 22], // interrupted: still raised
      [12, 15], // pending clear until 14
      [13, 12],
      [16, 10], // past the deadline: cleared at 14
      [17, 35], // pending until 20; no later reading: the sweeper fires it at 20
      [18, 40],
    ];
    // Ahead of the server clock (well inside TELEMETRY_MAX_FUTURE_SKEW_MS), so no deadline is due on the
    // wall clock before every reading was judged.
    const T0 = Date.now() + 30_000;
    for (const [s, temp] of sequence) {
      await client.publishAsync(`devices/${creds.deviceId}/telemetry`, JSON.stringify({ ts: T0 + s * 1000, values: { temp } }), { qos: 1 });
    }
    let edges: HistoryEntry[] = [];
    await until(async () => (edges = await liveEdges(ruleId, creds.deviceId)).length >= 3, 'the live raise, clear and raise again', 180_000);
    const live = episodesOf(edges);
    // What the sequence says, so the comparison below is between two right answers, not two wrong ones.
    expect(live).toEqual([
      { raisedAt: new Date(T0 + 7000).toISOString(), raisedValue: 34, clearedAt: new Date(T0 + 14_000).toISOString(), clearedValue: 12 },
      { raisedAt: new Date(T0 + 20_000).toISOString(), raisedValue: 40, clearedAt: null, clearedValue: null },
    ]);
    expect(edges.map((e) => [e.cause, e.from, e.to])).toEqual([
      ['conditionRaised', null, 'ACTIVE'],
      ['conditionCleared', 'ACTIVE', 'LATCHED'],
      ['conditionRaised', 'LATCHED', 'ACTIVE'],
    ]);
    await expectBacktestsToMatch(ruleId, input, creds.deviceId, T0 - 1000, T0 + 25_000, live);
    const saved = await backtest({ ruleId, from: new Date(T0 - 1000).toISOString(), to: new Date(T0 + 25_000).toISOString(), devices: [creds.deviceId] });
    expect(saved.readings).toBe(sequence.length);
  });

  it('a reported twin path: the readings are the changes at their commit times', { timeout: 300_000 }, async () => {
    const { creds, client } = await device('bt-twin');
    const input = {
      name: `backtest-live twin ${creds.deviceId}`,
      scope: { deviceIds: [creds.deviceId] },
      source: { type: 'REPORTED', path: ['tank', 'level'] },
      raise: { op: 'GT', value: 30, forMs: 1000 },
      clear: { op: 'LT', value: 20 },
      severity: 'WARNING',
    };
    const answers: string[] = [];
    client.on('message', (topic) => answers.push(topic.slice(topic.lastIndexOf('/') + 1)));
    await client.subscribeAsync(`devices/${creds.deviceId}/twin/reported/+`, { qos: 1 });
    const report = async (state: Record<string, unknown>) => {
      const before = answers.length;
      await client.publishAsync(`devices/${creds.deviceId}/twin/reported`, JSON.stringify({ state }), { qos: 1 });
      await until(() => answers.length > before, 'the answer to a report', 60_000);
      expect(answers.at(-1)).toBe('accepted');
    };
    // A value before the rule exists: the backtest takes it as the value held at `from`.
    await report({ tank: { level: 10 } });
    const ruleId = await createRule(input);
    const from = Date.now();
    await report({ other: 1 }); // does not touch the path
    await report({ tank: { level: 35 } }); // pending for 1 s (of the server's clock: twin readings are commit times)
    // Held on the server's clock: wait until the live engine raised it, then go on.
    let edges: HistoryEntry[] = [];
    await until(async () => (edges = await liveEdges(ruleId, creds.deviceId)).length >= 1, 'the live twin raise', 120_000);
    await report({ tank: { level: 25 } }); // between: stays raised
    await report({ tank: null }); // the path deleted: cannot tell, changes nothing
    await report({ tank: { level: 5 } }); // cleared at once
    await until(async () => (edges = await liveEdges(ruleId, creds.deviceId)).length >= 2, 'the live twin clear', 120_000);
    const to = Date.now() + 1000;
    const live = episodesOf(edges);
    expect(live).toHaveLength(1);
    expect(live[0]).toMatchObject({ raisedValue: 35, clearedValue: 5 });
    await expectBacktestsToMatch(ruleId, input, creds.deviceId, from, to, live);
  });
});
