/**
 * Critical pod admission (kubelet pkg/kubelet/preemption `CriticalPodAdmissionHandler`):
 * a critical pod refused only because the node lacks resources is admitted anyway once
 * enough lower-priority pods are preempted — killed as Failed / `Preempting`, with a
 * `DisruptionTarget` condition and a Warning event.
 */
import {
  noopEventRecorder,
  noopMetrics,
  type Counter,
  type EventRecorder,
  type MetricsRegistry,
  type k8s,
} from '@nodeagent/core';
import { getPodQOS, isCriticalPod } from '../kuberuntime/qos.js';
import { podRequestAmount, type PredicateFailure } from './predicate.js';

/** Message and event text of a preempted pod (kubelet `preemption.message`). */
export const preemptionMessage = 'Preempted in order to admit critical pod';
/** Status reason and event reason of a preempted pod (kubelet `events.PreemptContainer`). */
export const preemptionReason = 'Preempting';
/** Message of the preempted pod's DisruptionTarget condition. */
export const preemptionDisruptionMessage =
  'Pod was preempted by Kubelet to accommodate a critical pod.';

/** A resource the critical pod is short of, in the admission unit (millicores, bytes, count). */
export interface AdmissionRequirement {
  resourceName: string;
  quantity: number;
}

/** What the handler needs from the node agent. */
export interface CriticalPodAdmissionHandlerOptions {
  /**
   * Stops a preempted pod and publishes `status` (phase Failed, reason Preempting, the
   * DisruptionTarget condition) as its final status, with the pod's own grace period.
   * Called once per victim; it may complete after admission returns.
   */
  killPod: (pod: k8s.Pod, status: k8s.PodStatus) => void;
  recorder?: EventRecorder;
  /** Wall-clock ms for the condition's transition time; default `Date.now`. */
  now?: () => number;
  /** Where `kubelet_preemptions{preemption_signal}` is counted; default none. */
  metrics?: MetricsRegistry;
}

/** The amount of `resource` a pod requests (0 when its spec does not parse). */
function request(pod: k8s.Pod, resource: string): number {
  try {
    return podRequestAmount(pod, resource);
  } catch {
    return 0;
  }
}

/** Requirements left if `pods` were preempted (`admissionRequirementList.subtract`). */
export function subtractRequirements(
  requirements: readonly AdmissionRequirement[],
  pods: readonly k8s.Pod[],
): AdmissionRequirement[] {
  const out: AdmissionRequirement[] = [];
  for (const req of requirements) {
    let left = req.quantity;
    for (const pod of pods) {
      left -= request(pod, req.resourceName);
      if (left <= 0) break;
    }
    if (left > 0) out.push({ resourceName: req.resourceName, quantity: left });
  }
  return out;
}

function describe(requirements: readonly AdmissionRequirement[]): string {
  return `[${requirements.map((r) => `(res: ${r.resourceName}, q: ${r.quantity}), `).join('')}]`;
}

/** Squared fraction of each requirement a pod leaves unmet (`admissionRequirementList.distance`). */
function distance(requirements: readonly AdmissionRequirement[], pod: k8s.Pod): number {
  let d = 0;
  for (const req of requirements) {
    const remaining = req.quantity - request(pod, req.resourceName);
    if (remaining > 0) d += (remaining / req.quantity) ** 2;
  }
  return d;
}

/** Whether `a` requests less than `b`: memory first, then cpu (`smallerResourceRequest`). */
function smallerRequest(a: k8s.Pod, b: k8s.Pod): boolean {
  for (const r of ['memory', 'cpu']) {
    const ra = request(a, r);
    const rb = request(b, r);
    if (ra < rb) return true;
    if (ra > rb) return false;
  }
  return true;
}

/** Pods of one QoS class that cover `requirements`, closest first (`getPodsToPreemptByDistance`). */
function byDistance(
  candidates: readonly k8s.Pod[],
  requirements: readonly AdmissionRequirement[],
): k8s.Pod[] {
  const pods = [...candidates];
  const chosen: k8s.Pod[] = [];
  let left = [...requirements];
  while (left.length > 0) {
    if (pods.length === 0)
      throw new Error(`no set of running pods found to reclaim resources: ${describe(left)}`);
    let best = 0;
    let bestDistance = left.length + 1;
    pods.forEach((pod, i) => {
      const d = distance(left, pod);
      if (d < bestDistance || (d === bestDistance && smallerRequest(pod, pods[best]!))) {
        bestDistance = d;
        best = i;
      }
    });
    const pod = pods[best]!;
    left = subtractRequirements(left, [pod]);
    chosen.push(pod);
    pods[best] = pods[pods.length - 1]!;
    pods.pop();
  }
  return chosen;
}

/**
 * Whether `preemptor` may preempt `victim` (kubelet `types.Preemptable`): a critical pod
 * preempts any non-critical one, and a pod preempts one of strictly lower priority.
 */
