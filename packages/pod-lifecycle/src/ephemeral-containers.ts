import type { RuntimePodStatus, cri, k8s } from '@nodeagent/core';
import { latestStatus } from './pod-phase.js';

/**
 * Ephemeral containers (`kubectl debug`): debugging containers added to a running pod
 * through the `pods/<name>/ephemeralcontainers` subresource. The kubelet starts each
 * one once (kuberuntime `computePodActions` → `EphemeralContainersToStart`), never
 * restarts it, gives it no probes, ports or resources, leaves it out of the pod's
 * phase and readiness, and kills it with the pod.
 */

/** Thrown when an ephemeral container's `targetContainerName` has no container in the runtime. */
export class EphemeralTargetNotFoundError extends Error {
  constructor(
    /** The ephemeral container. */
    readonly container: string,
    /** The missing target container. */
    readonly target: string,
  ) {
    super(`cannot find target container "${target}"`);
    this.name = 'EphemeralTargetNotFoundError';
  }
}

/** The pod's ephemeral containers (`spec.ephemeralContainers`), empty when it has none. */
export function ephemeralContainersOf(pod: k8s.Pod): readonly k8s.EphemeralContainer[] {
  return pod.spec?.ephemeralContainers ?? [];
}

/** Whether `container` is one of the pod's ephemeral containers (the same spec object, or by name). */
export function isEphemeralContainer(
  pod: k8s.Pod,
  container: k8s.Container,
): container is k8s.EphemeralContainer {
  return ephemeralContainersOf(pod).some((c) => c === container || c.name === container.name);
}

/**
 * The ephemeral containers a sync must start (kubelet `computePodActions`): those the
 * runtime has never seen an instance of. One that ran and exited is never started
 * again, whatever the pod's restart policy; none starts once the pod is being deleted
 * (the kubelet no longer runs `SyncPod` for a terminating pod).
 */
export function ephemeralContainersToStart(
  pod: k8s.Pod,
  status: RuntimePodStatus,
): k8s.EphemeralContainer[] {
  if (pod.metadata?.deletionTimestamp) return [];
  return ephemeralContainersOf(pod).filter((c) => latestStatus(status, c.name) === undefined);
}

/**
 * The runtime ID of the container an ephemeral container targets (kubelet
 * `startSpec.getTargetID`): the newest instance of `targetContainerName`; undefined when
 * it names none.
 * @throws EphemeralTargetNotFoundError when the runtime has no instance of the target
 *   (the kubelet reports this as CreateContainerConfigError and tries again next sync).
 */
export function ephemeralTargetId(
  container: k8s.EphemeralContainer,
  status: RuntimePodStatus,
): string | undefined {
  const target = container.targetContainerName;
  if (target === undefined || target === '') return undefined;
  const found = latestStatus(status, target);
  if (!found) throw new EphemeralTargetNotFoundError(container.name, target);
  return found.id;
}

/**
 * Puts an ephemeral container into its target's PID namespace (kubelet
 * `generateLinuxContainerConfig`): when the pod's PID mode is per-container
 * (`CONTAINER`, i.e. neither `hostPID` nor `shareProcessNamespace`), the container's
 * `NamespaceOption.pid` becomes `TARGET` with `targetId`; otherwise the config is
 * returned unchanged (the pod's shared or host namespace already holds the target).
 */
export function withTargetPidNamespace(
  config: cri.ContainerConfigInput,
  targetId: string | undefined,
): cri.ContainerConfigInput {
  if (targetId === undefined) return config;
  const securityContext = config.linux?.securityContext;
  const namespaces = securityContext?.namespaceOptions;
  if (!namespaces || (namespaces.pid ?? 'POD') !== 'CONTAINER') return config;
  return {
    ...config,
    linux: {
      ...config.linux,
      securityContext: {
        ...securityContext,
        namespaceOptions: { ...namespaces, pid: 'TARGET', targetId },
      },
    },
  };
}

/** The event field path of a container: `spec.ephemeralContainers{name}`, `spec.initContainers{name}` or `spec.containers{name}`. */
export function containerEventFieldPath(pod: k8s.Pod, name: string): string {
  if (ephemeralContainersOf(pod).some((c) => c.name === name))
    return `spec.ephemeralContainers{${name}}`;
  if ((pod.spec?.initContainers ?? []).some((c) => c.name === name))
    return `spec.initContainers{${name}}`;
  return `spec.containers{${name}}`;
}
