/**
 * Device contract v1 topics (docs/device-contract.md). This is the only module that builds or parses topic strings:
 * everything else asks it, so a change to the contract is a change here.
 *
 *   devices/{id}/telemetry                      device → server
 *   devices/{id}/telemetry/accepted             server → device (v1.1 receipts, QoS 1)
 *   devices/{id}/twin/reported                  device → server
 *   devices/{id}/twin/reported/accepted|rejected server → device
 *   devices/{id}/twin/get                       device → server
 *   devices/{id}/twin/get/accepted|rejected     server → device
 *   devices/{id}/twin/delta                     server → device (retained)
 *   devices/{id}/commands/{commandId}           server → device (QoS 1)
 *   devices/{id}/commands/{commandId}/ack       device → server
 *   devices/{id}/status                         device → server (retained, Last Will)
 */

import { isValidCommandId, isValidDeviceId } from '../domain/ids.ts';

const ROOT = 'devices';

/** A device → server topic, parsed. */
export type InboundTopic =
  | { deviceId: string; kind: 'telemetry' }
  | { deviceId: string; kind: 'twinReported' }
  | { deviceId: string; kind: 'twinGet' }
  | { deviceId: string; kind: 'commandAck'; commandId: string }
  | { deviceId: string; kind: 'status' };

export type InboundKind = InboundTopic['kind'];

/**
 * Parses a device → server topic. Anything else — server → device topics, unknown suffixes, invalid
 * ids, wildcards, `$share/…` — is `null`.
 */
export function parseInboundTopic(topic: string): InboundTopic | null {
  if (typeof topic !== 'string' || topic.length > 256) return null;
  const l = topic.split('/');
  if (l.length < 3 || l[0] !== ROOT || !isValidDeviceId(l[1])) return null;
  const deviceId = l[1];
  switch (l.length) {
    case 3:
      if (l[2] === 'telemetry') return { deviceId, kind: 'telemetry' };
      if (l[2] === 'status') return { deviceId, kind: 'status' };
      return null;
    case 4:
      if (l[2] !== 'twin') return null;
      if (l[3] === 'reported') return { deviceId, kind: 'twinReported' };
      if (l[3] === 'get') return { deviceId, kind: 'twinGet' };
      return null;
    case 5:
      if (l[2] === 'commands' && l[4] === 'ack' && isValidCommandId(l[3])) {
        return { deviceId, kind: 'commandAck', commandId: l[3] };
      }
      return null;
    default:
      return null;
  }
}

/** Builds the topic an {@link InboundTopic} was parsed from (the inverse of {@link parseInboundTopic}). */
export function formatInboundTopic(t: InboundTopic): string {
  switch (t.kind) {
    case 'telemetry':
      return topics.telemetry(t.deviceId);
    case 'twinReported':
      return topics.twinReported(t.deviceId);
    case 'twinGet':
      return topics.twinGet(t.deviceId);
    case 'commandAck':
      return topics.commandAck(t.deviceId, t.commandId);
    case 'status':
      return topics.status(t.deviceId);
  }
}

function device(id: string): string {
  // Building a topic from an unchecked id could smuggle `/`, `+` or `#` into it: refuse loudly.
  if (!isValidDeviceId(id)) throw new TypeError(`invalid device id: ${JSON.stringify(id)}`);
  return `${ROOT}/${id}`;
}

function command(id: string, commandId: string): string {
  if (!isValidCommandId(commandId)) throw new TypeError(`invalid command id: ${JSON.stringify(commandId)}`);
  return `${device(id)}/commands/${commandId}`;
}

/** Topic builders. Each throws a `TypeError` on an invalid device or command id. */
export const topics = {
  // device → server
  telemetry: (id: string) => `${device(id)}/telemetry`,
  twinReported: (id: string) => `${device(id)}/twin/reported`,
  twinGet: (id: string) => `${device(id)}/twin/get`,
  commandAck: (id: string, commandId: string) => `${command(id, commandId)}/ack`,
  status: (id: string) => `${device(id)}/status`,
  // server → device
  telemetryAccepted: (id: string) => `${device(id)}/telemetry/accepted`,
  reportedAccepted: (id: string) => `${device(id)}/twin/reported/accepted`,
  reportedRejected: (id: string) => `${device(id)}/twin/reported/rejected`,
  getAccepted: (id: string) => `${device(id)}/twin/get/accepted`,
  getRejected: (id: string) => `${device(id)}/twin/get/rejected`,
  delta: (id: string) => `${device(id)}/twin/delta`,
  command: (id: string, commandId: string) => command(id, commandId),
  // filters a device subscribes to
  twinFilter: (id: string) => `${device(id)}/twin/#`,
  commandsFilter: (id: string) => `${device(id)}/commands/#`,
} as const;

/**
 * The device's own topics with `deviceLevel` in place of the id, for ACL templates: `+` for
 * server-side subscriptions, `%u` for a Mosquitto `pattern` line, `{deviceId}` for docs. Not validated.
 */
