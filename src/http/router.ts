/**
 * The HTTP routes beside GraphQL, in one place: liveness, readiness (the truth about the database and
 * the broker), Prometheus metrics, the broker's authentication callbacks, and the body-size gate in
 * front of GraphQL. Everything else is GraphQL (Yoga), which answers its own 404s.
 */
import type http from 'node:http';
import type { Metrics } from '../metrics.ts';
import { GRAPHQL_PATH } from './graphql.ts';
import type { ReadinessChecks } from './readiness.ts';

export type { ReadinessChecks } from './readiness.ts';

export interface HttpRouterOptions {
  /** Bounded in time (src/http/readiness.ts); also run before each /metrics render so the dependency gauges are current. */
  readiness: () => Promise<ReadinessChecks>;
  metrics: Pick<Metrics, 'render'>;
  /** Answers the broker's auth/ACL callbacks; false when the request is not one of them. */
  brokerAuth: { handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> };
  /** Refuses a request whose declared body is too large before GraphQL reads it. */
  checkBody(req: http.IncomingMessage): { status: number; code: string; message: string } | null;
  graphql(req: http.IncomingMessage, res: http.ServerResponse): unknown;
}

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

export function createHttpRouter(options: HttpRouterOptions): HttpHandler {
  return async (req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (url === '/readyz') {
      const checks = await options.readiness();
      const ready = checks.database && checks.mqtt;
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
    }
    if (url === '/metrics') {
      await options.readiness();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(await options.metrics.render());
      return;
    }
    if (url === '/') {
      res.writeHead(302, { location: GRAPHQL_PATH });
      res.end();
      return;
    }
    if (await options.brokerAuth.handle(req, res)) return;
    const tooLarge = options.checkBody(req);
    if (tooLarge) return sendJson(res, tooLarge.status, { errors: [{ message: tooLarge.message, extensions: { code: tooLarge.code } }] });
    await options.graphql(req, res);
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
