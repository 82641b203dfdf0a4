/**
 * Validation of new commands, before anything is stored: params (a JSON object within the size limit),
 * TTL, idempotency key, and the name and params against the device model. Issue paths are under
 * `input`, as the GraphQL mutations take them. When params are already malformed, model issues about
 * them would only repeat the problem, so they are left out.
 */
import type { CommandsConfig } from '../../config.ts';
import { failed, ValidationError, type Failed, type FieldIssue } from '../../domain/errors.ts';
import { MAX_DURATION_MS, type CommandDefinition, type CompiledModel } from '../../domain/models.ts';
import { isPlainObject, type JsonObject } from '../../domain/twin.ts';
import type { ModelService } from '../models.ts';
import type { FleetCommandInput, FleetTarget, SendCommandInput } from './requests.ts';

/** The model a device runs, as the device row carries it (null: the device has no model). */
export interface DeviceModelRef {
  modelId: string | null;
  model: { name: string; version: number } | null;
}

export type SingleChecked = { ok: true; params: JsonObject; definition: CommandDefinition } | Failed<ValidationError>;
export type FleetChecked = { ok: true; params: JsonObject; definitionOf: (target: FleetTarget) => CommandDefinition } | Failed<ValidationError>;

export interface CommandValidation {
  /** A command for one device against that device's model. */
  single(device: DeviceModelRef, input: SendCommandInput): Promise<SingleChecked>;
  /** A fleet command: every target against its own model version, all or nothing. `targetPath` names the targets in issues. */
  fleet(input: FleetCommandInput, targets: FleetTarget[], targetPath: string[]): Promise<FleetChecked>;
}

const touchesParams = (issues: FieldIssue[]) => issues.some((i) => i.path[1] === 'params');
const modelKey = (modelId: string | null, version: number | null) => `${modelId}@${version}`;

export function createCommandValidation(options: { models: Pick<ModelService, 'compiled' | 'compiledOne'>; config: CommandsConfig }): CommandValidation {
  const { models, config } = options;

  function paramIssues(params: unknown): { params: JsonObject; issues: FieldIssue[] } {
    const value = params ?? {};
    if (!isPlainObject(value)) return { params: {}, issues: [{ path: ['input', 'params'], code: 'INVALID_TYPE', message: 'params must be a JSON object' }] };
    if (Buffer.byteLength(JSON.stringify(value)) > config.maxParamsBytes) {
      return {
        params: value,
        issues: [{ path: ['input', 'params'], code: 'TOO_LARGE', message: `params must serialize to at most ${config.maxParamsBytes} bytes` }],
      };
    }
    return { params: value, issues: [] };
  }

  function ttlIssues(ttlMs: number | null | undefined): FieldIssue[] {
    if (ttlMs == null) return [];
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > MAX_DURATION_MS) {
      return [{ path: ['input', 'ttlMs'], code: 'OUT_OF_RANGE', message: `ttlMs must be 1–${MAX_DURATION_MS}` }];
    }
    return [];
  }

  /** `name` + `params` against a compiled model. */
  function commandIssues(model: CompiledModel | undefined, modelName: string | null, name: string, params: JsonObject) {
    const command = model?.command(name);
    if (!command) {
      const message = modelName
        ? `device model ${JSON.stringify(modelName)} declares no command ${JSON.stringify(name)}`
        : 'the device has no model, so it accepts no commands';
      return { command: undefined, issues: [{ path: ['input', 'name'], code: 'UNKNOWN_COMMAND', message }] };
    }
    const issues = command.validate(params).map((i) => ({ ...i, path: ['input', 'params', ...i.path] }));
    return { command, issues };
  }

  async function single(device: DeviceModelRef, input: SendCommandInput): Promise<SingleChecked> {
    const { params, issues } = paramIssues(input.params);
    issues.push(...ttlIssues(input.ttlMs));
    const key = input.idempotencyKey ?? null;
    if (key !== null && (key.length < 1 || key.length > 128)) {
      issues.push({ path: ['input', 'idempotencyKey'], code: 'INVALID_LENGTH', message: 'idempotencyKey must be 1–128 characters' });
    }
    const model = device.modelId && device.model ? await models.compiledOne(device.modelId, device.model.version) : undefined;
    const checked = commandIssues(model, device.model?.name ?? null, input.name, params);
    if (issues.length === 0 || !touchesParams(issues)) issues.push(...checked.issues);
    if (issues.length > 0) return failed(new ValidationError('invalid command', issues));
    return { ok: true, params, definition: checked.command!.definition };
  }

  async function fleet(input: FleetCommandInput, targets: FleetTarget[], targetPath: string[]): Promise<FleetChecked> {
    const { params, issues } = paramIssues(input.params);
    issues.push(...ttlIssues(input.ttlMs));
    if (targets.length === 0) issues.push({ path: targetPath, code: 'NO_DEVICES', message: 'the fleet command targets no device' });
    if (targets.length > config.maxFleetSize) {
      issues.push({ path: targetPath, code: 'TOO_MANY', message: `a fleet command may target at most ${config.maxFleetSize} devices (got ${targets.length})` });
    }
    const groups = new Map<string, { modelId: string; version: number; name: string; devices: FleetTarget[] }>();
    const noModel: FleetTarget[] = [];
    for (const d of targets) {
      if (!d.modelId || d.modelVersion === null) {
        noModel.push(d);
        continue;
      }
      const key = modelKey(d.modelId, d.modelVersion);
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { modelId: d.modelId, version: d.modelVersion, name: d.modelName ?? '', devices: [] }));
      group.devices.push(d);
    }
    if (noModel.length > 0) {
      const sample = noModel
        .slice(0, 5)
        .map((d) => d.deviceId)
        .join(', ');
      issues.push({ path: targetPath, code: 'UNKNOWN_COMMAND', message: `${noModel.length} device(s) have no model, so they accept no commands: ${sample}` });
    }
    const compiled = await models.compiled([...groups.values()].map((g) => ({ modelId: g.modelId, version: g.version })));
    const definitions = new Map<string, CommandDefinition>();
    if (!touchesParams(issues)) {
      for (const [key, group] of groups) {
        const checked = commandIssues(compiled.get(key), group.name, input.name, params);
        const label = `model ${JSON.stringify(group.name)} v${group.version} (${group.devices.length} device(s))`;
        for (const i of checked.issues) issues.push({ ...i, message: `${label}: ${i.message}` });
        if (checked.command) definitions.set(key, checked.command.definition);
      }
    }
    if (issues.length > 0) return failed(new ValidationError('invalid fleet command', issues));
    return { ok: true, params, definitionOf: (d) => definitions.get(modelKey(d.modelId, d.modelVersion))! };
  }

  return { single, fleet };
}
