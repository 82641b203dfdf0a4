/**
 * Command-line options of `npm run simulate`: flags, their environment fallbacks and `--help`.
 * Pure apart from {@link readToken}; main.ts passes `process.argv` and `process.env` in.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isValidDeviceId } from '../domain/ids.ts';
import { provisioningSecretOf } from './provision.ts';
import type { SimulatorOptions } from './simulator.ts';

/**
 * Everything the simulator needs from the command line, validated: the simulator's own options,
 * except that the token may come from a file, plus how long to run.
 */
export interface CliOptions extends Omit<SimulatorOptions, 'token' | 'flap' | 'flapDowntimeMs' | 'connectTimeoutMs' | 'ca'> {
  /** PEM CA file for an `mqtts://` broker (`--ca`, `SIM_CA_FILE`); read by main.ts. */
  caFile?: string;
  /** Admin/operator API token given directly (`--token`, `SIM_TOKEN`); wins over `tokenFile`. */
  token?: string;
  /** File holding the API token; the embedded server writes `<data dir>/admin-token` on first start. */
  tokenFile: string;
  /** Probability per interval that a device drops its connection abruptly (0 = never). */
  flap: number;
  /** Stop after this many seconds; undefined = run until SIGINT/SIGTERM. */
  durationS?: number;
}

export type CliResult = { kind: 'help'; text: string } | { kind: 'run'; options: CliOptions };

/** Bad command-line input; `problems` lists every one of them. */
export class UsageError extends Error {
  constructor(readonly problems: string[]) {
    super(`${problems.join('\n')}\nRun with --help for usage.`);
    this.name = 'UsageError';
  }
}

export function helpText(env: Record<string, string | undefined> = {}): string {
  const data = dataDir(env);
  return `Usage: npm run simulate -- [options]

Simulates thermostats that speak Doppel's MQTT device contract: registers them through GraphQL,
connects each one with its own credentials and a Last Will, reports state, and follows desired state.

Options (environment fallback in brackets):
  --url <url>               GraphQL endpoint [SIM_URL] (default http://127.0.0.1:4000/graphql)
  --token <token>           API token (admin or operator) [SIM_TOKEN]
  --token-file <path>       file holding the API token [SIM_TOKEN_FILE] (default ${data}/admin-token)
  --mqtt <url>              MQTT broker [SIM_MQTT_URL] (default mqtt://127.0.0.1:1883)
  --ca <path>               CA file to trust for an mqtts:// or wss:// broker [SIM_CA_FILE]
                            (Doppel's own: ${data}/tls/ca.pem, e.g. --mqtt mqtts://localhost:8883)
  --devices <n>             number of devices [SIM_DEVICES] (default 3)
  --prefix <name>           device ids are <prefix>-1 … <prefix>-<n> [SIM_PREFIX] (default sim)
  --model <name>            device model to register them with [SIM_MODEL] (default thermostat)
  --interval <ms>           how often each device reports [SIM_INTERVAL_MS] (default 2000)
  --credentials-file <path> where device secrets are kept, mode 0600 [SIM_CREDENTIALS_FILE]
                            (default ${data}/simulator-credentials.json)
  --provision <secret>      provision the devices themselves, no API token needed [SIM_PROVISION]:
                            a claim token (dpc_…, claim-token and allow-list policies) or a group
                            key (dpg_…) of a provisioning policy (docs/onboarding.md)
  --flap <p>                probability per interval that a device drops offline abruptly and
                            comes back a few seconds later, 0–1 [SIM_FLAP] (default 0)
  --duration <s>            stop after this many seconds [SIM_DURATION_S] (default: until Ctrl-C)
  -h, --help                show this help

The default paths follow DOPPEL_DATA_DIR (default ./data), like the server's.
Example:
  npm run simulate -- --devices 2 --interval 1000 --flap 0.05
`;
}

function dataDir(env: Record<string, string | undefined>): string {
  return env.DOPPEL_DATA_DIR || './data';
}

/**
 * Reads the options from `argv` (the arguments after the script name) and `env`. Flags win over
 * environment variables, which win over defaults. Throws {@link UsageError} listing every problem.
 */
