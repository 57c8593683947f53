import { quantityValue, type FsStats, type k8s, type PodStats } from '@nodeagent/core';
import { podRequests } from '../kuberuntime/resource-lists.js';

/** Returns the stats of a pod when the summary had them (kubelet `statsFunc`). */
export type PodStatsFunc = (pod: k8s.Pod) => PodStats | undefined;

/** Orders pods in place, first to evict first (kubelet `rankFunc`). */
export type RankFunc = (pods: k8s.Pod[], stats: PodStatsFunc) => void;

/** Compares two pods: negative when `a` should be evicted before `b`. */
type CmpFunc = (a: k8s.Pod, b: k8s.Pod) => number;

/** Which filesystem usage of a pod counts for a disk signal (kubelet `fsStatsType`). */
export type FsStatsType = 'root' | 'logs' | 'localVolumeSource';

/** Indexes pod stats by UID (kubelet `cachedStatsFunc`). */
export function cachedStatsFunc(podStats: readonly PodStats[]): PodStatsFunc {
  const byUid = new Map<string, PodStats>();
  for (const stats of podStats) byUid.set(stats.podRef.uid, stats);
  return (pod) => byUid.get(pod.metadata.uid ?? '');
}

/** true before false (kubelet `cmpBool`). */
function cmpBool(a: boolean, b: boolean): number {
  if (a === b) return 0;
  return a ? -1 : 1;
}

function orderedBy(...cmps: CmpFunc[]): (pods: k8s.Pod[]) => void {
  return (pods) => {
    // Array.prototype.sort is stable, so equal pods keep the order they came in.
    pods.sort((a, b) => {
      for (const cmp of cmps) {
        const r = cmp(a, b);
        if (r !== 0) return r;
      }
      return 0;
    });
  };
}

/** A pod's priority (`spec.priority`, 0 when unset) (component-helpers `PodPriority`). */
export function podPriority(pod: k8s.Pod): number {
  return pod.spec.priority ?? 0;
}

/** Lower priority first (kubelet `priority`). */
const priority: CmpFunc = (a, b) => {
  const pa = podPriority(a);
  const pb = podPriority(b);
  return pa === pb ? 0 : pa > pb ? 1 : -1;
};

/** The pod's request of a resource in its base unit, 0 when none (kubelet `GetResourceRequestQuantity`). */
export function podRequestValue(pod: k8s.Pod, resource: string): number {
  try {
    const q = podRequests(pod)[resource];
    return q ? quantityValue(q) : 0;
  } catch {
    return 0;
  }
}

/** Working set bytes of the pod (kubelet `memoryUsage`), 0 when unknown. */
export function podMemoryUsage(stats: PodStats): number {
  return stats.memory?.workingSetBytes ?? 0;
}

/** Process count of the pod (kubelet `processUsage`), 0 when unknown. */
export function podProcessUsage(stats: PodStats): number {
  return stats.process_stats?.process_count ?? 0;
}

const used = (fs: FsStats | undefined): number => fs?.usedBytes ?? 0;
const inodesUsed = (fs: FsStats | undefined): number => fs?.inodesUsed ?? 0;

/**
 * Volumes whose usage lands on the node's disk (kubelet `localVolumeNames` with
 * `IsLocalEphemeralVolume`): hostPath, disk-backed emptyDir and configMap.
 */
export function localVolumeNames(pod: k8s.Pod): string[] {
  return (pod.spec.volumes ?? [])
    .filter(
      (v) =>
        v.hostPath !== undefined ||
        (v.emptyDir !== undefined && v.emptyDir.medium !== 'Memory') ||
        v.configMap !== undefined,
    )
    .map((v) => v.name);
}

