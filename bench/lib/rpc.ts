/**
 * A tiny request/response layer over Node's child-process IPC channel, so the orchestrator can drive
 * the server, the load generator and the raw baseline as separate processes (their CPU and memory are
 * then their own) and still call them like functions.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

type Handler = (params: never) => unknown;
export type Methods = Record<string, Handler>;

interface Request {
  rpc: 'req';
  id: number;
  method: string;
  params: unknown;
}
interface Response {
  rpc: 'res';
  id: number;
  result?: unknown;
  error?: { message: string; stack?: string };
}
interface EventMessage {
  rpc: 'event';
  name: string;
  data: unknown;
}

/** In a child: answers the parent's calls with `methods`. */
export function serveRpc(methods: Methods): void {
  if (!process.send) throw new Error('this module must run as a forked child process (no IPC channel)');
  process.on('message', (raw: unknown) => {
    const msg = raw as Request;
    if (msg?.rpc !== 'req') return;
    const handler = methods[msg.method];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown method ${msg.method}`);
        return handler(msg.params as never);
      })
      .then(
        (result) => send({ rpc: 'res', id: msg.id, result }),
        (err: unknown) => {
          const error = err instanceof Error ? { message: err.message, ...(err.stack ? { stack: err.stack } : {}) } : { message: String(err) };
          send({ rpc: 'res', id: msg.id, error });
        },
      );
  });
  // The parent going away must not leave a load generator or a server behind.
  process.on('disconnect', () => process.exit(0));
  // Say which process died when one does (stderr is shared, so a stack trace alone does not tell).
  process.on('exit', (code) => {
    if (code !== 0) process.stderr.write(`[bench: ${process.argv[1]?.split('/').pop()} pid ${process.pid} exited with code ${code}]\n`);
  });
}

/** In a child: sends an unsolicited event to the parent. */
export function emitEvent(name: string, data: unknown = null): void {
  send({ rpc: 'event', name, data });
}

function send(msg: Response | EventMessage): void {
  process.send?.(msg);
}

export interface RpcChild {
  readonly process: ChildProcess;
  call<R = unknown>(method: string, params?: unknown, timeoutMs?: number): Promise<R>;
  on(event: string, listener: (data: unknown) => void): void;
  /** Resolves with the exit code once the child has exited. */
  readonly exited: Promise<number | null>;
  kill(): void;
}

export interface SpawnOptions {
  /** Extra Node flags (e.g. `--cpu-prof`). `--import tsx` is always added. */
  nodeFlags?: string[];
  /** Pin the child to these CPUs with `taskset -c`. */
  cpus?: string;
  env?: NodeJS.ProcessEnv;
  /** Forward the child's stdout/stderr to ours (default true for stderr, false for stdout). */
  stdout?: boolean;
}

/** Forks `bench/lib/<file>` under tsx and returns an RPC handle to it. */
export function spawnChild(file: string, options: SpawnOptions = {}): RpcChild {
  const script = path.resolve(import.meta.dirname, file);
  const execArgv = ['--import', 'tsx', ...(options.nodeFlags ?? [])];
  const child = options.cpus
    ? // fork() cannot wrap the node binary, so taskset runs node with an explicit IPC fd.
      forkPinned(script, execArgv, options)
    : fork(script, [], { execArgv, env: options.env ?? process.env, stdio: ['ignore', options.stdout ? 'inherit' : 'ignore', 'inherit', 'ipc'] });

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout }>();
  const listeners = new Map<string, Array<(data: unknown) => void>>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then((code) => {
    for (const [, p] of pending) p.reject(new Error(`${file} exited (code ${code}) before answering`));
    pending.clear();
  });

  // Sending to a child that died emits 'error' on it; unhandled, that would take the orchestrator down too.
  child.on('error', () => undefined);
  child.on('message', (raw: unknown) => {
    const msg = raw as Response | EventMessage;
    if (msg?.rpc === 'res') {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (p.timer) clearTimeout(p.timer);
      if (msg.error) {
        const error = new Error(`${file}: ${msg.error.message}`);
        if (msg.error.stack) error.stack = msg.error.stack;
        p.reject(error);
      } else p.resolve(msg.result);
    } else if (msg?.rpc === 'event') {
      for (const l of listeners.get(msg.name) ?? []) l(msg.data);
    }
  });

  return {
    process: child,
    call<R>(method: string, params?: unknown, timeoutMs = 120_000): Promise<R> {
      const id = nextId++;
      return new Promise<R>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${file}: ${method} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        if (!child.connected) {
          clearTimeout(timer);
          reject(new Error(`${file}: ${method} — the process has exited`));
          return;
        }
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
        child.send({ rpc: 'req', id, method, params } satisfies Request, (err) => {
          if (!err) return;
          pending.delete(id);
          clearTimeout(timer);
          reject(new Error(`${file}: ${method} — ${err.message}`));
        });
      });
    },
    on(event, listener) {
      const list = listeners.get(event) ?? [];
      list.push(listener);
      listeners.set(event, list);
    },
    exited,
    kill() {
      if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
    },
  };
}

function forkPinned(script: string, execArgv: string[], options: SpawnOptions): ChildProcess {
  // fork() with `execPath: 'taskset'` would pass taskset the node flags; instead spawn taskset → node
  // with an IPC channel on fd 3, which is what fork() does under the hood.
  return fork(script, [], {
    execPath: 'taskset',
    execArgv: ['-c', options.cpus!, process.execPath, ...execArgv],
    env: options.env ?? process.env,
    stdio: ['ignore', options.stdout ? 'inherit' : 'ignore', 'inherit', 'ipc'],
  });
}
