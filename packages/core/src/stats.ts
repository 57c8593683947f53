/**
 * The kubelet's Summary API (`GET /stats/summary`) in its JSON shape: the types of
 * `k8s.io/kubelet/pkg/apis/stats/v1alpha1` with the field names exactly as they are
 * serialised. Times are `metav1.Time` strings (RFC 3339, second precision, UTC);
 * every byte count, counter and rate is a plain number (uint64 on the wire).
 * Optional (`omitempty`) fields are absent when unknown, never `null`.
 *
 * The {@link StatsProvider} contract is what eviction, image GC and the :10250
 * server read; `@nodeagent/node-stats` implements it over the CRI and /proc.
 */
import { createToken, type InjectionToken } from './token.js';

/** A `metav1.Time` as JSON: RFC 3339 in UTC with second precision (`2026-01-01T00:00:00Z`). */
export type StatsTime = string;

/** The top-level `/stats/summary` document: node stats and per-pod stats. */
export interface Summary {
  /** Overall node stats. */
  node: NodeStats;
  /** Per-pod stats (pods with at least one running container). */
  pods: PodStats[];
}

/**
 * Names of the node's system containers (kubelet `SystemContainerKubelet`,
 * `SystemContainerRuntime`, `SystemContainerMisc`, `SystemContainerPods`).
 */
export const SystemContainerName = {
  kubelet: 'kubelet',
  runtime: 'runtime',
  misc: 'misc',
  pods: 'pods',
} as const;
export type SystemContainerName = (typeof SystemContainerName)[keyof typeof SystemContainerName];

/** Node-level stats (kubelet `NodeStats`). */
export interface NodeStats {
  /** Name of the measured node. */
  nodeName: string;
  /** Stats of system daemons tracked as raw cgroups, named by {@link SystemContainerName}. */
  systemContainers?: ContainerStats[];
  /** When collection of the node-level stats (re)started: the node's boot time. */
  startTime: StatsTime;
  /** CPU usage of the whole machine (root cgroup). */
  cpu?: CpuStats;
  /** Memory usage of the whole machine (root cgroup, machine capacity as the limit). */
  memory?: MemoryStats;
  /** Network usage of the host's interfaces (loopback and virtual pod interfaces excluded). */
  network?: NetworkStats;
  /** The filesystem holding the agent's root directory ("nodefs"); usedBytes is the whole fs. */
  fs?: FsStats;
  /** Stats of the container runtime: the image filesystem ("imagefs"). */
  runtime?: RuntimeStats;
  /** Process-count limits of the OS. */
  rlimit?: RlimitStats;
  /** Swap usage of the machine, when known. */
  swap?: SwapStats;
}

/** The OS's task limits (kubelet `RlimitStats`, from `pkg/kubelet/stats/pidlimit`). */
export interface RlimitStats {
  /** When these were read. */
  time: StatsTime;
  /** The system-wide task limit: min(kernel.pid_max, kernel.threads-max). */
  maxpid?: number;
  /** Number of tasks (processes and threads) now, from /proc/loadavg. */
  curproc?: number;
}

/** Stats of the container runtime (kubelet `RuntimeStats`). */
export interface RuntimeStats {
  /**
   * The filesystem holding images. `usedBytes`/`inodesUsed` count the images only
   * (CRI `ImageFsInfo`); capacity, available and inodes describe the whole filesystem.
   */
  imageFs?: FsStats;
  /** The filesystem holding container writable layers, when the runtime reports one. */
  containerFs?: FsStats;
}

/** Process counts (kubelet `ProcessStats`). */
export interface ProcessStats {
  /** Number of processes. */
  process_count?: number;
}

/** Pod-level stats (kubelet `PodStats`). */
export interface PodStats {
  /** The measured pod. */
  podRef: PodReference;
  /** When collection for the pod (re)started: the sandbox's creation time. */
  startTime: StatsTime;
  /** Stats of the pod's running containers. */
  containers: ContainerStats[];
  /** CPU of the whole pod (the sandbox's stats, or the sum of its containers). */
  cpu?: CpuStats;
  /** Memory of the whole pod (the sandbox's stats, or the sum of its containers). */
  memory?: MemoryStats;
  /** Network of the pod's network namespace, when the runtime reports it. */
  network?: NetworkStats;
  /** Usage of the pod's volumes (`usedBytes` is what the volume's files take). */
  volume?: VolumeStats[];
  /**
   * Ephemeral storage of the pod: the containers' writable layers and logs plus
   * disk-backed emptyDir/configMap volumes (and the pod's etc-hosts file).
   */
  'ephemeral-storage'?: FsStats;
  /** Process count of the pod. */
  process_stats?: ProcessStats;
  /** Swap usage of the pod. */
  swap?: SwapStats;
}

/** Container-level stats (kubelet `ContainerStats`). */
export interface ContainerStats {
  /** The container's name in the pod spec (or the system container's name). */
  name: string;
  /** When collection for the container (re)started: its creation time. */
  startTime: StatsTime;
  /** CPU usage. */
  cpu?: CpuStats;
  /** Memory usage. */
  memory?: MemoryStats;
  /** The container's writable layer: `usedBytes` is that layer only; capacity is its fs. */
  rootfs?: FsStats;
  /** The container's log directory: `usedBytes` is what its logs take. */
  logs?: FsStats;
  /** Swap usage. */
  swap?: SwapStats;
  /** Accelerator stats (never filled by the CRI path). */
  accelerators?: AcceleratorStats[];
  /** User-defined metrics (never filled by the CRI path). */
  userDefinedMetrics?: UserDefinedMetric[];
}

/** Identifies a pod (kubelet `PodReference`). */
export interface PodReference {
  name: string;
  namespace: string;
  uid: string;
}

