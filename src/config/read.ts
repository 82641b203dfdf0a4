/**
 * Reads single variables from an environment the way the spec declares them (src/config/spec.ts):
 * default when unset or empty, bounds and patterns checked, and each bad value noted as a problem
 * instead of thrown, so `loadConfig` can report every bad variable at once.
 */
import { variable, type VARIABLES, type NamesOf, type StringVariable, type WhenUnset } from './spec.ts';

export type Env = Record<string, string | undefined>;

/** Text variables with a literal default never read as undefined. */
export type TextValue<N extends NamesOf<'string'>> = (typeof VARIABLES)[N]['default'] extends string ? string : string | undefined;

/** A URL that was set: trimmed, and whether it has one of the accepted forms. */
export interface UrlValue {
  value: string;
  valid: boolean;
}

export interface EnvReader {
  /** A whole number within its bounds; the default when unset, empty or bad (a bad one is noted). */
  int(name: NamesOf<'int'>): number;
  /**
   * A boolean; the default when unset, empty or bad. A variable whose default depends on others (the spec
   * says it in words) takes it from `whenUnset`.
   */
  bool(name: NamesOf<'bool'>, whenUnset?: boolean): boolean;
  /** One of the declared values, matched in any case; the default when unset, empty or bad. */
  oneOf<N extends NamesOf<'enum'>>(name: N): (typeof VARIABLES)[N]['values'][number];
  /** Text, trimmed when declared so, with the default when empty; a declared pattern is checked. */
  text<N extends NamesOf<'string'>>(name: N): TextValue<N>;
  /** A set URL, checked against the accepted forms; undefined when unset or blank. */
  url(name: NamesOf<'url'>): UrlValue | undefined;
  /** A credential, never echoed; undefined when unset or empty; a declared minimum length is checked. */
  secret(name: NamesOf<'secret'>): string | undefined;
}

/** A pattern as people read it: the regular expression without its anchors. */
export function patternText(pattern: RegExp): string {
  return pattern.source.replace(/^\^/, '').replace(/\$$/, '');
}

/** `a, b or c`. */
export function alternatives(words: readonly string[]): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

export function isWhenUnset(value: unknown): value is WhenUnset {
  return typeof value === 'object' && value !== null && 'unset' in value;
}

/** A reader over `env` that appends the problems it finds to `problems`, in the order read. */
export function createEnvReader(env: Env, problems: string[]): EnvReader {
  const given = (name: string): string | undefined => {
    const raw = env[name];
    return raw === undefined || raw === '' ? undefined : raw;
  };

  return {
    int(name) {
      const { default: fallback, min, max } = variable(name);
      const raw = given(name);
      if (raw === undefined) return fallback;
      if (!/^\d+$/.test(raw.trim())) {
        problems.push(`${name}=${JSON.stringify(raw)} is not a whole number`);
        return fallback;
      }
      const value = Number(raw);
      if (value < min || value > max) {
        problems.push(`${name}=${raw} is out of range (${min}–${max})`);
        return fallback;
      }
      return value;
    },

    bool(name, whenUnset) {
      const declared = variable(name).default;
      const fallback = isWhenUnset(declared) ? whenUnset : declared;
      if (fallback === undefined) throw new Error(`${name}: its default depends on other variables and must be passed in`);
      const raw = given(name);
      if (raw === undefined) return fallback;
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      problems.push(`${name}=${JSON.stringify(raw)} is not a boolean (true/false)`);
      return fallback;
    },

    oneOf<N extends NamesOf<'enum'>>(name: N) {
      type Value = (typeof VARIABLES)[N]['values'][number];
      const { values, default: fallback } = variable(name as NamesOf<'enum'>);
      const value = (given(name) ?? fallback).toLowerCase();
      if (values.includes(value)) return value as Value;
      problems.push(`${name} must be one of ${values.join(', ')} (got ${JSON.stringify(env[name])})`);
      return fallback as Value;
    },

    text<N extends NamesOf<'string'>>(name: N) {
      const spec: StringVariable = variable(name as NamesOf<'string'>);
      const raw = env[name];
      const value = (spec.trim ? raw?.trim() : raw) || (isWhenUnset(spec.default) ? undefined : spec.default);
      if (value !== undefined && spec.pattern && !spec.pattern.test(value)) {
        const quoted = spec.quoteInProblem ? ` (got ${JSON.stringify(raw)})` : '';
        problems.push(`${name} must match ${patternText(spec.pattern)}${quoted}`);
      }
      return value as TextValue<N>;
    },

    url(name) {
      const { accepts, forms } = variable(name);
      const value = env[name]?.trim();
      if (!value) return undefined;
      const valid = accepts.test(value);
      if (!valid) problems.push(`${name} must be ${alternatives(forms)} (got ${JSON.stringify(value)})`);
      return { value, valid };
    },

    secret(name) {
      const { minLength } = variable(name);
      const value = given(name);
      if (value !== undefined && minLength !== undefined && value.length < minLength) {
        problems.push(`${name} must be at least ${minLength} characters (e.g. \`openssl rand -hex 32\`)`);
      }
      return value;
    },
  };
}
