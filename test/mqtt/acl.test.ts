import { describe, expect, it } from 'vitest';
import {
  canPublish,
  canReceive,
  canSubscribe,
  DEVICE_ACL_TEMPLATE,
  deviceAclRules,
  dynsecDeviceAcls,
  isAllowed,
  mosquittoAclPatterns,
} from '../../src/mqtt/acl.ts';

const ME = 'dev-1';

describe('canPublish', () => {
  it.each([
    'devices/dev-1/telemetry',
    'devices/dev-1/twin/reported',
    'devices/dev-1/twin/get',
    'devices/dev-1/commands/cmd-1/ack',
    'devices/dev-1/commands/0190f6a2-7c1e-7d3b-9a55-1f2e3d4c5b6a/ack',
    'devices/dev-1/status',
  ])('allows its own %s', (topic) => {
    expect(canPublish(ME, topic)).toBe(true);
  });

  it.each([
    // another device's topics
    ['devices/dev-2/telemetry', 'other device'],
    ['devices/dev-2/twin/reported', 'other device'],
    ['devices/dev-2/twin/get', 'other device'],
    ['devices/dev-2/commands/c1/ack', 'other device'],
    ['devices/dev-2/status', 'other device'],
    ['devices/dev-10/telemetry', 'other device with my id as prefix'],
    ['devices/dev/telemetry', 'other device that is a prefix of mine'],
    // wildcards in a publish topic
    ['devices/+/telemetry', '+ wildcard'],
    ['devices/dev-1/commands/+/ack', '+ wildcard'],
    ['devices/dev-1/#', '# wildcard'],
    ['devices/#', '# wildcard'],
    ['#', '# wildcard'],
    ['+/dev-1/telemetry', '+ wildcard'],
    // server → device topics
    ['devices/dev-1/twin/delta', 'server → device'],
    ['devices/dev-1/twin/reported/accepted', 'server → device'],
    ['devices/dev-1/twin/reported/rejected', 'server → device'],
    ['devices/dev-1/twin/get/accepted', 'server → device'],
    ['devices/dev-1/twin/get/rejected', 'server → device'],
    ['devices/dev-1/commands/c1', 'server → device'],
    // not in the contract
    ['devices/dev-1', 'no kind'],
    ['devices/dev-1/telemetry/extra', 'extra level'],
    ['devices/dev-1/config', 'unknown kind'],
    ['$SYS/broker/heartbeat', '$SYS'],
    ['$share/g/devices/dev-1/telemetry', '$share'],
    ['dev-1/telemetry', 'no root'],
    ['', 'empty'],
  ])('refuses %s (%s)', (topic) => {
    expect(canPublish(ME, topic)).toBe(false);
  });

  it('refuses an invalid device id even on a matching topic', () => {
    expect(canPublish('+', 'devices/+/telemetry')).toBe(false);
    expect(canPublish('', 'devices//telemetry')).toBe(false);
  });
});

describe('canSubscribe', () => {
  it.each([
    'devices/dev-1/twin/#',
    'devices/dev-1/commands/#',
    'devices/dev-1/twin/delta',
    'devices/dev-1/twin/+',
    'devices/dev-1/twin/reported/accepted',
    'devices/dev-1/twin/+/accepted',
    'devices/dev-1/twin/get/#',
    'devices/dev-1/commands/+',
    'devices/dev-1/commands/cmd-1',
    'devices/dev-1/telemetry/accepted',
  ])('allows its own %s', (filter) => {
    expect(canSubscribe(ME, filter)).toBe(true);
  });

  it.each([
    ['#', 'everything'],
    ['+', 'top level'],
    ['+/#', 'everything but $'],
    ['+/dev-1/twin/#', 'wildcard root'],
    ['devices/#', 'all devices'],
    ['devices/+', 'all devices'],
    ['devices/+/twin/#', 'all devices'],
    ['devices/+/twin/delta', 'all devices'],
    ['devices/+/commands/#', 'all devices'],
    ['devices/dev-1/#', 'own telemetry too'],
    ['devices/dev-1/+', 'own device-level topics'],
    ['devices/dev-1/+/delta', 'wildcard instead of twin'],
    ['devices/dev-1/telemetry', 'own telemetry'],
    ['devices/dev-1/status', 'own status'],
    ['devices/dev-2/twin/#', 'other device'],
    ['devices/dev-2/twin/delta', 'other device'],
    ['devices/dev-2/telemetry/accepted', "other device's receipts"],
    ['devices/+/telemetry/accepted', "all devices' receipts"],
    ['devices/dev-1/telemetry/#', 'receipts and own telemetry echoed'],
    ['devices/dev-1/telemetry/+', 'receipts by wildcard'],
    ['devices/dev-1/telemetry/accepted/#', 'below the receipts topic'],
    ['devices/dev-1/telemetry/rejected', 'no such topic'],
    ['devices/dev-2/commands/#', 'other device'],
    ['devices/dev-10/twin/#', 'other device with my id as prefix'],
    ['$SYS/#', '$SYS'],
    ['$SYS/broker/uptime', '$SYS'],
    ['$share/g/devices/dev-1/twin/#', '$share'],
    ['$share/g/#', '$share'],
    ['devices/dev-1/twin/#/x', 'malformed #'],
    ['devices/dev-1/twin/a#', 'malformed #'],
    ['devices/dev-1/twin/a+', 'malformed +'],
    ['', 'empty'],
  ])('refuses %s (%s)', (filter) => {
    expect(canSubscribe(ME, filter)).toBe(false);
  });
});

