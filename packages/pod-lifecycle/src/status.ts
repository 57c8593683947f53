import type { RuntimeContainerStatus, RuntimePodStatus, k8s } from '@nodeagent/core';
import { computePodPhase, isSidecar, isStaticPod, latestStatus } from './pod-phase.js';

/** Why a container is not running, from the last sync (kubelet `SyncResult` message). */
export interface ContainerWaitingReason {
  reason: string;
  message: string;
}

export interface GeneratePodStatusOptions {
  /** Prefix of container IDs in the API: `containerd` → `containerd://<id>`. */
  runtimeName: string;
  /** The node's IP, for `status.hostIP`. */
  hostIp?: string;
  /** Reasons recorded by the last sync per container name. */
  waiting?: ReadonlyMap<string, ContainerWaitingReason>;
  /** The pod's QoS class. */
  qosClass?: 'Guaranteed' | 'Burstable' | 'BestEffort';
  /** When the agent first acted on the pod (RFC 3339). */
  startTime?: string;
  /**
   * The pod worker has finished terminating the pod (kubelet `podIsTerminal`): every
   * container gets a terminated state and the phase becomes Succeeded or Failed.
   */
  podIsTerminal?: boolean;
}

function iso(ms: number): string | undefined {
  return ms > 0 ? new Date(ms).toISOString() : undefined;
}

function terminatedState(
  s: RuntimeContainerStatus,
  runtimeName: string,
): k8s.ContainerStateTerminated {
  const t: k8s.ContainerStateTerminated = {
    exitCode: s.exitCode,
    reason: s.reason || (s.exitCode === 0 ? 'Completed' : 'Error'),
    containerID: `${runtimeName}://${s.id}`,
  };
  if (s.message) t.message = s.message;
  const started = iso(s.startedAtMs);
  const finished = iso(s.finishedAtMs);
  if (started) t.startedAt = started;
  if (finished) t.finishedAt = finished;
  return t;
}

function containerStatus(
  container: k8s.Container,
  runtime: RuntimePodStatus,
  options: GeneratePodStatusOptions,
  defaultWaiting: string,
): k8s.ContainerStatus {
  const all = runtime.containerStatuses
    .filter((c) => c.name === container.name)
    .sort((a, b) => b.createdAtMs - a.createdAtMs);
  const current = all[0];
  const previous = all[1];
  const waiting = options.waiting?.get(container.name);
  const status: k8s.ContainerStatus = {
    name: container.name,
    image: container.image ?? '',
    imageID: current?.imageRef ?? '',
    ready: false,
    restartCount: current?.restartCount ?? 0,
    state: {},
  };
  if (current) status.containerID = `${options.runtimeName}://${current.id}`;
  if (current?.state === 'CONTAINER_RUNNING') {
    status.state = {
      running: { startedAt: iso(current.startedAtMs) ?? new Date(0).toISOString() },
    };
  } else if (waiting && (!current || current.state !== 'CONTAINER_CREATED')) {
    status.state = { waiting: { reason: waiting.reason, message: waiting.message } };
  } else if (current?.state === 'CONTAINER_EXITED') {
    status.state = { terminated: terminatedState(current, options.runtimeName) };
  } else {
    status.state = { waiting: { reason: defaultWaiting } };
  }
  if (options.podIsTerminal && !status.state.terminated) {
    // kubelet: a container that is not terminated when the pod is terminal is
    // reported as terminated, from its last instance or as unknown.
    status.state = {
      terminated:
        current?.state === 'CONTAINER_EXITED'
          ? terminatedState(current, options.runtimeName)
          : {
              exitCode: 137,
              reason: 'ContainerStatusUnknown',
              message: 'The container could not be located when the pod was terminated',
            },
    };
  }
  // lastState: the previous instance, or this one when the current state is a waiting
  // reason over an exited container (CrashLoopBackOff shows the last termination).
  if (status.state.waiting && current?.state === 'CONTAINER_EXITED') {
    status.lastState = { terminated: terminatedState(current, options.runtimeName) };
  } else if (previous?.state === 'CONTAINER_EXITED') {
    status.lastState = { terminated: terminatedState(previous, options.runtimeName) };
  } else {
    status.lastState = {};
  }
  status.started = current?.state === 'CONTAINER_RUNNING';
  return status;
}

function condition(type: string, ok: boolean, reason?: string, nowIso?: string): k8s.PodCondition {
  return {
    type,
    status: ok ? 'True' : 'False',
    ...(!ok && reason ? { reason } : {}),
    ...(nowIso ? { lastTransitionTime: nowIso } : {}),
  };
}

