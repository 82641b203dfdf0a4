/**
 * Device topic ACL (docs/device-contract.md, docs/security.md): a device may publish only to its own `telemetry`, `twin/reported`,
 * `twin/get`, `commands/{commandId}/ack` and `status`, and subscribe only to its own `twin/#` and
 * `commands/#` (or narrower filters inside them) and its `telemetry/accepted` (receipts, exactly that
 * topic: `telemetry/#` would echo its own telemetry back). Everything else is refused — other devices' topics,
 * `#`, `devices/#`, `devices/+/…`, `$SYS/#`, `$share/…`, wildcards in a publish topic.
 *
 * Pure functions and data, no I/O, and the only place these rules live: the embedded broker enforces
 * them (canPublish / canSubscribe / canReceive), the Mosquitto dynamic-security sync installs them as
 * per-device roles ({@link dynsecDeviceAcls}), and the HTTP auth endpoints for EMQX and
 * mosquitto-go-auth answer from them ({@link isAllowed}).
 */
import { deviceTopicTemplates, isFilterWithin, isValidTopicName, parseInboundTopic, topics } from './topics.ts';
import { isValidDeviceId } from '../domain/ids.ts';

/** May `deviceId` publish to `topic`? Only exact device → server topics of its own; never a wildcard. */
export function canPublish(deviceId: string, topic: string): boolean {
  if (!isValidDeviceId(deviceId)) return false;
  // parseInboundTopic only accepts exact topics with valid id levels, so wildcards never parse.
  const parsed = parseInboundTopic(topic);
  return parsed !== null && parsed.deviceId === deviceId;
}

/** May `deviceId` subscribe to `filter`? Only within its own `twin/#` and `commands/#`, or to exactly its own `telemetry/accepted`. */
export function canSubscribe(deviceId: string, filter: string): boolean {
  if (!isValidDeviceId(deviceId)) return false;
  return (
    isFilterWithin(filter, topics.twinFilter(deviceId)) ||
    isFilterWithin(filter, topics.commandsFilter(deviceId)) ||
    filter === topics.telemetryAccepted(deviceId)
  );
}

/**
 * May `deviceId` receive a message published on `topic`? Only its own server → device topics (inside
 * its `twin/#` or `commands/#`, and not one of the device → server topics those filters also cover,
 * so a device never gets its own reports echoed back).
 */
export function canReceive(deviceId: string, topic: string): boolean {
  return isValidTopicName(topic) && canSubscribe(deviceId, topic) && parseInboundTopic(topic) === null;
}

/** What an external broker asks about: publish, subscribe to a filter, or receive (deliver) a message. */
export type BrokerAction = 'publish' | 'subscribe' | 'receive';

/** The one decision the HTTP auth endpoints make, for any broker. */
export function isAllowed(deviceId: string, action: BrokerAction, topic: string): boolean {
  switch (action) {
    case 'publish':
      return canPublish(deviceId, topic);
    case 'subscribe':
      return canSubscribe(deviceId, topic);
    case 'receive':
      return canReceive(deviceId, topic);
  }
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

/** One ACL entry of a Mosquitto dynamic-security role (`createRole` / `addRoleACL`). */
export interface DynsecAcl {
  acltype: 'publishClientSend' | 'publishClientReceive' | 'subscribePattern' | 'unsubscribePattern';
  topic: string;
  allow: boolean;
}

/**
 * The allow-list of one device as dynamic-security ACLs. Publish rules become `publishClientSend`
 * (matched like a filter, so `commands/+/ack` admits any command id); subscribe rules become
 * `subscribePattern` (the device may subscribe to the filter or anything narrower) plus the matching
 * `publishClientReceive` and `unsubscribePattern`. Everything else falls to the plugin's defaults,
 * which deny publishing and subscribing (`#`, `devices/#`, `$SYS/#`, other devices).
 */
export function dynsecDeviceAcls(deviceId: string): DynsecAcl[] {
  return deviceAclRules(deviceId).flatMap((r): DynsecAcl[] =>
    r.access === 'publish'
      ? [{ acltype: 'publishClientSend', topic: r.pattern, allow: true }]
      : [
          { acltype: 'subscribePattern', topic: r.pattern, allow: true },
          { acltype: 'publishClientReceive', topic: r.pattern, allow: true },
          { acltype: 'unsubscribePattern', topic: r.pattern, allow: true },
        ],
  );
}
