/**
 * One HTTP attempt of one webhook event (docs/outbox.md "Send" and "SSRF"), outside any transaction.
 *
 * The URL is checked again (the policy may have changed since it was saved), the host resolved once,
 * every address judged (`judgeResolved`), and the socket connected to the first checked address through
 * a `lookup` that returns only it: Node never resolves the name a second time, which is how DNS
 * rebinding gets around a check made on an earlier answer. TLS still verifies the certificate for the
 * URL's host name (`servername`). Redirects are never followed (a 3xx is a failed attempt: the next hop
 * was never checked). Nothing here throws: every way an attempt can end is a value.
 *
 * Connections are kept alive and reused through ./connection-pool.ts, one agent per endpoint and
 * pinned destination, so a reused socket always leads to the address checked for this attempt's host.
 * A request that fails on a reused socket the receiver had just closed is a failed attempt like any
 * other (retried by the schedule): one attempt is always one request, which the attempt log and the
 * metrics count. Idle sockets are closed before Node's default 5 s server keep-alive ends, which makes
 * that rare.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { performance } from 'node:perf_hooks';
import { buildEnvelope, envelopeBody } from '../../domain/webhooks/envelope.ts';
import { judgeResolved, parseDestination, parseIp, type DestinationPolicy } from '../../domain/webhooks/destination.ts';
import { parseRetryAfter, type AttemptResult } from '../../domain/webhooks/schedule.ts';
import { signWebhook } from '../../domain/webhooks/signing.ts';
import { createConnectionPool, type ConnectionPool } from './connection-pool.ts';

/** Resolves a host name to every address (the default is node:dns `lookup` with `all: true`). */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export interface SendInput {
  /** Whose connections may carry the attempt (sockets are never shared between endpoints). */
  endpointId: string;
  event: { eventId: string; type: string; occurredAt: number; tenantId: string; data: unknown };
  url: string;
  /** The endpoint's live secrets (`whsec_…`), newest first. */
  secrets: readonly string[];
}

export interface SenderOptions {
  policy: DestinationPolicy;
  timeoutMs: number;
  resolve?: Resolver;
  /** Unix ms for `webhook-timestamp` and Retry-After dates; default Date.now. */
  now?: () => number;
  userAgent?: string;
  /** Keep-alive connections; default a pool of its own (DEFAULT_POOL_OPTIONS). */
  pool?: ConnectionPool;
}

/**
 * How an attempt ended. `permanent` marks an event that can never be sent as stored (an unknown type,
 * a body over 64 KiB): it is FAILED at once instead of retried. `outcome` is the metric label.
 */
export interface SendOutcome {
  result: AttemptResult;
  permanent: boolean;
  outcome: 'delivered' | 'retry' | 'throttled' | 'gone' | 'error' | 'refused' | 'invalid';
}

const RESPONSE_BYTES_READ = 4096;

export function createSender(options: SenderOptions): (input: SendInput) => Promise<SendOutcome> {
  const resolve = options.resolve ?? systemResolver;
  const now = options.now ?? Date.now;
  const userAgent = options.userAgent ?? 'Doppel-Webhooks/1';
  const pool = options.pool ?? createConnectionPool();

  const failed = (error: string, outcome: SendOutcome['outcome'], permanent = false): SendOutcome => ({ result: { kind: 'error', error }, permanent, outcome });

  return async function send(input: SendInput): Promise<SendOutcome> {
    const envelope = buildEnvelope(input.event);
    if (!envelope.ok) return failed(`${envelope.reason}: ${envelope.message}`, 'invalid', true);
    const body = envelopeBody(envelope.envelope);
    if (!body.ok) return failed(`${body.reason}: ${body.message}`, 'invalid', true);
    const signed = signWebhook(input.secrets, envelope.envelope.id, Math.floor(now() / 1000), body.body);
    // No usable secret is the endpoint's configuration, which an admin can fix: retried, not FAILED.
    if (!signed.ok) return failed(`${signed.reason}: ${signed.message}`, 'error');

    const destination = parseDestination(input.url, options.policy);
    if (!destination.ok) return failed(`${destination.reason}: ${destination.message}`, 'refused');
    const { host, port, protocol, literal, url } = destination.destination;
    let addresses: string[];
    if (literal) addresses = [host];
    else {
      try {
        addresses = await resolve(host);
      } catch (error) {
        return failed(`DNS: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, 'error');
      }
    }
    const verdict = judgeResolved(addresses, options.policy);
    if (!verdict.ok) return failed(`${verdict.reason}: ${verdict.message}`, 'refused');
    const pinned = verdict.addresses[0]!;
    const family = parseIp(pinned)?.family ?? 4;

    const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
      // With autoSelectFamily (Node ≥ 20) net asks for every address: answer with the pinned one only.
      if ((lookupOptions as { all?: boolean }).all)
        (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [{ address: pinned, family }]);
      else callback(null, pinned, family);
    };
    const target = new URL(url);
    const request = (protocol === 'https:' ? https : http).request;
    const agent = pool.agentFor({ endpointId: input.endpointId, protocol, pinned, port, servername: protocol === 'https:' && !literal ? host : '' });
    const deadline = performance.now() + options.timeoutMs;
    return new Promise<SendOutcome>((done) => {
      let settled = false;
      const finish = (outcome: SendOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        done(outcome);
      };
      const req = request({
        method: 'POST',
        host: literal ? pinned : host,
        port,
        path: `${target.pathname}${target.search}`,
        lookup,
        ...(protocol === 'https:' && !literal ? { servername: host } : {}),
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body.body),
          'user-agent': userAgent,
          ...signed.headers,
        },
      });
      // One deadline for the whole attempt (connect, upload, response), not an idle timer per phase.
      const timer = setTimeout(
        () => {
          req.destroy(new Error('TIMEOUT'));
          finish(failed(`TIMEOUT: no complete answer within ${options.timeoutMs} ms`, 'error'));
        },
        Math.max(0, deadline - performance.now()),
      );
      req.on('error', (error: NodeJS.ErrnoException) => finish(failed(`CONNECTION: ${error.code ?? error.message}`, 'error')));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const retryAfterMs = parseRetryAfter(headerText(res.headers['retry-after']), now());
        let read = 0;
        // The answer's body is read (a little of it) and dropped: the status is all that counts. A
        // longer body costs its socket (destroyed, not returned to the pool).
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > RESPONSE_BYTES_READ) res.destroy();
        });
        const complete = () => {
          const result: AttemptResult = { kind: 'response', status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
          finish({ result, permanent: false, outcome: outcomeOf(status) });
        };
        res.on('end', complete);
        res.on('close', complete);
        res.on('error', complete);
      });
      req.end(body.body);
    });
  };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function outcomeOf(status: number): SendOutcome['outcome'] {
  if (status >= 200 && status <= 299) return 'delivered';
  if (status === 410) return 'gone';
  if (status === 429 || status === 502 || status === 503 || status === 504) return 'throttled';
  return 'retry';
}
