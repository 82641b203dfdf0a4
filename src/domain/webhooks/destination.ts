/**
 * The SSRF policy for webhook destinations (docs/outbox.md "Destinations"). Pure: it judges a URL and
 * the addresses its host resolved to; resolving and connecting are the edge's.
 *
 * Why these choices:
 *
 * - A webhook URL is typed by a tenant admin and fetched from inside our network, so it is an
 *   invitation to reach what only we can reach: the database, the broker, a cloud metadata service.
 *   Every resolved address is classified and anything but a public unicast address is refused, unless
 *   an operator's allow-list (CIDRs, from configuration) covers it.
 * - ALL addresses a name resolves to must pass, and the edge must connect to one of the checked
 *   addresses (never resolve again): otherwise a name that answers "public" to the check and
 *   "127.0.0.1" to the connect (DNS rebinding) walks straight past the policy.
 * - IPv4 embedded in IPv6 (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged as
 *   the IPv4 address it reaches; the deprecated IPv4-compatible ::a.b.c.d and Teredo are refused.
 * - Cloud metadata addresses are refused even when a wider allow-list range covers them: only an entry
 *   naming exactly that address permits it. Allowing 169.254.0.0/16 for a link-local device network
 *   must not silently hand out the instance's credentials.
 * - https only. http is allowed when the operator says so (WEBHOOKS_ALLOW_HTTP), or for a loopback
 *   host that the allow-list permits (the tests' local receiver). URLs with credentials are refused:
 *   they would be logged and shown with the endpoint. Redirects are never followed (the edge's job;
 *   a redirect is a destination this policy never saw).
 */

export type AddressClass =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'unspecified'
  | 'this-network'
  | 'cgnat'
  | 'metadata'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking'
  | 'ipv4-compatible'
  | 'teredo'
  | 'site-local'
  | 'invalid';

export interface IpAddress {
  family: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  prefix: number;
}

export interface DestinationPolicy {
  /** Plain http to any permitted host (WEBHOOKS_ALLOW_HTTP). */
  allowHttp: boolean;
  /** Ranges permitted whatever their class (e.g. 127.0.0.0/8 in tests, a partner's VPN range). */
  allowedNetworks: readonly Cidr[];
}

export const STRICT_POLICY: DestinationPolicy = { allowHttp: false, allowedNetworks: [] };

// ---------------------------------------------------------------------------------------------- parsing

/** Strict dotted quad: four decimal octets without leading zeros (no octal, hex or short forms). */
export function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** RFC 4291 text forms: hex groups, one `::`, an optional trailing dotted quad; a zone (`%eth0`) is dropped. */
export function parseIpv6(input: string): bigint | null {
  let text = input;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  if (text.length === 0 || text.length > 45) return null;
  let tailGroups: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    tailGroups = [Number(v4 >> 16n), Number(v4 & 0xffffn)];
    text = text.slice(0, lastColon + 1) + '0';
    // The placeholder '0' keeps the splitting below uniform; it is replaced by the two groups.
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const groups = s.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const replaceTail = (groups: number[]): number[] => (tailGroups.length ? [...groups.slice(0, -1), ...tailGroups] : groups);
  let groups: number[];
  if (halves.length === 2) {
    const h = tail.length === 0 && tailGroups.length ? replaceTail(head) : head;
    const t = tail.length ? replaceTail(tail) : [];
    const missing = 8 - h.length - t.length;
    if (missing < 1) return null;
    groups = [...h, ...new Array<number>(missing).fill(0), ...t];
  } else {
    groups = replaceTail(head);
    if (groups.length !== 8) return null;
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** An IPv4 or IPv6 literal (IPv6 with or without brackets). */
export function parseIp(text: string): IpAddress | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return { family: 4, value: v4 };
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!unbracketed.includes(':')) return null;
  const v6 = parseIpv6(unbracketed);
  return v6 === null ? null : { family: 6, value: v6 };
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). Host bits must be zero: a typo is refused, not widened. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (ip === null) return null;
  const bits = ip.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > bits) return null;
  }
  if ((ip.value & ~mask(ip.family, prefix) & allOnes(ip.family)) !== 0n) return null;
  return { family: ip.family, base: ip.value, prefix };
}

function allOnes(family: 4 | 6): bigint {
  return family === 4 ? 0xffff_ffffn : (1n << 128n) - 1n;
}

function mask(family: 4 | 6, prefix: number): bigint {
  const bits = family === 4 ? 32 : 128;
  return prefix === 0 ? 0n : (allOnes(family) >> BigInt(bits - prefix)) << BigInt(bits - prefix);
}

