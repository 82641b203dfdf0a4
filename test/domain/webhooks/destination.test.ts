import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  STRICT_POLICY,
  classifyText,
  judgeAddress,
  judgeResolved,
  parseCidr,
  parseDestination,
  parseIp,
  parseIpv6,
  type DestinationPolicy,
} from '../../../src/domain/webhooks/destination.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);

function allow(...cidrs: string[]): DestinationPolicy {
  return { allowHttp: false, allowedNetworks: cidrs.map((c) => parseCidr(c)!) };
}

describe('parsing addresses', () => {
  it.each([
    ['::', 0n],
    ['::1', 1n],
    ['1::', 1n << 112n],
    ['2001:db8::8:800:200c:417a', 0x20010db8000000000008080020_0c417an],
    ['::ffff:192.0.2.1', 0xffff_c000_0201n],
    ['64:ff9b::10.0.0.1', (0x64ff9bn << 96n) | 0x0a00_0001n],
    ['fe80::1%eth0', (0xfe80n << 112n) | 1n],
    ['FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF', (1n << 128n) - 1n],
    ['1:2:3:4:5:6:1.2.3.4', 0x0001_0002_0003_0004_0005_0006_0102_0304n],
  ])('IPv6 %s', (text, value) => {
    expect(parseIpv6(text)).toBe(value);
  });

  it.each(['', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::', '::1.2.3', '::256.1.1.1', '1:2:3:4:5:6:7::8'])(
    'refuses IPv6 %j',
    (text) => {
      expect(parseIpv6(text)).toBeNull();
    },
  );

  it.each(['1.2.3', '1.2.3.4.5', '01.2.3.4', '0x7f.0.0.1', '256.0.0.1', '1.2.3.-4', '127.1', ' 1.2.3.4'])(
    'refuses IPv4 %j (no shorthand or octal forms)',
    (text) => {
      expect(parseIp(text)).toBeNull();
    },
  );

  it('property: every IPv4 address, and its mapped IPv6 form, parses to its value', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        const v4 = parseIp(ip);
        expect(v4?.family).toBe(4);
        expect(parseIp(`::ffff:${ip}`)?.value).toBe(0xffff_0000_0000n | v4!.value);
      }),
      { numRuns },
    );
  });

  it('property: every IPv6 text form fast-check makes parses', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        expect(parseIp(ip)?.family).toBe(6);
      }),
      { numRuns },
    );
  });

  it('CIDRs: host bits must be zero, prefixes in range', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ family: 4, base: 0x0a00_0000n, prefix: 8 });
    expect(parseCidr('127.0.0.1')).toMatchObject({ prefix: 32 });
    expect(parseCidr('::1')).toMatchObject({ family: 6, prefix: 128 });
    expect(parseCidr('0.0.0.0/0')).toMatchObject({ prefix: 0 });
    for (const bad of ['10.0.0.1/8', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', 'host/8']) expect(parseCidr(bad)).toBeNull();
  });
});

describe('classifying addresses', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this-network'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.10', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['2606:4700:4700::1111', 'public'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['fec0::1', 'site-local'],
    ['2001:db8::1', 'documentation'],
    ['2001:0:4136:e378::1', 'teredo'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:c0a8:0101::1', 'private'],
    ['2002:0808:0808::1', 'public'],
    ['::127.0.0.1', 'ipv4-compatible'],
    ['4000::1', 'reserved'],
    ['not an ip', 'invalid'],
  ])('%s is %s', (address, cls) => {
    expect(classifyText(address)).toBe(cls);
  });
});

