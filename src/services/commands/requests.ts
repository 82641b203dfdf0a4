/** What API callers ask the command service for. */

export interface SendCommandInput {
  deviceId: string;
  /** A command the device's model declares. */
  name: string;
  /** Must satisfy the command's params schema; default `{}`. */
  params?: unknown;
  /** Time to live before delivery; default the command's own `ttlMs`. */
  ttlMs?: number | null;
  /** Same key and device → the same command, never a second one. */
  idempotencyKey?: string | null;
}

export interface FleetCommandInput {
  name: string;
  params?: unknown;
  ttlMs?: number | null;
}

/** A device a fleet command targets, as the caller selected it. */
export interface FleetTarget {
  uuid: string;
  deviceId: string;
  modelId: string | null;
  modelVersion: number | null;
  modelName: string | null;
}
