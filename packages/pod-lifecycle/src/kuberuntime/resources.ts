import type { cri, k8s } from '@nodeagent/core';
import { milliCPUToQuota, milliCPUToShares, quotaPeriodUs } from './cgroups.js';
import { getContainerOOMScoreAdjust } from './qos.js';
import {
  quantityMilliValue,
  quantityValue,
  type ParsedQuantity as Quantity,
} from '@nodeagent/core';
import { containerLimits, containerRequests, podLimits, podRequests } from './resource-lists.js';

/** Options of {@link linuxContainerResources}. */
export interface LinuxResourcesOptions {
  /** Node memory capacity in bytes, for the Burstable OOM score adjustment. */
  memoryCapacityBytes: number;
  /** Enforce CPU limits with CFS quota (kubelet `cpuCFSQuota`); default true. */
  cpuCFSQuota?: boolean;
  /** CFS period in microseconds (kubelet `cpuCFSQuotaPeriod`); default 100000 (100 ms). */
  cpuCFSQuotaPeriodUs?: number;
}

function calculate(
  cpuRequest: Quantity | undefined,
  cpuLimit: Quantity | undefined,
  memoryLimit: Quantity | undefined,
  options: Omit<LinuxResourcesOptions, 'memoryCapacityBytes'>,
): cri.LinuxContainerResourcesInput {
  const resources: cri.LinuxContainerResourcesInput = {};
  const limitMilli = cpuLimit ? quantityMilliValue(cpuLimit) : 0;
  // Without a request the limit stands in for it (kubelet calculateLinuxResources).
  resources.cpuShares = milliCPUToShares(cpuRequest ? quantityMilliValue(cpuRequest) : limitMilli);
  const memoryBytes = memoryLimit ? quantityValue(memoryLimit) : 0;
  if (memoryBytes !== 0) resources.memoryLimitInBytes = memoryBytes;
  if (options.cpuCFSQuota ?? true) {
    const period = options.cpuCFSQuotaPeriodUs ?? quotaPeriodUs;
    resources.cpuPeriod = period;
    resources.cpuQuota = milliCPUToQuota(limitMilli, period);
  }
  return resources;
}

/**
 * The CRI Linux resources of a container (kubelet `generateLinuxContainerResources`):
 * `cpuShares` from the CPU request (or the limit when there is no request; minimum 2),
 * `cpuPeriod` (100000 µs) and `cpuQuota` from the CPU limit (0 = unlimited, else at
 * least 1000 µs), `memoryLimitInBytes` from the memory limit (unset when none) and
 * `oomScoreAdj` by QoS class ({@link getContainerOOMScoreAdjust}). Hugepages, swap and
 * cgroup v2 memory QoS are not set.
 *
 * @throws InvalidPodSpecError on an invalid quantity.
 */
export function linuxContainerResources(
  pod: k8s.Pod,
  container: k8s.Container,
  options: LinuxResourcesOptions,
): cri.LinuxContainerResourcesInput {
  const requests = containerRequests(pod, container);
  const limits = containerLimits(pod, container);
  const resources = calculate(requests['cpu'], limits['cpu'], limits['memory'], options);
  resources.oomScoreAdj = getContainerOOMScoreAdjust(pod, container, options.memoryCapacityBytes);
  return resources;
}

/**
 * The pod-level resources given to the runtime in `LinuxPodSandboxConfig.resources`
 * (kubelet `calculateSandboxResources`, without overhead): CPU shares from the pod's
 * summed requests, quota from its summed limits and the memory limit from its summed
 * memory limits (see {@link podRequests}). No OOM score adjustment.
 */
export function podSandboxResources(
  pod: k8s.Pod,
  options: Omit<LinuxResourcesOptions, 'memoryCapacityBytes'> = {},
): cri.LinuxContainerResourcesInput {
  const requests = podRequests(pod);
  const limits = podLimits(pod);
  return calculate(requests['cpu'], limits['cpu'], limits['memory'], options);
}
