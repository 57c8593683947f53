import {
  Clock,
  ContainerRuntime,
  EventRecorder,
  ImageService,
  Logger,
  MetricsRegistry,
  RealClock,
  createToken,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type TokenResolver,
} from '@nodeagent/core';
import {
  ContainerGcManager,
  PodStateProvider,
  type ContainerGcManagerOptions,
} from './container-gc-manager.js';
import { ContainerLogManager, type ContainerLogManagerOptions } from './container-log-manager.js';
import { ImageGcManager, type ImageGcManagerOptions } from './image-gc-manager.js';

/** Token of the shared {@link ImageGcManager}. */
export const ImageGcManagerToken: InjectionToken<ImageGcManager> =
  createToken<ImageGcManager>('ImageGcManager');
/** Token of the shared {@link ContainerGcManager}. */
export const ContainerGcManagerToken: InjectionToken<ContainerGcManager> =
  createToken<ContainerGcManager>('ContainerGcManager');

/** Token of the shared {@link ContainerLogManager}. */
export const ContainerLogManagerToken: InjectionToken<ContainerLogManager> =
  createToken<ContainerLogManager>('ContainerLogManager');

/**
 * Options of {@link registerImageGc}: the two managers' options, whose collaborators
 * (runtime, image service, clock, logger, metrics, event recorder, pod state provider)
 * may instead come from the container.
 */
export interface RegisterImageGcOptions {
  imageGc?: Partial<ImageGcManagerOptions>;
  containerGc?: Partial<ContainerGcManagerOptions>;
  /** Container log rotation (kubelet `containerLogMaxSize`, `containerLogMaxFiles`, …). */
  containerLogs?: Partial<ContainerLogManagerOptions>;
}

/**
 * Registers one shared {@link ImageGcManager}, one shared {@link ContainerGcManager}
 * and one shared {@link ContainerLogManager}, which container GC uses to remove the
 * logs of the containers it removes (each created on first resolve; the settings are
 * validated then, so a bad config fails at start with an `InvalidConfigError`). Collaborators come from the options,
 * else from the container: `ContainerRuntime`, `ImageService`, `PodStateProvider`
 * (required), `Clock` (else the real clock), and `Logger`, `MetricsRegistry`,
 * `EventRecorder` when registered.
 */
export function registerImageGc(
  container: FactoryRegistry,
  options: RegisterImageGcOptions = {},
): void {
  let imageGc: ImageGcManager | undefined;
  let containerGc: ContainerGcManager | undefined;
  let containerLogs: ContainerLogManager | undefined;
  const common = (resolver: TokenResolver) => {
    const logger = resolveOptional(resolver, Logger);
    const metrics = resolveOptional(resolver, MetricsRegistry);
    return {
      clock: resolveOptional(resolver, Clock) ?? new RealClock(),
      ...(logger ? { logger } : {}),
      ...(metrics ? { metrics } : {}),
    };
  };
  container.register(ImageGcManagerToken, {
    useFactory: (resolver) => {
      if (!imageGc) {
        const recorder = resolveOptional(resolver, EventRecorder);
        imageGc = new ImageGcManager({
          ...common(resolver),
          ...(recorder ? { recorder } : {}),
          runtime: options.imageGc?.runtime ?? resolver.resolve(ContainerRuntime),
          images: options.imageGc?.images ?? resolver.resolve(ImageService),
          ...options.imageGc,
        });
      }
      return imageGc;
    },
  });
  container.register(ContainerLogManagerToken, {
    useFactory: (resolver) => {
      containerLogs ??= new ContainerLogManager({
        ...common(resolver),
        runtime: options.containerLogs?.runtime ?? resolver.resolve(ContainerRuntime),
        ...options.containerLogs,
      });
      return containerLogs;
    },
  });
  container.register(ContainerGcManagerToken, {
    useFactory: (resolver) => {
      containerGc ??= new ContainerGcManager({
        ...common(resolver),
        containerLogs: resolver.resolve(ContainerLogManagerToken),
        runtime: options.containerGc?.runtime ?? resolver.resolve(ContainerRuntime),
        podStateProvider:
          options.containerGc?.podStateProvider ?? resolver.resolve(PodStateProvider),
        ...options.containerGc,
      });
      return containerGc;
    },
  });
}
