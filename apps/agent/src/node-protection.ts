/**
 * The node's janitors and guards: stats (node-stats), image and container GC and
 * container log rotation (image-gc), the eviction manager and the OOM watcher (pod-lifecycle), wired to the
 * pod lifecycle and to each other as the kubelet wires them.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ContainerRuntime,
  ImageService,
  StatsProvider,
  resolveToken,
  type Logger,
} from '@nodeagent/core';
import {
  ContainerGcManagerToken,
  ContainerLogManagerToken,
  ImageGcManagerToken,
  PodStateProvider,
  registerImageGc,
} from '@nodeagent/image-gc';
import { registerNodeStats, type NodeStatsProvider } from '@nodeagent/node-stats';
import {
  EvictionManagerToken,
  OomWatcherToken,
  PodLifecycleToken,
  registerEvictionManager,
  registerOomWatcher,
} from '@nodeagent/pod-lifecycle';
import type { DependencyContainer } from 'tsyringe';
import type { AgentComponent } from './agent.js';
import type { AgentConfig } from './config/agent-config.js';

/** Where image GC keeps first-seen/last-used times of images, under the root directory. */
export const imageGcStateFile = 'image-gc/state.json';

/**
 * Reads the sandbox (pause) image from the runtime's verbose status (containerd reports
 * its CRI config there), so image GC never deletes it.
 */
