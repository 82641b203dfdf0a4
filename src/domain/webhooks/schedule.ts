/**
 * When to try an event again, when to give up, and when an endpoint is sick (docs/outbox.md
 * "Retries"). Pure: the caller passes `now` and the random source; nothing here reads a clock.
 *
 * Why these choices:
 *
 * - Exponential back-off with FULL jitter: the delay after attempt n is uniform in
 *   [minDelay, min(cap, base·factor^(n−1))]. Without jitter, every event that failed during one
 *   receiver outage comes back at the same instant and knocks the receiver over again; full jitter
 *   spreads them over the whole window. With the defaults (5 s × 4ⁿ, capped at 10 h) the nominal
 *   steps are 5 s, 20 s, 80 s, 5 min, 21 min, 85 min, 5.7 h, then 10 h: the same shape as the
 *   "5 s, 5 min, 30 min, 2 h, 5 h, 10 h" schedule users know, spread instead of synchronized.
 * - An event gives up (FAILED) after `maxAttempts` attempts or once it is `maxAgeMs` old, whichever
 *   comes first. The last retry is pulled in to the max-age instant rather than scheduled past it, so
 *   an event always gets its try at the end of its window. FAILED is terminal for the deliverer but
 *   never deleted: only a redelivery (a person's decision) sends it again.
 * - `Retry-After` (429, 503, …) is honoured as a lower bound on the delay, itself capped at
 *   `maxRetryAfterMs` so a receiver cannot park an event for a year, and never past the max age.
 * - 410 Gone disables the endpoint (the receiver said it wants nothing more); the event that got it
 *   stays PENDING so a re-enabled endpoint still receives it. 3xx is a failure: redirects are never
 *   followed (a redirect is an SSRF hop the destination policy did not check).
 * - The endpoint's health is separate from each event's schedule. After `openAfterFailures`
 *   consecutive failed attempts the circuit is OPEN: one event at a time (a probe) instead of the
 *   endpoint's full concurrency, so a dead receiver costs one request per retry slot, not N. Any
 *   success closes it. An endpoint failing without a single success for `disableAfterMs` is disabled
 *   (and audited as `endpoint.disabled` by the edge).
 */

export interface RetryPolicy {
  /** Nominal delay after the first failed attempt. */
  baseDelayMs: number;
  /** Growth of the nominal delay per attempt. */
  factor: number;
  /** Largest nominal delay. */
  maxDelayMs: number;
  /** Smallest delay: full jitter can draw 0, which would retry in the same tick. */
  minDelayMs: number;
  /** Attempts (the first one included) after which the event is FAILED. */
  maxAttempts: number;
  /** Age (from the event's creation) after which the event is FAILED. */
  maxAgeMs: number;
  /** Largest `Retry-After` honoured. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseDelayMs: 5_000,
  factor: 4,
  maxDelayMs: 10 * 3_600_000,
  minDelayMs: 1_000,
  maxAttempts: 20,
  maxAgeMs: 3 * 24 * 3_600_000,
  maxRetryAfterMs: 24 * 3_600_000,
};

/** Why a policy is unusable; checked once at start-up (config), never per attempt. */
export function policyIssues(policy: RetryPolicy): string[] {
  const issues: string[] = [];
  const positive = (name: keyof RetryPolicy) => {
    if (!Number.isFinite(policy[name]) || policy[name] <= 0) issues.push(`${name} must be a positive number`);
  };
  for (const name of ['baseDelayMs', 'maxDelayMs', 'minDelayMs', 'maxAgeMs', 'maxRetryAfterMs'] as const) positive(name);
  if (!Number.isFinite(policy.factor) || policy.factor < 1) issues.push('factor must be at least 1');
  if (!Number.isSafeInteger(policy.maxAttempts) || policy.maxAttempts < 1) issues.push('maxAttempts must be a whole number ≥ 1');
  if (policy.minDelayMs > policy.baseDelayMs) issues.push('minDelayMs must not exceed baseDelayMs');
  if (policy.baseDelayMs > policy.maxDelayMs) issues.push('baseDelayMs must not exceed maxDelayMs');
  return issues;
}

/** The upper end of the jitter window after failed attempt number `attempt` (1-based). */
export function nominalDelayMs(attempt: number, policy: RetryPolicy): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // Computed in log space is unnecessary: factor^exponent overflows to Infinity, which min() caps.
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * policy.factor ** exponent);
}

/** The delay after failed attempt `attempt`, with full jitter. `random` returns [0, 1) like Math.random. */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const nominal = nominalDelayMs(attempt, policy);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.max(policy.minDelayMs, Math.floor(r * nominal));
}

/** What one HTTP attempt came to, as the edge reports it. */
export type AttemptResult =
  | { kind: 'response'; status: number; retryAfterMs?: number }
  /** Connection refused or reset, DNS failure, TLS failure, a timeout, a refused destination, …: no usable status. */
  | { kind: 'error'; error: string };