/** Cumulative counters of one network interface (kubelet `InterfaceStats`). */
export interface InterfaceStats {
  /** Interface name. */
  name: string;
  /** Bytes received. */
  rxBytes?: number;
  /** Receive errors. */
  rxErrors?: number;
  /** Bytes sent. */
  txBytes?: number;
  /** Transmit errors. */
  txErrors?: number;
}

/**
 * Network usage (kubelet `NetworkStats`). The default interface (`eth0` in the
 * kubelet) is inlined: `name`, `rxBytes`… are set only when it was found.
 */
export interface NetworkStats extends Partial<InterfaceStats> {
  /** When these were read. */
  time: StatsTime;
  /** Every measured interface, the default one included. */
  interfaces?: InterfaceStats[];
}

/** CPU usage (kubelet `CPUStats`). */
export interface CpuStats {
  /** When these were read. */
  time: StatsTime;
  /**
   * Usage rate over the last sampling window in nanocores (core-nanoseconds per
   * second; 1e9 = one full core). Absent until two samples exist.
   */
  usageNanoCores?: number;
  /** Cumulative CPU time of all cores, nanoseconds. */
  usageCoreNanoSeconds?: number;
}

/** Memory usage in bytes (kubelet `MemoryStats`). */
export interface MemoryStats {
  /** When these were read. */
  time: StatsTime;
  /** Memory limit minus working set; absent when there is no limit. */
  availableBytes?: number;
  /** All memory in use, page cache included. */
  usageBytes?: number;
  /** Usage minus inactive file pages: what memory eviction acts on. */
  workingSetBytes?: number;
  /** Anonymous memory and swap cache (transparent huge pages included). */
  rssBytes?: number;
  /** Cumulative minor page faults. */
  pageFaults?: number;
  /** Cumulative major page faults. */
  majorPageFaults?: number;
}

/** Swap usage in bytes (kubelet `SwapStats`). */
export interface SwapStats {
  /** When these were read. */
  time: StatsTime;
  /** Swap limit minus swap in use. */
  swapAvailableBytes?: number;
  /** Swap in use. */
  swapUsageBytes?: number;
}

/** Accelerator usage (kubelet `AcceleratorStats`). */
export interface AcceleratorStats {
  make: string;
  model: string;
  id: string;
  /** Bytes. */
  memoryTotal: number;
  /** Bytes. */
  memoryUsed: number;
  /** Percent busy over the last sample period. */
  dutyCycle: number;
}

/** A user-defined metric (kubelet `UserDefinedMetric`). */
export interface UserDefinedMetric {
  name: string;
  type: 'gauge' | 'cumulative' | 'delta';
  units: string;
  labels?: Record<string, string>;
  time: StatsTime;
  value: number;
}

/** Filesystem usage (kubelet `FsStats`); bytes and inode counts. */
export interface FsStats {
  /** When these were read. */
  time: StatsTime;
  /** Bytes available to unprivileged users on the filesystem (statfs `f_bavail`). */
  availableBytes?: number;
  /** Size of the filesystem. */
  capacityBytes?: number;
  /**
   * Bytes used by the measured thing (a container's layer, a volume, the images);
   * for the node fs the whole filesystem's used bytes.
   */
  usedBytes?: number;
  /** Free inodes of the filesystem. */
  inodesFree?: number;
  /** Total inodes of the filesystem. */
  inodes?: number;
  /** Inodes used by the measured thing (for the node fs: the whole filesystem). */
  inodesUsed?: number;
}

/** A PVC a volume is bound to (kubelet `PVCReference`). */
export interface PvcReference {
  name: string;
  namespace: string;
}

/** Usage of one pod volume (kubelet `VolumeStats`: FsStats inlined plus name). */
export interface VolumeStats extends FsStats {
  /** The volume's name in the pod spec. */
  name?: string;
  /** The claim behind the volume, if any. */
  pvcRef?: PvcReference;
}

/** Options of {@link StatsProvider.summary} and {@link StatsProvider.listPodStats}. */
export interface SummaryOptions {
  /**
   * Take a fresh CPU sample and recompute `usageNanoCores` from the previous one
   * (kubelet `Get(ctx, updateStats=true)`, what the eviction manager does every
   * 10 s). Default false: rates come from the last sample (as `/stats/summary`).
   */
  updateStats?: boolean;
  /** Only CPU and memory (kubelet `GetCPUAndMemoryStats`, `?only_cpu_and_memory=true`). */
  onlyCpuAndMemory?: boolean;
}

/**
 * Node, pod and container resource usage in the Summary API shape (the kubelet's
 * `server/stats.Provider` + `SummaryProvider`). Consumers: the eviction manager
 * (memory.available, nodefs/imagefs available and inodesFree, pid.available), image
 * GC (imagefs usage), and the :10250 server (`/stats/summary`).
 */
export interface StatsProvider {
  /** The whole summary: node stats and stats of every pod with a running container. */
  summary(options?: SummaryOptions): Promise<Summary>;
  /** Stats of every pod with a running container. */
  listPodStats(options?: SummaryOptions): Promise<PodStats[]>;
  /** The node filesystem (the agent's root directory's filesystem). */
  nodeFsStats(): Promise<FsStats>;
  /** The image filesystem (CRI ImageFsInfo plus statfs of its mount point). */
  imageFsStats(): Promise<FsStats>;
  /** The OS task limit and current task count. */
  rlimitStats(): Promise<RlimitStats>;
}
export const StatsProvider: InjectionToken<StatsProvider> =
  createToken<StatsProvider>('StatsProvider');

/** Formats epoch milliseconds as a `metav1.Time` JSON string (second precision, UTC). */
export function statsTime(epochMs: number): StatsTime {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
