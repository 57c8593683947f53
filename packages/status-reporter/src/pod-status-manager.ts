import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  PodAnnotation,
  RealClock,
  jitter,
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type PodStatusManager,
  type Random,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import { KubeApiCallError, rawApiCall, type KubeApi } from '@nodeagent/kube-client';
import {
  hasRunningContainers,
  illegalTransition,
  isMirrorPod,
  isPodStatusByKubeletEqual,
  isStaticPod,
  isTerminalPhase,
  mergePodStatus,
  normalizePodStatus,
  normalizeTimestamp,
  staticPodHash,
  terminatedPodStatus,
  updateLastTransitionTimes,
} from './pod-status-normalize.js';
import { podStatusPatch } from './pod-status-patch.js';

/** How often every status not yet on the API server is retried (kubelet status manager `syncPeriod`, 10 s). */
export const podStatusSyncPeriodMs = 10_000;
/** Window in which status changes coalesce into one write per pod, in ms (default 10). */
export const defaultPodStatusUpdateDelayMs = 10;
/** First retry delay after a failed write, in ms; doubles per failure. */
export const defaultPodStatusBackoffInitialMs = 500;
/** Longest retry delay after failed writes, in ms (before up to 20 % jitter): one sync period. */
export const defaultPodStatusBackoffMaxMs = podStatusSyncPeriodMs;

/** Options of {@link ApiPodStatusManager}. */
export interface ApiPodStatusManagerOptions {
  /** The API clients (only `core` is used: pods get, patch status, delete). */
  api: Pick<KubeApi, 'core'>;
  clock?: Clock;
  /** Jitter of retry delays; default `Math.random`. */
  random?: Random;
  logger?: Logger;
  /** Period of the full sync that retries unwritten statuses, in ms; default 10 000 (kubelet `syncPeriod`). */
  syncPeriodMs?: number;
  /** Delay from a status change to its write, in ms, so bursts coalesce; default 10. */
  updateDelayMs?: number;
  /** First retry delay after a failed write, in ms; default 500, doubling per failure. */
  backoffInitialMs?: number;
  /** Cap of the retry delay, in ms; default 10 000 (jitter adds up to 20 %). */
  backoffMaxMs?: number;
}

interface PodStatusEntry {
  readonly uid: string;
  namespace: string;
  name: string;
  /** The newest pod object given for this UID. */
  pod: k8s.Pod;
  staticPod: boolean;
  /** For a static pod: the `kubernetes.io/config.mirror` value its mirror pod must carry. */
  mirrorHash: string;
  /** The newest normalized status. */
  status: k8s.PodStatus;
  /** Bumped on every accepted change. */
  version: number;
  /** The newest version known to be on the API server (or found needing no write). */
  apiVersion: number;
  /** The pod's containers are all stopped and its final status is set (kubelet `podIsFinished`). */
  podIsFinished: boolean;
  writing: boolean;
  failures: number;
  /** Monotonic time before which no write is attempted (back-off, or waiting for a mirror pod). */
  retryAt: number | undefined;
  /** `metadata.resourceVersion` of the last pod object given whose status was compared with the cache. */
  reconciledResourceVersion: string | undefined;
  /**
   * The API server's copy as our last status write returned it. The next write of an
   * API pod starts from it instead of a GET: the UID precondition in the patch still
   * refuses a recreated pod, and any failure drops it so the next try reads afresh.
   */
  lastWritten: k8s.Pod | undefined;
}

interface ApiError {
  code: number;
}

