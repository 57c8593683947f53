import {
  PodAnnotation,
  PodOperation,
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type MirrorClient,
  type PodLifecycleEventGenerator,
  type PodStatusManager,
  type PodSource,
  type PodUpdate,
  type Random,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import type { PodAdmitHandler, PodAdmitResult } from './admission/types.js';
import { podQOSOrBestEffort } from './kuberuntime/qos.js';
import { PodConfig, podFullName, podUid } from './pod-config.js';
import { isMirrorPod, isStaticPod } from './pod-phase.js';
import { needToReconcilePodReadiness } from './status.js';
import {
  PodWorkers,
  type KillPodOptions,
  type PodSyncHandler,
  type SyncPodContext,
  type SyncPodResult,
  type SyncPodType,
} from './pod-workers.js';
import { RuntimeManager, type RuntimeManagerOptions } from './runtime-manager.js';

/** Kubelet `housekeepingPeriod`: orphan cleanup and worker GC every 2 s. */
export const housekeepingPeriodMs = 2_000;

export interface PodLifecycleOptions extends RuntimeManagerOptions {
  /** Where desired pods come from (static files, a URL, the API server). */
  sources: readonly PodSource[];
  pleg: PodLifecycleEventGenerator;
  random?: Random;
  /** Periodic resync of every pod (kubelet `syncFrequency`, default 1 min). */
  syncFrequencyMs?: number;
  /**
   * Where generated pod statuses go (API mode: written to the API server). Gets every
   * status change, the final status of terminated pods, and `podTerminated` once a
   * pod's resources are released.
   */
  statusManager?: PodStatusManager;
  /** Creates and deletes mirror pods of static pods (API mode only). */
  mirrorClient?: MirrorClient;
  /**
   * Admission (kubelet `admitHandlers`), asked in order about every pod added that is
   * not already terminal or being deleted; the first refusal rejects the pod. Default
   * none: every pod is admitted.
   */
  admitHandlers?: readonly PodAdmitHandler[];
}

/** How long a mirror pod just created may stay unseen in the API source before it is created again. */
const mirrorPodRecreateAfterMs = 10_000;

/** The final status of an evicted pod: the terminal container statuses under the eviction's phase, reason, message and conditions. */
function evictedStatus(terminal: k8s.PodStatus, eviction: k8s.PodStatus): k8s.PodStatus {
  const conditions = [...(terminal.conditions ?? [])];
  for (const c of eviction.conditions ?? []) {
    const i = conditions.findIndex((x) => x.type === c.type);
    if (i >= 0) conditions[i] = c;
    else conditions.push(c);
  }
  return {
    ...terminal,
    phase: eviction.phase ?? 'Failed',
    ...(eviction.reason ? { reason: eviction.reason } : {}),
    ...(eviction.message ? { message: eviction.message } : {}),
    conditions,
  };
}

/** The kubelet's pod full name, `name_namespace` (mirror client, logs). */
function kubeletFullName(pod: k8s.Pod): string {
  return `${pod.metadata?.name ?? ''}_${pod.metadata?.namespace ?? 'default'}`;
}

/** Creation time in ms for ordering admissions; pods without one sort last, in arrival order. */
function creationMs(pod: k8s.Pod): number {
  const t = Date.parse(pod.metadata?.creationTimestamp ?? '');
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

/** A desired pod and the status the agent generated for it. */
export interface PodView {
  pod: k8s.Pod;
  status: k8s.PodStatus | undefined;
  phase: 'syncing' | 'terminating' | 'terminated' | undefined;
}

/**
 * The pod lifecycle: merges the pod sources, runs one worker per pod, reacts to PLEG
 * events and probe results, and cleans up orphans (the kubelet's `syncLoop` and
 * `HandlePodCleanups`). Stopping it leaves every pod running, as a kubelet restart does;
 * on start, pods already in the runtime are adopted through their labels.
 */
export class PodLifecycle {
  readonly config: PodConfig;
  readonly workers: PodWorkers;
  readonly manager: RuntimeManager;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly unsubscribers: Array<() => void> = [];
  private housekeeping: Timer | undefined;
  private housekeepingRunning = false;
  /** When a mirror pod was last created, by static pod full name and config hash. */
  private readonly mirrorCreatedAt = new Map<string, number>();
  /** Finished pods removed from their source: their leftovers are cleaned up, no status is reported. */
  private readonly cleanupOnly = new Set<string>();
  /** Pods being evicted: the status they end with (phase Failed, reason Evicted…). */
  private readonly evictions = new Map<string, k8s.PodStatus>();
  /** UIDs of pods admitted and not yet removed (the kubelet's active pods, with the workers' phases). */
  private readonly admitted = new Set<string>();
  /** Pods refused at admission, with the status they were given. */
  private readonly rejected = new Map<string, k8s.PodStatus>();
  /** Callers waiting for a pod's worker to finish terminating it. */
  private readonly terminatedWaiters = new Map<string, Array<() => void>>();
  /** UIDs of mirror pods this agent deleted (forgotten once the API source drops them). */
  private readonly deletedMirrorUids = new Set<string>();
  private started = false;

  constructor(private readonly options: PodLifecycleOptions) {
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'pod-lifecycle' });
    this.config = new PodConfig({ clock: options.clock, logger: options.logger ?? noopLogger });
    this.manager = new RuntimeManager({
      ...options,
      requestRelist: options.requestRelist ?? (() => void options.pleg.relist()),
    });
    this.workers = new PodWorkers({
      handler: this.syncHandler(),
      clock: options.clock,
      random: options.random ?? mathRandom,
      logger: options.logger ?? noopLogger,
      resyncIntervalMs: options.syncFrequencyMs ?? 60_000,
    });
  }

  /**
   * The runtime manager's sync, plus what the kubelet's `SyncPod` does around it in
   * API mode: keep a static pod's mirror pod current, publish the final status of a
   * terminated pod and tell the status manager when its resources are released.
   */
  private syncHandler(): PodSyncHandler {
    const manager = this.manager;
    return {
      syncPod: async (pod: k8s.Pod, type: SyncPodType, context: SyncPodContext) => {
        // kubelet `SyncPod` observes kubelet_pod_worker_duration_seconds on every return.
        const started = this.clock.monotonicNow();
        try {
          if (isStaticPod(pod)) await this.syncMirrorPod(pod);
          return await (manager.syncPod(pod, type, context) satisfies Promise<SyncPodResult>);
        } finally {
          if (type !== 'kill') manager.metrics.observeSync(type, started);
        }
      },
      syncTerminatingPod: async (pod: k8s.Pod, options: KillPodOptions, context) => {
        // A rejected pod never ran: nothing to stop, its status is already published.
        if (options.reason === 'Rejected') return;
        await manager.syncTerminatingPod(pod, options, context);
        // Orphans have no API object; a pod already terminal in the API keeps its
        // status, and so does a finished pod that is only being cleaned up.
        if (
          options.reason === 'Orphaned' ||
          options.reason === 'Terminal' ||
          this.cleanupOnly.has(podUid(pod))
        )
          return;
        const eviction = this.evictions.get(podUid(pod));
        await manager.publishTerminalStatus(
          pod,
          eviction ? (status) => evictedStatus(status, eviction) : undefined,
        );
      },
      syncTerminatedPod: async (pod: k8s.Pod, options: KillPodOptions, context) => {
        if (options.reason !== 'Rejected') await manager.syncTerminatedPod(pod, options, context);
        if (!this.cleanupOnly.delete(podUid(pod))) this.options.statusManager?.podTerminated(pod);
        this.terminatedWaiters.get(podUid(pod))?.forEach((resolve) => resolve());
        this.terminatedWaiters.delete(podUid(pod));
      },
    };
  }

  /**
   * Kubelet `SyncPod` for static pods: a mirror pod that is being deleted or mirrors
   * another version of the static pod is deleted; a missing one is created.
   */
  private async syncMirrorPod(pod: k8s.Pod): Promise<void> {
    const client = this.options.mirrorClient;
    if (!client || pod.metadata.deletionTimestamp) return;
    let mirror = this.config.mirrorPodOf(pod);
    // Already deleted by us, the API source just has not seen it go yet.
    if (mirror && this.deletedMirrorUids.has(mirror.metadata.uid ?? '')) mirror = undefined;
    let deleted = false;
    try {
      const hash = pod.metadata.annotations?.[PodAnnotation.ConfigHash];
      if (
        mirror &&
        (mirror.metadata.deletionTimestamp !== undefined ||
          mirror.metadata.annotations?.[PodAnnotation.ConfigMirror] !== hash)
      ) {
        this.logger.info('Deleting stale mirror pod', { pod: podFullName(pod) });
        await client.deleteMirrorPod(kubeletFullName(pod), mirror.metadata.uid);
        if (mirror.metadata.uid) this.deletedMirrorUids.add(mirror.metadata.uid);
        deleted = true;
      }
      if (!mirror || deleted) {
        // The API source shows a new mirror pod only after a watch event: until then
        // (or for 10 s) do not post it again on every sync.
        const key = `${podFullName(pod)}/${hash ?? ''}`;
        const last = this.mirrorCreatedAt.get(key);
        if (!deleted && last !== undefined && this.clock.now() - last < mirrorPodRecreateAfterMs)
          return;
        this.logger.info('Creating mirror pod', { pod: podFullName(pod) });
        await client.createMirrorPod(pod);
        this.mirrorCreatedAt.set(key, this.clock.now());
      } else {
        this.mirrorCreatedAt.delete(`${podFullName(pod)}/${hash ?? ''}`);
      }
    } catch (err) {
      this.logger.warn('Failed to sync mirror pod', {
        pod: podFullName(pod),
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /**
   * Stops a pod for node-pressure eviction (the eviction manager's `killPod`): kills it
   * with the given grace period, publishes `status` (phase Failed, reason Evicted,
   * message, DisruptionTarget condition) over the terminal container statuses, and
   * never restarts it. Resolves once the pod is stopped and its resources released,
   * or after the grace period plus 30 s (kubelet `podCleanupTimeout`).
   */
  async evictPod(
    pod: k8s.Pod,
    options: { gracePeriodSeconds: number; message: string; status: k8s.PodStatus },
  ): Promise<void> {
    const uid = podUid(pod);
    this.evictions.set(uid, options.status);
    const done = new Promise<void>((resolve) => {
      const list = this.terminatedWaiters.get(uid) ?? [];
      list.push(resolve);
      this.terminatedWaiters.set(uid, list);
    });
    this.workers.updatePod({
      type: 'kill',
      pod,
      kill: { gracePeriodSeconds: options.gracePeriodSeconds, reason: 'Evicted' },
    });
    const timeout = new AbortController();
    await Promise.race([
      done,
      this.clock
        .sleep((options.gracePeriodSeconds + 30) * 1000, timeout.signal)
        .catch(() => undefined),
    ]);
    timeout.abort();
  }

  /** Subscribes to sources, PLEG and probes, and starts housekeeping. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { pleg, probes, statusManager } = this.options;
    if (statusManager) {
      this.unsubscribers.push(
        this.manager.onStatus((pod, status) => statusManager.setPodStatus(pod, status)),
      );
    }
    this.unsubscribers.push(this.config.subscribe((u) => this.handlePodUpdate(u)));
    for (const source of this.options.sources) {
      this.unsubscribers.push(source.subscribe((u) => this.config.apply(u)));
    }
    this.unsubscribers.push(
      pleg.subscribe((event) => {
        const pod = this.desiredPod(event.podUid);
        if (pod && this.workers.phase(event.podUid) === 'syncing') {
          this.workers.updatePod({ type: 'sync', pod });
        }
      }),
    );
    if (probes) {
      this.unsubscribers.push(
        probes.onRestartRequest((request) => {
          this.manager.requestRestart(request);
          const pod = this.desiredPod(request.podUid);
          if (pod) this.workers.updatePod({ type: 'sync', pod });
        }),
      );
      this.unsubscribers.push(
        probes.subscribe((update) => {
          if (update.probeType === 'Liveness') return;
          const pod = this.desiredPod(update.podUid);
          if (!pod) return;
          this.manager.refreshReadiness(pod);
          // kubelet syncLoopIteration → handleProbeSync on a startup result: the pod is
          // synced, so init containers / app containers waiting for a sidecar to have
          // started go on at once.
          if (update.probeType === 'Startup' && this.workers.phase(update.podUid) === 'syncing')
            this.workers.updatePod({ type: 'sync', pod });
        }),
      );
    }
    for (const source of this.options.sources) source.start();
    this.housekeeping = this.clock.setInterval(
      () => void this.runHousekeeping(),
      housekeepingPeriodMs,
    );
    this.logger.info('Pod lifecycle started', { sources: this.options.sources.map((s) => s.name) });
  }

  /** Stops watching and syncing; pods keep running (agent shutdown). */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.housekeeping?.cancel();
    for (const u of this.unsubscribers.splice(0)) u();
    await Promise.all(this.options.sources.map((s) => s.stop()));
    await this.workers.stop();
    this.logger.info('Pod lifecycle stopped; pods left running');
  }

  /** True once every pod source has delivered its pods at least once. */
  sourcesReady(): boolean {
    return this.config.sourcesReady(this.options.sources.map((s) => s.name));
  }

  /** Desired pods with their generated status. */
  pods(): PodView[] {
    return this.config.pods().map((pod) => ({
      pod,
      status: this.manager.podStatus(podUid(pod)),
      phase: this.workers.phase(podUid(pod)),
    }));
  }

  private desiredPod(uid: string): k8s.Pod | undefined {
    return this.config.get(uid);
  }

  private handlePodUpdate(update: PodUpdate): void {
    // The kubelet admits added pods oldest first (HandlePodAdditions).
    const pods =
      update.op === PodOperation.ADD
        ? [...update.pods].sort((a, b) => creationMs(a) - creationMs(b))
        : update.pods;
    for (const pod of pods) {
      if (isMirrorPod(pod)) {
        // Not run: a change to a mirror pod only makes its static pod sync (kubelet
        // `handleMirrorPod`), which recreates a deleted or stale mirror.
        const staticPod = this.config
          .pods()
          .find((p) => isStaticPod(p) && podFullName(p) === podFullName(pod));
        if (staticPod && this.workers.phase(podUid(staticPod)) === 'syncing') {
          this.workers.updatePod({ type: 'sync', pod: staticPod });
        }
        continue;
      }
      if (
        update.op === PodOperation.ADD &&
        !pod.metadata?.deletionTimestamp &&
        (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') &&
        !isStaticPod(pod)
      ) {
        // Already terminal in the API server (e.g. evicted before an agent restart):
        // never started again; whatever is left of it is stopped (kubelet podWorkers).
        this.workers.updatePod({ type: 'kill', pod, kill: { reason: 'Terminal' } });
        continue;
      }
      const op =
        update.op === PodOperation.ADD && pod.metadata?.deletionTimestamp
          ? PodOperation.DELETE
          : update.op;
      if (op === PodOperation.ADD && !this.admitted.has(podUid(pod))) {
        if (this.rejected.has(podUid(pod))) continue;
        const refusal = this.admit(pod);
        if (refusal) {
          this.rejectPod(pod, refusal);
          continue;
        }
        this.admitted.add(podUid(pod));
      }
      const rejection = this.rejected.get(podUid(pod));
      if (rejection && op !== PodOperation.REMOVE) {
        // Never run. Its worker told the status manager it finished; a deletion now
        // lets the status manager complete it (grace 0).
        if (op === PodOperation.DELETE) this.options.statusManager?.setPodStatus(pod, rejection);
        continue;
      }
      switch (op) {
        case PodOperation.ADD:
          this.logger.info('Pod added', {
            pod: podFullName(pod),
            podUid: podUid(pod),
            source: update.source,
          });
          this.workers.updatePod({ type: 'create', pod });
          break;
        case PodOperation.UPDATE:
          this.logger.info('Pod updated', {
            pod: podFullName(pod),
            podUid: podUid(pod),
            source: update.source,
          });
          this.options.probes?.updatePod(pod);
          this.workers.updatePod({ type: 'update', pod });
          break;
        case PodOperation.DELETE: {
          const grace = pod.metadata?.deletionGracePeriodSeconds;
          this.options.probes?.updatePod(pod);
          this.workers.updatePod({
            type: 'kill',
            pod,
            kill: {
              reason: 'Deleted',
              ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
            },
          });
          break;
        }
        case PodOperation.RECONCILE:
          // Only the API status changed (kubelet HandlePodReconcile): a readiness gate's
          // condition set by another controller makes Ready be published again.
          if (this.workers.phase(podUid(pod)) === 'syncing' && needToReconcilePodReadiness(pod)) {
            this.manager.refreshReadiness(pod);
          }
          break;
        case PodOperation.REMOVE:
          this.logger.info('Pod removed', {
            pod: podFullName(pod),
            podUid: podUid(pod),
            source: update.source,
          });
          this.removePod(pod);
          break;
        default:
          break;
      }
    }
  }

  /**
   * Asks the admit handlers about a new pod (kubelet `canAdmitPod`) against the other
   * active pods: admitted, not removed, and not finished. Returns the first refusal.
   */
  private admit(pod: k8s.Pod): PodAdmitResult | undefined {
    const handlers = this.options.admitHandlers ?? [];
    if (handlers.length === 0) return undefined;
    const uid = podUid(pod);
    const otherPods = this.config.pods().filter((p) => {
      const other = podUid(p);
      if (other === uid || !this.admitted.has(other)) return false;
      if (this.workers.phase(other) === 'terminated') return false;
      const phase = this.manager.podStatus(other)?.phase;
      return phase !== 'Succeeded' && phase !== 'Failed';
    });
    for (const handler of handlers) {
      let result: PodAdmitResult;
      try {
        result = handler.admit({ pod, otherPods });
      } catch (err) {
        result = {
          admit: false,
          reason: 'UnexpectedAdmissionError',
          message: `Admission handler ${handler.name} failed: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
      if (!result.admit) return result;
    }
    return undefined;
  }

  /**
   * Kubelet `rejectPod`: a Warning event with the refusal's reason, and the status
   * phase Failed, that reason, `Pod was rejected: <message>`. The pod never runs; its
   * worker goes straight to terminated so that the status manager treats it as finished.
   */
  private rejectPod(pod: k8s.Pod, refusal: PodAdmitResult): void {
    const uid = podUid(pod);
    const reason = refusal.reason ?? 'UnexpectedAdmissionError';
    const message = refusal.message ?? '';
    this.logger.info('Pod rejected at admission', {
      pod: podFullName(pod),
      podUid: uid,
      reason,
      message,
    });
    this.options.recorder?.event(
      {
        kind: 'Pod',
        apiVersion: 'v1',
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? 'default',
        uid,
      },
      'Warning',
      reason,
      message,
    );
    const status: k8s.PodStatus = {
      phase: 'Failed',
      reason,
      message: `Pod was rejected: ${message}`,
      qosClass: podQOSOrBestEffort(pod),
    };
    this.rejected.set(uid, status);
    this.manager.publishRejectedStatus(pod, status);
    this.workers.updatePod({ type: 'kill', pod, kill: { reason: 'Rejected' } });
  }

  private removePod(pod: k8s.Pod): void {
    const uid = podUid(pod);
    this.admitted.delete(uid);
    if (this.rejected.delete(uid)) {
      // Never ran: only its worker is forgotten.
      this.workers.removeWorker(uid);
      return;
    }
    if (this.workers.isFinished(uid)) {
      // It had completed (and kept its containers) or was evicted; now it is gone:
      // clean up what is left, without reporting a status again (kubelet: only cleanup).
      this.workers.removeWorker(uid);
      this.cleanupOnly.add(uid);
    }
    this.workers.updatePod({ type: 'kill', pod, kill: { reason: 'Removed' } });
  }

  /** Mirror pods whose static pod is gone are deleted (kubelet `HandlePodCleanups`). */
  private async deleteOrphanedMirrorPods(): Promise<void> {
    const client = this.options.mirrorClient;
    if (!client) return;
    const statics = new Set(this.config.pods().filter(isStaticPod).map(podFullName));
    for (const mirror of this.config.mirrorPods()) {
      if (
        statics.has(podFullName(mirror)) ||
        mirror.metadata.deletionTimestamp ||
        this.deletedMirrorUids.has(podUid(mirror))
      )
        continue;
      this.logger.info('Deleting orphaned mirror pod', { pod: podFullName(mirror) });
      this.deletedMirrorUids.add(podUid(mirror));
      await client
        .deleteMirrorPod(kubeletFullName(mirror), mirror.metadata.uid)
        .catch((err: unknown) =>
          this.logger.warn('Failed to delete orphaned mirror pod', {
            pod: podFullName(mirror),
            error: err instanceof Error ? err.message : String(err),
          }),
        );
    }
  }

  /**
   * `kubelet_running_pods` and `kubelet_running_containers` from a full runtime
   * listing, as the kubelet's PLEG relist sets them (only with a metrics registry).
   */
  private async updateRuntimeMetrics(): Promise<void> {
    if (!this.options.metrics) return;
    try {
      const [{ items }, { containers }] = await Promise.all([
        this.options.runtime.listPodSandbox({}),
        this.options.runtime.listContainers({}),
      ]);
      this.manager.metrics.setRuntimePods(items, containers);
    } catch (err) {
      this.logger.debug('Listing the runtime for metrics failed', {
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** Kubelet `HandlePodCleanups`: forget finished workers, stop orphaned pods. */
  private async runHousekeeping(): Promise<void> {
    if (this.housekeepingRunning || !this.started) return;
    this.housekeepingRunning = true;
    try {
      await this.updateRuntimeMetrics();
      const desired = new Set(this.config.pods().map(podUid));
      for (const uid of this.workers.knownPods()) {
        if (!desired.has(uid) && this.workers.isFinished(uid)) {
          this.workers.removeWorker(uid);
          this.evictions.delete(uid);
        }
      }
      this.manager.gcBackoff();
      this.options.probes?.cleanupPods(desired);
      this.options.statusManager?.removeOrphanedStatuses(
        new Set([...desired, ...this.workers.knownPods()]),
      );
      if (!this.config.sourcesReady(this.options.sources.map((s) => s.name))) return;
      await this.deleteOrphanedMirrorPods();
      const mirrorUids = new Set(this.config.mirrorPods().map(podUid));
      for (const uid of this.deletedMirrorUids)
        if (!mirrorUids.has(uid)) this.deletedMirrorUids.delete(uid);
      for (const [key, at] of this.mirrorCreatedAt)
        if (this.clock.now() - at > mirrorPodRecreateAfterMs) this.mirrorCreatedAt.delete(key);
      const { items } = await this.options.runtime.listPodSandbox({});
      const known = new Set(this.workers.knownPods());
      for (const sb of items) {
        const uid = sb.labels['io.kubernetes.pod.uid'] ?? sb.metadata?.uid ?? '';
        if (!uid || desired.has(uid) || known.has(uid)) continue;
        known.add(uid);
        const orphan: k8s.Pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: sb.metadata?.name ?? '',
            namespace: sb.metadata?.namespace ?? 'default',
            uid,
          },
          spec: { containers: [] },
        };
        this.logger.info('Stopping orphaned pod', { pod: podFullName(orphan), podUid: uid });
        this.workers.updatePod({ type: 'kill', pod: orphan, kill: { reason: 'Orphaned' } });
      }
    } catch (err) {
      this.logger.warn('Housekeeping failed', {
        error: err instanceof Error ? err.message : String(err),
      });
    } finally {
      this.housekeepingRunning = false;
    }
  }
}

/** Builds a {@link PodLifecycle} without a DI container (the same as `new PodLifecycle(options)`). */
export function createPodLifecycle(options: PodLifecycleOptions): PodLifecycle {
  return new PodLifecycle(options);
}
