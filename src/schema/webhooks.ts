/**
 * Webhook endpoints (docs/webhooks.md): admins of a tenant create them, rotate their signing secrets,
 * look at their deliveries and send events again (src/services/webhooks/). The secret appears in the
 * answers of createWebhookEndpoint and rotateWebhookSecret only; no query returns it.
 */
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { actorOf } from '../domain/principal.ts';
import { SUBSCRIBABLE_EVENT_TYPES } from '../domain/webhooks/envelope.ts';
import {
  DELIVERY_STATUSES,
  MAX_DELIVERIES_PAGE,
  MAX_REDELIVER_BATCH,
  MAX_ROTATION_OVERLAP_SECONDS,
  type DeliveryAttempt,
  type EndpointFilter,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../services/webhooks/index.ts';
import { MAX_MAX_IN_FLIGHT, MIN_MAX_IN_FLIGHT } from '../services/webhooks/input.ts';
import { requireRole } from './auth.ts';

const EVENT_TYPE_LIST = SUBSCRIBABLE_EVENT_TYPES.join(', ');

const WebhookDeliveryStatusEnum = builder.enumType('WebhookDeliveryStatus', {
  description: 'PENDING (waiting or being retried) → DELIVERED (a 2xx answer) | FAILED (gave up: attempts, age, a permanent refusal).',
  values: DELIVERY_STATUSES,
});

const WebhookFilterRef = builder.objectRef<EndpointFilter>('WebhookFilter').implement({
  description: 'Which devices an endpoint hears about; every field given must match, none given means every device of the tenant.',
  fields: (t) => ({
    deviceIds: t.exposeStringList('deviceIds', { description: 'Only these devices (empty: any).' }),
    tags: t.exposeStringList('tags', { description: 'Only devices carrying all of these tags (empty: any).' }),
    model: t.exposeString('model', { nullable: true, description: 'Only devices of this model (null: any).' }),
  }),
});

const SecretRotationRef = builder.objectRef<WebhookEndpoint['secretRotation']>('WebhookSecretRotation').implement({
  description: 'The signing secrets in use (never the secrets themselves).',
  fields: (t) => ({
    liveSecrets: t.exposeInt('liveSecrets', { description: 'Secrets that sign now: 2 during a rotation overlap, else 1.' }),
    oldSecretExpiresAt: t.expose('oldSecretExpiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the previous secret stops signing; null outside a rotation overlap.',
    }),
  }),
});

const WebhookEndpointRef = builder.objectRef<WebhookEndpoint>('WebhookEndpoint').implement({
  description: 'Where the events of your tenant are POSTed, signed (docs/webhooks.md).',
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    description: t.exposeString('description', { nullable: true }),
    eventTypes: t.exposeStringList('eventTypes'),
    filter: t.field({ type: WebhookFilterRef, resolve: (e) => e.filter }),
    enabled: t.exposeBoolean('enabled'),
    disabledReason: t.exposeString('disabledReason', {
      nullable: true,
      description: 'ADMIN (disableWebhookEndpoint), GONE (the receiver answered 410) or FAILING_TOO_LONG (WEBHOOK_DISABLE_AFTER_HOURS); null while enabled.',
    }),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true }),
    maxInFlight: t.exposeInt('maxInFlight', { description: 'Most deliveries to it at once.' }),
    consecutiveFailures: t.exposeInt('consecutiveFailures', { description: 'Failed attempts since the last success.' }),
    failingSince: t.expose('failingSince', { type: 'DateTime', nullable: true, description: 'First failure since the last success.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    secretRotation: t.field({ type: SecretRotationRef, resolve: (e) => e.secretRotation }),
  }),
});

