import type { Container, ContainerState, PodSandboxStatus } from './cri/types.js';
import { createToken, type InjectionToken } from './token.js';

/**
 * Kinds of pod lifecycle events, named as the kubelet's `pkg/kubelet/pleg` names them.
 * `ContainerChanged` is computed (a container went to an unknown or created state) but,
 * as in the kubelet, never delivered to subscribers; `PodSync` is reserved for
 * producers that want a pod re-synced without a container change.
 */
export const PodLifecycleEventType = {
  /** A container (or pod sandbox) is now running. */
  ContainerStarted: 'ContainerStarted',
  /** A container (or pod sandbox) is no longer running. */
  ContainerDied: 'ContainerDied',
  /** A container (or pod sandbox) no longer exists in the runtime. */
  ContainerRemoved: 'ContainerRemoved',
  /** The pod should be re-synced; carries no container ID. */
  PodSync: 'PodSync',
  /** A container moved to a state the PLEG does not report (created, unknown). */
  ContainerChanged: 'ContainerChanged',
} as const;
export type PodLifecycleEventType =
  (typeof PodLifecycleEventType)[keyof typeof PodLifecycleEventType];

/** One event of the pod lifecycle event generator (the kubelet's `PodLifecycleEvent`). */
export interface PodLifecycleEvent {
  /** UID of the pod the container belongs to. */
  podUid: string;
  type: PodLifecycleEventType;
  /**
   * ID of the container or pod sandbox the event is about (the kubelet treats
   * sandboxes as containers in the PLEG); empty for `PodSync`.
   */
  containerId: string;
}

/** Result of a PLEG health check. */
export interface PlegHealth {
  ok: boolean;
  /**
   * Why it is unhealthy, in the kubelet's words (`pleg has yet to be successful`,
   * `pleg was last seen active 3m5s ago; threshold is 3m0s`); `''` when healthy.
   */
  message: string;
}

/** Options of {@link PodLifecycleEventGenerator.watch}. */
export interface PlegWatchOptions {
  /** Ends the iteration (and the subscription) when aborted. */
  signal?: AbortSignal;
}

/** Which way the PLEG learns about container changes right now. */
export type PlegMode = 'relist' | 'evented';

/**
 * The pod lifecycle event generator (kubelet `pleg.PodLifecycleEventGenerator`):
 * watches the container runtime, emits {@link PodLifecycleEvent}s when containers
 * and sandboxes change state, and keeps the {@link PodStatusCache} fresh.
 *
 * Events go through bounded per-subscriber buffers (kubelet: a 1000-slot channel);
 * when a buffer is full the event is dropped and counted
 * (`kubelet_pleg_discard_events`), the relist is never blocked.
 */
export interface PodLifecycleEventGenerator {
  /** Starts relisting (and, in evented mode, watching the runtime's event stream). */
  start(): void;
  /** Stops every timer, stream and in-flight runtime call; ends all watch iterations. */
  stop(): Promise<void>;
  /**
   * The events as an async iterable; each call is an independent subscription with
   * its own bounded buffer. Breaking out of the loop unsubscribes. Events emitted
   * while nobody is subscribed are kept (up to the channel capacity) for the first
   * subscriber, like the kubelet's channel.
   */
  watch(options?: PlegWatchOptions): AsyncIterable<PodLifecycleEvent>;
  /**
   * Calls `listener` for each event, one at a time and in order (a returned promise
   * is awaited before the next event). Returns the unsubscribe function.
   */
  subscribe(listener: (event: PodLifecycleEvent) => void | Promise<void>): () => void;
  /**
   * Healthy only after a first successful relist, and while the last successful
   * relist is younger than the relist threshold (kubelet `GenericPLEG.Healthy`).
   * Never waits for a running relist.
   */
  healthy(): PlegHealth;
  /**
   * Relists once now (after any relist in progress); never rejects. Pod workers ask
   * for it right after they acted on a pod, so the status they publish next does not
   * wait up to a relist period for the runtime's view to catch up.
   */
  relist(): Promise<void>;
  /** The mode in effect: `evented` falls back to `relist` when the event stream fails. */
  mode(): PlegMode;
  /** The pod status cache this PLEG keeps up to date. */
  readonly cache: PodStatusCache;
}
export const PodLifecycleEventGenerator: InjectionToken<PodLifecycleEventGenerator> =
  createToken<PodLifecycleEventGenerator>('PodLifecycleEventGenerator');

/**
 * Status of one container as the runtime reports it (the kubelet's
 * `kubecontainer.Status`). Times are milliseconds since the Unix epoch, 0 when unset.
 */
