/**
 * The save-time check of a rule that needs the database (docs/rules.md "Checked when saved"): it runs
 * `checkRule` (src/domain/rules/rule.ts) with the type the scope's device model declares for a twin
 * source, then checks every action against the tenant:
 *
 * - a `sendCommand` / `updateDesired` with an explicit `deviceId` must name a device of the tenant; a
 *   device of another tenant is reported exactly like one that does not exist (`NOT_FOUND`), so a rule
 *   never reveals what other tenants have;
 * - a `sendCommand` target's model must declare the command, and the params must satisfy the command's
 *   params schema (the validators of src/services/models.ts, as sendCommand uses them);
 * - an `updateDesired` patch must fit the model's desired schema, when it has one (see `patchIssues`);
 * - a `notifyWebhook` endpoint must be a webhook endpoint of the tenant.
 *
 * Without an explicit `deviceId` the target is the triggering device: it is checked against the scope's
 * model when the scope names one. When the scope names no model (or a model that does not exist yet)
 * nothing is known about the triggering devices, so their commands and patches are checked only when
 * the action fires (src/services/rules/action-executor.ts), where a refusal fails the action for good.
 *
 * Templates (`{{value}}`, `{{deviceId}}`) have no value at save time. Each templated property is checked
 * for its JSON type only: `{{deviceId}}` is a string, `{{value}}` is any kind the rule's source can
 * produce (`sourceKinds`); the property is refused (TYPE_MISMATCH) when no such kind fits the schema's
 * type there. Constraints that depend on the value itself (minimum, enum, pattern, …) are left to fire
 * time and the response says so nowhere else: docs/rules.md documents it.
 */
import type { SqlExecutor } from '../../db/client.ts';
import { ValidationError, failed, type FieldIssue } from '../../domain/errors.ts';
import type { SchemaIssue } from '../../domain/models.ts';
import { checkRule, sourceKinds, type RuleAction, type RuleCheck, type RuleDefinition, type ValueKind } from '../../domain/rules/rule.ts';
import { isPlainObject, type JsonObject, type JsonValue, type TwinLimits } from '../../domain/twin.ts';
import type { ModelService } from '../models.ts';

export interface RuleSaveCheckDeps {
  sql: SqlExecutor;
  models: Pick<ModelService, 'compiledOne'>;
  twinLimits: TwinLimits;
}

/** A device model as the check needs it: its id and version (for the compiled validators) and schemas. */
interface ModelRow {
  id: string;
  name: string;
  version: number;
  desiredSchema: unknown;
  reportedSchema: unknown;
}

interface TargetRow {
  deviceId: string;
  modelId: string | null;
  modelName: string | null;
  modelVersion: number | null;
}

/**
 * `input` (a rule definition as the API takes it, untrusted) checked for saving in `tenantId`: every
 * problem at once, with paths under `at` (default `['input']`), or the normalized rule.
 */
export async function checkRuleForSave(deps: RuleSaveCheckDeps, tenantId: string, input: unknown, at: string[] = ['input']): Promise<RuleCheck> {
  const scopeModel = await loadScopeModel(deps.sql, tenantId, input);
  const declaredType = declaredTypeOf(input, scopeModel);
  const checked = checkRule(input, { twin: deps.twinLimits, declaredType, at });
  if (!checked.ok) return checked;
  const issues = await actionIssues(deps, tenantId, checked.rule, scopeModel, declaredType, at);
  if (issues.length > 0) {
    const n = issues.length;
    return failed(new ValidationError(`the rule was refused: ${n} problem${n === 1 ? '' : 's'}`, issues));
  }
  return checked;
}

/** The model the scope names, if it names one that exists in the tenant. */
async function loadScopeModel(sql: SqlExecutor, tenantId: string, input: unknown): Promise<ModelRow | undefined> {
  const scope = isPlainObject(input) ? input.scope : undefined;
  const name = isPlainObject(scope) ? scope.model : undefined;
  if (typeof name !== 'string') return undefined;
  const rows = await sql.query<ModelRow>(`SELECT id, name, version, "desiredSchema", "reportedSchema" FROM "DeviceModel" WHERE "tenantId" = $1 AND name = $2`, [
    tenantId,
    name,
  ]);
  return rows[0] ? { ...rows[0], version: Number(rows[0].version) } : undefined;
}

/** The JSON Schema `type` the scope's model declares at a reported/desired source path, if any. */
function declaredTypeOf(input: unknown, model: ModelRow | undefined): string | string[] | undefined {
  if (model === undefined || !isPlainObject(input) || !isPlainObject(input.source)) return undefined;
  const { type, path } = input.source;
  if ((type !== 'reported' && type !== 'desired') || !Array.isArray(path) || !path.every((k) => typeof k === 'string')) return undefined;
  return schemaTypeAt(type === 'reported' ? model.reportedSchema : model.desiredSchema, path as string[]);
}

