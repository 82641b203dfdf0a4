/**
 * The embedded broker's refusal counters: kept for `stats()` and, when a registry is given, exported
 * on /metrics under fixed names. A refusal is also a warning, throttled per key so a misbehaving
 * device cannot flood the log.
 */
import type { Logger } from 'pino';
import { ThrottledLog } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';

export interface EmbeddedBrokerStats {
  /** CONNECTs refused for bad credentials, unknown devices or invalid usernames. */
  authFailures: number;
  /** Refused PUBLISHes, SUBSCRIBE filters and Last Wills. */
  aclDenials: number;
  /** Payloads (or whole packets) over the size limit. */
  oversize: number;
  /** Message handler rejections (the message was still acknowledged). */
  handlerErrors: number;
  /** CONNECTs refused because they came faster than the admission rate (MQTT_MAX_CONNECTS_PER_S). */
  connectsThrottled: number;
  /**
   * CONNECTs dropped because their client had already closed the socket (it gave up waiting, typically
   * in a storm): before the credentials lookup, after it, before the broker registered the client, or
   * before the post-connect work (delta hand-over, command round). Nothing is written for them.
   */
  connectsAbandoned: number;
}

/** /metrics names of the broker's refusal counters. */
export const BROKER_METRIC_NAMES: Record<keyof EmbeddedBrokerStats, string> = {
  authFailures: 'doppel_mqtt_auth_failures_total',
  aclDenials: 'doppel_mqtt_acl_denials_total',
  oversize: 'doppel_mqtt_oversize_total',
  handlerErrors: 'doppel_mqtt_handler_errors_total',
  connectsThrottled: 'doppel_mqtt_connects_throttled_total',
  connectsAbandoned: 'doppel_mqtt_connects_abandoned_total',
};
const BROKER_METRIC_HELP: Record<keyof EmbeddedBrokerStats, string> = {
  authFailures: 'MQTT CONNECTs refused: bad credentials, unknown, disabled or revoked devices, invalid usernames.',
  aclDenials: 'MQTT publishes, subscription filters and Last Wills refused by the topic ACL.',
  oversize: 'MQTT payloads or packets over the size limit (the connection is closed).',
  handlerErrors: 'MQTT message handler failures (the message was still acknowledged).',
  connectsThrottled: 'MQTT CONNECTs refused with "server unavailable" because they came faster than MQTT_MAX_CONNECTS_PER_S.',
  connectsAbandoned: 'MQTT CONNECTs dropped, with no further database work, because the client had already closed its connection (it gave up waiting).',
};

export interface BrokerCounters {
  /** Counts one refusal (or handler failure) in stats() and, when given, in /metrics. */
  bump: (key: keyof EmbeddedBrokerStats) => void;
  /** Counts a refusal and warns, at most once a minute per `throttleKey`. */
  refuse: (key: keyof EmbeddedBrokerStats, throttleKey: string, fields: Record<string, unknown>, message: string) => void;
  /** A copy of the counts so far. */
  snapshot: () => EmbeddedBrokerStats;
}

export function createBrokerCounters(log: Logger, metrics: Metrics | undefined): BrokerCounters {
  const throttled = new ThrottledLog(log);
  const counts: EmbeddedBrokerStats = { authFailures: 0, aclDenials: 0, oversize: 0, handlerErrors: 0, connectsThrottled: 0, connectsAbandoned: 0 };
  for (const [key, help] of Object.entries(BROKER_METRIC_HELP)) metrics?.describe(BROKER_METRIC_NAMES[key as keyof EmbeddedBrokerStats], help);
  function bump(key: keyof EmbeddedBrokerStats): void {
    counts[key]++;
    metrics?.inc(BROKER_METRIC_NAMES[key]);
  }
  return {
    bump,
    refuse(key, throttleKey, fields, message) {
      bump(key);
      throttled.warn(throttleKey, fields, message);
    },
    snapshot: () => ({ ...counts }),
  };
}
