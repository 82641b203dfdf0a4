/**
 * One 'upgrade' listener per HTTP server, routing WebSocket handshakes by path: graphql-ws at
 * /graphql, MQTT at /mqtt. ws 8 cannot share a server any other way — a WebSocketServer given
 * `server` + `path` aborts every upgrade to another path, so the second one would never see its own —
 * hence each endpoint is a `noServer` WebSocketServer registered here. An upgrade to any other path
 * is answered 404 and closed.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';

export type UpgradeHandler = (request: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface UpgradeRoutes {
  /** Routes upgrades to `path` (exact, query string ignored) to `handler`; a second handler for a path is a programming error. */
  add(path: string, handler: UpgradeHandler): void;
  /** Stops routing `path` (its upgrades get 404 from now on). */
  remove(path: string): void;
}

const routesByServer = new WeakMap<http.Server, Map<string, UpgradeHandler>>();

/** The upgrade routes of `server`, created (with its one 'upgrade' listener) on first use. */
export function upgradeRoutes(server: http.Server): UpgradeRoutes {
  let routes = routesByServer.get(server);
  if (!routes) {
    const table = new Map<string, UpgradeHandler>();
    routes = table;
    routesByServer.set(server, table);
    server.on('upgrade', (request: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = request.url ?? '/';
      const query = url.indexOf('?');
      const handler = table.get(query === -1 ? url : url.slice(0, query));
      if (handler) return handler(request, socket, head);
      // A reset peer must not become an unhandled 'error' event.
      socket.on('error', () => socket.destroy());
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
  }
  const table = routes;
  return {
    add(path, handler) {
      if (table.has(path)) throw new Error(`a WebSocket endpoint is already registered at ${path}`);
      table.set(path, handler);
    },
    remove: (path) => void table.delete(path),
  };
}
