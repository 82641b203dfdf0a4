/**
 * The rule editor's form ↔ RuleInput, free of the DOM (unit-tested in test/console/rules-logic.test.ts).
 * The form holds what a person typed, as strings; `inputOf` turns it into the API's RuleInput or says,
 * per field, what cannot be sent. The server checks the rule again (checkRule) and its ValidationError
 * names fields by path (`["input","raise","value"]`): `fieldOfErrorPath` puts each message under the
 * form field it is about.
 */
import type { RuleInput, RuleSeverity, RuleSourceType, ConditionOperator } from './gql/graphql.ts';

export const SEVERITIES: readonly RuleSeverity[] = ['CRITICAL', 'MAJOR', 'MINOR', 'WARNING', 'INFO'];
export const SOURCE_TYPES: readonly RuleSourceType[] = ['TELEMETRY', 'REPORTED', 'DESIRED', 'CONNECTION'];
export const OPERATORS: readonly ConditionOperator[] = ['GT', 'GTE', 'LT', 'LTE', 'EQ', 'NEQ', 'BETWEEN', 'OUTSIDE', 'CHANGED', 'NO_DATA'];

/** Operators that compare with `value`; BETWEEN / OUTSIDE take low and high; CHANGED and NO_DATA take neither. */
export function operandsOf(op: ConditionOperator | ''): 'value' | 'range' | 'none' {
  if (op === 'BETWEEN' || op === 'OUTSIDE') return 'range';
  if (op === 'CHANGED' || op === 'NO_DATA' || op === '') return 'none';
  return 'value';
}

export interface ConditionForm {
  op: ConditionOperator | '';
  /** Typed as JSON when it parses (21.5, true, "on"), else taken as a string. */
  value: string;
  low: string;
  high: string;
  /** Seconds (people think in seconds; the API takes ms). Empty: at once. */
  forSeconds: string;
}

export interface RuleForm {
  name: string;
  description: string;
  enabled: boolean;
  severity: RuleSeverity;
  sourceType: RuleSourceType;
  metric: string;
  /** A twin path, dotted: `battery.level`. */
  path: string;
  raise: ConditionForm;
  /** Off: the rule clears when the raise condition stops holding (the API's default). */
  hasClear: boolean;
  clear: ConditionForm;
  /** Comma- or space-separated. */
  deviceIds: string;
  tags: string;
  model: string;
  /** JSON arrays of RuleActionInput, as the API takes them ("" or "[]": none). */
  onRaise: string;
  onClear: string;
}

const emptyCondition: ConditionForm = { op: '', value: '', low: '', high: '', forSeconds: '' };

export function emptyRuleForm(): RuleForm {
  return {
    name: '',
    description: '',
    enabled: true,
    severity: 'MAJOR',
    sourceType: 'TELEMETRY',
    metric: '',
    path: '',
    raise: { ...emptyCondition, op: 'GT' },
    hasClear: false,
    clear: { ...emptyCondition, op: 'LTE' },
    deviceIds: '',
    tags: '',
    model: '',
    onRaise: '',
    onClear: '',
  };
}

/** Form field keys, named by the RuleInput path they fill, so a server error path finds its field. */
export type FieldKey =
  | 'name'
  | 'description'
  | 'severity'
  | 'source'
  | 'source.type'
  | 'source.metric'
  | 'source.path'
  | 'raise'
  | 'raise.op'
  | 'raise.value'
  | 'raise.low'
  | 'raise.high'
  | 'raise.forMs'
  | 'clear'
  | 'clear.op'
  | 'clear.value'
  | 'clear.low'
  | 'clear.high'
  | 'clear.forMs'
  | 'scope'
  | 'scope.deviceIds'
  | 'scope.tags'
  | 'scope.model'
  | 'onRaise'
  | 'onClear';

const FIELD_KEYS: ReadonlySet<string> = new Set<FieldKey>([
  'name',
  'description',
  'severity',
  'source',
  'source.type',
  'source.metric',
  'source.path',
  'raise',
  'raise.op',
  'raise.value',
  'raise.low',
  'raise.high',
  'raise.forMs',
  'clear',
  'clear.op',
  'clear.value',
  'clear.low',
  'clear.high',
  'clear.forMs',
  'scope',
  'scope.deviceIds',
  'scope.tags',
  'scope.model',
  'onRaise',
  'onClear',
]);