function httpCode(err: unknown): number | undefined {
  if (err instanceof KubeApiCallError) return err.failure.code;
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as ApiError).code;
    if (typeof code === 'number') return code;
  }
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The kubelet's pod status manager (`pkg/kubelet/status`) over the API server:
 * caches the newest status per pod UID, writes it when it changed, and completes the
 * deletion of pods whose final status is written.
 *
 * - `setPodStatus` normalizes (timestamps to seconds, sorted container statuses),
 *   keeps `startTime` and the `lastTransitionTime` of conditions whose status did not
 *   change, refuses illegal transitions (out of a terminal phase; a terminated
 *   container running again when the restart policy forbids it), and ignores a
 *   status equal to the cached one.
 * - A change is written after {@link ApiPodStatusManagerOptions.updateDelayMs} (bursts
 *   coalesce into one write per pod); a full sync every 10 s retries whatever is not
 *   written yet. A write GETs the pod, skips it when it is gone or has another UID
 *   (recreated), merges (conditions the kubelet does not own stay as the API has
 *   them) and PATCHes `pods/<name>/status` with a strategic merge patch that carries
 *   `metadata.uid` as a precondition, only when it changes something.
 * - A static pod's status goes to its mirror pod (same name, annotation
 *   `kubernetes.io/config.mirror` = the static pod's config hash); without a mirror
 *   it is only cached and retried every sync period.
 * - Failed writes are retried per pod with jittered, capped exponential back-off,
 *   without holding up other pods.
 * - `podTerminated` sets the final status (kubelet `TerminatePod`); once it is on the
 *   API server and the API pod has a `deletionTimestamp` and a terminal phase, the
 *   pod is deleted with grace period 0 and a UID precondition (kubelet
 *   `canBeDeleted`). 404 and 409 answers to that delete mean it is done.
 */
export class ApiPodStatusManager implements PodStatusManager {
  private readonly api: Pick<KubeApi, 'core'>;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly syncPeriodMs: number;
  private readonly updateDelayMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly entries = new Map<string, PodStatusEntry>();
  private readonly inflight = new Set<Promise<void>>();
  private syncTimer: Timer | undefined;
  private wakeTimer: Timer | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private started = false;
  private stopped = false;

  constructor(options: ApiPodStatusManagerOptions) {
    this.api = options.api;
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({ component: 'status_manager' });
    this.syncPeriodMs = options.syncPeriodMs ?? podStatusSyncPeriodMs;
    this.updateDelayMs = options.updateDelayMs ?? defaultPodStatusUpdateDelayMs;
    this.backoffInitialMs = options.backoffInitialMs ?? defaultPodStatusBackoffInitialMs;
    this.backoffMaxMs = options.backoffMaxMs ?? defaultPodStatusBackoffMaxMs;
  }

  setPodStatus(pod: k8s.Pod, status: k8s.PodStatus): void {
    // A pod being deleted always gets a sync, so its deletion can complete.
    this.updateStatus(pod, status, pod.metadata.deletionTimestamp !== undefined, false);
  }

  getPodStatus(uid: string): k8s.PodStatus | undefined {
    const status = this.entries.get(uid)?.status;
    return status === undefined ? undefined : structuredClone(status);
  }

  podTerminated(pod: k8s.Pod): void {
    const uid = pod.metadata.uid;
    if (uid === undefined || uid === '') return;
    const base = this.entries.get(uid)?.status ?? pod.status ?? {};
    this.updateStatus(pod, terminatedPodStatus(pod, base), true, true);
  }

  /**
   * A mirror pod was just created for the static pod `staticPodUid`: its status on the
   * API server is empty, so the cached status is written to it again even when it did
   * not change (the kubelet's `needsReconcile`, which compares the mirror pod's status
   * with the cached one on every sync, finds the same difference). Unknown or
   * non-static UIDs are ignored.
   */
  mirrorPodCreated(staticPodUid: string): void {
    const entry = this.entries.get(staticPodUid);
    if (entry === undefined || !entry.staticPod) return;
    entry.version++;
    if (entry.failures === 0) {
      entry.retryAt = undefined;
      this.wake(this.clock.monotonicNow() + this.updateDelayMs);
    } else if (entry.retryAt === undefined) {
      this.wake(this.clock.monotonicNow() + this.updateDelayMs);
    }
  }

  removeOrphanedStatuses(desiredPodUids: ReadonlySet<string>): void {
    for (const uid of [...this.entries.keys()]) {
      if (!desiredPodUids.has(uid)) {
        this.logger.debug('Removing pod from status map', { podUID: uid });
        this.entries.delete(uid);
      }
    }
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.logger.info('Starting to sync pod status with apiserver');
    this.syncTimer = this.clock.setInterval(() => this.syncBatch(true), this.syncPeriodMs);
    if (this.entries.size > 0) this.wake(this.clock.monotonicNow());
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.syncTimer?.cancel();
    this.syncTimer = undefined;
    this.wakeTimer?.cancel();
    this.wakeTimer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
    return Promise.resolve();
  }

