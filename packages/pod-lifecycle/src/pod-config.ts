import {
  PodAnnotation,
  PodOperation,
  noopLogger,
  type Clock,
  type Logger,
  type PodUpdate,
  type k8s,
} from '@nodeagent/core';
import { deepEqual } from './deep-equal.js';
import { isMirrorPod } from './pod-phase.js';

/** Identifies a pod for people: `namespace/name`. */
export function podFullName(pod: k8s.Pod): string {
  return `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;
}

/** The pod's UID ('' when it has none; sources always set one). */
export function podUid(pod: k8s.Pod): string {
  return pod.metadata?.uid ?? '';
}

/**
 * Whether two versions of a pod differ in what the agent acts on (kubelet
 * `podsDifferSemantically`): spec, labels, annotations, deletion timestamp and grace.
 */
export function podsDifferSemantically(a: k8s.Pod, b: k8s.Pod): boolean {
  return (
    !deepEqual(a.spec, b.spec) ||
    !deepEqual(a.metadata?.labels ?? {}, b.metadata?.labels ?? {}) ||
    !deepEqual(a.metadata?.annotations ?? {}, b.metadata?.annotations ?? {}) ||
    a.metadata?.deletionTimestamp !== b.metadata?.deletionTimestamp ||
    a.metadata?.deletionGracePeriodSeconds !== b.metadata?.deletionGracePeriodSeconds
  );
}

export interface PodConfigOptions {
  clock: Clock;
  logger?: Logger;
}

/**
 * Merges the pod sources into one desired set (kubelet `config.PodConfig` in
 * incremental mode). Each source sends `SET` with all of its pods; PodConfig
 * answers with what changed, in the kubelet's order: REMOVE, ADD, UPDATE, DELETE,
 * RECONCILE. It stamps `kubernetes.io/config.seen` on pods that lack it and records
 * which sources have delivered at least once (`sourcesReady`), so that orphan
 * cleanup never runs before every source has spoken.
 */
export class PodConfig {
  private readonly bySource = new Map<string, Map<string, k8s.Pod>>();
  /**
   * The object each source last handed over per UID. A source that hands over the very
   * same object again (the API pod source does for pods that did not change) means no
   * change: the pod is skipped without copying or comparing it. Sources never mutate a
   * pod object they have handed over.
   */
  private readonly lastIncoming = new Map<string, Map<string, k8s.Pod>>();
  private readonly seenSources = new Set<string>();
  private readonly listeners = new Set<(update: PodUpdate) => void>();
  private readonly logger: Logger;

  constructor(private readonly options: PodConfigOptions) {
    this.logger = (options.logger ?? noopLogger).child({ component: 'pod-config' });
  }

  /** Receives updates merged from every source. */
  subscribe(listener: (update: PodUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True once every named source has sent at least one update. */
  sourcesReady(sources: Iterable<string>): boolean {
    for (const s of sources) if (!this.seenSources.has(s)) return false;
    return true;
  }

  /** The desired pod with this UID, from whichever source has it (mirror pods excluded). */
  get(uid: string): k8s.Pod | undefined {
    for (const pods of this.bySource.values()) {
      const pod = pods.get(uid);
      if (pod && !isMirrorPod(pod)) return pod;
    }
    return undefined;
  }

  /**
   * Every desired pod of every source. Mirror pods (the API server's copies of static
   * pods) are not desired pods: see {@link PodConfig.mirrorPods}.
   */
  pods(): k8s.Pod[] {
    return [...this.bySource.values()].flatMap((m) =>
      [...m.values()].filter((p) => !isMirrorPod(p)),
    );
  }

  /** The mirror pods the API server has for this node (kubelet pod manager `GetMirrorPods`). */
  mirrorPods(): k8s.Pod[] {
    return [...this.bySource.values()].flatMap((m) => [...m.values()].filter(isMirrorPod));
  }

  /** The mirror pod with the static pod's namespace and name, if the API server has one. */
  mirrorPodOf(staticPod: k8s.Pod): k8s.Pod | undefined {
    const name = podFullName(staticPod);
    return this.mirrorPods().find((m) => podFullName(m) === name);
  }

  /** Takes one update from a source and emits the changes it makes. */
  apply(update: PodUpdate): void {
    this.seenSources.add(update.source);
    let current = this.bySource.get(update.source);
    if (!current) {
      current = new Map();
      this.bySource.set(update.source, current);
    }
    let last = this.lastIncoming.get(update.source);
    if (!last) {
      last = new Map();
      this.lastIncoming.set(update.source, last);
    }
    const adds: k8s.Pod[] = [];
    const updates: k8s.Pod[] = [];
    const deletes: k8s.Pod[] = [];
    const removes: k8s.Pod[] = [];
    const reconciles: k8s.Pod[] = [];

    const upsert = (incoming: k8s.Pod): void => {
      const uid = podUid(incoming);
      if (!uid) {
        this.logger.warn('Pod without UID ignored', {
          source: update.source,
          pod: podFullName(incoming),
        });
        return;
      }
      const existing = current.get(uid);
      if (existing && last.get(uid) === incoming) return;
      last.set(uid, incoming);
      // The first-seen time belongs to the pod's first arrival (kubelet copies it over).
      const pod = this.stampSeen(
        incoming,
        update.source,
        existing?.metadata?.annotations?.[PodAnnotation.ConfigSeen],
      );
      if (!existing) {
        current.set(uid, pod);
        adds.push(pod);
        return;
      }
      if (podsDifferSemantically(existing, pod)) {
        current.set(uid, pod);
        (pod.metadata?.deletionTimestamp ? deletes : updates).push(pod);
      } else if (!deepEqual(existing.status, pod.status)) {
        current.set(uid, pod);
        reconciles.push(pod);
      }
    };

    switch (update.op) {
      case PodOperation.SET: {
        const incoming = new Set(update.pods.map(podUid));
        for (const [uid, pod] of current) {
          if (!incoming.has(uid)) {
            current.delete(uid);
            last.delete(uid);
            removes.push(pod);
          }
        }
        update.pods.forEach(upsert);
        break;
      }
      case PodOperation.ADD:
      case PodOperation.UPDATE:
      case PodOperation.DELETE:
      case PodOperation.RECONCILE:
        update.pods.forEach(upsert);
        break;
      case PodOperation.REMOVE:
        for (const pod of update.pods) {
          const existing = current.get(podUid(pod));
          last.delete(podUid(pod));
          if (existing) {
            current.delete(podUid(pod));
            removes.push(existing);
          }
        }
        break;
    }

    const emit = (op: PodOperation, pods: k8s.Pod[]): void => {
      if (pods.length === 0) return;
      for (const l of this.listeners) l({ op, source: update.source, pods });
    };
    emit(PodOperation.REMOVE, removes);
    emit(PodOperation.ADD, adds);
    emit(PodOperation.UPDATE, updates);
    emit(PodOperation.DELETE, deletes);
    emit(PodOperation.RECONCILE, reconciles);
  }

  private stampSeen(pod: k8s.Pod, source: string, firstSeen: string | undefined): k8s.Pod {
    const annotations = pod.metadata?.annotations ?? {};
    if (annotations[PodAnnotation.ConfigSeen] && annotations[PodAnnotation.ConfigSource])
      return pod;
    return {
      ...pod,
      metadata: {
        ...pod.metadata,
        annotations: {
          ...annotations,
          [PodAnnotation.ConfigSource]: annotations[PodAnnotation.ConfigSource] ?? source,
          [PodAnnotation.ConfigSeen]:
            annotations[PodAnnotation.ConfigSeen] ??
            firstSeen ??
            new Date(this.options.clock.now()).toISOString(),
        },
      },
    };
  }
}
