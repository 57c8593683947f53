/**
 * Pod admission for the agent (kubelet `admitHandlers`): node-pressure eviction, the
 * sysctl allow-list and the predicate checks (resources, node name, host ports,
 * node affinity, NoExecute taints, OS), in the kubelet's order.
 */
import {
  Clock,
  EventRecorder,
  MetricsRegistry,
  resolveOptional,
  resolveToken,
  type Logger,
  type TokenResolver,
} from '@nodeagent/core';
import {
  CriticalPodAdmissionHandler,
  EvictionManagerToken,
  PodLifecycleToken,
  PredicateAdmitHandler,
  preemptionMessage,
  SysctlAdmitHandler,
  type AdmissionNode,
  type PodAdmitHandler,
} from '@nodeagent/pod-lifecycle';
import {
  MachineInfoProvider,
  NodeStatusManagerToken,
  createHostMachineInfoProvider,
  goArch,
  nodeAllocatable,
  nodeCapacity,
  type MachineInfo,
} from '@nodeagent/status-reporter';
import type { AgentConfig } from './config/agent-config.js';
import { NodeListerToken } from './node-lister.js';

/**
 * The node as the agent would register it (kubelet `initialNode`): name, the
 * well-known labels plus `--node-labels`, `registerWithTaints`, and allocatable from
 * the machine's capacity minus kubeReserved, systemReserved and the hard eviction
 * thresholds. What admission uses until (or without) an API server's Node.
 */
export function localNode(config: AgentConfig, machine: MachineInfo): AdmissionNode {
  const kubelet = config.kubelet;
  const capacity = nodeCapacity(undefined, machine, kubelet.maxPods);
  return {
    metadata: {
      name: config.nodeName,
      labels: {
        'kubernetes.io/hostname': config.nodeName,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': goArch(),
        ...config.nodeLabels,
      },
    },
    spec: {
      taints: kubelet.registerWithTaints.map((t) => ({
        key: t.key,
        effect: t.effect,
        ...(t.value !== undefined ? { value: t.value } : {}),
      })),
    },
    status: {
      allocatable: nodeAllocatable(
        capacity,
        kubelet.kubeReserved,
        kubelet.systemReserved,
        kubelet.evictionHard,
      ),
    },
  };
}

/**
 * The API server's Node in API mode (kubelet `nodeLister.Get`): the node lister's
 * (watched, so label and taint changes are seen at once), else the one the node
 * status manager last read or wrote; undefined before either has it.
 */
function apiModeNode(r: TokenResolver): AdmissionNode | undefined {
  return (
    resolveOptional(r, NodeListerToken)?.node() ??
    resolveOptional(r, NodeStatusManagerToken)?.node()
  );
}

/**
 * The node as the kubelet's `getNodeAnyWay` returns it: the API server's Node once
 * registered (API mode), else {@link localNode}. Reads the machine's capacity once.
 * The pods' downward API reads its allocatable for unset limits.
 */
export async function createNodeGetter(
  r: TokenResolver,
  config: AgentConfig,
  options: { apiMode: boolean },
): Promise<() => AdmissionNode> {
  const provider =
    resolveOptional(r, MachineInfoProvider) ??
    createHostMachineInfoProvider({ rootDir: config.rootDir });
  const local = localNode(config, await provider.read());
  return () => (options.apiMode ? apiModeNode(r) : undefined) ?? local;
}

/**
 * Builds the admit handlers: eviction (refuses pods under node pressure, when the
 * eviction manager is registered), sysctls (`allowedUnsafeSysctls`), then the
 * predicates against the API server's Node once registered, else the local node, with
 * critical-pod preemption when a critical pod lacks only resources.
 * Reads the machine's capacity once.
 */
export async function createAdmitHandlers(
  r: TokenResolver,
  config: AgentConfig,
  options: { apiMode: boolean; logger: Logger },
): Promise<PodAdmitHandler[]> {
  const provider =
    resolveOptional(r, MachineInfoProvider) ??
    createHostMachineInfoProvider({ rootDir: config.rootDir });
  const local = localNode(config, await provider.read());
  const apiNode = (): AdmissionNode | undefined => {
    if (!options.apiMode) return undefined;
    return apiModeNode(r);
  };
  const handlers: PodAdmitHandler[] = [];
  const eviction = resolveOptional(r, EvictionManagerToken);
  if (eviction) {
    handlers.push({ name: 'eviction', admit: ({ pod }) => eviction.admitPod(pod) });
  }
  handlers.push(
    new SysctlAdmitHandler({ allowedUnsafeSysctls: config.kubelet.allowedUnsafeSysctls }),
  );
  // kubelet CriticalPodAdmissionHandler: a critical pod short of resources preempts
  // lower-priority pods (each stopped with its own grace period) and is admitted.
  const clock = resolveOptional(r, Clock);
  const recorder = resolveOptional(r, EventRecorder);
  const metrics = resolveOptional(r, MetricsRegistry);
  const preemption = new CriticalPodAdmissionHandler({
    killPod: (pod, status) => {
      void resolveToken(r, PodLifecycleToken).evictPod(pod, {
        gracePeriodSeconds: pod.spec?.terminationGracePeriodSeconds ?? 30,
        message: preemptionMessage,
        status,
      });
    },
    ...(recorder ? { recorder } : {}),
    ...(metrics ? { metrics } : {}),
    ...(clock ? { now: () => clock.now() } : {}),
  });
  handlers.push(
    new PredicateAdmitHandler({
      node: () => apiNode() ?? local,
      admissionFailureHandler: preemption,
    }),
  );
  options.logger.debug('Pod admission ready', {
    component: 'agent',
    handlers: handlers.map((h) => h.name),
    allocatable: local.status?.allocatable,
  });
  return handlers;
}
