/** Canceling a command that has not been delivered yet (PENDING → CANCELED), audited. */
import { commandEvents, type CommandStatus } from '../../domain/commands/state-machine.ts';
import { CommandStateError, NotFoundError } from '../../domain/errors.ts';
import { isUuid } from '../../domain/ids.ts';
import type { Actor } from '../../domain/principal.ts';
import type { AuditLog } from '../audit.ts';
import { requesterColumns, type CommandStore } from './store.ts';
import type { CommandTransitions } from './transitions.ts';

export interface CancelOptions {
  store: CommandStore;
  transitions: CommandTransitions;
  audit: Pick<AuditLog, 'record'>;
  now: () => number;
}

/**
 * Returns the command's id. Canceling a canceled command returns it unchanged (and is audited: the
 * caller asked); NotFoundError for a command outside the actor's tenant, CommandStateError once it was delivered.
 */
export function createCancel(options: CancelOptions): (actor: Actor, commandId: string) => Promise<string> {
  const { store, transitions, now } = options;

  return async (actor, commandId) => {
    const [row] = isUuid(commandId) ? await store.loadByIds([commandId]) : [];
    if (!row || row.tenantId !== actor.tenantId) throw new NotFoundError('Command', commandId);
    let refusal: { reason: string; status: CommandStatus } | undefined;
    await transitions.apply(
      [row],
      () => commandEvents.cancel(requesterColumns(actor).label),
      now(),
      (r, reason) => {
        refusal = { reason, status: r.status };
      },
    );
    if (refusal && refusal.reason !== 'DUPLICATE') {
      throw new CommandStateError(commandId, refusal.status, `only commands not yet delivered can be canceled; this one is ${refusal.status}`);
    }
    await options.audit.record({ ...actor, action: 'command.cancel', target: `command:${row.id}` });
    return row.id;
  };
}
