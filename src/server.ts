import path from 'node:path';
import { composeApp } from './app/compose.ts';
import { createLifecycle, type Lifecycle } from './app/lifecycle.ts';
import { openResources, type ResourceDeps } from './app/resources.ts';
import type { Config } from './config.ts';
import type { Database } from './db/client.ts';
import { GRAPHQL_PATH } from './http/graphql.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import type { DynsecSync } from './mqtt/dynsec/index.ts';
import type { MqttTransport } from './mqtt/transport.ts';
import { createTracing, type Tracing } from './tracing/index.ts';

/** Parts a caller may supply instead of the ones the config describes (tests, embedding). */
export interface ServerDeps extends ResourceDeps {
  logger?: Logger;
  transport?: MqttTransport;
  /**
   * Tracing to use instead of the one the config describes (tests: `createTracing` with an
   * InMemorySpanExporter). The caller shuts it down; a database the caller supplies is traced only if
   * it was opened with this tracer.
   */
  tracing?: Tracing;
}

export interface RunningServer {
  /** Base URL of the HTTP server, e.g. http://127.0.0.1:4000 */
  url: string;
  httpPort: number;
  /** Port of the embedded MQTT broker, undefined with an external broker. */
  mqttPort: number | undefined;
  /** Port of the embedded broker's TLS listener, undefined without one. */
  mqttTlsPort: number | undefined;
  /** The CA devices must trust (generated under `$DOPPEL_DATA_DIR/tls/` or given), when TLS is on. */
  caPath: string | undefined;
  database: Database;
  metrics: Metrics;
  /** Where the bootstrap admin token was written, when this start created it. */
  adminTokenFile: string | undefined;
  /** The Mosquitto dynamic-security sync, when MQTT_DYNSEC is on (e.g. to reconcile now). */
  dynsec: Pick<DynsecSync, 'reconcile'> | undefined;
}

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '..', 'prisma', 'migrations');

/**
 * Builds a Doppel server from its configuration. Nothing listens or connects until `start()`, which
 * opens the database and the bus (src/app/resources.ts), builds the app (src/app/compose.ts) and
 * starts its components in order; `stop()` stops them in reverse within `config.shutdownTimeoutMs`.
 */
export function createServer(config: Config, deps: ServerDeps = {}) {
  const logger = deps.logger ?? createLogger(config.logLevel, {}, config.logFormat);
  const metrics = new Metrics();
  // Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then the no-op tracer, and nothing is wrapped.
  const tracing = deps.tracing ?? createTracing({ config: config.tracing });
  let running: RunningServer | undefined;
  let lifecycle: Lifecycle | undefined;

  async function start(): Promise<RunningServer> {
    if (running) return running;
    const resources = await openResources(config, deps, {
      logger,
      metrics,
      migrationsDir: MIGRATIONS_DIR,
      tracer: tracing.enabled ? tracing.tracer : undefined,
    });
    let app: ReturnType<typeof composeApp>;
    try {
      app = composeApp(config, resources, { ...deps, tracer: tracing.enabled ? tracing.tracer : undefined }, logger, metrics);
    } catch (error) {
      for (const component of [...resources.components].reverse()) await component.stop?.();
      throw error;
    }
    lifecycle = createLifecycle([...resources.components, ...app.components], logger);
    await lifecycle.start();
    const address = app.address();
    running = {
      url: `${address.httpScheme}://${address.host}:${address.httpPort}`,
      httpPort: address.httpPort,
      mqttPort: address.mqttPort,
      mqttTlsPort: address.mqttTlsPort,
      caPath: address.caPath,
      database: resources.database,
      metrics,
      adminTokenFile: resources.adminTokenFile,
      dynsec: app.dynsec,
    };
    logger.info(
      {
        graphql: `${running.url}${GRAPHQL_PATH}`,
        mqtt: address.mqttUrl,
        ...(address.mqttTlsUrl ? { mqtts: address.mqttTlsUrl, ca: address.caPath, caFingerprint: address.caFingerprint } : {}),
        database: resources.database.kind,
      },
      'Doppel is running',
    );
    return running;
  }

  async function stop(): Promise<void> {
    const stopping = lifecycle?.stop() ?? Promise.resolve();
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs).unref());
    const result = await Promise.race([stopping.then(() => 'done' as const), deadline]);
    if (result === 'timeout') logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; closing anyway');
    // Last: the spans of the shutdown itself are exported too. Tracing a caller supplied is the caller's.
    if (!deps.tracing) await tracing.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'could not export the last spans'));
    running = undefined;
  }

  return { start, stop, logger };
}
