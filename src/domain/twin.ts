/**
 * The twin reducer: how a JSON merge patch (RFC 7386) changes one twin section (reported or desired),
 * the delta between desired and reported, and per-leaf metadata. Pure: no I/O, no clocks.
 *
 * Why it is built this way (docs/twins.md, docs/operations.md): two instances may handle the same device, and MQTT
 * redelivers, so patches arrive late, twice, and out of order. The section is therefore stored not as
 * a document but as a state-based CRDT — a map from paths to stamped entries whose merge is a
 * join (commutative, associative, idempotent). Any arrival order of the same patches yields the same
 * map, and the visible document is a pure function of the map. A write's stamp is the device's
 * sequence number `seq` when it sends one, then its timestamp (`WriteOrder`): with distinct stamps the
 * document equals applying the patches with RFC 7386 in stamp order. Deletions are remembered for a
 * window (`TwinLimits.tombstoneTtlMs`) behind the section's newest write and then forgotten
 * (`collectMeta`); the above holds for patches inside that window.
 *
 * States are immutable values: functions here never mutate their inputs, and a new state may share
 * objects (e.g. array values) with the previous state and with the patch result. Do not mutate them.
 */
import { TwinValidationError } from './errors.ts';

/** Bounds on twin documents (configured by TWIN_* variables; see src/config.ts). */
export interface TwinLimits {
  /** Max serialized size of one twin section (reported or desired), in bytes. */
  maxSectionBytes: number;
  /** Max nesting depth of a twin section. */
  maxDepth: number;
  /** Max length of a key. */
  maxKeyLength: number;
  /** How far in the future a device timestamp may be (clock skew) before it is refused, in ms. */
  maxFutureSkewMs: number;
  /**
   * The replay horizon, in ms: how long a section remembers deletions (tombstones) and shadowed
   * entries, measured back from its newest write. See `collectMeta`. At least `maxFutureSkewMs`.
   */
  tombstoneTtlMs: number;
  /** Max metadata entries (values, objects, remembered deletions) of one section; growth beyond is refused. */
  maxMetadataEntries: number;
}

export { TwinValidationError } from './errors.ts';
export type { TwinErrorCode } from './errors.ts';

export type JsonPrimitive = string | number | boolean | null;
export type JsonArray = JsonValue[];
export interface JsonObject {
  [key: string]: JsonValue;
}
export type JsonValue = JsonPrimitive | JsonArray | JsonObject;

/**
 * What the section knows about one path. Field names are one letter because a section's metadata is
 * stored as JSONB and every entry repeats them.
 */
export interface Entry {
  /** Timestamp of the write, epoch ms. */
  t: number;
  /**
   * The device's sequence number of the write (`WriteOrder.seq`), only when it sent one. It ranks
   * before `t`: an entry without `s` ranks below every entry with one.
   */
  s?: number;
  /** 'o' = an object exists here, 'd' = deleted (tombstone), 'v' = a leaf value. */
  k: 'o' | 'd' | 'v';
  /** The value, for 'v' only: a non-null primitive or an array (arrays are leaves, compared whole). */
  v?: JsonValue;
  /**
   * "clearedAt": the `t` of the highest-ranked 'v' or 'd' entry ever merged at this path (its `s` is
   * `cs`). A value or tombstone here wiped every older descendant, and that must stay true after a newer
   * 'o' re-creates the object. Stored only where it says something: on a 'v'/'d' winner it always
   * equals the entry's own stamp, so it is omitted.
   */
  c?: number;
  /** The `s` of clearedAt, when the write that set it had one. */
  cs?: number;
}

/**
 * A section's metadata: JSON-encoded key path (e.g. `["a","b"]`) → entry. The root is implicit and
 * always an object; its key `[]` holds an entry only to remember the section's clock (`newestWrite`)
 * when no other entry carries it any more (see `withClock`).
 */
export type SectionMeta = Record<string, Entry>;

/**
 * Where a write stands in a section's order: first the device's own sequence number `seq` (a write
 * without one ranks below every write with one), then the timestamp `ts` (epoch ms).
 */
export interface WriteOrder {
  ts: number;
  /** A non-negative safe integer, never decreasing over a device's life (docs/twins.md). */
  seq?: number;
}

/** One twin section: the metadata (the truth) and the visible document (a cache of `materialize(meta)`). */
export interface SectionState {
  meta: SectionMeta;
  doc: JsonObject;
}

