import {
  isNodeAgentError,
  noopLogger,
  noopMetrics,
  PodLifecycleEventType,
  type Clock,
  type ContainerRuntime,
  type Logger,
  type PlegHealth,
  type PlegMode,
  type PlegWatchOptions,
  type PodLifecycleEvent,
  type PodLifecycleEventGenerator,
  type PodStatusCache,
  type Timer,
  type cri,
} from '@nodeagent/core';
import { PlegEventChannel } from './event-channel.js';
import {
  defaultRelistPeriodMs,
  defaultRelistThresholdMs,
  GenericPleg,
  type GenericPlegOptions,
} from './generic-pleg.js';
import { plegMetrics, type PlegMetrics } from './metrics.js';
import { InMemoryPodStatusCache } from './pod-status-cache.js';
import { buildPodStatus, nsToMs, sandboxPodUid, toRuntimeContainerStatus } from './pod-status.js';
import {
  containerMessage,
  nodeTerminationMessageFiles,
  type TerminationMessageFiles,
} from './termination-message.js';

/** The kubelet's safety relist period while events flow (`eventedPlegRelistPeriod`): 300 s. */
export const defaultEventedRelistPeriodMs = 300_000;
/** The kubelet's relist threshold while events flow (`eventedPlegRelistThreshold`): 10 min. */
export const defaultEventedRelistThresholdMs = 600_000;
/** Failed event streams before falling back to relisting (`eventedPlegMaxStreamRetries`). */
export const defaultEventedMaxStreamRetries = 5;
/** How often the cache's global timestamp moves in evented mode (`globalCacheUpdatePeriod`). */
export const defaultGlobalCacheUpdatePeriodMs = 5_000;

/** Options of {@link EventedPleg}. */
export interface EventedPlegOptions extends GenericPlegOptions {
  /** Safety relist period while the event stream works; default 300 s. */
  eventedRelistPeriodMs?: number;
  /** Relist threshold while the event stream works; default 10 min. */
  eventedRelistThresholdMs?: number;
  /** Failed stream attempts before falling back to relisting; default 5. */
  maxStreamRetries?: number;
  /** Period of the cache's global timestamp update; default 5 s. */
  globalCacheUpdatePeriodMs?: number;
}

/**
 * The event-driven PLEG (kubelet `EventedPLEG`): consumes the runtime's CRI
 * `GetContainerEvents` stream — CREATED updates the cache only, STARTED →
 * ContainerStarted, STOPPED → ContainerDied, DELETED → ContainerDied +
 * ContainerRemoved — and writes the statuses the event carries into the cache
 * (stale ones are refused). A relisting {@link GenericPleg} keeps running with a slow
 * period (300 s) as a safety net. After every stream error it relists at once; after
 * `maxStreamRetries` failed streams, or at once when the runtime answers
 * Unimplemented, it falls back to plain relisting with the normal period and
 * threshold.
 */
export class EventedPleg implements PodLifecycleEventGenerator {
  readonly cache: PodStatusCache;
  private readonly runtime: ContainerRuntime;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: PlegMetrics;
  private readonly channel: PlegEventChannel;
  private readonly generic: GenericPleg;
  private readonly terminationMessageFiles: TerminationMessageFiles;
  private readonly relistPeriodMs: number;
  private readonly relistThresholdMs: number;
  private readonly eventedRelistPeriodMs: number;
  private readonly eventedRelistThresholdMs: number;
  private readonly maxStreamRetries: number;
  private readonly globalCacheUpdatePeriodMs: number;
  private currentMode: PlegMode = 'evented';
  private running = false;
  private streamAbort = new AbortController();
  private watching: Promise<void> = Promise.resolve();
  private cacheTimer: Timer | undefined;
  private failedStreams = 0;
  private fallbackReason = '';

