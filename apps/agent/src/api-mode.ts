/**
 * API-server mode: the agent's connection to the cluster (kube-client), its event
 * recorder, node status and lease, pod status and mirror pods (status-reporter), and
 * the API pod source beside the static ones.
 */
import { arch } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@nodeagent/core';
import {
  ConfigMapManager,
  EventRecorder,
  MetricsRegistry,
  PodSources,
  PodStatusManager,
  SecretManager,
  resolveToken,
  type Clock,
  type TokenResolver,
} from '@nodeagent/core';
import {
  ApiServerPodSource,
  ApiServerServiceLister,
  ClientCertificateManager,
  KubeApiClient,
  ServingCertificateManager,
  bootstrapClientCertificate,
  registerCertificateManagers,
  createApiEventRecorder,
  createKubeApi,
  objectTtlFromNode,
  registerKubeClient,
  type ApiEventRecorder,
} from '@nodeagent/kube-client';
import { StaticPodSources } from '@nodeagent/static-pods';
import {
  NodeLeaseControllerToken,
  NodeStatusManagerToken,
  registerStatusReporter,
} from '@nodeagent/status-reporter';
import type { DependencyContainer } from 'tsyringe';
import type { AgentComponent } from './agent.js';
import type { AgentConfig } from './config/agent-config.js';
import { NodeListerToken, createNodeLister, waitForNodeSync } from './node-lister.js';

/** Where the API pod source keeps the last pod set it knew, under the root directory. */
export const apiPodCheckpointFile = 'checkpoints/api-pods.json';
/** The Service checkpoint under the root directory (service-link variables during an outage). */
export const apiServiceCheckpointFile = 'checkpoints/api-services.json';

/** The Kubernetes version nodeagent's API behaviour follows, for `nodeInfo.kubeletVersion`. */
export const kubernetesCompatVersion = 'v1.33.0';

export interface ApiModeOptions {
  clock: Clock;
  logger: Logger;
  version: string;
  /** An event recorder to use instead of the API one (tests). */
  eventRecorder?: EventRecorder;
}

/** Whether the configuration asks for API-server mode (`--kubeconfig` or `--in-cluster`). */
export function isApiMode(config: AgentConfig): boolean {
  return config.kubeconfig !== undefined || config.inCluster;
}

/**
 * Registers API mode's parts into the agent's container and returns the components
 * that must run before the pods are synced (event recorder, node status, lease, pod
 * status manager), in start order. The static pod sources must already be registered.
 */
