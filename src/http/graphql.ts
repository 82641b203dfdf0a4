import type { IncomingMessage } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createGraphQLError, createYoga, type YogaServerInstance } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { ExecutionArgs, GraphQLError } from 'graphql';
import { authenticate, unauthenticated } from '../auth/authenticate.ts';
import type { Principal } from '../auth/tokens.ts';
import type { GraphQLContext } from '../context.ts';
import type { Metrics } from '../metrics.ts';
import { buildSchema } from '../schema/index.ts';
import type { Edge, Transport } from './edge.ts';

export const GRAPHQL_PATH = '/graphql';

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
export function createGraphQL(services: ContextServices, options: { graphiql: boolean; edge: Edge }) {
  const { edge } = options;
  // Resolved before Yoga parses anything, so an unauthenticated request costs one hash lookup.
  const principals = new WeakMap<Request, Principal>();
  const yoga: YogaServerInstance<InitialContext, GraphQLContext> = createYoga<InitialContext, GraphQLContext>({
    schema: buildSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    maskedErrors: true,
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
    graphiql: options.graphiql
      ? {
          title: 'Doppel',
          headers: JSON.stringify({ Authorization: 'Bearer <paste the token from data/admin-token>' }, null, 2),
        }
      : false,
    plugins: [
      {
        async onRequest({ request, url, endResponse, fetchAPI }) {
          if (url.pathname !== GRAPHQL_PATH || (options.graphiql && isGraphiQLPage(request))) return;
          const principal = await authenticate(services.prisma, { authorization: request.headers.get('authorization') });
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
          endResponse(
            new fetchAPI.Response(JSON.stringify({ errors: [{ message: error.message, extensions: { code: 'UNAUTHENTICATED' } }] }), {
              status: 401,
              headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
            }),
          );
        },
      },
      edge.plugin,
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

export function attachWebSocket(
  httpServer: HttpServer,
  yoga: ReturnType<typeof createGraphQL>,
  services: ContextServices,
  metrics: Metrics,
  edge: Edge,
) {
  metrics.describe(WS_ACTIVE_METRIC, 'GraphQL operations running over WebSocket (mostly subscriptions).', 'gauge');
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH, maxPayload: edge.maxBodyBytes });
  const disposable = useServer<Record<string, unknown>, { request: IncomingMessage; principal?: Principal }>(
    {
      onConnect: async (ctx) => {
        const authorization = ctx.extra.request.headers.authorization;
        const principal = await authenticate(services.prisma, { connectionParams: ctx.connectionParams, authorization });
        if (!principal) return false;
        ctx.extra.principal = principal;
        return true;
      },
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
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          request,
          wsPrincipal: ctx.extra.principal,
          transport: 'ws',
          params: payload,
        } as InitialContext & { params: unknown });
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
