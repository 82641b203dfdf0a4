import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveDeviceKey, isDerivedKey } from '../../src/security/derived-keys.ts';
import { MAX_REQUEST_BYTES, parseProvisionRequest, policyRefusal, validatePolicyInput } from '../../src/domain/provisioning/policy.ts';
import { isProvisionReplyFilter, parseProvisionRequestTopic, provisionTopics } from '../../src/mqtt/topics.ts';

describe('provisioning (pure)', () => {
  it('derives device keys as Base64(HMAC-SHA256(groupKey, deviceId)), as a factory computes them offline', () => {
    const expected = createHmac('sha256', 'group-secret').update('sensor-0001').digest('base64');
    expect(deriveDeviceKey('group-secret', 'sensor-0001')).toBe(expected);
    expect(isDerivedKey('group-secret', 'sensor-0001', expected)).toBe(true);
    expect(isDerivedKey('group-secret', 'sensor-0002', expected)).toBe(false);
    expect(isDerivedKey('other-group', 'sensor-0001', expected)).toBe(false);
    expect(isDerivedKey('group-secret', 'sensor-0001', '')).toBe(false);
  });

  it('parses a request and refuses anything else with a reason', () => {
    expect(parseProvisionRequest(Buffer.from('{"deviceId":"cold-01"}'))).toEqual({ ok: true, request: { deviceId: 'cold-01' } });
    expect(parseProvisionRequest(Buffer.from('{"deviceId":"cold-01","claimToken":"dpc_x","fw":"1.2"}'))).toEqual({
      ok: true,
      request: { deviceId: 'cold-01', claimToken: 'dpc_x' },
    });
    const code = (payload: string | Buffer) => {
      const r = parseProvisionRequest(Buffer.isBuffer(payload) ? payload : Buffer.from(payload));
      return r.ok ? 'ok' : r.error.code;
    };
    expect(code('not json')).toBe('INVALID_REQUEST');
    expect(code('[]')).toBe('INVALID_REQUEST');
    expect(code('null')).toBe('INVALID_REQUEST');
    expect(code('{"deviceId":"cold-01","claimToken":5}')).toBe('INVALID_REQUEST');
    expect(code(Buffer.alloc(MAX_REQUEST_BYTES + 1, 32))).toBe('INVALID_REQUEST');
    expect(code('{}')).toBe('INVALID_DEVICE_ID');
    expect(code('{"deviceId":"a/b"}')).toBe('INVALID_DEVICE_ID');
    expect(code('{"deviceId":"provision"}')).toBe('INVALID_DEVICE_ID');
    expect(code(`{"deviceId":"${'x'.repeat(65)}"}`)).toBe('INVALID_DEVICE_ID');
  });

  it('says why a policy may not provision now', () => {
    const now = Date.parse('2026-12-02T10:00:00Z');
    const open = { enabled: true, expiresAt: null, maxDevices: null, devicesProvisioned: 0 };
    expect(policyRefusal(open, now)).toBeNull();
    expect(policyRefusal({ ...open, enabled: false }, now)?.code).toBe('POLICY_DISABLED');
    expect(policyRefusal({ ...open, expiresAt: new Date(now) }, now)?.code).toBe('TOKEN_EXPIRED');
    expect(policyRefusal({ ...open, expiresAt: new Date(now + 1) }, now)).toBeNull();
    expect(policyRefusal({ ...open, maxDevices: 2, devicesProvisioned: 2 }, now)?.code).toBe('TOKEN_EXHAUSTED');
    expect(policyRefusal({ ...open, maxDevices: 2, devicesProvisioned: 1 }, now)).toBeNull();
  });

  it('validates policy input with a path and code per problem', () => {
    const now = Date.now();
    expect(validatePolicyInput({ name: 'line A', mode: 'ALLOW_LIST', allowedDeviceIds: ['s-1'], tags: ['site:x'], maxDevices: 10 }, now)).toEqual([]);
    const codes = validatePolicyInput(
      { name: '', mode: 'CLAIM_TOKEN', allowedDeviceIds: ['s-1', 'bad id'], tags: ['bad tag'], maxDevices: 0, expiresAt: new Date(now - 1), modelName: '€' },
      now,
    ).map((i) => `${i.path.join('.')}:${i.code}`);
    expect(codes).toEqual([
      'input.name:INVALID_NAME',
      'input.expiresAt:IN_THE_PAST',
      'input.maxDevices:OUT_OF_RANGE',
      'input.model:INVALID_MODEL',
      'input.tags.0:INVALID_TAG',
      'input.allowedDeviceIds:NOT_ALLOW_LIST',
      'input.allowedDeviceIds.1:INVALID_DEVICE_ID',
    ]);
  });

  it('provisioning topics: only the request id’s own, never wildcards', () => {
    expect(provisionTopics.request('req-1')).toBe('provision/req-1/request');
    expect(parseProvisionRequestTopic('provision/req-1/request')).toBe('req-1');
    for (const topic of ['provision/+/request', 'provision/req-1/accepted', 'provision/req-1', 'devices/req-1/request', 'provision/a/b/request']) {
      expect(parseProvisionRequestTopic(topic), topic).toBeNull();
    }
    expect(isProvisionReplyFilter('req-1', 'provision/req-1/+')).toBe(true);
    expect(isProvisionReplyFilter('req-1', 'provision/req-1/accepted')).toBe(true);
    expect(isProvisionReplyFilter('req-1', 'provision/req-1/#')).toBe(false);
    expect(isProvisionReplyFilter('req-1', 'provision/+/accepted')).toBe(false);
    expect(isProvisionReplyFilter('req-1', 'provision/req-2/+')).toBe(false);
    expect(() => provisionTopics.accepted('a/b')).toThrow(TypeError);
  });
});
