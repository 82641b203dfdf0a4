import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { LogFormat, LogLevel } from './config.ts';

export type { Logger };

/** `auto` is pretty for a person at a terminal, JSON for everything else (pipes, files, containers). */
export function resolveLogFormat(format: LogFormat, isTTY: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

/**
 * Logs on stdout (pino): structured JSON, cheap on the hot path and easy to ship anywhere; or, for a
 * person at a terminal, one coloured line per entry (pino-pretty, written synchronously so an exit
 * loses no line). The fields are the same either way.
 */
export function createLogger(
  level: LogLevel,
  bindings: Record<string, unknown> = {},
  format: LogFormat = 'json',
  destination: DestinationStream & { isTTY?: boolean } = process.stdout,
): Logger {
  const options = { level, base: { service: 'doppel', ...bindings } };
  if (resolveLogFormat(format, destination.isTTY === true) === 'json') return destination === process.stdout ? pino(options) : pino(options, destination);
  const pretty = PinoPretty({
    destination: destination as NodeJS.WritableStream,
    sync: true,
    colorize: destination.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service',
  });
  return pino(options, pretty);
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
