/**
 * HTTP authentication and ACL endpoints for external brokers, answered from the device registry and
 * the one ACL module (src/mqtt/acl.ts) — the same rules the embedded broker and the dynamic-security
 * sync apply. Broker configuration: docs/brokers.md.
 *
 *   POST /mqtt/emqx/auth        EMQX 5 HTTP authentication   → 200 {"result":"allow"|"deny","is_superuser":bool[,"expire_at":s]}
 *   POST /mqtt/emqx/acl         EMQX 5 HTTP authorization    → 200 {"result":"allow"|"deny"}
 *   POST /mqtt/go-auth/user     mosquitto-go-auth HTTP backend (response_mode status or json)
 *   POST /mqtt/go-auth/superuser                               → 200 {"Ok":true,"Error":""} | 403 {"Ok":false,"Error":"…"}
 *   POST /mqtt/go-auth/acl
 *
 * Bodies are JSON or form-encoded (go-auth's params_mode json|form, EMQX's body templates).
 *
 * Protection: off (404) unless MQTT_HTTP_AUTH_SECRET is set; every request must then carry it, as
 * `Authorization: Bearer <secret>` (EMQX can send headers) or as `?secret=<secret>` in the URL
 * (mosquitto-go-auth cannot send custom headers; keep that URL on a private network or behind TLS).
 * Loopback-only was rejected: brokers usually run on another host or container. A missing or wrong
 * secret is 401 — to EMQX a 4xx means "ignore", which ends in a refusal when Doppel is the only
 * authenticator; to go-auth any non-2xx is a refusal.
 *
 * Doppel's own broker user (MQTT_USERNAME / MQTT_PASSWORD) authenticates here too and is a superuser
 * (its subscriptions are shared subscriptions to every device's topics).
 *
 * Provisioning (docs/onboarding.md "Provisioning"): username `provision` with a claim token as the
 * password is checked against the provisioning policies, and needs the client id (EMQX `${clientid}`,
 * go-auth's `clientid`): it is the request id, and such a client may only publish
 * `provision/{clientid}/request` and subscribe to (receive) its `…/accepted` and `…/rejected`. Refused
 * topics are stored as TOPIC_DENIED attempts. A device login the registry refuses may be a group-key
 * device's first connect: the authenticator handed in (src/app/compose.ts) asks provisioning then.
 */
import type http from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { isAllowed, type BrokerAction } from '../mqtt/acl.ts';
import type { DeviceAuthenticator } from '../mqtt/transport.ts';
import { isProvisionReplyFilter, parseProvisionRequestTopic } from '../mqtt/topics.ts';
import { PROVISIONING_USERNAME } from '../domain/provisioning/policy.ts';
import type { ProvisioningGate } from '../services/provisioning/index.ts';

export const BROKER_AUTH_PREFIX = '/mqtt/';
export const BROKER_AUTH_METRIC = 'doppel_broker_auth_requests_total';
const MAX_BODY_BYTES = 16 * 1024;

export interface BrokerAuthOptions {
  /** The shared secret; without one every route is 404. */
  secret: string | undefined;
  authenticator: DeviceAuthenticator;
  /** Doppel's own broker credentials, accepted as a superuser. */
  serviceUser?: { username: string; password: string };
  logger: Logger;
  metrics: Metrics;
  /** Provisioning clients (username `provision`); without it they are refused like any unknown user. */
  provisioning?: Pick<ProvisioningGate, 'authenticateClaim' | 'recordTopicDenied'>;
}

type Body = Record<string, string>;
type Decision = { allow: boolean; superuser?: boolean; expiresAt?: number; reason?: string };

/** go-auth's `acc`: 1 read (delivery), 2 write (publish), 3 read and write, 4 subscribe. */
const GO_AUTH_ACC: Record<string, BrokerAction[]> = { '1': ['receive'], '2': ['publish'], '3': ['receive', 'publish'], '4': ['subscribe'] };
/** EMQX's `${action}`. */
const EMQX_ACTION: Record<string, BrokerAction[]> = { publish: ['publish'], subscribe: ['subscribe'], all: ['publish', 'subscribe'] };

