import {
  Clock,
  Logger,
  MetricsRegistry,
  Random,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import type { CsiDriverRegistry as CsiDriverRegistryType } from './types.js';
import { CsiPluginManager, type CsiPluginManagerOptions } from './plugin-watcher.js';

/** Token of the node's {@link CsiPluginManager}. */
export const CsiPluginManagerToken: InjectionToken<CsiPluginManager> =
  createToken<CsiPluginManager>('CsiPluginManager');

/** Token of the node's CSI driver registry (kubelet `csiDrivers`), filled by the plugin manager. */
export const CsiDriverRegistryToken: InjectionToken<CsiDriverRegistryType> =
  createToken<CsiDriverRegistryType>('CsiDriverRegistry');

/**
 * Registers one shared {@link CsiPluginManager} (created on first resolve) as
 * `CsiPluginManagerToken`, and its registry as `CsiDriverRegistryToken`. Clock, Random,
 * Logger and MetricsRegistry come from the options, else from the container if
 * registered. The caller starts and stops the manager.
 */
export function registerCsiPluginManager(
  container: FactoryRegistry,
  options: CsiPluginManagerOptions = {},
): void {
  let manager: CsiPluginManager | undefined;
  const get = (resolver: TokenResolver): CsiPluginManager => {
    if (!manager) {
      const clock = options.clock ?? resolveOptional(resolver, Clock);
      const random = options.random ?? resolveOptional(resolver, Random);
      const logger = options.logger ?? resolveOptional(resolver, Logger);
      const metrics = options.metrics ?? resolveOptional(resolver, MetricsRegistry);
      manager = new CsiPluginManager({
        ...options,
        ...(clock ? { clock } : {}),
        ...(random ? { random } : {}),
        ...(logger ? { logger } : {}),
        ...(metrics ? { metrics } : {}),
      });
    }
    return manager;
  };
  container.register(CsiPluginManagerToken, { useFactory: get });
  container.register(CsiDriverRegistryToken, { useFactory: (r) => get(r).registry });
}
