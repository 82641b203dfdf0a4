import type { IncomingMessage } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { ExecutionArgs } from 'graphql';
import { authenticate, unauthenticated } from '../auth/authenticate.ts';
import type { Principal } from '../auth/tokens.ts';
import type { GraphQLContext } from '../context.ts';
import type { Metrics } from '../metrics.ts';
import { buildSchema } from '../schema/index.ts';
import { coalesceFrames } from './ws-frames.ts';

export const GRAPHQL_PATH = '/graphql';

/** What the context factory needs besides the caller: the shared services. */
export type ContextServices = Omit<GraphQLContext, 'principal'>;

interface InitialContext {
  request: Request;
  /** Set for WebSocket operations: the principal resolved once in `onConnect`. */
  wsPrincipal?: Principal;
}

/** GraphiQL's page itself is public (it holds no data); every GraphQL operation needs a token. */
function isGraphiQLPage(request: Request): boolean {
  return request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html');
}

/** Yoga over HTTP (queries, mutations, SSE subscriptions) with one context factory for every transport. */
export function createGraphQL(services: ContextServices, options: { graphiql: boolean }) {
  // Resolved before Yoga parses anything, so an unauthenticated request costs one hash lookup.
  const principals = new WeakMap<Request, Principal>();
  const yoga: YogaServerInstance<InitialContext, GraphQLContext> = createYoga<InitialContext, GraphQLContext>({
    schema: buildSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    maskedErrors: true,
    landingPage: false,
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
) {
  metrics.describe(WS_ACTIVE_METRIC, 'GraphQL operations running over WebSocket (mostly subscriptions).', 'gauge');
  const wsServer = new WebSocketServer({ server: httpServer, path: GRAPHQL_PATH, maxPayload: 1024 * 1024 });
  wsServer.on('connection', (socket, request) => coalesceFrames(socket, request.socket));
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
        const request = new Request(`http://localhost${GRAPHQL_PATH}`, { method: 'POST' });
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          request,
          wsPrincipal: ctx.extra.principal,
          params: payload,
        } as InitialContext & { params: unknown });
        const document = parse(payload.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
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