export type AttemptClass =
  | 'DELIVERED'
  /** Retry with the schedule. */
  | 'RETRY'
  /** Retry, and the receiver asked us to slow down (429, 502, 503, 504). */
  | 'THROTTLED'
  /** 410: disable the endpoint. */
  | 'GONE';

export function classifyAttempt(result: AttemptResult): AttemptClass {
  if (result.kind === 'error') return 'RETRY';
  const { status } = result;
  if (status >= 200 && status <= 299) return 'DELIVERED';
  if (status === 410) return 'GONE';
  if (status === 429 || status === 502 || status === 503 || status === 504) return 'THROTTLED';
  return 'RETRY';
}

/** The event's delivery state the schedule reads. */
export interface EventSchedule {
  /** Attempts made before this one. */
  attempts: number;
  /** Epoch ms the event was created (committed with its change). */
  createdAt: number;
}

export type EventDecision =
  | { status: 'DELIVERED'; attempts: number }
  | { status: 'PENDING'; attempts: number; nextAttemptAt: number; disableEndpoint: boolean }
  | { status: 'FAILED'; attempts: number; reason: 'MAX_ATTEMPTS' | 'MAX_AGE' };

/**
 * The event's next state after an attempt that ended at `now`. A 410 keeps the event PENDING (it is
 * not the event's fault) and asks the edge to disable the endpoint; the attempt still counts.
 */
export function afterAttempt(event: EventSchedule, result: AttemptResult, now: number, policy: RetryPolicy, random: () => number): EventDecision {
  const attempts = event.attempts + 1;
  const outcome = classifyAttempt(result);
  if (outcome === 'DELIVERED') return { status: 'DELIVERED', attempts };
  const deadline = event.createdAt + policy.maxAgeMs;
  if (outcome !== 'GONE') {
    if (attempts >= policy.maxAttempts) return { status: 'FAILED', attempts, reason: 'MAX_ATTEMPTS' };
    if (now >= deadline) return { status: 'FAILED', attempts, reason: 'MAX_AGE' };
  }
  let delay = retryDelayMs(attempts, policy, random);
  if (result.kind === 'response' && result.retryAfterMs !== undefined && Number.isFinite(result.retryAfterMs)) {
    delay = Math.max(delay, Math.min(Math.max(0, result.retryAfterMs), policy.maxRetryAfterMs));
  }
  // A disabled endpoint's events wait for it to be re-enabled; their age does not fail them meanwhile.
  const nextAttemptAt = outcome === 'GONE' ? now + delay : Math.min(now + delay, Math.max(deadline, now));
  return { status: 'PENDING', attempts, nextAttemptAt, disableEndpoint: outcome === 'GONE' };
}

/**
 * `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP-date. `undefined` for anything
 * else (the header is the receiver's, so a garbage value is ignored, not an error).
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  // HTTP-dates always name a weekday and "GMT"; Date.parse alone accepts far looser input.
  if (!/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

export interface HealthPolicy {
  /** Consecutive failed attempts after which only one event at a time is sent (probe). */
  openAfterFailures: number;
  /** Failing without one success this long disables the endpoint. */
  disableAfterMs: number;
}

export const DEFAULT_HEALTH_POLICY: HealthPolicy = { openAfterFailures: 5, disableAfterMs: 5 * 24 * 3_600_000 };

/** Stored on the endpoint row. */
export interface EndpointHealth {
  consecutiveFailures: number;
  /** Epoch ms of the first failure since the last success; null while healthy. */
  failingSince: number | null;
}

export const HEALTHY: EndpointHealth = { consecutiveFailures: 0, failingSince: null };

export type HealthDecision = { health: EndpointHealth; disable: null | 'GONE' | 'FAILING_TOO_LONG' };

/** The endpoint's health after one attempt. */
export function updateHealth(health: EndpointHealth, result: AttemptResult, now: number, policy: HealthPolicy): HealthDecision {
  const outcome = classifyAttempt(result);
  if (outcome === 'DELIVERED') return { health: HEALTHY, disable: null };
  const failingSince = health.failingSince ?? now;
  const next = { consecutiveFailures: health.consecutiveFailures + 1, failingSince };
  if (outcome === 'GONE') return { health: next, disable: 'GONE' };
  return { health: next, disable: now - failingSince >= policy.disableAfterMs ? 'FAILING_TOO_LONG' : null };
}

/** How many events of the endpoint may be in flight at once: its configured limit, or one probe while the circuit is open. */
export function allowedInFlight(health: EndpointHealth, maxInFlight: number, policy: HealthPolicy): number {
  return health.consecutiveFailures >= policy.openAfterFailures ? Math.min(1, maxInFlight) : maxInFlight;
}