export function deviceTopicTemplates(deviceLevel: string): {
  /** Topics the device may publish to (device → server). `+` in `commandAck` stands for any command id. */
  publish: { telemetry: string; twinReported: string; twinGet: string; commandAck: string; status: string };
  /**
   * Filters the device may subscribe to, or narrow (server → device). `telemetryReceipts` is a single
   * topic: it may be subscribed to only as it is.
   */
  subscribe: { twin: string; commands: string; telemetryReceipts: string };
} {
  const d = `${ROOT}/${deviceLevel}`;
  return {
    publish: {
      telemetry: `${d}/telemetry`,
      twinReported: `${d}/twin/reported`,
      twinGet: `${d}/twin/get`,
      commandAck: `${d}/commands/+/ack`,
      status: `${d}/status`,
    },
    subscribe: { twin: `${d}/twin/#`, commands: `${d}/commands/#`, telemetryReceipts: `${d}/telemetry/accepted` },
  };
}

/**
 * Filters for external-broker mode: every device → server topic of every device, as MQTT 5 shared
 * subscriptions so each message goes to exactly one Doppel instance of `group` (docs/operations.md).
 */
export function sharedSubscriptionFilters(group: string): string[] {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(group)) throw new TypeError(`invalid shared subscription group: ${JSON.stringify(group)}`);
  return Object.values(deviceTopicTemplates('+').publish).map((t) => `$share/${group}/${t}`);
}

/**
 * A syntactically valid MQTT topic filter: non-empty, no NUL, `#` only as the whole last level,
 * `+` only as a whole level (MQTT 3.1.1 §4.7.1).
 */
export function isValidTopicFilter(filter: string): boolean {
  if (typeof filter !== 'string' || filter.length === 0 || filter.length > 65535 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return false;
    if (level.includes('+') && level !== '+') return false;
  }
  return true;
}

/** A valid topic name to publish to: non-empty, no wildcards, no NUL. */
export function isValidTopicName(topic: string): boolean {
  return typeof topic === 'string' && topic.length > 0 && topic.length <= 65535 && !/[+#\u0000]/.test(topic);
}

/**
 * Whether every topic matched by `filter` is also matched by `scope`, where `scope` is literal levels
 * followed by a final `#` (like `devices/d1/twin/#`). `filter` must repeat the literal levels exactly
 * (no wildcard may stand in for them) and may then narrow freely. Following MQTT, `a/b/#` also matches
 * `a/b`, so the parent level itself is within scope.
 */
export function isFilterWithin(filter: string, scope: string): boolean {
  if (!isValidTopicFilter(filter)) return false;
  const s = scope.split('/');
  if (s[s.length - 1] !== '#') throw new TypeError(`scope must end with /#: ${scope}`);
  const prefix = s.slice(0, -1);
  const f = filter.split('/');
  if (f.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (f[i] !== prefix[i]) return false;
  return true;
}

/**
 * Provisioning topics (docs/onboarding.md "Provisioning"). A provisioning client (username `provision`)
 * uses only its own request id's topics; the request id is its MQTT client id, which the broker keeps
 * unique among connected clients, so no other claimant can read its credentials:
 *
 *   provision/{requestId}/request              client → server, JSON {deviceId, claimToken?}
 *   provision/{requestId}/accepted             server → client, {deviceId, username, password} (once)
 *   provision/{requestId}/rejected             server → client, {code, message}
 */
const PROVISION_ROOT = 'provision';

function provisionLevel(requestId: string): string {
  if (!isValidDeviceId(requestId)) throw new TypeError(`invalid provisioning request id: ${JSON.stringify(requestId)}`);
  return `${PROVISION_ROOT}/${requestId}`;
}

export const provisionTopics = {
  request: (requestId: string) => `${provisionLevel(requestId)}/request`,
  accepted: (requestId: string) => `${provisionLevel(requestId)}/accepted`,
  rejected: (requestId: string) => `${provisionLevel(requestId)}/rejected`,
  /** What the provisioning client subscribes to: both answers. */
  replies: (requestId: string) => `${provisionLevel(requestId)}/+`,
  /** Doppel's own subscription in external-broker mode: every client's requests. */
  requestTemplate: (requestLevel: string) => `${PROVISION_ROOT}/${requestLevel}/request`,
} as const;

/** The request id of a `provision/{requestId}/request` topic; null for anything else. */
export function parseProvisionRequestTopic(topic: string): string | null {
  if (typeof topic !== 'string' || topic.length > 256) return null;
  const l = topic.split('/');
  return l.length === 3 && l[0] === PROVISION_ROOT && l[2] === 'request' && isValidDeviceId(l[1]) ? l[1] : null;
}

/**
 * May the provisioning client of `requestId` subscribe to `filter`? Only its own replies: the filter
 * `provision/{requestId}/+`, or `…/accepted` or `…/rejected` exactly.
 */
export function isProvisionReplyFilter(requestId: string, filter: string): boolean {
  if (!isValidDeviceId(requestId)) return false;
  return filter === provisionTopics.replies(requestId) || filter === provisionTopics.accepted(requestId) || filter === provisionTopics.rejected(requestId);
}
