import type { IncomingMessage } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import {
  createGraphQLError,
  createYoga,
  type GraphiQLOptions,
  isAsyncIterable,
  maskError,
  type MaskError,
  type Plugin,
  type YogaServerInstance,
} from 'graphql-yoga';
import type { Tracer } from '@opentelemetry/api';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ExecutionArgs, ExecutionResult, GraphQLError, GraphQLSchema, parse as graphqlParse, validate as graphqlValidate } from 'graphql';
import { Kind } from 'graphql';
import { authenticate, unauthenticated, type TokenResolver } from '../auth/authenticate.ts';
import type { TokenWatch } from '../auth/token-watch.ts';
import { DoppelError } from '../domain/errors.ts';
import { isDiskFull, isTransientFailure } from '../domain/faults.ts';
import type { Principal } from '../domain/principal.ts';
import type { GraphQLContext } from '../context.ts';
import type { Metrics } from '../metrics.ts';
import { buildSchema } from '../schema/index.ts';
import type { Edge, Transport } from './edge.ts';
import { tracingPlugin } from './tracing-plugin.ts';
import { upgradeRoutes } from './upgrade.ts';
import { coalesceFrames } from './ws-frames.ts';

export const GRAPHQL_PATH = '/graphql';

/**
 * Yoga's error masking, but a resolver that failed because the database is unavailable for now
 * (src/domain/faults.ts: unreachable, restarting, overloaded) answers a typed `UNAVAILABLE` error with
 * HTTP 503 — "try again shortly" — instead of the masked "Unexpected error.". Every other unexpected
 * error stays masked.
 */
const UNAVAILABLE_MESSAGE = 'the database is unavailable; try again shortly';
const DISK_FULL_MESSAGE = "the database's disk is full; try again once space is freed";

export const maskUnavailable: MaskError = (error, message, isDev) => {
  const original = error instanceof Error && 'originalError' in error ? (error as { originalError?: unknown }).originalError : undefined;
  if (isTransientFailure(error) || (original !== undefined && isTransientFailure(original))) {
    const diskFull = isDiskFull(error) || (original !== undefined && isDiskFull(original));
    return createGraphQLError(diskFull ? DISK_FULL_MESSAGE : UNAVAILABLE_MESSAGE, { extensions: { code: 'UNAVAILABLE', http: { status: 503 } } });
  }
  return maskError(error, message, isDev);
};

/** What the context factory needs besides the caller: the shared services. */
export type ContextServices = Omit<GraphQLContext, 'principal'>;

interface InitialContext {
  request: Request;
  /** Set for WebSocket operations: the principal resolved once in `onConnect`. */
  wsPrincipal?: Principal;
  /** Unset over HTTP; 'ws' for graphql-ws operations (the edge labels its refusals with it). */
  transport?: Transport;
}

/** GraphiQL's page itself is public (it holds no data); every GraphQL operation needs a token. */
function isGraphiQLPage(request: Request): boolean {
  return request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html');
}

/** Yoga over HTTP (queries, mutations, SSE subscriptions) with one context factory for every transport. */
/** Refused API calls by code (UNAUTHENTICATED: no or bad token; FORBIDDEN: role too low or another tenant's object). */
export const AUTH_REFUSED_METRIC = 'doppel_api_auth_refused_total';
/** Subscriptions and graphql-ws connections ended because their token was revoked or expired. */
export const REVOKED_SESSIONS_METRIC = 'doppel_api_sessions_ended_by_revocation_total';

/** Yoga calls the renderer per request; its options are fixed at start, so the 9 MB page is built once. */
function renderGraphiQLOnce(): (options: GraphiQLOptions) => string {
  let page: { key: string; html: string } | undefined;
  return (graphiqlOptions) => {
    const key = JSON.stringify(graphiqlOptions);
    if (page?.key !== key) page = { key, html: renderGraphiQL(graphiqlOptions) };
    return page.html;
  };
}

