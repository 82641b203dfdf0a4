/**
 * The wire format of Mosquitto's dynamic-security control API, pure: commands go as JSON to
 * {@link DYNSEC_TOPIC}; the plugin answers on {@link DYNSEC_RESPONSE_TOPIC}, one response per command,
 * each carrying back the command's `correlationData`. Ours is `<message id>:<index>`.
 */

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;

/** One dynsec command: `{ command: 'createClient', username, … }`. */
export type DynsecCommand = { command: string } & Record<string, unknown>;
export interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
  correlationData?: string;
}

/** The body of one control message: the commands, each tagged `<id>:<index>`. */
export function encodeRequest(id: string, commands: readonly DynsecCommand[]): string {
  return JSON.stringify({ commands: commands.map((cmd, i) => ({ ...cmd, correlationData: `${id}:${i}` })) });
}

/** The responses of one response message; undefined when it is not JSON. */
export function decodeResponses(payload: Buffer): DynsecResponse[] | undefined {
  let body: { responses?: DynsecResponse[] };
  try {
    body = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
  } catch {
    return undefined;
  }
  return Array.isArray(body.responses) ? body.responses : [];
}

/** The message id the responses answer (from the first that carries correlation data); other admins' may carry none. */
export function correlationIdOf(responses: readonly DynsecResponse[]): string | undefined {
  return responses.find((r) => typeof r.correlationData === 'string')?.correlationData?.split(':')[0];
}

/**
 * One response per command, in command order. The plugin answers every command, in order; index by
 * correlation data anyway, and stand in "no response" for one missing.
 */
export function inCommandOrder(commands: readonly DynsecCommand[], responses: readonly DynsecResponse[]): DynsecResponse[] {
  const byIndex = new Map(responses.map((r) => [Number(r.correlationData?.split(':')[1]), r]));
  return commands.map((cmd, i) => byIndex.get(i) ?? { command: cmd.command, error: 'no response' });
}

/** Errors that mean "already so": creating what exists, removing what is gone. */
const HARMLESS: Record<string, RegExp> = {
  createRole: /already exists/i,
  createClient: /already exists/i,
  deleteClient: /not found/i,
  deleteRole: /not found/i,
  addRoleACL: /already exists/i,
};

/** Did `command` fail for real? Harmless errors ("already so") are not failures. */
export function isFailure(command: DynsecCommand, response: DynsecResponse): boolean {
  return Boolean(response.error) && !HARMLESS[command.command]?.test(response.error!);
}
