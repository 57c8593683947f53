import type { k8s } from '@nodeagent/core';
import type { ContainerResources, PodResources } from './generated/types.js';

/**
 * True for an init container that keeps running beside the app containers (a
 * sidecar: `restartPolicy: Always`), kubelet `podutil.IsRestartableInitContainer`.
 */
export function isRestartableInitContainer(container: k8s.Container): boolean {
  return container.restartPolicy === 'Always';
}

/**
 * What a container was given. nodeagent has no device plugins, CPU manager, memory
 * manager or DRA, so every list is empty, as a kubelet with those managers at their
 * `none` policies reports it.
 */
export function containerResourcesOf(container: k8s.Container): ContainerResources {
  return { name: container.name, devices: [], cpuIds: [], memory: [], dynamicResources: [] };
}

/**
 * A pod's entry in List and Get, as the kubelet's v1 server builds it: the restartable
 * init containers (sidecars) in spec order, then every app container in spec order.
 * Regular init containers and ephemeral containers are not listed.
 */
export function podResourcesOf(pod: k8s.Pod): PodResources {
  const containers: ContainerResources[] = [];
  for (const c of pod.spec.initContainers ?? []) {
    if (isRestartableInitContainer(c)) containers.push(containerResourcesOf(c));
  }
  for (const c of pod.spec.containers ?? []) containers.push(containerResourcesOf(c));
  return {
    name: pod.metadata.name ?? '',
    namespace: pod.metadata.namespace ?? '',
    containers,
    cpuIds: [],
    memory: [],
  };
}
