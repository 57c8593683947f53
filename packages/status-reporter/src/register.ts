import {
  Clock,
  ContainerRuntime,
  EventRecorder,
  ImageService,
  Logger,
  NodePressureProvider,
  PodLifecycleEventGenerator,
  Random,
  RealClock,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import { KubeApiClient, type KubeApi } from '@nodeagent/kube-client';
import {
  NodeLeaseController,
  NodeLeaseControllerToken,
  type NodeLeaseControllerOptions,
} from './lease-controller.js';
import { MachineInfoProvider, createHostMachineInfoProvider } from './machine-info.js';
import {
  registerPodStatusReporting,
  type PodStatusReportingOptions,
} from './pod-status-register.js';
import {
  NodeStatusManager,
  NodeStatusManagerToken,
  type NodeStatusManagerOptions,
} from './node-status-manager.js';

/** Options of {@link registerStatusReporter}. */
export interface StatusReporterOptions {
  /** The Node's name. */
  nodeName: string;
  /** The API connection; default the container's `KubeApiClient` (registered by `registerKubeClient`). */
  api?: KubeApi;
  /**
   * Node status options (everything but the collaborators, which come from the
   * container: `ContainerRuntime`, `ImageService`, `PodLifecycleEventGenerator`,
   * `NodePressureProvider`, `MachineInfoProvider`, `Clock`, `Random`, `Logger`,
   * `EventRecorder`).
   */
  nodeStatus?: Omit<
    Partial<NodeStatusManagerOptions>,
    'nodeName' | 'api' | 'runtime' | 'images' | 'clock' | 'logger' | 'random' | 'recorder'
  >;
  /** Node lease options (duration, renew interval). */
  lease?: Pick<NodeLeaseControllerOptions, 'leaseDurationSeconds' | 'renewIntervalMs'>;
  /** Pod status manager options (sync period, back-off). */
  podStatus?: Omit<PodStatusReportingOptions, 'api' | 'nodeName'>;
  /** The agent's root directory for `ephemeral-storage` capacity; default `/var/lib/kubelet`. */
  rootDir?: string;
}

/**
 * Registers the status reporter's parts as lazily created singletons:
 * `NodeStatusManagerToken` (node registration and status) and
 * `NodeLeaseControllerToken` (node Lease, owner reference from the status manager's
 * Node), core's `PodStatusManager` and `MirrorClient`, plus a host
 * `MachineInfoProvider` unless the container already has one.
 * The agent starts and stops them.
 */
export function registerStatusReporter(
  container: FactoryRegistry,
  options: StatusReporterOptions,
): void {
  const clockOf = (r: TokenResolver): Clock => resolveOptional(r, Clock) ?? new RealClock();
  const apiOf = (r: TokenResolver): KubeApi => options.api ?? r.resolve(KubeApiClient);

  let machineInfo: MachineInfoProvider | undefined;
  const machineInfoOf = (): MachineInfoProvider => {
    machineInfo ??=
      options.nodeStatus?.machineInfo ??
      createHostMachineInfoProvider(options.rootDir ? { rootDir: options.rootDir } : {});
    return machineInfo;
  };

  let nodeStatus: NodeStatusManager | undefined;
  const nodeStatusOf = (r: TokenResolver): NodeStatusManager => {
    if (!nodeStatus) {
      const logger = resolveOptional(r, Logger);
      const random = resolveOptional(r, Random);
      const recorder = resolveOptional(r, EventRecorder);
      const pleg = resolveOptional(r, PodLifecycleEventGenerator);
      const pressure = resolveOptional(r, NodePressureProvider);
      const registeredMachineInfo = resolveOptional(r, MachineInfoProvider);
      const runtime = r.resolve(ContainerRuntime);
      nodeStatus = new NodeStatusManager({
        ...options.nodeStatus,
        nodeName: options.nodeName,
        api: apiOf(r),
        runtime,
        images: resolveOptional(r, ImageService) ?? (runtime as unknown as ImageService),
        machineInfo: registeredMachineInfo ?? machineInfoOf(),
        clock: clockOf(r),
        ...(pleg ? { pleg } : {}),
        ...(pressure ? { pressure } : {}),
        ...(logger ? { logger } : {}),
        ...(random ? { random } : {}),
        ...(recorder ? { recorder } : {}),
      });
    }
    return nodeStatus;
  };

  let lease: NodeLeaseController | undefined;
  const leaseOf = (r: TokenResolver): NodeLeaseController => {
    if (!lease) {
      const logger = resolveOptional(r, Logger);
      const random = resolveOptional(r, Random);
      const status = nodeStatusOf(r);
      lease = new NodeLeaseController({
        ...options.lease,
        nodeName: options.nodeName,
        api: apiOf(r),
        clock: clockOf(r),
        nodeUid: () => status.node()?.metadata.uid,
        ...(logger ? { logger } : {}),
        ...(random ? { random } : {}),
      });
    }
    return lease;
  };

  container.register(NodeStatusManagerToken, { useFactory: nodeStatusOf });
  container.register(NodeLeaseControllerToken, { useFactory: leaseOf });

  // Pod status manager (PodStatusManager) and mirror client (MirrorClient).
  registerPodStatusReporting(container, {
    ...options.podStatus,
    nodeName: options.nodeName,
    api: options.api,
  });
}
