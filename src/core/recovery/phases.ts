// A failover is a persisted state machine (CloudNativePG: current primary, target primary, phase): each phase is
// reached only after its step was verified, so a controller that dies in any phase resumes with the next step and
// never repeats a completed one. Pure: the controller stores the phase and runs the step this file names.

export const FAILOVER_PHASES = [
  'detected',
  'fenced',
  'caught-up',
  'promoted',
  'repointed',
  'endpoint-switched',
  'done',
  'aborted',
] as const;
export type FailoverPhase = (typeof FAILOVER_PHASES)[number];

/** The step that moves a failover out of each phase (none for the final ones). */
export const NEXT_STEP: Readonly<Record<FailoverPhase, FailoverStep | null>> = {
  detected: 'fence-old-primary',
  fenced: 'wait-candidate-caught-up',
  'caught-up': 'promote-candidate',
  promoted: 'repoint-replicas',
  repointed: 'switch-endpoint',
  'endpoint-switched': 'finish',
  done: null,
  aborted: null,
};
export type FailoverStep =
  | 'fence-old-primary'
  | 'wait-candidate-caught-up'
  | 'promote-candidate'
  | 'repoint-replicas'
  | 'switch-endpoint'
  | 'finish';

const ORDER: ReadonlyMap<FailoverPhase, number> = new Map(FAILOVER_PHASES.map((p, i) => [p, i]));

export function isFinal(phase: FailoverPhase): boolean {
  return phase === 'done' || phase === 'aborted';
}

/**
 * Whether a stored failover may move from `from` to `to`: one phase forward at a time, or to `aborted` from any
 * phase before the candidate was promoted (after promotion there is no going back: the new primary took writes,
 * so the only way is forward, to a consistent endpoint).
 */
export function canTransition(from: FailoverPhase, to: FailoverPhase): boolean {
  if (isFinal(from)) return false;
  if (to === 'aborted') return (ORDER.get(from) ?? 0) < (ORDER.get('promoted') ?? 0);
  return (ORDER.get(to) ?? -1) === (ORDER.get(from) ?? -2) + 1;
}

/** What a controller restarting with a stored, unfinished failover must do next. */
export function resumeStep(phase: FailoverPhase): {
  readonly step: FailoverStep | null;
  readonly reason: string;
} {
  const step = NEXT_STEP[phase];
  if (step === null) return { step: null, reason: `the failover already ended (${phase})` };
  return { step, reason: `resuming after phase ${phase}: next step ${step}` };
}
