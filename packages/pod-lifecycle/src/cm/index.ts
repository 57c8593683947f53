/**
 * Pod-level cgroups (kubelet `pkg/kubelet/cm`): the QoS hierarchy under `kubepods`, one
 * cgroup per pod with the pod's limits, passed to the runtime as the cgroupParent.
 */
export {
  CgroupfsPodContainerManager,
  PodContainerManager,
  createPodContainerManager,
  podCgroupNamePrefix,
  qosHugePageLimitBytes,
  registerPodContainerManager,
} from './pod-container-manager.js';
export type {
  PodContainerManagerOptions,
  RegisterPodContainerManagerOptions,
} from './pod-container-manager.js';
export {
  CgroupfsManager,
  defaultCgroupMountRoot,
  detectCgroupLayout,
  removeRetryAttempts,
  removeRetryInitialDelayMs,
} from './cgroup-manager.js';
export type {
  CgroupHierarchy,
  CgroupLayout,
  CgroupVersion,
  CgroupfsManagerOptions,
} from './cgroup-manager.js';
export { hostCgroupFileSystem } from './cgroup-fs.js';
export type { CgroupFileSystem } from './cgroup-fs.js';
export {
  cpuSharesToCpuWeight,
  hugePageLimits,
  hugePageSizeName,
  hugePagesResourcePrefix,
  resourceConfigForPod,
} from './resource-config.js';
export type { PodResourceConfigOptions, ResourceConfig } from './resource-config.js';