/**
 * The form field a server error path is about: the longest known prefix of the path without its
 * leading `input` (`["input","scope","tags","2"]` → `scope.tags`; `["input","scope","tag"]` → `scope.tags`,
 * the form's one tag field). '' for the rule as a whole.
 */
export function fieldOfErrorPath(path: readonly string[]): FieldKey | '' {
  const parts = path[0] === 'input' ? path.slice(1) : [...path];
  if (parts[0] === 'scope' && parts[1] === 'tag') parts[1] = 'tags';
  for (let n = parts.length; n > 0; n--) {
    const key = parts.slice(0, n).join('.');
    if (FIELD_KEYS.has(key)) return key as FieldKey;
  }
  return '';
}

export type FieldProblems = Partial<Record<FieldKey | '', string[]>>;

/** Groups messages by the field they belong to. */
export function problemsByField(errors: ReadonlyArray<{ path: readonly string[]; message: string }>): FieldProblems {
  const grouped: FieldProblems = {};
  for (const error of errors) (grouped[fieldOfErrorPath(error.path)] ??= []).push(error.message);
  return grouped;
}

function list(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A typed value as JSON when it is JSON (numbers, booleans, quoted strings), else as the string typed. */
export function parseLooseValue(text: string): unknown {
  const trimmed = text.trim();
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return trimmed;
  }
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problems: FieldProblems };

function conditionInput(form: ConditionForm, at: 'raise' | 'clear', problems: FieldProblems): RuleInput['raise'] | undefined {
  if (!form.op) {
    (problems[`${at}.op`] ??= []).push('Choose an operator.');
    return undefined;
  }
  const condition: RuleInput['raise'] = { op: form.op };
  const operands = operandsOf(form.op);
  if (operands === 'value') {
    if (form.value.trim() === '') (problems[`${at}.value`] ??= []).push('Give the value to compare with.');
    else condition.value = parseLooseValue(form.value);
  }
  if (operands === 'range') {
    for (const side of ['low', 'high'] as const) {
      const n = Number(form[side]);
      if (form[side].trim() === '' || !Number.isFinite(n)) (problems[`${at}.${side}`] ??= []).push(`${side} must be a number.`);
      else condition[side] = n;
    }
  }
  if (form.forSeconds.trim() !== '') {
    const seconds = Number(form.forSeconds);
    if (!Number.isFinite(seconds) || seconds <= 0) (problems[`${at}.forMs`] ??= []).push('“for” must be a positive number of seconds.');
    else condition.forMs = Math.round(seconds * 1000);
  }
  return condition;
}

function actions(text: string, key: 'onRaise' | 'onClear', problems: FieldProblems): RuleInput['onRaise'] {
  if (text.trim() === '') return [];
  try {
    const value = JSON.parse(text) as unknown;
    if (Array.isArray(value)) return value as RuleInput['onRaise'];
    (problems[key] ??= []).push('Actions are a JSON list: [{"type": "UPDATE_DESIRED", "patch": {…}}].');
  } catch (error) {
    (problems[key] ??= []).push(`Not valid JSON: ${(error as Error).message}`);
  }
  return undefined;
}

/**
 * The form as the API's RuleInput, or every problem found, by field. Only what the form cannot say
 * is checked here (numbers, JSON); the rule's meaning is the server's to judge, and it says so per field.
 */
export function inputOf(form: RuleForm): Parsed<RuleInput> {
  const problems: FieldProblems = {};
  const name = form.name.trim();
  if (!name) (problems.name ??= []).push('Give the rule a name.');
  const source: RuleInput['source'] = { type: form.sourceType };
  if (form.sourceType === 'TELEMETRY') {
    if (!form.metric.trim()) (problems['source.metric'] ??= []).push('Name the metric to watch.');
    source.metric = form.metric.trim();
  } else if (form.sourceType === 'REPORTED' || form.sourceType === 'DESIRED') {
    const path = form.path.split('.').map((k) => k.trim());
    if (form.path.trim() === '' || path.some((k) => k === ''))
      (problems['source.path'] ??= []).push('Give the twin path, keys separated by dots: battery.level');
    source.path = path;
  }
  const raise = conditionInput(form.raise, 'raise', problems);
  const clear = form.hasClear ? conditionInput(form.clear, 'clear', problems) : undefined;
  const onRaise = actions(form.onRaise, 'onRaise', problems);
  const onClear = actions(form.onClear, 'onClear', problems);
  const scope: RuleInput['scope'] = {};
  const deviceIds = list(form.deviceIds);
  const tags = list(form.tags);
  if (deviceIds.length) scope.deviceIds = deviceIds;
  if (tags.length) scope.tags = tags;
  if (form.model.trim()) scope.model = form.model.trim();
  if (Object.keys(problems).length > 0 || !raise) return { ok: false, problems };
  const input: RuleInput = { name, severity: form.severity, enabled: form.enabled, source, raise, scope };
  if (form.description.trim()) input.description = form.description.trim();
  if (clear) input.clear = clear;
  if (onRaise?.length) input.onRaise = onRaise;
  if (onClear?.length) input.onClear = onClear;
  return { ok: true, value: input };
}