describe('judging addresses', () => {
  it('refuses everything but public unicast by default', () => {
    expect(judgeAddress('8.8.8.8', STRICT_POLICY)).toMatchObject({ ok: true, allowedBy: null });
    for (const a of ['127.0.0.1', '10.0.0.1', '::1', '::ffff:10.0.0.1', 'fd00::1', '169.254.169.254', '0.0.0.0', 'x']) {
      expect(judgeAddress(a, STRICT_POLICY).ok).toBe(false);
    }
  });

  it('the allow-list permits what it covers, including the IPv4 an IPv6 address embeds', () => {
    const policy = allow('127.0.0.0/8', '10.20.0.0/16');
    expect(judgeAddress('127.0.0.1', policy).ok).toBe(true);
    expect(judgeAddress('::ffff:127.0.0.1', policy).ok).toBe(true);
    expect(judgeAddress('10.20.3.4', policy).ok).toBe(true);
    expect(judgeAddress('10.21.3.4', policy).ok).toBe(false);
    expect(judgeAddress('::1', policy).ok).toBe(false);
    expect(judgeAddress('::1', allow('::1')).ok).toBe(true);
  });

  it('metadata addresses pass only an entry naming them exactly, never a wider range', () => {
    expect(judgeAddress('169.254.169.254', allow('169.254.0.0/16')).ok).toBe(false);
    expect(judgeAddress('169.254.1.1', allow('169.254.0.0/16')).ok).toBe(true);
    expect(judgeAddress('169.254.169.254', allow('0.0.0.0/0')).ok).toBe(false);
    expect(judgeAddress('169.254.169.254', allow('169.254.169.254/32')).ok).toBe(true);
    expect(judgeAddress('fd00:ec2::254', allow('fc00::/7')).ok).toBe(false);
  });

  it('a host resolving to several addresses passes only if every one does (no rebinding through the other record)', () => {
    expect(judgeResolved(['8.8.8.8', '2606:4700:4700::1111'], STRICT_POLICY)).toEqual({ ok: true, addresses: ['8.8.8.8', '2606:4700:4700::1111'] });
    const mixed = judgeResolved(['8.8.8.8', '127.0.0.1'], STRICT_POLICY);
    expect(mixed).toMatchObject({ ok: false, reason: 'REFUSED_ADDRESS', refused: [{ address: '127.0.0.1', class: 'loopback' }] });
    expect(judgeResolved([], STRICT_POLICY)).toMatchObject({ ok: false, reason: 'NO_ADDRESS' });
  });

  it('property: with an empty allow-list, no private, loopback or link-local IPv4 (or its mapped form) passes', () => {
    const privateV4 = fc.oneof(
      fc.tuple(fc.constant(10), fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(127), fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(192), fc.constant(168), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(0), fc.nat(255), fc.nat(255), fc.nat(255)),
    );
    fc.assert(
      fc.property(privateV4, (octets) => {
        const ip = octets.join('.');
        expect(judgeAddress(ip, STRICT_POLICY).ok).toBe(false);
        expect(judgeAddress(`::ffff:${ip}`, STRICT_POLICY).ok).toBe(false);
        expect(judgeAddress(`64:ff9b::${ip}`, STRICT_POLICY).ok).toBe(false);
      }),
      { numRuns },
    );
  });
});

describe('destination URLs', () => {
  it('accepts https to a public host, drops the fragment, keeps path and query', () => {
    expect(parseDestination('https://Hooks.Example.com:8443/in?x=1#frag', STRICT_POLICY)).toEqual({
      ok: true,
      destination: { url: 'https://hooks.example.com:8443/in?x=1', protocol: 'https:', host: 'hooks.example.com', port: 8443, literal: false },
    });
    expect(parseDestination('https://[2606:4700:4700::1111]/', STRICT_POLICY)).toMatchObject({
      ok: true,
      destination: { host: '2606:4700:4700::1111', port: 443, literal: true },
    });
  });

  it.each([
    ['not a URL', 'hooks.example.com/in', 'INVALID_URL'],
    ['an empty string', '', 'INVALID_URL'],
    ['a huge URL', `https://example.com/${'a'.repeat(3000)}`, 'INVALID_URL'],
    ['a number', 42, 'INVALID_URL'],
    ['ftp', 'ftp://example.com/', 'SCHEME_NOT_ALLOWED'],
    ['file', 'file:///etc/passwd', 'SCHEME_NOT_ALLOWED'],
    ['http to a public host', 'http://example.com/', 'SCHEME_NOT_ALLOWED'],
    ['credentials', 'https://user:pass@example.com/', 'CREDENTIALS_IN_URL'],
    ['a loopback literal', 'https://127.0.0.1/', 'REFUSED_ADDRESS'],
    ['a loopback literal in hex', 'https://0x7f.0.0.1/', 'REFUSED_ADDRESS'],
    ['a loopback literal as one number', 'https://2130706433/', 'REFUSED_ADDRESS'],
    ['a mapped loopback', 'https://[::ffff:127.0.0.1]/', 'REFUSED_ADDRESS'],
    ['the metadata address', 'https://169.254.169.254/latest/meta-data/', 'REFUSED_ADDRESS'],
    ['a private literal', 'https://10.0.0.5/', 'REFUSED_ADDRESS'],
    ['the unspecified address', 'https://0.0.0.0/', 'REFUSED_ADDRESS'],
    ['http to localhost not allowed', 'http://localhost:8080/', 'SCHEME_NOT_ALLOWED'],
  ])('refuses %s', (_, url, reason) => {
    expect(parseDestination(url, STRICT_POLICY)).toMatchObject({ ok: false, reason });
  });

  it('http: to an allowed loopback (the tests) or anywhere with allowHttp', () => {
    const tests = allow('127.0.0.0/8');
    expect(parseDestination('http://127.0.0.1:4567/hook', tests)).toMatchObject({ ok: true, destination: { protocol: 'http:', port: 4567 } });
    expect(parseDestination('http://localhost:4567/hook', tests)).toMatchObject({ ok: true });
    expect(parseDestination('http://example.com/hook', tests)).toMatchObject({ ok: false, reason: 'SCHEME_NOT_ALLOWED' });
    expect(parseDestination('http://10.0.0.1/', { ...tests, allowHttp: true })).toMatchObject({ ok: false, reason: 'REFUSED_ADDRESS' });
    expect(parseDestination('http://example.com/hook', { allowHttp: true, allowedNetworks: [] })).toMatchObject({ ok: true });
  });
});
