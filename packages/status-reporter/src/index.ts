/**
 * @nodeagent/status-reporter — reports the node agent's state to the API server.
 */
export {};

// Node registration and status, node Lease, machine info (kubelet kubelet_node_status.go,
// pkg/kubelet/nodestatus, pkg/kubelet/nodelease).
export {
  NodeStatusManager,
  NodeStatusManagerToken,
  NodeLabel,
  controllerManagedAttachDetachAnnotation,
  createNodeStatusManager,
  defaultKubeletPort,
  defaultMaxPods,
  defaultNodeStatusMaxImages,
  defaultNodeStatusReportFrequencyMs,
  defaultNodeStatusUpdateFrequencyMs,
  nodeStatusJitterFactor,
  nodeStatusUpdateRetry,
  reconcileMetadata,
  registrationInitialBackoffMs,
  registrationMaxBackoffMs,
} from './node-status-manager.js';
export type { NodeReadyListener, NodeStatusManagerOptions } from './node-status-manager.js';
export {
  buildNodeStatus,
  defaultEvictionHard,
  hugePageResourceName,
  maxNamesPerImageInNodeStatus,
  nodeAddresses,
  nodeAllocatable,
  nodeCapacity,
  nodeConditions,
  nodeImages,
  nodeSystemInfo,
} from './node-status-setters.js';
export type {
  NodeConditionInputs,
  NodeInfoInputs,
  NodeStatusInputs,
} from './node-status-setters.js';
export { nodeConditionsChanged, nodeStatusChanged, nodeStatusPatch } from './node-status-patch.js';
export {
  NodeRuntimeState,
  aggregateMessage,
  defaultRuntimeDownThresholdMs,
  defaultRuntimeSyncPeriodMs,
} from './node-runtime-state.js';
export type { NodeRuntimeStateOptions } from './node-runtime-state.js';
export {
  formatBinaryBytes,
  formatDecimalMilli,
  formatQuantity,
  resourceListsEqual,
  subtractClamped,
} from './node-quantity.js';
export { formatMicroTime, formatTime, toApiJson } from './node-api.js';
export type * from './node-types.js';
export {
  NodeLeaseController,
  NodeLeaseControllerToken,
  createNodeLeaseController,
  defaultNodeLeaseDurationSeconds,
  leaseMaxBackoffMs,
  leaseMaxUpdateRetries,
  nodeLeaseNamespace,
  nodeLeaseRenewIntervalFraction,
} from './lease-controller.js';
export type { NodeLeaseControllerOptions } from './lease-controller.js';
export {
  HostMachineInfoProvider,
  MachineInfoProvider,
  createHostMachineInfoProvider,
  goArch,
  goOs,
  parseDefaultRouteInterface,
  parseMemTotal,
  parseOsRelease,
} from './machine-info.js';
export type { HostMachineInfoOptions, HugePages, MachineInfo } from './machine-info.js';
export { registerStatusReporter } from './register.js';
export type { StatusReporterOptions } from './register.js';

// Pod status manager and mirror pods (kubelet pkg/kubelet/status, pkg/kubelet/pod/mirror_client.go).
export {
  ApiPodStatusManager,
  createApiPodStatusManager,
  defaultPodStatusBackoffInitialMs,
  defaultPodStatusBackoffMaxMs,
  defaultPodStatusUpdateDelayMs,
  podStatusSyncPeriodMs,
} from './pod-status-manager.js';
export type { ApiPodStatusManagerOptions } from './pod-status-manager.js';
export {
  canonicalJson,
  isPodStatusByKubeletEqual,
  mergePodStatus,
  normalizePodStatus,
  normalizeTimestamp,
  podConditionsByKubelet,
  terminatedPodStatus,
  toK8sJson,
} from './pod-status-normalize.js';
export { podStatusPatch, podStatusMergeKeys } from './pod-status-patch.js';
export type { PodStatusPatch } from './pod-status-patch.js';
export {
  ApiMirrorClient,
  createApiMirrorClient,
  mirrorPodOf,
  parsePodFullName,
  podFullName,
} from './mirror-client.js';
export type { ApiMirrorClientOptions } from './mirror-client.js';
export { registerPodStatusReporting } from './pod-status-register.js';
export type { PodStatusReportingOptions } from './pod-status-register.js';