class BadRequest extends Error {}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time string equality (hashing first makes the lengths equal). */
function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function createBrokerAuth(options: BrokerAuthOptions) {
  const { secret, authenticator, serviceUser, logger, metrics, provisioning } = options;
  metrics.describe(BROKER_AUTH_METRIC, 'Broker HTTP auth/ACL requests by endpoint and result (allow, deny, bad_request, unauthorized).');

  function authorizedCaller(req: http.IncomingMessage, url: URL): boolean {
    if (!secret) return false;
    const header = req.headers.authorization;
    const presented = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('secret');
    return presented !== null && presented !== undefined && safeEqual(presented, secret);
  }

  async function readBody(req: http.IncomingMessage): Promise<Body> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new BadRequest(`body over ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
    let parsed: unknown;
    try {
      parsed = JSON.parse(text || '{}');
    } catch {
      throw new BadRequest('body is neither JSON nor form-encoded');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadRequest('body must be a JSON object');
    // Brokers send strings, except go-auth's numeric `acc`: keep scalars as strings, drop the rest.
    const body: Body = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string' || typeof v === 'number') body[k] = String(v);
    return body;
  }

  function field(body: Body, name: string, max = 65_535): string {
    const v = body[name];
    if (v === undefined) throw new BadRequest(`missing "${name}"`);
    if (v.length > max) throw new BadRequest(`"${name}" too long`);
    return v;
  }

  function isServiceUser(username: string, password?: string): boolean {
    if (!serviceUser || !safeEqual(username, serviceUser.username)) return false;
    return password === undefined || safeEqual(password, serviceUser.password);
  }

  async function authenticate(body: Body): Promise<Decision> {
    const username = field(body, 'username', 1024);
    const password = field(body, 'password', 1024);
    if (isServiceUser(username, password)) return { allow: true, superuser: true };
    if (username === PROVISIONING_USERNAME && provisioning) {
      const session = await provisioning.authenticateClaim(password, field(body, 'clientid', 64));
      return session.ok ? { allow: true } : { allow: false, reason: 'bad user name or password' };
    }
    const decision = await authenticator.authenticate(username, Buffer.from(password, 'utf8'));
    if (!decision) return { allow: false, reason: 'bad user name or password' };
    return typeof decision === 'object' ? { allow: true, expiresAt: decision.expiresAt } : { allow: true };
  }

  /** A provisioning client's own topics only: its request id is its client id. */
  function provisioningAllows(requestId: string, action: BrokerAction, topic: string): boolean {
    switch (action) {
      case 'publish':
        return parseProvisionRequestTopic(topic) === requestId;
      case 'subscribe':
      case 'receive':
        return isProvisionReplyFilter(requestId, topic);
    }
  }

  function authorize(body: Body, actions: BrokerAction[] | undefined): Decision {
    const username = field(body, 'username', 1024);
    const topic = field(body, 'topic');
    if (!actions) throw new BadRequest('unknown action');
    if (isServiceUser(username)) return { allow: true };
    if (username === PROVISIONING_USERNAME && provisioning) {
      const requestId = field(body, 'clientid', 64);
      if (actions.every((a) => provisioningAllows(requestId, a, topic))) return { allow: true };
      void provisioning
        .recordTopicDenied(null, requestId, topic)
        .catch((err: unknown) => logger.error({ err }, 'could not record a provisioning topic refusal'));
      return { allow: false, reason: 'not authorized' };
    }
    const allow = actions.every((a) => isAllowed(username, a, topic));
    return allow ? { allow } : { allow, reason: 'not authorized' };
  }

  function reply(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  }

  /** Answers requests under /mqtt/; returns false for any other path. */
  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    // Every API request passes here first. A target without "mqtt" in it cannot have a path under the
    // prefix whatever URL parsing does to it (dot segments, backslashes, absolute form; percent-encoded
    // letters are not decoded), so it is told apart without building a URL.
    const raw = req.url ?? '/';
    if (!raw.includes('mqtt')) return false;
    const url = new URL(raw, 'http://localhost');
    if (!url.pathname.startsWith(BROKER_AUTH_PREFIX)) return false;
    const endpoint = url.pathname.slice(BROKER_AUTH_PREFIX.length);
    const known = ['emqx/auth', 'emqx/acl', 'go-auth/user', 'go-auth/superuser', 'go-auth/acl'].includes(endpoint);
    if (!secret || !known) {
      reply(res, 404, { error: 'not found' });
      return true;
    }
    const count = (result: string) => metrics.inc(BROKER_AUTH_METRIC, { endpoint, result });
    if (req.method !== 'POST' && req.method !== 'GET') {
      reply(res, 405, { error: 'use POST' });
      return true;
    }
    if (!authorizedCaller(req, url)) {
      count('unauthorized');
      logger.warn({ endpoint, remote: req.socket.remoteAddress }, 'broker auth request without the shared secret');
      reply(res, 401, { error: 'missing or wrong shared secret' });
      return true;
    }
    try {
      // GET carries the parameters in the query string (go-auth http_method GET, EMQX GET templates).
      const body = req.method === 'GET' ? Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'secret')) : await readBody(req);
      let decision: Decision;
      switch (endpoint) {
        case 'emqx/auth':
        case 'go-auth/user':
          decision = await authenticate(body);
          break;
        case 'go-auth/superuser':
          decision = { allow: isServiceUser(field(body, 'username', 1024)), reason: 'not a superuser' };
          break;
        case 'emqx/acl':
          decision = authorize(body, EMQX_ACTION[field(body, 'action', 16)]);
          break;
        default:
          decision = authorize(body, GO_AUTH_ACC[field(body, 'acc', 4)]);
      }
      count(decision.allow ? 'allow' : 'deny');
      if (endpoint.startsWith('emqx/')) {
        reply(res, 200, {
          result: decision.allow ? 'allow' : 'deny',
          ...(endpoint === 'emqx/auth' ? { is_superuser: decision.superuser === true } : {}),
          // EMQX ≥ 5.8 disconnects the client then: a rotation grace period ends on the broker too.
          ...(decision.expiresAt !== undefined ? { expire_at: Math.floor(decision.expiresAt / 1000) } : {}),
        });
      } else {
        reply(res, decision.allow ? 200 : 403, { Ok: decision.allow, Error: decision.allow ? '' : (decision.reason ?? 'denied') });
      }
    } catch (err) {
      if (err instanceof BadRequest) {
        count('bad_request');
        reply(res, 400, { error: err.message });
      } else {
        count('error');
        logger.error({ err, endpoint }, 'broker auth request failed');
        // A 5xx is "ignore" to EMQX and a refusal to go-auth: never an accidental allow.
        reply(res, 503, { error: 'unavailable' });
      }
    }
    return true;
  }

  return { handle };
}
