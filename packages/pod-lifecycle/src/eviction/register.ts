import {
  Clock,
  EventRecorder,
  Logger,
  MetricsRegistry,
  NodePressureProvider,
  RealClock,
  StatsProvider,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import { EvictionManager, type EvictionManagerOptions } from './eviction-manager.js';
import { OomWatcher, type OomWatcherOptions } from './oom-watcher.js';

/** Token of the shared {@link EvictionManager}. */
export const EvictionManagerToken: InjectionToken<EvictionManager> =
  createToken<EvictionManager>('EvictionManager');
/** Token of the shared {@link OomWatcher}. */
export const OomWatcherToken: InjectionToken<OomWatcher> = createToken<OomWatcher>('OomWatcher');

/** The pod-side hooks of the eviction manager, resolved lazily from the container. */
export type EvictionPodHooks = Pick<
  EvictionManagerOptions,
  | 'activePods'
  | 'killPod'
  | 'deleteUnusedImages'
  | 'deleteAllUnusedContainers'
  | 'hasDedicatedImageFs'
>;

/** Options of {@link registerEvictionManager}. */
export type RegisterEvictionManagerOptions = Omit<
  EvictionManagerOptions,
  keyof EvictionPodHooks | 'stats' | 'clock' | 'recorder' | 'logger' | 'metrics'
> &
  Partial<Pick<EvictionManagerOptions, 'stats' | 'clock' | 'recorder' | 'logger' | 'metrics'>> & {
    /** Builds the pod hooks (active pods, killPod, image/container GC) from the container. */
    hooks: (resolver: TokenResolver) => EvictionPodHooks;
  };

/**
 * Registers one shared {@link EvictionManager} (created on first resolve) as
 * `EvictionManagerToken` and as core's `NodePressureProvider`. `StatsProvider` comes
 * from the options or the container; `Clock`, `EventRecorder`, `Logger` and
 * `MetricsRegistry` from the options, else the container when registered.
 * Thresholds are validated when the manager is first resolved (InvalidConfigError).
 */
export function registerEvictionManager(
  container: FactoryRegistry,
  options: RegisterEvictionManagerOptions,
): void {
  let manager: EvictionManager | undefined;
  const get = (resolver: TokenResolver): EvictionManager => {
    if (!manager) {
      const { hooks, ...rest } = options;
      const recorder = options.recorder ?? resolveOptional(resolver, EventRecorder);
      const logger = options.logger ?? resolveOptional(resolver, Logger);
      const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
      manager = new EvictionManager({
        ...rest,
        ...hooks(resolver),
        stats: options.stats ?? resolver.resolve(StatsProvider),
        clock: options.clock ?? resolveOptional(resolver, Clock) ?? new RealClock(),
        ...(recorder ? { recorder } : {}),
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
      });
    }
    return manager;
  };
  container.register(EvictionManagerToken, { useFactory: get });
  container.register(NodePressureProvider, { useFactory: get });
}

/** Options of {@link registerOomWatcher}. */
export type RegisterOomWatcherOptions = Omit<
  OomWatcherOptions,
  'clock' | 'recorder' | 'logger' | 'metrics'
> &
  Partial<Pick<OomWatcherOptions, 'clock' | 'recorder' | 'logger' | 'metrics'>>;

/** Registers one shared {@link OomWatcher} as `OomWatcherToken`; collaborators as in {@link registerEvictionManager}. */
export function registerOomWatcher(
  container: FactoryRegistry,
  options: RegisterOomWatcherOptions = {},
): void {
  let watcher: OomWatcher | undefined;
  container.register(OomWatcherToken, {
    useFactory: (resolver) => {
      if (!watcher) {
        const recorder = options.recorder ?? resolveOptional(resolver, EventRecorder);
        const logger = options.logger ?? resolveOptional(resolver, Logger);
        const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
        watcher = new OomWatcher({
          ...options,
          clock: options.clock ?? resolveOptional(resolver, Clock) ?? new RealClock(),
          ...(recorder ? { recorder } : {}),
          ...(logger ? { logger } : {}),
          ...(metrics ? { metrics } : {}),
        });
      }
      return watcher;
    },
  });
}
