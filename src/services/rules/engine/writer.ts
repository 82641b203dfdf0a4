/**
 * The one statement that stores what a batch did to its rules (docs/rules.md "Windows and alarms"):
 * the "RuleState" rows (each guarded by its revision, or inserted if new), the alarms (opened with
 * ON CONFLICT DO NOTHING on the partial unique index "Alarm_open_key", so two writers can never open
 * two; updated only if still in the status the transition started from, and before the inserts, so a
 * pair's old alarm closed and new one opened by the same evaluation both land), their history rows, and the
 * outbox rows of contract 1 (docs/outbox.md): the ACTION rows of the rule's actions and the
 * alarm.changed WEBHOOK rows of the endpoints that match (or that a notifyWebhook action names).
 *
 * Every write after the state's hangs on the state write having won (its RETURNING), so a pair whose
 * guard was lost writes nothing at all; the caller reloads and redoes those. One statement, so a
 * failure leaves none of it.
 */
import type { SqlExecutor as SqlRunner } from '../../../db/client.ts';
import type { WritePlan } from './types.ts';

export interface WriteResult {
  /** `${ruleId}:${deviceUuid}` of the pairs whose state write won. */
  won: Set<string>;
  /** Ids of the alarms inserted or updated. */
  alarms: Set<string>;
}

export const pairKey = (ruleId: string, deviceUuid: string) => `${ruleId}:${deviceUuid}`;

const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

