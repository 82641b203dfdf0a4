/** Runs the real server (`src/main.ts`) as a child process, the way `npm start` does. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', '..');

export interface ServerProcess {
  child: ChildProcess;
  /** Every line it printed (stdout JSON logs and stderr). */
  lines: string[];
  /** The GraphQL URL from its "Doppel is running" log line. */
  graphql: string;
  /** The broker URL devices connect to, from the same line. */
  mqttUrl: string;
  /** http://host:port of the server. */
  url: string;
  exited: Promise<number | null>;
}

/** Starts the server with `env` on top of this process' environment; resolves once it is running. */
export async function spawnServer(env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const running = await new Promise<{ graphql: string; mqtt: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start:\n${lines.join('\n')}`)), timeoutMs);
      let buffer = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let i;
        while ((i = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, i);
          buffer = buffer.slice(i + 1);
          lines.push(line);
          if (line.includes('Doppel is running')) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { graphql: string; mqtt: string });
          }
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${lines.join('\n')}`));
      });
    });
    return { child, lines, graphql: running.graphql, mqttUrl: running.mqtt, url: new URL(running.graphql).origin, exited };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/**
 * Starts the server in embedded mode (PGlite and Aedes) on its own data directory, listening on free
 * ports of 127.0.0.1, with `env` on top; a process started again on the same directory finds what the
 * previous one stored (its admin token is in `<dir>/admin-token`).
 */
export function startOnDataDir(dataDir: string, env: Record<string, string> = {}, timeoutMs = 120_000): Promise<ServerProcess> {
  return spawnServer(
    {
      DOPPEL_DATA_DIR: dataDir,
      PORT: '0',
      MQTT_PORT: '0',
      // Port 0 for the TLS listener too: parallel test processes must not collide on 8883.
      MQTT_TLS_PORT: '0',
      MQTT_TLS_HOST: '127.0.0.1',
      HOST: '127.0.0.1',
      MQTT_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: '',
      MQTT_URL: '',
      ...env,
    },
    timeoutMs,
  );
}

/** POSTs a GraphQL operation to a server process with `token`; its data, or throws with its errors. */
export async function processGql<T>(server: ServerProcess, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(server.graphql, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
