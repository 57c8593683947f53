import type { ObjectReference, Pod, PodStatus } from './k8s/types.js';
import { createToken, type InjectionToken } from './token.js';

/**
 * The three kinds of container probe, spelled as the kubelet prints them
 * (`probeType.String()`), e.g. in `Liveness probe failed: …` and in the
 * `probe_type` label of `prober_probe_total`.
 */
export type ProbeType = 'Liveness' | 'Readiness' | 'Startup';

/**
 * The cached outcome of a probe for one container (kubelet `results.Result`).
 * `Unknown` is only the initial value of a startup probe.
 */
export type ProbeResult = 'Success' | 'Failure' | 'Unknown';

/** Removes a listener; idempotent. */
export type Unsubscribe = () => void;

/** A change of a container's probe result, as published by a {@link ProbeResultsManager}. */
export interface ProbeResultUpdate {
  probeType: ProbeType;
  /** The container as in `ContainerStatus.containerID`: `<runtime>://<id>`. */
  containerId: string;
  result: ProbeResult;
  podUid: string;
  podName: string;
  namespace: string;
  containerName: string;
}

/** Narrows a subscription to some containers or probe kinds; every given field must match. */
export interface ProbeResultFilter {
  probeType?: ProbeType;
  podUid?: string;
  containerName?: string;
  containerId?: string;
}

/**
 * Results of one probe kind per container (kubelet `results.Manager`; the kubelet has
 * one for liveness, one for readiness, one for startup). `set` publishes an update
 * only when the result changes (or is new); `remove` publishes nothing.
 */
export interface ProbeResultsManager {
  readonly probeType: ProbeType;
  /** The cached result for the container, undefined when there is none. */
  get(containerId: string): ProbeResult | undefined;
  /** Caches a result; notifies subscribers when it differs from the cached one. */
  set(containerId: string, result: ProbeResult, pod: Pod, containerName: string): void;
  /** Forgets the container's result, silently. */
  remove(containerId: string): void;
  /** Calls `listener` for every change, synchronously, in order. */
  subscribe(listener: (update: ProbeResultUpdate) => void): Unsubscribe;
}

/**
 * "Restart this container": a liveness or startup probe reached its failure threshold.
 * pod-lifecycle consumes it the way the kubelet's sync loop consumes a liveness or
 * startup `Failure` update: it kills the container with `gracePeriodSeconds` and
 * lets the restart policy bring it back.
 */
export interface ContainerRestartRequest {
  probeType: 'Liveness' | 'Startup';
  podUid: string;
  podName: string;
  namespace: string;
  containerName: string;
  /** `<runtime>://<id>` of the failing container instance. */
  containerId: string;
  /** The kubelet's kill message, e.g. `Container web failed liveness probe, will be restarted`. */
  message: string;
  /**
   * Seconds between SIGTERM and SIGKILL: the probe's own
   * `terminationGracePeriodSeconds` when set, else the pod's
   * `spec.terminationGracePeriodSeconds`, else 30.
   */
  gracePeriodSeconds: number;
}

/**
 * Runs startup, liveness and readiness probes for the containers of the pods on
 * this node (kubelet `prober.Manager`): one worker per probe per container.
 *
 * - Initial results: readiness `Failure`, liveness `Success`, startup `Unknown`.
 * - Liveness and readiness do not run until startup succeeded; startup stops once it
 *   succeeded.
 * - A liveness/startup result of `Failure` produces a {@link ContainerRestartRequest};
 *   the worker then holds until a new container id appears in the pod status.
 * - Readiness feeds `ContainerStatus.ready` through {@link ProbeManager.updatePodStatus}
 *   and so the pod's `ContainersReady`/`Ready` conditions.
 */
export interface ProbeManager {
  /**
   * Starts the workers of every probe of the pod's containers (and restartable init
   * containers). Probes are not validated up front (the kubelet trusts the API
   * server): an invalid probe's worker errors at every attempt, with a Warning
   * `Unhealthy` event and no result. Throws `InvalidArgumentError` only for input that
   * is not a pod. Adding a pod twice is harmless (existing workers are kept).
   */
  addPod(pod: Pod): void;
  /**
   * Replaces the pod object the workers read (the kubelet updates it in place), e.g.
   * to deliver `metadata.deletionTimestamp`; adds or removes no worker.
   */
  updatePod(pod: Pod): void;
  /** Stops the liveness and startup workers of the pod (graceful termination). */
  stopLivenessAndStartup(pod: Pod): void;
  /** Stops every worker of the pod; their results are removed. */
  removePod(pod: Pod): void;
  /** Stops the workers of every pod whose UID is not in `desiredPodUids`. */
  cleanupPods(desiredPodUids: ReadonlySet<string>): void;
  /**
   * Fills `started` and `ready` of the container statuses from the probe results
   * (kubelet `UpdatePodStatus`), remembers the status as what workers probe against
   * (container ids, start times, pod IP, phase) and returns the completed copy. A
   * readiness worker whose container has no result yet is triggered at once.
   */
  updatePodStatus(pod: Pod, status: PodStatus): PodStatus;
  /** The results manager of one probe kind. */
  results(probeType: ProbeType): ProbeResultsManager;
  /** Subscribes to result changes of all kinds, optionally filtered. */
  subscribe(listener: (update: ProbeResultUpdate) => void, filter?: ProbeResultFilter): Unsubscribe;
  /** Subscribes to restart requests from failed liveness and startup probes. */
  onRestartRequest(listener: (request: ContainerRestartRequest) => void): Unsubscribe;
  /** Number of running workers. */
  workerCount(): number;
  /** Enables workers (a manager is usable right after creation; start is idempotent). */
  start(): void;
  /** Stops every worker, waits for probes in flight and leaves no timers behind. */
  stop(): Promise<void>;
}
export const ProbeManager: InjectionToken<ProbeManager> = createToken<ProbeManager>('ProbeManager');

/** `Normal` or `Warning`, as Kubernetes events. */
export type EventType = 'Normal' | 'Warning';

/**
 * A sink for Kubernetes events about objects (client-go `record.EventRecorder`).
 * Probes record `Warning Unhealthy` (`Liveness probe failed: …`, `Readiness probe
 * errored and resulted in unknown state: …`) and `Warning ProbeWarning`
 * (`Readiness probe warning: …`) on the pod, with `fieldPath` `spec.containers{name}`.
 */
export interface EventRecorder {
  /**
   * @param reason short CamelCase reason (`Unhealthy`, `ProbeWarning`, `Killing`…)
   * @param message human-readable message
   */
  event(object: ObjectReference, type: EventType, reason: string, message: string): void;
}
export const EventRecorder: InjectionToken<EventRecorder> =
  createToken<EventRecorder>('EventRecorder');

/** An EventRecorder that drops every event; the default wherever none is given. */
export const noopEventRecorder: EventRecorder = { event() {} };
