/**
 * The kubelet's PodResources API (`ListenAndServePodResources`): @nodeagent/pod-resources
 * served on `<root-dir>/pod-resources/kubelet.sock`, fed with the pod lifecycle's
 * active pods. The kubelet has no configuration field to turn it off, and neither
 * does the agent; the feature gate `KubeletPodResourcesGet` is at its default (on).
 */
import { resolveToken, type Logger } from '@nodeagent/core';
import { PodLifecycleToken } from '@nodeagent/pod-lifecycle';
import {
  PodResourcesServerToken,
  activePodsOf,
  podResourcesSocketPath,
  registerPodResourcesServer,
} from '@nodeagent/pod-resources';
import type { DependencyContainer } from 'tsyringe';
import type { AgentComponent } from './agent.js';
import type { AgentConfig } from './config/agent-config.js';

/**
 * Registers the PodResources server and returns its component. It starts after
 * pod-lifecycle (the pods come from it) and, like every component, stops before it.
 */
export function registerPodResourcesApi(
  container: DependencyContainer,
  config: AgentConfig,
  logger: Logger,
): AgentComponent[] {
  // Resolved per call: pod-lifecycle is registered in its own component's start.
  const lifecycle = () => resolveToken(container, PodLifecycleToken);
  registerPodResourcesServer(container, {
    socketPath: podResourcesSocketPath(config.rootDir),
    // kubelet GetActivePods: terminated workers and finished pods are not listed.
    activePods: () => activePodsOf(lifecycle().pods()),
    // kubelet GetPodByName: any pod the pod manager holds (mirror pods excluded),
    // finished ones included until they are removed.
    getPodByName: (namespace, name) =>
      lifecycle()
        .config.pods()
        .find((p) => p.metadata.namespace === namespace && p.metadata.name === name),
    logger: logger.child({ component: 'pod-resources' }),
  });
  return [
    {
      name: 'pod-resources',
      start: () => resolveToken(container, PodResourcesServerToken).start(),
      stop: () => resolveToken(container, PodResourcesServerToken).stop(),
    },
  ];
}