  /**
   * Resolves once no write is in flight (writes that become due later, on the clock,
   * are not waited for). For tests and orderly shutdown.
   */
  async whenIdle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Number of pods whose newest status is not yet confirmed on the API server. */
  get pendingWrites(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.version > e.apiVersion) n++;
    return n;
  }

  /** kubelet `updateStatusInternal`. */
  private updateStatus(
    pod: k8s.Pod,
    input: k8s.PodStatus,
    forceUpdate: boolean,
    podIsFinished: boolean,
  ): void {
    const uid = pod.metadata.uid;
    if (uid === undefined || uid === '') {
      this.logger.warn('Ignoring status of a pod without UID', { pod: this.podRef(pod) });
      return;
    }
    const entry = this.entries.get(uid);
    // The copy from our last PATCH predates a deletion the caller has seen: read the
    // API server's copy afresh, or a pod whose status did not change is never deleted.
    if (
      entry?.lastWritten !== undefined &&
      pod.metadata.deletionTimestamp !== undefined &&
      entry.lastWritten.metadata.deletionTimestamp === undefined
    ) {
      entry.lastWritten = undefined;
    }
    const staticPod = isStaticPod(pod);
    let finished = podIsFinished;
    if (entry?.podIsFinished === true && !finished && !staticPod) {
      this.logger.info(
        'Got unexpected podIsFinished=false, while podIsFinished=true in status cache, programmer error',
        { pod: this.podRef(pod) },
      );
      finished = true;
    }
    const oldStatus =
      entry?.status ?? (pod.status === undefined ? undefined : normalizePodStatus(pod, pod.status));
    const illegal = illegalTransition(pod, oldStatus, input);
    if (illegal !== undefined) {
      this.logger.error('Status update on pod aborted', {
        pod: this.podRef(pod),
        podUID: uid,
        err: illegal,
      });
      return;
    }
    const now = this.nowRfc3339();
    const status = structuredClone(input);
    updateLastTransitionTimes(status, oldStatus, now);
    if (oldStatus?.startTime !== undefined && oldStatus.startTime !== '') {
      status.startTime = oldStatus.startTime;
    } else if (status.startTime === undefined || status.startTime === '') {
      status.startTime = now;
    }
    const normalized = normalizePodStatus(pod, status);

    if (
      entry !== undefined &&
      !forceUpdate &&
      isPodStatusByKubeletEqual(entry.status, normalized, staticPod)
    ) {
      entry.pod = pod;
      this.maybeReconcile(entry, pod);
      return;
    }
    const next: PodStatusEntry = entry ?? {
      uid,
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name ?? '',
      pod,
      staticPod,
      mirrorHash: staticPodHash(pod),
      status: normalized,
      version: 0,
      apiVersion: 0,
      podIsFinished: false,
      writing: false,
      failures: 0,
      retryAt: undefined,
      reconciledResourceVersion: pod.metadata.resourceVersion,
      lastWritten: undefined,
    };
    next.pod = pod;
    next.namespace = pod.metadata.namespace ?? 'default';
    next.name = pod.metadata.name ?? '';
    next.staticPod = staticPod;
    next.mirrorHash = staticPodHash(pod);
    next.status = normalized;
    next.podIsFinished = finished;
    next.version++;
    this.entries.set(uid, next);
    if (next.retryAt === undefined || next.failures === 0) {
      // A new status is worth a prompt attempt unless writes are failing.
      next.retryAt = undefined;
      this.wake(this.clock.monotonicNow() + this.updateDelayMs);
    }
  }

  /**
   * The kubelet reconciles when the API server's copy of a pod (from its watch)
   * disagrees with the cached status (`needsReconcile`). Here the pod objects given
   * to `setPodStatus` are that copy: a new resourceVersion whose status differs from
   * the cached one forces one more sync (a GET, and a PATCH only if needed).
   */
  private maybeReconcile(entry: PodStatusEntry, pod: k8s.Pod): void {
    const rv = pod.metadata.resourceVersion;
    if (entry.staticPod || pod.status === undefined || rv === undefined) return;
    if (rv === entry.reconciledResourceVersion) return;
    entry.reconciledResourceVersion = rv;
    const apiStatus = normalizePodStatus(pod, pod.status);
    if (isPodStatusByKubeletEqual(apiStatus, entry.status, false)) return;
    this.logger.debug('Pod status is inconsistent with cached status, reconciling', {
      pod: this.podRef(pod),
    });
    entry.lastWritten = undefined; // read the API server's copy afresh
    entry.version++;
    if (entry.failures === 0) {
      entry.retryAt = undefined;
      this.wake(this.clock.monotonicNow() + this.updateDelayMs);
    }
  }

  /** Makes the next flush happen no later than `at` (monotonic ms). */
  private wake(at: number): void {
    if (!this.started || this.stopped || at >= this.wakeAt) return;
    this.wakeTimer?.cancel();
    this.wakeAt = at;
    this.wakeTimer = this.clock.setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.wakeAt = Number.POSITIVE_INFINITY;
        this.syncBatch(false);
      },
      Math.max(0, at - this.clock.monotonicNow()),
    );
  }

  /** kubelet `syncBatch`: starts a write for every pod that needs one and may try now. */
  private syncBatch(periodic: boolean): void {
    if (this.stopped) return;
    if (periodic) this.logger.debug('Syncing all statuses', { pods: this.entries.size });
    const now = this.clock.monotonicNow();
    let nextRetry = Number.POSITIVE_INFINITY;
    for (const entry of this.entries.values()) {
      if (entry.writing || entry.version <= entry.apiVersion) continue;
      if (entry.retryAt !== undefined && entry.retryAt > now) {
        // Neither a change nor the periodic sync overrides back-off; a retry timer is pending.
        nextRetry = Math.min(nextRetry, entry.retryAt);
        continue;
      }
      this.track(this.syncPod(entry));
    }
    if (nextRetry !== Number.POSITIVE_INFINITY) this.wake(nextRetry);
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** kubelet `syncPod`: one write of one pod's status. Never rejects. */
  private async syncPod(entry: PodStatusEntry): Promise<void> {
    entry.writing = true;
    const version = entry.version;
    const status = entry.status;
    const finished = entry.podIsFinished;
    const { namespace, name } = entry;
    const ref = `${namespace}/${name}`;
    try {
      let apiPod: k8s.Pod;
      try {
        const cached = entry.staticPod ? undefined : entry.lastWritten;
        entry.lastWritten = undefined;
        // Raw JSON (core's k8s shape) straight from the response: no typed V1Pod model.
        apiPod =
          cached ??
          ((await rawApiCall((o) =>
            this.api.core.readNamespacedPod({ name, namespace }, o),
          )) as k8s.Pod);
      } catch (err) {
        if (httpCode(err) !== 404) throw err;
        if (entry.staticPod) {
          this.logger.debug('Static pod does not have a corresponding mirror pod; skipping', {
            pod: ref,
            podUID: entry.uid,
          });
          entry.retryAt = this.clock.monotonicNow() + this.syncPeriodMs;
        } else {
          // Removed from the API server: RemoveOrphanedStatuses clears it.
          this.logger.debug('Pod does not exist on the server', { pod: ref, podUID: entry.uid });
          entry.apiVersion = Math.max(entry.apiVersion, version);
        }
        return;
      }
      if (this.stopped) return;
      const apiUid = apiPod.metadata.uid ?? '';
      if (entry.staticPod) {
        const mirror = apiPod.metadata.annotations?.[PodAnnotation.ConfigMirror];
        if (mirror !== entry.mirrorHash) {
          this.logger.debug('Static pod has no up-to-date mirror pod; skipping', {
            pod: ref,
            podUID: entry.uid,
            mirrorHash: mirror,
          });
          entry.retryAt = this.clock.monotonicNow() + this.syncPeriodMs;
          return;
        }
      } else if (apiUid !== entry.uid) {
        this.logger.info('Pod was deleted and then recreated, skipping status update', {
          pod: ref,
          oldPodUID: entry.uid,
          podUID: apiUid,
        });
        if (this.entries.get(entry.uid) === entry) this.entries.delete(entry.uid);
        return;
      }
      const apiStatus = apiPod.status ?? {};
      const merged = mergePodStatus(apiStatus, status, {
        couldHaveRunningContainers: !finished && hasRunningContainers(status),
        staticPod: entry.staticPod,
        now: this.nowRfc3339(),
      });
      if (isTerminalPhase(apiStatus.phase) && merged.phase !== apiStatus.phase) {
        this.logger.error('Pod attempted illegal phase transition', {
          pod: ref,
          originalStatusPhase: apiStatus.phase,
          apiStatusPhase: merged.phase,
        });
        entry.apiVersion = Math.max(entry.apiVersion, version);
        return;
      }
      const { patch, unchanged } = podStatusPatch(apiUid, apiStatus, merged);
      let current = apiPod;
      if (unchanged) {
        this.logger.debug('Status for pod is up-to-date', { pod: ref, statusVersion: version });
      } else {
        current = (await rawApiCall((o) =>
          this.api.core.patchNamespacedPodStatus(
            { name, namespace, body: patch },
            setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch, o),
          ),
        )) as k8s.Pod;
        entry.lastWritten = current;
        this.logger.debug('Status for pod updated successfully', {
          pod: ref,
          statusVersion: version,
        });
      }
      if (this.stopped) return;
      entry.apiVersion = Math.max(entry.apiVersion, version);
      entry.failures = 0;
      entry.retryAt = undefined;
      if (finished && this.canBeDeleted(current)) await this.deletePod(entry, current);
    } catch (err) {
      if (this.stopped) return;
      entry.failures++;
      const delay = Math.min(
        this.backoffMaxMs,
        this.backoffInitialMs * 2 ** Math.min(entry.failures - 1, 30),
      );
      entry.retryAt = this.clock.monotonicNow() + jitter(delay, 0.2, this.random);
      this.logger.info('Failed to update status for pod', {
        pod: ref,
        podUID: entry.uid,
        failures: entry.failures,
        retryInMs: Math.round(entry.retryAt - this.clock.monotonicNow()),
        err: errorText(err),
      });
    } finally {
      entry.writing = false;
      if (
        !this.stopped &&
        this.entries.get(entry.uid) === entry &&
        entry.version > entry.apiVersion
      ) {
        this.wake(entry.retryAt ?? this.clock.monotonicNow() + this.updateDelayMs);
      }
    }
  }

  /** kubelet `canBeDeleted`: being deleted, not a mirror pod, terminal on the API server. */
  private canBeDeleted(apiPod: k8s.Pod): boolean {
    if (apiPod.metadata.deletionTimestamp === undefined || isMirrorPod(apiPod)) return false;
    return isTerminalPhase(apiPod.status?.phase);
  }

  /** Completes the deletion: grace 0, UID precondition; 404/409 mean done. Throws other errors (retried). */
  private async deletePod(entry: PodStatusEntry, apiPod: k8s.Pod): Promise<void> {
    const ref = `${entry.namespace}/${entry.name}`;
    try {
      await rawApiCall((o) =>
        this.api.core.deleteNamespacedPod(
          {
            name: entry.name,
            namespace: entry.namespace,
            body: {
              gracePeriodSeconds: 0,
              preconditions: { uid: apiPod.metadata.uid ?? entry.uid },
            },
          },
          o,
        ),
      );
      this.logger.info('Pod fully terminated and removed from etcd', { pod: ref });
    } catch (err) {
      const code = httpCode(err);
      if (code !== 404 && code !== 409) {
        // Deleting is retried with the next sync: the status must count as unwritten.
        entry.apiVersion = 0;
        throw err;
      }
      this.logger.debug('Pod already deleted or replaced', { pod: ref, code });
    }
    if (this.entries.get(entry.uid) === entry) this.entries.delete(entry.uid);
  }

  private nowRfc3339(): string {
    return normalizeTimestamp(new Date(this.clock.now()).toISOString());
  }

  private podRef(pod: k8s.Pod): string {
    return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
  }
}

/** Creates an {@link ApiPodStatusManager}. */
export function createApiPodStatusManager(
  options: ApiPodStatusManagerOptions,
): ApiPodStatusManager {
  return new ApiPodStatusManager(options);
}
