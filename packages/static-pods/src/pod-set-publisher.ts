import {
  PodAnnotation,
  PodOperation,
  type Clock,
  type EventRecorder,
  type Logger,
  type PodSourceName,
  type PodUpdate,
  type k8s,
} from '@nodeagent/core';

/** A manifest that could not be used, as reported to `onError`. */
export interface ManifestError {
  /** The source that read it: `file` or `http`. */
  source: 'file' | 'http';
  /** The manifest file's path, or the manifest URL. */
  file: string;
  /** Why it was rejected, e.g. `invalid pod: spec.containers[0].image: Required`. */
  reason: string;
}

/** Event reason recorded (on the Node) for a rejected static pod manifest. */
export const INVALID_STATIC_POD_MANIFEST_REASON = 'InvalidStaticPodManifest';

/** What the file and URL sources share: node, time, logging, error sinks. */
export interface StaticPodSourceCommonOptions {
  /** This node's name: `spec.nodeName`, the pod name suffix, part of the UID. */
  nodeName: string;
  /** Time source for the periodic re-reads and `kubernetes.io/config.seen`. */
  clock: Clock;
  /** Where rejected manifests and read failures are logged (warn, with `file` and `reason`). */
  logger?: Logger;
  /**
   * Also records a rejected manifest as a `Warning` event
   * (`InvalidStaticPodManifest`) on this node's Node object.
   */
  recorder?: EventRecorder;
  /** Called once for each rejected manifest version (and again when the reason changes). */
  onError?: (error: ManifestError) => void;
}

/** A pod with its JSON, computed once, for change detection. */
export interface KeyedPod {
  readonly pod: k8s.Pod;
  readonly json: string;
}

/** Wraps a pod with its JSON text (its identity for change detection). */
export function keyPod(pod: k8s.Pod): KeyedPod {
  return { pod, json: JSON.stringify(pod) };
}

/**
 * The part of a static pod source that talks to subscribers: stamps
 * `kubernetes.io/config.seen` (the time this UID was first in the source's set; kept
 * while the UID stays, as the kubelet's config merger keeps the first-seen time),
 * emits `SET` only when the set differs from the last one, and reports rejected
 * manifests once per version to the logger, `onError` and the EventRecorder.
 */
export class PodSetPublisher {
  private readonly listeners = new Set<(update: PodUpdate) => void>();
  private readonly firstSeen = new Map<string, string>();
  private readonly reported = new Map<string, string>();
  private lastKey: string | undefined;

  constructor(
    private readonly source: PodSourceName & ('file' | 'http'),
    private readonly options: StaticPodSourceCommonOptions,
    private readonly logger: Logger,
  ) {}

  subscribe(listener: (update: PodUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Publishes the source's complete set. The first call always emits (so the
   * consumer can mark the source as seen, like the kubelet's empty SET); later calls
   * emit only when a pod or its first-seen time changed.
   */
  publish(pods: readonly KeyedPod[]): void {
    const now = new Date(this.options.clock.now()).toISOString();
    const present = new Set<string>();
    const keyParts: string[] = [];
    for (const { pod, json } of pods) {
      const uid = pod.metadata.uid ?? '';
      present.add(uid);
      let seen = this.firstSeen.get(uid);
      if (seen === undefined) {
        seen = now;
        this.firstSeen.set(uid, seen);
      }
      keyParts.push(`${seen}\u0000${json}`);
    }
    for (const uid of [...this.firstSeen.keys()]) {
      if (!present.has(uid)) this.firstSeen.delete(uid);
    }
    const key = keyParts.join('\u0001');
    if (key === this.lastKey) return;
    this.lastKey = key;
    const update: PodUpdate = {
      op: PodOperation.SET,
      source: this.source,
      pods: pods.map(({ pod }) => {
        const copy = structuredClone(pod);
        copy.metadata.annotations = {
          ...copy.metadata.annotations,
          [PodAnnotation.ConfigSeen]: this.firstSeen.get(pod.metadata.uid ?? '') ?? now,
        };
        return copy;
      }),
    };
    for (const listener of [...this.listeners]) {
      try {
        listener(update);
      } catch (err) {
        this.logger.error('Pod update listener failed', { source: this.source, err });
      }
    }
  }

  /**
   * Reports a rejected manifest, unless the same `version` (content digest) was
   * already reported with the same reason.
   */
  reportError(file: string, reason: string, version: string): void {
    const key = `${version}\u0000${reason}`;
    if (this.reported.get(file) === key) return;
    this.reported.set(file, key);
    this.logger.warn('Rejected static pod manifest', { source: this.source, file, reason });
    const error: ManifestError = { source: this.source, file, reason };
    try {
      this.options.onError?.(error);
    } catch (err) {
      this.logger.error('Static pod onError callback failed', { file, err });
    }
    this.options.recorder?.event(
      { kind: 'Node', apiVersion: 'v1', name: this.options.nodeName, uid: this.options.nodeName },
      'Warning',
      INVALID_STATIC_POD_MANIFEST_REASON,
      `Static pod manifest ${file} rejected: ${reason}`,
    );
  }

  /** Forgets a reported error (the file was fixed or removed); logs that it was fixed. */
  clearError(file: string, fixed: boolean): void {
    if (!this.reported.delete(file)) return;
    if (fixed) this.logger.info('Static pod manifest accepted', { source: this.source, file });
  }

  /** Files with an error reported and not yet fixed. */
  reportedFiles(): string[] {
    return [...this.reported.keys()];
  }
}
