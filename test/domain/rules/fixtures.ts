/** Shared fixtures of the rules domain tests. */
import type { RuleDefinition } from '../../../src/domain/rules/rule.ts';
import type { TwinLimits } from '../../../src/domain/twin.ts';

export const TWIN_LIMITS: TwinLimits = {
  maxSectionBytes: 64 * 1024,
  maxDepth: 5,
  maxKeyLength: 16,
  maxFutureSkewMs: 60_000,
  tombstoneTtlMs: 3_600_000,
  maxMetadataEntries: 1000,
};

export const MINUTE = 60_000;

/** The cold-storage rule of docs/rules.md: temp > 8 for 10 minutes, cleared below 6 after 5 minutes. */
export const COLD_STORAGE: RuleDefinition = {
  scope: { tag: 'cold-room' },
  source: { type: 'telemetry', metric: 'temp' },
  raise: { op: '>', value: 8, forMs: 10 * MINUTE },
  clear: { op: '<', value: 6, forMs: 5 * MINUTE },
  severity: 'MAJOR',
  onRaise: [{ type: 'notifyWebhook', endpointId: 'ops-pager' }],
  onClear: [],
};

/** A rule with a threshold and its default clear (the negation), no durations. */
export function threshold(value: number, extra: Partial<RuleDefinition> = {}): RuleDefinition {
  return {
    scope: {},
    source: { type: 'telemetry', metric: 'temp' },
    raise: { op: '>', value },
    severity: 'WARNING',
    onRaise: [],
    onClear: [],
    ...extra,
  };
}
