/**
 * @nodeagent/core — the contracts every nodeagent package builds on: DI tokens,
 * interfaces, CRI types, Clock, Logger, metrics hook and error classes. No I/O and
 * no third-party runtime dependencies.
 */
export { createToken, resolveOptional, resolveToken } from './token.js';
export type { FactoryRegistry, InjectionToken, TokenResolver } from './token.js';

export {
  ErrorCode,
  NodeAgentError,
  isNodeAgentError,
  errorForCode,
  errorCodeForGrpcStatus,
  isGrpcServiceError,
  NotFoundError,
  UnavailableError,
  DeadlineExceededError,
  InvalidArgumentError,
  AlreadyExistsError,
  FailedPreconditionError,
  CancelledError,
  UnimplementedError,
  PermissionDeniedError,
  UnauthenticatedError,
  ResourceExhaustedError,
  AbortedError,
  OutOfRangeError,
  InternalError,
  DataLossError,
  UnknownError,
  RuntimeVersionUnsupportedError,
  InvalidConfigError,
  InvalidPodSpecError,
} from './errors.js';
export type { NodeAgentErrorOptions } from './errors.js';

export { Clock, RealClock, sleepOn } from './clock.js';
export type { Timer } from './clock.js';

export { Logger, noopLogger } from './logger.js';
export type { LogFields } from './logger.js';

export { MetricsRegistry, noopMetrics } from './metrics.js';
export type {
  Counter,
  Gauge,
  Histogram,
  HistogramOptions,
  MetricLabels,
  MetricOptions,
} from './metrics.js';

export { Random, mathRandom, jitter } from './random.js';

export { ContainerRuntime, ImageService } from './runtime.js';
export type { CallOptions, CriServiceApi } from './runtime.js';

export * as cri from './cri/types.js';
export { formatTimestampFixed, parseCriLogLine, parseRfc3339 } from './cri-log.js';
export type { CriLogLine } from './cri-log.js';

export {
  PodLifecycleEventGenerator,
  PodLifecycleEventType,
  PodStatusCache,
  runtimeContainerStatusFromListing,
} from './pleg.js';
export type {
  CachedPodStatus,
  GetNewerThanOptions,
  PlegHealth,
  PlegMode,
  PlegWatchOptions,
  PodLifecycleEvent,
  RuntimeContainerStatus,
  RuntimePodStatus,
} from './pleg.js';

export type * as k8s from './k8s/types.js';
export { isPodConditionByKubelet, podConditionsByKubelet } from './k8s/pod-conditions.js';
export { ProbeManager, EventRecorder, noopEventRecorder } from './prober.js';
export type {
  ContainerRestartRequest,
  EventType,
  ProbeResult,
  ProbeResultFilter,
  ProbeResultsManager,
  ProbeResultUpdate,
  ProbeType,
  Unsubscribe,
} from './prober.js';

export { PodAnnotation, PodOperation, PodSourceName, PodSources } from './pod-source.js';
export type { PodSource, PodUpdate } from './pod-source.js';

export {
  ConfigMapManager,
  SecretManager,
  standaloneConfigMapManager,
  standaloneSecretManager,
} from './config-objects.js';
export {
  ServiceAccountTokenManager,
  standaloneServiceAccountTokenManager,
} from './service-account-token.js';
export type {
  BoundObjectReference,
  TokenRequestSpec,
  TokenRequestStatus,
} from './service-account-token.js';

export { PodVolumePlugins } from './volume-plugin.js';
export type { MountedVolume, PodVolumePlugin } from './volume-plugin.js';

export { NodePressureProvider, noNodePressure } from './node-conditions.js';
export type { NodePressure } from './node-conditions.js';

export { MirrorClient, PodStatusManager, createCachingPodStatusManager } from './status-manager.js';

export { ServiceLister, clusterIPNone, emptyServiceLister, isServiceIPSet } from './services.js';
export type { Service, ServicePort, ServiceSpec } from './services.js';

export {
  addQuantities,
  compareQuantities,
  isZeroQuantity,
  parseQuantity,
  quantityMilliValue,
  quantityValue,
  zeroQuantity,
} from './k8s/quantity.js';
export type { Quantity as ParsedQuantity, QuantityFormat } from './k8s/quantity.js';

export { StatsProvider, SystemContainerName, statsTime } from './stats.js';
export type {
  AcceleratorStats,
  ContainerStats,
  CpuStats,
  FsStats,
  InterfaceStats,
  MemoryStats,
  NetworkStats,
  NodeStats,
  PodReference,
  PodStats,
  ProcessStats,
  PvcReference,
  RlimitStats,
  RuntimeStats,
  StatsTime,
  Summary,
  SummaryOptions,
  SwapStats,
  UserDefinedMetric,
  VolumeStats,
} from './stats.js';
