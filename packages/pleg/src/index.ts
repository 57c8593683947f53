/**
 * @nodeagent/pleg — the pod lifecycle event generator (kubelet `pkg/kubelet/pleg`):
 * the relisting PLEG, the evented PLEG over CRI `GetContainerEvents` with fallback to
 * relisting, and the pod status cache.
 */
export { createPleg } from './create-pleg.js';
export type { Pleg, PlegOptions } from './create-pleg.js';
export {
  GenericPleg,
  computePodEvents,
  containerPlegState,
  defaultRelistPeriodMs,
  defaultRelistThresholdMs,
  generateEvents,
  groupByPod,
  sandboxPlegState,
} from './generic-pleg.js';
export type { GenericPlegOptions, PlegContainerState, RelistPod } from './generic-pleg.js';
export {
  EventedPleg,
  defaultEventedMaxStreamRetries,
  defaultEventedRelistPeriodMs,
  defaultEventedRelistThresholdMs,
  defaultGlobalCacheUpdatePeriodMs,
} from './evented-pleg.js';
export type { EventedPlegOptions } from './evented-pleg.js';
export {
  InMemoryPodStatusCache,
  createPodStatusCache,
  emptyPodStatus,
} from './pod-status-cache.js';
export type { PodStatusCacheOptions } from './pod-status-cache.js';
export { PlegEventChannel, defaultPlegChannelCapacity } from './event-channel.js';
export type { PlegEventChannelOptions } from './event-channel.js';
export { plegMetrics, defaultDurationBuckets } from './metrics.js';
export type { PlegMetrics } from './metrics.js';
export {
  buildPodStatus,
  containerHashAnnotation,
  nsToMs,
  podUidLabel,
  restartCountAnnotation,
  sandboxPodUid,
  toRuntimeContainerStatus,
} from './pod-status.js';
export { formatGoDuration } from './go-duration.js';
export { registerPleg } from './register.js';
export type { RegisterPlegOptions } from './register.js';
export {
  containerMessage,
  lastLogText,
  maxContainerTerminationMessageLength,
  maxContainerTerminationMessageLogLength,
  maxContainerTerminationMessageLogLines,
  nodeTerminationMessageFiles,
  terminationMessagePathAnnotation,
  terminationMessagePolicyAnnotation,
} from './termination-message.js';
export type { TerminationMessageFiles } from './termination-message.js';
