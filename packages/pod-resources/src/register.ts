import {
  Clock,
  Logger,
  MetricsRegistry,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import {
  PodResourcesServer,
  PodResourcesServerToken,
  type PodResourcesServerOptions,
} from './server.js';

/**
 * Registers one shared {@link PodResourcesServer} (created on first resolve) as
 * `PodResourcesServerToken`. Its clock, logger and metrics come from the options,
 * else from the container's `Clock`, `Logger` and `MetricsRegistry` when registered.
 * The caller starts and stops it.
 */
export function registerPodResourcesServer(
  container: FactoryRegistry,
  options: PodResourcesServerOptions,
): void {
  let server: PodResourcesServer | undefined;
  const get = (resolver: TokenResolver): PodResourcesServer => {
    if (!server) {
      const clock = options.clock ?? resolveOptional(resolver, Clock);
      const logger = options.logger ?? resolveOptional(resolver, Logger);
      const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
      server = new PodResourcesServer({
        ...options,
        ...(clock ? { clock } : {}),
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
      });
    }
    return server;
  };
  container.register(PodResourcesServerToken, { useFactory: get });
}