export function createGraphQL(
  services: ContextServices,
  options: {
    graphiql: boolean;
    edge: Edge;
    tokenWatch: TokenWatch;
    metrics: Metrics;
    resolveToken: TokenResolver;
    /** Spans for GraphQL operations (src/http/tracing-plugin.ts), when tracing is on. */
    tracer?: Tracer | undefined;
  },
) {
  const { edge, metrics } = options;
  metrics.describe(AUTH_REFUSED_METRIC, 'API calls refused: no or bad token (UNAUTHENTICATED), role too low or another tenant (FORBIDDEN).');
  metrics.describe(REVOKED_SESSIONS_METRIC, 'Subscriptions and graphql-ws connections ended because their API token was revoked or expired.');
  // Resolved before Yoga parses anything, so an unauthenticated request costs one hash lookup. Verified
  // tokens come from memory (src/auth/token-cache.ts): no database round trip per request.
  const principals = new WeakMap<Request, Principal>();
  const yoga: YogaServerInstance<InitialContext, GraphQLContext> = createYoga<InitialContext, GraphQLContext>({
    schema: buildSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    maskedErrors: { maskError: maskUnavailable },
    landingPage: false,
    maxRequestBodySize: edge.maxBodyBytes,
    // Parse errors are not cached, so every refusal by the token limit is counted (src/http/edge.ts).
    parserAndValidationCache: { errorCache: { get: () => undefined, set: () => undefined } },
    logging: {
      debug: (...args) => services.logger.debug({ args }, 'yoga'),
      info: (...args) => services.logger.info({ args }, 'yoga'),
      warn: (...args) => services.logger.warn({ args }, 'yoga'),
      error: (...args) => services.logger.error({ args }, 'yoga'),
    },
    // GraphiQL's code and styles come from the server (the page inlines them, ≈ 9 MB), never a CDN: the
    // IDE must work on a site with no internet. The page is the same for every request: rendered once.
    renderGraphiQL: renderGraphiQLOnce(),
    graphiql: options.graphiql
      ? {
          title: 'Doppel',
          headers: JSON.stringify({ Authorization: 'Bearer <paste the token from data/admin-token>' }, null, 2),
        }
      : false,
    plugins: [
      operationDurationPlugin(metrics),
      openSubscriptionsPlugin(metrics),
      authorizationPlugin(options.tokenWatch, metrics),
      {
        // eslint-disable-next-line @typescript-eslint/unbound-method -- Yoga's endResponse is a closure, made to be destructured.
        async onRequest({ request, url, endResponse, fetchAPI }) {
          if (url.pathname !== GRAPHQL_PATH || (options.graphiql && isGraphiQLPage(request))) return;
          let principal: Principal | null | undefined;
          try {
            principal = await authenticate(options.resolveToken, { authorization: request.headers.get('authorization') });
          } catch (error) {
            // The token lookup is the first database read: during an outage it must answer UNAVAILABLE
            // like a resolver would, not leak the driver's error as a 500.
            if (!isTransientFailure(error)) throw error;
            endResponse(
              new fetchAPI.Response(
                JSON.stringify({ errors: [{ message: isDiskFull(error) ? DISK_FULL_MESSAGE : UNAVAILABLE_MESSAGE, extensions: { code: 'UNAVAILABLE' } }] }),
                {
                  status: 503,
                  headers: { 'content-type': 'application/json', 'retry-after': '1' },
                },
              ),
            );
            return;
          }
          if (principal) {
            principals.set(request, principal);
            const limited = edge.rateLimit(principal, 'http');
            if (limited) {
              endResponse(
                new fetchAPI.Response(JSON.stringify({ errors: [{ message: limited.error.message, extensions: { code: 'RATE_LIMITED' } }] }), {
                  status: 429,
                  headers: { 'content-type': 'application/json', 'retry-after': String(limited.retryAfterSeconds) },
                }),
              );
            }
            return;
          }
          const error = unauthenticated();
          metrics.inc(AUTH_REFUSED_METRIC, { code: 'UNAUTHENTICATED', transport: 'http' });
          endResponse(
            new fetchAPI.Response(JSON.stringify({ errors: [{ message: error.message, extensions: { code: 'UNAUTHENTICATED' } }] }), {
              status: 401,
              headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
            }),
          );
        },
      },
      edge.plugin,
      ...(options.tracer ? [tracingPlugin(options.tracer)] : []),
    ],
    context: ({ request, wsPrincipal }): GraphQLContext => {
      const principal = wsPrincipal ?? principals.get(request);
      if (!principal) throw unauthenticated();
      return { ...services, principal };
    },
  });
  return yoga;
}