export function inCidr(address: IpAddress, cidr: Cidr): boolean {
  return address.family === cidr.family && (address.value & mask(cidr.family, cidr.prefix)) === cidr.base;
}

// ----------------------------------------------------------------------------------------- classifying

function range(text: string): Cidr {
  return parseCidr(text)!;
}

/** Checked in order: the first match wins, so narrower ranges come before the ranges that contain them. */
const IPV4_RANGES: ReadonlyArray<[Cidr, AddressClass]> = [
  [range('169.254.169.254/32'), 'metadata'],
  [range('0.0.0.0/32'), 'unspecified'],
  [range('0.0.0.0/8'), 'this-network'],
  [range('10.0.0.0/8'), 'private'],
  [range('100.64.0.0/10'), 'cgnat'],
  [range('127.0.0.0/8'), 'loopback'],
  [range('169.254.0.0/16'), 'link-local'],
  [range('172.16.0.0/12'), 'private'],
  [range('192.0.0.0/24'), 'reserved'],
  [range('192.0.2.0/24'), 'documentation'],
  [range('192.88.99.0/24'), 'reserved'],
  [range('192.168.0.0/16'), 'private'],
  [range('198.18.0.0/15'), 'benchmarking'],
  [range('198.51.100.0/24'), 'documentation'],
  [range('203.0.113.0/24'), 'documentation'],
  [range('224.0.0.0/4'), 'multicast'],
  [range('255.255.255.255/32'), 'broadcast'],
  [range('240.0.0.0/4'), 'reserved'],
];

const IPV6_RANGES: ReadonlyArray<[Cidr, AddressClass]> = [
  [range('fd00:ec2::254/128'), 'metadata'],
  [range('::/128'), 'unspecified'],
  [range('::1/128'), 'loopback'],
  [range('2001::/32'), 'teredo'],
  [range('2001:db8::/32'), 'documentation'],
  [range('2001:2::/48'), 'benchmarking'],
  [range('100::/64'), 'reserved'],
  [range('fc00::/7'), 'unique-local'],
  [range('fe80::/10'), 'link-local'],
  [range('fec0::/10'), 'site-local'],
  [range('ff00::/8'), 'multicast'],
];

const MAPPED = range('::ffff:0:0/96');
const NAT64 = range('64:ff9b::/96');
const SIX_TO_FOUR = range('2002::/16');
const COMPATIBLE = range('::/96');
/** Global unicast: everything else outside 2000::/3 is unassigned. */
const GLOBAL_UNICAST = range('2000::/3');

/**
 * The IPv4 address an IPv6 address reaches, when it embeds one (mapped, NAT64, 6to4). The edge
 * checks the address it will connect to; the network delivers it to the embedded IPv4 host.
 */
export function embeddedIpv4(address: IpAddress): IpAddress | null {
  if (address.family !== 6) return null;
  if (inCidr(address, MAPPED) || inCidr(address, NAT64)) return { family: 4, value: address.value & 0xffff_ffffn };
  if (inCidr(address, SIX_TO_FOUR)) return { family: 4, value: (address.value >> 80n) & 0xffff_ffffn };
  return null;
}

export function classifyAddress(address: IpAddress): AddressClass {
  const ranges = address.family === 4 ? IPV4_RANGES : IPV6_RANGES;
  for (const [range, cls] of ranges) if (inCidr(address, range)) return cls;
  if (address.family === 4) return 'public';
  const v4 = embeddedIpv4(address);
  if (v4 !== null) return classifyAddress(v4);
  if (inCidr(address, COMPATIBLE)) return 'ipv4-compatible';
  return inCidr(address, GLOBAL_UNICAST) ? 'public' : 'reserved';
}

/** Classifies an address given as text; unparseable text is `invalid` (and so refused). */
export function classifyText(text: string): AddressClass {
  const ip = parseIp(text);
  return ip === null ? 'invalid' : classifyAddress(ip);
}

export type AddressVerdict = { ok: true; address: string; class: AddressClass; allowedBy: Cidr | null } | { ok: false; address: string; class: AddressClass };

