import type { k8s } from '@nodeagent/core';
import {
  milliCPUToQuota,
  milliCPUToShares,
  minShares,
  quotaPeriodUs,
} from '../kuberuntime/cgroups.js';
import { getPodQOS } from '../kuberuntime/qos.js';
import { parseQuantity, quantityMilliValue, quantityValue } from '@nodeagent/core';
import {
  containerLimits,
  podLimits,
  podRequests,
  type ParsedResourceList,
} from '../kuberuntime/resource-lists.js';

/**
 * The limits written to one cgroup (kubelet `cm.ResourceConfig`). Absent fields are
 * left untouched. Units are the kernel's: CPU shares (v1 `cpu.shares`, 2…262144),
 * CFS quota and period in microseconds, bytes for memory and huge pages.
 */
export interface ResourceConfig {
  /** CPU shares (cgroup v1 `cpu.shares`; on v2 converted to `cpu.weight`). */
  cpuShares?: number;
  /** CFS quota in µs per period; `-1` means unlimited, `0` is not written. */
  cpuQuota?: number;
  /** CFS period in µs (default in the kubelet: 100000). */
  cpuPeriod?: number;
  /** Memory limit in bytes; `-1` means unlimited, `0` is not written. */
  memory?: number;
  /** Maximum number of processes; `-1` (or any negative value) means unlimited. */
  pidsLimit?: number;
  /** Huge page limits in bytes, by page size in bytes (kubelet `HugePageLimit`). */
  hugePageLimit?: ReadonlyMap<number, number>;
}

/** Options of {@link resourceConfigForPod}, after the KubeletConfiguration fields of the same meaning. */
export interface PodResourceConfigOptions {
  /** `cpuCFSQuota`: enforce CPU limits with a CFS quota; default true. When false the quota is `-1`. */
  enforceCPULimits?: boolean;
  /** `cpuCFSQuotaPeriod` in microseconds; default 100000 (100 ms). */
  cpuPeriodUs?: number;
  /** `podPidsLimit`: maximum processes per pod; unset, 0 or negative = no pod pids limit. */
  podPidsLimit?: number;
}

/** Prefix of huge page resource names (`hugepages-2Mi`, `hugepages-1Gi`). */
export const hugePagesResourcePrefix = 'hugepages-';

/**
 * Huge page limits from a resource list (kubelet `HugePageLimits`): for every
 * `hugepages-<size>` entry, the amount in bytes summed per page size in bytes.
 */
export function hugePageLimits(list: ParsedResourceList): Map<number, number> {
  const limits = new Map<number, number>();
  for (const [name, q] of Object.entries(list)) {
    if (!name.startsWith(hugePagesResourcePrefix)) continue;
    const pageSize = quantityValue(parseQuantity(name.slice(hugePagesResourcePrefix.length), name));
    limits.set(pageSize, (limits.get(pageSize) ?? 0) + quantityValue(q, name));
  }
  return limits;
}

const hugePageSizeUnits = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'] as const;

/**
 * The cgroup file name part of a huge page size (kubelet `HugePageUnitSizeFromByteSize`):
 * 2097152 → `2MB`, 1073741824 → `1GB`, 65536 → `64KB`. Undefined when the size is not
 * expressible in whole units.
 */
export function hugePageSizeName(pageSizeBytes: number): string | undefined {
  let size = pageSizeBytes;
  let idx = 0;
  while (size % 1024 === 0 && idx < hugePageSizeUnits.length - 1) {
    size /= 1024;
    idx++;
  }
  if (size > 1024 && idx < hugePageSizeUnits.length - 1) return undefined;
  return `${size}${hugePageSizeUnits[idx]}`;
}

/** The (integer) value in a list, or 0 when absent; millis when `milli`. */
function valueOf(list: ParsedResourceList, name: string, milli: boolean): number {
  const q = list[name];
  if (!q) return 0;
  return milli ? quantityMilliValue(q, name) : quantityValue(q, name);
}

/**
 * The resources of the pod's cgroup, following the kubelet's `ResourceConfigForPod`:
 *
 * - CPU shares from the sum of the pod's CPU requests ({@link milliCPUToShares}; 2 with
 *   no request); BestEffort pods get exactly 2.
 * - A CFS quota and period from the summed CPU limits — for Guaranteed pods always, for
 *   Burstable pods only when every container (init containers included) has a CPU
 *   limit. With `enforceCPULimits: false` the quota is `-1` (unlimited).
 * - A memory limit from the summed memory limits, under the same rule.
 * - Huge page limits from the pod's `hugepages-<size>` requests.
 * - `pids.max` when `podPidsLimit` is positive (kubelet `podContainerManager.EnsureExists`).
 *
 * Pod overhead, in-place resize and memory QoS (`memory.min`) are not considered.
 * @throws InvalidPodSpecError on an invalid quantity.
 */
export function resourceConfigForPod(
  pod: k8s.Pod,
  options: PodResourceConfigOptions = {},
): ResourceConfig {
  const cpuPeriod = options.cpuPeriodUs ?? quotaPeriodUs;
  const requests = podRequests(pod);
  const limits = podLimits(pod);

  let cpuLimitsDeclared = true;
  let memoryLimitsDeclared = true;
  for (const container of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    const own = containerLimits(pod, container);
    if (!own['cpu'] || own['cpu'].numerator === 0n) cpuLimitsDeclared = false;
    if (!own['memory'] || own['memory'].numerator === 0n) memoryLimitsDeclared = false;
  }

  const cpuShares = milliCPUToShares(valueOf(requests, 'cpu', true));
  let cpuQuota = milliCPUToQuota(valueOf(limits, 'cpu', true), cpuPeriod);
  if (options.enforceCPULimits === false) cpuQuota = -1;
  const memory = valueOf(limits, 'memory', false);

  const result: ResourceConfig = {};
  switch (getPodQOS(pod)) {
    case 'Guaranteed':
      result.cpuShares = cpuShares;
      result.cpuQuota = cpuQuota;
      result.cpuPeriod = cpuPeriod;
      result.memory = memory;
      break;
    case 'Burstable':
      result.cpuShares = cpuShares;
      if (cpuLimitsDeclared) {
        result.cpuQuota = cpuQuota;
        result.cpuPeriod = cpuPeriod;
      }
      if (memoryLimitsDeclared) result.memory = memory;
      break;
    case 'BestEffort':
      result.cpuShares = minShares;
      break;
  }
  result.hugePageLimit = hugePageLimits(requests);
  if (options.podPidsLimit !== undefined && options.podPidsLimit > 0)
    result.pidsLimit = options.podPidsLimit;
  return result;
}

/**
 * Converts CPU shares (2…262144) to a cgroup v2 `cpu.weight` (1…10000) linearly, like
 * the kubelet's `CpuSharesToCpuWeight` and runc's `ConvertCPUSharesToCgroupV2Value`:
 * `1 + ((shares − 2) · 9999) / 262142`, so 2 → 1, 1024 → 39, 262144 → 10000. 0 stays 0.
 */
export function cpuSharesToCpuWeight(cpuShares: number): number {
  if (cpuShares === 0) return 0;
  return 1 + Math.trunc(((cpuShares - 2) * 9999) / 262142);
}
