import {
  Clock,
  ContainerRuntime,
  Logger,
  MetricsRegistry,
  PodLifecycleEventGenerator,
  PodStatusCache,
  RealClock,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import { createPleg, type Pleg, type PlegOptions } from './create-pleg.js';

/** Options of {@link registerPleg}: {@link PlegOptions} whose collaborators may come from the container. */
export type RegisterPlegOptions = Omit<PlegOptions, 'runtime' | 'clock'> &
  Partial<Pick<PlegOptions, 'runtime' | 'clock'>>;

/**
 * Registers one shared PLEG (created on first resolve) as `PodLifecycleEventGenerator`
 * and its cache as `PodStatusCache`. The runtime comes from the options or the
 * container's `ContainerRuntime`; the clock from the options, the container's `Clock`,
 * else the real clock; logger and metrics from the options or the container when
 * registered.
 */
export function registerPleg(container: FactoryRegistry, options: RegisterPlegOptions = {}): void {
  let pleg: Pleg | undefined;
  const get = (resolver: TokenResolver): Pleg => {
    if (!pleg) {
      const logger = options.logger ?? resolveOptional(resolver, Logger);
      const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
      pleg = createPleg({
        ...options,
        runtime: options.runtime ?? resolver.resolve(ContainerRuntime),
        clock: options.clock ?? resolveOptional(resolver, Clock) ?? new RealClock(),
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
      });
    }
    return pleg;
  };
  container.register(PodLifecycleEventGenerator, { useFactory: get });
  container.register(PodStatusCache, { useFactory: (resolver) => get(resolver).cache });
}
