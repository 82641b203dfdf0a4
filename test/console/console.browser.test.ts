/**
 * The console end to end, in a real headless Chromium that can reach only the server (through a TCP
 * proxy the test can cut): enter the token, watch a device come online, change its desired state and
 * see the device converge, see a refused edit explained, lose the WebSocket and recover without a
 * reload, and be sent back to the token page when the token is revoked. Screenshots of each page go to
 * test/artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { Page } from 'playwright-core';
import { graphql } from '../generated/gql.ts';
import { chromiumPath, noBrowserReason, openOfflineBrowser, screenshot, type OfflineBrowser } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/harness.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { Register } from '../support/twin.ts';

const CreateToken = graphql(`
  mutation ConsoleTestCreateToken($input: CreateApiTokenInput!) {
    createApiToken(input: $input) {
      __typename
      ... on CreatedApiToken {
        token
        apiToken {
          id
        }
      }
    }
  }
`);

const RevokeToken = graphql(`
  mutation ConsoleTestRevokeToken($id: ID!) {
    revokeApiToken(id: $id) {
      __typename
    }
  }
`);

const SetDesired = graphql(`
  mutation ConsoleTestSetDesired($deviceId: String!, $patch: JSON!) {
    updateDesired(deviceId: $deviceId, patch: $patch) {
      __typename
    }
  }
`);

/** The JSON document a panel of the page shows. */
async function shownJson(page: Page, testId: string): Promise<unknown> {
  return JSON.parse((await page.getByTestId(testId).textContent()) ?? 'null') as unknown;
}

const suffix = Math.random().toString(36).slice(2, 8);
const thermostat = `console-thermostat-${suffix}`;
const sensor = `console-sensor-${suffix}`;

