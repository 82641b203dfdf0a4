/**
 * The command service's outbox over MQTT: each command goes to `devices/{id}/commands/{commandId}`
 * (QoS 1, not retained) as the contract's CommandMessage.
 */
import type { CommandOutbox } from '../services/commands/index.ts';
import { encode, type CommandMessage } from './contract.ts';
import { topics } from './topics.ts';
import type { MqttTransport } from './transport.ts';

export function createMqttCommandOutbox(transport: Pick<MqttTransport, 'publish'>): CommandOutbox {
  return {
    async deliver(command) {
      const message: CommandMessage = { name: command.name, params: command.params, expiresAt: command.expiresAt };
      await transport.publish(topics.command(command.deviceId, command.commandId), encode(message), { qos: 1 });
    },
  };
}
