/**
 * Sessions opened with a credential that expires — an old secret inside its rotation grace period —
 * are closed when it does, each on its own timer.
 */
import type { Logger } from 'pino';
import type { SessionClient } from './sessions.ts';

export interface SessionExpiry {
  /** Closes `client` at `at` (epoch ms); an earlier deadline already set wins. */
  expireAt(client: SessionClient, deviceId: string, at: number): void;
  /** The client is gone: forget its deadline. */
  cancel(client: SessionClient): void;
}

export function createSessionExpiry(log: Logger): SessionExpiry {
  const expiryOf = new WeakMap<SessionClient, { timer: NodeJS.Timeout; at: number }>();
  return {
    expireAt(client, deviceId, at) {
      const existing = expiryOf.get(client);
      if (existing && existing.at <= at) return;
      clearTimeout(existing?.timer);
      // Grace periods are capped at 7 days (devices.ts), well inside setTimeout's 24.8-day range.
      const timer = setTimeout(
        () => {
          expiryOf.delete(client);
          log.info({ deviceId, clientId: client.id }, 'closing a session opened with a secret whose grace period ended');
          client.close();
        },
        Math.max(0, at - Date.now()),
      );
      timer.unref();
      expiryOf.set(client, { timer, at });
    },
    cancel(client) {
      clearTimeout(expiryOf.get(client)?.timer);
      expiryOf.delete(client);
    },
  };
}