const DeliveryAttemptRef = builder.objectRef<DeliveryAttempt>('WebhookDeliveryAttempt').implement({
  fields: (t) => ({
    attempt: t.exposeInt('attempt', { description: '1 for the first attempt.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: 'The HTTP status answered; null when none was (timeout, refused connection, …).' }),
    latencyMs: t.exposeInt('latencyMs', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true, description: 'When the next attempt was scheduled; null after the last.' }),
  }),
});

const WebhookDeliveryRef = builder.objectRef<WebhookDelivery>('WebhookDelivery').implement({
  description: 'One event for one endpoint (an outbox row) and its attempts.',
  fields: (t) => ({
    eventId: t.exposeString('eventId', { description: 'evt_…: the webhook-id header and the envelope id, the same for every attempt.' }),
    type: t.exposeString('type'),
    deviceId: t.exposeString('deviceId', { nullable: true, description: 'The device the event is about; null for webhook.test.' }),
    status: t.field({ type: WebhookDeliveryStatusEnum, resolve: (d) => d.status as (typeof DELIVERY_STATUSES)[number] }),
    attempts: t.exposeInt('attempts'),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', description: 'When a PENDING event is due next.' }),
    lastStatus: t.exposeInt('lastStatus', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime', description: 'When the change was committed.' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    failedAt: t.expose('failedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    attemptLog: t.field({ type: [DeliveryAttemptRef], description: 'Every attempt, oldest first.', resolve: (d) => d.attemptLog }),
  }),
});

const CreatedWebhookEndpointRef = builder.objectRef<{ endpoint: WebhookEndpoint; secret: string }>('CreatedWebhookEndpoint').implement({
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, resolve: (r) => r.endpoint }),
    secret: t.exposeString('secret', { description: 'The signing secret (whsec_…). Shown this once: store it in the receiver now.' }),
  }),
});

const RotatedWebhookSecretRef = builder.objectRef<{ endpoint: WebhookEndpoint; secret: string }>('RotatedWebhookSecret').implement({
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, resolve: (r) => r.endpoint }),
    secret: t.exposeString('secret', {
      description: 'The new signing secret (whsec_…). Shown this once; the old one signs too until secretRotation.oldSecretExpiresAt.',
    }),
  }),
});

const DeletedWebhookEndpointRef = builder.objectRef<{ id: string; deletedEvents: number }>('DeletedWebhookEndpoint').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    deletedEvents: t.exposeInt('deletedEvents', { description: 'Its events deleted with it, whatever their status.' }),
  }),
});

const RedeliveredWebhookRef = builder.objectRef<{ eventId: string; count: number }>('RedeliveredWebhook').implement({
  fields: (t) => ({
    eventId: t.exposeString('eventId'),
    count: t.exposeInt('count', { description: 'Endpoints the event goes to again.' }),
  }),
});

const RedeliveredWebhooksRef = builder.objectRef<{ count: number; more: boolean }>('RedeliveredWebhooks').implement({
  fields: (t) => ({
    count: t.exposeInt('count', { description: 'FAILED events put back to PENDING.' }),
    more: t.exposeBoolean('more', { description: `More FAILED events remain (at most ${MAX_REDELIVER_BATCH} per call): call again.` }),
  }),
});

const SentTestWebhookRef = builder.objectRef<{ eventId: string }>('SentTestWebhook').implement({
  fields: (t) => ({ eventId: t.exposeString('eventId', { description: 'The webhook.test event (evt_…); follow it in webhookDeliveries.' }) }),
});

const WebhookFilterInput = builder.inputType('WebhookFilterInput', {
  fields: (t) => ({
    deviceIds: t.stringList({ required: false, description: 'Only these devices.' }),
    tags: t.stringList({ required: false, description: 'Only devices carrying all of these tags.' }),
    model: t.string({ required: false, description: 'Only devices of this model (its name).' }),
  }),
});

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'https URL; its host must resolve to public addresses (or ones WEBHOOKS_ALLOWED_NETWORKS allows).' }),
    description: t.string({ required: false }),
    eventTypes: t.stringList({
      required: false,
      description: `Of: ${EVENT_TYPE_LIST}. Default: all but telemetry.stored, which needs a filter.`,
    }),
    filter: t.field({ type: WebhookFilterInput, required: false }),
    maxInFlight: t.int({ required: false, description: `${MIN_MAX_IN_FLIGHT}–${MAX_MAX_IN_FLIGHT}; default WEBHOOK_MAX_IN_FLIGHT.` }),
    enabled: t.boolean({ required: false, description: 'Default true.' }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  description: 'Only the fields given change; a filter given replaces the fields it names.',
  fields: (t) => ({
    url: t.string({ required: false }),
    description: t.string({ required: false, description: 'Empty string clears it.' }),
    eventTypes: t.stringList({ required: false, description: `Of: ${EVENT_TYPE_LIST}.` }),
    filter: t.field({ type: WebhookFilterInput, required: false }),
    maxInFlight: t.int({ required: false }),
  }),
});