export function parseCli(argv: string[], env: Record<string, string | undefined> = {}): CliResult {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        mqtt: { type: 'string' },
        ca: { type: 'string' },
        devices: { type: 'string' },
        prefix: { type: 'string' },
        model: { type: 'string' },
        interval: { type: 'string' },
        'credentials-file': { type: 'string' },
        flap: { type: 'string' },
        provision: { type: 'string' },
        duration: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError([(error as Error).message]);
  }
  const flags = parsed.values;
  if (flags.help) return { kind: 'help', text: helpText(env) };

  const problems: string[] = [];
  const pick = (flag: keyof typeof flags, envName: string): { value: string; from: string } | undefined => {
    const given = flags[flag];
    if (typeof given === 'string') return { value: given, from: `--${flag}` };
    const fromEnv = env[envName];
    return fromEnv !== undefined && fromEnv !== '' ? { value: fromEnv, from: envName } : undefined;
  };
  const number = (
    raw: { value: string; from: string } | undefined,
    fallback: number,
    check: { min: number; max: number; integer?: boolean; unit?: string },
  ): number => {
    if (!raw) return fallback;
    const text = raw.value.trim();
    const value = Number(text);
    if (text === '' || !Number.isFinite(value) || (check.integer && !Number.isInteger(value))) {
      problems.push(`${raw.from}=${JSON.stringify(raw.value)} is not ${check.integer ? 'a whole number' : 'a number'}`);
      return fallback;
    }
    if (value < check.min || value > check.max) {
      problems.push(`${raw.from}=${raw.value} is out of range (${check.min}–${check.max}${check.unit ? ` ${check.unit}` : ''})`);
      return fallback;
    }
    return value;
  };

  const url = pick('url', 'SIM_URL')?.value ?? 'http://127.0.0.1:4000/graphql';
  if (!/^https?:\/\/[^/]/.test(url)) problems.push(`--url must be an http:// or https:// URL (got ${JSON.stringify(url)})`);
  const mqttUrl = pick('mqtt', 'SIM_MQTT_URL')?.value ?? 'mqtt://127.0.0.1:1883';
  if (!/^(mqtts?|wss?|tcp|tls):\/\/[^/]/.test(mqttUrl)) {
    problems.push(`--mqtt must be an mqtt://, mqtts://, ws:// or wss:// URL (got ${JSON.stringify(mqttUrl)})`);
  }

  const caFile = pick('ca', 'SIM_CA_FILE')?.value;
  if (caFile !== undefined && !/^(mqtts|wss|tls):\/\//.test(mqttUrl))
    problems.push(`--ca needs an mqtts:// or wss:// broker URL (got ${JSON.stringify(mqttUrl)})`);

  const devices = number(pick('devices', 'SIM_DEVICES'), 3, { min: 1, max: 10_000, integer: true });
  const prefix = pick('prefix', 'SIM_PREFIX')?.value ?? 'sim';
  // Checking the longest id checks them all: they differ only in the number.
  if (!isValidDeviceId(`${prefix}-${devices}`)) {
    problems.push(`--prefix ${JSON.stringify(prefix)} does not make valid device ids (1–64 characters of A–Z a–z 0–9 . _ -, e.g. ${prefix}-${devices})`);
  }
  const model = pick('model', 'SIM_MODEL')?.value ?? 'thermostat';
  if (model.trim() === '') problems.push('--model must not be empty');
  const intervalMs = number(pick('interval', 'SIM_INTERVAL_MS'), 2000, { min: 50, max: 86_400_000, integer: true, unit: 'ms' });
  const flap = number(pick('flap', 'SIM_FLAP'), 0, { min: 0, max: 1 });
  const durationRaw = pick('duration', 'SIM_DURATION_S');
  const durationS = durationRaw ? number(durationRaw, 0, { min: 0.001, max: 31_536_000, unit: 's' }) : undefined;

  // An explicit --token-file beats a SIM_TOKEN from the environment: the flag is the latest word.
  const tokenFlag = flags.token;
  const tokenFileFlag = flags['token-file'];
  const token = tokenFlag ?? (tokenFileFlag === undefined ? env.SIM_TOKEN || undefined : undefined);
  const tokenFile = tokenFileFlag ?? (env.SIM_TOKEN_FILE || `${dataDir(env)}/admin-token`);
  if (token !== undefined && token.trim() === '') problems.push('--token must not be empty');
  const credentialsFile = pick('credentials-file', 'SIM_CREDENTIALS_FILE')?.value ?? `${dataDir(env)}/simulator-credentials.json`;

  const provisionRaw = pick('provision', 'SIM_PROVISION');
  const provision = provisionRaw ? provisioningSecretOf(provisionRaw.value.trim()) : undefined;
  if (provisionRaw && !provision) problems.push(`${provisionRaw.from} must be a claim token (dpc_…) or a group key (dpg_…)`);

  if (problems.length > 0) throw new UsageError(problems);
  return {
    kind: 'run',
    options: {
      url,
      ...(token !== undefined ? { token: token.trim() } : {}),
      tokenFile,
      mqttUrl,
      ...(caFile !== undefined ? { caFile } : {}),
      devices,
      prefix,
      model,
      intervalMs,
      credentialsFile,
      flap,
      ...(provision ? { provision } : {}),
      ...(durationS !== undefined ? { durationS } : {}),
    },
  };
}

/** The API token: `--token` as given, else the first line of the token file. */
export async function readToken(options: Pick<CliOptions, 'token' | 'tokenFile' | 'provision'>): Promise<string> {
  if (options.token) return options.token;
  // A self-provisioning device never calls the API.
  if (options.provision) return '';
  let text: string;
  try {
    text = await readFile(options.tokenFile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError([
      `cannot read the API token from ${options.tokenFile} (${code}).`,
      'Start the server once (npm start writes an admin token there), or pass --token / --token-file.',
    ]);
  }
  const token = text.split(/\r?\n/)[0]!.trim();
  if (!token) throw new UsageError([`the token file ${options.tokenFile} is empty`]);
  return token;
}

/** The `--ca` file: PEM certificates to trust; unreadable or not a certificate is a usage error. */
export async function readCaFile(caFile: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(caFile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError([`cannot read the CA file ${caFile} (${code}); Doppel writes its own to <data dir>/tls/ca.pem on first start`]);
  }
  try {
    new X509Certificate(text);
  } catch {
    throw new UsageError([`${caFile} is not a PEM certificate`]);
  }
  return text;
}
