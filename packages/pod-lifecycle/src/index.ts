/**
 * @nodeagent/pod-lifecycle — turns desired pods into running containers: pod config
 * merge, pod workers, sync against the runtime (sandbox, images, init containers,
 * sidecars, app containers), CrashLoopBackOff, termination with preStop and grace
 * periods, pod cgroups, orphan cleanup and adoption after an agent restart.
 */
export { PodLifecycle, createPodLifecycle, housekeepingPeriodMs } from './pod-lifecycle.js';
export type { PodLifecycleOptions, PodView } from './pod-lifecycle.js';
export { PodLifecycleToken, registerPodLifecycle } from './register.js';
export type { RegisterPodLifecycleOptions } from './register.js';
export { PodConfig, podFullName, podUid, podsDifferSemantically } from './pod-config.js';
export type { PodConfigOptions } from './pod-config.js';
export { PodWorkers } from './pod-workers.js';
export type {
  KillPodOptions,
  PodSyncHandler,
  PodWorkerPhase,
  PodWorkersOptions,
  SyncPodContext,
  SyncPodResult,
  SyncPodType,
  UpdatePodOptions,
} from './pod-workers.js';
export {
  RuntimeManager,
  activeDeadlineMessage,
  activeDeadlineReason,
  nodePodFilesystem,
  defaultTerminationGracePeriodSeconds,
  minimumGracePeriodSeconds,
} from './runtime-manager.js';
export type {
  ContainerStateChange,
  PodCgroups,
  PodFilesystem,
  RuntimeManagerOptions,
} from './runtime-manager.js';
export {
  Backoff,
  containerBackOffInitialMs,
  containerBackOffMaxMs,
  imagePullBackOffInitialMs,
  imagePullBackOffMaxMs,
} from './backoff.js';
export { computePodPhase, isSidecar, shouldContainerBeRestarted } from './pod-phase.js';
export {
  applyReadiness,
  generatePodStatus,
  needToReconcilePodReadiness,
  readinessGateMessages,
  withObservedGeneration,
} from './status.js';
export type { ContainerWaitingReason, GeneratePodStatusOptions } from './status.js';
export { runLifecycleHandler } from './hooks.js';
export {
  PodLifecycleMetrics,
  containerStateLabel,
  containerStateLabels,
  countRuntimePods,
  defaultDurationBuckets,
  podStartupDurationBuckets,
} from './metrics.js';
export type { ContainerStateLabel, PodWorkerOperation, RuntimePodCounts } from './metrics.js';
export * from './kuberuntime/index.js';
export * from './cm/index.js';
export * from './eviction/index.js';
export * from './admission/index.js';
export { imagePullConcurrency, limitImagePulls } from './images/pull-limiter.js';
