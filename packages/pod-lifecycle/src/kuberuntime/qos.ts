import { InvalidArgumentError, type k8s } from '@nodeagent/core';
import {
  addQuantities,
  compareQuantities,
  quantityValue,
  type ParsedQuantity as Quantity,
} from '@nodeagent/core';
import { containerLimits, containerRequests } from './resource-lists.js';

/** A pod's QoS class (`v1.PodQOSClass`). */
export type PodQOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** The resources QoS looks at (`supportedQoSComputeResources`). */
const qosComputeResources = new Set(['cpu', 'memory']);

/** OOM score adjustment of Guaranteed and node-critical containers (kubelet `guaranteedOOMScoreAdj`). */
export const guaranteedOOMScoreAdj = -997;
/** OOM score adjustment of BestEffort containers (kubelet `besteffortOOMScoreAdj`). */
export const besteffortOOMScoreAdj = 1000;
/** Priority from which a pod counts as critical (`scheduling.SystemCriticalPriority`, 2·10⁹). */
export const systemCriticalPriority = 2_000_000_000;

/**
 * The pod's QoS class, following the kubelet (`v1qos.GetPodQOS`): only `cpu` and
 * `memory` count, zero quantities are ignored, init containers count like app
 * containers, and requests default to limits (API defaulting, applied here because
 * static pods may not have passed through it).
 *
 * - BestEffort: no container requests or limits anything.
 * - Guaranteed: every container has cpu and memory limits and the summed requests
 *   equal the summed limits for both.
 * - Burstable: everything else.
 *
 * @throws InvalidPodSpecError on an invalid quantity.
 */
export function getPodQOS(pod: k8s.Pod): PodQOSClass {
  const requests = new Map<string, Quantity>();
  const limits = new Map<string, Quantity>();
  let isGuaranteed = true;
  const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  for (const container of all) {
    for (const [name, q] of Object.entries(containerRequests(pod, container))) {
      if (!qosComputeResources.has(name) || q.numerator <= 0n) continue;
      const have = requests.get(name);
      requests.set(name, have ? addQuantities(have, q) : q);
    }
    const found = new Set<string>();
    for (const [name, q] of Object.entries(containerLimits(pod, container))) {
      if (!qosComputeResources.has(name) || q.numerator <= 0n) continue;
      found.add(name);
      const have = limits.get(name);
      limits.set(name, have ? addQuantities(have, q) : q);
    }
    if (!found.has('cpu') || !found.has('memory')) isGuaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (isGuaranteed) {
    for (const [name, req] of requests) {
      const lim = limits.get(name);
      if (!lim || compareQuantities(lim, req) !== 0) {
        isGuaranteed = false;
        break;
      }
    }
  }
  return isGuaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}

/**
 * {@link getPodQOS}, or BestEffort when a quantity does not parse: for status reporting,
 * which must never fail on a bad spec (such a pod is refused at admission).
 */
export function podQOSOrBestEffort(pod: k8s.Pod): PodQOSClass {
  try {
    return getPodQOS(pod);
  } catch {
    return 'BestEffort';
  }
}

/**
 * Whether the pod is critical (kubelet `types.IsCriticalPod`): a static pod (config
 * source annotation other than `api`), a mirror pod, or priority ≥ 2·10⁹.
 */
export function isCriticalPod(pod: k8s.Pod): boolean {
  const annotations = pod.metadata?.annotations ?? {};
  const source = annotations['kubernetes.io/config.source'];
  if (source !== undefined && source !== 'api') return true;
  if (annotations['kubernetes.io/config.mirror'] !== undefined) return true;
  return pod.spec?.priority !== undefined && pod.spec.priority >= systemCriticalPriority;
}

/** Whether the pod is node-critical (kubelet `IsNodeCriticalPod`): critical and of priority class `system-node-critical`. */
export function isNodeCriticalPod(pod: k8s.Pod): boolean {
  return isCriticalPod(pod) && pod.spec?.priorityClassName === 'system-node-critical';
}

function memoryRequestBytes(pod: k8s.Pod, container: k8s.Container): number {
  const q = containerRequests(pod, container)['memory'];
  return q ? quantityValue(q) : 0;
}

/**
 * The OOM score adjustment for a container's processes (kubelet
 * `qos.GetContainerOOMScoreAdjust`): node-critical and Guaranteed −997, BestEffort 1000,
 * Burstable `1000 − 1000·memoryRequest/memoryCapacity` (integer division) clamped to
 * [3, 999] — at least 1000 + (−997) so it is above any Guaranteed container, and 999
 * instead of 1000 so it is below BestEffort. A sidecar (init container with
 * `restartPolicy: Always`) gets at most the score of the app container with the
 * smallest memory request, so it is killed after the app containers.
 *
 * @param memoryCapacityBytes  The node's memory capacity in bytes (> 0).
 */
export function getContainerOOMScoreAdjust(
  pod: k8s.Pod,
  container: k8s.Container,
  memoryCapacityBytes: number,
): number {
  if (isNodeCriticalPod(pod)) return guaranteedOOMScoreAdj;
  switch (getPodQOS(pod)) {
    case 'Guaranteed':
      return guaranteedOOMScoreAdj;
    case 'BestEffort':
      return besteffortOOMScoreAdj;
    case 'Burstable':
      break;
  }
  if (!(memoryCapacityBytes > 0)) {
    throw new InvalidArgumentError(`memoryCapacityBytes must be > 0, got ${memoryCapacityBytes}`);
  }
  const capacity = BigInt(Math.trunc(memoryCapacityBytes));
  const score = (request: number): bigint => 1000n - (1000n * BigInt(request)) / capacity;
  let adjust = score(memoryRequestBytes(pod, container));
  const isSidecar =
    container.restartPolicy === 'Always' &&
    (pod.spec?.initContainers ?? []).some((c) => c.name === container.name);
  const apps = pod.spec?.containers ?? [];
  if (isSidecar && apps.length > 0) {
    const minRequest = Math.min(...apps.map((c) => memoryRequestBytes(pod, c)));
    const appScore = score(minRequest);
    if (adjust > appScore) adjust = appScore;
  }
  if (adjust < BigInt(1000 + guaranteedOOMScoreAdj)) return 1000 + guaranteedOOMScoreAdj;
  if (adjust === BigInt(besteffortOOMScoreAdj)) return besteffortOOMScoreAdj - 1;
  return Number(adjust);
}
