/**
 * What an admin may save as a webhook endpoint: the checks of createWebhookEndpoint and
 * updateWebhookEndpoint, pure (no clock, no DNS, no database). Every refusal is one FieldIssue with a
 * path and a stable code, all of them collected, so a form can mark every bad field at once.
 *
 * Resolving the host (the second half of the SSRF guard) happens in destination-check.ts: it needs DNS.
 */
import type { FieldIssue } from '../../domain/errors.ts';
import { isValidDeviceId, isValidModelName, isValidTag } from '../../domain/ids.ts';
import { DEFAULT_EVENT_TYPES, EVENT_TYPES, SUBSCRIBABLE_EVENT_TYPES, type EventType } from '../../domain/webhooks/envelope.ts';

/** The membership fields of the API's DeviceFilter (src/schema/device.ts) plus explicit device ids; every one given must match. */
export interface EndpointFilter {
  deviceIds: string[];
  tags: string[];
  model: string | null;
}

/** An endpoint as saved (after defaults). */
export interface EndpointSettings {
  url: string;
  description: string | null;
  eventTypes: EventType[];
  filter: EndpointFilter;
  maxInFlight: number;
  enabled: boolean;
}

/** What the caller sent; absent fields take defaults (create) or keep their value (update). */
export interface EndpointInput {
  url?: unknown;
  description?: unknown;
  eventTypes?: unknown;
  filter?: { deviceIds?: unknown; tags?: unknown; model?: unknown } | null;
  maxInFlight?: unknown;
  enabled?: unknown;
}

export const MAX_DESCRIPTION_LENGTH = 500;
export const MAX_FILTER_DEVICE_IDS = 1000;
export const MAX_FILTER_TAGS = 32;
/** WEBHOOK_MAX_IN_FLIGHT's own bounds (src/config/spec.ts): an endpoint may not go beyond what an operator could configure. */
export const MIN_MAX_IN_FLIGHT = 1;
export const MAX_MAX_IN_FLIGHT = 64;

/**
 * Stable codes of a refused endpoint field (FieldIssue.code). The URL codes are those of
 * src/domain/webhooks/destination.ts plus UNRESOLVABLE_HOST / NO_ADDRESS from the save-time lookup.
 */
export type EndpointIssueCode =
  | 'INVALID_URL'
  | 'SCHEME_NOT_ALLOWED'
  | 'CREDENTIALS_IN_URL'
  | 'REFUSED_ADDRESS'
  | 'NO_ADDRESS'
  | 'UNRESOLVABLE_HOST'
  | 'UNKNOWN_EVENT_TYPE'
  | 'NOT_SUBSCRIBABLE'
  | 'NO_EVENT_TYPES'
  | 'FILTER_REQUIRED'
  | 'INVALID_DEVICE_ID'
  | 'INVALID_TAG'
  | 'INVALID_MODEL_NAME'
  | 'TOO_MANY'
  | 'OUT_OF_RANGE'
  | 'TOO_LONG'
  | 'INVALID_VALUE';

const issue = (path: string[], code: EndpointIssueCode, message: string): FieldIssue => ({ path, code, message });

/**
 * Merges `input` over `base` (an existing endpoint, or the defaults of a new one) and checks the result
 * as a whole: `telemetry.stored` needs a filter whatever field the update touched. The URL is only
 * checked for being a string here; its policy check is `checkDestination`'s.
 */
