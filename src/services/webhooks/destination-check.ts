/**
 * The save-time SSRF check of an endpoint URL (docs/webhooks.md "Destinations"): the URL against the
 * policy (src/domain/webhooks/destination.ts parseDestination) and then every address its host resolves
 * to right now (judgeResolved). Refusing at save gives the admin the reason while they are looking; the
 * deliverer checks again before each attempt, because DNS answers and the policy change.
 */
import { lookup } from 'node:dns/promises';
import type { Config } from '../../config.ts';
import type { FieldIssue } from '../../domain/errors.ts';
import { judgeResolved, parseCidr, parseDestination, type Cidr, type DestinationPolicy } from '../../domain/webhooks/destination.ts';

/** Every address a host name resolves to (A and AAAA). Throws when the name does not resolve. */
export type HostResolver = (host: string) => Promise<string[]>;

export const systemResolver: HostResolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** The policy the configuration describes (its CIDRs were checked when the configuration was loaded). */
export function policyOf(config: Pick<Config['webhooks'], 'allowHttp' | 'allowedNetworks'>): DestinationPolicy {
  return { allowHttp: config.allowHttp, allowedNetworks: config.allowedNetworks.map(parseCidr).filter((c): c is Cidr => c !== null) };
}

/** The normalized URL, or the issue (path ["url"]) explaining the refusal. */
export async function checkDestination(
  url: string,
  policy: DestinationPolicy,
  resolve: HostResolver,
): Promise<{ ok: true; url: string } | { ok: false; issue: FieldIssue }> {
  const parsed = parseDestination(url, policy);
  if (!parsed.ok) return { ok: false, issue: { path: ['url'], code: parsed.reason, message: parsed.message } };
  const { destination } = parsed;
  // A literal address has been judged by parseDestination already.
  if (destination.literal) return { ok: true, url: destination.url };
  let addresses: string[];
  try {
    addresses = await resolve(destination.host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'ERROR';
    return { ok: false, issue: { path: ['url'], code: 'UNRESOLVABLE_HOST', message: `${destination.host} does not resolve (${code})` } };
  }
  const verdict = judgeResolved(addresses, policy);
  if (!verdict.ok) return { ok: false, issue: { path: ['url'], code: verdict.reason, message: verdict.message } };
  return { ok: true, url: destination.url };
}