/**
 * The `type` of the subschema at `path`, following `properties` (then an object-valued
 * `additionalProperties`) key by key. Undefined when the schema says nothing there: no schema, a path
 * through a `$ref`, a combinator (`anyOf`, …) or an open object. Nothing declared means the rule is
 * checked against every kind the source can carry.
 */
export function schemaTypeAt(schema: unknown, path: readonly string[]): string | string[] | undefined {
  let node: unknown = schema;
  for (const key of path) {
    if (!isPlainObject(node)) return undefined;
    const properties = node.properties;
    if (isPlainObject(properties) && Object.hasOwn(properties, key)) node = properties[key];
    else if (isPlainObject(node.additionalProperties)) node = node.additionalProperties;
    else return undefined;
  }
  if (!isPlainObject(node)) return undefined;
  const type = node.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type) && type.every((t) => typeof t === 'string')) return type as string[];
  return undefined;
}

async function actionIssues(
  deps: RuleSaveCheckDeps,
  tenantId: string,
  rule: RuleDefinition,
  scopeModel: ModelRow | undefined,
  declaredType: string | string[] | undefined,
  at: string[],
): Promise<FieldIssue[]> {
  const lists: Array<[string, RuleAction[]]> = [
    ['onRaise', rule.onRaise],
    ['onClear', rule.onClear],
  ];
  const all = lists.flatMap(([list, actions]) => actions.map((action, i) => ({ action, path: [...at, list, String(i)] })));
  if (all.length === 0) return [];

  // One query for every explicit target device, one for every endpoint: set-based, whatever the count.
  const deviceIds = [...new Set(all.flatMap(({ action }) => (action.type !== 'notifyWebhook' && action.deviceId !== undefined ? [action.deviceId] : [])))];
  const endpointIds = [...new Set(all.flatMap(({ action }) => (action.type === 'notifyWebhook' ? [action.endpointId] : [])))];
  const targets = new Map<string, TargetRow>();
  if (deviceIds.length > 0) {
    const rows = await deps.sql.query<TargetRow>(
      `SELECT d."deviceId", d."modelId", m.name AS "modelName", m.version AS "modelVersion"
         FROM "Device" d LEFT JOIN "DeviceModel" m ON m.id = d."modelId"
        WHERE d."tenantId" = $1 AND d."deviceId" = ANY($2::text[])`,
      [tenantId, deviceIds],
    );
    for (const row of rows) targets.set(row.deviceId, { ...row, modelVersion: row.modelVersion === null ? null : Number(row.modelVersion) });
  }
  const endpoints = new Set<string>();
  if (endpointIds.length > 0) {
    const rows = await deps.sql.query<{ id: string }>(`SELECT id::text AS id FROM "WebhookEndpoint" WHERE "tenantId" = $1 AND id::text = ANY($2::text[])`, [
      tenantId,
      endpointIds,
    ]);
    for (const row of rows) endpoints.add(row.id);
  }

  const valueKinds = sourceKinds(rule.source, declaredType);
  const issues: FieldIssue[] = [];
  for (const { action, path } of all) {
    if (action.type === 'notifyWebhook') {
      if (!endpoints.has(action.endpointId)) {
        issues.push({ path: [...path, 'endpointId'], code: 'NOT_FOUND', message: `webhook endpoint ${JSON.stringify(action.endpointId)} not found` });
      }
      continue;
    }
    // Which model the target runs: the explicit device's, or (triggering device) the scope's.
    let model: { id: string; name: string; version: number } | null | undefined;
    if (action.deviceId !== undefined) {
      const target = targets.get(action.deviceId);
      if (target === undefined) {
        issues.push({ path: [...path, 'deviceId'], code: 'NOT_FOUND', message: `device ${JSON.stringify(action.deviceId)} not found` });
        continue;
      }
      model =
        target.modelId !== null && target.modelName !== null && target.modelVersion !== null
          ? { id: target.modelId, name: target.modelName, version: target.modelVersion }
          : null;
    } else {
      model = scopeModel === undefined ? undefined : { id: scopeModel.id, name: scopeModel.name, version: scopeModel.version };
    }
    if (model === undefined) continue; // the triggering devices' models are unknown: checked when it fires
    const compiled = model === null ? undefined : await deps.models.compiledOne(model.id, model.version);
    const who = action.deviceId !== undefined ? `device ${JSON.stringify(action.deviceId)}` : `the scope's model ${JSON.stringify(model?.name)}`;
    if (action.type === 'sendCommand') {
      const command = compiled?.command(action.command);
      if (command === undefined) {
        const message =
          model === null
            ? `${who} has no model, so it accepts no commands`
            : `device model ${JSON.stringify(model.name)} declares no command ${JSON.stringify(action.command)}`;
        issues.push({ path: [...path, 'command'], code: 'UNKNOWN_COMMAND', message });
        continue;
      }
      issues.push(...templatedIssues(action.params, valueKinds, (params) => command.validate(params), [...path, 'params'], false));
    } else if (compiled?.hasDesiredSchema) {
      issues.push(...templatedIssues(action.patch, valueKinds, (doc) => compiled.validateDesired(doc), [...path, 'patch'], true));
    }
  }
  return issues;
}

