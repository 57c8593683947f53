/**
 * The plain-HTTP healthz on 127.0.0.1:10248 and the secured node API on :10250
 * (auth-server), wired to the agent's pods, runtime,
 * stats, metrics and — in API mode — the API server's TokenReview and
 * SubjectAccessReview.
 */
import {
  HealthzServer,
  NodeApiServerToken,
  kubeApiReviewClient,
  prometheusTextContentType,
  registerNodeApiServer,
  type AuthReviewClient,
  type MetricsSource,
} from '@nodeagent/auth-server';
import { join } from 'node:path';
import {
  Clock,
  ContainerRuntime,
  RealClock,
  resolveOptional,
  resolveToken,
  type Logger,
} from '@nodeagent/core';
import { KubeApiClient, ServingCertificateManager } from '@nodeagent/kube-client';
import { createCadvisorMetrics, type CadvisorMetrics } from '@nodeagent/node-stats';
import { PodLifecycleToken } from '@nodeagent/pod-lifecycle';
import type { DependencyContainer } from 'tsyringe';
import type { AgentComponent } from './agent.js';
import type { AgentConfig } from './config/agent-config.js';
import { versionedKubeletConfiguration } from './config/kubelet-config.js';
import type { PromMetricsRegistry } from './metrics.js';

/**
 * Without an API server there is nobody to ask: bearer tokens are not authenticated
 * (401) and requests that need the authorization webhook are denied (403). Client
 * certificates from the configured client CA still authenticate.
 */
const standaloneReviewClient: AuthReviewClient = {
  createTokenReview: (body) =>
    Promise.resolve({
      ...body,
      status: { authenticated: false, error: 'no API server: token review unavailable' },
    }),
  createSubjectAccessReview: (body) =>
    Promise.resolve({
      ...body,
      status: {
        allowed: false,
        reason: 'no API server: the authorization webhook is unavailable in standalone mode',
      },
    }),
};

/** The Prometheus text of the metrics whose names start with `prefix` (`/metrics/probes`). */
function filteredMetrics(metrics: PromMetricsRegistry, prefix: string): MetricsSource {
  return {
    contentType: prometheusTextContentType,
    async metrics() {
      const text = await metrics.registry.metrics();
      const kept: string[] = [];
      let keep = false;
      for (const line of text.split('\n')) {
        if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
          keep = (line.split(' ')[2] ?? '').startsWith(prefix);
        } else if (line !== '') {
          keep = line.startsWith(prefix);
        }
        if (keep && line !== '') kept.push(line);
      }
      return kept.length > 0 ? `${kept.join('\n')}\n` : '';
    },
  };
}

/**
 * `/metrics/cadvisor`: node-stats' cAdvisor metrics over the agent's CRI runtime,
 * built on the first scrape (the runtime is resolvable once the agent runs). The QoS
 * cgroups under `<cgroupRoot>/kubepods` are reported as raw cgroups, like the
 * kubelet's cAdvisor with its cgroup roots.
 */
function cadvisorMetricsSource(
  container: DependencyContainer,
  config: AgentConfig,
  logger: Logger,
): MetricsSource {
  const kubelet = config.kubelet;
  let source: CadvisorMetrics | undefined;
  return {
    contentType: prometheusTextContentType,
    metrics: () => {
      source ??= createCadvisorMetrics({
        runtime: resolveToken(container, ContainerRuntime),
        clock: resolveOptional(container, Clock) ?? new RealClock(),
        ...(kubelet.cgroupsPerQOS
          ? { rawCgroupPrefixes: [join(kubelet.cgroupRoot || '/', 'kubepods')] }
          : {}),
        logger,
      });
      return source.metrics();
    },
  };
}

/**
 * The kubelet's plain-HTTP healthz (`healthzBindAddress:healthzPort`, `ping` only, as
 * the kubelet's), unless `healthzPort` is 0. It runs with or without `enableServer`.
 */
function healthzComponent(
  container: DependencyContainer,
  config: AgentConfig,
  logger: Logger,
): AgentComponent[] {
  const { healthzPort, healthzBindAddress } = config.kubelet;
  if (healthzPort <= 0) return [];
  let server: HealthzServer | undefined;
  return [
    {
      name: 'healthz-server',
      start: async () => {
        server = new HealthzServer({
          address: healthzBindAddress,
          port: healthzPort,
          clock: resolveOptional(container, Clock) ?? new RealClock(),
          logger,
        });
        await server.start();
      },
      stop: async () => {
        await server?.stop();
        server = undefined;
      },
    },
  ];
}

