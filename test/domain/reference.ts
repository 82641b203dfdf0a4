/**
 * Deliberately naive reference implementations the twin reducer is checked against.
 * They share no code with src/domain so that a bug there cannot hide itself here.
 */
import type { JsonObject, JsonValue } from '../../src/domain/twin.ts';

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 MergePatch, word for word from section 2 of the RFC. */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [name, value] of Object.entries(patch)) {
    if (value === null) delete result[name];
    else result[name] = mergePatch(Object.hasOwn(result, name) ? result[name] : undefined, value);
  }
  return result;
}

/** Structural equality; object key order does not matter, array order does. */
export function deepEqual(a: JsonValue, b: JsonValue): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]!));
  }
  if (isObject(a) || isObject(b)) {
    if (!isObject(a) || !isObject(b)) return false;
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k]!, b[k]!));
  }
  return a === b;
}

/** Every leaf (non-object value, arrays whole) of `desired` is in `reported` at the same path with an equal value. */
export function isSubset(desired: JsonObject, reported: JsonObject): boolean {
  return Object.entries(desired).every(([k, want]) => {
    const have = Object.hasOwn(reported, k) ? reported[k] : undefined;
    if (isObject(want)) return isSubset(want, isObject(have) ? have : {});
    return have !== undefined && deepEqual(want, have);
  });
}
