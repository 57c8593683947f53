import type { Pod, PodStatus } from './k8s/types.js';
import { createToken, type InjectionToken } from './token.js';

/**
 * Writes pod status to the API server (kubelet `status.Manager`). pod-lifecycle calls
 * it with every status it generates; the implementation keeps the newest per pod
 * UID, writes only what changed (bursts coalesce into one write), retries failed
 * writes with back-off, and never loses a terminal status.
 *
 * A static pod's status is written to its mirror pod. Pods that do not come from the
 * API server and have no mirror pod are only cached.
 */
export interface PodStatusManager {
  /** The newest status of the pod; written if it differs from what the API server has. */
  setPodStatus(pod: Pod, status: PodStatus): void;
  /** The newest status set for the pod UID. */
  getPodStatus(uid: string): PodStatus | undefined;
  /**
   * Every container of the pod is stopped and its resources (sandbox, volumes,
   * cgroups) are released. For a pod being deleted through the API server
   * (`deletionTimestamp` set) the manager writes the final status and then completes
   * the deletion with grace period 0 and a UID precondition (kubelet `canBeDeleted`).
   */
  podTerminated(pod: Pod): void;
  /** Forgets the statuses of pods whose UID is not in the set (kubelet `RemoveOrphanedStatuses`). */
  removeOrphanedStatuses(desiredPodUids: ReadonlySet<string>): void;
  start(): void;
  /** Stops writing; pending writes are abandoned (the next agent writes them again). */
  stop(): Promise<void>;
}
export const PodStatusManager: InjectionToken<PodStatusManager> =
  createToken<PodStatusManager>('PodStatusManager');

/**
 * Creates and deletes mirror pods: the API server's read-only copies of static pods
 * (kubelet `pod.MirrorClient`). A mirror pod carries the static pod's spec, the
 * annotation `kubernetes.io/config.mirror` = the static pod's config hash and an
 * owner reference to the Node.
 */
export interface MirrorClient {
  /** Creates the mirror pod of a static pod; an existing one is left alone (no error). */
  createMirrorPod(staticPod: Pod): Promise<void>;
  /**
   * Deletes the mirror pod `namespace/name` (`podFullName` = `name_namespace`), only if
   * its UID is `uid` when given. Returns whether a pod was deleted.
   */
  deleteMirrorPod(podFullName: string, uid?: string): Promise<boolean>;
}
export const MirrorClient: InjectionToken<MirrorClient> = createToken<MirrorClient>('MirrorClient');

/** A PodStatusManager that only caches (standalone agents, tests). */
export function createCachingPodStatusManager(): PodStatusManager {
  const statuses = new Map<string, PodStatus>();
  return {
    setPodStatus(pod, status) {
      if (pod.metadata.uid) statuses.set(pod.metadata.uid, status);
    },
    getPodStatus: (uid) => statuses.get(uid),
    podTerminated() {},
    removeOrphanedStatuses(desired) {
      for (const uid of statuses.keys()) if (!desired.has(uid)) statuses.delete(uid);
    },
    start() {},
    stop: () => Promise.resolve(),
  };
}
