/**
 * Forms generated from a command's JSON Schema (an object schema): one field per property, typed by the
 * schema, and the text a person typed turned back into typed params. Only types are checked here;
 * ranges, patterns and required-ness are the server's to judge (its ValidationError names each field),
 * so the console can never disagree with the API about what is valid.
 */
export type FieldKind = 'number' | 'integer' | 'boolean' | 'enum' | 'string' | 'json';

export interface FormField {
  name: string;
  kind: FieldKind;
  required: boolean;
  /** For enums: the allowed values, as the schema lists them. */
  options?: unknown[];
  /** Shown beside the field: the schema's description and bounds. */
  hint: string;
}

type Schema = Record<string, unknown>;

export function formFields(schema: unknown): FormField[] {
  if (!isObject(schema) || !isObject(schema.properties)) return [];
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r): r is string => typeof r === 'string') : []);
  return Object.entries(schema.properties).map(([name, property]) => {
    const spec: Schema = isObject(property) ? property : {};
    const field: FormField = { name, kind: kindOf(spec), required: required.has(name), hint: hintOf(spec) };
    if (field.kind === 'enum') field.options = spec.enum as unknown[];
    return field;
  });
}

function kindOf(spec: Schema): FieldKind {
  if (Array.isArray(spec.enum)) return 'enum';
  switch (spec.type) {
    case 'number':
      return 'number';
    case 'integer':
      return 'integer';
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    default:
      return 'json';
  }
}

function hintOf(spec: Schema): string {
  const parts: string[] = [];
  if (typeof spec.description === 'string') parts.push(spec.description);
  if (typeof spec.minimum === 'number') parts.push(`≥ ${spec.minimum}`);
  if (typeof spec.maximum === 'number') parts.push(`≤ ${spec.maximum}`);
  if (typeof spec.minLength === 'number') parts.push(`at least ${spec.minLength} characters`);
  if (typeof spec.maxLength === 'number') parts.push(`at most ${spec.maxLength} characters`);
  return parts.join(' · ');
}

/**
 * The typed params for the values typed in (field name → text; booleans as 'true'/'false'). An empty
 * optional field is left out; a value of the wrong type is an error at that field.
 */
export function paramsFrom(
  fields: readonly FormField[],
  values: Readonly<Record<string, string>>,
): { ok: true; params: Record<string, unknown> } | { ok: false; errors: Record<string, string> } {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const text = (values[field.name] ?? '').trim();
    if (text === '') continue;
    switch (field.kind) {
      case 'number':
      case 'integer': {
        const value = Number(text);
        if (!Number.isFinite(value)) errors[field.name] = 'must be a number';
        else if (field.kind === 'integer' && !Number.isInteger(value)) errors[field.name] = 'must be a whole number';
        else params[field.name] = value;
        break;
      }
      case 'boolean':
        params[field.name] = text === 'true';
        break;
      case 'enum': {
        const option = field.options?.find((o) => String(o) === text);
        if (option === undefined) errors[field.name] = `must be one of ${field.options?.map(String).join(', ')}`;
        else params[field.name] = option;
        break;
      }
      case 'string':
        params[field.name] = values[field.name];
        break;
      case 'json':
        try {
          params[field.name] = JSON.parse(text) as unknown;
        } catch {
          errors[field.name] = 'must be JSON';
        }
        break;
    }
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, params };
}

/** A server field error's path (`input.params.power`) as the form field it belongs to (`power`), or '' for the form. */
export function fieldOfPath(path: readonly string[]): string {
  const at = path.indexOf('params');
  return at >= 0 && path.length > at + 1 ? path[at + 1]! : '';
}

function isObject(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