/**
 * graphql-ws on the same HTTP server and path. The token comes in `connection_init`
 * (`{"authorization": "Bearer …"}`); a missing or bad one closes the socket with 4403. Operations go
 * through Yoga's envelop, so plugins and the context factory are the same as over HTTP.
 */
export const WS_ACTIVE_METRIC = 'doppel_graphql_ws_operations_active';

/** Close code of a graphql-ws connection whose token was revoked or expired (the same as a refused token). */
export const WS_TOKEN_REVOKED_CLOSE = 4403;

export function attachWebSocket(
  httpServer: HttpServer,
  yoga: ReturnType<typeof createGraphQL>,
  services: ContextServices,
  metrics: Metrics,
  edge: Edge,
  tokenWatch: TokenWatch,
  resolveToken: TokenResolver,
) {
  metrics.describe(WS_ACTIVE_METRIC, 'GraphQL operations running over WebSocket (mostly subscriptions).', 'gauge');
  // noServer + the server's upgrade routes: /mqtt shares the server (src/http/upgrade.ts says why).
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: edge.maxBodyBytes });
  upgradeRoutes(httpServer).add(GRAPHQL_PATH, (request, socket, head) =>
    wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request)),
  );
  wsServer.on('connection', (socket, request) => coalesceFrames(socket, request.socket));
  const disposable = useServer<Record<string, unknown>, { request: IncomingMessage; socket: WebSocket; principal?: Principal; unwatch?: () => void }>(
    {
      onConnect: async (ctx) => {
        const authorization = ctx.extra.request.headers.authorization;
        const principal = await authenticate(resolveToken, { connectionParams: ctx.connectionParams, authorization });
        if (!principal) {
          metrics.inc(AUTH_REFUSED_METRIC, { code: 'UNAUTHENTICATED', transport: 'ws' });
          return false;
        }
        ctx.extra.principal = principal;
        // The whole connection was authorized by this token, so it ends with it (its operations complete).
        ctx.extra.unwatch = tokenWatch.watch(principal, () => {
          metrics.inc(REVOKED_SESSIONS_METRIC, { kind: 'ws_connection' });
          ctx.extra.socket.close(WS_TOKEN_REVOKED_CLOSE, 'API token revoked or expired');
        });
        return true;
      },
      onClose: (ctx) => ctx.extra.unwatch?.(),
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      // Counted once the operation is executing, i.e. the subscription is listening for events.
      onOperation: () => metrics.inc(WS_ACTIVE_METRIC),
      onComplete: () => metrics.inc(WS_ACTIVE_METRIC, {}, -1),
      onSubscribe: async (ctx, _id, payload) => {
        // Every operation on the socket spends from the token's bucket, like an HTTP request.
        const limited = ctx.extra.principal ? edge.rateLimit(ctx.extra.principal, 'ws') : null;
        if (limited) return withoutHttp([limited.error]);
        const request = new Request(`http://localhost${GRAPHQL_PATH}`, { method: 'POST' });
        const enveloped = yoga.getEnveloped({
          request,
          wsPrincipal: ctx.extra.principal,
          transport: 'ws',
          params: payload,
        } as InitialContext & { params: unknown });
        const { execute, subscribe, contextFactory } = enveloped;
        // Envelop types these with `any` (it does not depend on graphql); Yoga's are graphql-js's.
        const schema = enveloped.schema as GraphQLSchema;
        const parse = enveloped.parse as typeof graphqlParse;
        const validate = enveloped.validate as typeof graphqlValidate;
        let document: ReturnType<typeof parse>;
        try {
          document = parse(payload.query);
        } catch (error) {
          // A syntax error or the token limit: an `error` message for this operation, not a closed socket.
          if (error instanceof Error && error.name === 'GraphQLError') return withoutHttp([error as GraphQLError]);
          throw error;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return withoutHttp(errors);
        // Priced here too so an expensive subscription is refused with an `error` message before it starts.
        const tooCostly = edge.costError(schema, document, payload.operationName, payload.variables, 'ws');
        if (tooCostly) return withoutHttp([tooCostly]);
        return {
          schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? {},
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    wsServer,
  );
  return {
    async close(): Promise<void> {
      upgradeRoutes(httpServer).remove(GRAPHQL_PATH);
      for (const client of wsServer.clients) client.close(1001, 'server shutting down');
      await disposable.dispose();
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}

/** `extensions.http` steers Yoga's HTTP response (status, headers); on a WebSocket it means nothing. */
function withoutHttp(errors: readonly GraphQLError[]): GraphQLError[] {
  return errors.map((error) => {
    if (!error.extensions?.http) return error;
    const { http: _http, ...extensions } = error.extensions;
    return createGraphQLError(error.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      extensions,
    });
  });
}

/** Seconds to execute one GraphQL operation (a subscription: until its event stream is set up), by operation type. */
export const OPERATION_SECONDS_METRIC = 'doppel_graphql_operation_seconds';
const OPERATION_SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Times execution on every transport: one clock read at the start and one observation at the end, no
 * allocation beyond the closure (bench:api measures this path). Parse and validation are not in it.
 */
function operationDurationPlugin(metrics: Metrics): Plugin<GraphQLContext> {
  metrics.describeHistogram(
    OPERATION_SECONDS_METRIC,
    'Seconds to execute one GraphQL operation (subscriptions: until listening), by operation (query, mutation, subscription).',
    OPERATION_SECONDS_BUCKETS,
  );
  const operationOf = (args: ExecutionArgs): string => {
    for (const definition of args.document.definitions)
      if (definition.kind === Kind.OPERATION_DEFINITION && (!args.operationName || definition.name?.value === args.operationName)) return definition.operation;
    return 'unknown';
  };
  return {
    onExecute: ({ args }) => {
      const started = performance.now();
      return { onExecuteDone: () => metrics.observe(OPERATION_SECONDS_METRIC, { operation: operationOf(args) }, (performance.now() - started) / 1000) };
    },
    onSubscribe: () => {
      const started = performance.now();
      return { onSubscribeResult: () => metrics.observe(OPERATION_SECONDS_METRIC, { operation: 'subscription' }, (performance.now() - started) / 1000) };
    },
  };
}

/** Subscriptions whose event stream is open, by transport (ws: graphql-ws; http: Server-Sent Events). */
export const SUBSCRIPTIONS_OPEN_METRIC = 'doppel_subscriptions_open';

/**
 * Counts a subscription from the moment its event stream exists until it ends for any reason (the
 * client left, the stream completed or failed, the token was revoked): envelop's `onEnd` runs on all of
 * them, and once per stream.
 */
function openSubscriptionsPlugin(metrics: Metrics): Plugin<GraphQLContext> {
  metrics.describe(SUBSCRIPTIONS_OPEN_METRIC, 'GraphQL subscriptions open now, by transport (ws: graphql-ws, http: Server-Sent Events).', 'gauge');
  return {
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result }) => {
        if (!isAsyncIterable(result)) return;
        const labels = { transport: (args.contextValue as { transport?: Transport }).transport ?? 'http' };
        metrics.inc(SUBSCRIPTIONS_OPEN_METRIC, labels);
        let ended = false;
        return {
          onEnd: () => {
            if (ended) return;
            ended = true;
            metrics.inc(SUBSCRIPTIONS_OPEN_METRIC, labels, -1);
          },
        };
      },
    }),
  };
}