/** Is a connection to this address permitted? Public addresses are; the rest only through the allow-list. */
export function judgeAddress(text: string, policy: DestinationPolicy): AddressVerdict {
  const ip = parseIp(text);
  if (ip === null) return { ok: false, address: text, class: 'invalid' };
  const cls = classifyAddress(ip);
  // The allow-list is checked against the address as written and, for embedded IPv4, the IPv4 it reaches.
  const candidates = [ip, embeddedIpv4(ip)].filter((a): a is IpAddress => a !== null);
  const bits = (family: 4 | 6) => (family === 4 ? 32 : 128);
  for (const cidr of policy.allowedNetworks) {
    for (const candidate of candidates) {
      if (!inCidr(candidate, cidr)) continue;
      if (cls === 'metadata' && cidr.prefix !== bits(cidr.family)) continue;
      return { ok: true, address: text, class: cls, allowedBy: cidr };
    }
  }
  return cls === 'public' ? { ok: true, address: text, class: cls, allowedBy: null } : { ok: false, address: text, class: cls };
}

export type ResolvedVerdict =
  | { ok: true; addresses: string[] }
  | { ok: false; reason: 'NO_ADDRESS'; message: string }
  | { ok: false; reason: 'REFUSED_ADDRESS'; message: string; refused: Array<{ address: string; class: AddressClass }> };

/**
 * Judges every address the host resolved to. All must pass: the edge then connects to one of
 * `addresses` (pinned), never to a fresh lookup.
 */
export function judgeResolved(addresses: readonly string[], policy: DestinationPolicy): ResolvedVerdict {
  if (addresses.length === 0) return { ok: false, reason: 'NO_ADDRESS', message: 'the host resolved to no address' };
  const refused: Array<{ address: string; class: AddressClass }> = [];
  for (const address of addresses) {
    const verdict = judgeAddress(address, policy);
    if (!verdict.ok) refused.push({ address, class: verdict.class });
  }
  if (refused.length > 0) {
    const list = refused.map((r) => `${r.address} (${r.class})`).join(', ');
    return { ok: false, reason: 'REFUSED_ADDRESS', message: `destination refused: ${list}`, refused };
  }
  return { ok: true, addresses: [...addresses] };
}

// -------------------------------------------------------------------------------------------- the URL

export type DestinationError = {
  ok: false;
  reason: 'INVALID_URL' | 'SCHEME_NOT_ALLOWED' | 'CREDENTIALS_IN_URL' | 'REFUSED_ADDRESS';
  message: string;
};

export interface Destination {
  /** The URL to POST to, normalized, without fragment. */
  url: string;
  protocol: 'https:' | 'http:';
  /** Host name without brackets (for IPv6 literals), lower case. */
  host: string;
  port: number;
  /** The host is an IP literal: no lookup is needed, and it has been judged already. */
  literal: boolean;
}

const MAX_URL_LENGTH = 2048;

function isLoopbackName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

/**
 * Parses and checks an endpoint URL when it is saved and again before each attempt (the policy may
 * have changed). A host name passes here; its resolved addresses go through `judgeResolved`.
 */
export function parseDestination(text: unknown, policy: DestinationPolicy): { ok: true; destination: Destination } | DestinationError {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_URL_LENGTH) {
    return { ok: false, reason: 'INVALID_URL', message: `a webhook URL is 1–${MAX_URL_LENGTH} characters` };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'INVALID_URL', message: 'not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, reason: 'SCHEME_NOT_ALLOWED', message: `scheme ${url.protocol} is not allowed; use https` };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'CREDENTIALS_IN_URL', message: 'a webhook URL must not carry credentials; the request is signed instead' };
  }
  if (url.hostname === '') return { ok: false, reason: 'INVALID_URL', message: 'the URL has no host' };
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname.toLowerCase();
  const literal = parseIp(host) !== null;
  if (literal) {
    const verdict = judgeAddress(host, policy);
    if (!verdict.ok) return { ok: false, reason: 'REFUSED_ADDRESS', message: `destination refused: ${host} (${verdict.class})` };
  }
  if (url.protocol === 'http:' && !policy.allowHttp) {
    // http only to a loopback the operator allowed (tests' local receiver): nothing leaves the machine in clear.
    const loopback = literal ? classifyText(host) === 'loopback' : isLoopbackName(host);
    const allowed = loopback && (literal ? judgeAddress(host, policy).ok : judgeAddress('127.0.0.1', policy).ok);
    if (!allowed)
      return { ok: false, reason: 'SCHEME_NOT_ALLOWED', message: 'http is allowed only with WEBHOOKS_ALLOW_HTTP or to an allowed loopback; use https' };
  }
  url.hash = '';
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { ok: true, destination: { url: url.toString(), protocol: url.protocol, host, port, literal } };
}