export type ApplyResult =
  | {
      ok: true;
      /** The visible document changed (the twin version should rise, an event should go out). */
      changed: boolean;
      /** The metadata changed (it must be stored), which can happen without a visible change, e.g. a late, superseded patch. */
      metaChanged: boolean;
      state: SectionState;
      /** What actually changed in the visible document, as a merge patch (deletions as null): `mergePatch(old.doc, applied)` equals the new doc. */
      applied: JsonObject;
    }
  | { ok: false; error: TwinValidationError };

/** A tree shaped like the visible document: objects stay objects, every leaf (a value or an array) becomes `{ ts }`. */
export interface MetadataTree {
  [key: string]: MetadataTree | { ts: number };
}

/** The latest date a JS `Date` can represent; later timestamps could not be shown as ISO strings. */
const MAX_DATE_MS = 8.64e15;

/** A plain JSON object: not null, not an array, not a Date/Map/class instance. */
export function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  // null-prototype objects are what GraphQL literal parsers and `Object.create(null)` produce.
  return proto === Object.prototype || proto === null;
}

/** A section nothing was ever written to. */
export function emptySection(): SectionState {
  return { meta: {}, doc: {} };
}

/**
 * JSON with object keys sorted (by UTF-16 code units), so equal values have one spelling whatever
 * their key order — PostgreSQL's JSONB, for one, reorders keys. `-0` is written as `0`.
 * Expects a JSON value of bounded depth (validated input).
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(',')}}`;
}

function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true; // primitives (0 === -0, as in JSON)
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return canonicalJson(a) === canonicalJson(b);
}

const hasOwn = (obj: object, key: string): boolean => Object.hasOwn(obj, key);

/** Plain assignment of `__proto__` would set the prototype instead of a key; this never does. */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** A copy with object keys in sorted order and -0 as 0, so stored values do not depend on who wrote them. */
function canonicalize(value: JsonValue): JsonValue {
  if (typeof value === 'number') return value === 0 ? 0 : value;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(canonicalize);
  const out: JsonObject = {};
  for (const k of Object.keys(value).sort()) setOwn(out, k, canonicalize(value[k]!));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The join
// ---------------------------------------------------------------------------------------------

const RANK = { o: 0, d: 1, v: 2 } as const;

/**
 * A position in a section's order: `s` is the write's seq, `NO_SEQ` when it had none (below every
 * seq, which is non-negative). `NEVER` is below every write.
 */
interface Stamp {
  s: number;
  t: number;
}
const NO_SEQ = -1;
const NEVER: Stamp = { s: -Infinity, t: -Infinity };
/** The root path's key: never a key of a patch path, which has at least one element. */
const ROOT_KEY = '[]';

function stampOf(e: Entry): Stamp {
  return { s: e.s ?? NO_SEQ, t: e.t };
}

/** Lexicographic: seq first, then time. */
function compareStamps(a: Stamp, b: Stamp): number {
  if (a.s !== b.s) return a.s < b.s ? -1 : 1;
  return a.t < b.t ? -1 : a.t > b.t ? 1 : 0;
}

const maxStamp = (a: Stamp, b: Stamp): Stamp => (compareStamps(a, b) >= 0 ? a : b);

/**
 * Total order on entries: the higher stamp wins (seq, then `t`); at an equal stamp, a value beats a
 * tombstone beats an object marker (so at one instant "set a to 5" wins over "put keys inside a", as
 * if it came second); then canonical JSON breaks ties between different values deterministically.
 */
function compareEntries(a: Entry, b: Entry): number {
  const as = a.s ?? NO_SEQ;
  const bs = b.s ?? NO_SEQ;
  if (as !== bs) return as < bs ? -1 : 1;
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.k !== b.k) return RANK[a.k] - RANK[b.k];
  if (a.k !== 'v') return 0;
  const ca = canonicalJson(a.v ?? null);
  const cb = canonicalJson(b.v ?? null);
  return ca < cb ? -1 : ca > cb ? 1 : 0;
}

/** The clearedAt an entry implies by itself: its own stamp for a value or tombstone, none for an object. */
function ownClearedAt(e: Entry): Stamp {
  return e.k === 'o' ? NEVER : stampOf(e);
}

/** The effective clearedAt of an entry, whether or not `c` was stored (see `Entry.c`). */
function clearedAt(e: Entry): Stamp {
  const own = ownClearedAt(e);
  return e.c === undefined ? own : maxStamp({ s: e.cs ?? NO_SEQ, t: e.c }, own);
}

/** `e` with clearedAt `c`, keeping `c` only where it is not implied by the entry itself. */
function withClearedAt(e: Entry, c: Stamp): Entry {
  const out: Entry = { t: e.t, k: e.k };
  if (e.s !== undefined) out.s = e.s;
  if (e.k === 'v') out.v = e.v;
  if (compareStamps(c, ownClearedAt(e)) > 0) {
    out.c = c.t;
    if (c.s !== NO_SEQ) out.cs = c.s;
  }
  return out;
}