describe.skipIf(!chromiumPath)(`the console in Chromium (${chromiumPath ?? noBrowserReason})`, () => {
  let server: TestServer;
  let proxy: TcpProxy;
  let browser: OfflineBrowser;
  let origin: string;
  let device: MqttClient;
  let operatorToken: string;
  let operatorTokenId: string;
  const credentials: Record<string, { username: string; password: string }> = {};

  beforeAll(async () => {
    server = await startTestServer();
    const port = Number(new URL(server.httpUrl).port);
    proxy = await startTcpProxy({ host: '127.0.0.1', port });
    origin = `http://localhost:${proxy.port}`;
    for (const [deviceId, tags] of [
      [thermostat, ['floor-2', 'heating']],
      [sensor, ['floor-2']],
    ] as const) {
      const result = await server.gql(Register, { input: { deviceId, tags: [...tags] } });
      const registered = result.data?.registerDevice;
      if (registered?.__typename !== 'DeviceWithCredentials') throw new Error(`register ${deviceId}: ${JSON.stringify(result)}`);
      credentials[deviceId] = registered.credentials;
    }
    const created = await server.gql(CreateToken, { input: { name: 'console test', role: 'OPERATOR' } });
    if (created.data?.createApiToken.__typename !== 'CreatedApiToken') throw new Error(JSON.stringify(created));
    operatorToken = created.data.createApiToken.token;
    operatorTokenId = created.data.createApiToken.apiToken.id;
    browser = await openOfflineBrowser(origin);
  }, 180_000);

  afterAll(async () => {
    await device?.endAsync(true).catch(() => undefined);
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('asks for a token, then shows the fleet; a device coming online turns live', async () => {
    const { page } = browser;
    await page.goto(`${origin}/`);
    await page.getByLabel('API token').fill(operatorToken);
    await page.getByRole('button', { name: 'Open the console' }).click();
    await expect.poll(() => page.getByTestId('total').textContent(), { timeout: 60_000 }).toBe('2');
    await expect.poll(() => page.getByTestId('link-state').textContent(), { timeout: 60_000 }).toBe('live');
    const row = page.locator(`tr[data-device="${thermostat}"]`);
    await expect.poll(() => row.getByTestId('connection').textContent(), { timeout: 60_000 }).toBe('offline');

    // The thermostat connects once the page is open, so "comes online" is seen live. It applies every
    // delta it receives and reports the new state, as firmware would.
    device = await server.mqtt({ ...credentials[thermostat]!, clientId: thermostat, connectTimeout: 30_000 });
    // The contract's presence message: with an external broker it is how Doppel learns the device is online.
    await device.publishAsync(`devices/${thermostat}/status`, 'online', { qos: 1, retain: true });
    await device.subscribeAsync(`devices/${thermostat}/twin/delta`, { qos: 1 });
    device.on('message', (_topic, payload) => {
      const { delta } = JSON.parse(payload.toString()) as { delta: Record<string, unknown> };
      if (Object.keys(delta).length > 0) device.publish(`devices/${thermostat}/twin/reported`, JSON.stringify({ state: delta }), { qos: 1 });
    });
    await expect.poll(() => row.getByTestId('connection').textContent(), { timeout: 60_000 }).toBe('online');
    await expect.poll(() => page.getByTestId('connected-count').textContent(), { timeout: 60_000 }).toBe('1');
    await screenshot(page, 'console-fleet');

    // The tag filter narrows the list through fleet search.
    await page.getByLabel('Tag').fill('heating');
    await page.getByLabel('Tag').press('Enter');
    await page.getByLabel('Tag').blur();
    await expect.poll(() => page.getByTestId('total').textContent(), { timeout: 60_000 }).toBe('1');
    await page.getByLabel('Tag').fill('');
    await page.getByLabel('Tag').blur();
    await expect.poll(() => page.getByTestId('total').textContent(), { timeout: 60_000 }).toBe('2');
  }, 240_000);

  it('changes the desired state and shows the device converge; bad JSON is explained, not sent', async () => {
    const { page } = browser;
    await page.locator(`tr[data-device="${thermostat}"] a`).click();
    await expect.poll(() => page.getByTestId('device-connection').textContent(), { timeout: 60_000 }).toBe('online');
    await page.getByRole('button', { name: 'Edit desired state' }).click();
    await page.locator('textarea[name="desired"]').fill('{ "targetTemperature": ');
    await page.getByRole('button', { name: /^Save/ }).click();
    await expect.poll(() => page.getByTestId('desired-error').textContent(), { timeout: 30_000 }).toContain('not valid JSON');

    await page.locator('textarea[name="desired"]').fill('{ "targetTemperature": 24 }');
    await page.getByRole('button', { name: /^Save/ }).click();
    await expect.poll(() => shownJson(page, 'desired'), { timeout: 60_000 }).toEqual({ targetTemperature: 24 });
    // The device applied the delta and reported it: reported holds it, the delta is empty again.
    await expect.poll(() => shownJson(page, 'reported'), { timeout: 60_000 }).toEqual({ targetTemperature: 24 });
    await expect.poll(() => shownJson(page, 'delta'), { timeout: 60_000 }).toEqual({});
    await screenshot(page, 'console-device');
  }, 240_000);

  it('recovers from a dropped WebSocket without a reload and misses nothing from the gap', async () => {
    const { page } = browser;
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await proxy.pause();
    await expect.poll(() => page.getByTestId('link-state').textContent(), { timeout: 60_000 }).not.toBe('live');
    // A change while the console is cut off: it must show once the link is back.
    const changed = await server.gql(SetDesired, { deviceId: thermostat, patch: { mode: 'eco' } });
    expect(changed.data?.updateDesired.__typename).toBe('UpdateDesiredPayload');
    await proxy.resume();
    await expect.poll(() => page.getByTestId('link-state').textContent(), { timeout: 90_000 }).toBe('live');
    await expect.poll(() => shownJson(page, 'desired'), { timeout: 90_000 }).toEqual({ targetTemperature: 24, mode: 'eco' });
    // Same page, not reloaded.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  }, 240_000);

  it('goes back to the token page, saying why, when its token is revoked', async () => {
    const { page } = browser;
    const revoked = await server.gql(RevokeToken, { id: operatorTokenId });
    expect(revoked.errors).toBeUndefined();
    await expect.poll(() => page.getByRole('alert').first().textContent(), { timeout: 90_000 }).toMatch(/revoked|expired|refused/i);
    await expect.poll(() => page.getByLabel('API token').isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('doppel.console.token'))).toBeNull();
    await screenshot(page, 'console-token');
    expect(browser.offOrigin).toEqual([]);
  }, 240_000);
});
