/**
 * @nodeagent/csi-node — CSI volumes for a Kubernetes node agent: a typed CSI v1
 * Identity/Node client over a unix socket, kubelet-style plugin registration through
 * the plugin registration directory, the Node `csi.volume.kubernetes.io/nodeid`
 * annotation and CSINode upkeep, and the CSI volume manager.
 */
export type {
  CsiDriverRegistry,
  CsiNodeClient,
  NodePublishVolumeRequest,
  NodeStageVolumeRequest,
  VolumeCapability,
} from './types.js';

// CSI client, plugin registration, driver registry and CSINode (part 1).
export {
  CsiClient,
  createCsiClient,
  defaultCsiRetry,
  defaultCsiTimeoutMs,
  retriableCsiErrorCodes,
} from './csi-client.js';
export type { CsiClientOptions, CsiPluginCapabilities, CsiRetryPolicy } from './csi-client.js';
export { parseUnixEndpoint } from './csi-client-grpc.js';
export { InMemoryCsiDriverRegistry } from './driver-registry.js';
export type { RegisteredCsiDriver } from './driver-registry.js';
export {
  compareCsiVersions,
  csiDriverNamePattern,
  csiPluginType,
  highestSupportedCsiVersion,
  parseCsiVersion,
  supportedCsiMajorVersion,
  validateCsiPluginInfo,
} from './registration.js';
export type { CsiVersion, ValidatedCsiPlugin } from './registration.js';
export {
  RegistrationClient,
  defaultGetInfoTimeoutMs,
  defaultNotifyTimeoutMs,
} from './registration-client.js';
export {
  CsiPluginManager,
  createCsiPluginManager,
  defaultKubeletRootDir,
  defaultRegistrationBackoff,
  pluginsRegistryDirName,
} from './plugin-watcher.js';
export type { CsiPluginManagerOptions, CsiRegistrationEvent } from './plugin-watcher.js';
export {
  CsiDriverRegistryToken,
  CsiPluginManagerToken,
  registerCsiPluginManager,
} from './registration-register.js';
export {
  KubeCsiNodeInfoWriter,
  createKubeCsiNodeInfoWriter,
  csiNodeIdAnnotation,
} from './csinode.js';
export type {
  CsiNodeDriverInfo,
  CsiNodeInfoWriter,
  KubeCsiNodeInfoWriterOptions,
} from './csinode.js';
export { csiDescriptor, identityMethods, nodeMethods } from './generated/csi-descriptor.js';
export type { CsiMethodInfo } from './generated/csi-descriptor.js';
export {
  pluginRegistrationDescriptor,
  registrationMethods,
} from './generated/pluginregistration-descriptor.js';
export type * as csi from './generated/csi-types.js';
export type * as pluginregistration from './generated/pluginregistration-types.js';

// CSI volume manager and pod volume plugin (part 2).
export {
  csiPluginDirName,
  csiPluginName,
  attachmentName,
  escapeQualifiedName,
  globalMountDirName,
  makeEphemeralVolumeHandle,
  publishMountDirName,
  publishTargetPath,
  readVolData,
  stagingTargetPath,
  validatePathElement,
  validateVolumeHandle,
  volDataFileName,
  writeVolData,
} from './vol-data.js';
export type { StagingVolData, VolData, VolumeLifecycleMode } from './vol-data.js';
export {
  CsiVolumeManager,
  createCsiVolumeManager,
  csiAccessMode,
  defaultCsiOperationTimeoutMs,
  driverNotFoundError,
  procMountPointChecker,
} from './volume-manager.js';
export type {
  CsiMountState,
  CsiReconstructResult,
  CsiVolumeManagerOptions,
  CsiVolumeSpec,
  MountPointChecker,
  PublishedCsiVolume,
  StagedCsiVolume,
} from './volume-manager.js';
export { loadCsiVolumeState } from './reconstruct.js';
export type { CsiVolumeDiskState } from './reconstruct.js';
export { CsiVolumePlugin, createCsiVolumePlugin } from './csi-volume-plugin.js';
export type { CsiVolumePluginOptions } from './csi-volume-plugin.js';
export { CsiVolumePluginToken, registerCsiVolumePlugin } from './csi-volume-plugin-register.js';
export type { RegisterCsiVolumePluginOptions } from './csi-volume-plugin-register.js';
export {
  KubePersistentVolumeLookup,
  PersistentVolumeLookup,
  StaticPersistentVolumeLookup,
  createKubePersistentVolumeLookup,
  standalonePersistentVolumeLookup,
} from './pv-lookup.js';
export type {
  CSIPersistentVolumeSource,
  PersistentVolume,
  PersistentVolumeClaim,
} from './pv-lookup.js';
