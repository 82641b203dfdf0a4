/**
 * A real webhook receiver for tests: a node:http server on 127.0.0.1 that verifies every request with
 * verifyWebhook (the receiver's secrets), records it, tracks how many requests of one `webhook-id` are
 * open at once, and answers from a script (a status, a hang until released, or a destroyed socket).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../../src/domain/webhooks/signing.ts';

export interface ReceivedRequest {
  webhookId: string;
  body: string;
  signature: string;
  timestamp: string;
  /** verifyWebhook with the receiver's secrets. */
  verified: boolean;
  status: number | 'hang' | 'destroy';
  /** The sender's TCP port (which process sent it can be told from it while the connection is open). */
  remotePort: number;
}

/** What to answer: a status (with headers), hang until released, or destroy the socket. */
export type Answer = { status: number; headers?: Record<string, string> } | { hang: true } | { destroy: true };

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Highest number of requests with one webhook-id open at the same time. */
  maxConcurrentPerId: number;
  /** Ids answered 2xx, in answer order. */
  accepted: string[];
  secrets: string[];
  answer: (request: {
    webhookId: string;
    nth: number;
    body: string;
    remotePort: number;
    /**
     * Whether the sender still waits for the answer (false once it gave up, e.g. timed out, or died). A
     * sender's FIN counts: the server keeps a half-closed socket writable, but a client that closed its
     * side (a killed process's kernel does) never reads the answer.
     */
    isOpen: () => boolean;
  }) => Answer | Promise<Answer>;
  /** Ends every hanging request with this status. */
  release(status: number): void;
  close(): Promise<void>;
}

export async function startReceiver(secrets: string[]): Promise<Receiver> {
  const open = new Map<string, number>();
  const seen = new Map<string, number>();
  const hanging: http.ServerResponse[] = [];
  const receiver: Receiver = {
    url: '',
    port: 0,
    requests: [],
    maxConcurrentPerId: 0,
    accepted: [],
    secrets,
    answer: () => ({ status: 200 }),
    release(status) {
      for (const res of hanging.splice(0)) if (!res.writableEnded && !res.destroyed) res.writeHead(status).end();
    },
    close: () =>
      new Promise<void>((resolve) => {
        receiver.release(200);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const webhookId = String(req.headers['webhook-id'] ?? '');
      const verified = verifyWebhook(receiver.secrets, req.headers, body, { nowSeconds: Math.floor(Date.now() / 1000) }).ok;
      const nth = (seen.get(webhookId) ?? 0) + 1;
      seen.set(webhookId, nth);
      open.set(webhookId, (open.get(webhookId) ?? 0) + 1);
      receiver.maxConcurrentPerId = Math.max(receiver.maxConcurrentPerId, open.get(webhookId)!);
      const entry: ReceivedRequest = {
        webhookId,
        body,
        signature: String(req.headers['webhook-signature'] ?? ''),
        timestamp: String(req.headers['webhook-timestamp'] ?? ''),
        verified,
        status: 200,
        remotePort: req.socket.remotePort ?? 0,
      };
      receiver.requests.push(entry);
      res.on('close', () => open.set(webhookId, open.get(webhookId)! - 1));
      void Promise.resolve(
        receiver.answer({
          webhookId,
          nth,
          body,
          remotePort: entry.remotePort,
          isOpen: () => !res.destroyed && !req.socket.destroyed && !req.socket.readableEnded,
        }),
      ).then((answer) => {
        if ('hang' in answer) {
          entry.status = 'hang';
          hanging.push(res);
        } else if ('destroy' in answer) {
          entry.status = 'destroy';
          req.socket.destroy();
        } else {
          entry.status = answer.status;
          if (answer.status >= 200 && answer.status <= 299) receiver.accepted.push(webhookId);
          res.writeHead(answer.status, answer.headers ?? {}).end('ok');
        }
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks?x=1`;
  return receiver;
}
