import { describe, expect, it } from 'vitest';
import { createApi } from '../../src/simulator/api.ts';

describe('simulator API client', () => {
  it('waits out HTTP 429 (Retry-After) and retries, so one token can register many devices', async () => {
    const calls: number[] = [];
    const fakeFetch = (async () => {
      calls.push(Date.now());
      if (calls.length < 3)
        return new Response('{"errors":[{"message":"rate limited","extensions":{"code":"RATE_LIMITED"}}]}', {
          status: 429,
          headers: { 'retry-after': '0.01' },
        });
      return Response.json({ data: { registerDevice: { __typename: 'DeviceWithCredentials', credentials: { username: 'd1', password: 'p' } } } });
    }) as typeof fetch;
    const api = createApi({ url: 'http://doppel.test/graphql', token: 't', fetch: fakeFetch });
    const outcome = await api.registerDevice({ deviceId: 'd1' } as Parameters<typeof api.registerDevice>[0]);
    expect(calls).toHaveLength(3);
    expect(JSON.stringify(outcome)).toContain('"password":"p"');
  });
});
