import {
  Clock,
  ContainerRuntime,
  EventRecorder,
  Logger,
  MetricsRegistry,
  ProbeManager,
  Random,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import {
  createProbeManager,
  type DefaultProbeManager,
  type ProbeManagerOptions,
} from './manager.js';

/**
 * Registers one shared probe manager (created on first resolve) as core's
 * `ProbeManager`. Collaborators not given in `options` come from the container when
 * registered: `ContainerRuntime` (required then), `Clock`, `Random`, `Logger`,
 * `MetricsRegistry`, `EventRecorder`.
 */
export function registerProbeManager(
  container: FactoryRegistry,
  options: ProbeManagerOptions = {},
): void {
  let manager: DefaultProbeManager | undefined;
  const get = (resolver: TokenResolver): DefaultProbeManager => {
    if (!manager) {
      const runtime =
        options.runtime ?? (options.runner ? undefined : resolver.resolve(ContainerRuntime));
      const clock = options.clock ?? resolveOptional(resolver, Clock);
      const random = options.random ?? resolveOptional(resolver, Random);
      const logger = options.logger ?? resolveOptional(resolver, Logger);
      const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
      const recorder = options.recorder ?? resolveOptional(resolver, EventRecorder);
      manager = createProbeManager({
        ...options,
        ...(runtime ? { runtime } : {}),
        ...(clock ? { clock } : {}),
        ...(random ? { random } : {}),
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
        ...(recorder ? { recorder } : {}),
      });
    }
    return manager;
  };
  container.register(ProbeManager, { useFactory: get });
}
