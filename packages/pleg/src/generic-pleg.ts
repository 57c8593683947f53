import {
  isNodeAgentError,
  noopLogger,
  noopMetrics,
  PodLifecycleEventType,
  type Clock,
  type ContainerRuntime,
  type Logger,
  type MetricsRegistry,
  type PlegHealth,
  type PlegMode,
  type PlegWatchOptions,
  type PodLifecycleEvent,
  type PodLifecycleEventGenerator,
  type PodStatusCache,
  runtimeContainerStatusFromListing,
  type RuntimeContainerStatus,
  type RuntimePodStatus,
  type Timer,
  type cri,
} from '@nodeagent/core';
import { PlegEventChannel } from './event-channel.js';
import { formatGoDuration } from './go-duration.js';
import { plegMetrics, type PlegMetrics } from './metrics.js';
import { InMemoryPodStatusCache } from './pod-status-cache.js';
import {
  containerMessage,
  nodeTerminationMessageFiles,
  type TerminationMessageFiles,
} from './termination-message.js';
import {
  buildPodStatus,
  podUidLabel,
  sandboxPodUid,
  toRuntimeContainerStatus,
} from './pod-status.js';

/** The kubelet's relist period (`genericPlegRelistPeriod`): 1 s. */
export const defaultRelistPeriodMs = 1_000;
/** The kubelet's relist threshold (`genericPlegRelistThreshold`): 3 min. */
export const defaultRelistThresholdMs = 3 * 60_000;

/** The PLEG's view of a container's (or sandbox's) state (kubelet `plegContainerState`). */
export type PlegContainerState = 'running' | 'exited' | 'unknown' | 'non-existent';

/** CRI container state → PLEG state; CREATED is `unknown`, as in the kubelet. */
export function containerPlegState(state: cri.ContainerState): PlegContainerState {
  switch (state) {
    case 'CONTAINER_RUNNING':
      return 'running';
    case 'CONTAINER_EXITED':
      return 'exited';
    default:
      return 'unknown';
  }
}

/** CRI sandbox state → PLEG state: READY is running, NOTREADY exited. */
export function sandboxPlegState(state: cri.PodSandboxState): PlegContainerState {
  switch (state) {
    case 'SANDBOX_READY':
      return 'running';
    case 'SANDBOX_NOTREADY':
      return 'exited';
    default:
      return 'unknown';
  }
}

/**
 * The events for one container moving from `oldState` to `newState` (kubelet
 * `generateEvents`): running → ContainerStarted; exited → ContainerDied; unknown →
 * ContainerChanged (never delivered); gone → ContainerRemoved, preceded by
 * ContainerDied unless it had already exited.
 */
export function generateEvents(
  podUid: string,
  containerId: string,
  oldState: PlegContainerState,
  newState: PlegContainerState,
): PodLifecycleEvent[] {
  if (oldState === newState) return [];
  const event = (type: PodLifecycleEventType): PodLifecycleEvent => ({ podUid, type, containerId });
  switch (newState) {
    case 'running':
      return [event(PodLifecycleEventType.ContainerStarted)];
    case 'exited':
      return [event(PodLifecycleEventType.ContainerDied)];
    case 'unknown':
      return [event(PodLifecycleEventType.ContainerChanged)];
    case 'non-existent':
      return oldState === 'exited'
        ? [event(PodLifecycleEventType.ContainerRemoved)]
        : [
            event(PodLifecycleEventType.ContainerDied),
            event(PodLifecycleEventType.ContainerRemoved),
          ];
  }
}

/** One pod as one relist saw it (kubelet `kubecontainer.Pod`). */
export interface RelistPod {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: cri.PodSandbox[];
  containers: cri.Container[];
  containerStates: Map<string, PlegContainerState>;
  sandboxStates: Map<string, PlegContainerState>;
}

/**
 * Groups a relist's sandboxes and containers by pod UID: the `io.kubernetes.pod.uid`
 * label, else the sandbox's `metadata.uid` (for containers: their sandbox's UID).
 * Containers that belong to no known pod are left out.
 */
