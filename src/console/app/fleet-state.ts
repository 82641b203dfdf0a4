/**
 * The fleet page's state changes, kept pure so they are tested without a browser: live connection
 * events applied to the loaded rows, open alarms by device, and the twin condition typed in the filter.
 */
import type { TwinPathCondition } from './gql/graphql.ts';

export interface FleetRow {
  deviceId: string;
  name: string | null;
  connected: boolean;
  lastSeenAt: string | null;
  tags: string[];
  model: string | null;
  hasDelta: boolean;
}

/** One connection event applied to the rows (a device not in the list, e.g. filtered out, changes nothing). */
export function applyConnection(rows: FleetRow[], event: { deviceId: string; connected: boolean; at: string }): FleetRow[] {
  const index = rows.findIndex((row) => row.deviceId === event.deviceId);
  if (index < 0) return rows;
  const row = rows[index]!;
  // Events can arrive after a fresher page read: never move lastSeen backwards.
  if (row.lastSeenAt && Date.parse(row.lastSeenAt) > Date.parse(event.at)) return rows;
  const next = rows.slice();
  next[index] = { ...row, connected: event.connected, lastSeenAt: event.at };
  return next;
}

const OPEN = new Set(['ACTIVE', 'ACKNOWLEDGED', 'LATCHED']);

/** Device id → its open alarm ids, after applying alarm states (CLEARED removes one). */
export function openAlarmDevices(
  current: ReadonlyMap<string, ReadonlySet<string>>,
  alarms: ReadonlyArray<{ alarmId: string; deviceId: string; status: string }>,
): ReadonlyMap<string, ReadonlySet<string>> {
  const next = new Map(current);
  for (const alarm of alarms) {
    const ids = new Set(next.get(alarm.deviceId) ?? []);
    if (OPEN.has(alarm.status)) ids.add(alarm.alarmId);
    else ids.delete(alarm.alarmId);
    if (ids.size > 0) next.set(alarm.deviceId, ids);
    else next.delete(alarm.deviceId);
  }
  return next;
}

const OPERATORS = { '==': 'eq', '!=': 'ne', '<': 'lt', '>': 'gt' } as const;

/**
 * `path op value` as a TwinPathCondition: `firmware == "1.2"`, `temperature > 30`, `door.open == true`,
 * `battery exists`, `battery missing`; a dotted path walks into objects (`fw.version`). The value is JSON (a bare word is taken as a string).
 */
export function parseCondition(text: string): { ok: true; value: TwinPathCondition } | { ok: false; problem: string } {
  const existence = /^([^\s=!<>]+)\s+(exists|missing)$/.exec(text.trim());
  if (existence) return { ok: true, value: { path: existence[1]!.split('.'), exists: existence[2] === 'exists' } };
  const match = /^([^\s=!<>]+)\s*(==|!=|<|>)\s*(.+)$/.exec(text.trim());
  if (!match) return { ok: false, problem: `Write a condition as path, operator, value: firmware == "1.2", temperature > 30, battery exists (got ${text})` };
  const [, path, operator, raw] = match as unknown as [string, string, keyof typeof OPERATORS, string];
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw.trim();
  }
  if (value === null || typeof value === 'object') return { ok: false, problem: `The value must be a string, number or boolean (got ${raw})` };
  return { ok: true, value: { path: path.split('.'), [OPERATORS[operator]]: value } };
}