const STATEMENT = `
WITH s AS (
  SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::jsonb[], $9::timestamptz[], $10::uuid[], $11::jsonb[], $12::bigint[])
    AS t(rule_id, device_id, rule_version, phase, pending_since, deadline_at, last_ts, last_value, as_of, alarm_id, recent_edges, expected)
), upd AS (
  UPDATE "RuleState" r SET "ruleVersion" = s.rule_version, phase = s.phase, "pendingSince" = s.pending_since, "deadlineAt" = s.deadline_at,
         "lastTs" = s.last_ts, "lastValue" = s.last_value, "asOf" = s.as_of, "alarmId" = s.alarm_id, "recentEdges" = s.recent_edges,
         revision = r.revision + 1, "updatedAt" = now()
    FROM s WHERE s.expected IS NOT NULL AND r."ruleId" = s.rule_id AND r."deviceId" = s.device_id AND r.revision = s.expected
  RETURNING r."ruleId" AS rule_id, r."deviceId" AS device_id
), ins AS (
  INSERT INTO "RuleState" ("ruleId", "deviceId", "ruleVersion", phase, "pendingSince", "deadlineAt", "lastTs", "lastValue", "asOf", "alarmId", "recentEdges")
  SELECT rule_id, device_id, rule_version, phase, pending_since, deadline_at, last_ts, last_value, as_of, alarm_id, recent_edges FROM s WHERE s.expected IS NULL
  ON CONFLICT ("ruleId", "deviceId") DO NOTHING
  RETURNING "ruleId" AS rule_id, "deviceId" AS device_id
), won AS (
  SELECT rule_id, device_id FROM upd UNION ALL SELECT rule_id, device_id FROM ins
), a AS (
  SELECT * FROM unnest($13::uuid[], $14::boolean[], $15::text[], $16::text[], $17::uuid[], $18::uuid[], $19::int[], $20::text[], $21::text[],
                       $22::timestamptz[], $23::jsonb[], $24::timestamptz[], $25::jsonb[], $26::timestamptz[], $27::text[], $28::boolean[])
    AS t(id, is_new, expected_status, tenant_id, rule_id, device_id, rule_version, status, severity, raised_at, raised_value, cleared_at, cleared_value, ack_at, ack_by, flapping)
  WHERE (rule_id, device_id) IN (SELECT rule_id, device_id FROM won)
), a_upd AS (
  UPDATE "Alarm" x SET status = a.status, severity = a.severity, "ruleVersion" = a.rule_version, "raisedAt" = a.raised_at, "raisedValue" = a.raised_value,
         "clearedAt" = a.cleared_at, "clearedValue" = a.cleared_value, "acknowledgedAt" = a.ack_at, "acknowledgedBy" = a.ack_by, flapping = a.flapping, "updatedAt" = now()
    FROM a WHERE NOT a.is_new AND x.id = a.id AND x.status = a.expected_status
  RETURNING x.id
), a_ins AS (
  -- Reads a_upd first (its row count, always >= 0), so the updates have run when the inserts check
  -- "Alarm_open_key": an alarm this statement closes no longer blocks the one it opens on the same pair.
  INSERT INTO "Alarm" (id, "tenantId", "ruleId", "ruleVersion", "deviceId", status, severity, "raisedAt", "raisedValue", "clearedAt", "clearedValue", "acknowledgedAt", "acknowledgedBy", flapping)
  SELECT id, tenant_id, rule_id, rule_version, device_id, status, severity, raised_at, raised_value, cleared_at, cleared_value, ack_at, ack_by, flapping FROM a
   WHERE is_new AND (SELECT count(*) FROM a_upd) >= 0
  ON CONFLICT ("ruleId", "deviceId") WHERE status <> 'CLEARED' DO NOTHING
  RETURNING id
), done AS (
  SELECT id FROM a_ins UNION ALL SELECT id FROM a_upd
), e AS (
  SELECT * FROM unnest($29::uuid[], $30::text[], $31::text[], $32::text[], $33::jsonb[], $34::text[], $35::text[], $36::timestamptz[], $37::int[])
    AS t(alarm_id, from_status, to_status, cause, value, actor, comment, at, ord)
  WHERE alarm_id IN (SELECT id FROM done)
), e_ins AS (
  INSERT INTO "AlarmEvent" ("alarmId", "fromStatus", "toStatus", cause, value, actor, comment, at)
  SELECT alarm_id, from_status, to_status, cause, value, actor, comment, at FROM e ORDER BY ord
  RETURNING 1
), w AS (
  SELECT * FROM unnest($38::uuid[], $39::text[], $40::uuid[], $41::uuid[], $42::text[], $43::jsonb[], $44::jsonb[])
    AS t(event_id, tenant_id, alarm_id, device_uuid, device_id, data, extra)
  WHERE alarm_id IN (SELECT id FROM done)
), w_ins AS (
  INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", "alarmId", "deviceKey", type, "occurredAt", data)
  SELECT gen_random_uuid(), w.event_id, w.tenant_id, 'WEBHOOK', ep.id, w.alarm_id, w.device_uuid, 'alarm.changed', now(), w.data
    FROM w JOIN "Device" d ON d.id = w.device_uuid
    LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
    JOIN "WebhookEndpoint" ep ON ep.enabled AND ep."tenantId" = w.tenant_id AND (
      ('alarm.changed' = ANY(ep."eventTypes")
        AND (cardinality(ep."filterDeviceIds") = 0 OR d."deviceId" = ANY(ep."filterDeviceIds"))
        AND ep."filterTags" <@ d.tags
        AND (ep."filterModel" IS NULL OR ep."filterModel" = m.name))
      OR ep.id::text IN (SELECT jsonb_array_elements_text(w.extra)))
  ON CONFLICT ("eventId", "endpointId") DO NOTHING
  RETURNING 1
), o AS (
  SELECT * FROM unnest($45::uuid[], $46::text[], $47::text[], $48::uuid[], $49::text[], $50::jsonb[])
    AS t(event_id, tenant_id, action_key, alarm_id, target, data)
  WHERE alarm_id IN (SELECT id FROM done)
), o_ins AS (
  INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "actionKey", "alarmId", "deviceKey", type, "occurredAt", data)
  SELECT gen_random_uuid(), o.event_id, o.tenant_id, 'ACTION', o.action_key, o.alarm_id, d.id, 'rule.action', now(), o.data
    FROM o LEFT JOIN "Device" d ON d."tenantId" = o.tenant_id AND d."deviceId" = o.target
  ON CONFLICT ("eventId", "actionKey") DO NOTHING
  RETURNING 1
)
SELECT 'state' AS kind, rule_id::text || ':' || device_id::text AS key FROM won
UNION ALL SELECT 'alarm', id::text FROM done
UNION ALL SELECT 'counts', (SELECT count(*) FROM e_ins)::text || ',' || (SELECT count(*) FROM w_ins)::text || ',' || (SELECT count(*) FROM o_ins)::text`;