export function groupByPod(
  sandboxes: readonly cri.PodSandbox[],
  containers: readonly cri.Container[],
): Map<string, RelistPod> {
  const pods = new Map<string, RelistPod>();
  const uidOfSandbox = new Map<string, string>();
  const podFor = (uid: string, name: string, namespace: string): RelistPod => {
    let pod = pods.get(uid);
    if (!pod) {
      pod = {
        uid,
        name,
        namespace,
        sandboxes: [],
        containers: [],
        containerStates: new Map(),
        sandboxStates: new Map(),
      };
      pods.set(uid, pod);
    }
    return pod;
  };
  for (const sb of sandboxes) {
    const uid = sandboxPodUid(sb);
    if (!uid) continue;
    uidOfSandbox.set(sb.id, uid);
    const pod = podFor(uid, sb.metadata?.name ?? '', sb.metadata?.namespace ?? '');
    pod.sandboxes.push(sb);
    pod.sandboxStates.set(sb.id, sandboxPlegState(sb.state));
  }
  for (const c of containers) {
    const uid = c.labels[podUidLabel] || uidOfSandbox.get(c.podSandboxId);
    if (!uid) continue;
    const pod = podFor(
      uid,
      c.labels['io.kubernetes.pod.name'] ?? '',
      c.labels['io.kubernetes.pod.namespace'] ?? '',
    );
    pod.containers.push(c);
    pod.containerStates.set(c.id, containerPlegState(c.state));
  }
  return pods;
}

function stateIn(pod: RelistPod | undefined, id: string): PlegContainerState {
  if (!pod) return 'non-existent';
  return pod.containerStates.get(id) ?? pod.sandboxStates.get(id) ?? 'non-existent';
}

/**
 * Every event of one pod between two relists (kubelet `computeEvents` over
 * `getContainersFromPods(old, new)`: old containers, old sandboxes, new containers,
 * new sandboxes, each ID once).
 */
export function computePodEvents(
  podUid: string,
  oldPod: RelistPod | undefined,
  newPod: RelistPod | undefined,
): PodLifecycleEvent[] {
  const events: PodLifecycleEvent[] = [];
  const seen = new Set<string>();
  for (const pod of [oldPod, newPod]) {
    if (!pod) continue;
    for (const ids of [pod.containerStates.keys(), pod.sandboxStates.keys()]) {
      for (const id of ids) {
        if (seen.has(id)) continue;
        seen.add(id);
        const evs = generateEvents(podUid, id, stateIn(oldPod, id), stateIn(newPod, id));
        for (const e of evs) events.push(e);
      }
    }
  }
  return events;
}

interface PodRecord {
  old: RelistPod | undefined;
  current: RelistPod | undefined;
}

/** Options of {@link GenericPleg}. */
export interface GenericPlegOptions {
  runtime: ContainerRuntime;
  clock: Clock;
  /** Time between the end of one relist and the start of the next; default 1 s. */
  relistPeriodMs?: number;
  /** Unhealthy when the last successful relist is older than this; default 3 min. */
  relistThresholdMs?: number;
  /** The cache to keep up to date; default a new {@link InMemoryPodStatusCache}. */
  cache?: PodStatusCache;
  /** The event channel; default a new one with `channelCapacity`. */
  channel?: PlegEventChannel;
  /** Buffer size of each subscriber when the channel is created here; default 1000. */
  channelCapacity?: number;
  metrics?: MetricsRegistry;
  logger?: Logger;
  /**
   * Where exited containers' termination messages are read from (the files mounted at
   * their `terminationMessagePath`, or their logs); default the node's filesystem.
   */
  terminationMessageFiles?: TerminationMessageFiles;
}

type CacheUpdate = 'updated' | 'stale' | 'failed';

/**
 * The relisting PLEG (kubelet `GenericPLEG`). Every relist period it lists all
 * sandboxes and containers (ListPodSandbox + ListContainers, concurrently), diffs them
 * per pod with the previous relist, re-reads the status of every pod that changed
 * into the cache (PodSandboxStatus + ContainerStatus), then emits the pod's events;
 * pods whose status could not be read are re-inspected next time and their events
 * are computed again. After each successful relist the cache's global timestamp
 * moves to the relist's start, so `getNewerThan` waiters of unchanged pods wake.
 */
export class GenericPleg implements PodLifecycleEventGenerator {
  readonly cache: PodStatusCache;
  private readonly runtime: ContainerRuntime;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly terminationMessageFiles: TerminationMessageFiles;
  private readonly metrics: PlegMetrics;
  private readonly channel: PlegEventChannel;
  private readonly ownsChannel: boolean;
  private relistPeriodMs: number;
  private relistThresholdMs: number;
  private readonly records = new Map<string, PodRecord>();
  private podsToReinspect = new Set<string>();
  private lastRelistWallMs: number | undefined;
  private lastRelistMono: number | undefined;
  private running = false;
  private timer: Timer | undefined;
  private abort = new AbortController();
  private chain: Promise<void> = Promise.resolve();
  private relistCount = 0;
  private failedRelistCount = 0;

