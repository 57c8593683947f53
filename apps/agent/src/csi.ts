/**
 * CSI volumes (csi-node): drivers register through the plugin registration directory;
 * pod-lifecycle hands `csi:` and PVC volumes to the CSI volume plugin. In API mode the
 * Node's `csi.volume.kubernetes.io/nodeid` annotation and the CSINode object are kept,
 * and PVCs are read from the API server.
 */
import { join } from 'node:path';
import { resolveToken, type Clock, type Logger } from '@nodeagent/core';
import {
  CsiDriverRegistryToken,
  CsiPluginManagerToken,
  type CsiNodeInfoWriter,
  CsiVolumePluginToken,
  KubeCsiNodeInfoWriter,
  KubePersistentVolumeLookup,
  PersistentVolumeLookup,
  registerCsiPluginManager,
  registerCsiVolumePlugin,
} from '@nodeagent/csi-node';
import { KubeApiClient } from '@nodeagent/kube-client';
import { PodLifecycleToken } from '@nodeagent/pod-lifecycle';
import type { DependencyContainer } from 'tsyringe';
import type { AgentComponent } from './agent.js';
import type { AgentConfig } from './config/agent-config.js';

/** The kubelet's plugin registration directory, under the root directory. */
export const pluginRegistrationDir = 'plugins_registry';

/** How often the agent checks whether every pod source has delivered, to reconstruct volumes. */
const reconstructPollMs = 1_000;

/**
 * Registers the CSI plugin manager and volume plugin; returns the components: the
 * plugin manager (before pod-lifecycle, so drivers are known when pods sync) and the
 * one-time volume reconstruction (after it).
 */
export function registerCsi(
  container: DependencyContainer,
  config: AgentConfig,
  options: { apiMode: boolean; clock: Clock; logger: Logger },
): { before: AgentComponent[]; after: AgentComponent[] } {
  const { clock, logger } = options;
  const log = logger.child({ component: 'csi' });
  let writer: KubeCsiNodeInfoWriter | undefined;
  // Built on first use, once the API clients exist (after a certificate bootstrap).
  const nodeInfo: CsiNodeInfoWriter = {
    installDriver: (driver) => nodeInfoWriter().installDriver(driver),
    uninstallDriver: (name) => nodeInfoWriter().uninstallDriver(name),
  };
  const nodeInfoWriter = (): KubeCsiNodeInfoWriter =>
    (writer ??= new KubeCsiNodeInfoWriter({
      api: resolveToken(container, KubeApiClient),
      nodeName: config.nodeName,
      clock,
      logger: log,
    }));
  registerCsiPluginManager(container, {
    rootDir: config.rootDir,
    registrationDir: join(config.rootDir, pluginRegistrationDir),
    // In API mode the Node annotation and the CSINode object follow the drivers.
    ...(options.apiMode ? { nodeInfo } : {}),
    clock,
    logger: log,
  });
  if (options.apiMode) {
    container.register(PersistentVolumeLookup, {
      useFactory: (r) => new KubePersistentVolumeLookup(resolveToken(r, KubeApiClient)),
    });
  }
  registerCsiVolumePlugin(container, {
    rootDir: config.rootDir,
    nodeName: config.nodeName,
    drivers: CsiDriverRegistryToken,
    logger: log,
  });

  let reconstructTimer: { cancel(): void } | undefined;
  return {
    before: [
      {
        name: 'csi-plugins',
        start: () => resolveToken(container, CsiPluginManagerToken).start(),
        stop: () => resolveToken(container, CsiPluginManagerToken).stop(),
      },
    ],
    after: [
      {
        name: 'csi-reconstruct',
        // Once every pod source has spoken, volumes found on disk that no desired pod
        // uses are unpublished and unstaged (kubelet volume reconstruction).
        start: () => {
          const lifecycle = resolveToken(container, PodLifecycleToken);
          const tick = (): void => {
            reconstructTimer = undefined;
            if (!lifecycle.sourcesReady()) {
              reconstructTimer = clock.setTimeout(tick, reconstructPollMs);
              return;
            }
            resolveToken(container, CsiVolumePluginToken)
              .reconstruct(lifecycle.pods().map((v) => v.pod))
              .then((result) => log.info('CSI volumes reconstructed', { ...result }))
              .catch((err: unknown) =>
                log.warn('CSI volume reconstruction failed', {
                  error: err instanceof Error ? err.message : String(err),
                }),
              );
          };
          tick();
        },
        stop: () => reconstructTimer?.cancel(),
      },
    ],
  };
}
