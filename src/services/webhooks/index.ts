/**
 * Webhook endpoints of a tenant (docs/webhooks.md): what admins create, change, rotate and inspect.
 * Delivery itself is the outbox deliverer's (src/services/outbox/); this service writes endpoints and
 * their sealed secrets, reads the outbox rows of an endpoint, and puts rows back to PENDING
 * (redelivery) or adds one (the test event). Every mutation is audited (src/services/audit.ts).
 *
 * Why these choices:
 *
 * - The signing secret is shown once, in the answer to create and rotate, and stored only sealed
 *   (src/security/webhook-key.ts): Doppel must sign with it, so it cannot keep a hash as for device
 *   secrets, and a database dump without the sealing key reveals no secret. Reads never return it.
 * - Writes are single statements (CTEs): an endpoint never exists without its secret, a rotation never
 *   leaves the old secret unexpired next to the new one or the other way round.
 * - Tenant isolation is in every WHERE clause: an endpoint id of another tenant is NOT_FOUND, the same
 *   answer as an id that does not exist.
 * - The URL is checked against the SSRF policy and its host resolved when it is saved
 *   (destination-check.ts), so the admin learns at once that 10.0.0.5 is refused; the deliverer checks
 *   again before every attempt, as DNS answers and the policy change over time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../../config.ts';
import type { SqlExecutor } from '../../db/client.ts';
import { failed, NotFoundError, ValidationError, type Failed, type FieldIssue } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { Actor } from '../../domain/principal.ts';
import { eventIdOf } from '../../domain/webhooks/envelope.ts';
import { generateSecret } from '../../domain/webhooks/signing.ts';
import type { Metrics } from '../../metrics.ts';
import type { SecretSealer } from '../../security/webhook-key.ts';
import type { AuditLog } from '../audit.ts';
import { checkDestination, policyOf, systemResolver, type HostResolver } from './destination-check.ts';
import { defaultSettings, mergeEndpointInput, type EndpointInput, type EndpointSettings } from './input.ts';
import { rowToDelivery, rowToEndpoint, type AttemptRow, type DeliveryRow, type EndpointRow } from './rows.ts';
import type { WebhookDelivery, WebhookEndpoint } from './types.ts';

export type { DeliveryAttempt, WebhookDelivery, WebhookEndpoint } from './types.ts';

export type { EndpointFilter, EndpointInput } from './input.ts';
export type { HostResolver } from './destination-check.ts';

export const ENDPOINT_REFUSALS_METRIC = 'doppel_webhook_endpoint_refusals_total';

/** A rotation keeps the old secret signing this long by default, and at most this long. */
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 24 * 3600;
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 3600;
/** Most FAILED events one redeliverWebhooks call puts back (call again while `more` is true). */
export const MAX_REDELIVER_BATCH = 10_000;
export const MAX_DELIVERIES_PAGE = 500;

