/** The resumable twinChanged stream (the why is in ./index.ts). */
import type { SqlExecutor } from '../../db/client.ts';
import { NotFoundError, ValidationError, type DoppelError } from '../../domain/errors.ts';
import type { JsonObject } from '../../domain/twin.ts';
import { checkPage, planReplay, resumeArgumentsProblem } from '../../domain/twin-changed-replay.ts';
import type { EventBus, TwinChangedEvent } from '../../events/bus.ts';
import type { Metrics } from '../../metrics.ts';

export const RESUMES_METRIC = 'doppel_twin_resumes_total';
export const RESUMED_CHANGES_METRIC = 'doppel_twin_resume_replayed_changes_total';
export const RESUME_DUPLICATES_METRIC = 'doppel_twin_resume_duplicates_dropped_total';

/** Log rows one statement reads at most: a long replay is paged, never one huge result. */
const DEFAULT_PAGE_ROWS = 500;

export interface TwinReplayOptions {
  sql: SqlExecutor;
  bus: EventBus;
  metrics: Metrics;
  pageRows?: number;
}

/**
 * For tests only (unset otherwise): awaited between the live subscription and the first read of the log,
 * so a test can land a change exactly there (test/e2e/twin-changed-resume.test.ts). A module-level seam
 * because tests start the server in process and the window is otherwise a few microseconds wide.
 */
export const twinReplayProbe: { afterSubscribe?: (deviceId: string) => Promise<void> } = {};

interface StartRow {
  device_uuid: string;
  device_id: string;
  current_version: number;
  first_logged: number | null;
}

interface ChangeRow {
  version: number;
  section: TwinChangedEvent['section'];
  patch: JsonObject;
  source: TwinChangedEvent['source'];
  actor: string | null;
  at: number;
}

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true }) as IteratorResult<never>;

/** The implementation of TwinReplay (./index.ts), which declares the interface. */
export function createTwinReplayStreams(options: TwinReplayOptions) {
  const { sql, bus, metrics } = options;
  const pageRows = options.pageRows ?? DEFAULT_PAGE_ROWS;
  metrics.describe(RESUMES_METRIC, 'twinChanged subscriptions resumed with sinceVersion, by result (replayed, resync_required, bad_input, not_found).');
  metrics.describe(RESUMED_CHANGES_METRIC, 'Twin changes replayed from the change log to resumed twinChanged subscriptions.');
  metrics.describe(RESUME_DUPLICATES_METRIC, 'Live twin changes a resumed subscription dropped because the log replay had delivered them already.');

  function resume(tenantId: string, deviceId: string | null | undefined, sinceVersion: number): AsyncIterableIterator<TwinChangedEvent> {
    let live: AsyncIterableIterator<TwinChangedEvent> | undefined;
    let state: 'new' | 'replaying' | 'live' | 'done' = 'new';
    let started: Promise<void> | undefined;
    let uuid = '';
    let name = '';
    let plan = { sinceVersion, currentVersion: 0 };
    /** The last version delivered from the log; live events at or below it are duplicates. */
    let replayedUntil = sinceVersion;
    let page: TwinChangedEvent[] = [];

    const refuse = (result: string, error: DoppelError): never => {
      metrics.inc(RESUMES_METRIC, { result });
      throw error;
    };

    async function start(): Promise<void> {
      const problem = resumeArgumentsProblem(deviceId, sinceVersion);
      if (problem) refuse('bad_input', new ValidationError(problem, [{ path: ['sinceVersion'], message: problem, code: 'BAD_ARGUMENT' }]));
      // Listening before the log is read: see ./index.ts for why this order leaves no gap.
      live = bus.subscribe('twinChanged', (e) => e.tenantId === tenantId && e.deviceId === deviceId);
      await twinReplayProbe.afterSubscribe?.(deviceId!);
      const [row] = await sql.query<StartRow>(
        `SELECT d.id AS device_uuid, d."deviceId" AS device_id, t.version AS current_version,
                (SELECT min(c.version) FROM "TwinChange" c WHERE c."deviceId" = d.id AND c.version > $3::int) AS first_logged
           FROM "Device" d JOIN "Twin" t ON t."deviceId" = d.id
          WHERE d."tenantId" = $1 AND d."deviceId" = $2`,
        [tenantId, deviceId, sinceVersion],
      );
      if (!row) refuse('not_found', new NotFoundError('Device', deviceId!));
      uuid = row!.device_uuid;
      name = row!.device_id;
      const currentVersion = Number(row!.current_version);
      const firstLogged = row!.first_logged === null ? null : Number(row!.first_logged);
      const verdict = planReplay({ deviceId: name, sinceVersion, currentVersion, firstLoggedVersion: firstLogged });
      if (!verdict.ok) refuse('resync_required', verdict.error);
      plan = { sinceVersion, currentVersion };
      metrics.inc(RESUMES_METRIC, { result: 'replayed' });
    }

    /** The next page of the log after `replayedUntil`, up to the version seen at start. */
    async function readPage(): Promise<void> {
      const rows = await sql.query<ChangeRow>(
        `SELECT version, section, patch, source, actor, (extract(epoch FROM "createdAt") * 1000)::float8 AS at
           FROM "TwinChange"
          WHERE "deviceId" = $1::uuid AND version > $2::int AND version <= $3::int
          ORDER BY version
          LIMIT $4::int`,
        [uuid, replayedUntil, plan.currentVersion, pageRows],
      );
      const verdict = checkPage(
        { deviceId: name, ...plan },
        replayedUntil,
        rows.map((r) => Number(r.version)),
      );
      if (!verdict.ok) refuse('resync_required', verdict.error);
      page = rows.map((r) => ({
        deviceUuid: uuid,
        deviceId: name,
        tenantId,
        version: Number(r.version),
        section: r.section,
        patch: r.patch,
        source: r.source,
        actor: r.actor,
        at: Number(r.at),
      }));
      if (page.length > 0) metrics.inc(RESUMED_CHANGES_METRIC, {}, page.length);
    }

    async function close(): Promise<void> {
      state = 'done';
      page = [];
      await live?.return?.();
    }

    async function step(): Promise<IteratorResult<TwinChangedEvent>> {
      if (state === 'new') {
        state = 'replaying';
        started = start();
      }
      if (started) {
        await started;
        started = undefined;
      }
      while (state === 'replaying') {
        const next = page.shift();
        if (next) {
          replayedUntil = next.version;
          return { value: next, done: false };
        }
        if (replayedUntil >= plan.currentVersion) {
          state = 'live';
          break;
        }
        await readPage();
      }
      while (state === 'live') {
        const r = await live!.next();
        if (r.done) {
          state = 'done';
          return DONE;
        }
        if (r.value.version <= replayedUntil) {
          metrics.inc(RESUME_DUPLICATES_METRIC);
          continue;
        }
        return r;
      }
      return DONE;
    }

    return {
      async next() {
        if (state === 'done') return DONE;
        try {
          return await step();
        } catch (error) {
          await close();
          throw error;
        }
      },
      async return() {
        await close();
        return DONE;
      },
      async throw(error: unknown) {
        await close();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  return { resume };
}
