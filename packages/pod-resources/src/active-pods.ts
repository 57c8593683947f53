import type { k8s } from '@nodeagent/core';

/** Where a pod's worker is (kubelet pod workers): `undefined` when it has none yet. */
export type PodWorkerPhase = 'syncing' | 'terminating' | 'terminated' | undefined;

/** What {@link activePodsOf} needs to know about one desired pod. */
export interface PodActivityView {
  /** The desired pod (never a mirror pod). */
  readonly pod: k8s.Pod;
  /** The status the agent generated for it, if any. */
  readonly status: k8s.PodStatus | undefined;
  /** Its worker's phase. */
  readonly phase: PodWorkerPhase;
}

const isTerminalPhase = (phase: string | undefined): boolean =>
  phase === 'Succeeded' || phase === 'Failed';

/**
 * The kubelet's active pods (`GetActivePods` → `filterOutInactivePods`): every desired
 * pod except those whose worker has terminated, and except those in a terminal phase
 * (Succeeded/Failed, by the agent's status or the API's) unless their termination is
 * still under way. This is the pod set the PodResources `List` reports.
 */
export function activePodsOf(views: Iterable<PodActivityView>): k8s.Pod[] {
  const active: k8s.Pod[] = [];
  for (const v of views) {
    if (v.phase === 'terminated') continue;
    const terminal = isTerminalPhase(v.status?.phase) || isTerminalPhase(v.pod.status?.phase);
    if (terminal && v.phase !== 'terminating') continue;
    active.push(v.pod);
  }
  return active;
}
