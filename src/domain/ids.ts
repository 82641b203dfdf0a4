/** The identifiers of the device contract and the API, and the one place that says what a valid one is. */

const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const TENANT_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const TAG_PATTERN = /^[A-Za-z0-9._:=/-]{1,64}$/;
const MODEL_NAME_PATTERN = /^[A-Za-z0-9._ -]{1,100}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A device id: 1–64 chars of `[A-Za-z0-9._-]`. It is also the MQTT username. */
export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/**
 * A command id as it appears in a topic level. Same alphabet and length as device ids, which fits
 * UUIDs, ULIDs and cuids, and can never contain `/`, `+`, `#` or `$`.
 */
export function isValidCommandId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

export function isValidTenantId(tenantId: string): boolean {
  return TENANT_PATTERN.test(tenantId);
}

/** A device tag: 1–64 chars of `[A-Za-z0-9._:=/-]` (so `site=berlin` and `floor/2` work). */
export function isValidTag(tag: unknown): tag is string {
  return typeof tag === 'string' && TAG_PATTERN.test(tag);
}

/** A device model's name: 1–100 chars of letters, digits, space, `.`, `_` or `-`. */
export function isValidModelName(name: unknown): name is string {
  return typeof name === 'string' && MODEL_NAME_PATTERN.test(name);
}

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