/** Writes a plan in one statement; returns which pairs and alarms it stored. */
export async function writePlan(sql: SqlRunner, plan: WritePlan): Promise<WriteResult> {
  const won = new Set<string>();
  const alarms = new Set<string>();
  if (plan.states.length === 0) return { won, alarms };
  const { states: st, alarms: al, events: ev, actions: ac } = plan;
  const notified = ev.filter((e) => e.notify);
  const rows = await sql.query<{ kind: string; key: string }>(STATEMENT, [
    st.map((s) => s.ruleId),
    st.map((s) => s.deviceUuid),
    st.map((s) => s.ruleVersion),
    st.map((s) => s.phase),
    st.map((s) => time(s.pendingSince)),
    st.map((s) => time(s.deadlineAt)),
    st.map((s) => time(s.lastTs)),
    st.map((s) => json(s.lastValue)),
    st.map((s) => time(s.asOf)),
    st.map((s) => s.alarmId),
    st.map((s) => JSON.stringify(s.recentEdges)),
    st.map((s) => s.expectedRevision),
    al.map((a) => a.id),
    al.map((a) => a.isNew),
    al.map((a) => a.expectedStatus),
    al.map((a) => a.tenantId),
    al.map((a) => a.ruleId),
    al.map((a) => a.deviceUuid),
    al.map((a) => a.ruleVersion),
    al.map((a) => a.status),
    al.map((a) => a.severity),
    al.map((a) => time(a.raisedAt)),
    al.map((a) => json(a.raisedValue ?? undefined)),
    al.map((a) => time(a.clearedAt)),
    al.map((a) => json(a.clearedValue ?? undefined)),
    al.map((a) => time(a.acknowledgedAt)),
    al.map((a) => a.acknowledgedBy),
    al.map((a) => a.flapping),
    ev.map((e) => e.alarmId),
    ev.map((e) => e.from),
    ev.map((e) => e.to),
    ev.map((e) => e.cause),
    ev.map((e) => json(e.value)),
    ev.map((e) => e.actor),
    ev.map((e) => e.comment),
    ev.map((e) => time(e.at)),
    ev.map((_, i) => i),
    notified.map((e) => e.eventId),
    notified.map((e) => e.tenantId),
    notified.map((e) => e.alarmId),
    notified.map((e) => e.deviceUuid),
    notified.map((e) => e.deviceId),
    notified.map((e) =>
      JSON.stringify({
        deviceId: e.deviceId,
        alarmId: e.alarmId,
        ruleId: e.ruleId,
        ruleVersion: e.ruleVersion,
        severity: e.severity,
        from: e.from,
        to: e.to,
        cause: e.cause,
        value: e.value ?? null,
        at: new Date(e.at).toISOString(),
      }),
    ),
    notified.map((e) => JSON.stringify(e.notifyEndpoints)),
    ac.map((a) => a.eventId),
    ac.map((a) => a.tenantId),
    ac.map((a) => a.actionKey),
    ac.map((a) => a.alarmId),
    ac.map((a) => a.targetDeviceId),
    ac.map((a) => JSON.stringify(a.data)),
  ]);
  for (const row of rows) {
    if (row.kind === 'state') won.add(row.key);
    else if (row.kind === 'alarm') alarms.add(row.key);
  }
  return { won, alarms };
}