/**
 * The join of two entries at one path. Returns `old` itself when nothing changes, so callers can tell
 * a no-op (a replay) by identity.
 */
function mergeEntry(old: Entry | undefined, incoming: Entry): Entry {
  if (old === undefined) return withClearedAt(incoming, clearedAt(incoming));
  const oldCleared = clearedAt(old);
  const c = maxStamp(oldCleared, clearedAt(incoming));
  // On a tie (same stamp, kind and canonical value) keep `old`: the two are the same entry.
  const winner = compareEntries(incoming, old) > 0 ? incoming : old;
  if (winner === old && compareStamps(c, oldCleared) === 0) return old;
  return withClearedAt(winner, c);
}

/** The join of two metadata maps: merging the same maps in any order or grouping gives the same map. */
export function mergeMeta(a: SectionMeta, b: SectionMeta): SectionMeta {
  const out: SectionMeta = { ...a };
  delete out[ROOT_KEY];
  for (const key of Object.keys(b)) if (key !== ROOT_KEY) out[key] = mergeEntry(hasOwn(out, key) ? out[key] : undefined, b[key]!);
  return withClock(out, Math.max(newestWrite(a), newestWrite(b)));
}

/**
 * The entries a patch writes at time `ts`. Every object in the patch, interior or empty, leaves an
 * 'o' marker at its own path; that is what lets `materialize` decide visibility from ancestors alone:
 * a descendant written at `ts` always comes with markers at all its ancestors at `ts`, so a later
 * value or tombstone at an ancestor is necessarily newer than the descendant.
 */
