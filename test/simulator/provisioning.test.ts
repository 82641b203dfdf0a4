/**
 * `npm run simulate -- --provision …`: simulated devices provision themselves (no API token) against a
 * real server, then run as usual. Claim tokens work through every broker (the request names its
 * policy); a group key's first connect needs a broker that asks Doppel (embedded, or HTTP auth).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../../src/simulator/cli.ts';
import { createSimulator, type Simulator } from '../../src/simulator/simulator.ts';
import { embeddedBroker, modeName, startTestServer, uniqueDeviceId, type TestServer } from '../support/harness.ts';

let t: TestServer;
let dir: string;
const running: Simulator[] = [];
beforeAll(async () => {
  t = await startTestServer();
  dir = await mkdtemp(path.join(tmpdir(), 'doppel-sim-prov-'));
}, 120_000);
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await t?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function createPolicy(mode: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await t.gql(
    `mutation C($input: CreateProvisioningPolicyInput!) { createProvisioningPolicy(input: $input) { ... on CreateProvisioningPolicyPayload { claimToken groupKey } } }`,
    { input: { name: uniqueDeviceId('sim-policy'), mode, tags: ['self-provisioned'], ...extra } },
  );
  const p = (r.data as { createProvisioningPolicy: { claimToken: string | null; groupKey: string | null } }).createProvisioningPolicy;
  return (p.claimToken ?? p.groupKey)!;
}

async function runSimulator(secret: string, prefix: string, lines: string[]): Promise<Simulator> {
  const cli = parseCli(['--provision', secret, '--prefix', prefix, '--devices', '2', '--mqtt', t.mqttUrl, '--interval', '200'], {});
  if (cli.kind !== 'run') throw new Error('expected run options');
  const sim = createSimulator(
    { ...cli.options, token: '', credentialsFile: path.join(dir, `${prefix}.json`), connectTimeoutMs: 15_000 },
    { log: (line) => lines.push(line) },
  );
  running.push(sim);
  await sim.start();
  return sim;
}

async function reportedOf(deviceId: string): Promise<Record<string, unknown> | undefined> {
  const device = await t.database.prisma.device.findUnique({ where: { deviceId }, include: { twin: true } });
  return device?.twin?.reported as Record<string, unknown> | undefined;
}

async function waitForReport(deviceId: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const reported = await reportedOf(deviceId);
    if (reported && Object.keys(reported).length > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${deviceId} never reported`);
}

describe(`simulator --provision (${modeName})`, () => {
  it('refuses a --provision value that is neither a claim token nor a group key', () => {
    expect(() => parseCli(['--provision', 'hunter2'], {})).toThrow(UsageError);
  });

  it('claim token: each device asks for its credentials over MQTT, then reports; a second run reuses the saved secrets', async () => {
    const token = await createPolicy('CLAIM_TOKEN');
    const prefix = uniqueDeviceId('simclaim');
    const lines: string[] = [];
    const sim = await runSimulator(token, prefix, lines);
    for (const id of [`${prefix}-1`, `${prefix}-2`]) await waitForReport(id);
    expect(lines.filter((l) => l.includes('provisioned with the claim token'))).toHaveLength(2);
    expect((await t.database.prisma.device.findUniqueOrThrow({ where: { deviceId: `${prefix}-1` } })).tags).toEqual(['self-provisioned']);
    await sim.stop();
    const again: string[] = [];
    await runSimulator(token, prefix, again);
    expect(again.filter((l) => l.includes('using its secret from'))).toHaveLength(2);
  }, 120_000);

  (embeddedBroker ? it : it.skip)(
    'group key: each device derives its key; its first connect registers it',
    async () => {
      const groupKey = await createPolicy('GROUP_KEY');
      const prefix = uniqueDeviceId('simgroup');
      const lines: string[] = [];
      await runSimulator(groupKey, prefix, lines);
      for (const id of [`${prefix}-1`, `${prefix}-2`]) await waitForReport(id);
      expect(lines.filter((l) => l.includes('derived its key from the group key'))).toHaveLength(2);
    },
    120_000,
  );
});
