import {
  Clock,
  ContainerRuntime,
  ImageService,
  Logger,
  RealClock,
  StatsProvider,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import type { NodeStatsProvider } from './stats-provider.js';
import { createStatsProvider, type StatsProviderOptions } from './stats-provider.js';

/** Options of {@link registerNodeStats}: the provider's options, collaborators taken from the container when omitted. */
export type RegisterNodeStatsOptions = Omit<StatsProviderOptions, 'runtime' | 'images' | 'clock'> &
  Partial<Pick<StatsProviderOptions, 'runtime' | 'images' | 'clock'>>;

/**
 * Registers one shared {@link NodeStatsProvider} (created on first resolve) as core's
 * `StatsProvider`. The runtime, image service, clock and logger come from the
 * options, else from the container's `ContainerRuntime`, `ImageService`, `Clock`
 * (a RealClock when absent) and `Logger`. The agent calls `start()`/`stop()` on the
 * resolved provider (it is a `NodeStatsProvider`).
 */
export function registerNodeStats(
  container: FactoryRegistry,
  options: RegisterNodeStatsOptions,
): void {
  let provider: NodeStatsProvider | undefined;
  container.register(StatsProvider, {
    useFactory: (resolver: TokenResolver) => {
      if (!provider) {
        const logger = options.logger ?? resolveOptional(resolver, Logger);
        provider = createStatsProvider({
          ...options,
          runtime: options.runtime ?? resolver.resolve(ContainerRuntime),
          images: options.images ?? resolver.resolve(ImageService),
          clock: options.clock ?? resolveOptional(resolver, Clock) ?? new RealClock(),
          ...(logger ? { logger } : {}),
        });
      }
      return provider;
    },
  });
}
