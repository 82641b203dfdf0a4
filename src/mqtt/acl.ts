/**
 * Device topic ACL (DESIGN §3, §8): a device may publish only to its own `telemetry`, `twin/reported`,
 * `twin/get`, `commands/{commandId}/ack` and `status`, and subscribe only to its own `twin/#` and
 * `commands/#` (or narrower filters inside them). Everything else is refused — other devices' topics,
 * `#`, `devices/#`, `devices/+/…`, `$SYS/#`, `$share/…`, wildcards in a publish topic.
 *
 * Pure functions and data, no I/O: the embedded broker enforces it, and the same rules are exported
 * for external brokers (Mosquitto dynamic security, HTTP auth endpoints).
 */
import { deviceTopicTemplates, isFilterWithin, isValidDeviceId, parseInboundTopic, topics } from './topics.ts';

/** May `deviceId` publish to `topic`? Only exact device → server topics of its own; never a wildcard. */
export function canPublish(deviceId: string, topic: string): boolean {
  if (!isValidDeviceId(deviceId)) return false;
  // parseInboundTopic only accepts exact topics with valid id levels, so wildcards never parse.
  const parsed = parseInboundTopic(topic);
  return parsed !== null && parsed.deviceId === deviceId;
}

/** May `deviceId` subscribe to `filter`? Only within its own `twin/#` and `commands/#`. */
export function canSubscribe(deviceId: string, filter: string): boolean {
  if (!isValidDeviceId(deviceId)) return false;
  return isFilterWithin(filter, topics.twinFilter(deviceId)) || isFilterWithin(filter, topics.commandsFilter(deviceId));
}

export type AclAccess = 'publish' | 'subscribe';

/**
 * One allow rule. `pattern` is an MQTT topic filter; in {@link DEVICE_ACL_TEMPLATE} the device level
 * is the placeholder {@link DEVICE_ID_PLACEHOLDER}. For `publish`, `+` stands for any command id; for
 * `subscribe`, the device may use the filter itself or any narrower filter inside it.
 */
export interface AclRule {
  access: AclAccess;
  pattern: string;
}

/** The placeholder for the device id in {@link DEVICE_ACL_TEMPLATE}. */
export const DEVICE_ID_PLACEHOLDER = '{deviceId}';

function rulesFor(deviceLevel: string): AclRule[] {
  const t = deviceTopicTemplates(deviceLevel);
  return [
    ...Object.values(t.publish).map((pattern): AclRule => ({ access: 'publish', pattern })),
    ...Object.values(t.subscribe).map((pattern): AclRule => ({ access: 'subscribe', pattern })),
  ];
}

/** Every device's allow-list, with {@link DEVICE_ID_PLACEHOLDER} for its id. Anything not listed is denied. */
export const DEVICE_ACL_TEMPLATE: readonly AclRule[] = Object.freeze(rulesFor(DEVICE_ID_PLACEHOLDER));

/** The allow-list of one device, ids substituted (e.g. for a Mosquitto dynamic-security role). */
export function deviceAclRules(deviceId: string): AclRule[] {
  if (!isValidDeviceId(deviceId)) throw new TypeError(`invalid device id: ${JSON.stringify(deviceId)}`);
  return rulesFor(deviceId);
}

/**
 * The allow-list as Mosquitto `acl_file` pattern lines (`%u` = username = device id). Mosquitto
 * `write` patterns are filters, so the published-topic rules match exactly as {@link canPublish}.
 */
export function mosquittoAclPatterns(): string[] {
  return rulesFor('%u').map((r) => `pattern ${r.access === 'publish' ? 'write' : 'read'} ${r.pattern}`);
}
