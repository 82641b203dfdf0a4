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
 * Keep-alive brings two races, and each has a rule:
 *
 * - The status line decides. Once it has arrived the attempt is judged by it (a 2xx is delivered),
 *   whatever happens to the body or the socket afterwards. Before this rule the attempt ended only with
 *   the body, so a socket error or the deadline between the status line and the body's end recorded a
 *   failure for an event the receiver had accepted, and it was sent again.
 * - A receiver may close an idle kept-alive socket just as a request is written on it; the request then
 *   fails with ECONNRESET/EPIPE and no answer at all. Only then (a reused socket, not one byte of an
 *   answer) is the request sent once more at once, on a connection of its own, within the same deadline
 *   and under the same webhook-id: still one attempt in the log. The receiver may have read the first
 *   copy (and died before answering): at-least-once, which the webhook-id lets it deduplicate.
 *
 * Idle sockets are closed before the receiver's announced keep-alive (`Keep-Alive: timeout=`, which
 * Node's agent honours with a 1 s margin) and before the pool's `idleMs`, which makes the second race
 * rare; it cannot be ruled out, as a receiver may close whenever it likes.
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
  /** Called when a request lost on a reused socket is sent again on a fresh connection (a metric). */
  onResend?: () => void;
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

    /**
     * One request over `via` (a pooled agent, or `false` for a connection of its own). Resolves with how
     * it ended, or with RESET_BEFORE_ANSWER when a kept-alive socket the agent reused was closed by the
     * receiver before a single byte of an answer came back (see the file comment).
     */
    const requestOnce = (via: http.Agent | false) =>
      new Promise<SendOutcome | typeof RESET_BEFORE_ANSWER>((done) => {
        let settled = false;
        let answered = false;
        const finish = (outcome: SendOutcome | typeof RESET_BEFORE_ANSWER) => {
          if (settled) return;
          settled = true;
          done(outcome);
        };
        const req = request({
          method: 'POST',
          host: literal ? pinned : host,
          port,
          path: `${target.pathname}${target.search}`,
          lookup,
          ...(protocol === 'https:' && !literal ? { servername: host } : {}),
          agent: via,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body.body),
            'user-agent': userAgent,
            ...signed.headers,
          },
        });
        // One deadline for the whole attempt (connect, upload, status line), not an idle timer per phase.
        // After the status line it only bounds the body's reading: the socket is destroyed, the outcome kept.
        const timer = setTimeout(
          () => {
            req.destroy(new Error('TIMEOUT'));
            finish(failed(`TIMEOUT: no answer within ${options.timeoutMs} ms`, 'error'));
          },
          Math.max(0, deadline - performance.now()),
        );
        req.on('close', () => clearTimeout(timer));
        req.on('error', (error: NodeJS.ErrnoException) => {
          if (req.reusedSocket && !answered && RESET_CODES.has(error.code ?? '')) finish(RESET_BEFORE_ANSWER);
          else finish(failed(`CONNECTION: ${error.code ?? error.message}`, 'error'));
        });
        req.on('response', (res) => {
          // The status line decides the attempt, here and now: a 2xx is delivered even if its body or
          // socket fails afterwards (the receiver has processed the event; sending it again would be a
          // repeat the receiver never asked for).
          answered = true;
          const status = res.statusCode ?? 0;
          const retryAfterMs = parseRetryAfter(headerText(res.headers['retry-after']), now());
          finish({
            result: { kind: 'response', status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
            permanent: false,
            outcome: outcomeOf(status),
          });
          // The body is read (a little of it) and dropped, so a short one frees the socket for reuse. A
          // longer body costs its socket (destroyed, not returned to the pool); an error reading it
          // changes nothing.
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > RESPONSE_BYTES_READ) res.destroy();
          });
          res.on('error', () => {});
        });
        req.end(body.body);
      });

    const first = await requestOnce(agent);
    if (first !== RESET_BEFORE_ANSWER) return first;
    // Once, on a connection of its own, within what is left of the deadline, under the same webhook-id.
    if (performance.now() >= deadline) return failed(`TIMEOUT: no answer within ${options.timeoutMs} ms`, 'error');
    options.onResend?.();
    const second = await requestOnce(false);
    return second === RESET_BEFORE_ANSWER ? failed('CONNECTION: ECONNRESET', 'error') : second;
  };
}

/** Marks a request whose reused keep-alive socket was reset before any answer: sent once more, at once. */
const RESET_BEFORE_ANSWER = Symbol('reset before answer');
/** How a socket the receiver closed (idle) shows when a request is written on it: reset, or a broken pipe. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE']);

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function outcomeOf(status: number): SendOutcome['outcome'] {
  if (status >= 200 && status <= 299) return 'delivered';
  if (status === 410) return 'gone';
  if (status === 429 || status === 502 || status === 503 || status === 504) return 'throttled';
  return 'retry';
}