export const DELIVERY_STATUSES = ['PENDING', 'DELIVERED', 'FAILED'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** An endpoint with the secret, as create and rotate return it: the only time the secret is shown. */
export interface EndpointWithSecret {
  ok: true;
  endpoint: WebhookEndpoint;
  /** `whsec_…` (Standard Webhooks format). */
  secret: string;
}

export interface DeliveryPage {
  ok: true;
  deliveries: WebhookDelivery[];
  hasNextPage: boolean;
  totalCount: number;
}

export interface DeliveryQuery {
  endpointId: string;
  status?: DeliveryStatus | null;
  /** Page size (0–MAX_DELIVERIES_PAGE). */
  first: number;
  /** Only rows with a lower seq (the cursor of the previous page). */
  afterSeq?: bigint | null;
}

export interface WebhookService {
  /**
   * Creates an endpoint and its first secret. Defaults: DEFAULT_EVENT_TYPES, no filter, enabled,
   * maxInFlight from WEBHOOK_MAX_IN_FLIGHT. Refusals are one ValidationError listing every bad field
   * (codes in input.ts EndpointIssueCode), nothing stored. Audited as `webhook.create`.
   */
  createEndpoint(actor: Actor, input: EndpointInput): Promise<EndpointWithSecret | Failed<ValidationError>>;
  /** Changes the fields given (not `enabled`: enableEndpoint/disableEndpoint). Audited as `webhook.update`. */
  updateEndpoint(
    actor: Actor,
    id: string,
    input: Omit<EndpointInput, 'enabled'>,
  ): Promise<{ ok: true; endpoint: WebhookEndpoint } | Failed<ValidationError | NotFoundError>>;
  /** Enables it and forgets its failure streak (consecutiveFailures, failingSince, disabledReason). Audited as `webhook.enable`. */
  enableEndpoint(actor: Actor, id: string): Promise<{ ok: true; endpoint: WebhookEndpoint } | Failed<NotFoundError>>;
  /** Stops deliveries to it (disabledReason ADMIN); its events keep accumulating as PENDING. Audited as `webhook.disable`. */
  disableEndpoint(actor: Actor, id: string): Promise<{ ok: true; endpoint: WebhookEndpoint } | Failed<NotFoundError>>;
  /** Deletes it with its secrets and every outbox row of it (any status). Audited as `webhook.delete`. */
  deleteEndpoint(actor: Actor, id: string): Promise<{ ok: true; id: string; deletedEvents: number } | Failed<NotFoundError>>;
  /**
   * A new secret; every secret live now expires after `overlapSeconds` (default 24 h, 0–7 days) and
   * signs until then next to the new one. Returns the new secret, once. Audited as `webhook.rotateSecret`.
   */
  rotateSecret(actor: Actor, id: string, overlapSeconds?: number | null): Promise<EndpointWithSecret | Failed<ValidationError | NotFoundError>>;
  listEndpoints(tenantId: string): Promise<WebhookEndpoint[]>;
  endpoint(tenantId: string, id: string): Promise<WebhookEndpoint | undefined>;
  /** The endpoint's outbox rows, newest (highest seq) first, with their attempts. NOT_FOUND for an endpoint of another tenant. */
  deliveries(tenantId: string, query: DeliveryQuery): Promise<DeliveryPage | Failed<NotFoundError>>;
  /**
   * Every WEBHOOK row of one event (`evt_…` or its uuid) in the actor's tenant back to PENDING, due now,
   * with a fresh max-age window; attempts are kept. Audited as `webhook.redeliver`.
   */
  redeliverEvent(actor: Actor, eventId: string): Promise<{ ok: true; eventId: string; count: number } | Failed<NotFoundError>>;
  /**
   * FAILED rows of the endpoint created at or after `since` back to PENDING, at most MAX_REDELIVER_BATCH,
   * oldest first; `more` says whether FAILED rows since remain. Audited as `webhook.redeliverFailed`.
   */
  redeliverFailed(actor: Actor, endpointId: string, since: Date): Promise<{ ok: true; count: number; more: boolean } | Failed<NotFoundError | ValidationError>>;
  /** Adds one `webhook.test` event for the endpoint (whatever it subscribes to). Audited as `webhook.test`. */
  sendTestEvent(actor: Actor, endpointId: string): Promise<{ ok: true; eventId: string } | Failed<NotFoundError>>;
}

export interface WebhookServiceOptions {
  sql: SqlExecutor;
  audit: AuditLog;
  metrics: Metrics;
  config: Pick<Config['webhooks'], 'allowHttp' | 'allowedNetworks' | 'maxInFlight'>;
  sealer: SecretSealer;
  /** DNS (tests pass a fake); default node:dns lookup of A and AAAA. */
  resolveHost?: HostResolver;
  random?: (size: number) => Buffer;
}

const ENDPOINT_COLUMNS = `e.id::text AS id, e."tenantId", e.url, e.description, e."eventTypes", e."filterDeviceIds", e."filterTags", e."filterModel",
  e.enabled, e."disabledReason", e."disabledAt", e."maxInFlight", e."consecutiveFailures", e."failingSince", e."createdBy", e."createdAt", e."updatedAt",
  (SELECT count(*)::int FROM "WebhookSecret" s WHERE s."endpointId" = e.id AND (s."expiresAt" IS NULL OR s."expiresAt" > now())) AS "liveSecrets",
  (SELECT max(s."expiresAt") FROM "WebhookSecret" s WHERE s."endpointId" = e.id AND s."expiresAt" > now()) AS "oldSecretExpiresAt"`;

const DELIVERY_COLUMNS = `o.id::text AS id, o.seq::text AS seq, o."eventId"::text AS "eventId", o.type, o.data->>'deviceId' AS "deviceId", o.status,
  o.attempts, o."nextAttemptAt", o."lastStatus", o."lastError", o."occurredAt", o."deliveredAt", o."failedAt", o."createdAt"`;

/** The assignments that put a row back to PENDING, due now, with a fresh max-age window. A row in flight keeps its lease. */
const BACK_TO_PENDING = `status = 'PENDING', "scheduleStart" = now(), "nextAttemptAt" = now(), "deliveredAt" = NULL, "failedAt" = NULL,
  "leasedUntil" = CASE WHEN status = 'PENDING' THEN "leasedUntil" END, "leaseToken" = CASE WHEN status = 'PENDING' THEN "leaseToken" END`;

/** `evt_<32 hex>` or a uuid, as the uuid stored in "Outbox"."eventId". */
export function eventUuidOf(eventId: string): string | null {
  const text = eventId.trim();
  if (isUuid(text)) return text.toLowerCase();
  const match = /^evt_([0-9a-f]{32})$/i.exec(text);
  if (!match) return null;
  const h = match[1]!.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function createWebhookService(options: WebhookServiceOptions): WebhookService {
  const { sql, audit, metrics, sealer } = options;
  const resolveHost = options.resolveHost ?? systemResolver;
  const random = options.random ?? randomBytes;
  const policy = policyOf(options.config);
  metrics.describe(ENDPOINT_REFUSALS_METRIC, 'Webhook endpoint creates and updates refused, by the first failing field code.');

  const notFound = (id: string) => failed(new NotFoundError('WebhookEndpoint', id));

  function refuse(issues: FieldIssue[]): Failed<ValidationError> {
    metrics.inc(ENDPOINT_REFUSALS_METRIC, { code: issues[0]!.code });
    return failed(new ValidationError(`webhook endpoint refused: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, issues));
  }

  /** The merged settings with the URL normalized, or every issue. DNS is asked only when the rest is valid. */
  async function settle(
    base: EndpointSettings,
    input: EndpointInput,
    checkUrl: boolean,
  ): Promise<{ ok: true; settings: EndpointSettings } | Failed<ValidationError>> {
    const merged = mergeEndpointInput(base, input);
    if (!merged.ok) return refuse(merged.issues);
    if (!checkUrl) return merged;
    const destination = await checkDestination(merged.settings.url, policy, resolveHost);
    if (!destination.ok) return refuse([destination.issue]);
    return { ok: true, settings: { ...merged.settings, url: destination.url } };
  }

  async function load(tenantId: string, id: string): Promise<WebhookEndpoint | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = await sql.query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM "WebhookEndpoint" e WHERE e.id = $1::uuid AND e."tenantId" = $2`, [
      id,
      tenantId,
    ]);
    return rows[0] ? rowToEndpoint(rows[0]) : undefined;
  }

  async function loadOrThrow(tenantId: string, id: string): Promise<WebhookEndpoint> {
    const endpoint = await load(tenantId, id);
    // Only after a write in this tenant that returned the row: a concurrent delete is the one way here.
    if (!endpoint) throw new NotFoundError('WebhookEndpoint', id);
    return endpoint;
  }

  const describeSettings = (s: EndpointSettings) => ({
    url: s.url,
    eventTypes: s.eventTypes,
    filter: { deviceIds: s.filter.deviceIds, tags: s.filter.tags, model: s.filter.model },
    maxInFlight: s.maxInFlight,
  });

  async function createEndpoint(actor: Actor, input: EndpointInput): Promise<EndpointWithSecret | Failed<ValidationError>> {
    const settled = await settle(defaultSettings(options.config.maxInFlight), input, true);
    if (!settled.ok) return settled;
    const s = settled.settings;
    const id = randomUUID();
    const secret = generateSecret(random);
    await sql.query(
      `WITH endpoint AS (
         INSERT INTO "WebhookEndpoint" (id, "tenantId", url, description, "eventTypes", "filterDeviceIds", "filterTags", "filterModel",
                                        enabled, "disabledReason", "disabledAt", "maxInFlight", "createdBy")
         VALUES ($1::uuid, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8, $9::boolean,
                 CASE WHEN $9::boolean THEN NULL ELSE 'ADMIN' END, CASE WHEN $9::boolean THEN NULL ELSE now() END, $10::int, $11)
         RETURNING id)
       INSERT INTO "WebhookSecret" (id, "endpointId", sealed) SELECT gen_random_uuid(), id, $12 FROM endpoint`,
      [
        id,
        actor.tenantId,
        s.url,
        s.description,
        s.eventTypes,
        s.filter.deviceIds,
        s.filter.tags,
        s.filter.model,
        s.enabled,
        s.maxInFlight,
        actor.actorName ?? actor.actor,
        sealer.seal(id, secret),
      ],
    );
    await audit.record({ ...actor, action: 'webhook.create', target: `webhookEndpoint:${id}`, details: { ...describeSettings(s), enabled: s.enabled } });
    return { ok: true, endpoint: await loadOrThrow(actor.tenantId, id), secret };
  }

  async function updateEndpoint(actor: Actor, id: string, input: Omit<EndpointInput, 'enabled'>) {
    const current = await load(actor.tenantId, id);
    if (!current) return notFound(id);
    const base: EndpointSettings = { ...current, filter: current.filter, eventTypes: current.eventTypes as EndpointSettings['eventTypes'] };
    const settled = await settle(base, { ...input, enabled: undefined }, input.url !== undefined && input.url !== null);
    if (!settled.ok) return settled;
    const s = settled.settings;
    const rows = await sql.query<{ id: string }>(
      `UPDATE "WebhookEndpoint" SET url = $3, description = $4, "eventTypes" = $5::text[], "filterDeviceIds" = $6::text[], "filterTags" = $7::text[],
              "filterModel" = $8, "maxInFlight" = $9::int, "updatedAt" = now()
        WHERE id = $1::uuid AND "tenantId" = $2 RETURNING id::text AS id`,
      [id, actor.tenantId, s.url, s.description, s.eventTypes, s.filter.deviceIds, s.filter.tags, s.filter.model, s.maxInFlight],
    );
    if (rows.length === 0) return notFound(id);
    await audit.record({ ...actor, action: 'webhook.update', target: `webhookEndpoint:${id}`, details: describeSettings(s) });
    return { ok: true as const, endpoint: await loadOrThrow(actor.tenantId, id) };
  }

  async function setEnabled(actor: Actor, id: string, enabled: boolean) {
    if (!isUuid(id)) return notFound(id);
    const rows = await sql.query<{ id: string }>(
      enabled
        ? `UPDATE "WebhookEndpoint" SET enabled = true, "disabledReason" = NULL, "disabledAt" = NULL, "consecutiveFailures" = 0, "failingSince" = NULL,
                  "updatedAt" = now()
            WHERE id = $1::uuid AND "tenantId" = $2 RETURNING id::text AS id`
        : // disabledAt is kept when it was already disabled (e.g. GONE): the reason becomes the admin's, the time stays the first.
          `UPDATE "WebhookEndpoint" SET enabled = false, "disabledReason" = 'ADMIN', "disabledAt" = COALESCE("disabledAt", now()), "updatedAt" = now()
            WHERE id = $1::uuid AND "tenantId" = $2 RETURNING id::text AS id`,
      [id, actor.tenantId],
    );
    if (rows.length === 0) return notFound(id);
    await audit.record({ ...actor, action: enabled ? 'webhook.enable' : 'webhook.disable', target: `webhookEndpoint:${id}` });
    return { ok: true as const, endpoint: await loadOrThrow(actor.tenantId, id) };
  }

  async function deleteEndpoint(actor: Actor, id: string) {
    if (!isUuid(id)) return notFound(id);
    // The count reads the statement's snapshot: the rows the cascade is about to remove.
    const rows = await sql.query<{ url: string; events: number }>(
      `WITH gone AS (DELETE FROM "WebhookEndpoint" WHERE id = $1::uuid AND "tenantId" = $2 RETURNING id, url)
       SELECT gone.url, (SELECT count(*)::int FROM "Outbox" o WHERE o."endpointId" = gone.id) AS events FROM gone`,
      [id, actor.tenantId],
    );
    const row = rows[0];
    if (!row) return notFound(id);
    await audit.record({ ...actor, action: 'webhook.delete', target: `webhookEndpoint:${id}`, details: { url: row.url, deletedEvents: row.events } });
    return { ok: true as const, id, deletedEvents: row.events };
  }

  async function rotateSecret(actor: Actor, id: string, overlapSeconds?: number | null) {
    const overlap = overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
    if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_ROTATION_OVERLAP_SECONDS) {
      return failed(
        new ValidationError('rotation refused', [
          { path: ['overlapSeconds'], code: 'OUT_OF_RANGE', message: `overlapSeconds is a whole number from 0 to ${MAX_ROTATION_OVERLAP_SECONDS} (7 days)` },
        ]),
      );
    }
    if (!isUuid(id)) return notFound(id);
    const secret = generateSecret(random);
    // One statement: the endpoint row is locked so two rotations at once serialize, each old secret's
    // expiry only ever moves closer (LEAST: a second rotation never prolongs the first one's overlap).
    const rows = await sql.query<{ created: number; expiring: number }>(
      `WITH endpoint AS (SELECT id FROM "WebhookEndpoint" WHERE id = $1::uuid AND "tenantId" = $2 FOR UPDATE),
       old AS (
         UPDATE "WebhookSecret" s SET "expiresAt" = LEAST(COALESCE(s."expiresAt", 'infinity'::timestamptz), now() + make_interval(secs => $4::int))
           FROM endpoint WHERE s."endpointId" = endpoint.id AND (s."expiresAt" IS NULL OR s."expiresAt" > now()) RETURNING s.id),
       fresh AS (INSERT INTO "WebhookSecret" (id, "endpointId", sealed) SELECT gen_random_uuid(), id, $3 FROM endpoint RETURNING id)
       SELECT (SELECT count(*)::int FROM fresh) AS created, (SELECT count(*)::int FROM old) AS expiring`,
      [id, actor.tenantId, sealer.seal(id, secret), overlap],
    );
    if (!rows[0] || rows[0].created === 0) return notFound(id);
    await audit.record({
      ...actor,
      action: 'webhook.rotateSecret',
      target: `webhookEndpoint:${id}`,
      details: { overlapSeconds: overlap, expiring: rows[0].expiring },
    });
    return { ok: true as const, endpoint: await loadOrThrow(actor.tenantId, id), secret };
  }

  async function listEndpoints(tenantId: string): Promise<WebhookEndpoint[]> {
    const rows = await sql.query<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM "WebhookEndpoint" e WHERE e."tenantId" = $1 ORDER BY e."createdAt", e.id`, [
      tenantId,
    ]);
    return rows.map(rowToEndpoint);
  }

  async function deliveries(tenantId: string, query: DeliveryQuery): Promise<DeliveryPage | Failed<NotFoundError>> {
    if (!(await load(tenantId, query.endpointId))) return notFound(query.endpointId);
    const params: unknown[] = [query.endpointId, tenantId];
    const where = [`o."endpointId" = $1::uuid`, `o."tenantId" = $2`];
    if (query.status != null) {
      params.push(query.status);
      where.push(`o.status = $${params.length}`);
    }
    const counted = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Outbox" o WHERE ${where.join(' AND ')}`, params);
    if (query.afterSeq != null) {
      params.push(query.afterSeq.toString());
      where.push(`o.seq < $${params.length}::bigint`);
    }
    params.push(query.first + 1);
    const rows = await sql.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM "Outbox" o WHERE ${where.join(' AND ')} ORDER BY o.seq DESC LIMIT $${params.length}::int`,
      params,
    );
    const page = rows.slice(0, query.first);
    const attempts =
      page.length === 0
        ? []
        : await sql.query<AttemptRow>(
            `SELECT "outboxId"::text AS "outboxId", attempt, "startedAt", "statusCode", "latencyMs", error, "nextAttemptAt"
               FROM "OutboxAttempt" WHERE "outboxId" = ANY($1::uuid[]) ORDER BY "outboxId", attempt`,
            [page.map((r) => r.id)],
          );
    return { ok: true, deliveries: page.map((r) => rowToDelivery(r, attempts)), hasNextPage: rows.length > query.first, totalCount: counted[0]?.n ?? 0 };
  }

  async function redeliverEvent(actor: Actor, eventId: string) {
    const uuid = eventUuidOf(eventId);
    if (uuid === null) return failed(new NotFoundError('WebhookEvent', eventId));
    const rows = await sql.query<{ endpointId: string }>(
      `UPDATE "Outbox" SET ${BACK_TO_PENDING} WHERE "eventId" = $1::uuid AND "tenantId" = $2 AND kind = 'WEBHOOK' RETURNING "endpointId"::text AS "endpointId"`,
      [uuid, actor.tenantId],
    );
    if (rows.length === 0) return failed(new NotFoundError('WebhookEvent', eventId));
    const id = eventIdOf(uuid)!;
    await audit.record({ ...actor, action: 'webhook.redeliver', target: `webhookEvent:${id}`, details: { endpoints: rows.map((r) => r.endpointId) } });
    return { ok: true as const, eventId: id, count: rows.length };
  }

  async function redeliverFailed(actor: Actor, endpointId: string, since: Date) {
    if (Number.isNaN(since.getTime())) {
      return failed(new ValidationError('redelivery refused', [{ path: ['since'], code: 'INVALID_VALUE', message: 'since is a time' }]));
    }
    if (!(await load(actor.tenantId, endpointId))) return notFound(endpointId);
    // Oldest first and bounded: one statement never rewrites an unbounded number of rows.
    const rows = await sql.query<{ id: string }>(
      `WITH picked AS (
         SELECT id FROM "Outbox" WHERE "endpointId" = $1::uuid AND "tenantId" = $2 AND status = 'FAILED' AND "createdAt" >= $3::timestamptz
          ORDER BY seq LIMIT $4::int FOR UPDATE SKIP LOCKED)
       UPDATE "Outbox" o SET ${BACK_TO_PENDING}
         FROM picked WHERE o.id = picked.id AND o.status = 'FAILED' RETURNING o.id::text AS id`,
      [endpointId, actor.tenantId, since.toISOString(), MAX_REDELIVER_BATCH],
    );
    const remaining = await sql.query<{ more: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM "Outbox" WHERE "endpointId" = $1::uuid AND "tenantId" = $2 AND status = 'FAILED' AND "createdAt" >= $3::timestamptz) AS more`,
      [endpointId, actor.tenantId, since.toISOString()],
    );
    await audit.record({
      ...actor,
      action: 'webhook.redeliverFailed',
      target: `webhookEndpoint:${endpointId}`,
      details: { since: since.toISOString(), count: rows.length },
    });
    return { ok: true as const, count: rows.length, more: remaining[0]?.more === true };
  }

  async function sendTestEvent(actor: Actor, endpointId: string) {
    if (!isUuid(endpointId)) return notFound(endpointId);
    const eventUuid = randomUUID();
    const rows = await sql.query<{ eventId: string }>(
      `INSERT INTO "Outbox" (id, "eventId", "tenantId", kind, "endpointId", "deviceKey", type, "occurredAt", data)
       SELECT gen_random_uuid(), $3::uuid, e."tenantId", 'WEBHOOK', e.id, NULL, 'webhook.test', now(), jsonb_build_object('endpointId', e.id::text)
         FROM "WebhookEndpoint" e WHERE e.id = $1::uuid AND e."tenantId" = $2
       RETURNING "eventId"::text AS "eventId"`,
      [endpointId, actor.tenantId, eventUuid],
    );
    if (rows.length === 0) return notFound(endpointId);
    const eventId = eventIdOf(eventUuid)!;
    await audit.record({ ...actor, action: 'webhook.test', target: `webhookEndpoint:${endpointId}`, details: { eventId } });
    return { ok: true as const, eventId };
  }

  return {
    createEndpoint,
    updateEndpoint,
    enableEndpoint: (actor, id) => setEnabled(actor, id, true),
    disableEndpoint: (actor, id) => setEnabled(actor, id, false),
    deleteEndpoint,
    rotateSecret,
    listEndpoints,
    endpoint: load,
    deliveries,
    redeliverEvent,
    redeliverFailed,
    sendTestEvent,
  };
}
