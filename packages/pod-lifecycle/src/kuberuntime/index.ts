/**
 * The kubelet's kuberuntime builders: pure functions that turn a Pod into CRI v1
 * configs (sandbox and container), with the QoS, cgroup, resource, downward-API, DNS,
 * label/annotation and volume rules of pkg/kubelet/kuberuntime, qos, cm and
 * network/dns. Only `prepareHostPath` and `prepareTerminationMessageFile` touch the
 * filesystem.
 */
export {
  InvalidPodSpecError,
  UnsupportedInStandaloneError,
  UnsupportedVolumeSourceError,
} from './errors.js';
export { containerLimits, containerRequests, podLimits, podRequests } from './resource-lists.js';
export type { ParsedResourceList } from './resource-lists.js';
export {
  besteffortOOMScoreAdj,
  getContainerOOMScoreAdjust,
  getPodQOS,
  podQOSOrBestEffort,
  guaranteedOOMScoreAdj,
  isCriticalPod,
  isNodeCriticalPod,
  systemCriticalPriority,
} from './qos.js';
export type { PodQOSClass } from './qos.js';
export {
  kubepodsCgroupName,
  maxShares,
  milliCPUToQuota,
  milliCPUToShares,
  minQuotaPeriodUs,
  minShares,
  podCgroupName,
  qosCgroupName,
  quotaPeriodUs,
  sharesPerCPU,
} from './cgroups.js';
export type { CgroupDriver, CgroupNameOptions } from './cgroups.js';
export { linuxContainerResources, podSandboxResources } from './resources.js';
export type { LinuxResourcesOptions } from './resources.js';
export { expand, expandContainerCommandAndArgs, mappingFuncFor } from './expansion.js';
export type { EnvVarValue } from './expansion.js';
export {
  containerResourceFieldValue,
  downwardApiNodeAllocatable,
  envObjectReferences,
  fetchEnvObjects,
  isValidEnvVarName,
  makeEnvironmentVariables,
  podFieldSelectorValue,
  supportedEnvFieldPaths,
} from './env.js';
export type { DownwardApiContext, EnvObjectOptions, EnvObjectSource } from './env.js';
export {
  defaultDNSOptions,
  maxDNSNameservers,
  maxDNSSearchListChars,
  maxDNSSearchPaths,
  parseResolvConf,
  podDNSConfig,
  podDNSType,
} from './dns.js';
export type { DnsOptions, DnsSettings, PodDNSConfig } from './dns.js';
export { fnv32a, hashContainer } from './hash.js';
export {
  containerHashAnnotation,
  containerNameLabel,
  containerPortsAnnotation,
  containerPreStopHandlerAnnotation,
  containerRestartCountAnnotation,
  containerTerminationMessagePathAnnotation,
  containerTerminationMessagePolicyAnnotation,
  containerTypeAnnotation,
  defaultTerminationMessagePath,
  getContainerInfoFromAnnotations,
  getContainerInfoFromLabels,
  getPodSandboxInfoFromLabels,
  newContainerAnnotations,
  newContainerLabels,
  newPodAnnotations,
  newPodLabels,
  podDeletionGracePeriodAnnotation,
  podNameLabel,
  podNamespaceLabel,
  podTerminationGracePeriodAnnotation,
  podUidLabel,
} from './labels.js';
export type {
  AnnotatedContainerInfo,
  LabeledContainerInfo,
  LabeledPodSandboxInfo,
} from './labels.js';
export {
  containerSeccompProfile,
  containerSecurityContext,
  defaultMaskedPaths,
  defaultReadonlyPaths,
  defaultSeccompProfileRoot,
  effectiveSecurityContext,
  hasPrivilegedContainer,
  namespacesForPod,
  sandboxSecurityContext,
  verifyRunAsNonRoot,
} from './security-context.js';
export type { ContainerSecurityOptions, ImageUser } from './security-context.js';
export {
  configMapPluginDir,
  downwardApiPluginDir,
  emptyDirPluginDir,
  hostPathTypes,
  isReadOnlyVolume,
  prepareHostPath,
  prepareTerminationMessageFile,
  projectedPluginDir,
  secretPluginDir,
  terminationMessageFilePath,
  volumeHostPath,
  volumeSourceKind,
} from './volumes.js';
export type { HostPathType, SupportedVolumeSource } from './volumes.js';
export {
  AggregateVolumeError,
  collectDownwardApiPayload,
  configMapData,
  defaultVolumeFileMode,
  formatDownwardApiMap,
  goQuote,
  makeConfigMapPayload,
  makeSecretPayload,
  maxVolumeFileNameLength,
  maxVolumePathLength,
  secretData,
  supportedVolumeFieldPaths,
  throwAggregateVolumeErrors,
  validateVolumeFilePath,
  volumeFieldPathValue,
} from './volume-payload.js';
export type { FileProjection, VolumePayload } from './volume-payload.js';
export { AtomicWriter, atomicWriterDataDir, atomicWriterNewDataDir } from './atomic-writer.js';
export { nodeTmpfsMounter, parseMountInfo } from './volume-mounter.js';
export type { TmpfsMounter } from './volume-mounter.js';
export { ConfigVolumeManager, isMemoryBackedVolume } from './pod-volumes.js';
export type {
  ConfigVolumeManagerOptions,
  ConfigVolumeSource,
  VolumeSetUpFailure,
} from './pod-volumes.js';
export {
  fqdnMaxLen,
  generatePodHostnameAndDomain,
  hostnameMaxLen,
  makePodSandboxConfig,
  makePortMappings,
  podLogsDirectory,
  podSandboxHostname,
  requirePodIdentity,
  validateContainerPorts,
} from './sandbox-config.js';
export type { PodSandboxConfigOptions } from './sandbox-config.js';
export { containerLogPath, makeContainerConfig, makeMounts } from './container-config.js';
export type { ContainerConfigOptions } from './container-config.js';
export { fsGroupFileMode, podFsGroup, setVolumeOwnership } from './volume-ownership.js';