/**
 * Registers the node API server and returns its components, the healthz server first
 * (started after pod-lifecycle).
 */
export function registerNodeApi(
  container: DependencyContainer,
  config: AgentConfig,
  options: { apiMode: boolean; metrics: PromMetricsRegistry; logger: Logger },
): AgentComponent[] {
  const kubelet = config.kubelet;
  const healthz = healthzComponent(container, config, options.logger);
  if (!kubelet.enableServer) return healthz;
  const { logger, metrics } = options;
  const needsWebhook =
    kubelet.authentication.webhook.enabled || kubelet.authorization.mode === 'Webhook';
  let reviewClient: AuthReviewClient | undefined;
  registerNodeApiServer(container, {
    nodeName: config.nodeName,
    address: kubelet.address,
    port: kubelet.port,
    readOnlyPort: kubelet.readOnlyPort,
    rootDir: config.rootDir,
    podLogsDir: kubelet.podLogsDir,
    // exec/attach/portForward streams idle this long are closed; 0: never (kubelet).
    streamingConnectionIdleTimeoutMs: kubelet.streamingConnectionIdleTimeout,
    tls: {
      ...(kubelet.tlsCertFile ? { tlsCertFile: kubelet.tlsCertFile } : {}),
      ...(kubelet.tlsPrivateKeyFile ? { tlsPrivateKeyFile: kubelet.tlsPrivateKeyFile } : {}),
      certDir: config.certDir,
      ...(kubelet.tlsMinVersion ? { tlsMinVersion: kubelet.tlsMinVersion } : {}),
      ...(kubelet.tlsCipherSuites.length > 0 ? { tlsCipherSuites: kubelet.tlsCipherSuites } : {}),
      hostname: config.nodeName,
      alternateIps: config.nodeIps,
    },
    authentication: {
      ...(kubelet.authentication.x509.clientCAFile
        ? { clientCaFile: kubelet.authentication.x509.clientCAFile }
        : {}),
      webhook: {
        enabled: kubelet.authentication.webhook.enabled,
        cacheTtlMs: kubelet.authentication.webhook.cacheTTL,
      },
      anonymous: { enabled: kubelet.authentication.anonymous.enabled },
    },
    authorization: {
      mode: kubelet.authorization.mode,
      webhook: {
        cacheAuthorizedTtlMs: kubelet.authorization.webhook.cacheAuthorizedTTL,
        cacheUnauthorizedTtlMs: kubelet.authorization.webhook.cacheUnauthorizedTTL,
      },
    },
    // Read when the server is built, in its component's start (API clients exist then).
    get reviewClient(): AuthReviewClient {
      return reviewClient ?? standaloneReviewClient;
    },
    logger: logger.child({ component: 'node-api' }),
    providers: {
      pods: () =>
        resolveToken(container, PodLifecycleToken)
          .pods()
          .map((v) => (v.status ? { ...v.pod, status: v.status } : v.pod)),
      metrics: {
        contentType: prometheusTextContentType,
        metrics: () => metrics.registry.metrics(),
      },
      probeMetrics: filteredMetrics(metrics, 'prober_'),
      cadvisorMetrics: cadvisorMetricsSource(container, config, logger),
      configz: () => versionedKubeletConfiguration(kubelet),
    },
  });
  return [
    ...healthz,
    {
      name: 'node-api-server',
      start: async () => {
        if (needsWebhook) {
          if (options.apiMode) {
            reviewClient = kubeApiReviewClient(resolveToken(container, KubeApiClient));
          } else {
            reviewClient = standaloneReviewClient;
            logger.warn(
              'No API server: the node API authenticates client certificates only and denies requests that need the authorization webhook',
              { component: 'agent' },
            );
          }
        }
        const server = resolveToken(container, NodeApiServerToken);
        await server.start();
        if (options.apiMode && kubelet.serverTLSBootstrap) {
          // Serve the certificate obtained through a CSR as soon as there is one (and
          // each rotated one), without a restart; until then the self-signed one.
          const manager = resolveToken(container, ServingCertificateManager);
          const current = manager.current();
          if (current) server.setServingCertificate(current);
          manager.onRotate((pair) => server.setServingCertificate(pair));
        }
      },
      stop: () => resolveToken(container, NodeApiServerToken).stop(),
    },
  ];
}