export function registerApiMode(
  container: DependencyContainer,
  config: AgentConfig,
  options: ApiModeOptions,
): AgentComponent[] {
  const kubelet = config.kubelet;
  const { clock, logger } = options;
  const userAgent = `nodeagent/${options.version} (linux/${arch() === 'x64' ? 'amd64' : arch()})`;
  // Also core's ServiceAccountTokenManager (TokenRequest), which gives registerPodLifecycle
  // the tokens of projected serviceAccountToken volumes (kube-api-access-*).
  registerKubeClient(container, {
    nodeName: config.nodeName,
    kubeconfig: config.inCluster
      ? { inCluster: true }
      : { kubeconfigPath: config.kubeconfig ?? '' },
    qps: kubelet.kubeAPIQPS,
    burst: kubelet.kubeAPIBurst,
    userAgent,
    podCheckpointPath: join(config.rootDir, apiPodCheckpointFile),
    serviceCheckpointPath: join(config.rootDir, apiServiceCheckpointFile),
    // ConfigMaps/Secrets: Watch (default), Cache (TTL from the Node's
    // node.alpha.kubernetes.io/ttl annotation, 1 min without it) or Get.
    changeDetectionStrategy: kubelet.configMapAndSecretChangeDetectionStrategy,
    objectCacheTtlMs: () => objectTtlFromNode(nodeLister?.node()),
    clock,
    logger: logger.child({ component: 'kube-client' }),
  });

  // Events go through their own client, limited by eventRecordQPS/eventBurst only
  // (the kubelet builds a separate event client for the same reason).
  let recorder: ApiEventRecorder | undefined;
  if (!options.eventRecorder) {
    container.register(EventRecorder, {
      useFactory: (r: TokenResolver) => {
        recorder ??= createApiEventRecorder({
          api: createKubeApi(resolveToken(r, KubeApiClient).config, { qps: 0, userAgent, clock }),
          nodeName: config.nodeName,
          eventRecordQps: kubelet.eventRecordQPS,
          eventBurst: kubelet.eventBurst,
          clock,
          logger: logger.child({ component: 'events' }),
          metrics: resolveToken(r, MetricsRegistry),
        });
        return recorder;
      },
    });
  }

  registerStatusReporter(container, {
    nodeName: config.nodeName,
    rootDir: config.rootDir,
    nodeStatus: {
      kubeletVersion: kubernetesCompatVersion,
      ...(config.nodeIps[0] ? { nodeIp: config.nodeIps[0] } : {}),
      // The Hostname address is the node name (--hostname-override), as the kubelet's.
      hostname: config.nodeName,
      nodeLabels: config.nodeLabels,
      registerWithTaints: kubelet.registerWithTaints.map((t) => ({
        key: t.key,
        effect: t.effect,
        ...(t.value !== undefined ? { value: t.value } : {}),
      })),
      maxPods: kubelet.maxPods,
      kubeReserved: kubelet.kubeReserved,
      systemReserved: kubelet.systemReserved,
      evictionHard: kubelet.evictionHard,
      nodeStatusUpdateFrequencyMs: kubelet.nodeStatusUpdateFrequency,
      nodeStatusReportFrequencyMs: kubelet.nodeStatusReportFrequency,
      nodeStatusMaxImages: kubelet.nodeStatusMaxImages,
      kubeletPort: kubelet.port,
    },
    lease: { leaseDurationSeconds: kubelet.nodeLeaseDurationSeconds },
  });

  // The kubelet's node lister: an informer on this node's Node (admission reads its
  // labels and taints); the API pods wait for its first list (kubelet nodeHasSynced),
  // and an added pod the watched Node would refuse waits for one fresh read of it.
  let nodeLister: ReturnType<typeof createNodeLister> | undefined;
  container.register(NodeListerToken, {
    useFactory: (r: TokenResolver) =>
      (nodeLister ??= createNodeLister({
        nodeName: config.nodeName,
        api: resolveToken(r, KubeApiClient),
        clock,
        logger: logger.child({ component: 'kube-client' }),
      })),
  });

  // Desired pods: the static sources and the API server's pods for this node.
  container.register(PodSources, {
    useFactory: (r: TokenResolver) => [
      ...resolveToken(r, StaticPodSources),
      waitForNodeSync(
        resolveToken(r, ApiServerPodSource),
        resolveToken(r, NodeListerToken),
        logger,
      ),
    ],
  });

  // Certificates (kubelet pkg/kubelet/certificate): the client certificate is
  // rotated when rotateCertificates is on, the serving one requested when
  // serverTLSBootstrap is on; both through CertificateSigningRequests.
  const certLogger = logger.child({ component: 'certificates' });
  registerCertificateManagers(container, {
    ...(kubelet.rotateCertificates
      ? { client: { nodeName: config.nodeName, certDir: config.certDir, logger: certLogger } }
      : {}),
    ...(kubelet.serverTLSBootstrap
      ? {
          serving: {
            nodeName: config.nodeName,
            certDir: config.certDir,
            logger: certLogger,
            servingAddresses: () => ({
              dnsNames: [config.nodeName],
              ipAddresses: config.nodeIps,
            }),
          },
        }
      : {}),
  });

  const components: AgentComponent[] = [];
  const bootstrapKubeconfig = config.bootstrapKubeconfig;
  if (bootstrapKubeconfig !== undefined && config.kubeconfig !== undefined) {
    const kubeconfigPath = config.kubeconfig;
    components.push({
      name: 'client-certificate-bootstrap',
      // Before any API client exists: when --kubeconfig is missing or its certificate
      // is unusable, get one with the bootstrap credentials and write the kubeconfig.
      start: async () => {
        await bootstrapClientCertificate({
          kubeconfigPath,
          bootstrapKubeconfigPath: bootstrapKubeconfig,
          certDir: config.certDir,
          nodeName: config.nodeName,
          clock,
          logger: certLogger,
          kubeApiOptions: { userAgent, clock },
        });
      },
      stop: () => {},
    });
  }
  components.push({
    name: 'api-client',
    start: () => {
      const api = resolveToken(container, KubeApiClient);
      logger.info('API server client ready', {
        component: 'agent',
        server: api.config.getCurrentCluster()?.server,
        qps: kubelet.kubeAPIQPS,
        burst: kubelet.kubeAPIBurst,
      });
    },
    stop: () => {
      const managers: unknown[] = [
        resolveToken(container, ConfigMapManager),
        resolveToken(container, SecretManager),
      ];
      for (const m of managers) {
        if (m && typeof (m as { stop?: unknown }).stop === 'function')
          (m as { stop(): void }).stop();
      }
      resolveToken(container, KubeApiClient).close();
    },
  });
  components.push({
    name: 'node-lister',
    start: () => resolveToken(container, NodeListerToken).start(),
    stop: () => resolveToken(container, NodeListerToken).stop(),
  });
  // Services for containers' service-link env variables (registered as core's
  // ServiceLister, which registerPodLifecycle picks up); API pods wait for its sync.
  components.push({
    name: 'service-lister',
    start: () => resolveToken(container, ApiServerServiceLister).start(),
    stop: () => resolveToken(container, ApiServerServiceLister).stop(),
  });
  if (kubelet.rotateCertificates) {
    components.push({
      name: 'client-certificate-rotation',
      start: async () => {
        const manager = resolveToken(container, ClientCertificateManager);
        const certFile = resolveToken(container, KubeApiClient).config.getCurrentUser()?.certFile;
        if (certFile !== manager.currentPath()) {
          // client-node re-reads certificate files on every request, so rotation works
          // only when the kubeconfig points at the rotated pair (a bootstrapped one does).
          certLogger.warn(
            'Client certificate rotation is off: the kubeconfig does not use the rotated certificate file',
            {
              kubeconfigCertFile: certFile ?? '<embedded>',
              rotatedFile: manager.currentPath(),
            },
          );
          return;
        }
        await manager.start();
      },
      stop: () => resolveToken(container, ClientCertificateManager).stop(),
    });
  }
  if (kubelet.serverTLSBootstrap) {
    components.push({
      name: 'serving-certificate',
      start: () => resolveToken(container, ServingCertificateManager).start(),
      stop: () => resolveToken(container, ServingCertificateManager).stop(),
    });
  }
  if (!options.eventRecorder) {
    components.push({
      name: 'event-recorder',
      start: () => {
        (resolveToken(container, EventRecorder) as ApiEventRecorder).start();
      },
      stop: () => recorder?.stop(),
    });
  }
  if (kubelet.registerNode) {
    components.push(
      {
        name: 'node-status',
        start: () => resolveToken(container, NodeStatusManagerToken).start(),
        stop: () => resolveToken(container, NodeStatusManagerToken).stop(),
      },
      {
        name: 'node-lease',
        start: () => resolveToken(container, NodeLeaseControllerToken).start(),
        stop: () => resolveToken(container, NodeLeaseControllerToken).stop(),
      },
    );
  }
  components.push({
    name: 'pod-status',
    start: () => resolveToken(container, PodStatusManager).start(),
    stop: () => resolveToken(container, PodStatusManager).stop(),
  });
  return components;
}
