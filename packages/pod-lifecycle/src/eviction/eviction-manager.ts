import {
  InvalidConfigError,
  noopEventRecorder,
  noopLogger,
  noopMetrics,
  type Clock,
  type Counter,
  type EventRecorder,
  type Histogram,
  type k8s,
  type Logger,
  type MetricsRegistry,
  type NodePressure,
  type NodePressureProvider,
  type PodStats,
  type StatsProvider,
  type Timer,
} from '@nodeagent/core';
import { isCriticalPod, podQOSOrBestEffort } from '../kuberuntime/qos.js';
import { evictionMessage, evictionReason, nodeConditionMessage } from './eviction-message.js';
import { localStorageViolation } from './local-storage.js';
import {
  cachedStatsFunc,
  rankDiskPressureFunc,
  rankMemoryPressure,
  rankPidPressure,
  type RankFunc,
} from './ranking.js';
import {
  EvictionSignal,
  makeSignalObservations,
  signalToNodeCondition,
  signalToResource,
  type PressureCondition,
  type SignalObservations,
} from './signals.js';
import {
  defaultEvictionPressureTransitionPeriodMs,
  isHardEvictionThreshold,
  parseGoDuration,
  parseThresholdConfig,
  thresholdKey,
  thresholdsMet,
  type EvictionThresholdConfig,
  type Threshold,
} from './thresholds.js';

/** Default `evictionMonitoringPeriod`: the kubelet's housekeeping interval, 10 s (ms). */
export const defaultEvictionMonitoringPeriodMs = 10_000;

/**
 * Grace period of pods evicted for a hard threshold, seconds (kubelet
 * `immediateEvictionGracePeriodSeconds` = 1; `evictionMaxPodGracePeriod` does not apply).
 */
export const immediateEvictionGracePeriodSeconds = 1;

/** Pod condition type set on evicted pods (`v1.DisruptionTarget`). */
export const disruptionTargetCondition = 'DisruptionTarget';
/** Reason of the DisruptionTarget condition when the kubelet evicts (`v1.PodReasonTerminationByKubelet`). */
export const terminationByKubeletReason = 'TerminationByKubelet';

