/**
 * The simulator: provisions a fleet of thermostats through GraphQL (registering new ones, reusing or
 * rotating the secrets of existing ones) and runs each as a {@link SimulatedDevice}. A factory with
 * no side effects until `start()`; main.ts wires it to argv and signals, tests call it directly.
 */
import { createApi, type DoppelApi } from './api.ts';
import { openCredentialStore, type CredentialStore, type DeviceCredentials } from './credentials.ts';
import { createSimulatedDevice, type SimulatedDevice } from './device.ts';
import type { Random } from './model.ts';
import { provisionDevice, type ProvisioningSecret } from './provision.ts';

export interface SimulatorOptions {
  /** GraphQL endpoint of the Doppel server. */
  url: string;
  /** API bearer token allowed to register devices and rotate their credentials (unused with `provision`). */
  token: string;
  /**
   * Provision the devices themselves instead of registering them through the API (docs/onboarding.md
   * "Provisioning"): a claim token (claim-token and allow-list policies) or a group key. No API token needed.
   */
  provision?: ProvisioningSecret;
  /** Broker the devices connect to. */
  mqttUrl: string;
  /** PEM CA the devices trust for an `mqtts://` broker (e.g. Doppel's `data/tls/ca.pem`); default: the system's. */
  ca?: string;
  /** Number of devices, named `<prefix>-1` … `<prefix>-<devices>`. */
  devices: number;
  prefix: string;
  /** Device model name to register the devices with. */
  model: string;
  /** How often each device reports, ms. */
  intervalMs: number;
  /** Where device secrets are kept between runs (JSON, mode 0600). */
  credentialsFile: string;
  /** Probability per interval that a device drops offline abruptly. Default 0. */
  flap?: number;
  /** How long a flapped device stays away, ms. Default [2000, 6000]. */
  flapDowntimeMs?: readonly [number, number];
  /** How long `start()` waits for each device's first connection, ms. Default 15000. */
  connectTimeoutMs?: number;
}

export interface SimulatorDeps {
  /** Receives one human-readable line per event. Default: nothing is logged. */
  log?: (line: string) => void;
  random?: Random;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface Simulator {
  /** The devices, once `start()` has provisioned them. */
  readonly devices: readonly SimulatedDevice[];
  /** Registers (or re-keys) the devices, connects them, and resolves when all are online. */
  start(): Promise<void>;
  /** Takes every device offline cleanly. Safe to call at any time, also during `start()`. */
  stop(): Promise<void>;
}

/** How many devices register or connect at the same time: enough to be quick, few enough to be polite. */
const CONCURRENCY = 16;

export function createSimulator(options: SimulatorOptions, deps: SimulatorDeps = {}): Simulator {
  const log = deps.log ?? (() => undefined);
  const ids = Array.from({ length: options.devices }, (_, i) => `${options.prefix}-${i + 1}`);
  const width = Math.max(...ids.map((id) => id.length));
  const labelOf = (id: string) => id.padEnd(width);
  const devices: SimulatedDevice[] = [];
  let stopping = false;
  let started = false;

  /** First boot without an admin: credentials kept from an earlier run, else provisioned over MQTT (or derived). */
  async function selfProvision(how: ProvisioningSecret, store: CredentialStore, deviceId: string): Promise<DeviceCredentials> {
    const label = labelOf(deviceId);
    const stored = store.get(deviceId);
    if (stored) {
      log(`${label} using its secret from ${store.file}`);
      return stored;
    }
    const credentials = await provisionDevice(options.mqttUrl, how, deviceId, options.connectTimeoutMs, options.ca);
    await store.set(deviceId, credentials);
    log(
      how.kind === 'claimToken'
        ? `${label} provisioned with the claim token; secret saved to ${store.file}`
        : `${label} derived its key from the group key; its first connect registers it`,
    );
    return credentials;
  }

  async function provision(api: DoppelApi, store: CredentialStore, deviceId: string, index: number): Promise<DeviceCredentials> {
    if (options.provision) return selfProvision(options.provision, store, deviceId);
    const label = labelOf(deviceId);
    const outcome = await api.registerDevice({
      deviceId,
      name: `Simulated ${options.model} ${index + 1}`,
      tags: [...new Set(['sim', options.prefix])],
      model: options.model,
    });
    if (outcome.kind === 'created') {
      await store.set(deviceId, outcome.credentials);
      log(`${label} registered; secret saved to ${store.file}`);
      return outcome.credentials;
    }
    const stored = store.get(deviceId);
    if (stored) {
      log(`${label} already registered; using its secret from ${store.file}`);
      return stored;
    }
    const fresh = await api.rotateCredentials(deviceId);
    await store.set(deviceId, fresh);
    log(`${label} already registered but its secret is not in ${store.file}; rotated its credentials`);
    return fresh;
  }

  return {
    get devices() {
      return devices;
    },
    async start() {
      if (started) throw new Error('the simulator is already started');
      started = true;
      const api = createApi({ url: options.url, token: options.token, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
      const store = await openCredentialStore(options.credentialsFile);
      log(
        `simulating ${ids.length} ${options.model} device${ids.length === 1 ? '' : 's'} (${ids.length > 2 ? `${ids[0]} … ${ids.at(-1)}` : ids.join(', ')})` +
          (options.provision
            ? ` · provisioning with a ${options.provision.kind === 'claimToken' ? 'claim token' : 'group key'}`
            : ` · GraphQL ${options.url}`) +
          ` · MQTT ${options.mqttUrl} · report every ${options.intervalMs} ms` +
          (options.flap ? ` · flap ${options.flap}` : ''),
      );

      const credentials = await mapLimited(ids, CONCURRENCY, (id, i) => (stopping ? Promise.resolve(undefined) : provision(api, store, id, i)));
      if (stopping) return;
      for (const [i, deviceId] of ids.entries()) {
        devices.push(
          createSimulatedDevice({
            deviceId,
            credentials: credentials[i]!,
            mqttUrl: options.mqttUrl,
            ...(options.ca ? { ca: options.ca } : {}),
            intervalMs: options.intervalMs,
            log,
            label: labelOf(deviceId),
            ...(options.flap !== undefined ? { flap: options.flap } : {}),
            ...(options.flapDowntimeMs ? { flapDowntimeMs: options.flapDowntimeMs } : {}),
            ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
            ...(deps.random ? { random: deps.random } : {}),
            ...(deps.now ? { now: deps.now } : {}),
            renewCredentials: async () => {
              // Refused: a factory reset as the device sees it. Ask again (a ROTATE policy answers), or rotate through the API.
              const fresh = options.provision
                ? await provisionDevice(options.mqttUrl, options.provision, deviceId, options.connectTimeoutMs, options.ca)
                : await api.rotateCredentials(deviceId);
              await store.set(deviceId, fresh);
              return fresh;
            },
          }),
        );
      }
      try {
        await mapLimited(devices, CONCURRENCY, (device) => device.start());
      } catch (error) {
        // A stop() during start() rejects the devices' pending starts: that is not a failure.
        if (stopping) return;
        throw error;
      }
    },
    async stop() {
      stopping = true;
      await Promise.all(devices.map((device) => device.stop()));
    },
  };
}

/** `Promise.all(items.map(fn))` with at most `limit` calls in flight; the first failure rejects. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
