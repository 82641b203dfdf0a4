/** The identifiers of the device contract and the API, and the one place that says what a valid one is. */

const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const TENANT_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
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

export function isUuid(value: string): boolean {
  return UUID_PATTERN.test(value);
}
