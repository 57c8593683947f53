import type { k8s } from '@nodeagent/core';

/*
 * JSON shapes of the core/v1 Node and coordination.k8s.io/v1 Lease, as the API server
 * sends them (timestamps as RFC 3339 strings). core's `k8s` types have no Node or
 * Lease yet; these are the subset the node status manager and lease controller read
 * and write. (Candidates for `@nodeagent/core` `k8s` — see the package README.)
 */

/** A node taint (`spec.taints[]`). */
export interface Taint {
  key: string;
  value?: string;
  /** `NoSchedule`, `PreferNoSchedule` or `NoExecute`. */
  effect: string;
  timeAdded?: k8s.Time;
}

/** `spec` of a Node. */
export interface NodeSpec {
  podCIDR?: string;
  podCIDRs?: string[];
  providerID?: string;
  unschedulable?: boolean;
  taints?: Taint[];
}

/** One node condition (`status.conditions[]`): Ready, MemoryPressure, DiskPressure, PIDPressure… */
export interface NodeCondition {
  type: string;
  status: k8s.ConditionStatus;
  /** When the kubelet last reported the condition. */
  lastHeartbeatTime?: k8s.Time;
  /** When `status` last changed. */
  lastTransitionTime?: k8s.Time;
  reason?: string;
  message?: string;
}

/** An address of the node: `InternalIP`, `ExternalIP`, `Hostname`, … */
export interface NodeAddress {
  type: string;
  address: string;
}

/** `status.nodeInfo` (NodeSystemInfo). */
export interface NodeSystemInfo {
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  /** `<runtime name>://<runtime version>`, e.g. `containerd://1.6.20`. */
  containerRuntimeVersion: string;
  kubeletVersion: string;
  kubeProxyVersion?: string;
  operatingSystem: string;
  architecture: string;
}

/** One image on the node (`status.images[]`). */
export interface ContainerImage {
  names?: string[];
  sizeBytes?: number;
}

/** `status.daemonEndpoints`. */
export interface NodeDaemonEndpoints {
  kubeletEndpoint?: { Port: number };
}

/** `status` of a Node. */
export interface NodeStatus {
  capacity?: k8s.ResourceList;
  allocatable?: k8s.ResourceList;
  phase?: string;
  conditions?: NodeCondition[];
  addresses?: NodeAddress[];
  daemonEndpoints?: NodeDaemonEndpoints;
  nodeInfo?: NodeSystemInfo;
  images?: ContainerImage[];
  volumesInUse?: string[];
  volumesAttached?: Array<{ name: string; devicePath: string }>;
}

/** A core/v1 Node. */
export interface Node {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.ObjectMeta;
  spec?: NodeSpec;
  status?: NodeStatus;
}

/** `spec` of a coordination.k8s.io/v1 Lease. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime: RFC 3339 with six fractional digits, e.g. `2026-01-01T00:00:10.000000Z`. */
  acquireTime?: string;
  /** MicroTime of the last renewal. */
  renewTime?: string;
  leaseTransitions?: number;
}

/** A coordination.k8s.io/v1 Lease. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: k8s.ObjectMeta;
  spec?: LeaseSpec;
}