async function sandboxImageOf(runtime: ContainerRuntime): Promise<string | undefined> {
  try {
    const { info } = await runtime.status({ verbose: true });
    const raw = info.config;
    if (!raw) return undefined;
    const parsed = JSON.parse(raw) as { sandboxImage?: unknown };
    return typeof parsed.sandboxImage === 'string' ? parsed.sandboxImage : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the runtime's image filesystem is on another device than the agent's root dir. */
async function dedicatedImageFs(images: ImageService, rootDir: string): Promise<boolean> {
  try {
    const info = await images.imageFsInfo({});
    const mountpoint = info.imageFilesystems[0]?.fsId?.mountpoint;
    if (!mountpoint) return false;
    const [root, image] = await Promise.all([stat(rootDir), stat(mountpoint)]);
    return root.dev !== image.dev;
  } catch {
    return false;
  }
}

/**
 * Registers node-stats, image and container GC, container log rotation, the eviction manager (which also
 * provides core's `NodePressureProvider` to node status) and the OOM watcher; returns
 * their components in start order. They start after pod-lifecycle.
 */
export function registerNodeProtection(
  container: DependencyContainer,
  config: AgentConfig,
  logger: Logger,
): AgentComponent[] {
  const kubelet = config.kubelet;
  const nodeRef = { kind: 'Node', name: config.nodeName, uid: config.nodeName };
  registerNodeStats(container, {
    rootDir: config.rootDir,
    podLogsDir: kubelet.podLogsDir,
    nodeName: config.nodeName,
    // The "pods" system container is the QoS hierarchy's root (kubelet GetPodCgroupRoot).
    ...(kubelet.cgroupsPerQOS
      ? { systemCgroups: { pods: join(kubelet.cgroupRoot || '/', 'kubepods') } }
      : {}),
    logger: logger.child({ component: 'node-stats' }),
  });

  // Which pods exist, for container GC: the pod lifecycle knows.
  container.register(PodStateProvider, {
    useFactory: (r) => {
      const lifecycle = resolveToken(r, PodLifecycleToken);
      return {
        isPodDeleted: (uid: string) =>
          lifecycle.config.get(uid) === undefined && lifecycle.workers.phase(uid) === undefined,
        isPodTerminated: (uid: string) => lifecycle.workers.phase(uid) === 'terminated',
      };
    },
  });
  let sandboxImage: string | undefined;
  registerImageGc(container, {
    imageGc: {
      policy: {
        highThresholdPercent: kubelet.imageGCHighThresholdPercent,
        lowThresholdPercent: kubelet.imageGCLowThresholdPercent,
        minAgeMs: kubelet.imageMinimumGCAge,
        maxAgeMs: kubelet.imageMaximumGCAge,
      },
      statePath: join(config.rootDir, imageGcStateFile),
      nodeName: config.nodeName,
      // Read when the manager is built, at image-gc start, after the runtime was asked.
      get pinnedImages(): readonly string[] {
        return sandboxImage ? [sandboxImage] : [];
      },
    },
    containerGc: {
      podLogsDir: kubelet.podLogsDir,
    },
    containerLogs: {
      maxSize: kubelet.containerLogMaxSize,
      maxFiles: kubelet.containerLogMaxFiles,
      maxWorkers: kubelet.containerLogMaxWorkers,
      monitorIntervalMs: kubelet.containerLogMonitorInterval,
    },
  });

  registerEvictionManager(container, {
    evictionHard: kubelet.evictionHard,
    evictionSoft: kubelet.evictionSoft,
    evictionSoftGracePeriod: kubelet.evictionSoftGracePeriod,
    evictionMinimumReclaim: kubelet.evictionMinimumReclaim,
    evictionPressureTransitionPeriod: kubelet.evictionPressureTransitionPeriod,
    evictionMaxPodGracePeriod: kubelet.evictionMaxPodGracePeriod,
    localStorageCapacityIsolation: kubelet.localStorageCapacityIsolation,
    nodeRef,
    hooks: (r) => {
      // Resolved when used: node status asks for the pressure provider before the pod
      // lifecycle is registered (it is, in its component's start).
      const lifecycle = () => resolveToken(r, PodLifecycleToken);
      return {
        activePods: () =>
          lifecycle()
            .pods()
            .filter((v) => v.phase === 'syncing' || v.phase === undefined)
            .map((v) => v.pod),
        killPod: (pod, options) =>
          lifecycle().evictPod(pod, {
            gracePeriodSeconds: options.gracePeriodSeconds,
            message: options.message,
            status: options.status,
          }),
        // kubelet: images on another device than the root dir (imageFs.Device !=
        // rootFs.Device) are no node-fs reclaim.
        hasDedicatedImageFs: () => dedicatedImageFs(resolveToken(r, ImageService), config.rootDir),
        deleteUnusedImages: () => resolveToken(r, ImageGcManagerToken).deleteUnusedImages(),
        deleteAllUnusedContainers: () =>
          resolveToken(r, ContainerGcManagerToken).deleteAllUnusedContainers(),
      };
    },
  });
  registerOomWatcher(container, { nodeRef });

  return [
    {
      name: 'node-stats',
      start: () => (resolveToken(container, StatsProvider) as NodeStatsProvider).start(),
      stop: () => (resolveToken(container, StatsProvider) as NodeStatsProvider).stop(),
    },
    {
      name: 'image-gc',
      start: async () => {
        sandboxImage = await sandboxImageOf(resolveToken(container, ContainerRuntime));
        await resolveToken(container, ImageGcManagerToken).start();
      },
      stop: () => resolveToken(container, ImageGcManagerToken).stop(),
    },
    {
      name: 'container-gc',
      start: () => resolveToken(container, ContainerGcManagerToken).start(),
      stop: () => resolveToken(container, ContainerGcManagerToken).stop(),
    },
    {
      name: 'container-log-rotation',
      start: () => resolveToken(container, ContainerLogManagerToken).start(),
      stop: () => resolveToken(container, ContainerLogManagerToken).stop(),
    },
    {
      name: 'eviction',
      start: () => resolveToken(container, EvictionManagerToken).start(),
      stop: () => resolveToken(container, EvictionManagerToken).stop(),
    },
    {
      name: 'oom-watcher',
      start: () =>
        resolveToken(container, OomWatcherToken)
          .start()
          .catch((err: unknown) =>
            logger.warn('OOM watcher not started: cannot read the kernel log', {
              component: 'agent',
              error: err instanceof Error ? err.message : String(err),
            }),
          ),
      stop: () => resolveToken(container, OomWatcherToken).stop(),
    },
  ];
}