/** Disk bytes and inodes a pod uses, counting `measure` (kubelet `podDiskUsage`). */
export function podDiskUsage(
  stats: PodStats,
  pod: k8s.Pod,
  measure: readonly FsStatsType[],
): { bytes: number; inodes: number } {
  let bytes = 0;
  let inodes = 0;
  for (const c of stats.containers) {
    if (measure.includes('root')) {
      bytes += used(c.rootfs);
      inodes += inodesUsed(c.rootfs);
    }
    if (measure.includes('logs')) {
      bytes += used(c.logs);
      inodes += inodesUsed(c.logs);
    }
  }
  if (measure.includes('localVolumeSource')) {
    for (const name of localVolumeNames(pod)) {
      const v = (stats.volume ?? []).find((s) => s.name === name);
      if (v) {
        bytes += used(v);
        inodes += inodesUsed(v);
      }
    }
  }
  return { bytes, inodes };
}

/** Pods without stats first (kubelet: "prioritize evicting the pod for which no stats were found"). */
function withStats(
  stats: PodStatsFunc,
  cmp: (a: k8s.Pod, sa: PodStats, b: k8s.Pod, sb: PodStats) => number,
): CmpFunc {
  return (a, b) => {
    const sa = stats(a);
    const sb = stats(b);
    if (!sa || !sb) return cmpBool(!sa, !sb);
    return cmp(a, sa, b, sb);
  };
}

/**
 * Memory ranking (kubelet `rankMemoryPressure`): pods whose working set exceeds their
 * memory request first, then lower priority, then the largest usage above request.
 */
export const rankMemoryPressure: RankFunc = (pods, stats) => {
  const exceeds = withStats(stats, (a, sa, b, sb) =>
    cmpBool(
      podMemoryUsage(sa) > podRequestValue(a, 'memory'),
      podMemoryUsage(sb) > podRequestValue(b, 'memory'),
    ),
  );
  const usage = withStats(stats, (a, sa, b, sb) => {
    const ua = podMemoryUsage(sa) - podRequestValue(a, 'memory');
    const ub = podMemoryUsage(sb) - podRequestValue(b, 'memory');
    return ub === ua ? 0 : ub > ua ? 1 : -1;
  });
  orderedBy(exceeds, priority, usage)(pods);
};

/**
 * PID ranking (kubelet `rankPIDPressure`): lower priority first, then the most
 * processes. (The kubelet has no "exceeds requests" step here: pods cannot request PIDs.)
 */
export const rankPidPressure: RankFunc = (pods, stats) => {
  const processes = withStats(stats, (_a, sa, _b, sb) => podProcessUsage(sb) - podProcessUsage(sa));
  orderedBy(priority, processes)(pods);
};

/**
 * Disk ranking (kubelet `rankDiskPressureFunc`): pods whose usage of `measure`
 * exceeds their `ephemeral-storage` request first (inodes: any use exceeds the
 * request of 0), then lower priority, then the largest usage above request.
 */
export function rankDiskPressureFunc(
  measure: readonly FsStatsType[],
  resource: 'ephemeral-storage' | 'inodes',
): RankFunc {
  return (pods, stats) => {
    const usageOf = (pod: k8s.Pod, s: PodStats): number => {
      const u = podDiskUsage(s, pod, measure);
      return resource === 'inodes' ? u.inodes : u.bytes;
    };
    const requestOf = (pod: k8s.Pod): number =>
      resource === 'inodes' ? 0 : podRequestValue(pod, 'ephemeral-storage');
    const exceeds = withStats(stats, (a, sa, b, sb) =>
      cmpBool(usageOf(a, sa) > requestOf(a), usageOf(b, sb) > requestOf(b)),
    );
    const usage = withStats(stats, (a, sa, b, sb) => {
      // The kubelet subtracts the ephemeral-storage request for inodes too.
      const ua = usageOf(a, sa) - podRequestValue(a, 'ephemeral-storage');
      const ub = usageOf(b, sb) - podRequestValue(b, 'ephemeral-storage');
      return ub === ua ? 0 : ub > ua ? 1 : -1;
    });
    orderedBy(exceeds, priority, usage)(pods);
  };
}
