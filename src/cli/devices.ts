/**
 * `npm run devices -- import <file.csv|file.jsonl>`: registers a fleet from a file through the GraphQL
 * API (`registerDevices`, in batches of at most 10,000), so it works against any running server, embedded
 * or not, and is authorized and audited like any admin call. The passwords, shown once, go to a new
 * file readable only by its owner (0600), appended after every batch: if a later batch fails, the
 * devices already created still have their credentials on disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseImportFile, type ImportRow } from './import-file.ts';

export const DEVICES_CLI_USAGE = `Usage:
  npm run devices -- import <file.csv|file.jsonl> [--out <credentials.csv>] [--dry-run] [--atomic]
                    [--batch-size <n>] [--url <graphql url>] [--token <token> | --token-file <path>]

import   registers every device of the file (CSV with a header: deviceId,name,tags,model, tags separated
         by ";"; or JSON Lines: {"deviceId":…,"name":…,"tags":[…],"model":…}). A file with any problem
         imports nothing. Passwords are written to --out (default <file>.credentials.csv), a new file
         with mode 0600: "deviceId,username,password" per created device. It is never overwritten.
--dry-run     checks every row on the server (ids already taken included) and writes nothing.
--atomic      all-or-nothing: one call, so at most 10,000 rows; one refused row refuses them all.
--batch-size  rows per call without --atomic (default 1000, at most 10000).
--url         GraphQL endpoint [DOPPEL_URL] (default http://127.0.0.1:4000/graphql)
--token       an admin API token [DOPPEL_TOKEN]; or --token-file (default $DOPPEL_DATA_DIR/admin-token,
              which the embedded server writes on first start).

Exit status: 0 every row created (or valid, with --dry-run); 1 some rows refused (listed on stderr);
2 bad usage or a bad file (nothing imported); 3 the server could not be reached or refused the token.`;

export interface DevicesCliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const MAX_PER_CALL = 10_000;

class UsageError extends Error {}

interface RowAnswer {
  index: number;
  deviceId: string;
  status: 'CREATED' | 'VALID' | 'FAILED';
  username: string | null;
  password: string | null;
  errors: Array<{ code: string; message: string; path: string[] }>;
}

const REGISTER_DEVICES = `mutation ImportDevices($inputs: [RegisterDeviceInput!]!, $dryRun: Boolean, $atomic: Boolean) {
  registerDevices(inputs: $inputs, dryRun: $dryRun, atomic: $atomic) {
    __typename
    ... on RegisterDevicesPayload { created failed results { index deviceId status username password errors { code message path } } }
    ... on Error { code message }
  }
}`;

/** Runs the CLI; resolves with the exit status. */
export async function runDevicesCli(argv: string[], env: Record<string, string | undefined>, io: DevicesCliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseCommand(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(error.message);
    io.err(DEVICES_CLI_USAGE);
    return 2;
  }
  if (parsed === 'help') {
    io.out(DEVICES_CLI_USAGE);
    return 0;
  }
  const { file, out, dryRun, atomic, batchSize, url } = parsed;

  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    io.err(`cannot read ${file}: ${(error as Error).message}`);
    return 2;
  }
  const rows = parseImportFile(file, text);
  if (!rows.ok) {
    for (const p of rows.problems) io.err(`${file}:${p.line}: ${p.message}`);
    io.err('nothing imported');
    return 2;
  }
  if (atomic && rows.rows.length > MAX_PER_CALL) {
    io.err(`--atomic sends one call, which takes at most ${MAX_PER_CALL} rows (the file has ${rows.rows.length}); split the file or drop --atomic`);
    return 2;
  }
  let token: string;
  try {
    token = parsed.token ?? fs.readFileSync(parsed.tokenFile, 'utf8').trim();
  } catch (error) {
    io.err(`no token: pass --token, set DOPPEL_TOKEN, or make ${parsed.tokenFile} readable (${(error as Error).message})`);
    return 2;
  }

  // The credentials file exists before the first call, so a file we could not write never costs a password.
  let credentials: number | undefined;
  if (!dryRun) {
    try {
      credentials = fs.openSync(out, 'wx', 0o600);
      fs.writeSync(credentials, 'deviceId,username,password\n');
    } catch (error) {
      io.err(`cannot create ${out} (${(error as Error).message}); it is never overwritten: choose another --out`);
      return 2;
    }
  }

  const batches = atomic ? [rows.rows] : chunk(rows.rows, batchSize);
  let created = 0;
  let valid = 0;
  let refused = 0;
  try {
    for (const batch of batches) {
      const answer = await call(url, token, batch, dryRun, atomic);
      if (!answer.ok) {
        io.err(answer.message);
        return 3;
      }
      const lines: string[] = [];
      for (const row of answer.rows) {
        const source = batch[row.index]!;
        if (row.status === 'CREATED') {
          created++;
          lines.push(`${csvField(row.deviceId)},${csvField(row.username ?? row.deviceId)},${csvField(row.password ?? '')}\n`);
        } else if (row.status === 'VALID') valid++;
        else {
          refused++;
          for (const e of row.errors) io.err(`${file}:${source.line}: ${row.deviceId}: ${e.code} ${e.message}`);
        }
      }
      if (credentials !== undefined && lines.length > 0) {
        fs.writeSync(credentials, lines.join(''));
        fs.fsyncSync(credentials);
      }
    }
  } finally {
    if (credentials !== undefined) fs.closeSync(credentials);
  }
  if (dryRun) io.out(`dry run: ${valid} valid, ${refused} refused, nothing written`);
  else io.out(`${created} created, ${refused} refused; credentials in ${out}`);
  return refused > 0 ? 1 : 0;
}

