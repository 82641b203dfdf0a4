/**
 * The simulated device itself: a small thermostat whose state is a plain JSON document. Pure — no
 * clocks, no randomness of its own (callers pass both in), no I/O — so the MQTT edge can be thin and
 * this part can be tested exactly.
 *
 * Known keys give the simulation its behaviour (`temperature` drifts toward `targetTemperature`
 * unless `mode` is `off`), but desired state is applied generically: any key the server asks for is
 * merged into the document and reported back, whether the thermostat understands it or not, which is
 * what makes the simulator useful for trying out arbitrary desired-state shapes.
 */
import type { JsonObject, JsonValue } from '../domain/twin.ts';
import { isPlainObject } from '../domain/twin.ts';

/** The document a simulated thermostat reports. Extra keys (from desired state) may sit beside these. */
export interface ThermostatState extends JsonObject {
  /** Measured room temperature, °C, one decimal. */
  temperature: JsonValue;
  /** Set point, °C. The room drifts toward it while `mode` is not `off`. */
  targetTemperature: JsonValue;
  /** `heat`, `cool`, `auto` or `off` (with `off` the room drifts back to ambient). */
  mode: JsonValue;
  /** `auto`, `on` or `off`. Cosmetic: it does not change the physics. */
  fan: JsonValue;
  /** Firmware version string. Cosmetic: a desired value is simply adopted, as after an update. */
  firmware: JsonValue;
}

/** Physics of the simulated room. */
export interface ThermostatPhysics {
  /** Where the room settles when the thermostat is off, °C. Default 18. */
  ambient: number;
  /** Time constant of the drift, ms: after this long, ~63 % of the gap to the goal is closed. Default 20 s. */
  tauMs: number;
  /**
   * Amplitude of sensor noise per tick, °C (uniform in ±noise). Default 0.1: at one decimal the
   * reading then flickers by a tenth about half the time, so a settled room still reports now and then.
   */
  noise: number;
}

export const DEFAULT_PHYSICS: ThermostatPhysics = { ambient: 18, tauMs: 20_000, noise: 0.1 };

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type Random = () => number;

/** The state a thermostat starts with: near ambient, asking for 21 °C. */
export function initialState(random: Random, physics: ThermostatPhysics = DEFAULT_PHYSICS): ThermostatState {
  return {
    temperature: round1(physics.ambient + (random() - 0.5) * 2),
    targetTemperature: 21,
    mode: 'heat',
    fan: 'auto',
    firmware: '1.0.0',
  };
}

/**
 * RFC 7386 JSON merge patch, without mutating either argument: objects merge key by key, `null`
 * deletes, anything else (arrays included) replaces.
 */
export function mergePatch(target: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else if (isPlainObject(value)) {
      const current = Object.hasOwn(out, key) ? out[key] : undefined;
      setOwn(out, key, mergePatch(isPlainObject(current) ? current : {}, value));
    } else {
      setOwn(out, key, value);
    }
  }
  return out;
}

/**
 * The merge patch that turns `before` into `after` (the inverse of {@link mergePatch}): changed leaves,
 * removed keys as `null`, arrays compared whole. Empty when nothing changed.
 */
export function diff(before: JsonObject, after: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(before)) {
    if (!Object.hasOwn(after, key)) setOwn(out, key, null);
  }
  for (const [key, value] of Object.entries(after)) {
    const old = Object.hasOwn(before, key) ? before[key] : undefined;
    if (isPlainObject(value) && isPlainObject(old)) {
      const sub = diff(old, value);
      if (Object.keys(sub).length > 0) setOwn(out, key, sub);
    } else if (old === undefined || JSON.stringify(old) !== JSON.stringify(value)) {
      setOwn(out, key, value);
    }
  }
  return out;
}

/**
 * Applies a delta from the server: merges it into the state and returns what to report back. The
 * report is the delta itself — every key the server asked for, with the value the device now holds —
 * even where the device already had that value: the server's copy may be stale (a report lost in a
 * dropped connection), and re-reporting an equal value is harmless.
 */
export function applyDelta<S extends JsonObject>(state: S, delta: JsonObject): { state: S; report: JsonObject } {
  return { state: mergePatch(state, delta) as S, report: structuredClone(delta) };
}