export interface RuleLike {
  name: string;
  description?: string | null;
  enabled: boolean;
  severity: RuleSeverity;
  source: { type: RuleSourceType; metric?: string | null; path?: readonly string[] | null };
  raise: ConditionLike;
  clear?: ConditionLike | null;
  scope: { deviceIds?: readonly string[] | null; tag?: string | null; tags?: readonly string[] | null; model?: string | null };
  onRaise: readonly unknown[];
  onClear: readonly unknown[];
}

interface ConditionLike {
  op: ConditionOperator;
  value?: unknown;
  low?: number | null;
  high?: number | null;
  forMs?: number | null;
}

function conditionForm(c: ConditionLike): ConditionForm {
  return {
    op: c.op,
    value: c.value === undefined || c.value === null ? '' : typeof c.value === 'string' ? c.value : JSON.stringify(c.value),
    low: c.low === undefined || c.low === null ? '' : String(c.low),
    high: c.high === undefined || c.high === null ? '' : String(c.high),
    forSeconds: c.forMs ? String(c.forMs / 1000) : '',
  };
}

/** Drops the null fields GraphQL returns for absent ones, so an action list reads as it was written. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([k, v]) => v !== null && k !== '__typename'));
  return value;
}

/** A saved rule as the form, to edit it (the inverse of inputOf for every rule inputOf can make). */
export function formOf(rule: RuleLike): RuleForm {
  const tags = [...(rule.scope.tags ?? []), ...(rule.scope.tag ? [rule.scope.tag] : [])];
  return {
    name: rule.name,
    description: rule.description ?? '',
    enabled: rule.enabled,
    severity: rule.severity,
    sourceType: rule.source.type,
    metric: rule.source.metric ?? '',
    path: (rule.source.path ?? []).join('.'),
    raise: conditionForm(rule.raise),
    hasClear: Boolean(rule.clear),
    clear: rule.clear ? conditionForm(rule.clear) : { ...emptyCondition, op: 'LTE' },
    deviceIds: (rule.scope.deviceIds ?? []).join(', '),
    tags: tags.join(', '),
    model: rule.scope.model ?? '',
    onRaise: rule.onRaise.length ? JSON.stringify(withoutNulls(rule.onRaise), null, 2) : '',
    onClear: rule.onClear.length ? JSON.stringify(withoutNulls(rule.onClear), null, 2) : '',
  };
}

/** The scope as one line for the rules list. */
export function describeScope(scope: RuleLike['scope']): string {
  const parts: string[] = [];
  if (scope.deviceIds?.length) parts.push(`devices ${scope.deviceIds.join(', ')}`);
  const tags = [...(scope.tags ?? []), ...(scope.tag ? [scope.tag] : [])];
  if (tags.length) parts.push(`tags ${tags.join(', ')}`);
  if (scope.model) parts.push(`model ${scope.model}`);
  return parts.length ? parts.join(' · ') : 'every device';
}

/** The condition as one line: `temp > 30 for 60 s`. */
export function describeCondition(subject: string, c: ConditionLike): string {
  const symbol: Partial<Record<ConditionOperator, string>> = { GT: '>', GTE: '≥', LT: '<', LTE: '≤', EQ: '=', NEQ: '≠' };
  const main =
    c.op === 'BETWEEN' || c.op === 'OUTSIDE'
      ? `${subject} ${c.op === 'BETWEEN' ? 'between' : 'outside'} ${c.low} and ${c.high}`
      : c.op === 'CHANGED'
        ? `${subject} changed`
        : c.op === 'NO_DATA'
          ? `no ${subject}`
          : `${subject} ${symbol[c.op] ?? c.op} ${JSON.stringify(c.value)}`;
  return c.forMs ? `${main} for ${c.forMs / 1000} s` : main;
}
