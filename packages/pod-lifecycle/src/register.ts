import {
  Clock,
  ConfigMapManager,
  ContainerRuntime,
  EventRecorder,
  ImageService,
  Logger,
  MetricsRegistry,
  MirrorClient,
  PodLifecycleEventGenerator,
  PodStatusManager,
  PodSources,
  PodVolumePlugins,
  ProbeManager,
  Random,
  SecretManager,
  ServiceAccountTokenManager,
  ServiceLister,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
} from '@nodeagent/core';
import { limitImagePulls } from './images/pull-limiter.js';
import { PodLifecycle, type PodLifecycleOptions } from './pod-lifecycle.js';

export const PodLifecycleToken: InjectionToken<PodLifecycle> =
  createToken<PodLifecycle>('PodLifecycle');

/** Options of {@link registerPodLifecycle}: everything but what comes from the container. */
export type RegisterPodLifecycleOptions = Omit<
  PodLifecycleOptions,
  | 'runtime'
  | 'images'
  | 'cache'
  | 'clock'
  | 'logger'
  | 'recorder'
  | 'probes'
  | 'sources'
  | 'pleg'
  | 'random'
  | 'configMaps'
  | 'secrets'
  | 'statusManager'
  | 'mirrorClient'
> &
  Partial<
    Pick<
      PodLifecycleOptions,
      'sources' | 'probes' | 'configMaps' | 'secrets' | 'statusManager' | 'mirrorClient'
    >
  > & {
    /**
     * Image pulls run at once (kubelet: 1 with `serializeImagePulls`, the default, else
     * `maxParallelImagePulls`); unset: no limit. See `imagePullConcurrency`.
     */
    maxParallelImagePulls?: number;
  };

/**
 * Registers one `PodLifecycle` (token `PodLifecycle`), built from the container's
 * ContainerRuntime, ImageService, PodLifecycleEventGenerator (its cache), Clock, and
 * — when registered — Logger, EventRecorder, ProbeManager, Random, PodSources,
 * ConfigMapManager, SecretManager, ServiceAccountTokenManager, ServiceLister (service-link env variables) and PodVolumePlugins (without them ConfigMap/Secret references behave as
 * on a kubelet without an API server: missing, unless optional), PodStatusManager and
 * MirrorClient (API mode), and MetricsRegistry (the kubelet's pod metrics; `options.metrics`
 * wins). With `maxParallelImagePulls` the image service's pulls are queued
 * ({@link limitImagePulls}).
 */
export function registerPodLifecycle(
  container: FactoryRegistry,
  options: RegisterPodLifecycleOptions,
): void {
  let instance: PodLifecycle | undefined;
  container.register(PodLifecycleToken, {
    useFactory: (r) => {
      if (instance) return instance;
      const pleg = r.resolve(PodLifecycleEventGenerator);
      const logger = resolveOptional(r, Logger);
      const recorder = resolveOptional(r, EventRecorder);
      const probes = options.probes ?? resolveOptional(r, ProbeManager);
      const random = resolveOptional(r, Random);
      const configMaps = options.configMaps ?? resolveOptional(r, ConfigMapManager);
      const secrets = options.secrets ?? resolveOptional(r, SecretManager);
      const serviceAccountTokens =
        options.serviceAccountTokens ?? resolveOptional(r, ServiceAccountTokenManager);
      const services = options.services ?? resolveOptional(r, ServiceLister);
      const volumePlugins = options.volumePlugins ?? resolveOptional(r, PodVolumePlugins);
      const statusManager = options.statusManager ?? resolveOptional(r, PodStatusManager);
      const mirrorClient = options.mirrorClient ?? resolveOptional(r, MirrorClient);
      const metrics = options.metrics ?? resolveOptional(r, MetricsRegistry);
      const { maxParallelImagePulls, ...lifecycleOptions } = options;
      const images = r.resolve(ImageService);
      instance = new PodLifecycle({
        ...lifecycleOptions,
        runtime: r.resolve(ContainerRuntime),
        images:
          maxParallelImagePulls === undefined
            ? images
            : limitImagePulls(images, maxParallelImagePulls),
        cache: pleg.cache,
        pleg,
        clock: r.resolve(Clock),
        sources: options.sources ?? resolveOptional(r, PodSources) ?? [],
        ...(logger ? { logger } : {}),
        ...(recorder ? { recorder } : {}),
        ...(probes ? { probes } : {}),
        ...(random ? { random } : {}),
        ...(configMaps ? { configMaps } : {}),
        ...(secrets ? { secrets } : {}),
        ...(serviceAccountTokens ? { serviceAccountTokens } : {}),
        ...(services ? { services } : {}),
        ...(volumePlugins ? { volumePlugins } : {}),
        ...(statusManager ? { statusManager } : {}),
        ...(mirrorClient ? { mirrorClient } : {}),
        ...(metrics ? { metrics } : {}),
      });
      return instance;
    },
  });
}
