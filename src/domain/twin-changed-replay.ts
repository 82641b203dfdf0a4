/**
 * Resuming `twinChanged` from a version (docs/twins.md, "Resuming a subscription"): the decisions, without
 * I/O. A twin's versions rise by exactly one per accepted change and every change writes one TwinChange
 * row with its version (src/services/twins/writer.ts), so the log can replay "everything after
 * sinceVersion" only when it holds every version from sinceVersion + 1 on. History retention
 * (src/services/retention.ts) deletes the oldest rows; a device deleted and registered again starts over at 0.
 * Either way the client cannot be brought up to date from the log and must read the twin again.
 */
import { DoppelError, failed, type Failed } from './errors.ts';

export const RESYNC_REQUIRED = 'RESYNC_REQUIRED';

/**
 * The change log cannot bring the client from `sinceVersion` to now: read the twin (its `version`) and
 * subscribe again from there. `oldestVersion` is the oldest change the log still holds past
 * `sinceVersion` (null when none).
 */
export class ResyncRequiredError extends DoppelError {
  constructor(
    readonly deviceId: string,
    readonly sinceVersion: number,
    readonly currentVersion: number,
    readonly oldestVersion: number | null,
    readonly reason: 'AHEAD_OF_TWIN' | 'HISTORY_DELETED',
  ) {
    super(
      RESYNC_REQUIRED,
      reason === 'AHEAD_OF_TWIN'
        ? `device ${JSON.stringify(deviceId)} is at version ${currentVersion}, before sinceVersion ${sinceVersion} (was it deleted and registered again?): read the twin and subscribe from its version`
        : `the change history of device ${JSON.stringify(deviceId)} no longer holds version ${sinceVersion + 1} (retention deleted it); read the twin (version ${currentVersion}) and subscribe from its version`,
    );
  }
}

/** What is known when the replay starts, read in one statement. */
export interface ReplayStart {
  deviceId: string;
  sinceVersion: number;
  /** The twin's version now. */
  currentVersion: number;
  /** The lowest logged version above sinceVersion (null when the log holds none). */
  firstLoggedVersion: number | null;
}

/** Replay versions sinceVersion + 1 … `untilVersion` from the log, then go live. */
export type ReplayPlan = { ok: true; untilVersion: number } | Failed<ResyncRequiredError>;

export function planReplay(start: ReplayStart): ReplayPlan {
  const { deviceId, sinceVersion, currentVersion, firstLoggedVersion } = start;
  if (sinceVersion > currentVersion) return failed(new ResyncRequiredError(deviceId, sinceVersion, currentVersion, firstLoggedVersion, 'AHEAD_OF_TWIN'));
  if (sinceVersion === currentVersion) return { ok: true, untilVersion: currentVersion };
  if (firstLoggedVersion !== sinceVersion + 1) {
    return failed(new ResyncRequiredError(deviceId, sinceVersion, currentVersion, firstLoggedVersion, 'HISTORY_DELETED'));
  }
  return { ok: true, untilVersion: currentVersion };
}

/**
 * A page of the log read after version `after` must continue it without a hole: retention running
 * while a long replay pages through the log may delete rows the replay has not reached yet.
 */
export function checkPage(
  start: Pick<ReplayStart, 'deviceId' | 'sinceVersion' | 'currentVersion'>,
  after: number,
  versions: readonly number[],
): { ok: true } | Failed<ResyncRequiredError> {
  // The replay asks for pages only while it has not reached currentVersion: an empty one is a hole too.
  if (versions.length === 0 && after < start.currentVersion) {
    return failed(new ResyncRequiredError(start.deviceId, start.sinceVersion, start.currentVersion, null, 'HISTORY_DELETED'));
  }
  let expected = after + 1;
  for (const version of versions) {
    if (version !== expected) return failed(new ResyncRequiredError(start.deviceId, start.sinceVersion, start.currentVersion, version, 'HISTORY_DELETED'));
    expected++;
  }
  return { ok: true };
}

/** Validates the arguments of `twinChanged` when resuming; a message for the client, or null. */
export function resumeArgumentsProblem(deviceId: string | null | undefined, sinceVersion: number): string | null {
  if (deviceId == null) return 'sinceVersion needs deviceId: a resume replays the change log of one device';
  if (!Number.isInteger(sinceVersion) || sinceVersion < 0) return 'sinceVersion must be an integer ≥ 0 (0 replays the whole history)';
  return null;
}