export function preemptable(preemptor: k8s.Pod, victim: k8s.Pod): boolean {
  if (isCriticalPod(preemptor) && !isCriticalPod(victim)) return true;
  const a = preemptor.spec?.priority;
  const b = victim.spec?.priority;
  return a !== undefined && b !== undefined && a > b;
}

/**
 * The pods to preempt so that `requirements` are freed (kubelet `getPodsToPreempt`):
 * as few Guaranteed pods as still needed after every BestEffort and Burstable one,
 * then as few Burstable, then BestEffort; within a class the pod closest to what is
 * left, the smaller request on a tie. Throws when even all of them would not do.
 */
export function podsToPreempt(
  pod: k8s.Pod,
  activePods: readonly k8s.Pod[],
  requirements: readonly AdmissionRequirement[],
): k8s.Pod[] {
  const bestEffort: k8s.Pod[] = [];
  const burstable: k8s.Pod[] = [];
  const guaranteed: k8s.Pod[] = [];
  for (const p of activePods) {
    if (!preemptable(pod, p)) continue;
    let qos: string;
    try {
      qos = getPodQOS(p);
    } catch {
      qos = 'BestEffort';
    }
    (qos === 'Guaranteed' ? guaranteed : qos === 'Burstable' ? burstable : bestEffort).push(p);
  }
  const unmet = subtractRequirements(requirements, [...bestEffort, ...burstable, ...guaranteed]);
  if (unmet.length > 0)
    throw new Error(`no set of running pods found to reclaim resources: ${describe(unmet)}`);
  const guaranteedToEvict = byDistance(
    guaranteed,
    subtractRequirements(requirements, [...bestEffort, ...burstable]),
  );
  const burstableToEvict = byDistance(
    burstable,
    subtractRequirements(requirements, [...bestEffort, ...guaranteedToEvict]),
  );
  const bestEffortToEvict = byDistance(
    bestEffort,
    subtractRequirements(requirements, [...burstableToEvict, ...guaranteedToEvict]),
  );
  return [...bestEffortToEvict, ...burstableToEvict, ...guaranteedToEvict];
}

function podRef(pod: k8s.Pod): k8s.ObjectReference {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    name: pod.metadata?.name ?? '',
    namespace: pod.metadata?.namespace ?? 'default',
    uid: pod.metadata?.uid ?? '',
  };
}

/**
 * The kubelet's `CriticalPodAdmissionHandler`: asked by the predicate admission check
 * when a pod does not fit. Non-critical pods, and critical ones refused for anything
 * but resources, keep their failures; a critical pod short only of resources gets its
 * victims preempted and is admitted (an empty list is returned). Throws (an
 * `UnexpectedAdmissionError` for the caller) when no set of pods frees enough.
 */
export class CriticalPodAdmissionHandler {
  private readonly recorder: EventRecorder;
  private readonly now: () => number;
  private readonly preemptions: Counter;

  constructor(private readonly options: CriticalPodAdmissionHandlerOptions) {
    this.recorder = options.recorder ?? noopEventRecorder;
    this.now = options.now ?? Date.now;
    this.preemptions = (options.metrics ?? noopMetrics).counter({
      name: 'kubelet_preemptions',
      help: 'Cumulative number of pod preemptions by preemption resource',
      labelNames: ['preemption_signal'],
    });
  }

  handleAdmissionFailure(
    pod: k8s.Pod,
    failures: readonly PredicateFailure[],
    activePods: readonly k8s.Pod[],
  ): PredicateFailure[] {
    if (!isCriticalPod(pod)) return [...failures];
    const nonResource = failures.filter((f) => f.kind !== 'resource');
    if (nonResource.length > 0) return nonResource;
    const requirements = failures.flatMap((f) =>
      f.kind === 'resource'
        ? [{ resourceName: f.resourceName, quantity: f.requested - (f.capacity - f.used) }]
        : [],
    );
    let victims: k8s.Pod[];
    try {
      victims = podsToPreempt(pod, activePods, requirements);
    } catch (err) {
      throw new Error(
        `preemption: error finding a set of pods to preempt: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    const transition = new Date(Math.floor(this.now() / 1000) * 1000)
      .toISOString()
      .replace('.000Z', 'Z');
    for (const victim of victims) {
      this.recorder.event(podRef(victim), 'Warning', preemptionReason, preemptionMessage);
      this.options.killPod(victim, {
        phase: 'Failed',
        reason: preemptionReason,
        message: preemptionMessage,
        conditions: [
          {
            type: 'DisruptionTarget',
            status: 'True',
            reason: 'TerminationByKubelet',
            message: preemptionDisruptionMessage,
            lastTransitionTime: transition,
          },
        ],
      });
      this.preemptions.inc({ preemption_signal: requirements[0]?.resourceName ?? '' });
    }
    return [];
  }
}
