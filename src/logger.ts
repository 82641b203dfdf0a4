import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.ts';

export type { Logger };

/** Structured JSON logs on stdout (pino): cheap on the hot path, easy to ship anywhere. */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'doppel', ...bindings } });
}

/**
 * Logs at most once per key per interval, counting what it swallowed. docs/device-contract.md: malformed payloads
 * are logged once per device per minute, so a misbehaving device cannot flood the logs.
 */
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string, now = Date.now()): void {
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed += 1;
      return;
    }
    if (!seen && this.last.size >= this.maxKeys) this.last.delete(this.last.keys().next().value as string);
    this.logger.warn({ ...fields, suppressedSinceLast: seen?.suppressed ?? 0 }, message);
    this.last.set(key, { at: now, suppressed: 0 });
  }
}