function parseCommand(argv: string[], env: Record<string, string | undefined>) {
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          out: { type: 'string' },
          'dry-run': { type: 'boolean', default: false },
          atomic: { type: 'boolean', default: false },
          'batch-size': { type: 'string' },
          url: { type: 'string' },
          token: { type: 'string' },
          'token-file': { type: 'string' },
          help: { type: 'boolean', short: 'h', default: false },
        },
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  })();
  if (values.help) return 'help' as const;
  const [command, file, ...rest] = positionals;
  if (command !== 'import') throw new UsageError(command ? `unknown command ${command}` : 'missing command');
  if (!file) throw new UsageError('import: missing the file to import');
  if (rest.length > 0) throw new UsageError(`unexpected argument(s) ${rest.join(' ')}`);
  const batchSize = values['batch-size'] === undefined ? 1000 : Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_PER_CALL)
    throw new UsageError(`--batch-size must be an integer from 1 to ${MAX_PER_CALL}`);
  const dataDir = env.DOPPEL_DATA_DIR || './data';
  return {
    file,
    out: values.out ?? `${file}.credentials.csv`,
    dryRun: values['dry-run'],
    atomic: values.atomic,
    batchSize,
    url: values.url ?? env.DOPPEL_URL ?? 'http://127.0.0.1:4000/graphql',
    token: values.token ?? env.DOPPEL_TOKEN,
    tokenFile: values['token-file'] ?? path.join(dataDir, 'admin-token'),
  };
}

async function call(
  url: string,
  token: string,
  batch: ImportRow[],
  dryRun: boolean,
  atomic: boolean,
): Promise<{ ok: true; rows: RowAnswer[] } | { ok: false; message: string }> {
  const inputs = batch.map((r) => ({ deviceId: r.deviceId, name: r.name, tags: r.tags, model: r.model }));
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: REGISTER_DEVICES, variables: { inputs, dryRun, atomic } }),
    });
  } catch (error) {
    return { ok: false, message: `cannot reach ${url}: ${(error as Error).message}` };
  }
  const body = (await response.json().catch(() => null)) as {
    data?: { registerDevices?: { __typename: string; results?: RowAnswer[]; code?: string; message?: string } | null };
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  } | null;
  const payload = body?.data?.registerDevices;
  if (!response.ok || !payload) {
    const why = body?.errors?.map((e) => `${e.extensions?.code ?? 'ERROR'} ${e.message}`).join('; ') ?? `HTTP ${response.status}`;
    return { ok: false, message: `the server refused the import: ${why}` };
  }
  if (payload.__typename !== 'RegisterDevicesPayload' || !payload.results)
    return { ok: false, message: `the server refused the import: ${payload.code} ${payload.message}` };
  return { ok: true, rows: payload.results };
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A CSV field, quoted when it must be. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
