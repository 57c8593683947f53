import type { RuntimeContainerStatus, RuntimePodStatus, cri } from '@nodeagent/core';

/** Label the kubelet puts on sandboxes and containers with the pod's UID. */
export const podUidLabel = 'io.kubernetes.pod.uid';
/** Annotation the kubelet puts on containers with the container's restart count. */
export const restartCountAnnotation = 'io.kubernetes.container.restartCount';
/** Annotation the kubelet puts on containers with the hash of the container spec. */
export const containerHashAnnotation = 'io.kubernetes.container.hash';

/** CRI times are nanoseconds since the epoch; the cache speaks milliseconds. */
export function nsToMs(ns: number): number {
  return ns > 0 ? Math.floor(ns / 1_000_000) : 0;
}

/** Pod UID of a sandbox: the `io.kubernetes.pod.uid` label, else `metadata.uid`. */
export function sandboxPodUid(sandbox: {
  labels: Record<string, string>;
  metadata: cri.PodSandboxMetadata | null;
}): string {
  return sandbox.labels[podUidLabel] || (sandbox.metadata?.uid ?? '');
}

/** A CRI ContainerStatus as the cache keeps it (kubelet `convertToKubeContainerStatus`). */
export function toRuntimeContainerStatus(
  status: cri.ContainerStatus,
  podSandboxId: string,
): RuntimeContainerStatus {
  const attempt = status.metadata?.attempt ?? 0;
  const restartAnnotation = Number.parseInt(status.annotations[restartCountAnnotation] ?? '', 10);
  return {
    id: status.id,
    podSandboxId,
    name: status.metadata?.name ?? '',
    state: status.state,
    createdAtMs: nsToMs(status.createdAt),
    startedAtMs: nsToMs(status.startedAt),
    finishedAtMs: nsToMs(status.finishedAt),
    exitCode: status.exitCode,
    reason: status.reason,
    message: status.message,
    // kubelet toKubeContainerStatus: the image as the user wrote it when the runtime says
    image: status.image?.userSpecifiedImage || status.image?.image || '',
    imageRef: status.imageRef,
    imageId: status.imageId,
    attempt,
    restartCount: Number.isNaN(restartAnnotation) ? attempt : restartAnnotation,
    hash: status.annotations[containerHashAnnotation] ?? '',
    labels: status.labels,
    annotations: status.annotations,
  };
}

/** IPs of the newest ready sandbox (kubelet `determinePodSandboxIPs`). */
function podIps(sandboxes: readonly cri.PodSandboxStatus[]): string[] {
  const ready = sandboxes.find((s) => s.state === 'SANDBOX_READY');
  const network = ready?.network;
  if (!network?.ip) return [];
  return [network.ip, ...network.additionalIps.map((ip) => ip.ip).filter((ip) => ip !== '')];
}

/**
 * Assembles a pod's status from its sandbox statuses and container statuses (kubelet
 * `GetPodStatus` / `GeneratePodStatus`): both lists sorted newest first.
 */
export function buildPodStatus(
  podUid: string,
  sandboxes: cri.PodSandboxStatus[],
  containers: RuntimeContainerStatus[],
  fallback: { name: string; namespace: string } = { name: '', namespace: '' },
): RuntimePodStatus {
  const sortedSandboxes = [...sandboxes].sort((a, b) => b.createdAt - a.createdAt);
  const newest = sortedSandboxes[0]?.metadata;
  return {
    id: podUid,
    name: newest?.name ?? fallback.name,
    namespace: newest?.namespace ?? fallback.namespace,
    ips: podIps(sortedSandboxes),
    sandboxStatuses: sortedSandboxes,
    containerStatuses: [...containers].sort((a, b) => b.createdAtMs - a.createdAtMs),
  };
}
