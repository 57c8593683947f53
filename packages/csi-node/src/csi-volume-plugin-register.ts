import {
  Clock,
  Logger,
  PodVolumePlugins,
  SecretManager,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import { CsiVolumePlugin, type CsiVolumePluginOptions } from './csi-volume-plugin.js';
import { PersistentVolumeLookup } from './pv-lookup.js';
import type { CsiDriverRegistry } from './types.js';

/** Token of the one {@link CsiVolumePlugin} (for `reconstruct()` at start and `volumeStats()`). */
export const CsiVolumePluginToken: InjectionToken<CsiVolumePlugin> =
  createToken<CsiVolumePlugin>('CsiVolumePlugin');

/** Options of {@link registerCsiVolumePlugin}. */
export type RegisterCsiVolumePluginOptions = Omit<
  CsiVolumePluginOptions,
  'clock' | 'drivers' | 'logger' | 'secrets' | 'persistentVolumes'
> &
  Partial<Pick<CsiVolumePluginOptions, 'clock' | 'logger' | 'secrets' | 'persistentVolumes'>> & {
    /** The registered drivers: an instance, or the token under which the registration part registered it. */
    drivers: CsiDriverRegistry | InjectionToken<CsiDriverRegistry>;
  };

function isToken(v: unknown): v is InjectionToken<CsiDriverRegistry> {
  return typeof v === 'symbol';
}

/**
 * Registers the CSI volume plugin (part 2 of csi-node: stage/publish for pods) as the
 * `CsiVolumePlugin` token and as the `PodVolumePlugins` list (`[plugin]`) that
 * pod-lifecycle reads. Clock, Logger, SecretManager and PersistentVolumeLookup come
 * from the options, else from the container when registered (Clock is required).
 * The driver registry (part 1, plugin registration) is passed in or named by its token.
 */
export function registerCsiVolumePlugin(
  container: FactoryRegistry,
  options: RegisterCsiVolumePluginOptions,
): void {
  let plugin: CsiVolumePlugin | undefined;
  const get = (r: TokenResolver): CsiVolumePlugin => {
    if (plugin) return plugin;
    const logger = options.logger ?? resolveOptional(r, Logger);
    const secrets = options.secrets ?? resolveOptional(r, SecretManager);
    const persistentVolumes =
      options.persistentVolumes ?? resolveOptional(r, PersistentVolumeLookup);
    const drivers = isToken(options.drivers) ? r.resolve(options.drivers) : options.drivers;
    plugin = new CsiVolumePlugin({
      ...options,
      drivers,
      clock: options.clock ?? r.resolve(Clock),
      ...(logger ? { logger } : {}),
      ...(secrets ? { secrets } : {}),
      ...(persistentVolumes ? { persistentVolumes } : {}),
    });
    return plugin;
  };
  container.register(CsiVolumePluginToken, { useFactory: get });
  container.register(PodVolumePlugins, { useFactory: (r) => [get(r)] });
}
