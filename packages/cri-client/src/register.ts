import {
  ContainerRuntime,
  ImageService,
  Logger,
  MetricsRegistry,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import { CriClient, createCriClient, type CriClientOptions } from './client.js';

/**
 * Registers one shared CRI client (created on first resolve) as `CriClient`,
 * `ContainerRuntime` and `ImageService`. The client's logger and metrics come from
 * the options, else from the container's `Logger` and `MetricsRegistry` if registered.
 */
export function registerCriClient(container: FactoryRegistry, options: CriClientOptions): void {
  let client: CriClient | undefined;
  const get = (resolver: TokenResolver): CriClient => {
    if (!client) {
      const logger = options.logger ?? resolveOptional(resolver, Logger);
      const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
      client = createCriClient({
        ...options,
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
      });
    }
    return client;
  };
  container.register(CriClient, { useFactory: get });
  container.register(ContainerRuntime, { useFactory: get });
  container.register(ImageService, { useFactory: get });
}
