import { randomUUID } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  isNodeAgentError,
  noopEventRecorder,
  noopLogger,
  parseQuantity,
  quantityValue,
  runtimeContainerStatusFromListing,
  standaloneConfigMapManager,
  standaloneSecretManager,
  type Clock,
  type ConfigMapManager,
  type ContainerRestartRequest,
  type ContainerRuntime,
  type EventRecorder,
  type ImageService,
  type Logger,
  type MetricsRegistry,
  type PodStatusCache,
  type PodVolumePlugin,
  type ProbeManager,
  type RuntimeContainerStatus,
  type RuntimePodStatus,
  type SecretManager,
  type ServiceAccountTokenManager,
  type ServiceLister,
  type cri,
  type k8s,
} from '@nodeagent/core';
import {
  Backoff,
  containerBackOffInitialMs,
  containerBackOffMaxMs,
  imagePullBackOffInitialMs,
  imagePullBackOffMaxMs,
} from './backoff.js';
import {
  containerEventFieldPath,
  ephemeralContainersToStart,
  ephemeralTargetId,
  isEphemeralContainer,
  withTargetPidNamespace,
} from './ephemeral-containers.js';
import { formatPod, lifecycleHookFailureMessage, runLifecycleHandler } from './hooks.js';
import { PodLifecycleMetrics } from './metrics.js';
import {
  ConfigVolumeManager,
  type DnsOptions,
  type TmpfsMounter,
  UnsupportedVolumeSourceError,
  downwardApiNodeAllocatable,
  fetchEnvObjects,
  podQOSOrBestEffort,
  hashContainer,
  makeContainerConfig,
  makePodSandboxConfig,
  podLimits,
  podDNSType,
  defaultTerminationMessagePath,
  prepareHostPath,
  prepareTerminationMessageFile,
  terminationMessageFilePath,
  volumeHostPath,
  volumeSourceKind,
} from './kuberuntime/index.js';
import {
  ensureHostsFile,
  etcHostsFilePath,
  hostsFileSpec,
  needsHostsMount,
  type HostsFileSpec,
} from './kuberuntime/etc-hosts.js';
import { pullImageForPod } from './kuberuntime/pull-credentials.js';
import { podFullName, podUid } from './pod-config.js';
import { isSidecar, latestStatus, restartPolicy, shouldContainerBeRestarted } from './pod-phase.js';
import type {
  KillPodOptions,
  PodSyncHandler,
  SyncPodContext,
  SyncPodResult,
  SyncPodType,
} from './pod-workers.js';
import {
  applyReadiness,
  generatePodStatus,
  withObservedGeneration,
  type ContainerWaitingReason,
} from './status.js';

/** Kubelet `minimumGracePeriodInSeconds`: StopContainer always gets at least 2 s after SIGTERM. */
export const minimumGracePeriodSeconds = 2;

/** Status reason of a pod stopped for its `activeDeadlineSeconds` (kubelet `reason` of the active deadline handler). */
export const activeDeadlineReason = 'DeadlineExceeded';
/** Status message of a pod stopped for its `activeDeadlineSeconds`. */
export const activeDeadlineMessage =
  'Pod was active on the node longer than the specified deadline';
/** How long the final status of a stopped pod waits for a relist with its exit codes, ms. */
const terminalStatusRelistTimeoutMs = 5_000;

/** Passes of "kill what is still running" after a pod's containers were killed. */
const terminationRecheckPasses = 3;
/** Wait before each such pass (a start in flight completes in the runtime), ms. */
const terminationRecheckDelayMs = 200;

/** Default `terminationGracePeriodSeconds`. */
export const defaultTerminationGracePeriodSeconds = 30;
/**
 * First retry delay of a failed volume mount (kubelet volume operations'
 * `initialDurationBeforeRetry`, 500 ms), doubling on each failure.
 */
export const volumeMountBackOffInitialMs = 500;
/** Longest delay between volume mount retries (kubelet `maxDurationBeforeRetry`, 2 min 2 s). */
export const volumeMountBackOffMaxMs = 122_000;
/** Retry of a container whose config could not be made (kubelet pod worker `backOffPeriod`, 10 s). */
export const createContainerConfigRetryMs = 10_000;

/** Pod-level cgroups, as the runtime manager needs them (implemented in `./cm`). */
export interface PodCgroups {
  /** Creates the pod's cgroup with its limits; returns the cgroupParent for the runtime. */
  ensurePodCgroup(pod: k8s.Pod): Promise<string>;
  /** Removes the pod's cgroup (idempotent). */
  destroyPodCgroup(pod: k8s.Pod): Promise<void>;
}

/** The filesystem work of pod setup and cleanup (directories for logs and volumes). */
export interface PodFilesystem {
  ensureDir(path: string, mode?: number): Promise<void>;
  removeAll(path: string): Promise<void>;
  /** Checks or creates a hostPath volume per its type (see `prepareHostPath`). */
  prepareHostPath(type: string, path: string): Promise<void>;
  /**
   * Creates an empty, world-writable termination message file (and its directory)
   * for a container instance; without it no termination message file is mounted.
   */
  prepareTerminationMessageFile?(path: string): Promise<void>;
  /**
   * Writes the pod's kubelet-managed hosts file (see `ensureHostsFile`: the node's
   * /etc/hosts for host-network pods); without it no /etc/hosts is mounted.
   */
  ensureHostsFile?(path: string, spec: HostsFileSpec): Promise<void>;
}

/** The real filesystem. */
export const nodePodFilesystem: PodFilesystem = {
  ensureDir: async (path, mode) => {
    await mkdir(path, { recursive: true });
    // mkdir's mode is masked by the umask; emptyDirs must be world-writable (0777).
    if (mode !== undefined) await chmod(path, mode);
  },
  removeAll: (path) => rm(path, { recursive: true, force: true }),
  prepareHostPath,
  prepareTerminationMessageFile,
  ensureHostsFile: (path, spec) => ensureHostsFile(path, spec),
};

/** A change of a container's state, for terminal views and logs. */
export interface ContainerStateChange {
  pod: string;
  podUid: string;
  container: string;
  from: string;
  to: string;
  reason?: string;
}

export interface RuntimeManagerOptions {
  runtime: ContainerRuntime;
  images: ImageService;
  cache: PodStatusCache;
  clock: Clock;
  logger?: Logger;
  recorder?: EventRecorder;
  probes?: ProbeManager;
  cgroups?: PodCgroups;
  nodeName: string;
  /** Root of per-pod directories (kubelet `--root-dir`, /var/lib/kubelet): volumes live under `<rootDir>/pods/<uid>`. */
  rootDir: string;
  /** Pod log root (kubelet `podLogsDir`, /var/log/pods). */
  podLogsDir: string;
  /** Runtime name for container IDs in the API (`containerd://…`). */
  runtimeName: string;
  hostIp?: string;
  /** The node's DNS settings (kubelet clusterDomain, clusterDNS, resolvConf text). */
  dns?: DnsOptions;
  /**
   * Kubelet `seccompDefault`: containers whose pod and container security contexts
   * name no seccomp profile run with the runtime's default profile (`RuntimeDefault`)
   * instead of `Unconfined` (kubelet `getSeccompProfile` with `fallbackToRuntimeDefault`).
   * The sandbox always runs `RuntimeDefault`, as in the kubelet. Default false.
   */
  seccompDefault?: boolean;
  /**
   * Directory `Localhost` seccomp profiles are resolved in (kubelet
   * `<root-dir>/seccomp`). Default `/var/lib/kubelet/seccomp`.
   */
  seccompProfileRoot?: string;
  /** Node memory capacity for OOM score adjustment of burstable containers. */
  memoryCapacityBytes: number;
  /**
   * The node's allocatable resources (the Node's `status.allocatable`, as the kubelet's
   * `getNodeAnyWay` returns it): what downward-API `limits.*` resourceFieldRefs (env
   * and volumes) read for a container without that limit. Called at each use. Default:
   * unknown (such references fail the container or volume).
   */
  nodeAllocatable?: () => k8s.ResourceList | undefined;
  /**
   * Where the pod start and sync metrics go (`kubelet_pod_start_duration_seconds`,
   * `kubelet_pod_start_sli_duration_seconds`, `kubelet_pod_worker_duration_seconds`,
   * `kubelet_running_pods`, `kubelet_running_containers`); nothing is recorded by default.
   */
  metrics?: MetricsRegistry;
  /** Filesystem operations; the real filesystem by default. */
  fs?: PodFilesystem;
  /**
   * ConfigMaps for env (`envFrom`, `configMapKeyRef`) and configMap/projected volumes
   * (kubelet `configMapManager`); pods are registered while they run. Default: the
   * standalone manager (every ConfigMap is missing; optional references still work).
   */
  configMaps?: ConfigMapManager;
  /** Secrets for env (`envFrom`, `secretKeyRef`) and secret/projected volumes; see {@link RuntimeManagerOptions.configMaps}. */
  secrets?: SecretManager;
  /** Tokens for projected `serviceAccountToken` sources (kubelet `tokenManager`); default: standalone (such mounts fail). */
  serviceAccountTokens?: ServiceAccountTokenManager;
  /**
   * The cluster's Services for containers' service-link environment variables
   * (kubelet `serviceLister`): `<NAME>_SERVICE_HOST` … of the pod's namespace when
   * `enableServiceLinks` is on, and the `kubernetes` Service of `default` always. While
   * it has not synced, containers of API pods fail with CreateContainerConfigError.
   * Default: none (standalone: no service variables).
   */
  services?: ServiceLister;
  /**
   * tmpfs mounts for secret, downwardAPI and projected volumes; `mount -t tmpfs` /
   * `umount` by default (root needed; on failure the volume falls back to disk with a
   * Warning event).
   */
  volumeMounter?: TmpfsMounter;
  /**
   * Plugins for volume sources pod-lifecycle does not mount itself (core
   * `PodVolumePlugins`, e.g. csi-node's CSI plugin for `csi` and `persistentVolumeClaim`
   * volumes). Default: none (such volumes fail with FailedMount).
   */
  volumePlugins?: readonly PodVolumePlugin[];
  /**
   * Resolves a pod's `runtimeClassName` to the CRI runtime handler its sandbox runs
   * with (kubelet `runtimeClassManager.LookupRuntimeHandler`); rejects when the
   * RuntimeClass does not exist, which fails the sandbox (FailedCreatePodSandBox, the
   * pod stays Pending). Default: none (standalone, as a kubelet without a
   * RuntimeClass manager: every sandbox uses the runtime's default handler).
   */
  runtimeHandlerFor?: (runtimeClassName: string) => Promise<string>;
  /**
   * Asks the PLEG for a relist now. Called (1 ms later, once the worker recorded its
   * sync time) after a sync changed something in the runtime, so the
   * new state reaches the status without waiting for the relist period.
   */
  requestRelist?: () => void;
}