/**
 * Advances the simulation by `elapsedMs`: the temperature closes part of the gap to its goal
 * (`targetTemperature`, or ambient when `mode` is `off` or the set point is not a number) and picks up
 * a little sensor noise. Returns the new state and what changed, as a merge patch (empty when the
 * rounded reading did not move).
 */
export function tick<S extends JsonObject>(
  state: S,
  elapsedMs: number,
  random: Random,
  physics: ThermostatPhysics = DEFAULT_PHYSICS,
): { state: S; changed: JsonObject } {
  // A desired `temperature` of the wrong type (anything is accepted) must not break the physics.
  const current = finite(state.temperature) ?? physics.ambient;
  const target = finite(state.targetTemperature);
  const goal = state.mode === 'off' || target === undefined ? physics.ambient : target;
  const gap = goal - current;
  let step = gap * (1 - Math.exp(-Math.max(0, elapsedMs) / physics.tauMs));
  // Readings have one decimal: without a minimum step the last tenth of a degree would never be closed.
  if (elapsedMs > 0 && Math.abs(gap) >= 0.1 && Math.abs(step) < 0.1) step = Math.sign(gap) * 0.1;
  const next = round1(current + step + (random() - 0.5) * 2 * physics.noise);
  const nextState = { ...state, temperature: next };
  return { state: nextState, changed: diff(state, nextState) };
}

/**
 * What the thermostat measures: sent as telemetry, never reported into its twin. The twin holds what
 * the device *is set to* (mode, fan, set point, firmware): reporting every reading there would bump the
 * twin's version on every tick and bury the changes that matter in its change log.
 */
export const MEASUREMENTS = ['temperature'] as const;

/** The part of a state (or of a change to it) that belongs in the twin: everything but {@link MEASUREMENTS}. */
export function twinPart(state: JsonObject): JsonObject {
  const out = { ...state };
  for (const key of MEASUREMENTS) delete out[key];
  return out;
}

/** The commands a simulated thermostat understands (declare them in its device model to send them). */
export const THERMOSTAT_COMMANDS = ['setTargetTemperature', 'setMode', 'ping'] as const;
const MODES = ['heat', 'cool', 'auto', 'off'];

export type CommandOutcome =
  | { status: 'SUCCEEDED'; state: JsonObject; result: JsonObject; /** What changed, to report (may be empty). */ changed: JsonObject }
  | { status: 'REJECTED'; error: { code: 'UNKNOWN_COMMAND' | 'BAD_PARAMS'; message: string } };

/**
 * Runs a command on the thermostat: `setTargetTemperature {value: 5–35}`, `setMode {mode}` (heat, cool,
 * auto, off), `ping {}`. Anything else is REJECTED with a reason, as a real device refuses what its
 * firmware does not know — the server validates params against the model, this is the device's own check.
 */
export function runCommand(state: JsonObject, name: string, params: JsonObject): CommandOutcome {
  const reject = (code: 'UNKNOWN_COMMAND' | 'BAD_PARAMS', message: string): CommandOutcome => ({ status: 'REJECTED', error: { code, message } });
  let next: JsonObject;
  switch (name) {
    case 'setTargetTemperature': {
      const value = finite(params.value);
      if (value === undefined || value < 5 || value > 35) return reject('BAD_PARAMS', 'value must be a number of °C from 5 to 35');
      next = { ...state, targetTemperature: value };
      break;
    }
    case 'setMode':
      if (typeof params.mode !== 'string' || !MODES.includes(params.mode)) return reject('BAD_PARAMS', `mode must be one of ${MODES.join(', ')}`);
      next = { ...state, mode: params.mode };
      break;
    case 'ping':
      return { status: 'SUCCEEDED', state, result: { pong: true, temperature: state.temperature ?? null }, changed: {} };
    default:
      return reject('UNKNOWN_COMMAND', `this thermostat knows ${THERMOSTAT_COMMANDS.join(', ')}`);
  }
  const changed = diff(state, next);
  return { status: 'SUCCEEDED', state: next, result: structuredClone(changed), changed };
}

/** `obj[key] = value`, except that a `__proto__` key (legal JSON) becomes a key, not a prototype. */
function setOwn(obj: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function finite(value: JsonValue | undefined): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function round1(n: number): number {
  // `+ 0` turns -0 into 0, which JSON would print as 0 anyway but Object.is would not equal.
  return Math.round(n * 10) / 10 + 0;
}