const SAMPLES: Record<ValueKind, JsonValue> = { number: 0, boolean: false, string: 'x', other: null };

interface TemplateSite {
  path: string[];
  kinds: ValueKind[];
}

/**
 * `validate` applied to `doc` with each template replaced by a sample of a kind it can take (see the
 * module comment). For a merge patch (`patch`): a patch need not carry the fields the schema requires
 * (the stored document has them), and a null deletes, so REQUIRED issues and issues on null values
 * are dropped; the merged document is validated by the twin service when the action fires.
 */
function templatedIssues(doc: JsonObject, valueKinds: ValueKind[], validate: (value: unknown) => SchemaIssue[], at: string[], patch: boolean): FieldIssue[] {
  const sites: TemplateSite[] = [];
  collectTemplates(doc, [], valueKinds, sites);
  const substitute = (choose: (site: TemplateSite) => ValueKind): JsonValue => {
    let out: JsonValue = structuredClone(doc);
    for (const site of sites) out = setAt(out, site.path, SAMPLES[choose(site)]);
    return out;
  };
  const under = (p: string[], site: string[]) => site.every((k, i) => p[i] === k);
  const relevant = (i: SchemaIssue) => !(patch && (i.code === 'REQUIRED' || valueAt(doc, i.path) === null));

  // Everything but the templated properties, judged with a sample in each.
  const baseline = validate(substitute((s) => s.kinds[0] ?? 'other')).filter(relevant);
  const issues: FieldIssue[] = baseline.filter((i) => !sites.some((s) => under(i.path, s.path))).map((i) => ({ ...i, path: [...at, ...i.path] }));
  // Each templated property: refused only when no kind it can take has the right JSON type there.
  for (const site of sites) {
    const fits = site.kinds.some((kind) => {
      const result = validate(substitute((s) => (s === site ? kind : (s.kinds[0] ?? 'other'))));
      return !result.some((i) => i.code === 'INVALID_TYPE' && under(i.path, site.path) && i.path.length === site.path.length);
    });
    if (!fits) {
      issues.push({
        path: [...at, ...site.path],
        code: 'TYPE_MISMATCH',
        message: `the template is replaced by ${site.kinds.length === 0 ? 'no value' : site.kinds.map((k) => (k === 'other' ? 'null/objects' : `a ${k}`)).join(' or ')} when the action fires, and the schema allows none of these here`,
      });
    }
  }
  return issues;
}

function collectTemplates(value: JsonValue, path: string[], valueKinds: ValueKind[], out: TemplateSite[]): void {
  if (value === '{{value}}') out.push({ path, kinds: valueKinds });
  else if (value === '{{deviceId}}') out.push({ path, kinds: ['string'] });
  else if (Array.isArray(value)) value.forEach((v, i) => collectTemplates(v, [...path, String(i)], valueKinds, out));
  else if (isPlainObject(value)) for (const key of Object.keys(value)) collectTemplates(value[key]!, [...path, key], valueKinds, out);
}

function setAt(doc: JsonValue, path: string[], value: JsonValue): JsonValue {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(doc)) return doc.map((v, i) => (String(i) === head ? setAt(v, rest, value) : v));
  if (isPlainObject(doc)) {
    const out: JsonObject = {};
    for (const key of Object.keys(doc))
      Object.defineProperty(out, key, { value: key === head ? setAt(doc[key]!, rest, value) : doc[key], enumerable: true, writable: true, configurable: true });
    return out;
  }
  return doc;
}

function valueAt(doc: JsonValue, path: string[]): JsonValue | undefined {
  let node: JsonValue | undefined = doc;
  for (const key of path) {
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isPlainObject(node)) node = Object.hasOwn(node, key) ? node[key] : undefined;
    else return undefined;
  }
  return node;
}