describe('rules as data', () => {
  it('lists the template', () => {
    expect(DEVICE_ACL_TEMPLATE).toEqual([
      { access: 'publish', pattern: 'devices/{deviceId}/telemetry' },
      { access: 'publish', pattern: 'devices/{deviceId}/twin/reported' },
      { access: 'publish', pattern: 'devices/{deviceId}/twin/get' },
      { access: 'publish', pattern: 'devices/{deviceId}/commands/+/ack' },
      { access: 'publish', pattern: 'devices/{deviceId}/status' },
      { access: 'subscribe', pattern: 'devices/{deviceId}/twin/#' },
      { access: 'subscribe', pattern: 'devices/{deviceId}/commands/#' },
      { access: 'subscribe', pattern: 'devices/{deviceId}/telemetry/accepted' },
    ]);
  });

  it('agrees with canPublish/canSubscribe for a concrete device', () => {
    for (const rule of deviceAclRules(ME)) {
      if (rule.access === 'subscribe') expect(canSubscribe(ME, rule.pattern)).toBe(true);
      else expect(canPublish(ME, rule.pattern.replace('+', 'c1'))).toBe(true);
    }
    expect(() => deviceAclRules('a/#')).toThrow(TypeError);
  });

  it('renders Mosquitto acl_file patterns', () => {
    expect(mosquittoAclPatterns()).toContain('pattern write devices/%u/commands/+/ack');
    expect(mosquittoAclPatterns()).toContain('pattern read devices/%u/twin/#');
    expect(mosquittoAclPatterns()).toContain('pattern read devices/%u/telemetry/accepted');
  });
});

describe('canReceive (delivery to the device)', () => {
  it.each([
    'devices/dev-1/twin/delta',
    'devices/dev-1/twin/reported/accepted',
    'devices/dev-1/twin/get/rejected',
    'devices/dev-1/commands/c1',
    'devices/dev-1/telemetry/accepted',
  ])('delivers its own %s', (topic) => expect(canReceive(ME, topic)).toBe(true));
  it.each([
    'devices/dev-1/twin/reported', // its own report, never echoed
    'devices/dev-1/twin/get',
    'devices/dev-1/commands/c1/ack',
    'devices/dev-1/telemetry',
    'devices/dev-2/twin/delta',
    'devices/dev-2/telemetry/accepted',
    '$SYS/broker/uptime',
    'devices/dev-1/twin/#', // a filter is not a topic
  ])('never delivers %s', (topic) => expect(canReceive(ME, topic)).toBe(false));
});

describe('isAllowed (HTTP auth endpoints)', () => {
  it('is canPublish / canSubscribe / canReceive by action', () => {
    for (const topic of ['devices/dev-1/telemetry', 'devices/dev-1/twin/#', 'devices/dev-1/twin/delta', '#', '$SYS/#', 'devices/dev-2/telemetry']) {
      expect(isAllowed(ME, 'publish', topic)).toBe(canPublish(ME, topic));
      expect(isAllowed(ME, 'subscribe', topic)).toBe(canSubscribe(ME, topic));
      expect(isAllowed(ME, 'receive', topic)).toBe(canReceive(ME, topic));
    }
  });
});

describe('dynsecDeviceAcls', () => {
  it('renders the allow-list as dynamic-security ACLs, and nothing else', () => {
    expect(dynsecDeviceAcls(ME)).toEqual([
      { acltype: 'publishClientSend', topic: 'devices/dev-1/telemetry', allow: true },
      { acltype: 'publishClientSend', topic: 'devices/dev-1/twin/reported', allow: true },
      { acltype: 'publishClientSend', topic: 'devices/dev-1/twin/get', allow: true },
      { acltype: 'publishClientSend', topic: 'devices/dev-1/commands/+/ack', allow: true },
      { acltype: 'publishClientSend', topic: 'devices/dev-1/status', allow: true },
      { acltype: 'subscribePattern', topic: 'devices/dev-1/twin/#', allow: true },
      { acltype: 'publishClientReceive', topic: 'devices/dev-1/twin/#', allow: true },
      { acltype: 'unsubscribePattern', topic: 'devices/dev-1/twin/#', allow: true },
      { acltype: 'subscribePattern', topic: 'devices/dev-1/commands/#', allow: true },
      { acltype: 'publishClientReceive', topic: 'devices/dev-1/commands/#', allow: true },
      { acltype: 'unsubscribePattern', topic: 'devices/dev-1/commands/#', allow: true },
      { acltype: 'subscribePattern', topic: 'devices/dev-1/telemetry/accepted', allow: true },
      { acltype: 'publishClientReceive', topic: 'devices/dev-1/telemetry/accepted', allow: true },
      { acltype: 'unsubscribePattern', topic: 'devices/dev-1/telemetry/accepted', allow: true },
    ]);
    expect(() => dynsecDeviceAcls('+')).toThrow(TypeError);
  });
});
