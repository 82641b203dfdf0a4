/**
 * The HTTP routes beside GraphQL, in one place: liveness, readiness (the truth about the database and
 * the broker), Prometheus metrics, the broker's authentication callbacks, and the body-size gate in
 * front of GraphQL. Everything else is GraphQL (Yoga), which answers its own 404s.
 */
import type http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metrics } from '../metrics.ts';
import { GRAPHQL_PATH } from './graphql.ts';
import type { ReadinessChecks } from './readiness.ts';

export type { ReadinessChecks } from './readiness.ts';

export interface HttpRouterOptions {
  /** Bounded in time (src/http/readiness.ts); also run before each /metrics render so the dependency gauges are current. */
  readiness: () => Promise<ReadinessChecks>;
  metrics: Pick<Metrics, 'render' | 'inc' | 'describe'>;
  /** METRICS_TOKEN: when set, /metrics needs `Authorization: Bearer <token>` (401 otherwise, counted). */
  metricsToken?: string | undefined;
  /** Answers the broker's auth/ACL callbacks; false when the request is not one of them. */
  brokerAuth: { handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> };
  /** Refuses a request whose declared body is too large before GraphQL reads it. */
  checkBody(req: http.IncomingMessage): { status: number; code: string; message: string } | null;
  graphql(req: http.IncomingMessage, res: http.ServerResponse): unknown;
  /** The web console's routes (`/`, /console/…); without it `/` redirects to GraphQL. */
  console?: { handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> };
}

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;

/** /metrics requests refused for a missing or wrong METRICS_TOKEN. */
export const METRICS_AUTH_REFUSED_METRIC = 'doppel_metrics_auth_refused_total';

export function createHttpRouter(options: HttpRouterOptions): HttpHandler {
  options.metrics.describe(METRICS_AUTH_REFUSED_METRIC, '/metrics requests refused (401) for a missing or wrong METRICS_TOKEN.');
  const metricsAuthorized = options.metricsToken ? bearerCheck(options.metricsToken) : () => true;
  return async (req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (url === '/readyz') {
      const checks = await options.readiness();
      const ready = checks.database && checks.mqtt;
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
    }
    if (url === '/metrics') {
      if (!metricsAuthorized(req.headers.authorization)) {
        options.metrics.inc(METRICS_AUTH_REFUSED_METRIC);
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' });
        res.end('/metrics needs Authorization: Bearer <METRICS_TOKEN>\n');
        return;
      }
      await options.readiness();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(await options.metrics.render());
      return;
    }
    if (options.console && (await options.console.handle(req, res))) return;
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

/**
 * A constant-time comparison of the presented bearer token with `token`: both are hashed first, so
 * neither the content nor the length of the expected token leaks through timing.
 */
function bearerCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (authorization) => {
    const presented = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1] ?? '';
    return timingSafeEqual(createHash('sha256').update(presented).digest(), expected);
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