interface StartOutcome {
  error?: ContainerWaitingReason;
  retryAfterMs?: number;
  /** The image's user (for runAsNonRoot checks), when the image is present. */
  imageUser?: { uid?: number; username?: string } | undefined;
}

function imageUserOf(image: cri.Image | null): StartOutcome['imageUser'] {
  if (!image) return undefined;
  return {
    ...(image.uid ? { uid: image.uid.value } : {}),
    ...(image.username ? { username: image.username } : {}),
  };
}

/** A stable key for back-off of one container of one pod (kubelet `GetStableKey`). */
function backoffKey(pod: k8s.Pod, container: k8s.Container): string {
  return `${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? ''}_${podUid(pod)}_${container.name}_${hashContainer(container)}`;
}

function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 === 0 ? `${m}m0s` : `${m}m${s % 60}s`;
}

function describe(err: unknown): string {
  if (isNodeAgentError(err)) return err.detail ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Image reference with a tag or digest? `busybox` and `busybox:latest` pull always by default. */
function defaultPullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const tagSep = image.lastIndexOf(':');
  const tag = tagSep > lastSlash ? image.slice(tagSep + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/**
 * Syncs one pod against the container runtime (the kubelet's kuberuntime manager:
 * `computePodActions`, `SyncPod`, `KillPod`), and implements the pod workers'
 * {@link PodSyncHandler}.
 */
export class RuntimeManager implements PodSyncHandler {
  private readonly logger: Logger;
  private readonly recorder: EventRecorder;
  private readonly crashBackoff: Backoff;
  private readonly pullBackoff: Backoff;
  /** Waiting reasons of the last sync, per pod UID and container name. */
  private readonly waiting = new Map<string, Map<string, ContainerWaitingReason>>();
  /** Liveness/startup kill requests by runtime container ID. */
  private readonly restartRequests = new Map<string, ContainerRestartRequest>();
  private readonly statuses = new Map<string, k8s.PodStatus>();
  private readonly statusListeners = new Set<(pod: k8s.Pod, status: k8s.PodStatus) => void>();
  private readonly changeListeners = new Set<(change: ContainerStateChange) => void>();
  private readonly firstSeen = new Map<string, string>();
  private readonly configMaps: ConfigMapManager;
  private readonly secrets: SecretManager;
  private readonly configVolumes: ConfigVolumeManager;
  private readonly mountBackoff: Backoff;
  /** emptyDir/hostPath volumes already set up, per pod UID (they need no remount). */
  private readonly localVolumesReady = new Map<string, Set<string>>();
  /** The pod object last registered with the ConfigMap/Secret managers, per UID. */
  private readonly registered = new Map<string, k8s.Pod>();
  /** The pod lifecycle's kubelet metrics (start durations, sync durations, running pods). */
  readonly metrics: PodLifecycleMetrics;

  constructor(private readonly options: RuntimeManagerOptions) {
    this.logger = (options.logger ?? noopLogger).child({ component: 'pod-lifecycle' });
    this.recorder = options.recorder ?? noopEventRecorder;
    this.metrics = new PodLifecycleMetrics(options.metrics, options.clock);
    this.crashBackoff = new Backoff(
      options.clock,
      containerBackOffInitialMs,
      containerBackOffMaxMs,
    );
    this.pullBackoff = new Backoff(options.clock, imagePullBackOffInitialMs, imagePullBackOffMaxMs);
    this.mountBackoff = new Backoff(
      options.clock,
      volumeMountBackOffInitialMs,
      volumeMountBackOffMaxMs,
    );
    this.configMaps = options.configMaps ?? standaloneConfigMapManager;
    this.secrets = options.secrets ?? standaloneSecretManager;
    this.configVolumes = new ConfigVolumeManager({
      clock: options.clock,
      configMaps: this.configMaps,
      secrets: this.secrets,
      ...(options.serviceAccountTokens
        ? { serviceAccountTokens: options.serviceAccountTokens }
        : {}),
      ...(options.volumeMounter ? { mounter: options.volumeMounter } : {}),
      ...(options.volumePlugins ? { volumePlugins: options.volumePlugins } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
      onTmpfsFallback: (pod, volume, error) =>
        this.recorder.event(
          this.ref(pod),
          'Warning',
          'FailedMount',
          `MountVolume.SetUp for volume "${volume}" could not mount a tmpfs, the volume is on the node's disk: ${describe(error)}`,
        ),
    });
  }

  /** Asks for a container to be killed (liveness/startup failure); the next sync acts on it. */
  requestRestart(request: ContainerRestartRequest): void {
    const id = request.containerId.replace(/^[a-z0-9-]+:\/\//, '');
    this.restartRequests.set(id, request);
  }

  /** The newest API status generated for a pod. */
  podStatus(uid: string): k8s.PodStatus | undefined {
    return this.statuses.get(uid);
  }

  /** Called whenever a pod's generated status changes. */
  onStatus(listener: (pod: k8s.Pod, status: k8s.PodStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Called on every container state change seen by a sync. */
  onContainerStateChange(listener: (change: ContainerStateChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Drops expired back-off entries (call periodically). */
  gcBackoff(): void {
    this.crashBackoff.gc();
    this.pullBackoff.gc();
    this.mountBackoff.gc();
  }

  private get fs(): PodFilesystem {
    return this.options.fs ?? nodePodFilesystem;
  }

  private podDir(pod: k8s.Pod): string {
    return join(this.options.rootDir, 'pods', podUid(pod));
  }

  private podLogDir(pod: k8s.Pod): string {
    return join(
      this.options.podLogsDir,
      `${pod.metadata?.namespace ?? 'default'}_${pod.metadata?.name ?? ''}_${podUid(pod)}`,
    );
  }

  /** kubelet runHTTPHandler: the HTTPS hook's plain-HTTP retry succeeded. */
  private lifecycleHttpFallback(pod: k8s.Pod, hostPort: string): void {
    this.logger.info('HTTPS request to lifecycle hook got HTTP response, retried with HTTP', {
      pod: podFullName(pod),
      host: hostPort,
    });
    this.recorder.event(
      this.ref(pod),
      'Warning',
      'LifecycleHTTPFallback',
      `request to HTTPS lifecycle hook ${hostPort} got HTTP response, retry with HTTP succeeded`,
    );
  }

  private ref(pod: k8s.Pod, container?: string): k8s.ObjectReference {
    return {
      kind: 'Pod',
      apiVersion: 'v1',
      name: pod.metadata?.name ?? '',
      namespace: pod.metadata?.namespace ?? 'default',
      uid: podUid(pod),
      ...(container ? { fieldPath: containerEventFieldPath(pod, container) } : {}),
    };
  }

  // ------------------------------------------------------------------ sync

  async syncPod(pod: k8s.Pod, type: SyncPodType, context: SyncPodContext): Promise<SyncPodResult> {
    const before = this.runtimeActions;
    try {
      return await this.syncPodOnce(pod, type, context);
    } finally {
      if (this.runtimeActions !== before && this.options.requestRelist) {
        // 1 ms later: the worker records its sync time when this returns, and the
        // relist's status must be strictly newer than that to release its next sync.
        this.options.clock.setTimeout(this.options.requestRelist, 1);
      }
    }
  }

  /** Counts sandbox creations and container starts/kills, to know when a sync acted. */
  private runtimeActions = 0;

  private async syncPodOnce(
    pod: k8s.Pod,
    _type: SyncPodType,
    context: SyncPodContext,
  ): Promise<SyncPodResult> {
    const uid = podUid(pod);
    if (!this.firstSeen.has(uid)) {
      // The start time the API server already has (an agent restart) wins, as the
      // status manager keeps it; it also anchors activeDeadlineSeconds.
      this.firstSeen.set(
        uid,
        pod.status?.startTime ?? new Date(this.options.clock.now()).toISOString(),
      );
    }
    if (this.pastActiveDeadline(pod)) {
      // kubelet activeDeadlineHandler: the pod is Failed/DeadlineExceeded and stopped.
      this.recorder.event(this.ref(pod), 'Normal', activeDeadlineReason, activeDeadlineMessage);
      const { status: current } = this.options.cache.get(uid);
      this.publishStatus(
        pod,
        current,
        this.waiting.get(uid) ?? new Map<string, ContainerWaitingReason>(),
      );
      return { terminal: true };
    }
    this.registerWithObjectManagers(pod);
    this.options.probes?.addPod(pod);
    const cached = await this.options.cache.getNewerThan(uid, context.statusNewerThanMs, {
      signal: context.signal,
    });
    const status = cached.status;
    const waiting = new Map<string, ContainerWaitingReason>();
    let retryAfterMs: number | undefined;
    const noteRetry = (ms: number | undefined): void => {
      if (ms !== undefined && ms > 0) retryAfterMs = Math.min(retryAfterMs ?? ms, ms);
    };

    // Volumes first (kubelet WaitForAttachAndMount): no container starts before every
    // volume was set up once; later refresh failures only raise events.
    const mounted = await this.mountVolumes(pod, status);
    noteRetry(mounted.retryAfterMs);
    if (mounted.blocked) {
      this.publishStatus(pod, status, waiting);
      return retryAfterMs === undefined ? {} : { retryAfterMs: retryAfterMs + 50 };
    }

    const sandbox = this.pickSandbox(pod, status);
    const spec = pod.spec ?? { containers: [] };
    let sandboxId = sandbox.id;
    let podIps = status.ips;

    if (sandbox.create) {
      const everRan = status.containerStatuses.length > 0;
      if (restartPolicy(pod) === 'Never' && sandbox.attempt > 0 && everRan) {
        // A pod that must not restart whose sandbox died: stop what is left (kubelet).
        await this.killPodContainers(pod, status, {}, context);
        this.publishStatus(pod, status, waiting);
        return { terminal: true };
      }
      if (
        status.sandboxStatuses.some((s) => s.state === 'SANDBOX_READY') ||
        status.containerStatuses.some((c) => c.state === 'CONTAINER_RUNNING')
      ) {
        await this.killPodContainers(pod, status, {}, context);
      }
      try {
        const created = await this.createSandbox(pod, sandbox.attempt, context);
        sandboxId = created.id;
        podIps = created.ips;
      } catch (err) {
        const message = describe(err);
        this.recorder.event(
          this.ref(pod),
          'Warning',
          'FailedCreatePodSandBox',
          `Failed to create pod sandbox: ${message}`,
        );
        for (const c of spec.containers)
          waiting.set(c.name, { reason: 'ContainerCreating', message });
        this.publishStatus(pod, status, waiting);
        throw err;
      }
    }

    const sandboxConfig = await this.sandboxConfig(pod, sandbox.attempt);
    const startCtx = { pod, status, sandboxId, sandboxConfig, podIps, context };

    // Ephemeral containers start once, before init containers so a stuck init container
    // can be debugged; not in a sync that (re)creates the sandbox (kubelet computePodActions).
    if (!sandbox.create) {
      for (const ephemeral of ephemeralContainersToStart(pod, status)) {
        const out = await this.startContainer(ephemeral, startCtx, undefined);
        if (out.error) waiting.set(ephemeral.name, out.error);
        noteRetry(out.retryAfterMs);
      }
    }

    // Init containers: sidecars start in order and stay up; regular init containers
    // run one at a time to completion before the next (kubelet computeInitContainerActions).
    const appStarted = spec.containers.some((c) => latestStatus(status, c.name) !== undefined);
    let initBlocked = false;
    for (const init of spec.initContainers ?? []) {
      const s = latestStatus(status, init.name);
      if (isSidecar(init)) {
        if (s?.state === 'CONTAINER_RUNNING') {
          if (await this.maybeKillRunning(pod, init, s)) {
            const out = await this.startContainer(init, startCtx, s);
            if (out.error) waiting.set(init.name, out.error);
            noteRetry(out.retryAfterMs);
            if (!appStarted) {
              initBlocked = true;
              break;
            }
            continue;
          }
          // kubelet computeInitContainerActions: the next init container (and the app
          // containers) wait until this sidecar has started (its startup probe passed).
          if (!appStarted && !this.sidecarStarted(init, s)) {
            initBlocked = true;
            break;
          }
          continue;
        }
        const out = await this.startContainer(init, startCtx, s);
        if (out.error) waiting.set(init.name, out.error);
        noteRetry(out.retryAfterMs);
        if (!appStarted) {
          initBlocked = true;
          break;
        }
        continue;
      }
      if (appStarted) continue;
      if (s?.state === 'CONTAINER_EXITED' && s.exitCode === 0) continue;
      initBlocked = true;
      if (s?.state === 'CONTAINER_RUNNING') break;
      if (s?.state === 'CONTAINER_EXITED' && restartPolicy(pod) === 'Never') {
        // An init container failed and the pod must not restart: the pod has failed.
        await this.killPodContainers(pod, status, {}, context);
        this.publishStatus(pod, status, waiting);
        return { terminal: true };
      }
      const out = await this.startContainer(init, startCtx, s);
      if (out.error) waiting.set(init.name, out.error);
      noteRetry(out.retryAfterMs);
      break;
    }

    if (!initBlocked) {
      // One after the other in spec order, as the kubelet's SyncPod: a container's
      // PostStart hook completes before the next container is created.
      for (const c of spec.containers) {
        const s = latestStatus(status, c.name);
        if (s?.state === 'CONTAINER_RUNNING') {
          const killed = await this.maybeKillRunning(pod, c, s);
          if (
            !killed ||
            !shouldContainerBeRestarted(c, pod, {
              ...s,
              state: 'CONTAINER_EXITED',
              exitCode: 137,
            })
          )
            continue;
          const out = await this.startContainer(c, startCtx, s);
          if (out.error) waiting.set(c.name, out.error);
          noteRetry(out.retryAfterMs);
          continue;
        }
        if (!shouldContainerBeRestarted(c, pod, s)) continue;
        const out = await this.startContainer(c, startCtx, s);
        if (out.error) waiting.set(c.name, out.error);
        noteRetry(out.retryAfterMs);
      }
    }

    const generated = this.publishStatus(pod, status, waiting);
    if (generated.phase === 'Succeeded' || generated.phase === 'Failed') return { terminal: true };
    // Sync again when the active deadline passes (the kubelet's sync loop asks its
    // activeDeadlineHandler every second; one timer per pod does the same here).
    noteRetry(this.msUntilActiveDeadline(pod));
    return retryAfterMs === undefined ? {} : { retryAfterMs: retryAfterMs + 50 };
  }

  /**
   * Milliseconds until the pod's `activeDeadlineSeconds` passes, counted from its start
   * time; undefined without a deadline or a start time.
   */
  private msUntilActiveDeadline(pod: k8s.Pod): number | undefined {
    const seconds = pod.spec?.activeDeadlineSeconds;
    if (seconds === undefined || seconds === null) return undefined;
    const start = Date.parse(this.firstSeen.get(podUid(pod)) ?? '');
    if (Number.isNaN(start)) return undefined;
    return start + seconds * 1000 - this.options.clock.now();
  }

  /** kubelet `pastActiveDeadline`: the pod has been active on the node for its deadline. */
  pastActiveDeadline(pod: k8s.Pod): boolean {
    const left = this.msUntilActiveDeadline(pod);
    return left !== undefined && left <= 0;
  }

  /** Which sandbox to use, and whether a new one is needed (kubelet `podSandboxChanged`). */
  private pickSandbox(
    pod: k8s.Pod,
    status: RuntimePodStatus,
  ): { create: boolean; id: string; attempt: number } {
    const sandboxes = [...status.sandboxStatuses].sort((a, b) => b.createdAt - a.createdAt);
    const latest = sandboxes[0];
    if (!latest) return { create: true, id: '', attempt: 0 };
    const attempt = (latest.metadata?.attempt ?? 0) + 1;
    const ready = sandboxes.filter((s) => s.state === 'SANDBOX_READY');
    if (ready.length > 1) return { create: true, id: '', attempt };
    if (latest.state !== 'SANDBOX_READY') return { create: true, id: '', attempt };
    const hostNetwork = pod.spec?.hostNetwork === true;
    const sbHostNetwork = latest.linux?.namespaces?.options?.network === 'NODE';
    if (hostNetwork !== sbHostNetwork) return { create: true, id: '', attempt };
    if (!hostNetwork && !latest.network?.ip) return { create: true, id: '', attempt };
    return { create: false, id: latest.id, attempt: latest.metadata?.attempt ?? 0 };
  }

  private sandboxConfigs = new Map<string, cri.PodSandboxConfigInput>();

  /**
   * The sandbox config of the pod's current sandbox. containerd derives each
   * container's cgroup from the sandbox config passed to CreateContainer, so an
   * adopted pod (agent restarted) gets its config rebuilt with the same cgroup parent.
   */
  private async sandboxConfig(pod: k8s.Pod, attempt: number): Promise<cri.PodSandboxConfigInput> {
    const cached = this.sandboxConfigs.get(`${podUid(pod)}/${attempt}`);
    if (cached) return cached;
    const cgroupParent = this.options.cgroups
      ? await this.options.cgroups.ensurePodCgroup(pod)
      : '';
    return this.buildSandboxConfig(pod, attempt, cgroupParent);
  }

  private buildSandboxConfig(
    pod: k8s.Pod,
    attempt: number,
    cgroupParent: string,
  ): cri.PodSandboxConfigInput {
    const config = makePodSandboxConfig(pod, {
      attempt,
      podLogsDir: this.options.podLogsDir,
      cgroupParent,
      dns: this.options.dns ?? {},
    });
    this.sandboxConfigs.set(`${podUid(pod)}/${attempt}`, config);
    return config;
  }

  private async createSandbox(
    pod: k8s.Pod,
    attempt: number,
    _context: SyncPodContext,
  ): Promise<{ id: string; ips: string[] }> {
    const cgroupParent = this.options.cgroups
      ? await this.options.cgroups.ensurePodCgroup(pod)
      : '';
    // kubelet createPodSandbox: the RuntimeClass is looked up first; a missing one fails
    // the sandbox with the lookup error, an unknown handler is the runtime's to refuse.
    const runtimeClassName = pod.spec?.runtimeClassName ?? '';
    const runtimeHandler =
      runtimeClassName !== '' && this.options.runtimeHandlerFor
        ? await this.options.runtimeHandlerFor(runtimeClassName)
        : '';
    const config = this.buildSandboxConfig(pod, attempt, cgroupParent);
    if (podDNSType(pod) === 'ClusterFirst' && (this.options.dns?.clusterDNS ?? []).length === 0) {
      // kubelet dns.Configurer.GetPodDNS: no clusterDNS, so the pod falls back to the
      // node's resolv.conf ("Default"), with a Warning on the pod.
      this.recorder.event(
        this.ref(pod),
        'Warning',
        'MissingClusterDNS',
        `pod: ${JSON.stringify(formatPod(pod))}. kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`,
      );
    }
    await this.fs.ensureDir(this.podLogDir(pod));
    // Not cut short by the sync's signal (like CreateContainer / StartContainer): a
    // sandbox whose creation completes after the pod's termination listed its sandboxes
    // would be left running, its processes keeping the pod cgroup busy.
    const { podSandboxId } = await this.options.runtime.runPodSandbox({
      config,
      ...(runtimeHandler !== '' ? { runtimeHandler } : {}),
    });
    this.runtimeActions++;
    const { status } = await this.options.runtime.podSandboxStatus({ podSandboxId });
    const ips = [
      status?.network?.ip,
      ...(status?.network?.additionalIps ?? []).map((i) => i.ip),
    ].filter((ip): ip is string => !!ip);
    this.logger.info('Created pod sandbox', {
      pod: podFullName(pod),
      podUid: podUid(pod),
      sandboxId: podSandboxId,
      attempt,
    });
    return { id: podSandboxId, ips };
  }

  private volumePaths(pod: k8s.Pod): Record<string, string> {
    const paths: Record<string, string> = {};
    for (const v of pod.spec?.volumes ?? []) {
      const p = volumeHostPath(this.podDir(pod), v);
      if (p !== undefined) paths[v.name] = p;
    }
    return { ...paths, ...this.configVolumes.delegatedVolumePaths(this.podDir(pod)) };
  }

  /** Registers the pod with the ConfigMap and Secret managers when it is new or changed. */
  private registerWithObjectManagers(pod: k8s.Pod): void {
    const uid = podUid(pod);
    if (this.registered.get(uid) === pod) return;
    this.configMaps.registerPod(pod);
    this.secrets.registerPod(pod);
    this.registered.set(uid, pod);
  }

  /** Tells the ConfigMap and Secret managers the pod no longer needs its objects. */
  private unregisterFromObjectManagers(pod: k8s.Pod): void {
    const uid = podUid(pod);
    const known = this.registered.get(uid);
    if (!known) return;
    this.configMaps.unregisterPod(known);
    this.secrets.unregisterPod(known);
    this.registered.delete(uid);
  }

  /**
   * Sets up the pod's volumes (kubelet volume manager `WaitForAttachAndMount` +
   * reconciler): emptyDir and hostPath once; configMap, secret, downwardAPI and projected
   * on every sync (rewritten only when their contents changed). A failure raises a
   * Warning `FailedMount` event (`MountVolume.SetUp failed for volume "v" : reason`) and is
   * retried with back-off (0.5 s doubling to 2 min 2 s); the pod is `blocked` while any
   * volume has never been set up. Unsupported sources (csi, persistentVolumeClaim, …)
   * fail the same way.
   */
  private async mountVolumes(
    pod: k8s.Pod,
    status: RuntimePodStatus,
  ): Promise<{ blocked: boolean; retryAfterMs?: number }> {
    const volumes = pod.spec?.volumes ?? [];
    if (volumes.length === 0) return { blocked: false };
    const uid = podUid(pod);
    const podDir = this.podDir(pod);
    let local = this.localVolumesReady.get(uid);
    if (!local) this.localVolumesReady.set(uid, (local = new Set()));
    const ctx = {
      podIPs: status.ips,
      hostIP: this.options.hostIp ?? '',
      nodeName: this.options.nodeName,
      nodeAllocatable: downwardApiNodeAllocatable(this.options.nodeAllocatable?.()),
    };
    let blocked = false;
    let retryAfterMs: number | undefined;
    const retryIn = (ms: number): void => {
      retryAfterMs = Math.min(retryAfterMs ?? ms, ms);
    };
    for (const volume of volumes) {
      const kind = volumeSourceKind(volume);
      const isLocal = kind === 'emptyDir' || kind === 'hostPath';
      if (isLocal && local.has(volume.name)) continue;
      const key = `${uid}/${volume.name}`;
      const wait = this.mountBackoff.remainingSinceUpdate(key);
      if (wait > 0) {
        retryIn(wait);
        if (isLocal || !(await this.configVolumes.isSetUp(podDir, volume))) blocked = true;
        continue;
      }
      try {
        if (isLocal) {
          await this.setUpLocalVolume(pod, podDir, volume);
          local.add(volume.name);
        } else {
          await this.configVolumes.setUp(pod, podDir, volume, ctx);
        }
        this.mountBackoff.reset(key);
      } catch (err) {
        retryIn(this.mountBackoff.next(key));
        const reason = describe(err);
        this.recorder.event(
          this.ref(pod),
          'Warning',
          'FailedMount',
          `MountVolume.SetUp failed for volume "${volume.name}" : ${reason}`,
        );
        this.logger.warn('Volume set-up failed', {
          pod: podFullName(pod),
          podUid: uid,
          volume: volume.name,
          error: reason,
          unsupported: err instanceof UnsupportedVolumeSourceError,
        });
        if (isLocal || !(await this.configVolumes.isSetUp(podDir, volume))) blocked = true;
      }
    }
    return retryAfterMs === undefined ? { blocked } : { blocked, retryAfterMs };
  }

  private async setUpLocalVolume(pod: k8s.Pod, podDir: string, volume: k8s.Volume): Promise<void> {
    const path = volumeHostPath(podDir, volume);
    if (path === undefined) return;
    if (volume.emptyDir?.medium === 'Memory') {
      await this.configVolumes.setUpMemoryEmptyDir(path, this.memoryEmptyDirSize(pod, volume));
    } else if (volume.emptyDir) await this.fs.ensureDir(path, 0o777);
    if (volume.emptyDir) await this.configVolumes.applyPodFsGroup(pod, path);
    else if (volume.hostPath) await this.fs.prepareHostPath(volume.hostPath.type ?? '', path);
  }

  /**
   * The size of a memory-backed emptyDir (kubelet `calculateEmptyDirMemorySize`): the
   * node's memory, or the pod's memory limit when every container has one and it is
   * smaller, or the volume's `sizeLimit` when it is smaller still.
   */
  private memoryEmptyDirSize(pod: k8s.Pod, volume: k8s.Volume): number | undefined {
    let size: number | undefined = this.options.memoryCapacityBytes;
    try {
      const containers = pod.spec?.containers ?? [];
      if (
        containers.length > 0 &&
        containers.every((c) => c.resources?.limits?.memory !== undefined)
      ) {
        const limit = podLimits(pod)['memory'];
        const bytes = limit ? quantityValue(limit, 'memory') : 0;
        if (bytes > 0 && (size === undefined || bytes <= size)) size = bytes;
      }
      const sizeLimit = volume.emptyDir?.sizeLimit;
      if (sizeLimit !== undefined) {
        const bytes = quantityValue(parseQuantity(sizeLimit, 'sizeLimit'), 'sizeLimit');
        if (bytes > 0 && (size === undefined || bytes <= size)) size = bytes;
      }
    } catch {
      // An unparseable quantity: keep the bound found so far.
    }
    return size;
  }

  /**
   * Unmounts the pod's tmpfs volumes (secret, downwardAPI, projected) and forgets its
   * volume state. Throws when a mount is left, so the pod directory is never removed
   * from under a mount; the worker retries the cleanup.
   */
  private async tearDownVolumes(pod: k8s.Pod): Promise<void> {
    const uid = podUid(pod);
    const left = await this.configVolumes.tearDown(this.podDir(pod), pod);
    this.localVolumesReady.delete(uid);
    for (const v of pod.spec?.volumes ?? []) this.mountBackoff.reset(`${uid}/${v.name}`);
    if (left.length > 0) {
      throw new Error(
        `pod volumes are still mounted, not removing the pod directory: ${left.join(', ')}`,
      );
    }
  }

  /**
   * Whether a running sidecar counts as started (kubelet: its startup probe, if any,
   * succeeded); without a startup probe or a probe manager, once it runs.
   */
  private sidecarStarted(container: k8s.Container, status: RuntimeContainerStatus): boolean {
    if (!container.startupProbe || !this.options.probes) return true;
    const id = `${this.options.runtimeName}://${status.id}`;
    return this.options.probes.results('Startup').get(id) === 'Success';
  }

  /**
   * Kills a running container that must go: its spec changed (hash), or a liveness or
   * startup probe asked for a restart. Returns true when it was killed.
   */
  private async maybeKillRunning(
    pod: k8s.Pod,
    container: k8s.Container,
    status: RuntimeContainerStatus,
  ): Promise<boolean> {
    const request = this.restartRequests.get(status.id);
    let message: string | undefined;
    let grace: number | undefined;
    if (request) {
      message = request.message;
      grace = request.gracePeriodSeconds;
    } else if (status.hash && status.hash !== hashContainer(container)) {
      message = `Container ${container.name} definition changed, will be restarted`;
    }
    if (message === undefined) return false;
    this.restartRequests.delete(status.id);
    this.recorder.event(this.ref(pod, container.name), 'Normal', 'Killing', message);
    this.logger.info('Killing container', {
      pod: podFullName(pod),
      container: container.name,
      reason: message,
    });
    await this.killContainer(pod, status, container, grace);
    return true;
  }

  private async startContainer(
    container: k8s.Container,
    ctx: {
      pod: k8s.Pod;
      status: RuntimePodStatus;
      sandboxId: string;
      sandboxConfig: cri.PodSandboxConfigInput;
      podIps: string[];
      context: SyncPodContext;
    },
    previous: RuntimeContainerStatus | undefined,
  ): Promise<StartOutcome> {
    const { pod, context } = ctx;
    const name = container.name;
    // CrashLoopBackOff (kubelet doBackOff): counted from the last instance's finish time.
    if (previous?.state === 'CONTAINER_EXITED') {
      const key = backoffKey(pod, container);
      const finishedAt = previous.finishedAtMs || this.options.clock.now();
      if (this.crashBackoff.isInBackOffSince(key, finishedAt)) {
        const delay = this.crashBackoff.get(key);
        const message = `back-off ${formatSeconds(delay)} restarting failed container=${name} pod=${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? ''}(${podUid(pod)})`;
        return {
          error: { reason: 'CrashLoopBackOff', message },
          retryAfterMs: this.crashBackoff.remainingSince(key, finishedAt),
        };
      }
      this.crashBackoff.next(key, finishedAt);
    }

    const image = container.image ?? '';
    const pulled = await this.ensureImage(pod, container, ctx.sandboxConfig, context);
    if (pulled.error) return pulled;

    const restartCount = previous ? previous.restartCount + 1 : 0;
    const envObjects = await fetchEnvObjects(pod, container, {
      configMaps: this.configMaps,
      secrets: this.secrets,
    });
    let config: cri.ContainerConfigInput;
    try {
      // kubelet makeMounts: a fresh file per container instance, mounted at its
      // terminationMessagePath; the PLEG reads it back once the container exits.
      let terminationMessageHostPath: string | undefined;
      if (
        (container.terminationMessagePath ?? defaultTerminationMessagePath) !== '' &&
        this.fs.prepareTerminationMessageFile
      ) {
        terminationMessageHostPath = terminationMessageFilePath(
          this.podDir(pod),
          container.name,
          randomUUID().slice(0, 8),
        );
        await this.fs.prepareTerminationMessageFile(terminationMessageHostPath);
      }
      // kubelet makeHostsMount: <pod dir>/etc-hosts, rewritten at each container start.
      let etcHostsHostPath: string | undefined;
      if (this.fs.ensureHostsFile && needsHostsMount(pod, container, ctx.podIps)) {
        etcHostsHostPath = etcHostsFilePath(this.podDir(pod));
        await this.fs.ensureHostsFile(
          etcHostsHostPath,
          hostsFileSpec(pod, ctx.podIps, this.options.dns?.clusterDomain),
        );
      }
      config = makeContainerConfig(pod, container, {
        ...(terminationMessageHostPath ? { terminationMessageHostPath } : {}),
        ...(etcHostsHostPath ? { etcHostsHostPath } : {}),
        envObjects,
        ...(this.options.services ? { services: this.options.services } : {}),
        onInvalidEnvFromKeys: (kind, objectName, keys) =>
          this.recorder.event(
            this.ref(pod),
            'Warning',
            'InvalidEnvironmentVariableNames',
            `Keys [${keys.join(', ')}] from the EnvFrom ${kind} ${pod.metadata?.namespace || 'default'}/${objectName} were skipped since they are considered invalid environment variable names.`,
          ),
        restartCount,
        podIPs: ctx.podIps,
        hostIP: this.options.hostIp ?? '',
        nodeName: this.options.nodeName,
        nodeAllocatable: downwardApiNodeAllocatable(this.options.nodeAllocatable?.()),
        sandboxConfig: ctx.sandboxConfig,
        volumePaths: this.volumePaths(pod),
        podDir: this.podDir(pod),
        memoryCapacityBytes: this.options.memoryCapacityBytes,
        ...(pulled.imageUser ? { imageUser: pulled.imageUser } : {}),
        ...(this.options.seccompDefault !== undefined
          ? { seccompDefault: this.options.seccompDefault }
          : {}),
        ...(this.options.seccompProfileRoot !== undefined
          ? { seccompProfileRoot: this.options.seccompProfileRoot }
          : {}),
      });
      // kubelet getTargetID: an ephemeral container joins its target's PID namespace.
      if (isEphemeralContainer(pod, container))
        config = withTargetPidNamespace(config, ephemeralTargetId(container, ctx.status));
    } catch (err) {
      const message = describe(err);
      this.recorder.event(this.ref(pod, name), 'Warning', 'Failed', `Error: ${message}`);
      // Retried like a failed sync (kubelet backOffPeriod): a missing ConfigMap or
      // Secret may appear meanwhile.
      return {
        error: { reason: 'CreateContainerConfigError', message },
        retryAfterMs: createContainerConfigRetryMs,
      };
    }
    let containerId: string;
    try {
      // Not cut short by the sync's signal (nor is the start below): containerd 1.6
      // can leave a half-made container or task behind a cancelled call, one that
      // RemoveContainer then refuses ("cannot delete running task") for good.
      ({ containerId } = await this.options.runtime.createContainer({
        podSandboxId: ctx.sandboxId,
        config,
        sandboxConfig: ctx.sandboxConfig,
      }));
    } catch (err) {
      const message = describe(err);
      this.recorder.event(this.ref(pod, name), 'Warning', 'Failed', `Error: ${message}`);
      return { error: { reason: 'CreateContainerError', message } };
    }
    this.recorder.event(this.ref(pod, name), 'Normal', 'Created', `Created container ${name}`);
    try {
      await this.options.runtime.startContainer({ containerId });
      this.runtimeActions++;
    } catch (err) {
      const message = describe(err);
      this.recorder.event(this.ref(pod, name), 'Warning', 'Failed', `Error: ${message}`);
      return { error: { reason: 'RunContainerError', message } };
    }
    this.recorder.event(this.ref(pod, name), 'Normal', 'Started', `Started container ${name}`);
    this.logger.info('Started container', {
      pod: podFullName(pod),
      container: name,
      containerId,
      restartCount,
      image,
    });

    const postStart = container.lifecycle?.postStart;
    if (postStart) {
      try {
        await runLifecycleHandler(postStart, {
          runtime: this.options.runtime,
          clock: this.options.clock,
          containerId,
          container,
          podIp: pod.spec?.hostNetwork ? '127.0.0.1' : (ctx.podIps[0] ?? '127.0.0.1'),
          onHttpFallback: (hostPort) => this.lifecycleHttpFallback(pod, hostPort),
          timeoutMs:
            (pod.spec?.terminationGracePeriodSeconds ?? defaultTerminationGracePeriodSeconds) *
            1000,
          signal: context.signal,
        });
      } catch (err) {
        // kubelet startContainer: the event does not carry the handler's message (it may
        // hold secrets); the waiting state does. The container is killed like any other
        // (preStop hook, the pod's grace period) and restarts per the restart policy.
        const message = lifecycleHookFailureMessage(postStart, name, pod, err);
        this.logger.warn('PostStart hook failed', {
          pod: podFullName(pod),
          container: name,
          error: message,
        });
        this.recorder.event(
          this.ref(pod, name),
          'Warning',
          'FailedPostStartHook',
          'PostStartHook failed',
        );
        this.recorder.event(this.ref(pod, name), 'Normal', 'Killing', 'FailedPostStartHook');
        await this.killContainer(
          pod,
          { id: containerId, name, annotations: {} },
          container,
          undefined,
        ).catch((killErr: unknown) =>
          this.logger.warn('Failed to kill container after its PostStart hook failed', {
            pod: podFullName(pod),
            container: name,
            error: describe(killErr),
          }),
        );
        return { error: { reason: 'PostStartHookError', message } };
      }
    }
    return {};
  }

  private async ensureImage(
    pod: k8s.Pod,
    container: k8s.Container,
    sandboxConfig: cri.PodSandboxConfigInput,
    context: SyncPodContext,
  ): Promise<StartOutcome> {
    const image = container.image ?? '';
    const policy = container.imagePullPolicy ?? defaultPullPolicy(image);
    const ref = this.ref(pod, container.name);
    if (policy !== 'Always') {
      const { image: present } = await this.options.images.imageStatus({ image: { image } });
      if (present) return { imageUser: imageUserOf(present) };
      if (policy === 'Never') {
        const message = `Container image "${image}" is not present with pull policy of Never`;
        this.recorder.event(ref, 'Warning', 'ErrImageNeverPull', message);
        return { error: { reason: 'ErrImageNeverPull', message } };
      }
    }
    const remaining = this.pullBackoff.remainingSinceUpdate(image);
    if (remaining > 0) {
      const message = `Back-off pulling image "${image}"`;
      this.recorder.event(ref, 'Normal', 'BackOff', message);
      return { error: { reason: 'ImagePullBackOff', message }, retryAfterMs: remaining };
    }
    this.recorder.event(ref, 'Normal', 'Pulling', `Pulling image "${image}"`);
    const started = this.options.clock.monotonicNow();
    this.metrics.imagePullStarted(podUid(pod));
    try {
      // kubelet PullImage: the pod's imagePullSecrets matching the image, tried in
      // order; anonymous when none match.
      await pullImageForPod({
        images: this.options.images,
        secrets: this.secrets,
        pod,
        image,
        sandboxConfig,
        signal: context.signal,
        logger: this.logger,
        recorder: this.recorder,
        podRef: this.ref(pod),
      });
    } catch (err) {
      this.pullBackoff.next(image);
      const message = `Failed to pull image "${image}": ${describe(err)}`;
      this.recorder.event(ref, 'Warning', 'Failed', message);
      return {
        error: { reason: 'ErrImagePull', message },
        retryAfterMs: this.pullBackoff.remainingSinceUpdate(image),
      };
    }
    this.pullBackoff.reset(image);
    this.metrics.imagePullFinished(podUid(pod));
    const ms = Math.round(this.options.clock.monotonicNow() - started);
    this.recorder.event(ref, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${ms}ms`);
    const { image: pulledImage } = await this.options.images.imageStatus({ image: { image } });
    return { imageUser: imageUserOf(pulledImage) };
  }

  // ------------------------------------------------------------- kill / stop

  /**
   * Stops one container: preStop hook within the grace period, then StopContainer
   * with what is left of it, at least 2 s (kubelet `killContainer`).
   */
  private async killContainer(
    pod: k8s.Pod,
    status: Pick<RuntimeContainerStatus, 'id' | 'name' | 'annotations'>,
    container: k8s.Container | undefined,
    gracePeriodOverride: number | undefined,
    waitForTurn?: Promise<unknown>,
  ): Promise<void> {
    // For a pod known only from the runtime (orphan, adopted), the grace period comes
    // from the container's annotation, as the kubelet restores specs from labels.
    const annotated = Number(status.annotations['io.kubernetes.pod.terminationGracePeriod']);
    let grace =
      gracePeriodOverride ??
      pod.metadata?.deletionGracePeriodSeconds ??
      pod.spec?.terminationGracePeriodSeconds ??
      (Number.isFinite(annotated) && status.annotations['io.kubernetes.pod.terminationGracePeriod']
        ? annotated
        : undefined) ??
      defaultTerminationGracePeriodSeconds;
    let preStop = container?.lifecycle?.preStop;
    if (!preStop && status.annotations['io.kubernetes.container.preStopHandler']) {
      try {
        preStop = JSON.parse(
          status.annotations['io.kubernetes.container.preStopHandler'],
        ) as k8s.LifecycleHandler;
      } catch {
        preStop = undefined;
      }
    }
    if (preStop && grace > 0) {
      const started = this.options.clock.monotonicNow();
      try {
        await runLifecycleHandler(preStop, {
          runtime: this.options.runtime,
          clock: this.options.clock,
          containerId: status.id,
          container,
          podIp: pod.spec?.hostNetwork ? '127.0.0.1' : (pod.status?.podIP ?? '127.0.0.1'),
          onHttpFallback: (hostPort) => this.lifecycleHttpFallback(pod, hostPort),
          timeoutMs: grace * 1000,
        });
      } catch (err) {
        // kubelet executePreStopHook: the event does not carry the handler's message.
        this.logger.warn('PreStop hook failed', {
          pod: podFullName(pod),
          container: status.name,
          error: lifecycleHookFailureMessage(preStop, status.name, pod, err),
        });
        this.recorder.event(
          this.ref(pod, status.name),
          'Warning',
          'FailedPreStopHook',
          'PreStopHook failed',
        );
      }
      grace -= Math.floor((this.options.clock.monotonicNow() - started) / 1000);
    }
    // kubelet terminationOrdering: a sidecar's preStop hook runs at once, but it is
    // stopped only once the containers it outlives have exited — within what is left of
    // its grace period, the time waited being taken from it.
    if (waitForTurn && grace > 0) {
      const started = this.options.clock.monotonicNow();
      const timeout = new AbortController();
      await Promise.race([
        waitForTurn,
        this.options.clock.sleep(grace * 1000, timeout.signal).catch(() => undefined),
      ]);
      timeout.abort();
      grace -= Math.floor((this.options.clock.monotonicNow() - started) / 1000);
    }
    if (grace < minimumGracePeriodSeconds) grace = minimumGracePeriodSeconds;
    try {
      // Never cut short by the sync's signal: a stop in progress completes.
      await this.options.runtime.stopContainer({ containerId: status.id, timeout: grace });
      this.runtimeActions++;
    } catch (err) {
      if (!isNodeAgentError(err, 'NotFound')) throw err;
    }
  }

  private async killPodContainers(
    pod: k8s.Pod,
    status: RuntimePodStatus,
    options: KillPodOptions,
    _context: SyncPodContext,
  ): Promise<void> {
    const specs = new Map<string, k8s.Container>();
    for (const c of pod.spec?.containers ?? []) specs.set(c.name, c);
    const sidecarNames = new Set(
      (pod.spec?.initContainers ?? []).filter(isSidecar).map((c) => c.name),
    );
    for (const c of pod.spec?.initContainers ?? []) specs.set(c.name, c);
    const running = status.containerStatuses.filter(
      (c) => c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED',
    );
    // kubelet killContainersWithSyncResult with terminationOrdering (1.29+): every
    // container is killed at once (preStop hooks run in parallel); a sidecar receives its
    // stop signal only after every app container and every sidecar defined after it has
    // exited, so sidecars stop in reverse order of definition, all within one grace period.
    const order = (pod.spec?.initContainers ?? []).map((c) => c.name);
    // kubelet killContainer: a Normal Killing event "Stopping container <name>" each.
    const kill = (c: RuntimeContainerStatus, waitForTurn?: Promise<unknown>): Promise<void> => {
      this.recorder.event(
        this.ref(pod, c.name),
        'Normal',
        'Killing',
        `Stopping container ${c.name}`,
      );
      return this.killContainer(pod, c, specs.get(c.name), options.gracePeriodSeconds, waitForTurn);
    };
    const appKills = running.filter((c) => !sidecarNames.has(c.name)).map((c) => kill(c));
    const appsDone = Promise.allSettled(appKills);
    // Sidecars from the last defined to the first: each waits for those after it.
    const sidecars = running
      .filter((c) => sidecarNames.has(c.name))
      .sort((a, b) => order.indexOf(b.name) - order.indexOf(a.name));
    const sidecarKills: Array<Promise<void>> = [];
    for (const c of sidecars)
      sidecarKills.push(kill(c, Promise.allSettled([appsDone, ...sidecarKills])));
    const results = await Promise.allSettled([...appKills, ...sidecarKills]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async syncTerminatingPod(
    pod: k8s.Pod,
    options: KillPodOptions,
    context: SyncPodContext,
  ): Promise<void> {
    this.options.probes?.stopLivenessAndStartup(pod);
    const uid = podUid(pod);
    // Fresh status, so containers started by a sync that was cut short are seen.
    const { status } = await this.options.cache.getNewerThan(uid, context.statusNewerThanMs, {
      signal: context.signal,
    });
    let fresh = await this.listPod(uid, status);
    await this.killPodContainers(pod, fresh, options, context);
    // kubelet SyncTerminatingPod: "detected running containers after a successful
    // KillPod". A start sent by a sync that was cut short can still complete in the
    // runtime after the listing above; such a container is killed too (a few passes,
    // then the worker retries the termination) — never left running behind a pod
    // reported terminated.
    for (let pass = 0; ; pass++) {
      fresh = await this.listPod(uid, fresh);
      const left = fresh.containerStatuses.filter((c) => c.state === 'CONTAINER_RUNNING');
      // A created container may be one whose start is in flight: look again shortly;
      // one that stays created never ran (StopContainer leaves it so) and is fine.
      const created = fresh.containerStatuses.some((c) => c.state === 'CONTAINER_CREATED');
      if (left.length === 0 && (!created || pass >= terminationRecheckPasses)) break;
      if (left.length > 0 && pass >= terminationRecheckPasses) {
        throw new Error(
          `detected running containers after a successful KillPod: ${left.map((c) => c.name).join(', ')}`,
        );
      }
      if (left.length > 0)
        this.logger.info('Containers still running after KillPod, killing them again', {
          pod: podFullName(pod),
          podUid: uid,
          containers: left.map((c) => c.name),
        });
      await this.options.clock.sleep(terminationRecheckDelayMs);
      if (left.length > 0) await this.killPodContainers(pod, fresh, options, context);
    }
    for (const sb of fresh.sandboxStatuses) {
      if (sb.state === 'SANDBOX_READY') {
        await this.options.runtime.stopPodSandbox({ podSandboxId: sb.id }).catch((err: unknown) => {
          if (!isNodeAgentError(err, 'NotFound')) throw err;
        });
      }
    }
    this.logger.info('Pod terminated', {
      pod: podFullName(pod),
      podUid: uid,
      reason: options.reason ?? 'Killed',
    });
  }

  /**
   * Publishes the final status of a pod whose containers are all stopped (kubelet
   * `SyncTerminatingPod` → `generateAPIPodStatus(podIsTerminal)`): every container
   * terminated, phase Succeeded or Failed.
   */
  async publishTerminalStatus(
    pod: k8s.Pod,
    adjust?: (status: k8s.PodStatus) => k8s.PodStatus,
  ): Promise<k8s.PodStatus> {
    const uid = podUid(pod);
    // The containers were just stopped: their exit codes come from a relist after now
    // (a listing has states but no exit codes). Bounded, in case the PLEG is stuck.
    const since = this.options.clock.now();
    this.options.requestRelist?.();
    const timeout = new AbortController();
    const cached = await Promise.race([
      this.options.cache
        .getNewerThan(uid, since, { signal: timeout.signal })
        .then((c) => c.status)
        .catch(() => this.options.cache.get(uid).status),
      this.options.clock
        .sleep(terminalStatusRelistTimeoutMs, timeout.signal)
        .then(() => this.options.cache.get(uid).status)
        .catch(() => this.options.cache.get(uid).status),
    ]);
    timeout.abort();
    const fresh = await this.listPod(uid, cached);
    return this.publishStatus(
      pod,
      fresh,
      this.waiting.get(uid) ?? new Map<string, ContainerWaitingReason>(),
      true,
      adjust,
    );
  }

  async syncTerminatedPod(
    pod: k8s.Pod,
    options: KillPodOptions,
    _context: SyncPodContext,
  ): Promise<void> {
    const uid = podUid(pod);
    const fresh = await this.listPod(uid, this.options.cache.get(uid).status);
    this.unregisterFromObjectManagers(pod);
    if (options.reason === 'PodCompleted' || options.reason === 'Terminal') {
      // Still desired, but finished: keep its containers (logs, exit codes) like the
      // kubelet; its volumes are unmounted (the kubelet tears down volumes of terminated pods).
      // 'Terminal' (already terminal in the API when the agent started, e.g. after a
      // restart): likewise kept until the pod is deleted or container GC takes them; the
      // API keeps the status it has.
      if (this.mayHaveMounts(pod)) await this.tearDownVolumes(pod);
      // Nothing is mounted any more: the volumes go too, as each kubelet volume plugin's
      // TearDown removes its directory (an emptyDir's data with it; volume_manager_test.go).
      await this.fs.removeAll(join(this.podDir(pod), 'volumes'));
      if (options.reason === 'Terminal') return;
      this.publishStatus(
        pod,
        fresh,
        this.waiting.get(uid) ?? new Map<string, ContainerWaitingReason>(),
      );
      return;
    }
    await this.removePodResources(pod, fresh);
  }

  /** Removes containers, sandboxes, volumes, logs and the cgroup of a pod that is gone. */
  async removePodResources(pod: k8s.Pod, status?: RuntimePodStatus): Promise<void> {
    const uid = podUid(pod);
    const fresh = status ?? (await this.listPod(uid, this.options.cache.get(uid).status));
    for (const c of fresh.containerStatuses) {
      this.restartRequests.delete(c.id);
      await this.options.runtime.removeContainer({ containerId: c.id }).catch((err: unknown) => {
        if (!isNodeAgentError(err, 'NotFound')) throw err;
      });
    }
    for (const sb of fresh.sandboxStatuses) {
      await this.options.runtime.stopPodSandbox({ podSandboxId: sb.id }).catch(() => undefined);
      await this.options.runtime.removePodSandbox({ podSandboxId: sb.id }).catch((err: unknown) => {
        if (!isNodeAgentError(err, 'NotFound')) throw err;
      });
    }
    this.options.probes?.removePod(pod);
    await this.options.cgroups?.destroyPodCgroup(pod);
    this.unregisterFromObjectManagers(pod);
    // Unmount before removing: never delete through a mount, never leave a tmpfs behind.
    if (this.mayHaveMounts(pod)) await this.tearDownVolumes(pod);
    try {
      await this.fs.removeAll(this.podDir(pod));
    } catch (err) {
      // EBUSY: a mount made before an agent restart (an orphan has no spec to tell).
      if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
      await this.tearDownVolumes(pod);
      await this.fs.removeAll(this.podDir(pod));
    }
    this.localVolumesReady.delete(uid);
    await this.fs.removeAll(this.podLogDir(pod));
    this.waiting.delete(uid);
    this.statuses.delete(uid);
    this.firstSeen.delete(uid);
    this.metrics.forgetPod(uid);
    for (const key of this.sandboxConfigs.keys())
      if (key.startsWith(`${uid}/`)) this.sandboxConfigs.delete(key);
    this.logger.info('Removed pod', { pod: podFullName(pod), podUid: uid });
  }

  /**
   * Whether the pod may have volume mounts (avoids reading the mount table for every
   * pod): tmpfs volumes, or any pod when volume plugins are configured (a plugin's
   * mount must be torn down through its plugin — an orphan found after a restart has no
   * spec to tell, and removing the pod directory must never recurse into a mount).
   */
  private mayHaveMounts(pod: k8s.Pod): boolean {
    if (this.configVolumes.hasVolumePlugins) return true;
    return (pod.spec?.volumes ?? []).some(
      (v) => v.secret || v.downwardAPI || v.projected || v.emptyDir?.medium === 'Memory',
    );
  }

  /**
   * The pod's sandboxes and containers straight from the runtime: the cache may miss
   * what a cut-short sync created a moment ago.
   */
  private async listPod(uid: string, cached: RuntimePodStatus): Promise<RuntimePodStatus> {
    const label = { 'io.kubernetes.pod.uid': uid };
    const [{ items }, { containers }] = await Promise.all([
      this.options.runtime.listPodSandbox({ filter: { labelSelector: label } }),
      this.options.runtime.listContainers({ filter: { labelSelector: label } }),
    ]);
    const sandboxStatuses: cri.PodSandboxStatus[] = items.map((sb) => ({
      id: sb.id,
      metadata: sb.metadata,
      state: sb.state,
      createdAt: sb.createdAt,
      network: null,
      linux: null,
      labels: sb.labels,
      annotations: sb.annotations,
      runtimeHandler: sb.runtimeHandler,
    }));
    // Full statuses from the cache where it has them; the listing's state is newer.
    const containerStatuses: RuntimeContainerStatus[] = containers.map((c) => {
      const known = cached.containerStatuses.find((k) => k.id === c.id);
      return known ? { ...known, state: c.state } : runtimeContainerStatusFromListing(c);
    });
    return { ...cached, id: uid, sandboxStatuses, containerStatuses };
  }

  // ------------------------------------------------------------------ status

  private publishStatus(
    pod: k8s.Pod,
    runtime: RuntimePodStatus,
    waiting: Map<string, ContainerWaitingReason>,
    podIsTerminal = false,
    adjust?: (status: k8s.PodStatus) => k8s.PodStatus,
  ): k8s.PodStatus {
    const uid = podUid(pod);
    this.waiting.set(uid, waiting);
    const startTime = this.firstSeen.get(uid);
    let status = generatePodStatus(pod, runtime, {
      runtimeName: this.options.runtimeName,
      podIsTerminal,
      waiting,
      qosClass: podQOSOrBestEffort(pod),
      ...(this.options.hostIp ? { hostIp: this.options.hostIp } : {}),
      ...(startTime ? { startTime } : {}),
    });
    if (this.options.probes) status = this.options.probes.updatePodStatus(pod, status);
    else {
      for (const c of status.containerStatuses ?? []) {
        c.ready =
          c.state?.running !== undefined &&
          !pod.spec?.containers.find((s) => s.name === c.name)?.readinessProbe;
      }
      // kubelet: a regular init container is ready once it exited 0; a sidecar like an
      // app container.
      for (const c of status.initContainerStatuses ?? []) {
        const spec = pod.spec?.initContainers?.find((s) => s.name === c.name);
        c.ready =
          spec && isSidecar(spec)
            ? c.state?.running !== undefined && !spec.readinessProbe
            : c.state?.terminated?.exitCode === 0;
      }
    }
    status = applyReadiness(pod, status);
    if (this.pastActiveDeadline(pod)) {
      // kubelet generateAPIPodStatus with the activeDeadlineHandler's verdict.
      status = {
        ...status,
        phase: 'Failed',
        reason: activeDeadlineReason,
        message: activeDeadlineMessage,
      };
    }
    if (adjust) status = adjust(status);
    status = withObservedGeneration(pod, status);
    const before = this.statuses.get(uid);
    this.statuses.set(uid, status);
    this.metrics.podStatusGenerated(pod, uid, before, status);
    this.emitChanges(pod, before, status);
    if (JSON.stringify(before) !== JSON.stringify(status)) {
      for (const l of this.statusListeners) l(pod, status);
    }
    return status;
  }

  /**
   * Publishes the status of a pod refused at admission (kubelet `rejectPod`) as it is:
   * nothing of the pod ever ran, so there is nothing to generate it from.
   */
  publishRejectedStatus(pod: k8s.Pod, rejected: k8s.PodStatus): void {
    const uid = podUid(pod);
    const status = withObservedGeneration(pod, rejected);
    const before = this.statuses.get(uid);
    this.statuses.set(uid, status);
    if (JSON.stringify(before) !== JSON.stringify(status)) {
      for (const l of this.statusListeners) l(pod, status);
    }
  }

  /** Re-evaluates readiness (a readiness probe result changed) without a full sync. */
  refreshReadiness(pod: k8s.Pod): void {
    const uid = podUid(pod);
    if (!this.statuses.has(uid)) return;
    this.publishStatus(
      pod,
      this.options.cache.get(uid).status,
      this.waiting.get(uid) ?? new Map<string, ContainerWaitingReason>(),
    );
  }

  private emitChanges(pod: k8s.Pod, before: k8s.PodStatus | undefined, after: k8s.PodStatus): void {
    if (this.changeListeners.size === 0) return;
    const describeState = (
      s: k8s.ContainerStatus | undefined,
    ): { state: string; reason?: string } => {
      if (!s) return { state: 'None' };
      if (s.state?.running) return { state: s.ready ? 'Running (ready)' : 'Running' };
      if (s.state?.terminated)
        return {
          state: 'Terminated',
          reason: `${s.state.terminated.reason ?? ''} exit ${s.state.terminated.exitCode}`,
        };
      return {
        state: 'Waiting',
        ...(s.state?.waiting?.reason ? { reason: s.state.waiting.reason } : {}),
      };
    };
    const list = (s: k8s.PodStatus | undefined) => [
      ...(s?.initContainerStatuses ?? []),
      ...(s?.containerStatuses ?? []),
      ...(s?.ephemeralContainerStatuses ?? []),
    ];
    for (const now of list(after)) {
      const prev = list(before).find((c) => c.name === now.name);
      const a = describeState(prev);
      const b = describeState(now);
      if (a.state === b.state && a.reason === b.reason && prev?.restartCount === now.restartCount)
        continue;
      this.changeListeners.forEach((l) =>
        l({
          pod: podFullName(pod),
          podUid: podUid(pod),
          container: now.name,
          from: a.state,
          to: b.state,
          ...(b.reason ? { reason: b.reason } : {}),
        }),
      );
    }
  }
}
