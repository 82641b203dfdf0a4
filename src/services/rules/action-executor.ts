/**
 * The outbox's ActionExecutor (contract 3, port declared in src/services/outbox/index.ts): runs one
 * ACTION row of a rule (docs/outbox.md), written by the rules engine in the transaction of the alarm
 * transition, with its templates already expanded and `deviceId` set to the target's public id.
 *
 * - sendCommand goes through the command service, with everything an API caller's command gets: the
 *   device must be in the row's tenant, its model must declare the command, the params must fit the
 *   schema (src/services/commands/validation.ts), the rate limit applies. The idempotency key is
 *   `outbox:<row id>`: executing the row again (a crash after sending, a lease that expired) answers
 *   with the command the first execution stored and sends nothing more. The command's requester is
 *   `rule:<ruleId>`.
 * - updateDesired goes through the twin service's updateDesired as actor `rule:<ruleId>`: the patch is
 *   validated against the model's desired schema and audited as `twin.updateDesired`. A merge patch
 *   applied twice leaves the same document, so a re-execution changes nothing.
 * - notifyWebhook never reaches an ACTION row (the engine writes WEBHOOK rows for it): one seen here is
 *   refused for good.
 *
 * Every check is made again when the action fires, because the device, its model or the tenant may
 * have changed since the rule was saved. A refusal (no such device in the tenant, the device behind
 * `deviceKey` replaced by another with the same id, unknown command, params or patch refused) is
 * permanent: `{ok:false, retry:false}`. The database or the broker being unavailable, or the device's
 * rate limit, is transient: `retry:true`, and the outbox retries on its schedule.
 */
import type { SqlExecutor } from '../../db/client.ts';
import { DoppelError, NotFoundError, RateLimitedError, ValidationError } from '../../domain/errors.ts';
import type { Actor } from '../../domain/principal.ts';
import type { RuleAction } from '../../domain/rules/rule.ts';
import { isPlainObject } from '../../domain/twin.ts';
import type { CommandService } from '../commands/index.ts';
import type { ActionExecutor, ActionOutcome } from '../outbox/index.ts';
import type { TwinService } from '../twins/index.ts';

export type { ActionExecutor, ActionOutcome, OutboxActionRow } from '../outbox/index.ts';

export interface ActionExecutorOptions {
  sql: SqlExecutor;
  commands: Pick<CommandService, 'send'>;
  twins: Pick<TwinService, 'updateDesired'>;
}

/** The `data` of an ACTION row (contract 1). */
interface ActionData {
  action: RuleAction;
  ruleId: string;
  ruleVersion: number;
}

const permanent = (error: string): ActionOutcome => ({ ok: false, retry: false, error });

function describe(error: DoppelError): string {
  if (error instanceof ValidationError && error.issues.length > 0) {
    return `${error.code}: ${error.message} (${error.issues.map((i) => `${i.path.join('.')}: ${i.code} ${i.message}`).join('; ')})`;
  }
  return `${error.code}: ${error.message}`;
}

/** Refusals are permanent; a rate limit and anything unexpected (database, broker) are worth retrying. */
function outcomeOf(error: unknown): ActionOutcome {
  if (error instanceof RateLimitedError) return { ok: false, retry: true, error: describe(error) };
  if (error instanceof ValidationError || error instanceof NotFoundError) return permanent(describe(error));
  if (error instanceof DoppelError && error.code !== 'UNAVAILABLE') return permanent(describe(error));
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, retry: true, error: `${error instanceof DoppelError ? error.code : 'UNAVAILABLE'}: ${message}` };
}

function parse(data: unknown): ActionData | string {
  if (!isPlainObject(data)) return 'the row carries no action data';
  const { action, ruleId, ruleVersion } = data as Record<string, unknown>;
  if (typeof ruleId !== 'string' || typeof ruleVersion !== 'number') return 'the row names no rule';
  if (!isPlainObject(action) || typeof action.type !== 'string') return 'the row carries no action';
  return { action: action as unknown as RuleAction, ruleId, ruleVersion };
}

export function createActionExecutor(options: ActionExecutorOptions): ActionExecutor {
  const { sql, commands, twins } = options;

  return async (row) => {
    const data = parse(row.data);
    if (typeof data === 'string') return permanent(`INVALID_ACTION: ${data}`);
    const { action, ruleId } = data;
    if (action.type === 'notifyWebhook') return permanent('INVALID_ACTION: notifyWebhook runs as WEBHOOK rows, never as an ACTION row');
    if (action.type !== 'sendCommand' && action.type !== 'updateDesired')
      return permanent(`INVALID_ACTION: unknown action type ${JSON.stringify((action as { type: unknown }).type)}`);
    const deviceId = action.deviceId;
    if (typeof deviceId !== 'string') return permanent('INVALID_ACTION: the action names no target device');
    if (row.deviceKey === null) return permanent(describe(new NotFoundError('Device', deviceId)));
    const actor: Actor = { tenantId: row.tenantId, actor: `rule:${ruleId}`, actorName: `rule:${ruleId}` };
    try {
      // The device the row was written for, still in the tenant under the same id: a device deleted and
      // registered again is another device, which the rule never chose.
      const same = await sql.query<{ id: string }>(`SELECT id FROM "Device" WHERE id = $1::uuid AND "tenantId" = $2 AND "deviceId" = $3`, [
        row.deviceKey,
        row.tenantId,
        deviceId,
      ]);
      if (same.length === 0) return permanent(describe(new NotFoundError('Device', deviceId)));
      if (action.type === 'sendCommand') {
        const sent = await commands.send(actor, { deviceId, name: action.command, params: action.params ?? {}, idempotencyKey: `outbox:${row.id}` });
        return { ok: true, detail: `command ${sent.id}${sent.created ? '' : ' (already sent by an earlier execution)'}` };
      }
      const outcome = await twins.updateDesired(actor, { deviceId, patch: action.patch });
      if (!outcome.ok) return outcomeOf(outcome.error);
      return { ok: true, detail: `desired state of ${deviceId} at version ${outcome.version}${outcome.changed ? '' : ' (unchanged)'}` };
    } catch (error) {
      return outcomeOf(error);
    }
  };
}
