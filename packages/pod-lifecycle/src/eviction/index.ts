/**
 * Node-pressure eviction and the OOM watcher (kubelet pkg/kubelet/eviction and
 * pkg/kubelet/oom).
 */
export {
  EvictionManager,
  createEvictionManager,
  defaultEvictionMonitoringPeriodMs,
  disruptionTargetCondition,
  immediateEvictionGracePeriodSeconds,
  terminationByKubeletReason,
} from './eviction-manager.js';
export type {
  EvictionAdmitResult,
  EvictionKillPodFunc,
  EvictionKillPodOptions,
  EvictionManagerOptions,
} from './eviction-manager.js';
export { evictionMessage, evictionReason, nodeConditionMessage } from './eviction-message.js';
export {
  EvictionSignal,
  evictionSignals,
  isEvictionSignal,
  makeSignalObservations,
  signalToNodeCondition,
  signalToResource,
} from './signals.js';
export type {
  PressureCondition,
  SignalObservation,
  SignalObservations,
  StarvedResource,
} from './signals.js';
export {
  defaultEvictionHard,
  defaultEvictionPressureTransitionPeriodMs,
  isHardEvictionThreshold,
  parseGoDuration,
  parseThresholdConfig,
  thresholdQuantity,
  thresholdsMet,
} from './thresholds.js';
export type { EvictionThresholdConfig, Threshold, ThresholdValue } from './thresholds.js';
export {
  cachedStatsFunc,
  rankDiskPressureFunc,
  rankMemoryPressure,
  rankPidPressure,
} from './ranking.js';
export type { FsStatsType, PodStatsFunc, RankFunc } from './ranking.js';
export { formatQuantity } from './quantity-format.js';
export type { QuantityPrintFormat } from './quantity-format.js';
export { OomParser, parseKmsgRecord, parseOomKillLine, parseOomKills } from './oom-parser.js';
export type { KmsgRecord, OomInstance } from './oom-parser.js';
export { DevKmsgReader } from './kmsg-reader.js';
export type { KernelLogReader } from './kmsg-reader.js';
export {
  OomWatcher,
  createOomWatcher,
  defaultOomPollIntervalMs,
  systemOOMEventReason,
  systemOomCgroup,
} from './oom-watcher.js';
export type { OomWatcherOptions } from './oom-watcher.js';
export {
  EvictionManagerToken,
  OomWatcherToken,
  registerEvictionManager,
  registerOomWatcher,
} from './register.js';
export type {
  EvictionPodHooks,
  RegisterEvictionManagerOptions,
  RegisterOomWatcherOptions,
} from './register.js';