export interface RuntimeContainerStatus {
  /** Container ID. */
  id: string;
  /** Sandbox the container runs in. */
  podSandboxId: string;
  /** Container name from the pod spec (`metadata.name`). */
  name: string;
  state: ContainerState;
  createdAtMs: number;
  /** 0 when never started. */
  startedAtMs: number;
  /** 0 when not finished. */
  finishedAtMs: number;
  /** Exit code; meaningful only when `finishedAtMs` is set. */
  exitCode: number;
  /** Short CamelCase reason (`Completed`, `Error`, `OOMKilled`). */
  reason: string;
  message: string;
  /** The image as requested. */
  image: string;
  /** Digest reference of the image actually used. */
  imageRef: string;
  /** Node-local image ID. */
  imageId: string;
  /** `metadata.attempt`: how many times this container was created before. */
  attempt: number;
  /**
   * Restart count: the `io.kubernetes.container.restartCount` annotation the kubelet
   * writes, else `attempt`.
   */
  restartCount: number;
  /** The `io.kubernetes.container.hash` annotation, `''` when absent. */
  hash: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * Status of a pod as the runtime sees it (the kubelet's `kubecontainer.PodStatus`):
 * its sandboxes and containers, newest first.
 */
export interface RuntimePodStatus {
  /** Pod UID. */
  id: string;
  name: string;
  namespace: string;
  /** IPs of the newest ready sandbox (primary first); empty for host-network pods. */
  ips: string[];
  /** Sandbox statuses, newest first. */
  sandboxStatuses: PodSandboxStatus[];
  /** Container statuses, newest first. */
  containerStatuses: RuntimeContainerStatus[];
}

/** One entry of the {@link PodStatusCache}. */
export interface CachedPodStatus {
  status: RuntimePodStatus;
  /** Why the status could not be (fully) read, when it could not. */
  error: Error | undefined;
  /** When the status was read (wall clock, ms since epoch); 0 for the empty default. */
  timestampMs: number;
}

/** Options of {@link PodStatusCache.getNewerThan}. */
export interface GetNewerThanOptions {
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * The pod status cache (kubelet `kubecontainer.Cache`): the newest runtime status of
 * every pod, with the time it was read, plus a global timestamp that says "every
 * pod's status is at least this fresh". Pod workers use
 * {@link PodStatusCache.getNewerThan} so they never act on status older than their
 * own last action.
 */
export interface PodStatusCache {
  /** The cached status; an empty status (timestamp 0) when the pod is not cached. */
  get(podUid: string): CachedPodStatus;
  /**
   * Resolves with the pod's status as soon as it is newer than `minTimeMs`: the entry
   * was set after `minTimeMs`, or the global timestamp passed it (then an uncached pod
   * gets the empty status).
   */
  getNewerThan(
    podUid: string,
    minTimeMs: number,
    options?: GetNewerThanOptions,
  ): Promise<CachedPodStatus>;
  /**
   * Stores a status read at `timestampMs`. Returns false (and stores nothing) when the
   * cache rejects stale updates and holds a newer entry (kubelet with EventedPLEG).
   */
  set(
    podUid: string,
    status: RuntimePodStatus,
    error: Error | undefined,
    timestampMs: number,
  ): boolean;
  /** Forgets the pod. */
  delete(podUid: string): void;
  /**
   * Sets the global timestamp: every pod's status is at least as fresh as
   * `timestampMs`; wakes waiters whose time has come.
   */
  updateTime(timestampMs: number): void;
}
export const PodStatusCache: InjectionToken<PodStatusCache> =
  createToken<PodStatusCache>('PodStatusCache');

/**
 * What a container listing (CRI `ListContainers`) alone says of a container, as a
 * {@link RuntimeContainerStatus}: times other than creation, exit code and reason are
 * unknown (0/''), restart count and spec hash come from the kubelet's annotations.
 * Used when a full `ContainerStatus` cannot or need not be read.
 */
export function runtimeContainerStatusFromListing(c: Container): RuntimeContainerStatus {
  const restartCount = Number(c.annotations['io.kubernetes.container.restartCount']);
  return {
    id: c.id,
    podSandboxId: c.podSandboxId,
    name: c.metadata?.name ?? '',
    state: c.state,
    createdAtMs: Math.floor(c.createdAt / 1_000_000),
    startedAtMs: 0,
    finishedAtMs: 0,
    exitCode: 0,
    reason: '',
    message: '',
    image: c.image?.image ?? '',
    imageRef: c.imageRef,
    imageId: c.imageId,
    attempt: c.metadata?.attempt ?? 0,
    restartCount:
      Number.isInteger(restartCount) && restartCount >= 0
        ? restartCount
        : (c.metadata?.attempt ?? 0),
    hash: c.annotations['io.kubernetes.container.hash'] ?? '',
    labels: c.labels,
    annotations: c.annotations,
  };
}
