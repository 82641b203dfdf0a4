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
    const graphql = await new Promise<string>((resolve, reject) => {
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
            resolve((JSON.parse(line) as { graphql: string }).graphql);
          }
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}:\n${lines.join('\n')}`));
      });
    });
    return { child, lines, graphql, url: new URL(graphql).origin, exited };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}