/**
 * Runs on every transport (graphql-ws goes through the same envelop): a subscription lives as long as
 * its token (revocation or expiry ends it), and FORBIDDEN refusals are counted.
 */
function authorizationPlugin(tokenWatch: TokenWatch, metrics: Metrics): Plugin<GraphQLContext> {
  const countForbidden = (result: ExecutionResult) => {
    const n = result.errors?.filter((e) => e.extensions?.code === 'FORBIDDEN').length ?? 0;
    if (n > 0) metrics.inc(AUTH_REFUSED_METRIC, { code: 'FORBIDDEN' }, n);
  };
  return {
    onExecute: () => ({
      onExecuteDone: ({ result }) => {
        if (!isAsyncIterable(result)) countForbidden(result);
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult: ({ args, result, setResult }) => {
        const { principal } = args.contextValue as GraphQLContext;
        if (isAsyncIterable(result)) {
          setResult(
            endOnRevocation(result as AsyncIterable<ExecutionResult>, (onRevoked) =>
              tokenWatch.watch(principal, () => {
                metrics.inc(REVOKED_SESSIONS_METRIC, { kind: 'subscription' });
                onRevoked();
              }),
            ),
          );
        } else {
          countForbidden(result as ExecutionResult);
        }
      },
    }),
  };
}

/**
 * Wraps a subscription's event stream so it ends when the caller's token is revoked: one last result
 * carrying an UNAUTHENTICATED error (what an SSE client sees before `complete`), then the end; the
 * underlying stream is returned, which unsubscribes it from the bus.
 */
/** An expected failure that ends a stream (e.g. SLOW_CONSUMER from the bus) reaches the client with its code. */
function streamError(error: unknown): unknown {
  return error instanceof DoppelError ? createGraphQLError(error.message, { extensions: { code: error.code } }) : error;
}

export function endOnRevocation(source: AsyncIterable<ExecutionResult>, watch: (onRevoked: () => void) => () => void): AsyncIterableIterator<ExecutionResult> {
  const inner = source[Symbol.asyncIterator]();
  let state: 'open' | 'revoked' | 'done' = 'open';
  // The caller's pending next(), if any. (Not a Promise.race against one long-lived "revoked" promise:
  // every race would leave a reaction on it, growing with each event of a long subscription.)
  let pending: ((r: IteratorResult<ExecutionResult>) => void) | null = null;
  const lastResult = (): IteratorResult<ExecutionResult> => {
    state = 'done';
    unwatch();
    void inner.return?.();
    return {
      value: { errors: [createGraphQLError('API token revoked or expired: the subscription has ended', { extensions: { code: 'UNAUTHENTICATED' } })] },
      done: false,
    };
  };
  const unwatch = watch(() => {
    if (state !== 'open') return;
    state = 'revoked';
    const waiting = pending;
    pending = null;
    if (waiting) waiting(lastResult());
  });
  return {
    next() {
      if (state === 'revoked') return Promise.resolve(lastResult());
      if (state === 'done') return Promise.resolve({ value: undefined, done: true });
      return new Promise<IteratorResult<ExecutionResult>>((resolve, reject) => {
        const mine = (r: IteratorResult<ExecutionResult>) => resolve(r);
        pending = mine;
        inner.next().then(
          (step) => {
            if (pending !== mine) return; // already answered (revoked, or returned)
            pending = null;
            if (step.done) {
              state = 'done';
              unwatch();
            }
            resolve(step);
          },
          (error: unknown) => {
            if (pending !== mine) return;
            pending = null;
            state = 'done';
            unwatch();
            reject(streamError(error));
          },
        );
      });
    },
    async return() {
      state = 'done';
      // A next() still waiting (a for-await loop) must finish too, or its consumer never completes.
      const waiting = pending;
      pending = null;
      waiting?.({ value: undefined, done: true });
      unwatch();
      await inner.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown) {
      state = 'done';
      const waiting = pending;
      pending = null;
      waiting?.({ value: undefined, done: true });
      unwatch();
      if (inner.throw) return inner.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