type FilterArg = typeof WebhookFilterInput.$inferInput | null | undefined;
const filterOf = (f: FilterArg) =>
  f === undefined
    ? undefined
    : f === null
      ? null
      : {
          ...(f.deviceIds !== undefined ? { deviceIds: f.deviceIds } : {}),
          ...(f.tags !== undefined ? { tags: f.tags } : {}),
          ...(f.model !== undefined ? { model: f.model } : {}),
        };

function encodeCursor(d: WebhookDelivery): string {
  return Buffer.from(`seq:${d.seq}`).toString('base64url');
}

function decodeCursor(cursor: string): bigint {
  const match = /^seq:(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) throw badInput('after is not a cursor of this connection');
  return BigInt(match[1]!);
}

builder.queryFields((t) => ({
  webhookEndpoints: t.field({
    ...requireRole('admin'),
    type: [WebhookEndpointRef],
    description: 'The webhook endpoints of your tenant, oldest first. Never their secrets.',
    resolve: (_root, _args, ctx) => ctx.webhooks.listEndpoints(ctx.principal.tenantId),
  }),
  webhookEndpoint: t.field({
    ...requireRole('admin'),
    type: WebhookEndpointRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await ctx.webhooks.endpoint(ctx.principal.tenantId, String(id))) ?? null,
  }),
  webhookDeliveries: t.connection(
    {
      ...requireRole('admin'),
      type: WebhookDeliveryRef,
      nullable: true,
      description: `The events of one endpoint, newest first, with their attempts; null for an endpoint that is not yours. Pages hold at most ${MAX_DELIVERIES_PAGE} (default 50); page forward with first/after.`,
      args: {
        endpointId: t.arg.id({ required: true }),
        status: t.arg({ type: WebhookDeliveryStatusEnum, required: false }),
      },
      resolve: async (_root, args, ctx) => {
        if (args.last != null || args.before != null) throw badInput('webhookDeliveries pages forward only: use first and after');
        const size = args.first ?? 50;
        if (size < 0 || size > MAX_DELIVERIES_PAGE) throw badInput(`first must be between 0 and ${MAX_DELIVERIES_PAGE}`);
        const page = await ctx.webhooks.deliveries(ctx.principal.tenantId, {
          endpointId: String(args.endpointId),
          status: args.status ?? null,
          first: size,
          afterSeq: args.after != null ? decodeCursor(args.after) : null,
        });
        if (!page.ok) return null;
        const edges = page.deliveries.map((node) => ({ cursor: encodeCursor(node), node }));
        return {
          totalCount: page.totalCount,
          edges,
          pageInfo: { hasNextPage: page.hasNextPage, hasPreviousPage: false, startCursor: edges[0]?.cursor ?? null, endCursor: edges.at(-1)?.cursor ?? null },
        };
      },
    },
    {
      name: 'WebhookDeliveryConnection',
      fields: (c) => ({
        totalCount: c.int({
          description: 'Events of the endpoint with this status (all pages).',
          resolve: (conn) => (conn as unknown as { totalCount: number }).totalCount,
        }),
      }),
    },
    { name: 'WebhookDeliveryEdge' },
  ),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    ...requireRole('admin'),
    type: CreatedWebhookEndpointRef,
    description: 'Creates an endpoint and its signing secret, which this answer shows once. Audited as webhook.create.',
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const outcome = await ctx.webhooks.createEndpoint(actorOf(ctx.principal), {
        url: input.url,
        ...(input.description != null ? { description: input.description } : {}),
        ...(input.eventTypes != null ? { eventTypes: input.eventTypes } : {}),
        ...(input.filter != null ? { filter: filterOf(input.filter) } : {}),
        ...(input.maxInFlight != null ? { maxInFlight: input.maxInFlight } : {}),
        ...(input.enabled != null ? { enabled: input.enabled } : {}),
      });
      if (!outcome.ok) throw outcome.error;
      return outcome;
    },
  }),
  updateWebhookEndpoint: t.field({
    ...requireRole('admin'),
    type: WebhookEndpointRef,
    description: 'Changes the fields given. A new URL is checked as on create. Audited as webhook.update.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateWebhookEndpointInput, required: true }) },
    resolve: async (_root, { id, input }, ctx) => {
      const outcome = await ctx.webhooks.updateEndpoint(actorOf(ctx.principal), String(id), {
        ...(input.url != null ? { url: input.url } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.eventTypes != null ? { eventTypes: input.eventTypes } : {}),
        ...(input.filter !== undefined ? { filter: filterOf(input.filter) } : {}),
        ...(input.maxInFlight != null ? { maxInFlight: input.maxInFlight } : {}),
      });
      if (!outcome.ok) throw outcome.error;
      return outcome.endpoint;
    },
  }),
  enableWebhookEndpoint: t.field({
    ...requireRole('admin'),
    type: WebhookEndpointRef,
    description: 'Enables it and clears its failure streak (consecutiveFailures, failingSince, disabledReason). Audited as webhook.enable.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const outcome = await ctx.webhooks.enableEndpoint(actorOf(ctx.principal), String(id));
      if (!outcome.ok) throw outcome.error;
      return outcome.endpoint;
    },
  }),
  disableWebhookEndpoint: t.field({
    ...requireRole('admin'),
    type: WebhookEndpointRef,
    description: 'Stops deliveries to it (disabledReason ADMIN); its events wait as PENDING until it is enabled again. Audited as webhook.disable.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const outcome = await ctx.webhooks.disableEndpoint(actorOf(ctx.principal), String(id));
      if (!outcome.ok) throw outcome.error;
      return outcome.endpoint;
    },
  }),
  deleteWebhookEndpoint: t.field({
    ...requireRole('admin'),
    type: DeletedWebhookEndpointRef,
    description: 'Deletes it, its secrets and all its events (pending, delivered and failed). Audited as webhook.delete.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const outcome = await ctx.webhooks.deleteEndpoint(actorOf(ctx.principal), String(id));
      if (!outcome.ok) throw outcome.error;
      return outcome;
    },
  }),
  rotateWebhookSecret: t.field({
    ...requireRole('admin'),
    type: RotatedWebhookSecretRef,
    description: `A new signing secret, shown once. The current one keeps signing next to it for overlapSeconds (default 86400, at most ${MAX_ROTATION_OVERLAP_SECONDS}). Audited as webhook.rotateSecret.`,
    errors: { types: [ValidationError, NotFoundError] },
    args: { id: t.arg.id({ required: true }), overlapSeconds: t.arg.int({ required: false }) },
    resolve: async (_root, { id, overlapSeconds }, ctx) => {
      const outcome = await ctx.webhooks.rotateSecret(actorOf(ctx.principal), String(id), overlapSeconds);
      if (!outcome.ok) throw outcome.error;
      return outcome;
    },
  }),
  redeliverWebhook: t.field({
    ...requireRole('admin'),
    type: RedeliveredWebhookRef,
    description:
      'Sends one event (evt_… or its uuid) again to every endpoint it was for: back to PENDING, due now, attempts kept. Audited as webhook.redeliver.',
    errors: { types: [NotFoundError] },
    args: { eventId: t.arg.string({ required: true }) },
    resolve: async (_root, { eventId }, ctx) => {
      const outcome = await ctx.webhooks.redeliverEvent(actorOf(ctx.principal), eventId);
      if (!outcome.ok) throw outcome.error;
      return outcome;
    },
  }),
  redeliverWebhooks: t.field({
    ...requireRole('admin'),
    type: RedeliveredWebhooksRef,
    description: `Puts the endpoint's FAILED events created since the given time back to PENDING, oldest first, at most ${MAX_REDELIVER_BATCH} per call. Audited as webhook.redeliverFailed.`,
    errors: { types: [ValidationError, NotFoundError] },
    args: { endpointId: t.arg.id({ required: true }), since: t.arg({ type: 'DateTime', required: true }) },
    resolve: async (_root, { endpointId, since }, ctx) => {
      const outcome = await ctx.webhooks.redeliverFailed(actorOf(ctx.principal), String(endpointId), since);
      if (!outcome.ok) throw outcome.error;
      return outcome;
    },
  }),
  sendTestWebhook: t.field({
    ...requireRole('admin'),
    type: SentTestWebhookRef,
    description: 'Queues one webhook.test event for the endpoint (whatever it subscribes to). Audited as webhook.test.',
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const outcome = await ctx.webhooks.sendTestEvent(actorOf(ctx.principal), String(id));
      if (!outcome.ok) throw outcome.error;
      return outcome;
    },
  }),
}));

function badInput(message: string): Error {
  return createGraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}
