/**
 * Keep-alive connections for webhook attempts (docs/outbox.md "Drain cost" and "SSRF").
 *
 * Without reuse every attempt opened (and closed) its own TCP connection, which the drain profile
 * showed as its largest cost. Reuse must not weaken the pinned-address SSRF defence: a socket is
 * reused only for the destination it was opened to. So the pool is one bounded `http.Agent` (or
 * `https.Agent`) per (endpoint, pinned address, port, protocol, TLS servername): each agent only ever
 * connects to its one pinned address, and its sockets can never carry a request for another host or
 * another endpoint. When an endpoint's host resolves to another address, its old agent is destroyed
 * (its sockets closed) and a new one made for the new pinned address.
 *
 * Sockets are closed: after `idleMs` unused (below the 5 s keep-alive of Node's own server, so the
 * receiver rarely closes a socket we are about to reuse; sooner when the receiver announces a shorter
 * `Keep-Alive: timeout=`, which Node's agent honours), when the endpoint is deleted or disabled
 * (`retain`), and on `close()`. "Rarely" is not "never": ./sender.ts sends a request lost that way
 * once more on a fresh connection, and judges every attempt by its status line.
 */
import http from 'node:http';
import https from 'node:https';

export interface PoolDestination {
  endpointId: string;
  protocol: 'http:' | 'https:';
  /** The checked address the socket connects to. */
  pinned: string;
  port: number;
  /** The TLS servername (the URL's host name), or '' for plain HTTP / an IP literal. */
  servername: string;
}

export interface ConnectionPoolOptions {
  /** Sockets per destination at most (the endpoint's in-flight limit is at most 64). */
  maxSockets: number;
  /** An unused socket is closed after this long, ms. */
  idleMs: number;
}

export const DEFAULT_POOL_OPTIONS: ConnectionPoolOptions = { maxSockets: 64, idleMs: 4_000 };

export interface ConnectionPool {
  /** The agent for this destination (made on first use; replaces, and closes, the endpoint's agent for another destination). */
  agentFor(destination: PoolDestination): http.Agent;
  /** Closes the sockets of every endpoint not in `endpointIds` (deleted or disabled ones). */
  retain(endpointIds: ReadonlySet<string>): void;
  /** Endpoint ids with an agent. */
  endpoints(): string[];
  /** Closes every socket. */
  close(): void;
}

const keyOf = (d: PoolDestination) => `${d.protocol}//${d.pinned}:${d.port}/${d.servername}`;

export function createConnectionPool(options: ConnectionPoolOptions = DEFAULT_POOL_OPTIONS): ConnectionPool {
  const agents = new Map<string, { key: string; agent: http.Agent }>();
  const settings = {
    keepAlive: true,
    maxSockets: options.maxSockets,
    maxFreeSockets: options.maxSockets,
    timeout: options.idleMs,
    scheduling: 'lifo' as const,
  };
  return {
    agentFor(destination) {
      const key = keyOf(destination);
      const held = agents.get(destination.endpointId);
      if (held?.key === key) return held.agent;
      held?.agent.destroy();
      const agent = destination.protocol === 'https:' ? new https.Agent(settings) : new http.Agent(settings);
      agents.set(destination.endpointId, { key, agent });
      return agent;
    },
    retain(endpointIds) {
      for (const [id, held] of agents)
        if (!endpointIds.has(id)) {
          held.agent.destroy();
          agents.delete(id);
        }
    },
    endpoints: () => [...agents.keys()],
    close() {
      for (const held of agents.values()) held.agent.destroy();
      agents.clear();
    },
  };
}
