/**
 * @nodeagent/image-gc — the kubelet's janitors: image garbage collection (high/low
 * thresholds, least recently used first, minimum and maximum age, pinned and in-use
 * images kept, records persisted across restarts), container garbage collection
 * (dead containers by policy, dead sandboxes, pod log directories) and container log
 * rotation (size-based, gzipped, a fixed number of files per container).
 */
export {
  ImageGcManager,
  ImageGcFailedError,
  ImageGcEventReason,
  createImageGcManager,
  imageGcPeriodMs,
} from './image-gc-manager.js';
export type { ImageGcManagerOptions, ImageGcResult } from './image-gc-manager.js';
export {
  ContainerGcManager,
  PodStateProvider,
  containerGcPeriodMs,
  createContainerGcManager,
  defaultPodLogsDir,
  parsePodUidFromLogsDirectory,
  podUidLabel,
} from './container-gc-manager.js';
export type {
  ContainerGcManagerOptions,
  ContainerGcResult,
  ContainerGcRunOptions,
} from './container-gc-manager.js';
export {
  ContainerLogManager,
  allContainerLogs,
  compressedLogSuffix,
  createContainerLogManager,
  defaultContainerLogMonitorIntervalMs,
  minContainerLogMonitorIntervalMs,
  rotationTimestamp,
  temporaryLogSuffix,
} from './container-log-manager.js';
export type {
  ContainerLogManagerOptions,
  ContainerLogRotationResult,
} from './container-log-manager.js';
export {
  defaultContainerGcPolicy,
  defaultImageGcPolicy,
  validateContainerGcPolicy,
  validateImageGcPolicy,
} from './policy.js';
export type { ContainerGcPolicy, ImageGcPolicy } from './policy.js';
export { criImageFsUsage } from './image-fs-usage.js';
export type { ImageFsUsage, ImageFsUsageProvider, StatFs } from './image-fs-usage.js';
export type { ImageRecord } from './image-records.js';
export { normalizeImageRef } from './image-refs.js';
export { createContainerGcMetrics, createImageGcMetrics } from './metrics.js';
export type { ContainerGcMetrics, ImageGcMetrics } from './metrics.js';
export {
  ContainerGcManagerToken,
  ContainerLogManagerToken,
  ImageGcManagerToken,
  registerImageGc,
} from './register.js';
export type { RegisterImageGcOptions } from './register.js';
