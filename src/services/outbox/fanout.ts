/**
 * The webhook fan-out every producer appends to its own statement (docs/outbox.md "Writing events: in
 * the change's own statement"): the events a change describes × the endpoints that want them, inserted
 * into "Outbox" by the statement (or transaction) that makes the change, so a committed change always
 * has its events and a rolled-back one never does.
 *
 * One SQL fragment, shared by every producer, so the endpoint match (the shared contract: enabled, same
 * tenant, subscribed type, device-id / tags / model filters) is written once. A producer supplies the
 * events as a relation with the columns of {@link FANOUT_SOURCE_COLUMNS}; the fragment joins it to the
 * endpoints and inserts one WEBHOOK row per (event, endpoint).
 */
import { isEventType, type EventType } from '../../domain/webhooks/envelope.ts';
import type { Metrics } from '../../metrics.ts';

/**
 * What each row of a fan-out source must carry, by column name:
 * - `event_id` uuid: one per change, shared by every endpoint it goes to (the `webhook-id`). Generate
 *   it with gen_random_uuid() in a sub-select per change, BEFORE the endpoint join (a volatile call in a
 *   sub-select is evaluated once per row of that sub-select, so the join copies it).
 * - `tenant_id` text, `device_key` uuid ("Device".id), `device_id` text (the public id), `device_tags`
 *   text[], `model_name` text (DeviceModel.name, NULL without a model): what the endpoint filters see.
 * - `type` text: an EVENT_TYPES name (see {@link eventTypeSql}); `occurred_at` timestamptz; `data` jsonb.
 * - `ord`: any sortable value that orders the events of one device as they happened (seq follows it).
 */
export const FANOUT_SOURCE_COLUMNS = [
  'event_id',
  'tenant_id',
  'device_key',
  'device_id',
  'device_tags',
  'model_name',
  'type',
  'occurred_at',
  'data',
  'ord',
] as const;

/** The metric counting WEBHOOK rows written by the change statements, labelled by event type. */
export const OUTBOX_EVENTS_WRITTEN_METRIC = 'doppel_outbox_events_written_total';

/**
 * An event type as a SQL literal. Only names from the closed list pass (a typo would otherwise write
 * rows no endpoint subscribes to, or that the deliverer refuses).
 */
export function eventTypeSql(type: EventType): string {
  if (!isEventType(type)) throw new Error(`not an event type: ${String(type)}`);
  return `'${type}'::text`;
}

/**
 * The endpoint match of a fan-out (shared contract 2), for endpoints aliased `w` and a source aliased
 * `e`. `coalesce` because the array columns are nullable: a NULL filter means no filter.
 */
export const ENDPOINT_MATCH_SQL = `w.enabled
       AND w."tenantId" = e.tenant_id
       AND e.type = ANY(w."eventTypes")
       AND (cardinality(coalesce(w."filterDeviceIds", '{}')) = 0 OR e.device_id = ANY(w."filterDeviceIds"))
       AND coalesce(w."filterTags", '{}') <@ e.device_tags
       AND (w."filterModel" IS NULL OR e.model_name = w."filterModel")`;

/**
 * The columns of a device the filters read, for a device row aliased `d` and its model `m`
 * (`LEFT JOIN "DeviceModel" m ON m.id = d."modelId"`).
 */
export const DEVICE_FACTS_SQL = `d."tenantId" AS tenant_id, d.id AS device_key, d."deviceId" AS device_id, d.tags AS device_tags, m.name AS model_name`;

/**
 * A data-modifying CTE named `name` that inserts the fan-out of the events `source` selects (a query
 * returning {@link FANOUT_SOURCE_COLUMNS}). Rows are inserted in (endpoint, device, ord) order: one
 * order for every producer, so concurrent statements take the index entries in the same order, and
 * `seq` follows the events' order within each (endpoint, device) stream. A repeated (eventId,
 * endpointId) is skipped, never an error. It returns one row per inserted row (`type`), so the
 * statement can count what it wrote with {@link eventsWrittenSql}.
 *
 * With no matching endpoint the join is empty and nothing is written.
 */
export function webhookFanoutCte(name: string, source: string): string {
  return `${name} AS (
         INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", "deviceKey", type, "occurredAt", data)
         SELECT gen_random_uuid(), e.event_id, e.tenant_id, 'WEBHOOK', w.id, e.device_key, e.type, e.occurred_at, e.data
           FROM (${source}) AS e
           JOIN "WebhookEndpoint" w ON ${ENDPOINT_MATCH_SQL}
          ORDER BY w.id, e.device_key, e.ord
         ON CONFLICT ("eventId", "endpointId") DO NOTHING
         RETURNING type
       )`;
}

/** A scalar expression: the rows the fan-out CTE `name` inserted (evaluated once per statement). */
export function eventsWrittenSql(name: string): string {
  return `(SELECT count(*) FROM ${name})::int`;
}

/** Adds rows written by a change statement to {@link OUTBOX_EVENTS_WRITTEN_METRIC}. */
export type EventsWrittenCounter = (type: EventType, rows: number) => void;

/** The counter over `metrics` (nothing is counted without metrics, e.g. in tools). */
export function eventsWrittenCounter(metrics: Metrics | undefined): EventsWrittenCounter {
  metrics?.describe(OUTBOX_EVENTS_WRITTEN_METRIC, 'Webhook outbox rows written by the change statements, by event type');
  return (type, rows) => {
    if (metrics && rows > 0) metrics.inc(OUTBOX_EVENTS_WRITTEN_METRIC, { type }, rows);
  };
}

/** A timestamp as ISO-8601 UTC with milliseconds and `Z`, the way the envelope writes times (SQL). */
export function isoTimestampSql(expression: string): string {
  return `to_char((${expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}