/** The taint a BestEffort pod may tolerate to be admitted under memory pressure. */
const memoryPressureTaint = { key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule' };

/** What the eviction manager asks the pod lifecycle when it evicts a pod. */
export interface EvictionKillPodOptions {
  /** Grace period override, seconds: 1 for hard thresholds, min(pod, evictionMaxPodGracePeriod) for soft. */
  gracePeriodSeconds: number;
  /** Always `Evicted`. */
  reason: typeof evictionReason;
  /** The kubelet-worded eviction message (see {@link evictionMessage}). */
  message: string;
  /**
   * The status to report for the pod: phase `Failed`, reason `Evicted`, the message,
   * and the condition `DisruptionTarget=True` (reason `TerminationByKubelet`).
   */
  status: k8s.PodStatus;
}

/**
 * Kills a pod for eviction and resolves once it is stopped (kubelet
 * `TerminatePodAbnormallyAndWait`): the pod ends Failed with the given status and is
 * not restarted.
 */
export type EvictionKillPodFunc = (pod: k8s.Pod, options: EvictionKillPodOptions) => Promise<void>;

/** The answer of {@link EvictionManager.admitPod} (kubelet `lifecycle.PodAdmitResult`). */
export interface EvictionAdmitResult {
  admit: boolean;
  /** `Evicted` when rejected. */
  reason?: string;
  /** `The node had condition: [MemoryPressure]. ` when rejected. */
  message?: string;
}

/** Options of {@link EvictionManager}. */
export interface EvictionManagerOptions extends EvictionThresholdConfig {
  /** Node and pod usage (`@nodeagent/node-stats`). */
  stats: StatsProvider;
  clock: Clock;
  /** The pods admitted and not yet terminal (kubelet `ActivePodsFunc`). */
  activePods: () => readonly k8s.Pod[];
  /** Terminates a pod for eviction (kubelet `PodTerminator`). */
  killPod: EvictionKillPodFunc;
  /** Image GC's "delete every unused image" (kubelet `ImageGC.DeleteUnusedImages`). */
  deleteUnusedImages?: () => Promise<unknown>;
  /** Container GC's "delete every dead container" (kubelet `ContainerGC.DeleteAllUnusedContainers`). */
  deleteAllUnusedContainers?: () => Promise<unknown>;
  /**
   * Whether images live on a filesystem of their own (kubelet
   * `DiskInfoProvider.HasDedicatedImageFs`), asked once at the first pass. Default: no.
   */
  hasDedicatedImageFs?: () => boolean | Promise<boolean>;
  /**
   * How long a pressure condition stays true after its threshold was last met: a Go
   * duration or ms. Default 5 min (kubelet `evictionPressureTransitionPeriod`).
   */
  evictionPressureTransitionPeriod?: string | number;
  /**
   * Longest grace period, seconds, for pods evicted by a soft threshold (kubelet
   * `evictionMaxPodGracePeriod`); the pod's own grace period applies when shorter.
   * Default 0, which — as in the kubelet's pod workers — leaves the pod's own.
   */
  evictionMaxPodGracePeriod?: number;
  /** Time between passes, ms. Default {@link defaultEvictionMonitoringPeriodMs}. */
  evictionMonitoringPeriodMs?: number;
  /**
   * Evict pods that outgrow their emptyDir `sizeLimit` or `ephemeral-storage` limits
   * (kubelet LocalStorageCapacityIsolation / `localStorageCapacityIsolation`). Default true.
   */
  localStorageCapacityIsolation?: boolean;
  /** The node, for `EvictionThresholdMet` events. Default `{ kind: 'Node', name: 'node' }`. */
  nodeRef?: k8s.ObjectReference;
  recorder?: EventRecorder;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

interface ObservedThreshold {
  threshold: Threshold;
  at: number;
}

const conditionOrder: readonly PressureCondition[] = [
  'MemoryPressure',
  'DiskPressure',
  'PIDPressure',
];

function toleratesMemoryPressure(tolerations: readonly k8s.Toleration[] | undefined): boolean {
  return (tolerations ?? []).some((t) => {
    if (t.effect !== undefined && t.effect !== memoryPressureTaint.effect) return false;
    if (t.key === undefined || t.key === '') return t.operator === 'Exists';
    if (t.key !== memoryPressureTaint.key) return false;
    // The memory-pressure taint has no value: Exists, or Equal with an empty value, match.
    return t.operator === 'Exists' || (t.value ?? '') === '';
  });
}

function podRef(pod: k8s.Pod): k8s.ObjectReference {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    ...(pod.metadata.namespace !== undefined ? { namespace: pod.metadata.namespace } : {}),
    ...(pod.metadata.name !== undefined ? { name: pod.metadata.name } : {}),
    ...(pod.metadata.uid !== undefined ? { uid: pod.metadata.uid } : {}),
  };
}

function podKey(pod: k8s.Pod): string {
  return `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
}

/**
 * The kubelet's eviction manager (pkg/kubelet/eviction): every
 * `evictionMonitoringPeriod` it reads the stats summary, derives the signals
 * (memory.available, nodefs/imagefs available and inodesFree, pid.available), finds
 * the thresholds met — hard ones at once, soft ones after their grace period, each
 * kept until its minimum reclaim is reached — and keeps the pressure conditions
 * (MemoryPressure, DiskPressure, PIDPressure) true for the transition period after
 * they were last seen. When a threshold is met it first reclaims node-level
 * resources for disk signals (dead containers, unused images) and re-checks; if
 * still short it ranks the active pods like the kubelet and evicts one pod per pass
 * (never a critical pod). It is the {@link NodePressureProvider} of the node status,
 * and {@link admitPod} is the kubelet's eviction admission rule.
 */
export class EvictionManager implements NodePressureProvider {
  private readonly thresholds: Threshold[];
  private readonly transitionPeriodMs: number;
  private readonly maxPodGracePeriodSeconds: number;
  private readonly localStorageIsolation: boolean;
  private readonly monitoringPeriodMs: number;
  private readonly logger: Logger;
  private readonly recorder: EventRecorder;
  private readonly nodeRef: k8s.ObjectReference;
  private readonly evictions: Counter;
  private readonly statsAge: Histogram;

  private dedicatedImageFs: boolean | undefined;
  private rankFuncs = new Map<EvictionSignal, RankFunc>();
  private reclaimFuncs = new Map<EvictionSignal, (() => Promise<unknown>)[]>();
  private conditions: PressureCondition[] = [];
  private conditionsLastObservedAt = new Map<PressureCondition, number>();
  private thresholdsFirstObservedAt = new Map<string, ObservedThreshold>();
  private thresholdsMetState: Threshold[] = [];
  private lastObservations: SignalObservations = {};

  private timer: Timer | undefined;
  private running: Promise<unknown> | undefined;
  private started = false;

  /** @throws InvalidConfigError when a threshold or period is invalid. */
  constructor(private readonly options: EvictionManagerOptions) {
    this.thresholds = parseThresholdConfig(options);
    const transition = options.evictionPressureTransitionPeriod;
    this.transitionPeriodMs =
      transition === undefined
        ? defaultEvictionPressureTransitionPeriodMs
        : typeof transition === 'number'
          ? transition
          : parseGoDuration(transition, 'evictionPressureTransitionPeriod');
    if (!Number.isFinite(this.transitionPeriodMs) || this.transitionPeriodMs < 0) {
      throw new InvalidConfigError(
        `evictionPressureTransitionPeriod: must be a non-negative duration, got ${String(transition)}`,
      );
    }
    this.maxPodGracePeriodSeconds = options.evictionMaxPodGracePeriod ?? 0;
    this.localStorageIsolation = options.localStorageCapacityIsolation ?? true;
    if (!Number.isInteger(this.maxPodGracePeriodSeconds) || this.maxPodGracePeriodSeconds < 0) {
      throw new InvalidConfigError(
        `evictionMaxPodGracePeriod: must be a non-negative whole number of seconds, got ${String(options.evictionMaxPodGracePeriod)}`,
      );
    }
    this.monitoringPeriodMs =
      options.evictionMonitoringPeriodMs ?? defaultEvictionMonitoringPeriodMs;
    if (!Number.isFinite(this.monitoringPeriodMs) || this.monitoringPeriodMs <= 0) {
      throw new InvalidConfigError(
        `evictionMonitoringPeriod: must be positive, got ${String(options.evictionMonitoringPeriodMs)}`,
      );
    }
    this.logger = (options.logger ?? noopLogger).child({ component: 'eviction-manager' });
    this.recorder = options.recorder ?? noopEventRecorder;
    this.nodeRef = options.nodeRef ?? { kind: 'Node', name: 'node' };
    const metrics = options.metrics ?? noopMetrics;
    this.evictions = metrics.counter({
      name: 'kubelet_evictions',
      help: 'Cumulative number of pod evictions by eviction signal',
      labelNames: ['eviction_signal'],
    });
    this.statsAge = metrics.histogram({
      name: 'kubelet_eviction_stats_age_seconds',
      help: 'Time between when stats are collected, and when pod is evicted based on those stats by eviction signal',
      labelNames: ['eviction_signal'],
    });
  }

  /** The parsed thresholds in force. */
  get configuredThresholds(): readonly Threshold[] {
    return this.thresholds;
  }

  /** Starts the monitoring loop: a pass now, then one every monitoring period after the previous ends. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(0);
  }

  /** Stops the loop and waits for a pass in progress; leaves no timer behind. */
  async stop(): Promise<void> {
    this.started = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.running;
  }

  private schedule(delayMs: number): void {
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      if (!this.started) return;
      const pass = this.synchronize()
        .catch((err: unknown) => {
          this.logger.error('Eviction manager: failed to synchronize', { err });
        })
        .finally(() => {
          this.running = undefined;
          if (this.started) this.schedule(this.monitoringPeriodMs);
        });
      this.running = pass;
    }, delayMs);
  }

  /** Node pressure for node status, each flag held for the transition period. */
  pressure(): NodePressure {
    return {
      memory: this.conditions.includes('MemoryPressure'),
      disk: this.conditions.includes('DiskPressure'),
      pid: this.conditions.includes('PIDPressure'),
    };
  }

  /** The pressure conditions now reported, in the order MemoryPressure, DiskPressure, PIDPressure. */
  nodeConditions(): readonly PressureCondition[] {
    return this.conditions;
  }

  /**
   * The kubelet's eviction admission rule (`managerImpl.Admit`): with no pressure,
   * or for a critical pod, admit. Under memory pressure alone, admit pods that are
   * not BestEffort, and BestEffort pods that tolerate the
   * `node.kubernetes.io/memory-pressure:NoSchedule` taint. Otherwise reject with
   * reason `Evicted` and `The node had condition: [MemoryPressure]. `.
   */
  admitPod(pod: k8s.Pod): EvictionAdmitResult {
    if (this.conditions.length === 0) return { admit: true };
    if (isCriticalPod(pod)) return { admit: true };
    if (this.conditions.length === 1 && this.conditions[0] === 'MemoryPressure') {
      const qos = podQOSOrBestEffort(pod);
      if (qos !== 'BestEffort') return { admit: true };
      if (toleratesMemoryPressure(pod.spec.tolerations)) return { admit: true };
    }
    this.logger.info('Failed to admit pod to node', {
      pod: podKey(pod),
      nodeCondition: this.conditions,
    });
    return { admit: false, reason: evictionReason, message: nodeConditionMessage(this.conditions) };
  }

  private async setupFilesystems(): Promise<void> {
    if (this.dedicatedImageFs !== undefined) return;
    const dedicated = (await this.options.hasDedicatedImageFs?.()) ?? false;
    this.dedicatedImageFs = dedicated;
    const nodeFsMeasure = dedicated
      ? (['logs', 'localVolumeSource'] as const)
      : (['root', 'logs', 'localVolumeSource'] as const);
    const imageFsMeasure = dedicated
      ? (['root'] as const)
      : (['root', 'logs', 'localVolumeSource'] as const);
    this.rankFuncs = new Map<EvictionSignal, RankFunc>([
      [EvictionSignal.MemoryAvailable, rankMemoryPressure],
      [EvictionSignal.PidAvailable, rankPidPressure],
      [EvictionSignal.NodeFsAvailable, rankDiskPressureFunc(nodeFsMeasure, 'ephemeral-storage')],
      [EvictionSignal.NodeFsInodesFree, rankDiskPressureFunc(nodeFsMeasure, 'inodes')],
      [EvictionSignal.ImageFsAvailable, rankDiskPressureFunc(imageFsMeasure, 'ephemeral-storage')],
      [EvictionSignal.ImageFsInodesFree, rankDiskPressureFunc(imageFsMeasure, 'inodes')],
    ]);
    const gc: (() => Promise<unknown>)[] = [];
    if (this.options.deleteAllUnusedContainers) gc.push(this.options.deleteAllUnusedContainers);
    if (this.options.deleteUnusedImages) gc.push(this.options.deleteUnusedImages);
    this.reclaimFuncs = new Map([
      [EvictionSignal.NodeFsAvailable, dedicated ? [] : gc],
      [EvictionSignal.NodeFsInodesFree, dedicated ? [] : gc],
      [EvictionSignal.ImageFsAvailable, gc],
      [EvictionSignal.ImageFsInodesFree, gc],
    ]);
  }

  /**
   * One pass of the control loop (kubelet `synchronize`). Resolves with the evicted
   * pod, or undefined when none was evicted. Exposed for tests and for callers that
   * want a pass now.
   */
  async synchronize(): Promise<k8s.Pod | undefined> {
    if (this.thresholds.length === 0 && !this.localStorageIsolation) return undefined;
    await this.setupFilesystems();
    const activePods = [...this.options.activePods()];
    let summary;
    try {
      summary = await this.options.stats.summary({ updateStats: true });
    } catch (err) {
      this.logger.error('Eviction manager: failed to get summary stats', { err });
      return undefined;
    }
    const observations = makeSignalObservations(summary);
    const statsFunc = cachedStatsFunc(summary.pods);

    // Thresholds met now, plus those met before that have not reclaimed their minimum.
    let met = thresholdsMet(this.thresholds, observations, false);
    if (this.thresholdsMetState.length > 0) {
      const notYetResolved = thresholdsMet(this.thresholdsMetState, observations, true);
      const keys = new Set(met.map(thresholdKey));
      for (const t of notYetResolved) if (!keys.has(thresholdKey(t))) met.push(t);
    }

    const now = this.options.clock.monotonicNow();
    const firstObservedAt = new Map<string, ObservedThreshold>();
    for (const threshold of met) {
      const key = thresholdKey(threshold);
      firstObservedAt.set(key, {
        threshold,
        at: this.thresholdsFirstObservedAt.get(key)?.at ?? now,
      });
    }

    // Pressure conditions: observed now, or within the transition period.
    const observedConditions = new Set(met.map((t) => signalToNodeCondition[t.signal]));
    const lastObservedAt = new Map(this.conditionsLastObservedAt);
    for (const condition of observedConditions) lastObservedAt.set(condition, now);
    const conditions = conditionOrder.filter((c) => {
      const at = lastObservedAt.get(c);
      return at !== undefined && now - at < this.transitionPeriodMs;
    });

    // Thresholds whose grace period has passed drive evictions.
    met = [...firstObservedAt.values()]
      .filter(({ threshold, at }) => now - at >= threshold.gracePeriodMs)
      .map(({ threshold }) => threshold);

    this.conditions = conditions;
    this.thresholdsFirstObservedAt = firstObservedAt;
    this.conditionsLastObservedAt = lastObservedAt;
    this.thresholdsMetState = met;

    // Act only on thresholds whose stats are newer than at the last pass.
    const updated = met.filter((t) => {
      const observed = observations[t.signal];
      if (!observed) return false;
      const last = this.lastObservations[t.signal];
      if (!last || observed.time === undefined || last.time === undefined) return true;
      return Date.parse(observed.time) > Date.parse(last.time);
    });
    this.lastObservations = observations;

    // Pods over their own local-storage limits go first, whatever the node's pressure;
    // when any is evicted the pass ends there (kubelet localStorageEviction).
    if (this.localStorageIsolation) {
      const evicted = await this.localStorageEviction(activePods, statsFunc);
      if (evicted !== undefined) return evicted;
    }

    if (updated.length === 0) return undefined;

    // Memory first, then the others in configuration order.
    const ordered = [
      ...updated.filter((t) => t.signal === EvictionSignal.MemoryAvailable),
      ...updated.filter((t) => t.signal !== EvictionSignal.MemoryAvailable),
    ];
    const thresholdToReclaim = ordered[0];
    if (!thresholdToReclaim) return undefined;
    const resourceToReclaim = signalToResource[thresholdToReclaim.signal];
    this.logger.info('Eviction manager: attempting to reclaim', {
      resourceName: resourceToReclaim,
    });
    this.recorder.event(
      this.nodeRef,
      'Warning',
      'EvictionThresholdMet',
      `Attempting to reclaim ${resourceToReclaim}`,
    );

    if (await this.reclaimNodeLevelResources(thresholdToReclaim.signal, resourceToReclaim)) {
      this.logger.info(
        'Eviction manager: able to reduce resource pressure without evicting pods.',
        {
          resourceName: resourceToReclaim,
        },
      );
      return undefined;
    }
    this.logger.info('Eviction manager: must evict pod(s) to reclaim', {
      resourceName: resourceToReclaim,
    });

    const rank = this.rankFuncs.get(thresholdToReclaim.signal);
    if (!rank) return undefined;
    if (activePods.length === 0) {
      this.logger.error(
        'Eviction manager: eviction thresholds have been met, but no pods are active to evict',
      );
      return undefined;
    }
    rank(activePods, statsFunc);
    this.logger.info('Eviction manager: pods ranked for eviction', {
      pods: activePods.map(podKey),
    });

    const wallNow = this.options.clock.now();
    for (const t of ordered) {
      const time = observations[t.signal]?.time;
      if (time !== undefined)
        this.statsAge.observe({ eviction_signal: t.signal }, (wallNow - Date.parse(time)) / 1000);
    }

    for (const pod of activePods) {
      let gracePeriodSeconds = immediateEvictionGracePeriodSeconds;
      if (!isHardEvictionThreshold(thresholdToReclaim)) {
        const podGrace = pod.spec.terminationGracePeriodSeconds ?? 30;
        gracePeriodSeconds =
          this.maxPodGracePeriodSeconds > 0
            ? Math.min(this.maxPodGracePeriodSeconds, podGrace)
            : podGrace;
      }
      const message = evictionMessage(resourceToReclaim, pod, statsFunc, ordered, observations);
      if (await this.evictPod(pod, gracePeriodSeconds, message)) {
        this.evictions.inc({ eviction_signal: thresholdToReclaim.signal });
        return pod;
      }
    }
    this.logger.info('Eviction manager: unable to evict any pods from the node');
    return undefined;
  }

  /**
   * Evicts, with no grace period, every pod over its emptyDir or ephemeral-storage
   * limits; returns the first one evicted.
   */
  private async localStorageEviction(
    pods: readonly k8s.Pod[],
    statsFunc: (pod: k8s.Pod) => PodStats | undefined,
  ): Promise<k8s.Pod | undefined> {
    let first: k8s.Pod | undefined;
    for (const pod of pods) {
      const stats = statsFunc(pod);
      if (stats === undefined) continue;
      const violation = localStorageViolation(pod, stats, this.dedicatedImageFs ?? false);
      if (violation === undefined) continue;
      if (await this.evictPod(pod, 0, violation.message)) {
        this.evictions.inc({ eviction_signal: violation.signal });
        first ??= pod;
      }
    }
    return first;
  }

  /** Runs the node-level reclaim functions of the signal; true when no threshold is met afterwards. */
  private async reclaimNodeLevelResources(
    signal: EvictionSignal,
    resource: string,
  ): Promise<boolean> {
    const funcs = this.reclaimFuncs.get(signal) ?? [];
    if (funcs.length === 0) return false;
    for (const reclaim of funcs) {
      try {
        await reclaim();
      } catch (err) {
        this.logger.info(
          'Eviction manager: unexpected error when attempting to reduce resource pressure',
          {
            resourceName: resource,
            err,
          },
        );
      }
    }
    let summary;
    try {
      summary = await this.options.stats.summary({ updateStats: true });
    } catch (err) {
      this.logger.error('Eviction manager: failed to get summary stats after resource reclaim', {
        err,
      });
      return false;
    }
    const observations = makeSignalObservations(summary);
    return thresholdsMet(this.thresholds, observations, true).length === 0;
  }

  private async evictPod(
    pod: k8s.Pod,
    gracePeriodSeconds: number,
    message: string,
  ): Promise<boolean> {
    if (isCriticalPod(pod)) {
      this.logger.error('Eviction manager: cannot evict a critical pod', { pod: podKey(pod) });
      return false;
    }
    this.recorder.event(podRef(pod), 'Warning', evictionReason, message);
    const transitionTime = new Date(Math.floor(this.options.clock.now() / 1000) * 1000)
      .toISOString()
      .replace('.000Z', 'Z');
    const status: k8s.PodStatus = {
      phase: 'Failed',
      reason: evictionReason,
      message,
      conditions: [
        {
          type: disruptionTargetCondition,
          status: 'True',
          reason: terminationByKubeletReason,
          message,
          lastTransitionTime: transitionTime,
        },
      ],
    };
    try {
      await this.options.killPod(pod, {
        gracePeriodSeconds,
        reason: evictionReason,
        message,
        status,
      });
      this.logger.info('Eviction manager: pod is evicted successfully', { pod: podKey(pod) });
    } catch (err) {
      this.logger.error('Eviction manager: pod failed to evict', { pod: podKey(pod), err });
    }
    return true;
  }
}

/** Creates an {@link EvictionManager}. @throws InvalidConfigError on invalid thresholds. */
export function createEvictionManager(options: EvictionManagerOptions): EvictionManager {
  return new EvictionManager(options);
}
