import {
  Clock,
  createToken,
  EventRecorder,
  Logger,
  PodSources,
  resolveOptional,
  type FactoryRegistry,
  type InjectionToken,
  type PodSource,
  type TokenResolver,
} from '@nodeagent/core';
import { createFileSource, DEFAULT_FILE_CHECK_FREQUENCY_MS } from './file-source.js';
import { createHttpSource, DEFAULT_HTTP_CHECK_FREQUENCY_MS } from './http-source.js';
import type { ManifestError } from './pod-set-publisher.js';

/**
 * The static pod sources this package registered (file first, then the manifest
 * URL): the agent resolves it to compose its full `PodSources` list with others
 * (the API server source), since one token cannot be appended to.
 */
export const StaticPodSources: InjectionToken<readonly PodSource[]> =
  createToken<readonly PodSource[]>('StaticPodSources');

/** Options of {@link registerStaticPods}, named after the KubeletConfiguration fields. */
export interface StaticPodsOptions {
  /** This node's name. */
  nodeName: string;
  /** Manifest directory or file (kubelet `staticPodPath`); no file source when unset. */
  staticPodPath?: string;
  /** Full re-read period of the path (kubelet `fileCheckFrequency`), ms. Default 20 000. */
  fileCheckFrequencyMs?: number;
  /** Manifest URL (kubelet `staticPodURL`); no URL source when unset. */
  staticPodURL?: string;
  /** Headers for the manifest URL (kubelet `staticPodURLHeader`). */
  staticPodURLHeader?: Readonly<Record<string, string | readonly string[]>>;
  /** Poll period of the URL (kubelet `httpCheckFrequency`), ms. Default 20 000. */
  httpCheckFrequencyMs?: number;
  /** Clock; else the container's `Clock` (required there then). */
  clock?: Clock;
  /** Logger; else the container's `Logger` when registered. */
  logger?: Logger;
  /** Event sink for rejected manifests; else the container's `EventRecorder` when registered. */
  recorder?: EventRecorder;
  /** Called for each rejected manifest. */
  onError?: (error: ManifestError) => void;
}

/**
 * Registers the configured static pod sources, created once on first resolve, as
 * `StaticPodSources` and as core's `PodSources` (`[fileSource, httpSource?]`, only
 * those configured). An agent that has more sources (the API server) registers
 * `PodSources` itself afterwards with a factory that resolves `StaticPodSources` and
 * appends its own — the last registration of a token wins in tsyringe.
 */
export function registerStaticPods(container: FactoryRegistry, options: StaticPodsOptions): void {
  let sources: readonly PodSource[] | undefined;
  const get = (resolver: TokenResolver): readonly PodSource[] => {
    if (sources === undefined) {
      const clock = options.clock ?? resolver.resolve(Clock);
      const logger = options.logger ?? resolveOptional(resolver, Logger);
      const recorder = options.recorder ?? resolveOptional(resolver, EventRecorder);
      const common = {
        nodeName: options.nodeName,
        clock,
        ...(logger ? { logger } : {}),
        ...(recorder ? { recorder } : {}),
        ...(options.onError ? { onError: options.onError } : {}),
      };
      const list: PodSource[] = [];
      if (options.staticPodPath !== undefined && options.staticPodPath !== '') {
        list.push(
          createFileSource({
            ...common,
            path: options.staticPodPath,
            resyncPeriodMs: options.fileCheckFrequencyMs ?? DEFAULT_FILE_CHECK_FREQUENCY_MS,
          }),
        );
      }
      if (options.staticPodURL !== undefined && options.staticPodURL !== '') {
        list.push(
          createHttpSource({
            ...common,
            url: options.staticPodURL,
            ...(options.staticPodURLHeader ? { headers: options.staticPodURLHeader } : {}),
            pollPeriodMs: options.httpCheckFrequencyMs ?? DEFAULT_HTTP_CHECK_FREQUENCY_MS,
          }),
        );
      }
      sources = Object.freeze(list);
    }
    return sources;
  };
  container.register(StaticPodSources, { useFactory: get });
  container.register(PodSources, { useFactory: get });
}