function flattenPatch(patch: JsonObject, order: WriteOrder, prefix: string[], out: Array<[pathKey: string, entry: Entry, top: string]>): void {
  const stamp = (k: Entry['k']): Entry => (order.seq === undefined ? { t: order.ts, k } : { t: order.ts, s: order.seq, k });
  for (const key of Object.keys(patch)) {
    const value = patch[key]!;
    const path = [...prefix, key];
    const pathKey = JSON.stringify(path);
    if (value === null) {
      out.push([pathKey, stamp('d'), path[0]!]);
    } else if (isPlainObject(value)) {
      out.push([pathKey, stamp('o'), path[0]!]);
      flattenPatch(value, order, path, out);
    } else {
      // A private canonical copy: the stored value neither aliases the caller's patch nor depends on its key order.
      out.push([pathKey, { ...stamp('v'), v: canonicalize(value) }, path[0]!]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Materializing
// ---------------------------------------------------------------------------------------------

interface Child {
  name: string;
  key: string;
  entry: Entry;
}

const byName = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);

/**
 * Parent path key → children sorted by name (sorted so that every instance builds the document with
 * the same key order and writes byte-identical JSON). Path keys are taken as this module writes them
 * (`JSON.stringify` of the path; JSONB keeps key text verbatim), so a parent is found by re-encoding.
 */
function indexChildren(meta: SectionMeta, keys: Iterable<string>): Map<string, Child[]> {
  const index = new Map<string, Child[]>();
  for (const key of keys) {
    let path: unknown;
    try {
      path = JSON.parse(key);
    } catch {
      continue; // not ours; never let a bad row break reading the twin
    }
    if (!Array.isArray(path) || path.length === 0 || !path.every((s) => typeof s === 'string')) continue;
    const parent = JSON.stringify(path.slice(0, -1));
    let list = index.get(parent);
    if (list === undefined) index.set(parent, (list = []));
    list.push({ name: path[path.length - 1] as string, key, entry: meta[key]! });
  }
  for (const list of index.values()) list.sort((x, y) => byName(x.name, y.name));
  return index;
}

/** `["name","b"]` → `["name"`: the encoded first path element, which all keys under `name` share. */
function topPrefix(key: string): string {
  let i = 2;
  while (i < key.length && key.charCodeAt(i) !== 0x22 /* " */) i += key.charCodeAt(i) === 0x5c /* backslash */ ? 2 : 1;
  return key.slice(0, i + 1);
}

/**
 * The visible tree under `parentKey`. `ceiling` is the max clearedAt of all ancestors: an entry is
 * visible only if its stamp is above every value/tombstone ever written at an ancestor. Strictly
 * above: at an equal stamp a value beats an object marker, so in the equivalent replay order the value
 * came last and wiped the descendant written with that same stamp. (Ancestors being 'o' is implied by
 * walking only through 'o' nodes.)
 */
function walk<L>(index: Map<string, Child[]>, parentKey: string, ceiling: Stamp, leaf: (e: Entry) => L): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { name, key, entry } of index.get(parentKey) ?? []) {
    if (entry.k === 'd' || compareStamps(stampOf(entry), ceiling) <= 0) continue;
    if (entry.k === 'v') setOwn(out, name, leaf(entry));
    else setOwn(out, name, walk(index, key, maxStamp(ceiling, clearedAt(entry)), leaf));
  }
  return out;
}

const leafValue = (e: Entry): JsonValue => e.v ?? null;

/** The visible document of a section. */
export function materialize(meta: SectionMeta): JsonObject {
  return walk(indexChildren(meta, Object.keys(meta)), ROOT_KEY, NEVER, leafValue) as JsonObject;
}

/** Per-leaf metadata shaped like the visible document; leaves are `{ ts }` (epoch ms of the write that set them). */
export function metadataTree(meta: SectionMeta): MetadataTree {
  return walk(indexChildren(meta, Object.keys(meta)), ROOT_KEY, NEVER, (e) => ({ ts: e.t })) as MetadataTree;
}

/** The merge patch that turns `before` into `after` (deletions as null, unchanged keys omitted). */
function diffDocs(before: JsonObject, after: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(before)) if (!hasOwn(after, key)) setOwn(out, key, null);
  for (const key of Object.keys(after)) {
    const b = after[key]!;
    if (!hasOwn(before, key)) {
      setOwn(out, key, b);
      continue;
    }
    const a = before[key]!;
    if (isPlainObject(a) && isPlainObject(b)) {
      const sub = diffDocs(a, b);
      if (Object.keys(sub).length > 0) setOwn(out, key, sub);
    } else if (!jsonEqual(a, b)) {
      // Also covers object ↔ non-object: a merge patch replaces a non-object with an object and vice versa.
      setOwn(out, key, b);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Delta
// ---------------------------------------------------------------------------------------------

/**
 * The desired leaves (values and whole arrays) that reported does not have with an equal value,
 * nested as in desired. Empty objects in desired ask for nothing, so they contribute nothing.
 * The result is empty exactly when every desired leaf is present in reported with an equal value.
 */
export function computeDelta(desired: JsonObject, reported: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(desired)) {
    const want = desired[key]!;
    // hasOwn, not `reported[key]`: `reported.constructor` would otherwise be Object.
    const have = hasOwn(reported, key) ? reported[key] : undefined;
    if (isPlainObject(want)) {
      const sub = computeDelta(want, isPlainObject(have) ? have : {});
      if (Object.keys(sub).length > 0) setOwn(out, key, sub);
    } else if (have === undefined || !jsonEqual(want, have)) {
      setOwn(out, key, want);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/** How a key or value is shown in messages: readable, and short even for a 100 KB key. */
function showKey(key: string): string {
  return JSON.stringify(key.length > 40 ? `${key.slice(0, 32)}…` : key);
}

function childWhere(where: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${where}.${key}` : `${where}[${showKey(key)}]`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' && name !== 'Object' ? `a ${name}` : 'an object';
  }
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}

// PostgreSQL's JSONB refuses both (\u0000: "unsupported Unicode escape sequence"; a lone surrogate:
// "invalid input syntax"), and JSON.parse happily produces them from escapes. Refusing them here turns
// a database error on someone else's write into a clear error for the sender.
const NUL = /\u0000/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function stringProblem(s: string): string | undefined {
  if (NUL.test(s)) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (LONE_SURROGATE.test(s)) return 'contains an unpaired UTF-16 surrogate, which is not valid Unicode';
  return undefined;
}

function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

class Validator {
  constructor(
    private readonly limits: TwinLimits,
    private readonly label: string,
  ) {}

  patch(patch: unknown): TwinValidationError | undefined {
    if (!isPlainObject(patch)) {
      return new TwinValidationError('NOT_AN_OBJECT', `${this.label} must be a JSON object, not ${describe(patch)}`, []);
    }
    return this.object(patch, [], this.label, 1);
  }

  private key(key: string, path: string[], where: string): TwinValidationError | undefined {
    const fail = (why: string) => new TwinValidationError('INVALID_KEY', `key ${showKey(key)} at ${where} ${why}`, [...path, key]);
    if (key === '') return new TwinValidationError('INVALID_KEY', `empty key at ${where}`, [...path, key]);
    if (key.startsWith('$')) return fail(`starts with '$'`);
    // Cheap first: a string has at least as many UTF-16 units as characters.
    if (key.length > this.limits.maxKeyLength) {
      const length = codePointLength(key);
      if (length > this.limits.maxKeyLength) return fail(`is ${length} characters long; the limit is ${this.limits.maxKeyLength}`);
    }
    // Code elsewhere may still write `obj[key] = …`; for this key that would replace the prototype.
    if (key === '__proto__') return fail('is reserved');
    const problem = stringProblem(key);
    return problem === undefined ? undefined : fail(problem);
  }

  /** `depth` is the nesting level of `obj` itself: the patch is level 1, so `{a:{b:1}}` has depth 2. */
  private object(obj: JsonObject, path: string[], where: string, depth: number): TwinValidationError | undefined {
    for (const key of Object.keys(obj)) {
      const error = this.key(key, path, where) ?? this.value(obj[key], [...path, key], childWhere(where, key), depth);
      if (error) return error;
    }
    return undefined;
  }

  private value(value: unknown, path: string[], where: string, parentDepth: number): TwinValidationError | undefined {
    const invalid = (why: string) => new TwinValidationError('INVALID_VALUE', `${where} ${why}`, path);
    switch (typeof value) {
      case 'boolean':
        return undefined;
      case 'number':
        return Number.isFinite(value) ? undefined : invalid(`is ${describe(value)}; numbers must be finite`);
      case 'string': {
        const problem = stringProblem(value);
        return problem === undefined ? undefined : invalid(problem);
      }
      case 'object': {
        if (value === null) return undefined;
        const isArray = Array.isArray(value);
        if (!isArray && !isPlainObject(value)) return invalid(`is ${describe(value)}, not a plain JSON object`);
        // Checked before descending, so recursion stays bounded by maxDepth even for cyclic input.
        const depth = parentDepth + 1;
        if (depth > this.limits.maxDepth) {
          return new TwinValidationError('TOO_DEEP', `${where} is nested ${depth} levels deep; the limit is ${this.limits.maxDepth}`, path);
        }
        if (!isArray) return this.object(value, path, where, depth);
        const array = value as unknown[];
        for (let i = 0; i < array.length; i++) {
          const itemWhere = `${where}[${i}]`;
          // A hole serializes as null but is not a JSON value; keys inside arrays follow the same rules.
          if (!(i in array)) return new TwinValidationError('INVALID_VALUE', `${itemWhere} is an empty array slot`, [...path, String(i)]);
          const error = this.value(array[i], [...path, String(i)], itemWhere, depth);
          if (error) return error;
        }
        return undefined;
      }
      default:
        // undefined, function, symbol, bigint
        return invalid(`is ${describe(value)}, which is not a JSON value`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Forgetting: tombstones and shadowed entries older than the horizon
// ---------------------------------------------------------------------------------------------

/**
 * The newest `t` ever written to a section (its clock), or -Infinity for an empty one. Usually some
 * entry carries it; when a write with a higher seq but an older `t` superseded that entry, the root
 * key `[]` remembers it (`withClock`), so the clock never goes back and the horizon never moves back.
 */
export function newestWrite(meta: SectionMeta): number {
  let newest = -Infinity;
  for (const key of Object.keys(meta)) if (meta[key]!.t > newest) newest = meta[key]!.t;
  return newest;
}

/**
 * Stores the clock in `meta` (a map this module has just built; mutated and returned) at the root key
 * exactly when no other entry carries it, so a section whose entries carry it — every section written
 * without seq — never has a root entry, and equal histories give equal maps.
 */
function withClock(meta: SectionMeta, clock: number): SectionMeta {
  let carried = -Infinity;
  for (const key of Object.keys(meta)) if (key !== ROOT_KEY && meta[key]!.t > carried) carried = meta[key]!.t;
  if (carried < clock) meta[ROOT_KEY] = { t: clock, k: 'o' };
  else delete meta[ROOT_KEY];
  return meta;
}

/**
 * The horizon of a section: `newestWrite - ttl`. Behind it the section forgets what it deleted, and an
 * incoming entry older than it lands only where the section still holds an entry (see `applyPatch`).
 * Measured on the section's own clock (device `ts`, else receive time), not on the server's, so a
 * silent device forgets nothing and a device clock that is off by a constant changes nothing.
 */
export function horizonOf(meta: SectionMeta, ttlMs: number): number {
  return newestWrite(meta) - ttlMs;
}

/**
 * Drops what no patch inside the window can observe any more: a tombstone older than `horizon` with
 * everything below it, an entry older than `horizon` that an ancestor's value or deletion already hides
 * (with everything below it), a clearedAt `c` older than `horizon`, and whatever such a clearedAt hid,
 * however recent its `t` (only a write ranked below one made before the horizon can be hidden by it).
 * The visible document does not change. Returns `meta` itself when there is nothing to drop.
 *
 * Why merges stay order-independent: a patch is inside the window when its `t` is at or after the
 * horizon and its seq is not below the seq of any write made before the horizon (a device whose seq
 * never goes back, reporting within `ttl` of its newest report, is always inside; without seq the
 * second condition holds as long as no write made before the horizon had one). Every entry such a
 * patch brings beats whatever was dropped at its path — a dropped entry is older than the horizon, or
 * ranked at or below a clearedAt that is — and any clearedAt it could have been hidden by is ranked
 * below it, so merging into the collected map gives the collected merge of the full map. Outside the
 * window that no longer holds; `applyPatch` therefore ignores an incoming entry older than the horizon
 * at a path the section holds nothing for (it cannot tell "never set" from "deleted and forgotten").
 */
export function collectMeta(meta: SectionMeta, horizon: number): SectionMeta {
  const drop = new Set<string>();
  const strip = new Set<string>();
  const dropSubtree = (index: Map<string, Child[]>, key: string): void => {
    drop.add(key);
    for (const child of index.get(key) ?? []) dropSubtree(index, child.key);
  };
  // `ceiling`: the max clearedAt of the ancestors; `forgotten`: the max of those older than the horizon.
  const visit = (index: Map<string, Child[]>, parentKey: string, ceiling: Stamp, forgotten: Stamp): void => {
    for (const { key, entry } of index.get(parentKey) ?? []) {
      const stamp = stampOf(entry);
      if ((entry.t < horizon && (entry.k === 'd' || compareStamps(stamp, ceiling) <= 0)) || compareStamps(stamp, forgotten) <= 0) {
        dropSubtree(index, key);
        continue;
      }
      if (entry.c !== undefined && entry.c < horizon) strip.add(key);
      // The unstripped clearedAt: what it hid is dropped here (it is at or below `forgotten` when old).
      const cleared = clearedAt(entry);
      visit(index, key, maxStamp(ceiling, cleared), cleared.t < horizon ? maxStamp(forgotten, cleared) : forgotten);
    }
  };
  visit(indexChildren(meta, Object.keys(meta)), ROOT_KEY, NEVER, NEVER);
  if (drop.size === 0 && strip.size === 0) return meta;
  const out: SectionMeta = {};
  for (const key of Object.keys(meta)) {
    if (drop.has(key) || key === ROOT_KEY) continue;
    const entry = meta[key]!;
    out[key] = strip.has(key) ? withClearedAt(entry, ownClearedAt(entry)) : entry;
  }
  return withClock(out, newestWrite(meta));
}

/** Objects and leaves of a visible document: exactly the number of entries that are visible. */
function countNodes(doc: JsonObject): number {
  let n = 0;
  for (const key of Object.keys(doc)) {
    const value = doc[key]!;
    n += isPlainObject(value) ? 1 + countNodes(value) : 1;
  }
  return n;
}

/**
 * Whether `collectMeta(meta, horizon)` could drop anything, without building the tree: an old
 * tombstone, an old clearedAt, or more non-tombstone entries than `doc` has nodes (a hidden entry,
 * which may be old or hidden by an old clearedAt). Keeps a twin that only sets values from paying for
 * the tree on every write.
 */
function mayCollect(meta: SectionMeta, doc: JsonObject, horizon: number): boolean {
  let present = 0;
  for (const key of Object.keys(meta)) {
    if (key === ROOT_KEY) continue;
    const entry = meta[key]!;
    if (entry.k === 'd') {
      if (entry.t < horizon) return true;
      continue;
    }
    if (entry.c !== undefined && entry.c < horizon) return true;
    present++;
  }
  return present > countNodes(doc);
}

/** Metadata entries that count against `maxMetadataEntries`: paths, not the root's clock. */
function entryCount(meta: SectionMeta): number {
  const n = Object.keys(meta).length;
  return hasOwn(meta, ROOT_KEY) ? n - 1 : n;
}

// ---------------------------------------------------------------------------------------------
// Applying a patch
// ---------------------------------------------------------------------------------------------

/**
 * Validates `patch` in full, then merges it into `state` at `order`: its seq if the device sent one,
 * then its time `ts` (epoch ms); a bare number is a time without seq. Never partial: on any error the
 * state is untouched. A replay, or a patch entirely superseded by higher-ranked writes, is accepted
 * with `changed: false`.
 *
 * A written section is then collected (`collectMeta`) at its horizon, `limits.tombstoneTtlMs` behind
 * its newest write. An entry of the patch older than the horizon lands only where the section still
 * holds an entry for its path: elsewhere the path may have been deleted and forgotten, and the
 * deletion must keep winning, as it did before it was forgotten. Growth of the metadata beyond
 * `limits.maxMetadataEntries` is refused (`METADATA_TOO_LARGE`).
 *
 * @param label how the patch root is named in error messages ("state" for the MQTT payload field).
 */
export function applyPatch(state: SectionState, patch: unknown, order: WriteOrder | number, limits: TwinLimits, label = 'state'): ApplyResult {
  const { ts, seq } = typeof order === 'number' ? { ts: order, seq: undefined } : order;
  // A NaN or infinite ts, or a seq that is not an exact integer, would break the total order the
  // whole design rests on: a caller bug (the contract validates what devices send), not input.
  if (!Number.isFinite(ts) || ts < 0) throw new RangeError(`applyPatch: ts must be a finite, non-negative epoch-ms number (got ${ts})`);
  if (seq !== undefined && !(Number.isSafeInteger(seq) && seq >= 0)) {
    throw new RangeError(`applyPatch: seq must be a non-negative safe integer (got ${seq})`);
  }

  const error = new Validator(limits, label).patch(patch);
  if (error) return { ok: false, error };

  const entries: Array<[string, Entry, string]> = [];
  flattenPatch(patch as JsonObject, seq === undefined ? { ts } : { ts, seq }, [], entries);

  // Paths in one patch are distinct, so each entry merges independently against the old map.
  const clock = newestWrite(state.meta);
  const horizon = clock - limits.tombstoneTtlMs;
  const updates = new Map<string, Entry>();
  const touched = new Set<string>(); // top-level names with a changed entry at or below them
  for (const [key, entry, top] of entries) {
    const old = hasOwn(state.meta, key) ? state.meta[key] : undefined;
    // Behind the horizon (ts < horizon: all entries of the patch) and nothing held here: forgotten.
    // Its descendants in the patch have no entries either (an entry's ancestors always have one).
    if (old === undefined && entry.t < horizon) continue;
    const merged = mergeEntry(old, entry);
    if (merged === old) continue;
    updates.set(key, merged);
    touched.add(top);
  }
  // A write that loses everywhere may still be the newest in time (ranked below by seq), and the clock
  // must not depend on whether it came before or after what beat it.
  const newClock = entries.length > 0 ? Math.max(clock, ts) : clock;
  if (updates.size === 0 && newClock === clock) return { ok: true, changed: false, metaChanged: false, state, applied: {} };

  // A new map (the caller's state stays untouched). Copied key by key: several times faster than
  // spreading a large object. The same pass picks out the keys under touched names: visibility at a
  // path depends only on the entries at it and its ancestors, so only those subtrees can change and
  // only they are re-materialized. This assumes state.doc is materialize(state.meta).
  const prefixes = new Set([...touched].map((name) => JSON.stringify([name]).slice(0, -1)));
  let meta: SectionMeta = {};
  const keys: string[] = [];
  for (const key of Object.keys(state.meta)) {
    meta[key] = state.meta[key]!;
    if (prefixes.has(topPrefix(key)) && !updates.has(key)) keys.push(key);
  }
  for (const [key, entry] of updates) {
    meta[key] = entry;
    keys.push(key);
  }
  const fresh = walk(indexChildren(meta, keys), ROOT_KEY, NEVER, leafValue) as JsonObject;
  const before: JsonObject = {};
  for (const name of touched) if (hasOwn(state.doc, name)) setOwn(before, name, state.doc[name]!);
  const applied = diffDocs(before, fresh);
  const changed = Object.keys(applied).length > 0;
  let doc = state.doc;
  if (changed) {
    // Rebuilt in sorted key order, exactly as materialize would build it.
    doc = {};
    const names = Object.keys(state.doc)
      .filter((name) => !touched.has(name))
      .concat(Object.keys(fresh))
      .sort(byName);
    for (const name of names) setOwn(doc, name, hasOwn(fresh, name) ? fresh[name]! : state.doc[name]!);
    // Only when the document changes: an unchanged document was accepted before, and refusing a
    // no-op (say, after the limit was lowered) would turn replays into errors.
    const bytes = Buffer.byteLength(JSON.stringify(doc), 'utf8');
    if (bytes > limits.maxSectionBytes) {
      return {
        ok: false,
        error: new TwinValidationError('TOO_LARGE', `${label} would be ${bytes} bytes as JSON; the limit is ${limits.maxSectionBytes} bytes`, []),
      };
    }
  }
  const newHorizon = newClock - limits.tombstoneTtlMs;
  if (mayCollect(meta, doc, newHorizon)) meta = collectMeta(meta, newHorizon);
  // `meta` is this call's own copy (collectMeta returns it or a new map), so setting the clock is safe.
  meta = withClock(meta, newClock);
  const capError = metadataCapError(meta, state.meta, limits, label);
  if (capError) return { ok: false, error: capError };
  return { ok: true, changed, metaChanged: true, state: { meta, doc }, applied };
}

/**
 * Refuses growth beyond the cap only: a patch that keeps or shrinks the count (an update, a deletion, a
 * replay) is accepted even above it, so a device over a lowered cap can still clean up.
 */
function metadataCapError(meta: SectionMeta, before: SectionMeta, limits: TwinLimits, label: string): TwinValidationError | undefined {
  const count = entryCount(meta);
  if (count <= limits.maxMetadataEntries || count <= entryCount(before)) return undefined;
  return new TwinValidationError(
    'METADATA_TOO_LARGE',
    `${label} would keep ${count} metadata entries (its keys, objects and the deletions remembered for ${limits.tombstoneTtlMs} ms); ` +
      `the limit is ${limits.maxMetadataEntries}: add and delete fewer distinct keys`,
    [],
  );
}

// ---------------------------------------------------------------------------------------------
// Device timestamps
// ---------------------------------------------------------------------------------------------

// RFC 3339 / ISO-8601 calendar date-time. A time without a zone is refused rather than read as the
// server's local time; a bare date is UTC midnight (as in JavaScript).
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
}

/**
 * A device's `ts`: epoch milliseconds or an ISO-8601 date-time with a zone (`Z` or `±hh:mm`).
 * Absent (undefined or null) means "now" (receive time).
 *
 * @param options.maxFutureMs if set, refuse timestamps further than this ahead of `now`: a leaf written
 *   with a far-future ts wins against every later write until that time comes.
 */
export function parseTimestamp(input: unknown, now: number, options: { maxFutureMs?: number } = {}): number | TwinValidationError {
  let ms: number;
  if (input === undefined || input === null) {
    ms = now;
  } else if (typeof input === 'number') {
    if (!Number.isFinite(input)) return timestampError(`ts ${describe(input)} is not a finite number`);
    ms = input;
  } else if (typeof input === 'string') {
    const shown = showKey(input);
    const m = ISO.exec(input);
    if (m === null) return timestampError(`ts ${shown} is not an ISO-8601 date-time (like 2024-05-01T12:00:00Z) or epoch milliseconds`);
    const [, y, mo, d, h, mi, s, frac, z, sign, oh, om] = m;
    if (h !== undefined && z === undefined && sign === undefined) {
      return timestampError(`ts ${shown} has no time zone; add Z or an offset like +02:00`);
    }
    const year = Number(y);
    const month = Number(mo);
    const day = Number(d);
    const hour = Number(h ?? 0);
    const minute = Number(mi ?? 0);
    const second = Number(s ?? 0);
    const offset = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om ?? 0));
    if (
      month < 1 ||
      month > 12 ||
      day < 1 ||
      day > daysInMonth(year, month) ||
      hour > 23 ||
      minute > 59 ||
      second > 59 ||
      Number(oh ?? 0) > 23 ||
      Number(om ?? 0) > 59
    ) {
      return timestampError(`ts ${shown} is not a valid date-time`);
    }
    // Checked before Date.UTC, which maps years 0–99 to 1900–1999. (1969 can still be 1970 in UTC.)
    if (year < 1969) return timestampError(`ts ${shown} is before 1970`);
    const millis = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
    ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset * 60_000;
  } else {
    return timestampError(`ts must be epoch milliseconds or an ISO-8601 string, not ${describe(input)}`);
  }
  // Called for every telemetry entry: the shown form is built only when refusing.
  if (ms < 0) return timestampError(`ts ${shownTs(input, ms)} is negative (before 1970)`);
  if (ms > MAX_DATE_MS) return timestampError(`ts ${shownTs(input, ms)} is after the latest date JavaScript can represent`);
  if (options.maxFutureMs !== undefined && ms > now + options.maxFutureMs) {
    return timestampError(`ts ${shownTs(input, ms)} is ${ms - now} ms ahead of the server clock; the limit is ${options.maxFutureMs} ms`);
  }
  return ms;
}

function shownTs(input: unknown, ms: number): string {
  return typeof input === 'string' ? showKey(input) : String(ms);
}

function timestampError(message: string): TwinValidationError {
  return new TwinValidationError('INVALID_TIMESTAMP', message, ['ts']);
}
