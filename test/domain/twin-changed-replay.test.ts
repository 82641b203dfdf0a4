import { describe, expect, it } from 'vitest';
import { checkPage, planReplay, RESYNC_REQUIRED, ResyncRequiredError, resumeArgumentsProblem } from '../../src/domain/twin-changed-replay.ts';

const start = { deviceId: 'd1', sinceVersion: 3, currentVersion: 7 };

describe('planReplay', () => {
  it('replays up to the current version when the log holds the version right after sinceVersion', () => {
    expect(planReplay({ ...start, firstLoggedVersion: 4 })).toEqual({ ok: true, untilVersion: 7 });
    expect(planReplay({ deviceId: 'd1', sinceVersion: 0, currentVersion: 1, firstLoggedVersion: 1 })).toEqual({ ok: true, untilVersion: 1 });
  });

  it('has nothing to replay at the current version, whatever the log holds', () => {
    expect(planReplay({ deviceId: 'd1', sinceVersion: 7, currentVersion: 7, firstLoggedVersion: null })).toEqual({ ok: true, untilVersion: 7 });
  });

  it('asks for a resync when retention deleted the next version', () => {
    const plan = planReplay({ ...start, firstLoggedVersion: 6 });
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    expect(plan.error).toBeInstanceOf(ResyncRequiredError);
    expect(plan.error).toMatchObject({ code: RESYNC_REQUIRED, sinceVersion: 3, currentVersion: 7, oldestVersion: 6, reason: 'HISTORY_DELETED' });
    expect(planReplay({ ...start, firstLoggedVersion: null })).toMatchObject({ ok: false, error: { oldestVersion: null, reason: 'HISTORY_DELETED' } });
  });

  it('asks for a resync when the twin is behind sinceVersion (a device registered again)', () => {
    expect(planReplay({ deviceId: 'd1', sinceVersion: 9, currentVersion: 2, firstLoggedVersion: null })).toMatchObject({
      ok: false,
      error: { code: RESYNC_REQUIRED, currentVersion: 2, reason: 'AHEAD_OF_TWIN' },
    });
  });
});

describe('checkPage', () => {
  it('accepts a page that continues the replay without a hole', () => {
    expect(checkPage(start, 3, [4, 5, 6])).toEqual({ ok: true });
    expect(checkPage(start, 7, [])).toEqual({ ok: true });
  });

  it('refuses a hole inside a page, at its start, or an empty page before the current version', () => {
    expect(checkPage(start, 3, [4, 6])).toMatchObject({ ok: false, error: { oldestVersion: 6, reason: 'HISTORY_DELETED' } });
    expect(checkPage(start, 3, [5, 6])).toMatchObject({ ok: false, error: { oldestVersion: 5 } });
    expect(checkPage(start, 5, [])).toMatchObject({ ok: false, error: { oldestVersion: null, reason: 'HISTORY_DELETED' } });
  });
});

describe('resumeArgumentsProblem', () => {
  it('needs a device and a version ≥ 0', () => {
    expect(resumeArgumentsProblem('d1', 0)).toBeNull();
    expect(resumeArgumentsProblem(null, 1)).toMatch(/needs deviceId/);
    expect(resumeArgumentsProblem(undefined, 1)).toMatch(/needs deviceId/);
    expect(resumeArgumentsProblem('d1', -1)).toMatch(/integer ≥ 0/);
  });
});
