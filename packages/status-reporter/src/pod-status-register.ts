import {
  Clock,
  Logger,
  MirrorClient,
  PodStatusManager,
  Random,
  resolveOptional,
  type FactoryRegistry,
  type TokenResolver,
} from '@nodeagent/core';
import { KubeApiClient, type KubeApi } from '@nodeagent/kube-client';
import { ApiMirrorClient } from './mirror-client.js';
import { ApiPodStatusManager, type ApiPodStatusManagerOptions } from './pod-status-manager.js';

/** Options of {@link registerPodStatusReporting}. */
export interface PodStatusReportingOptions extends Omit<
  ApiPodStatusManagerOptions,
  'api' | 'clock' | 'random' | 'logger'
> {
  /** The agent's API clients; default the container's `KubeApiClient`. */
  api?: KubeApi | undefined;
  /** This node's name (owner of mirror pods). */
  nodeName: string;
  /** Default: the container's `Clock`, else the real clock. */
  clock?: Clock;
  /** Default: the container's `Random`, else `Math.random`. */
  random?: Random;
  /** Default: the container's `Logger`, else none. */
  logger?: Logger;
}

/**
 * Registers one shared {@link ApiPodStatusManager} as `PodStatusManager` and one
 * {@link ApiMirrorClient} as `MirrorClient` (both created on first resolve). Clock,
 * Random and Logger come from the options, else from the container when registered.
 */
export function registerPodStatusReporting(
  container: FactoryRegistry,
  options: PodStatusReportingOptions,
): void {
  let manager: ApiPodStatusManager | undefined;
  let mirrors: ApiMirrorClient | undefined;
  const logger = (r: TokenResolver): Logger | undefined =>
    options.logger ?? resolveOptional(r, Logger);
  container.register(PodStatusManager, {
    useFactory: (r) => {
      if (!manager) {
        const clock = options.clock ?? resolveOptional(r, Clock);
        const random = options.random ?? resolveOptional(r, Random);
        const log = logger(r);
        manager = new ApiPodStatusManager({
          ...options,
          api: options.api ?? r.resolve(KubeApiClient),
          ...(clock ? { clock } : {}),
          ...(random ? { random } : {}),
          ...(log ? { logger: log } : {}),
        });
      }
      return manager;
    },
  });
  container.register(MirrorClient, {
    useFactory: (r) => {
      if (!mirrors) {
        const log = logger(r);
        mirrors = new ApiMirrorClient({
          api: options.api ?? r.resolve(KubeApiClient),
          nodeName: options.nodeName,
          ...(log ? { logger: log } : {}),
          // A new mirror pod has an empty status: the status manager rewrites it.
          onMirrorPodCreated: (staticPod) => {
            const statuses = r.resolve(PodStatusManager);
            const uid = staticPod.metadata.uid;
            if (statuses instanceof ApiPodStatusManager && uid) statuses.mirrorPodCreated(uid);
          },
        });
      }
      return mirrors;
    },
  });
}
