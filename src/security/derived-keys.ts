/**
 * Derived device keys of group-key provisioning policies (docs/onboarding.md "Provisioning"): what a
 * factory computes offline and what Doppel recomputes at a device's first connect.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The per-device key of a group-key policy: Base64(HMAC-SHA256(groupKey, deviceId)), standard Base64 with
 * padding, as a factory computes it offline (`openssl dgst -sha256 -hmac`, Azure DPS style). The group
 * key is used as the UTF-8 bytes of the string the API showed.
 */
export function deriveDeviceKey(groupKey: string, deviceId: string): string {
  return createHmac('sha256', Buffer.from(groupKey, 'utf8')).update(deviceId, 'utf8').digest('base64');
}

/** Constant-time check of a presented derived key. */
export function isDerivedKey(groupKey: string, deviceId: string, presented: string): boolean {
  const expected = Buffer.from(deriveDeviceKey(groupKey, deviceId), 'utf8');
  const actual = Buffer.from(presented, 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
