/**
 * The dynamic-security admin connection: one MQTT client of a dynsec admin user that publishes command
 * messages and matches each response message to its request by correlation data, with a timeout.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  correlationIdOf,
  decodeResponses,
  DYNSEC_RESPONSE_TOPIC,
  DYNSEC_TOPIC,
  encodeRequest,
  inCommandOrder,
  isFailure,
  type DynsecCommand,
  type DynsecResponse,
} from './protocol.ts';

/** The responses to sent commands, in order, and how many failed for real. */
export interface SendResult {
  responses: DynsecResponse[];
  failures: number;
}

export interface DynsecControl {
  /** Connects and subscribes to the responses; rejects when Mosquitto cannot be reached or refuses the login (no retries). Later drops reconnect. */
  connect: () => Promise<void>;
  /**
   * Sends commands, `batchSize` per message, each message awaited. Real errors are logged and counted
   * (harmless "already so" ones are not); rejects when a message gets no answer in time.
   */
  send: (commands: DynsecCommand[]) => Promise<SendResult>;
  /** Rejects requests still waiting and disconnects. */
  close: () => Promise<void>;
}

export interface DynsecControlOptions {
  url: string;
  username: string;
  password: string;
  log: Logger;
  batchSize: number;
  /** How long to wait for the plugin's answer to one control message; also the connect timeout. */
  timeoutMs: number;
  /** Counts one failed command (by command name). */
  countFailure(command: string): void;
}

interface Waiter {
  resolve: (r: DynsecResponse[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export function createDynsecControl(options: DynsecControlOptions): DynsecControl {
  const { log } = options;
  const pending = new Map<string, Waiter>();
  let client: MqttClient | undefined;
  let seq = 0;

  function onMessage(topic: string, payload: Buffer): void {
    if (topic !== DYNSEC_RESPONSE_TOPIC) return;
    const responses = decodeResponses(payload);
    if (!responses) {
      log.warn('unparseable dynamic-security response');
      return;
    }
    // Other admins' responses are not ours.
    const id = correlationIdOf(responses);
    const waiter = id === undefined ? undefined : pending.get(id);
    if (!waiter || id === undefined) return;
    pending.delete(id);
    clearTimeout(waiter.timer);
    waiter.resolve(responses);
  }

  /** Sends one message of commands; resolves with one response per command, in order. */
  function sendOne(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const c = client;
    if (!c) return Promise.reject(new Error('dynamic-security sync is not started'));
    const id = `${process.pid}.${++seq}.${randomBytes(3).toString('hex')}`;
    return new Promise<DynsecResponse[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no dynamic-security response within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      pending.set(id, { resolve, reject, timer });
      c.publish(DYNSEC_TOPIC, encodeRequest(id, commands), { qos: 1 }, (err) => {
        if (!err) return;
        clearTimeout(timer);
        pending.delete(id);
        reject(err);
      });
    }).then((responses) => inCommandOrder(commands, responses));
  }

  return {
    async connect() {
      const c = await mqtt.connectAsync(
        options.url,
        {
          username: options.username,
          password: options.password,
          clientId: `doppel-dynsec-${randomBytes(6).toString('hex')}`,
          reconnectPeriod: 1000,
          connectTimeout: options.timeoutMs,
          clean: true,
          // Fail start-up when Mosquitto cannot be reached (no retries here); later drops reconnect.
        },
        false,
      );
      client = c;
      c.on('message', onMessage);
      c.on('error', (err) => log.warn({ err: err.message }, 'dynamic-security control connection error'));
      await c.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
      // Subscriptions of a clean session die with a dropped connection: renew them on reconnect.
      c.on('connect', () => void c.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 }).catch(() => undefined));
    },

    async send(commands) {
      const responses: DynsecResponse[] = [];
      let failures = 0;
      for (let i = 0; i < commands.length; i += options.batchSize) {
        const batch = commands.slice(i, i + options.batchSize);
        const answers = await sendOne(batch);
        answers.forEach((r, j) => {
          const cmd = batch[j]!;
          if (!isFailure(cmd, r)) return;
          failures++;
          options.countFailure(cmd.command);
          log.error({ command: cmd.command, username: cmd.username, rolename: cmd.rolename, error: r.error }, 'dynamic-security command failed');
        });
        responses.push(...answers);
      }
      return { responses, failures };
    },

    async close() {
      for (const [id, w] of pending) {
        clearTimeout(w.timer);
        w.reject(new Error('dynamic-security sync stopped'));
        pending.delete(id);
      }
      await client?.endAsync(true).catch(() => undefined);
      client = undefined;
    },
  };
}