  constructor(options: EventedPlegOptions) {
    this.runtime = options.runtime;
    this.terminationMessageFiles = options.terminationMessageFiles ?? nodeTerminationMessageFiles;
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'pleg', mode: 'evented' });
    this.metrics = plegMetrics(options.metrics ?? noopMetrics);
    this.relistPeriodMs = options.relistPeriodMs ?? defaultRelistPeriodMs;
    this.relistThresholdMs = options.relistThresholdMs ?? defaultRelistThresholdMs;
    this.eventedRelistPeriodMs = options.eventedRelistPeriodMs ?? defaultEventedRelistPeriodMs;
    this.eventedRelistThresholdMs =
      options.eventedRelistThresholdMs ?? defaultEventedRelistThresholdMs;
    this.maxStreamRetries = options.maxStreamRetries ?? defaultEventedMaxStreamRetries;
    this.globalCacheUpdatePeriodMs =
      options.globalCacheUpdatePeriodMs ?? defaultGlobalCacheUpdatePeriodMs;
    this.cache = options.cache ?? new InMemoryPodStatusCache({ rejectStaleUpdates: true });
    this.channel =
      options.channel ??
      new PlegEventChannel({
        ...(options.channelCapacity === undefined ? {} : { capacity: options.channelCapacity }),
        onDiscard: () => this.metrics.discardEvents.inc(),
        logger: this.logger,
      });
    this.generic = new GenericPleg({
      ...options,
      cache: this.cache,
      channel: this.channel,
      relistPeriodMs: this.eventedRelistPeriodMs,
      relistThresholdMs: this.eventedRelistThresholdMs,
    });
  }

  /** Starts the safety relist, the event stream and the global cache timestamp timer. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.currentMode = 'evented';
    this.failedStreams = 0;
    this.fallbackReason = '';
    this.generic.updateRelistDurations(this.eventedRelistPeriodMs, this.eventedRelistThresholdMs);
    this.generic.start();
    this.streamAbort = new AbortController();
    this.cacheTimer = this.clock.setInterval(
      () => this.cache.updateTime(this.clock.now()),
      this.globalCacheUpdatePeriodMs,
    );
    this.watching = this.watchEvents(this.streamAbort.signal);
  }

  /** Ends the stream, the timers and the relist loop; ends all subscriptions. */
  async stop(): Promise<void> {
    this.running = false;
    this.streamAbort.abort();
    this.cacheTimer?.cancel();
    this.cacheTimer = undefined;
    await this.watching;
    await this.generic.stopRelisting();
    this.channel.close();
  }

  watch(options?: PlegWatchOptions): AsyncIterable<PodLifecycleEvent> {
    return this.channel.watch(options);
  }

  subscribe(listener: (event: PodLifecycleEvent) => void | Promise<void>): () => void {
    return this.channel.subscribe(listener);
  }

  mode(): PlegMode {
    return this.currentMode;
  }

  /** Why the PLEG fell back to relisting (`''` while evented). */
  fallbackCause(): string {
    return this.fallbackReason;
  }

  /** Failed event streams so far. */
  failedStreamAttempts(): number {
    return this.failedStreams;
  }

  /** Relists once now (the safety relist), after any relist in progress. */
  relist(): Promise<void> {
    return this.generic.relist();
  }

  /**
   * The relisting PLEG's health (with the evented threshold while events flow); in
   * evented mode also unhealthy while a subscriber's buffer is full, as the kubelet's
   * `EventedPLEG.Healthy`.
   */
  healthy(): PlegHealth {
    const health = this.generic.healthy();
    if (!health.ok || this.currentMode !== 'evented') return health;
    const { full, depth } = this.generic.channelFull();
    if (full) {
      return {
        ok: false,
        message: `EventedPLEG: pleg event channel capacity is full with ${depth} events`,
      };
    }
    return health;
  }

  private async watchEvents(signal: AbortSignal): Promise<void> {
    while (this.running && !signal.aborted) {
      if (this.failedStreams >= this.maxStreamRetries) {
        this.fallBack(`${this.failedStreams} event streams failed`);
        return;
      }
      let failure: unknown;
      try {
        let first = true;
        for await (const event of this.runtime.getContainerEvents({}, { signal })) {
          if (first) {
            first = false;
            this.metrics.eventedConnectionSuccess.inc();
          }
          await this.processEvent(event);
        }
        if (signal.aborted) return;
        failure = new Error('container events stream is closed');
      } catch (err) {
        if (signal.aborted) return;
        failure = err;
      }
      this.metrics.eventedConnectionErrors.inc();
      if (isNodeAgentError(failure, 'Unimplemented')) {
        this.fallBack('the runtime does not implement GetContainerEvents');
        return;
      }
      this.failedStreams++;
      this.logger.info('Evented PLEG: Failed to get container events, retrying', {
        err: failure,
        attempt: this.failedStreams,
      });
      // Events may have been missed: relist to catch up.
      await this.generic.relist();
    }
  }

  private fallBack(reason: string): void {
    if (this.currentMode === 'relist') return;
    this.currentMode = 'relist';
    this.fallbackReason = reason;
    this.cacheTimer?.cancel();
    this.cacheTimer = undefined;
    this.logger.warn('Fall back to Generic PLEG relisting since Evented PLEG is not working', {
      reason,
    });
    this.generic.updateRelistDurations(this.relistPeriodMs, this.relistThresholdMs);
  }

  /**
   * Kubelet `processCRIEvents` + `processCRIEvent` for one event. Exited containers
   * get their termination message (file or log end) like the relisting PLEG's.
   */
  private async processEvent(event: cri.ContainerEventResponse): Promise<void> {
    const sandbox = event.podSandboxStatus;
    if (!sandbox?.metadata) {
      this.logger.error(
        'Evented PLEG: received ContainerEventResponse with nil PodSandboxStatus or PodSandboxStatus.Metadata',
        { containerID: event.containerId, eventType: event.containerEventType },
      );
      return;
    }
    const podUid = sandboxPodUid(sandbox);
    const containers = await Promise.all(
      event.containersStatuses.map(async (s) => {
        const status = toRuntimeContainerStatus(s, sandbox.id);
        status.message = await containerMessage(s, this.terminationMessageFiles);
        return status;
      }),
    );
    const status = buildPodStatus(podUid, [sandbox], containers);
    const timestampMs = nsToMs(event.createdAt) || this.clock.now();
    let send: boolean;
    if (event.containerEventType === 'CONTAINER_DELETED_EVENT') {
      // The runtime has removed it: so must the cache (the whole pod with its sandbox).
      if (event.containerId === sandbox.id) this.cache.delete(podUid);
      else this.cache.set(podUid, status, undefined, timestampMs);
      send = true;
    } else {
      send = this.cache.set(podUid, status, undefined, timestampMs);
    }
    if (!send) return;
    const ev = (type: PodLifecycleEventType): PodLifecycleEvent => ({
      podUid,
      type,
      containerId: event.containerId,
    });
    switch (event.containerEventType) {
      case 'CONTAINER_STARTED_EVENT':
        this.generic.emit([ev(PodLifecycleEventType.ContainerStarted)]);
        break;
      case 'CONTAINER_STOPPED_EVENT':
        this.generic.emit([ev(PodLifecycleEventType.ContainerDied)]);
        break;
      case 'CONTAINER_DELETED_EVENT':
        this.generic.emit([
          ev(PodLifecycleEventType.ContainerDied),
          ev(PodLifecycleEventType.ContainerRemoved),
        ]);
        break;
      case 'CONTAINER_CREATED_EVENT':
        // Only the cache changes; the relisting PLEG reports no event for creation either.
        break;
    }
  }
}
