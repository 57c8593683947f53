import {
  PodAnnotation,
  noopMetrics,
  type Clock,
  type Gauge,
  type Histogram,
  type MetricsRegistry,
  type cri,
  type k8s,
} from '@nodeagent/core';
import type { SyncPodType } from './pod-workers.js';

/** The kubelet's `metrics.DefBuckets` (Prometheus' defaults), in seconds. */
export const defaultDurationBuckets: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The kubelet's `podStartupDurationBuckets`, in seconds (0.5 s … 1 h). */
export const podStartupDurationBuckets: readonly number[] = [
  0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800,
  2700, 3600,
];

/** Values of the `container_state` label (kubelet `kubecontainer.ContainerState`). */
export const containerStateLabels = ['created', 'running', 'exited', 'unknown'] as const;
/** One value of the `container_state` label. */
export type ContainerStateLabel = (typeof containerStateLabels)[number];

/** Operations of `kubelet_pod_worker_duration_seconds` (kubelet `SyncPodType.String()`). */
export type PodWorkerOperation = Exclude<SyncPodType, 'kill'>;

/** The CRI container state as the kubelet's `container_state` label names it. */
export function containerStateLabel(state: cri.ContainerState): ContainerStateLabel {
  switch (state) {
    case 'CONTAINER_CREATED':
      return 'created';
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** What {@link countRuntimePods} found in the runtime. */
export interface RuntimePodCounts {
  /** Pods (by pod UID) with at least one ready sandbox. */
  runningPods: number;
  /** Containers of every pod by state, each state present (0 when none). */
  containers: Record<ContainerStateLabel, number>;
}

/**
 * Counts what the kubelet's PLEG relist publishes (`updateRunningPodAndContainerMetrics`):
 * pods that have a running (ready) sandbox — one per pod even with several — and all
 * containers by state, whatever pod they belong to.
 */
export function countRuntimePods(
  sandboxes: readonly cri.PodSandbox[],
  containers: readonly cri.Container[],
): RuntimePodCounts {
  const running = new Set<string>();
  for (const sb of sandboxes) {
    if (sb.state !== 'SANDBOX_READY') continue;
    running.add(sb.labels['io.kubernetes.pod.uid'] ?? sb.metadata?.uid ?? sb.id);
  }
  const counts: Record<ContainerStateLabel, number> = {
    created: 0,
    running: 0,
    exited: 0,
    unknown: 0,
  };
  for (const c of containers) counts[containerStateLabel(c.state)] += 1;
  return { runningPods: running.size, containers: counts };
}

/** Per-pod startup tracking (kubelet `basicPodStartupLatencyTracker`'s `perPodState`). */
interface PodStartState {
  /**
   * The pod's first generated status had no running container: its start is measured.
   * Undefined until that status (image pulls of the first sync come before it).
   */
  tracked?: boolean;
  /** `kubelet_pod_start_duration_seconds` observed. */
  startObserved: boolean;
  /** `kubelet_pod_start_sli_duration_seconds` observed. */
  sliObserved: boolean;
  /** Wall-clock ms of the first image pull started for the pod. */
  firstStartedPullingMs?: number;
  /** Wall-clock ms of the last image pull finished for the pod. */
  lastFinishedPullingMs?: number;
}

function parseTime(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Kubelet `hasPodStartedSLO`: every app container reports running with a start time. */
function allContainersStarted(status: k8s.PodStatus): boolean {
  const list = status.containerStatuses ?? [];
  return list.length > 0 && list.every((c) => c.state?.running?.startedAt !== undefined);
}

/**
 * The pod lifecycle's metrics under the kubelet's names (`pkg/kubelet/metrics`):
 *
 * - `kubelet_running_pods` (gauge): pods with a running sandbox, from the runtime.
 * - `kubelet_running_containers{container_state}` (gauge): containers by state
 *   (`created`, `running`, `exited`, `unknown`), from the runtime.
 * - `kubelet_pod_start_duration_seconds` (histogram, kubelet startup buckets): from
 *   the agent first seeing the pod (its `kubernetes.io/config.seen` annotation) to
 *   the first status in phase Running after Pending, observed once per pod.
 * - `kubelet_pod_start_sli_duration_seconds` (histogram, same buckets): from the pod's
 *   `creationTimestamp` to the first status with every container running, minus the
 *   image pull window (first pull started → last pull finished), observed once per pod.
 * - `kubelet_pod_worker_duration_seconds{operation_type}` (histogram, DefBuckets):
 *   how long one `SyncPod` took, by `create`, `update` or `sync`.
 *
 * As the kubelet's tracker, the start metrics only cover pods first seen before any of
 * their containers ran: a pod adopted after an agent restart is not measured.
 */
export class PodLifecycleMetrics {
  private readonly runningPods: Gauge;
  private readonly runningContainers: Gauge;
  private readonly podStartDuration: Histogram;
  private readonly podStartSliDuration: Histogram;
  private readonly podWorkerDuration: Histogram;
  private readonly pods = new Map<string, PodStartState>();

  /**
   * @param registry where the metrics live; {@link noopMetrics} records nothing.
   * @param clock wall time for start durations, monotonic time for sync durations.
   */
  constructor(
    registry: MetricsRegistry = noopMetrics,
    private readonly clock: Clock,
  ) {
    this.runningPods = registry.gauge({
      name: 'kubelet_running_pods',
      help: 'Number of pods that have a running pod sandbox',
    });
    this.runningContainers = registry.gauge({
      name: 'kubelet_running_containers',
      help: 'Number of containers currently running',
      labelNames: ['container_state'],
    });
    this.podStartDuration = registry.histogram({
      name: 'kubelet_pod_start_duration_seconds',
      help: 'Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run',
      buckets: podStartupDurationBuckets,
    });
    this.podStartSliDuration = registry.histogram({
      name: 'kubelet_pod_start_sli_duration_seconds',
      help: 'Duration in seconds to start a pod, excluding time to pull images, measured from pod creation timestamp to when all its containers are reported as started',
      buckets: podStartupDurationBuckets,
    });
    this.podWorkerDuration = registry.histogram({
      name: 'kubelet_pod_worker_duration_seconds',
      help: 'Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync',
      labelNames: ['operation_type'],
      buckets: defaultDurationBuckets,
    });
  }

  /** Sets the running pod and container gauges from a full runtime listing. */
  setRuntimePods(sandboxes: readonly cri.PodSandbox[], containers: readonly cri.Container[]): void {
    const counts = countRuntimePods(sandboxes, containers);
    this.runningPods.set({}, counts.runningPods);
    for (const state of containerStateLabels) {
      this.runningContainers.set({ container_state: state }, counts.containers[state]);
    }
  }

  /** Observes one `SyncPod` of `operation` that started at `startedMonotonicMs`. */
  observeSync(operation: PodWorkerOperation, startedMonotonicMs: number): void {
    this.podWorkerDuration.observe(
      { operation_type: operation },
      Math.max(0, this.clock.monotonicNow() - startedMonotonicMs) / 1000,
    );
  }

  /** An image pull for the pod starts (kubelet `RecordImageStartedPulling`). */
  imagePullStarted(podUid: string): void {
    let s = this.pods.get(podUid);
    if (!s) {
      s = { startObserved: false, sliObserved: false };
      this.pods.set(podUid, s);
    }
    if (s.tracked !== false && s.firstStartedPullingMs === undefined)
      s.firstStartedPullingMs = this.clock.now();
  }

  /** An image pull for the pod succeeded (kubelet `RecordImageFinishedPulling`). */
  imagePullFinished(podUid: string): void {
    const s = this.pods.get(podUid);
    if (s && s.firstStartedPullingMs !== undefined) s.lastFinishedPullingMs = this.clock.now();
  }

  /**
   * The agent generated a status for the pod. The first status decides whether the
   * pod's start is measured (no container running yet); later ones observe the start
   * metrics when their moment comes.
   */
  podStatusGenerated(
    pod: k8s.Pod,
    uid: string,
    before: k8s.PodStatus | undefined,
    after: k8s.PodStatus,
  ): void {
    let s = this.pods.get(uid);
    if (!s) {
      s = { startObserved: false, sliObserved: false };
      this.pods.set(uid, s);
    }
    if (s.tracked === undefined) {
      const running = (after.containerStatuses ?? []).some((c) => c.state?.running);
      s.tracked = before === undefined && after.phase === 'Pending' && !running;
    }
    if (!s.tracked) return;
    const now = this.clock.now();
    if (!s.startObserved && before?.phase === 'Pending' && after.phase === 'Running') {
      s.startObserved = true;
      const seen = parseTime(pod.metadata.annotations?.[PodAnnotation.ConfigSeen]);
      if (seen !== undefined) this.podStartDuration.observe({}, Math.max(0, now - seen) / 1000);
    }
    if (!s.sliObserved && allContainersStarted(after)) {
      s.sliObserved = true;
      const created = parseTime(pod.metadata.creationTimestamp);
      if (created !== undefined) {
        const pulling =
          s.firstStartedPullingMs !== undefined && s.lastFinishedPullingMs !== undefined
            ? s.lastFinishedPullingMs - s.firstStartedPullingMs
            : 0;
        this.podStartSliDuration.observe({}, Math.max(0, now - created - pulling) / 1000);
      }
    }
  }

  /** Forgets a pod's startup state (its resources were released). */
  forgetPod(uid: string): void {
    this.pods.delete(uid);
  }

  /** Pods whose startup state is kept (for tests and leak checks). */
  get trackedPods(): number {
    return this.pods.size;
  }
}
