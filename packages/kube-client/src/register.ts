import {
  Clock,
  ConfigMapManager,
  Logger,
  Random,
  SecretManager,
  ServiceAccountTokenManager,
  ServiceLister,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import { ApiPodSource, type PodReflectorTuning } from './api-pod-source.js';
import { createKubeApi, loadKubeConfig, type KubeApi, type KubeConfigSource } from './kube-api.js';
import { WatchingServiceLister, type ServiceReflectorTuning } from './service-lister.js';
import {
  createConfigMapManager,
  createSecretManager,
  type ChangeDetectionStrategy,
  type StoppableConfigMapManager,
  type StoppableSecretManager,
} from './object-manager-strategies.js';
import {
  type ObjectReflectorTuning,
  type WatchingObjectManagerOptions,
} from './watching-object-managers.js';
import { ApiServiceAccountTokenManager } from './token-manager.js';

/** Token of the agent's shared, rate-limited API clients. */
export const KubeApiClient: InjectionToken<KubeApi> = createToken<KubeApi>('KubeApiClient');

/**
 * Token of the API server pod source; the agent adds it to its `PodSources` list
 * (e.g. `[...r.resolve(StaticPodSources), r.resolve(ApiServerPodSource)]`).
 */
export const ApiServerPodSource: InjectionToken<ApiPodSource> =
  createToken<ApiPodSource>('ApiServerPodSource');

/**
 * Token of the watching service lister (the same instance as core's `ServiceLister`),
 * for the agent to start before pods are synced and stop on shutdown.
 */
export const ApiServerServiceLister: InjectionToken<WatchingServiceLister> =
  createToken<WatchingServiceLister>('ApiServerServiceLister');

/** Options of {@link registerKubeClient}. */
export interface KubeClientOptions {
  /** This node's name. */
  nodeName: string;
  /** Ready API clients; else built from `kubeconfig` with `qps`/`burst`/`userAgent`. */
  api?: KubeApi;
  /** Where to load the API server configuration from (kubelet `--kubeconfig`, or in-cluster). */
  kubeconfig?: KubeConfigSource;
  /** kubelet `kubeAPIQPS` (default 50). */
  qps?: number;
  /** kubelet `kubeAPIBurst` (default 100). */
  burst?: number;
  userAgent?: string;
  /** The pod source's checkpoint file (see `ApiPodSource`); none when unset. */
  podCheckpointPath?: string;
  /** The service lister's checkpoint file (see `WatchingServiceLister`); none when unset. */
  serviceCheckpointPath?: string;
  /** Tuning of the pod reflector. */
  podReflector?: PodReflectorTuning;
  /** Tuning of the ConfigMap/Secret reflectors. */
  objectReflector?: ObjectReflectorTuning;
  /** Tuning of the service lister's reflector. */
  serviceReflector?: ServiceReflectorTuning;
  /** Bounded wait of `getConfigMap`/`getSecret` for a first sync, ms (default 1000). */
  objectSyncTimeoutMs?: number;
  /**
   * kubelet `configMapAndSecretChangeDetectionStrategy`: `Watch` (default), `Cache` or
   * `Get`; see `createConfigMapManager`.
   */
  changeDetectionStrategy?: ChangeDetectionStrategy;
  /** `Cache` only: the object TTL now, ms (the Node's TTL annotation); default 1 min. */
  objectCacheTtlMs?: () => number | undefined;
  /** Else the container's `Clock` (required there then). */
  clock?: Clock;
  /** Else the container's `Random` when registered, else `Math.random`. */
  random?: Random;
  /** Else the container's `Logger` when registered. */
  logger?: Logger;
}

/**
 * Registers API-server mode's client side, each created once on first resolve:
 * `KubeApiClient` (shared rate-limited clients), `ApiServerPodSource` (the `api` pod
 * source, for the agent to add to `PodSources`), core's `ConfigMapManager` and
 * `SecretManager` of the `changeDetectionStrategy` (watching by default), and core's `ServiceLister` (also as
 * `ApiServerServiceLister`, which the agent starts and stops) as the all-namespace
 * service reflector the kubelet uses for service-link environment variables, and
 * core's `ServiceAccountTokenManager` (TokenRequest tokens for projected volumes).
 */
export function registerKubeClient(container: FactoryRegistry, options: KubeClientOptions): void {
  let api: KubeApi | undefined;
  let source: ApiPodSource | undefined;
  let configMaps: StoppableConfigMapManager | undefined;
  let secrets: StoppableSecretManager | undefined;
  let tokens: ApiServiceAccountTokenManager | undefined;
  let services: WatchingServiceLister | undefined;
  const common = (r: TokenResolver): { clock: Clock; random?: Random; logger?: Logger } => {
    const clock = options.clock ?? r.resolve(Clock);
    const random = options.random ?? resolveOptional(r, Random);
    const logger = options.logger ?? resolveOptional(r, Logger);
    return { clock, ...(random ? { random } : {}), ...(logger ? { logger } : {}) };
  };
  const getApi = (r: TokenResolver): KubeApi => {
    if (api === undefined) {
      if (options.api !== undefined) api = options.api;
      else {
        const config = loadKubeConfig(options.kubeconfig ?? {});
        api = createKubeApi(config, {
          clock: common(r).clock,
          ...(options.qps !== undefined ? { qps: options.qps } : {}),
          ...(options.burst !== undefined ? { burst: options.burst } : {}),
          ...(options.userAgent !== undefined ? { userAgent: options.userAgent } : {}),
        });
      }
    }
    return api;
  };
  container.register(KubeApiClient, { useFactory: getApi });
  container.register(ApiServerPodSource, {
    useFactory: (r) => {
      source ??= new ApiPodSource({
        ...common(r),
        nodeName: options.nodeName,
        api: getApi(r),
        ...(options.podCheckpointPath !== undefined
          ? { checkpointPath: options.podCheckpointPath }
          : {}),
        ...(options.podReflector ? { reflector: options.podReflector } : {}),
      });
      return source;
    },
  });
  const strategy = options.changeDetectionStrategy ?? 'Watch';
  const managerOptions = (
    r: TokenResolver,
  ): WatchingObjectManagerOptions & { ttlMs?: () => number | undefined } => ({
    ...common(r),
    api: getApi(r),
    ...(options.objectSyncTimeoutMs !== undefined
      ? { syncTimeoutMs: options.objectSyncTimeoutMs }
      : {}),
    ...(options.objectReflector ? { reflector: options.objectReflector } : {}),
    ...(options.objectCacheTtlMs ? { ttlMs: options.objectCacheTtlMs } : {}),
  });
  container.register(ConfigMapManager, {
    useFactory: (r) => (configMaps ??= createConfigMapManager(strategy, managerOptions(r))),
  });
  container.register(SecretManager, {
    useFactory: (r) => (secrets ??= createSecretManager(strategy, managerOptions(r))),
  });
  // Projected service-account tokens (kubelet token.Manager) through the TokenRequest API.
  container.register(ServiceAccountTokenManager, {
    useFactory: (r) =>
      (tokens ??= new ApiServiceAccountTokenManager({ ...common(r), api: getApi(r) })),
  });
  const serviceLister = (r: TokenResolver): WatchingServiceLister =>
    (services ??= new WatchingServiceLister({
      ...common(r),
      api: getApi(r),
      ...(options.serviceReflector ? { reflector: options.serviceReflector } : {}),
      ...(options.serviceCheckpointPath !== undefined
        ? { checkpointPath: options.serviceCheckpointPath }
        : {}),
    }));
  container.register(ApiServerServiceLister, { useFactory: serviceLister });
  container.register(ServiceLister, { useFactory: serviceLister });
}
