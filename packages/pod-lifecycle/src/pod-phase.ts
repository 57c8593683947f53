import type { RuntimeContainerStatus, RuntimePodStatus, k8s } from '@nodeagent/core';

/** Init containers with `restartPolicy: Always` are sidecars (kubelet `IsRestartableInitContainer`). */
export function isSidecar(container: k8s.Container): boolean {
  return container.restartPolicy === 'Always';
}

/** The pod's restart policy, `Always` when unset. */
export function restartPolicy(pod: k8s.Pod): k8s.RestartPolicy {
  return pod.spec?.restartPolicy ?? 'Always';
}

/** The newest runtime status of a named container (statuses are newest first). */
export function latestStatus(
  status: RuntimePodStatus,
  name: string,
): RuntimeContainerStatus | undefined {
  let best: RuntimeContainerStatus | undefined;
  for (const c of status.containerStatuses) {
    if (c.name !== name) continue;
    if (!best || c.createdAtMs > best.createdAtMs) best = c;
  }
  return best;
}

/**
 * Whether a container that is not running should be started again (kubelet
 * `ShouldContainerBeRestarted`): never started → yes; `Never` → no; `OnFailure` →
 * only after a non-zero exit; `Always` → yes.
 */
export function shouldContainerBeRestarted(
  container: k8s.Container,
  pod: k8s.Pod,
  status: RuntimeContainerStatus | undefined,
): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (!status) return true;
  if (status.state === 'CONTAINER_RUNNING') return false;
  if (status.state === 'CONTAINER_UNKNOWN' || status.state === 'CONTAINER_CREATED') return true;
  const policy = isSidecar(container) ? 'Always' : restartPolicy(pod);
  if (policy === 'Never') return false;
  if (policy === 'OnFailure') return status.exitCode !== 0;
  return true;
}

/**
 * The pod phase from the runtime's view (kubelet `getPhase`): Pending until init
 * containers are done and an app container has run; Running while one runs or will
 * be restarted; Succeeded when all exited 0 and none will restart; Failed when all
 * stopped and one failed without a restart coming.
 */
/** Whether the pod comes from a static source (file or URL) rather than the API server. */
export function isStaticPod(pod: k8s.Pod): boolean {
  const source = pod.metadata?.annotations?.['kubernetes.io/config.source'];
  return source !== undefined && source !== 'api';
}

/** Whether the pod is an API server's mirror of a static pod (annotation `kubernetes.io/config.mirror`). */
export function isMirrorPod(pod: k8s.Pod): boolean {
  return pod.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined;
}

export function computePodPhase(
  pod: k8s.Pod,
  status: RuntimePodStatus,
  podIsTerminal = false,
): k8s.PodPhase {
  const spec = pod.spec;
  if (!spec) return 'Pending';
  const policy = restartPolicy(pod);
  // Init containers (sidecars excluded) must have completed.
  for (const init of spec.initContainers ?? []) {
    if (isSidecar(init)) continue;
    const s = latestStatus(status, init.name);
    const appStarted = spec.containers.some((c) => latestStatus(status, c.name) !== undefined);
    if (appStarted) break;
    if (!s || s.state !== 'CONTAINER_EXITED') return 'Pending';
    if (s.exitCode !== 0) return policy === 'Never' ? 'Failed' : 'Pending';
  }
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of spec.containers) {
    const s = latestStatus(status, c.name);
    if (!s || (podIsTerminal && s.state === 'CONTAINER_CREATED')) {
      // Never ran: a terminal pod reports it terminated with an unknown status (137).
      if (podIsTerminal) stopped++;
      else waiting++;
      continue;
    }
    switch (s.state) {
      case 'CONTAINER_RUNNING':
        running++;
        break;
      case 'CONTAINER_EXITED':
        stopped++;
        if (s.exitCode === 0) succeeded++;
        break;
      case 'CONTAINER_CREATED':
        waiting++;
        break;
      default:
        unknown++;
    }
  }
  if (waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    // A pod the agent has finished terminating (deleted, evicted) is terminal whatever
    // its restart policy; static pods excepted, as in the kubelet.
    if (podIsTerminal && !isStaticPod(pod)) return stopped === succeeded ? 'Succeeded' : 'Failed';
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'OnFailure') return 'Running';
    return 'Failed';
  }
  if (unknown > 0 && running === 0 && stopped === 0) return 'Unknown';
  return 'Running';
}