export function mergeEndpointInput(
  base: EndpointSettings,
  input: EndpointInput,
): { ok: true; settings: EndpointSettings } | { ok: false; issues: FieldIssue[] } {
  const issues: FieldIssue[] = [];
  const settings: EndpointSettings = { ...base, filter: { ...base.filter } };

  if (input.url !== undefined) {
    if (typeof input.url !== 'string') issues.push(issue(['url'], 'INVALID_URL', 'the URL is a string'));
    else settings.url = input.url.trim();
  }

  if (input.description !== undefined) {
    if (input.description === null || input.description === '') settings.description = null;
    else if (typeof input.description !== 'string') issues.push(issue(['description'], 'INVALID_VALUE', 'the description is a string'));
    else if (input.description.length > MAX_DESCRIPTION_LENGTH)
      issues.push(issue(['description'], 'TOO_LONG', `a description is at most ${MAX_DESCRIPTION_LENGTH} characters`));
    else settings.description = input.description;
  }

  if (input.eventTypes !== undefined && input.eventTypes !== null) {
    if (!Array.isArray(input.eventTypes)) issues.push(issue(['eventTypes'], 'INVALID_VALUE', 'eventTypes is a list of event type names'));
    else {
      const types: EventType[] = [];
      input.eventTypes.forEach((type: unknown, index) => {
        const path = ['eventTypes', String(index)];
        if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type)) {
          issues.push(issue(path, 'UNKNOWN_EVENT_TYPE', `unknown event type ${JSON.stringify(type)}; known: ${SUBSCRIBABLE_EVENT_TYPES.join(', ')}`));
        } else if (!(SUBSCRIBABLE_EVENT_TYPES as readonly string[]).includes(type)) {
          issues.push(issue(path, 'NOT_SUBSCRIBABLE', `${type} is sent only by sendTestWebhook, to the endpoint it names; it cannot be subscribed to`));
        } else if (!types.includes(type as EventType)) types.push(type as EventType);
      });
      if (input.eventTypes.length === 0)
        issues.push(issue(['eventTypes'], 'NO_EVENT_TYPES', 'an endpoint subscribes to at least one event type (omit eventTypes for the defaults)'));
      settings.eventTypes = types;
    }
  }

  if (input.filter !== undefined) {
    const filter = input.filter ?? {};
    if (filter.deviceIds !== undefined)
      settings.filter.deviceIds = checkList(
        filter.deviceIds,
        ['filter', 'deviceIds'],
        MAX_FILTER_DEVICE_IDS,
        isValidDeviceId,
        'INVALID_DEVICE_ID',
        'a device id is 1–64 characters of A–Z, a–z, 0–9, ".", "_" or "-"',
        issues,
      );
    if (filter.tags !== undefined)
      settings.filter.tags = checkList(
        filter.tags,
        ['filter', 'tags'],
        MAX_FILTER_TAGS,
        isValidTag,
        'INVALID_TAG',
        'a tag is 1–64 characters of A–Z, a–z, 0–9, ".", "_", ":", "=", "/" or "-"',
        issues,
      );
    if (filter.model !== undefined) {
      if (filter.model === null || filter.model === '') settings.filter.model = null;
      else if (!isValidModelName(filter.model))
        issues.push(issue(['filter', 'model'], 'INVALID_MODEL_NAME', 'a model name is 1–100 characters of letters, digits, space, ".", "_" or "-"'));
      else settings.filter.model = filter.model;
    }
  }

  if (input.maxInFlight !== undefined && input.maxInFlight !== null) {
    const n = input.maxInFlight;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < MIN_MAX_IN_FLIGHT || n > MAX_MAX_IN_FLIGHT) {
      issues.push(issue(['maxInFlight'], 'OUT_OF_RANGE', `maxInFlight is a whole number from ${MIN_MAX_IN_FLIGHT} to ${MAX_MAX_IN_FLIGHT}`));
    } else settings.maxInFlight = n;
  }

  if (input.enabled !== undefined && input.enabled !== null) {
    if (typeof input.enabled !== 'boolean') issues.push(issue(['enabled'], 'INVALID_VALUE', 'enabled is true or false'));
    else settings.enabled = input.enabled;
  }

  // telemetry.stored is the high-volume event: one per stored reading. Subscribing a whole fleet to it
  // by accident would flood the receiver and the outbox, so it needs a filter naming which devices.
  const filtered = settings.filter.deviceIds.length > 0 || settings.filter.tags.length > 0 || settings.filter.model !== null;
  if (settings.eventTypes.includes('telemetry.stored') && !filtered && !issues.some((i) => i.path[0] === 'filter')) {
    issues.push(issue(['filter'], 'FILTER_REQUIRED', 'telemetry.stored needs a device filter (deviceIds, tags or model): it is one event per stored reading'));
  }

  return issues.length > 0 ? { ok: false, issues } : { ok: true, settings };
}

function checkList(
  value: unknown,
  path: string[],
  max: number,
  valid: (v: unknown) => boolean,
  code: EndpointIssueCode,
  message: string,
  issues: FieldIssue[],
): string[] {
  if (value === null) return [];
  if (!Array.isArray(value)) {
    issues.push(issue(path, 'INVALID_VALUE', 'a list of strings'));
    return [];
  }
  if (value.length > max) {
    issues.push(issue(path, 'TOO_MANY', `at most ${max}`));
    return [];
  }
  const out: string[] = [];
  value.forEach((v: unknown, index) => {
    if (!valid(v)) issues.push(issue([...path, String(index)], code, message));
    else if (!out.includes(v as string)) out.push(v as string);
  });
  return out;
}

/** A new endpoint's settings before the caller's input: every default in one place. */
export function defaultSettings(maxInFlight: number): EndpointSettings {
  return {
    url: '',
    description: null,
    eventTypes: [...DEFAULT_EVENT_TYPES],
    filter: { deviceIds: [], tags: [], model: null },
    maxInFlight,
    enabled: true,
  };
}
