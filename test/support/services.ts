/**
 * Private instances of the services Doppel depends on — PostgreSQL, Mosquitto, Redis — that a test may
 * stop, kill and restart without disturbing the shared ones other test files use. Each runs from a
 * temporary directory on a free port and is removed by `destroy()`.
 *
 * PostgreSQL is a fresh cluster (initdb) run by the `postgres` system user when the tests run as root,
 * which PostgreSQL requires. Binaries are looked up where Debian installs them.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A service that can be stopped and started again on the same port with the same data. */
export interface ServiceControl {
  readonly port: number;
  readonly url: string;
  start(): Promise<void>;
  /** Graceful stop (SIGTERM / fast shutdown). */
  stop(): Promise<void>;
  /** Abrupt stop (SIGKILL / immediate shutdown): what a crash or a power cut looks like. */
  kill(): Promise<void>;
  /** stop() + start() after `downMs`. */
  restart(downMs?: number): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
  readonly running: boolean;
}

abstract class ChildService implements ServiceControl {
  protected child: ChildProcess | undefined;
  protected readonly log: string[] = [];
  constructor(
    readonly port: number,
    protected readonly dir: string,
  ) {}
  abstract readonly url: string;
  protected abstract spawnChild(): ChildProcess;

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const child = this.spawnChild();
    child.stdout?.on('data', (b: Buffer) => this.log.push(b.toString()));
    child.stderr?.on('data', (b: Buffer) => this.log.push(b.toString()));
    this.child = child;
    try {
      await waitForPort(this.port);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.log.join('')}`);
    }
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.kill(sig);
    await exitOf(child);
  }

  stop(): Promise<void> {
    return this.signal('SIGTERM');
  }

  kill(): Promise<void> {
    return this.signal('SIGKILL');
  }

  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface MosquittoOptions {
  /** Keep sessions and queued messages across restarts (`persistence true`, saved every `autosaveSeconds`). */
  persistence?: boolean;
  /** Default 1: the shortest interval Mosquitto accepts. */
  autosaveSeconds?: number;
  /** Extra lines for mosquitto.conf. */
  extraConfig?: string[];
}

class MosquittoService extends ChildService {
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }
  protected spawnChild(): ChildProcess {
    const bin = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';
    return spawn(bin, ['-c', path.join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
}

/** A private Mosquitto 2 (anonymous, unlimited queues as in CI). Started. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<ServiceControl> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'doppel-mosquitto-'));
  const port = await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    // The default (1000) silently drops QoS 1 messages queued for a slow subscriber.
    'max_queued_messages 0',
    'max_inflight_messages 0',
    'max_packet_size 1048576',
    options.persistence ? 'persistence true' : 'persistence false',
    ...(options.persistence ? [`persistence_location ${dir}/`, `autosave_interval ${options.autosaveSeconds ?? 1}`] : []),
    ...(options.extraConfig ?? []),
  ];
  await writeFile(path.join(dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  // Mosquitto drops root privileges to `mosquitto`: it must be able to write its persistence file.
  await chmod(dir, 0o777);
  const service = new MosquittoService(port, dir);
  await service.start();
  return service;
}

class RedisService extends ChildService {
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  protected spawnChild(): ChildProcess {
    return spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }
}

/** A private Redis without persistence. Started. */
export async function startRedis(): Promise<ServiceControl> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'doppel-redis-'));
  const service = new RedisService(await freePort(), dir);
  await service.start();
  return service;
}

function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const candidate = path.join(root, v, 'bin', name);
    if (existsSync(candidate)) return candidate;
  }
  return name;
}

/** Whether PostgreSQL server binaries are installed (initdb, pg_ctl), so a private cluster can run. */
export function postgresInstalled(): boolean {
  return existsSync(postgresBin('initdb'));
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL binary, as the `postgres` user when we are root (PostgreSQL refuses to run as root). */
async function pgRun(bin: string, args: string[]): Promise<void> {
  const command = postgresBin(bin);
  if (isRoot) await run('runuser', ['-u', 'postgres', '--', command, ...args]);
  else await run(command, args);
}

class PostgresService implements ServiceControl {
  private up = false;
  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}
  get url(): string {
    return `postgres://postgres:postgres@127.0.0.1:${this.port}/postgres`;
  }
  get running(): boolean {
    return this.up;
  }
  private get data(): string {
    return path.join(this.dir, 'data');
  }
  async start(): Promise<void> {
    if (this.up) return;
    await pgRun('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'postgres.log'), '-w', '-t', '60', 'start']);
    this.up = true;
    await waitForPort(this.port);
  }
  private async shutdown(mode: 'fast' | 'immediate'): Promise<void> {
    if (!this.up) return;
    this.up = false;
    await pgRun('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
  }
  stop(): Promise<void> {
    return this.shutdown('fast');
  }
  /** Immediate shutdown: no checkpoint, crash recovery on the next start — PostgreSQL's "power cut". */
  kill(): Promise<void> {
    return this.shutdown('immediate');
  }
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }
  async destroy(): Promise<void> {
    await this.kill().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A fresh private PostgreSQL cluster (user postgres, password postgres, trust on loopback). Started. */
export async function startPostgres(): Promise<ServiceControl> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'doppel-postgres-'));
  await chmod(dir, 0o777);
  const port = await freePort();
  const data = path.join(dir, 'data');
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const conf = [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, 'fsync = off', 'max_connections = 100'];
  await pgRun('sh', ['-c', `printf '%s\\n' ${conf.map((l) => `"${l.replace(/"/g, '\\"')}"`).join(' ')} >> ${data}/postgresql.conf`]);
  const service = new PostgresService(port, dir);
  await service.start();
  return service;
}
