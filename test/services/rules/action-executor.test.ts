/**
 * How the action executor classifies outcomes (what the outbox retries and what it fails for good).
 * The real path (a device on MQTT receiving the command, once) is in test/e2e/rules-api.test.ts; here
 * the ports fail on purpose, which a real database and broker cannot be made to do on cue.
 */
import { describe, expect, it } from 'vitest';
import { RateLimitedError, ValidationError } from '../../../src/domain/errors.ts';
import { UnavailableError } from '../../../src/domain/faults.ts';
import type { CommandService } from '../../../src/services/commands/index.ts';
import { createActionExecutor, type OutboxActionRow } from '../../../src/services/rules/action-executor.ts';
import type { TwinService } from '../../../src/services/twins/index.ts';

const DEVICE_UUID = '00000000-0000-4000-8000-00000000000a';
const row = (action: object, deviceKey: string | null = DEVICE_UUID): OutboxActionRow => ({
  id: '00000000-0000-4000-8000-0000000000b1',
  tenantId: 'acme',
  eventId: '00000000-0000-4000-8000-0000000000e1',
  alarmId: null,
  deviceKey,
  attempts: 0,
  data: { action, ruleId: 'r1', ruleVersion: 3, alarmId: null, trigger: { deviceId: 'sensor', value: 1 } },
});

function executor(options: { deviceExists?: boolean; send?: CommandService['send']; updateDesired?: TwinService['updateDesired']; sqlFails?: boolean }) {
  const calls: Array<{ actor: unknown; input: unknown }> = [];
  const execute = createActionExecutor({
    sql: {
      query: <T>() =>
        options.sqlFails
          ? Promise.reject(new Error('connection refused'))
          : Promise.resolve((options.deviceExists === false ? [] : [{ id: DEVICE_UUID }]) as T[]),
    },
    commands: {
      send: async (actor, input) => {
        calls.push({ actor, input });
        return options.send ? options.send(actor, input) : { id: 'c1', created: true };
      },
    },
    twins: { updateDesired: options.updateDesired ?? (() => Promise.resolve({ ok: true as const, deviceUuid: DEVICE_UUID, changed: true, version: 2 })) },
  });
  return { execute, calls };
}

const open = { type: 'sendCommand', deviceId: 'valve-7', command: 'open', params: { minutes: 10 } };

describe('the rule action executor', () => {
  it('sends as the rule, with the row as idempotency key', async () => {
    const { execute, calls } = executor({});
    expect(await execute(row(open))).toEqual({ ok: true, detail: 'command c1' });
    expect(calls).toEqual([
      {
        actor: { tenantId: 'acme', actor: 'rule:r1', actorName: 'rule:r1' },
        input: { deviceId: 'valve-7', name: 'open', params: { minutes: 10 }, idempotencyKey: 'outbox:00000000-0000-4000-8000-0000000000b1' },
      },
    ]);
  });

  it('retries what is transient: the database or broker unavailable, a rate limit, an unexpected error', async () => {
    const cases = [
      executor({ send: () => Promise.reject(new UnavailableError('the database is unavailable')) }),
      executor({ send: () => Promise.reject(new RateLimitedError('valve-7', 10, 60_000, 5_000)) }),
      executor({ sqlFails: true }),
      executor({ updateDesired: () => Promise.reject(new UnavailableError('twin update')) }),
    ];
    const outcomes = [
      await cases[0]!.execute(row(open)),
      await cases[1]!.execute(row(open)),
      await cases[2]!.execute(row(open)),
      await cases[3]!.execute(row({ type: 'updateDesired', deviceId: 'valve-7', patch: { on: true } })),
    ];
    for (const o of outcomes) expect(o).toMatchObject({ ok: false, retry: true });
    expect(outcomes.map((o) => (o.ok ? '' : o.error.split(':')[0]))).toEqual(['UNAVAILABLE', 'RATE_LIMITED', 'UNAVAILABLE', 'UNAVAILABLE']);
  });

  it('fails for good what is refused or malformed, without calling the services', async () => {
    const refusedParams = executor({
      send: () => Promise.reject(new ValidationError('invalid command', [{ path: ['input', 'params', 'minutes'], code: 'OUT_OF_RANGE', message: 'too many' }])),
    });
    expect(await refusedParams.execute(row(open))).toEqual({
      ok: false,
      retry: false,
      error: 'VALIDATION_FAILED: invalid command (input.params.minutes: OUT_OF_RANGE too many)',
    });
    const { execute, calls } = executor({ deviceExists: false });
    const outcomes = [
      await execute(row(open)), // the device behind deviceKey is gone (or was replaced under the same id)
      await execute(row(open, null)),
      await execute(row({ type: 'notifyWebhook', endpointId: 'e1' })),
      await execute(row({ type: 'explode' })),
      await execute(row({ type: 'sendCommand', command: 'open', params: {} })), // no deviceId: the engine always sets it
      await execute({ ...row(open), data: 'garbage' }),
    ];
    for (const o of outcomes) expect(o).toMatchObject({ ok: false, retry: false });
    expect(outcomes.map((o) => (o.ok ? '' : o.error.split(':')[0]))).toEqual([
      'NOT_FOUND',
      'NOT_FOUND',
      'INVALID_ACTION',
      'INVALID_ACTION',
      'INVALID_ACTION',
      'INVALID_ACTION',
    ]);
    expect(calls).toEqual([]);
  });
});
