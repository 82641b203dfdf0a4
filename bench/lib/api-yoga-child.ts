/**
 * bench:api's first baseline (bench/api.ts): a bare graphql-yoga server answering `{ hello }` on
 * node:http — what a GraphQL request costs with Yoga's defaults and nothing of Doppel's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';
import { serveRpc } from './rpc.ts';

let server: Server | undefined;

serveRpc({
  async start(): Promise<{ url: string; pid: number }> {
    const yoga = createYoga({
      schema: createSchema({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } }),
      logging: false,
    });
    server = createServer((request, response) => void yoga(request, response));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, pid: process.pid };
  },
  async stop(): Promise<null> {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    setTimeout(() => process.exit(0), 50);
    return null;
  },
});
