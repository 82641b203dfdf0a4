import { describe, expect, it } from 'vitest';
import {
  deviceTopicTemplates,
  formatInboundTopic,
  isFilterWithin,
  isValidTopicFilter,
  isValidTopicName,
  parseInboundTopic,
  sharedSubscriptionFilters,
  topics,
  type InboundTopic,
} from '../../src/mqtt/topics.ts';
import { isValidDeviceId } from '../../src/domain/ids.ts';

describe('isValidDeviceId', () => {
  it.each(['a', 'A-b_c.9', 'x'.repeat(64), 'sensor-01', '...', '-'])('accepts %j', (id) => {
    expect(isValidDeviceId(id)).toBe(true);
  });
  it.each(['', 'x'.repeat(65), 'a/b', 'a+b', '#', '+', 'a b', 'ä', '$SYS', 'a:b', 'a\u0000', undefined, null, 42])('refuses %j', (id) => {
    expect(isValidDeviceId(id)).toBe(false);
  });
});

describe('parseInboundTopic', () => {
  const cases: Array<[string, InboundTopic]> = [
    ['devices/d1/telemetry', { deviceId: 'd1', kind: 'telemetry' }],
    ['devices/d1/twin/reported', { deviceId: 'd1', kind: 'twinReported' }],
    ['devices/d1/twin/get', { deviceId: 'd1', kind: 'twinGet' }],
    ['devices/d1/commands/cmd-42/ack', { deviceId: 'd1', kind: 'commandAck', commandId: 'cmd-42' }],
    ['devices/d1/status', { deviceId: 'd1', kind: 'status' }],
    ['devices/A.b_c-9/telemetry', { deviceId: 'A.b_c-9', kind: 'telemetry' }],
  ];
  it.each(cases)('parses %s', (topic, expected) => {
    expect(parseInboundTopic(topic)).toEqual(expected);
    expect(formatInboundTopic(expected)).toBe(topic);
  });

  it.each([
    '',
    'devices',
    'devices/d1',
    'devices/d1/',
    'devices//telemetry',
    'devices/+/telemetry',
    'devices/#',
    'devices/d1/#',
    'devices/d1/telemetry/',
    'devices/d1/telemetry/x',
    'devices/d1/telemetry/accepted', // server → device (receipts)
    '/devices/d1/telemetry',
    'Devices/d1/telemetry',
    'devices/d1/twin',
    'devices/d1/twin/delta',
    'devices/d1/twin/reported/accepted',
    'devices/d1/twin/reported/rejected',
    'devices/d1/twin/get/accepted',
    'devices/d1/twin/get/rejected',
    'devices/d1/commands/c1',
    'devices/d1/commands/+/ack',
    'devices/d1/commands//ack',
    'devices/d1/commands/c1/ack/x',
    'devices/d1/commands/c1/nack',
    `devices/${'x'.repeat(65)}/telemetry`,
    '$share/g/devices/d1/telemetry',
    '$SYS/broker/uptime',
    'other/d1/telemetry',
  ])('ignores %j', (topic) => {
    expect(parseInboundTopic(topic)).toBeNull();
  });
});

describe('topic builders', () => {
  it('build the contract topics', () => {
    expect(topics.telemetry('d1')).toBe('devices/d1/telemetry');
    expect(topics.twinReported('d1')).toBe('devices/d1/twin/reported');
    expect(topics.twinGet('d1')).toBe('devices/d1/twin/get');
    expect(topics.commandAck('d1', 'c1')).toBe('devices/d1/commands/c1/ack');
    expect(topics.status('d1')).toBe('devices/d1/status');
    expect(topics.reportedAccepted('d1')).toBe('devices/d1/twin/reported/accepted');
    expect(topics.telemetryAccepted('d1')).toBe('devices/d1/telemetry/accepted');
    expect(topics.reportedRejected('d1')).toBe('devices/d1/twin/reported/rejected');
    expect(topics.getAccepted('d1')).toBe('devices/d1/twin/get/accepted');
    expect(topics.getRejected('d1')).toBe('devices/d1/twin/get/rejected');
    expect(topics.delta('d1')).toBe('devices/d1/twin/delta');
    expect(topics.command('d1', 'c1')).toBe('devices/d1/commands/c1');
    expect(topics.twinFilter('d1')).toBe('devices/d1/twin/#');
    expect(topics.commandsFilter('d1')).toBe('devices/d1/commands/#');
  });

  it.each(['', 'a/b', '+', '#', 'x'.repeat(65), 'a b'])('refuse the device id %j', (id) => {
    expect(() => topics.delta(id)).toThrow(TypeError);
    expect(() => topics.telemetry(id)).toThrow(TypeError);
  });

  it.each(['', 'a/b', '+', '#'])('refuse the command id %j', (commandId) => {
    expect(() => topics.command('d1', commandId)).toThrow(TypeError);
    expect(() => topics.commandAck('d1', commandId)).toThrow(TypeError);
  });
});

describe('sharedSubscriptionFilters', () => {
  it('covers every device → server topic of every device', () => {
    expect(sharedSubscriptionFilters('doppel')).toEqual([
      '$share/doppel/devices/+/telemetry',
      '$share/doppel/devices/+/twin/reported',
      '$share/doppel/devices/+/twin/get',
      '$share/doppel/devices/+/commands/+/ack',
      '$share/doppel/devices/+/status',
    ]);
  });
  it.each(['', 'a/b', '+', '#', 'a b'])('refuses the group %j', (group) => {
    expect(() => sharedSubscriptionFilters(group)).toThrow(TypeError);
  });
  it('agrees with the templates', () => {
    expect(deviceTopicTemplates('%u').subscribe).toEqual({
      twin: 'devices/%u/twin/#',
      commands: 'devices/%u/commands/#',
      telemetryReceipts: 'devices/%u/telemetry/accepted',
    });
  });
});

describe('topic filter helpers', () => {
  it.each(['#', '+', 'a/+/b', 'a/#', '+/+', 'a//b', '/'])('valid filter %j', (f) => expect(isValidTopicFilter(f)).toBe(true));
  it.each(['', 'a#', 'a/#/b', 'a/b+', '#/a', 'a\u0000'])('invalid filter %j', (f) => expect(isValidTopicFilter(f)).toBe(false));
  it.each(['a', 'a/b', '/a'])('valid topic name %j', (t) => expect(isValidTopicName(t)).toBe(true));
  it.each(['', 'a/+', '#', 'a\u0000'])('invalid topic name %j', (t) => expect(isValidTopicName(t)).toBe(false));

  it.each([
    ['devices/d1/twin/#', true],
    ['devices/d1/twin', true],
    ['devices/d1/twin/delta', true],
    ['devices/d1/twin/+', true],
    ['devices/d1/twin/+/accepted', true],
    ['devices/d1/#', false],
    ['devices/+/twin/#', false],
    ['devices/d1/+/delta', false],
    ['devices/d1/tw', false],
    ['devices/d1/twinx/#', false],
    ['#', false],
    ['devices/d1/twin/#/x', false],
  ] as const)('isFilterWithin(%j, devices/d1/twin/#) = %s', (filter, expected) => {
    expect(isFilterWithin(filter, 'devices/d1/twin/#')).toBe(expected);
  });
});
