import {
  isPodConditionByKubelet,
  type RuntimeContainerStatus,
  type RuntimePodStatus,
  type k8s,
} from '@nodeagent/core';
import {
  computePodPhase,
  isSidecar,
  isStaticPod,
  latestStatus,
  shouldContainerBeRestarted,
} from './pod-phase.js';

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
   * The pod worker has finished terminating the pod (kubelet `podIsTerminal` plus the
   * status manager's `TerminatePod`): the phase becomes Succeeded or Failed, and every
   * container that started (or, once the pod initialized, every app container) gets a
   * terminated state; containers that never started keep Waiting.
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

/** kubelet `ContainerReasonStatusUnknown`: a container of a terminated pod that has no terminated state. */
function unknownTerminatedState(): k8s.ContainerStateTerminated {
  return {
    exitCode: 137,
    reason: 'ContainerStatusUnknown',
    message: 'The container could not be located when the pod was terminated',
  };
}

/** A container's API status and the runtime instances it was made from. */
interface BuiltStatus {
  status: k8s.ContainerStatus;
  current: RuntimeContainerStatus | undefined;
  previous: RuntimeContainerStatus | undefined;
}

function containerStatus(
  pod: k8s.Pod,
  container: k8s.Container,
  runtime: RuntimePodStatus,
  options: GeneratePodStatusOptions,
  defaultWaiting: string,
): BuiltStatus {
  const all = runtime.containerStatuses
    .filter((c) => c.name === container.name)
    .sort((a, b) => b.createdAtMs - a.createdAtMs);
  const current = all[0];
  const previous = all[1];
  const waiting = options.waiting?.get(container.name);
  const status: k8s.ContainerStatus = {
    name: container.name,
    // kubelet convertContainerStatus: the image of the runtime's container, so a container
    // still running after an image update shows the image it runs; the spec's until then
    image: current?.image || (container.image ?? ''),
    imageID: current?.imageRef ?? '',
    ready: false,
    restartCount: current?.restartCount ?? 0,
    state: {},
  };
  if (current) status.containerID = `${options.runtimeName}://${current.id}`;
  // kubelet convertToAPIContainerStatuses: the reason of the last failed start is shown
  // (Waiting) only for a container that will be started again (ShouldContainerBeRestarted);
  // an exited container that will not restart stays Terminated.
  const showWaiting =
    waiting !== undefined &&
    (!current ||
      (current.state !== 'CONTAINER_CREATED' &&
        (current.state !== 'CONTAINER_EXITED' ||
          shouldContainerBeRestarted(container, pod, current))));
  if (current?.state === 'CONTAINER_RUNNING') {
    status.state = {
      running: { startedAt: iso(current.startedAtMs) ?? new Date(0).toISOString() },
    };
  } else if (showWaiting) {
    status.state = { waiting: { reason: waiting.reason, message: waiting.message } };
  } else if (current?.state === 'CONTAINER_EXITED') {
    status.state = { terminated: terminatedState(current, options.runtimeName) };
  } else {
    status.state = { waiting: { reason: defaultWaiting } };
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
  return { status, current, previous };
}

/**
 * Gives a container of a terminated pod a terminated state (kubelet status manager
 * `TerminatePod`): its last instance's when it exited, `ContainerStatusUnknown` (137)
 * otherwise.
 */
function terminateContainerStatus(built: BuiltStatus, runtimeName: string): void {
  const { status, current, previous } = built;
  if (status.state?.terminated) return;
  if (current?.state === 'CONTAINER_EXITED') {
    status.state = { terminated: terminatedState(current, runtimeName) };
    status.lastState =
      previous?.state === 'CONTAINER_EXITED'
        ? { terminated: terminatedState(previous, runtimeName) }
        : {};
    return;
  }
  status.state = { terminated: unknownTerminatedState() };
}

/**
 * kubelet `hasPodInitialized`: no init containers, an app container that ever left
 * Waiting, or a last init container that completed with exit code 0.
 */
function hasPodInitialized(
  pod: k8s.Pod,
  initStatuses: readonly k8s.ContainerStatus[],
  appStatuses: readonly k8s.ContainerStatus[],
): boolean {
  if ((pod.spec?.initContainers ?? []).length === 0) return true;
  if (appStatuses.some((s) => s.lastState?.terminated || s.state?.waiting === undefined))
    return true;
  const last = initStatuses.at(-1);
  return last?.state?.terminated?.exitCode === 0 || last?.lastState?.terminated?.exitCode === 0;
}

/**
 * The container statuses of a terminated pod (kubelet `TerminatePod`): once the pod
 * has initialized, every app container is terminated; init containers are terminated
 * up to the last one that ever started, later ones (never started) keep Waiting, and
 * so do the app containers of a pod that never initialized — it never reports a
 * container start that did not happen.
 */
function terminateStatuses(
  pod: k8s.Pod,
  init: BuiltStatus[],
  app: BuiltStatus[],
  runtimeName: string,
): void {
  const initialized = hasPodInitialized(
    pod,
    init.map((b) => b.status),
    app.map((b) => b.status),
  );
  if (initialized) for (const b of app) terminateContainerStatus(b, runtimeName);
  let lastStarted = -1;
  for (let i = init.length - 1; i >= 0; i--) {
    const s = init[i]?.status;
    if (s && (s.state?.waiting === undefined || s.lastState?.terminated)) {
      lastStarted = i;
      break;
    }
  }
  for (let i = 0; i <= lastStarted; i++) {
    const b = init[i];
    if (b) terminateContainerStatus(b, runtimeName);
  }
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
 * Whether an init container counts as initialized, from the runtime's view (kubelet
 * `isInitContainerInitialized`): a regular one exited 0, a sidecar is running.
 */
function initContainerComplete(c: k8s.Container, runtime: RuntimePodStatus): boolean {
  const s = latestStatus(runtime, c.name);
  if (isSidecar(c)) return s?.state === 'CONTAINER_RUNNING';
  return s?.state === 'CONTAINER_EXITED' && s.exitCode === 0;
}

/**
 * The Initialized condition (kubelet `GeneratePodInitializedCondition`): True with
 * reason PodCompleted for a Succeeded pod, True once initialized (or once an app
 * container ran), else False / ContainersNotInitialized with the message
 * `containers with incomplete status: [a b]` naming the init containers not done.
 */
function initializedCondition(
  spec: k8s.PodSpec,
  runtime: RuntimePodStatus,
  phase: k8s.PodPhase,
  initDone: boolean,
): k8s.PodCondition {
  if (phase === 'Succeeded') return { type: 'Initialized', status: 'True', reason: 'PodCompleted' };
  if (initDone) return { type: 'Initialized', status: 'True' };
  const incomplete = (spec.initContainers ?? [])
    .filter((c) => !initContainerComplete(c, runtime))
    .map((c) => c.name);
  return {
    type: 'Initialized',
    status: 'False',
    reason: 'ContainersNotInitialized',
    ...(incomplete.length > 0
      ? { message: `containers with incomplete status: [${incomplete.join(' ')}]` }
      : {}),
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
    (spec.initContainers ?? []).every((c) => initContainerComplete(c, runtime)) ||
    spec.containers.some((c) => latestStatus(runtime, c.name) !== undefined);
  const sandboxReady = runtime.sandboxStatuses.some((s) => s.state === 'SANDBOX_READY');
  const init = (spec.initContainers ?? []).map((c) =>
    containerStatus(pod, c, runtime, options, 'PodInitializing'),
  );
  const app = spec.containers.map((c) =>
    containerStatus(pod, c, runtime, options, initDone ? 'ContainerCreating' : 'PodInitializing'),
  );
  if (options.podIsTerminal) terminateStatuses(pod, init, app, options.runtimeName);
  const status: k8s.PodStatus = {
    phase,
    conditions: [
      condition('PodReadyToStartContainers', sandboxReady),
      initializedCondition(spec, runtime, phase, initDone),
      condition('ContainersReady', false, 'ContainersNotReady'),
      condition('Ready', false, 'ContainersNotReady'),
      condition('PodScheduled', true),
    ],
    initContainerStatuses: init.map((b) => b.status),
    containerStatuses: app.map((b) => b.status),
  };
  const ephemeral = spec.ephemeralContainers ?? [];
  if (ephemeral.length > 0) {
    // kubelet convertToAPIContainerStatuses for ephemeral containers: never ready, no
    // startup probe (no `started`); PodInitializing by default when the pod has init containers.
    const defaultWaiting =
      (spec.initContainers ?? []).length > 0 ? 'PodInitializing' : 'ContainerCreating';
    status.ephemeralContainerStatuses = ephemeral.map((c) => {
      const { started: _started, ...rest } = containerStatus(
        pod,
        c,
        runtime,
        options,
        defaultWaiting,
      ).status;
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
 * Why the pod's readiness gates hold it back (kubelet `GeneratePodReadyCondition`): one
 * message per gate whose condition is missing from `conditions` or not True, in spec
 * order; empty when every gate is satisfied.
 */
export function readinessGateMessages(
  pod: k8s.Pod,
  conditions: readonly k8s.PodCondition[],
): string[] {
  const messages: string[] = [];
  for (const gate of pod.spec?.readinessGates ?? []) {
    const c = conditions.find((x) => x.type === gate.conditionType);
    if (c === undefined)
      messages.push(
        `corresponding condition of pod readiness gate "${gate.conditionType}" does not exist.`,
      );
    else if (c.status !== 'True')
      messages.push(
        `the status of pod readiness gate "${gate.conditionType}" is not "True", but ${c.status}`,
      );
  }
  return messages;
}

/**
 * Sets the ContainersReady and Ready conditions from the containers' `ready` flags
 * (kubelet `GenerateContainersReadyCondition` / `GeneratePodReadyCondition`): ready
 * when every sidecar and app container is ready; otherwise ContainersNotReady with
 * `containers with unready status: [sidecars… apps…]`. A terminal pod is never ready:
 * reason PodCompleted (Succeeded) or PodFailed (Failed), no message. With containers
 * ready, Ready also needs every readiness gate's condition True on the pod as the API
 * server has it (`pod.status.conditions`); else Ready is False with reason
 * ReadinessGatesNotReady and the gates' messages joined by ", ".
 */
export function applyReadiness(pod: k8s.Pod, status: k8s.PodStatus): k8s.PodStatus {
  const statuses = status.containerStatuses ?? [];
  const sidecarsNotReady = (status.initContainerStatuses ?? []).filter((c) => {
    const spec = pod.spec?.initContainers?.find((s) => s.name === c.name);
    return spec !== undefined && isSidecar(spec) && !c.ready;
  });
  const notReady = [...sidecarsNotReady, ...statuses.filter((c) => !c.ready)].map((c) => c.name);
  const terminal = status.phase === 'Succeeded' || status.phase === 'Failed';
  const containersReady = !terminal && notReady.length === 0 && statuses.length > 0;
  const reason = terminal
    ? status.phase === 'Succeeded'
      ? 'PodCompleted'
      : 'PodFailed'
    : 'ContainersNotReady';
  const message =
    !terminal && notReady.length > 0
      ? `containers with unready status: [${notReady.join(' ')}]`
      : undefined;
  const gates = containersReady ? readinessGateMessages(pod, pod.status?.conditions ?? []) : [];
  const conditions = (status.conditions ?? []).map((c): k8s.PodCondition => {
    if (c.type !== 'ContainersReady' && c.type !== 'Ready') return c;
    if (!containersReady)
      return { type: c.type, status: 'False', reason, ...(message ? { message } : {}) };
    if (c.type === 'Ready' && gates.length > 0)
      return {
        type: 'Ready',
        status: 'False',
        reason: 'ReadinessGatesNotReady',
        message: gates.join(', '),
      };
    return { type: c.type, status: 'True' };
  });
  return { ...status, conditions };
}

/**
 * Whether the Ready condition the API server has for a pod with readiness gates is no
 * longer what its gates say (kubelet `NeedToReconcilePodReadiness`): a gate's condition
 * was changed by another controller, so the agent must publish Ready again.
 */
export function needToReconcilePodReadiness(pod: k8s.Pod): boolean {
  if ((pod.spec?.readinessGates ?? []).length === 0) return false;
  const conditions = pod.status?.conditions ?? [];
  const current = conditions.find((c) => c.type === 'Ready');
  if (current === undefined) return false;
  const containersReady = conditions.find((c) => c.type === 'ContainersReady');
  if (containersReady?.status !== 'True') return false;
  const gates = readinessGateMessages(pod, conditions);
  const want = gates.length === 0 ? 'True' : 'False';
  return current.status !== want || (current.message ?? '') !== gates.join(', ');
}

/**
 * Stamps the pod's `metadata.generation` on its status and on the conditions the agent
 * sets — the kubelet-owned ones and DisruptionTarget (kubelet
 * `CalculatePodStatusObservedGeneration` / `CalculatePodConditionObservedGeneration`,
 * PodObservedGenerationTracking, on by default since 1.34). A pod without a generation
 * (a static pod) gets none. The input is not modified.
 */
export function withObservedGeneration(pod: k8s.Pod, status: k8s.PodStatus): k8s.PodStatus {
  const generation = pod.metadata?.generation;
  if (typeof generation !== 'number' || generation <= 0) return status;
  return {
    ...status,
    observedGeneration: generation,
    ...(status.conditions
      ? {
          conditions: status.conditions.map((c) =>
            isPodConditionByKubelet(c.type) || c.type === 'DisruptionTarget'
              ? { ...c, observedGeneration: generation }
              : c,
          ),
        }
      : {}),
  };
}