/**
 * Builds the API `PodStatus` from the runtime's view (kubelet
 * `generateAPIPodStatus`): phase, conditions, IPs, QoS class and container statuses
 * with their states and reasons. `ready`/`started` are filled in afterwards by the
 * probe manager (`updatePodStatus`); {@link applyReadiness} then sets the
 * ContainersReady and Ready conditions.
 */
export function generatePodStatus(
  pod: k8s.Pod,
  runtime: RuntimePodStatus,
  options: GeneratePodStatusOptions,
): k8s.PodStatus {
  const spec = pod.spec ?? { containers: [] };
  let phase = computePodPhase(pod, runtime, options.podIsTerminal === true);
  // A terminated (non-static) pod always ends in a terminal phase (kubelet, since 1.27).
  if (options.podIsTerminal && !isStaticPod(pod) && phase !== 'Succeeded' && phase !== 'Failed')
    phase = 'Failed';
  const initDone =
    (spec.initContainers ?? []).every((c) => {
      if (isSidecar(c)) return latestStatus(runtime, c.name)?.state === 'CONTAINER_RUNNING';
      const s = latestStatus(runtime, c.name);
      return s?.state === 'CONTAINER_EXITED' && s.exitCode === 0;
    }) || spec.containers.some((c) => latestStatus(runtime, c.name) !== undefined);
  const sandboxReady = runtime.sandboxStatuses.some((s) => s.state === 'SANDBOX_READY');
  const status: k8s.PodStatus = {
    phase,
    conditions: [
      condition('PodReadyToStartContainers', sandboxReady),
      condition('Initialized', initDone, 'ContainersNotInitialized'),
      condition('ContainersReady', false, 'ContainersNotReady'),
      condition('Ready', false, 'ContainersNotReady'),
      condition('PodScheduled', true),
    ],
    initContainerStatuses: (spec.initContainers ?? []).map((c) =>
      containerStatus(c, runtime, options, 'PodInitializing'),
    ),
    containerStatuses: spec.containers.map((c) =>
      containerStatus(c, runtime, options, initDone ? 'ContainerCreating' : 'PodInitializing'),
    ),
  };
  const ephemeral = spec.ephemeralContainers ?? [];
  if (ephemeral.length > 0) {
    // kubelet convertToAPIContainerStatuses for ephemeral containers: never ready, no
    // startup probe (no `started`); PodInitializing by default when the pod has init containers.
    const defaultWaiting =
      (spec.initContainers ?? []).length > 0 ? 'PodInitializing' : 'ContainerCreating';
    status.ephemeralContainerStatuses = ephemeral.map((c) => {
      const { started: _started, ...rest } = containerStatus(c, runtime, options, defaultWaiting);
      return rest;
    });
  }
  if (options.qosClass) status.qosClass = options.qosClass;
  if (options.hostIp) {
    status.hostIP = options.hostIp;
    status.hostIPs = [{ ip: options.hostIp }];
  }
  const podIps = spec.hostNetwork && options.hostIp ? [options.hostIp] : runtime.ips;
  if (podIps[0] !== undefined) {
    status.podIP = podIps[0];
    status.podIPs = podIps.map((ip) => ({ ip }));
  }
  if (options.startTime) status.startTime = options.startTime;
  return status;
}

/**
 * Sets the ContainersReady and Ready conditions from the containers' `ready` flags
 * (kubelet `GeneratePodReadyCondition`): ready when every app container is ready and
 * the pod is not terminal.
 */
export function applyReadiness(pod: k8s.Pod, status: k8s.PodStatus): k8s.PodStatus {
  const statuses = status.containerStatuses ?? [];
  const notReady = statuses.filter((c) => !c.ready).map((c) => c.name);
  const sidecarsNotReady = (status.initContainerStatuses ?? []).filter((c, i) => {
    const spec = pod.spec?.initContainers?.[i];
    return spec !== undefined && isSidecar(spec) && !c.ready;
  });
  const terminal = status.phase === 'Succeeded' || status.phase === 'Failed';
  const ready =
    !terminal && notReady.length === 0 && sidecarsNotReady.length === 0 && statuses.length > 0;
  const message =
    notReady.length > 0 ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  const reason = terminal ? 'PodCompleted' : 'ContainersNotReady';
  const conditions = (status.conditions ?? []).map((c) =>
    c.type === 'ContainersReady' || c.type === 'Ready'
      ? {
          type: c.type,
          status: ready ? ('True' as const) : ('False' as const),
          ...(ready ? {} : { reason, ...(message ? { message } : {}) }),
        }
      : c,
  );
  return { ...status, conditions };
}
