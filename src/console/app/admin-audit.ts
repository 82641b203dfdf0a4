/**
 * Pure rules of the audit log page (src/console/app/admin-audit-page.tsx), unit-tested in
 * test/console/admin-pages-logic.test.ts. The API filters the log by action and by target only
 * (`auditLog(action:, target:)`), newest first, paged forward with `after`.
 */

/**
 * Events asked for per page. The API serves up to 500, but the page's query must stay under the API's
 * query cost limit (10,000): each event costs about 9, so 100 a page is ≈ 900 and leaves room for the
 * details JSON to grow without a refusal.
 */
export const AUDIT_PAGE_SIZE = 100;

/** The actions the server records (src/services/audit.ts), offered as suggestions in the filter. */
export const KNOWN_AUDIT_ACTIONS: readonly string[] = [
  'apiToken.create',
  'apiToken.revoke',
  'device.register',
  'device.update',
  'device.delete',
  'device.rotateCredentials',
  'twin.updateDesired',
  'command.send',
  'command.cancel',
  'model.create',
  'model.update',
  'model.delete',
  'rule.create',
  'rule.update',
  'rule.delete',
  'alarm.acknowledge',
  'alarm.clear',
  'alarm.comment',
  'webhook.create',
  'webhook.update',
  'webhook.delete',
  'webhook.rotateSecret',
  'provisioning.createPolicy',
  'provisioning.updatePolicy',
  'provisioning.enablePolicy',
  'provisioning.disablePolicy',
  'provisioning.deletePolicy',
  'provisioning.rotate',
  'deviceCertificate.register',
  'deviceCertificate.revoke',
  'certificateAuthority.upload',
  'certificateAuthority.remove',
  'deadLetter.replay',
  'deadLetter.discard',
];

export interface AuditFilterForm {
  action: string;
  target: string;
}

/** The filter as query variables: blank fields are left out (the API then does not filter on them). */
export function auditFilterVariables(form: AuditFilterForm): { action?: string; target?: string } {
  const action = form.action.trim();
  const target = form.target.trim();
  return { ...(action ? { action } : {}), ...(target ? { target } : {}) };
}

/**
 * Who acted, for a person: the token's name at the time with its kind (`ci (token)`), a device id, or
 * the system part. The raw actor (`token:<uuid>`) stays available as the cell's title.
 */
export function describeActor(actor: string, actorName: string | null | undefined): string {
  const colon = actor.indexOf(':');
  const kind = colon > 0 ? actor.slice(0, colon) : actor;
  const id = colon > 0 ? actor.slice(colon + 1) : '';
  if (actorName) return kind === actor ? actorName : `${actorName} (${kind})`;
  if (kind === 'device') return `device ${id}`;
  return actor;
}

const MAX_VALUE_CHARS = 120;

function shortValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

/**
 * An event's details as `key: value` lines: nested objects are walked to dotted keys (`patch.fan.speed`),
 * lists and scalars printed as JSON, long values cut at 120 characters (the whole JSON is the cell's title).
 * Details that are not an object (never written today, but the column is JSON) are one line under "value".
 */
export function describeDetails(details: unknown): Array<{ key: string; value: string }> {
  const lines: Array<{ key: string; value: string }> = [];
  const walk = (value: unknown, prefix: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
      for (const [key, inner] of Object.entries(value)) walk(inner, prefix ? `${prefix}.${key}` : key);
    } else lines.push({ key: prefix, value: shortValue(value) });
  };
  if (details === null || details === undefined) return [];
  if (typeof details !== 'object' || Array.isArray(details)) return [{ key: 'value', value: shortValue(details) }];
  if (Object.keys(details).length === 0) return [];
  walk(details, '');
  return lines;
}

/** How long ago, in the largest whole unit: "just now", "5 min ago", "3 h ago", "2 days ago"; future times (clock skew) read "just now". */
export function timeAgo(iso: string, now: Date): string {
  const seconds = Math.floor((now.getTime() - Date.parse(iso)) / 1000);
  if (Number.isNaN(seconds)) return '';
  if (seconds < 60) return 'just now';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** Appends an older page to the events shown, dropping any event already there (a page read twice after a reload). */
export function appendOlder<T extends { id: string }>(shown: readonly T[], older: readonly T[]): T[] {
  const seen = new Set(shown.map((event) => event.id));
  return [...shown, ...older.filter((event) => !seen.has(event.id))];
}