  constructor(options: GenericPlegOptions) {
    this.runtime = options.runtime;
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'pleg' });
    this.terminationMessageFiles = options.terminationMessageFiles ?? nodeTerminationMessageFiles;
    this.metrics = plegMetrics(options.metrics ?? noopMetrics);
    this.relistPeriodMs = options.relistPeriodMs ?? defaultRelistPeriodMs;
    this.relistThresholdMs = options.relistThresholdMs ?? defaultRelistThresholdMs;
    this.cache = options.cache ?? new InMemoryPodStatusCache();
    this.ownsChannel = options.channel === undefined;
    this.channel =
      options.channel ??
      new PlegEventChannel({
        ...(options.channelCapacity === undefined ? {} : { capacity: options.channelCapacity }),
        onDiscard: () => this.metrics.discardEvents.inc(),
        logger: this.logger,
      });
  }

  /** Starts relisting: one relist now, then one `relistPeriodMs` after each finishes. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    this.tick();
  }

  /** Stops relisting, cancels in-flight runtime calls and ends the event subscriptions. */
  async stop(): Promise<void> {
    await this.stopRelisting();
    if (this.ownsChannel) this.channel.close();
  }

  /** Stops the relist loop without touching the event channel (used by the evented PLEG). */
  async stopRelisting(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.abort.abort();
    await this.chain;
  }

  watch(options?: PlegWatchOptions): AsyncIterable<PodLifecycleEvent> {
    return this.channel.watch(options);
  }

  subscribe(listener: (event: PodLifecycleEvent) => void | Promise<void>): () => void {
    return this.channel.subscribe(listener);
  }

  mode(): PlegMode {
    return 'relist';
  }

  /**
   * Kubelet `GenericPLEG.Healthy`: `pleg has yet to be successful` before the first
   * successful relist; unhealthy when that relist started more than the threshold
   * ago. Reads only timestamps, so a hanging relist cannot block it.
   */
  healthy(): PlegHealth {
    if (this.lastRelistMono === undefined || this.lastRelistWallMs === undefined) {
      return { ok: false, message: 'pleg has yet to be successful' };
    }
    this.metrics.lastSeen.set({}, Math.floor(this.lastRelistWallMs / 1000));
    const elapsed = this.clock.monotonicNow() - this.lastRelistMono;
    if (elapsed > this.relistThresholdMs) {
      return {
        ok: false,
        message: `pleg was last seen active ${formatGoDuration(elapsed)} ago; threshold is ${formatGoDuration(this.relistThresholdMs)}`,
      };
    }
    return { ok: true, message: '' };
  }

  /**
   * Changes the relist period and threshold (kubelet `GenericPLEG.Update`); when
   * running, relists at once and then at the new period.
   */
  updateRelistDurations(periodMs: number, thresholdMs: number): void {
    this.relistPeriodMs = periodMs;
    this.relistThresholdMs = thresholdMs;
    if (this.running) {
      this.timer?.cancel();
      this.timer = undefined;
      this.tick();
    }
  }

  /** The relist period and threshold in effect (ms). */
  relistDurations(): { periodMs: number; thresholdMs: number } {
    return { periodMs: this.relistPeriodMs, thresholdMs: this.relistThresholdMs };
  }

  /** Relists once now (after any relist in progress); never rejects. */
  relist(): Promise<void> {
    const run = this.chain.then(() => this.doRelist(this.abort.signal));
    this.chain = run.catch((err: unknown) => {
      this.logger.error('GenericPLEG: relist failed unexpectedly', { err });
    });
    return this.chain;
  }

  /** Counters for tests and diagnostics. */
  stats(): { relists: number; failedRelists: number; trackedPods: number } {
    return {
      relists: this.relistCount,
      failedRelists: this.failedRelistCount,
      trackedPods: this.records.size,
    };
  }

  /** Whether a subscriber's buffer is full (the evented PLEG reports that as unhealthy). */
  channelFull(): { full: boolean; depth: number } {
    return { full: this.channel.isFull(), depth: this.channel.depth() };
  }

  /** Sends events to the channel (shared with the evented PLEG); drops ContainerChanged. */
  emit(events: readonly PodLifecycleEvent[]): void {
    for (const e of events) {
      // Kubelet: "Filter out events that are not reliable and no other components use yet."
      if (e.type === PodLifecycleEventType.ContainerChanged) continue;
      this.channel.send(e);
    }
  }

  private tick = (): void => {
    this.timer = undefined;
    if (!this.running) return;
    void this.relist().then(() => {
      if (this.running && this.timer === undefined) {
        this.timer = this.clock.setTimeout(this.tick, this.relistPeriodMs);
      }
    });
  };

  private async doRelist(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const timestampMs = this.clock.now();
    const startMono = this.clock.monotonicNow();
    this.relistCount++;
    if (this.lastRelistMono !== undefined) {
      this.metrics.relistInterval.observe({}, (startMono - this.lastRelistMono) / 1000);
    }
    try {
      let sandboxes: cri.PodSandbox[];
      let containers: cri.Container[];
      try {
        const [sb, ctr] = await Promise.all([
          this.runtime.listPodSandbox({}, { signal }),
          this.runtime.listContainers({}, { signal }),
        ]);
        sandboxes = sb.items;
        containers = ctr.containers;
      } catch (err) {
        if (signal.aborted) return;
        this.failedRelistCount++;
        this.logger.error('GenericPLEG: Unable to retrieve pods', { err });
        return;
      }
      this.lastRelistWallMs = timestampMs;
      this.lastRelistMono = startMono;
      this.metrics.lastSeen.set({}, Math.floor(timestampMs / 1000));

      const pods = groupByPod(sandboxes, containers);
      for (const record of this.records.values()) record.current = undefined;
      for (const pod of pods.values()) {
        let record = this.records.get(pod.uid);
        if (!record) {
          record = { old: undefined, current: undefined };
          this.records.set(pod.uid, record);
        }
        record.current = pod;
      }

      const needsReinspection = new Set<string>();
      for (const [podUid, record] of [...this.records]) {
        const events = computePodEvents(podUid, record.old, record.current);
        if (events.length === 0 && !this.podsToReinspect.has(podUid)) continue;
        const update = await this.updateCache(podUid, record.current, signal);
        if (signal.aborted) return;
        if (update === 'failed') {
          needsReinspection.add(podUid);
          continue;
        }
        // Kubelet with EventedPLEG: a newer status from an event wins; no events.
        if (update === 'stale') continue;
        if (record.current === undefined) this.records.delete(podUid);
        else record.old = record.current;
        this.emit(events);
      }
      this.podsToReinspect = needsReinspection;
      // After every pod is in the cache: "everything is at least this fresh".
      this.cache.updateTime(timestampMs);
    } finally {
      this.metrics.relistDuration.observe({}, (this.clock.monotonicNow() - startMono) / 1000);
    }
  }

  /** Re-reads one pod's status into the cache (kubelet `updateCache`). */
  private async updateCache(
    podUid: string,
    pod: RelistPod | undefined,
    signal: AbortSignal,
  ): Promise<CacheUpdate> {
    if (!pod) {
      // No sandbox or container of the pod is left: forget it.
      this.cache.delete(podUid);
      return 'updated';
    }
    const timestampMs = this.clock.now();
    try {
      const status = await this.inspectPod(pod, signal);
      return this.cache.set(podUid, status, undefined, timestampMs) ? 'updated' : 'stale';
    } catch (err) {
      if (signal.aborted) return 'failed';
      const error = err instanceof Error ? err : new Error(String(err));
      this.logger.error('PLEG: Ignoring events for pod', { err: error, podUID: podUid });
      this.cache.set(podUid, statusFromList(pod), error, timestampMs);
      return 'failed';
    }
  }

  /** PodSandboxStatus of each sandbox and ContainerStatus of each container of the pod. */
  private async inspectPod(pod: RelistPod, signal: AbortSignal): Promise<RuntimePodStatus> {
    const notFoundIsGone = <T>(p: Promise<T>): Promise<T | undefined> =>
      p.catch((err: unknown) => {
        // Removed between the list and the status call: simply not there any more.
        if (isNodeAgentError(err, 'NotFound')) return undefined;
        throw err;
      });
    const [sandboxes, containers] = await Promise.all([
      Promise.all(
        pod.sandboxes.map((sb) =>
          notFoundIsGone(this.runtime.podSandboxStatus({ podSandboxId: sb.id }, { signal })),
        ),
      ),
      Promise.all(
        pod.containers.map((c) =>
          notFoundIsGone(this.runtime.containerStatus({ containerId: c.id }, { signal })).then(
            async (res) => {
              if (!res?.status) return undefined;
              const status = toRuntimeContainerStatus(res.status, c.podSandboxId);
              status.message = await containerMessage(res.status, this.terminationMessageFiles);
              return status;
            },
          ),
        ),
      ),
    ]);
    const sandboxStatuses: cri.PodSandboxStatus[] = [];
    for (const res of sandboxes) if (res?.status) sandboxStatuses.push(res.status);
    const containerStatuses: RuntimeContainerStatus[] = [];
    for (const c of containers) if (c) containerStatuses.push(c);
    return buildPodStatus(pod.uid, sandboxStatuses, containerStatuses, pod);
  }
}

/** What a relist alone knows of a pod, for the cache when its status cannot be read. */
function statusFromList(pod: RelistPod): RuntimePodStatus {
  const sandboxes: cri.PodSandboxStatus[] = pod.sandboxes.map((sb) => ({
    ...sb,
    network: null,
    linux: null,
  }));
  const containers = pod.containers.map(runtimeContainerStatusFromListing);
  return buildPodStatus(pod.uid, sandboxes, containers, pod);
}
