/**
 * The agent: a tsyringe container filled by each package's `register…` function,
 * and the start/stop sequence of the long-running parts. Importing this module needs
 * `reflect-metadata` loaded first (the CLI entry does that).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import {
  Clock,
  EventRecorder,
  Logger,
  MetricsRegistry,
  PodLifecycleEventGenerator,
  ProbeManager,
  Random,
  RealClock,
  mathRandom,
  resolveToken,
} from '@nodeagent/core';
import { CriClient, registerCriClient } from '@nodeagent/cri-client';
import { registerPleg } from '@nodeagent/pleg';
import {
  PodLifecycleToken,
  createPodContainerManager,
  imagePullConcurrency,
  podFullName,
  registerPodLifecycle,
} from '@nodeagent/pod-lifecycle';
import { registerProbeManager } from '@nodeagent/probe-manager';
import { registerStaticPods } from '@nodeagent/static-pods';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { AgentConfig } from './config/agent-config.js';
import { formatGoDuration } from './config/go-duration.js';
import { LoggingEventRecorder } from './event-recorder.js';
import { PromMetricsRegistry } from './metrics.js';
import { createAdmitHandlers, createNodeGetter } from './admission.js';
import { isApiMode, registerApiMode } from './api-mode.js';
import { registerCsi } from './csi.js';
import {
  IptablesUtilChains,
  createExecIptablesRunner,
  type IptablesRunner,
} from './iptables-util-chains.js';
import { defaultSysctl, setupKernelTunables, type Sysctl } from './kernel-defaults.js';
import { registerNodeApi } from './node-api.js';
import { registerNodeProtection } from './node-protection.js';
import { registerPodResourcesApi } from './pod-resources.js';
import type { PodStateChange } from './pod-state-view.js';
import { apiRuntimeHandlerFor } from './runtime-classes.js';
import { checkRuntimeSocket } from './runtime-socket.js';
import { agentVersion } from './version.js';

/** The running node agent. */
export interface Agent {
  /** The DI container every component was resolved from (for embedders and tests). */
  readonly container: DependencyContainer;
  /** The configuration the agent runs with. */
  readonly config: AgentConfig;
  /** The metrics registry behind `/metrics`. */
  readonly metrics: PromMetricsRegistry;
  /**
   * Checks the runtime and starts every component in order (runtime connection,
   * PLEG, probe manager, …). Rejects — after stopping what had started — when a step
   * fails, e.g. with `UnavailableError` when the runtime socket is missing.
   */
  start(): Promise<void>;
  /**
   * Stops every component in reverse order and closes the runtime connection.
   * Pods and containers are **left running**, as the kubelet leaves them: a restarted
   * agent adopts them. Idempotent.
   */
  stop(): Promise<void>;
}

/** A long-running part of the agent, started and stopped in order. */
export interface AgentComponent {
  /** Name shown in logs (`pleg`, `probe-manager`, …). */
  readonly name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** Options of {@link createAgent}. */
export interface CreateAgentOptions {
  logger: Logger;
  /** Default: a fresh {@link PromMetricsRegistry}. */
  metrics?: PromMetricsRegistry;
  /** Default: the real clock. */
  clock?: Clock;
  /** Default: `Math.random`. */
  random?: Random;
  /** Default: a recorder that logs events (standalone mode has no API server). */
  eventRecorder?: EventRecorder;
  /** Parent container; the agent registers into a child of it. Default: tsyringe's root. */
  parentContainer?: DependencyContainer;
  /**
   * Receives pod and container state changes for the terminal view
   * ({@link PodStateView.show}): container state changes as pod-lifecycle sees them,
   * with reasons such as CrashLoopBackOff.
   */
  onPodStateChange?: (change: PodStateChange) => void;
  /**
   * Reads and writes the kernel tunables checked at start (`protectKernelDefaults`).
   * Default: the real `/proc/sys` — which the agent WRITES when protectKernelDefaults
   * is false and a tunable differs, as the kubelet does; tests pass a fake.
   */
  sysctl?: Sysctl;
  /**
   * Runs iptables/ip6tables for the kubelet's utility chains (`makeIPTablesUtilChains`).
   * Default: the real binaries — which CHANGE the host firewall when
   * makeIPTablesUtilChains is true (the default), as the kubelet does; tests pass a
   * fake or set makeIPTablesUtilChains to false.
   */
  iptablesRunner?: IptablesRunner;
}

/** How long `start()` waits for the runtime to answer its first Version call, ms. */
export const runtimeConnectTimeoutMs = 10_000;

/**
 * Builds the agent: registers core's values (Clock, Logger, MetricsRegistry, Random,
 * EventRecorder) and every package through its `register…` function into a child
 * tsyringe container, then lists the components to start. Nothing runs until
 * {@link Agent.start}.
 */
export function createAgent(config: AgentConfig, options: CreateAgentOptions): Agent {
  const kubelet = config.kubelet;
  const logger = options.logger;
  const clock = options.clock ?? new RealClock();
  const metrics = options.metrics ?? new PromMetricsRegistry();
  const container = (options.parentContainer ?? rootContainer).createChildContainer();

  // --- core values -----------------------------------------------------------------
  container.register(Clock, { useValue: clock });
  container.register(Logger, { useValue: logger });
  container.register(MetricsRegistry, { useValue: metrics });
  container.register(Random, { useValue: options.random ?? mathRandom });
  const apiMode = isApiMode(config);
  if (options.eventRecorder || !apiMode) {
    container.register(EventRecorder, {
      useValue: options.eventRecorder ?? new LoggingEventRecorder(logger),
    });
  }

  // --- packages ----------------------------------------------------------------------
  registerCriClient(container, {
    endpoint: kubelet.containerRuntimeEndpoint,
    ...(kubelet.imageServiceEndpoint ? { imageEndpoint: kubelet.imageServiceEndpoint } : {}),
    runtimeRequestTimeoutMs: kubelet.runtimeRequestTimeout,
    logger: logger.child({ component: 'cri-client' }),
  });
  registerPleg(container, { logger: logger.child({ component: 'pleg' }) });
  registerProbeManager(container, { logger: logger.child({ component: 'probe-manager' }) });
  // Static pods: the manifest directory (re-read every fileCheckFrequency) and the
  // manifest URL (polled every httpCheckFrequency), registered as PodSources.
  registerStaticPods(container, {
    nodeName: config.nodeName,
    ...(kubelet.staticPodPath ? { staticPodPath: kubelet.staticPodPath } : {}),
    fileCheckFrequencyMs: kubelet.fileCheckFrequency,
    ...(kubelet.staticPodURL ? { staticPodURL: kubelet.staticPodURL } : {}),
    ...(kubelet.staticPodURLHeader ? { staticPodURLHeader: kubelet.staticPodURLHeader } : {}),
    httpCheckFrequencyMs: kubelet.httpCheckFrequency,
    logger: logger.child({ component: 'static-pods' }),
  });

  // API mode: API client, events, node status and lease, pod status, the API pod source.
  const apiComponents = apiMode
    ? registerApiMode(container, config, {
        clock,
        logger,
        version: agentVersion(),
        ...(options.eventRecorder ? { eventRecorder: options.eventRecorder } : {}),
      })
    : [];
  const protectionComponents = registerNodeProtection(container, config, logger);
  const nodeApiComponents = registerNodeApi(container, config, { apiMode, metrics, logger });
  const podResourcesComponents = registerPodResourcesApi(container, config, logger);
  const csi = registerCsi(container, config, { apiMode, clock, logger });

  // pod-lifecycle is registered in its component's start(), once the runtime's name
  // (for container IDs such as containerd://…) is known from the Version handshake.
  let runtimeName = 'containerd';

  let criUsed = false;
  const cri = (): CriClient => {
    criUsed = true;
    return resolveToken(container, CriClient);
  };

  let iptablesUtilChains: IptablesUtilChains | undefined;
  const components: AgentComponent[] = [
    {
      name: 'container-runtime',
      start: async () => {
        await checkRuntimeSocket(kubelet.containerRuntimeEndpoint);
        const version = await cri().connect({ timeoutMs: runtimeConnectTimeoutMs });
        runtimeName = version.runtimeName || runtimeName;
        logger.info('Container runtime initialized', {
          component: 'agent',
          endpoint: kubelet.containerRuntimeEndpoint,
          runtimeName: version.runtimeName,
          runtimeVersion: version.runtimeVersion,
          runtimeApiVersion: version.runtimeApiVersion,
        });
      },
      // The connection is closed last, in stop(), after every component that uses it.
      stop: () => {},
    },
    {
      // The kubelet's setupKernelTunables (container manager setupNode, once the
      // runtime is up): check, or set, the kernel tunables before any pod runs.
      name: 'kernel-tunables',
      start: async () => {
        await setupKernelTunables({
          sysctl: options.sysctl ?? defaultSysctl(),
          behavior: kubelet.protectKernelDefaults ? 'error' : 'modify',
          logger,
        });
      },
      stop: () => {},
    },
    {
      // The kubelet's initNetworkUtil (makeIPTablesUtilChains): KUBE-IPTABLES-HINT,
      // KUBE-FIREWALL and the canary monitor; failures are warnings only.
      name: 'iptables-util-chains',
      start: async () => {
        if (!kubelet.makeIPTablesUtilChains) return;
        iptablesUtilChains = new IptablesUtilChains({
          runner: options.iptablesRunner ?? createExecIptablesRunner(),
          clock,
          logger,
        });
        await iptablesUtilChains.start();
      },
      stop: async () => {
        await iptablesUtilChains?.stop();
        iptablesUtilChains = undefined;
      },
    },
    ...apiComponents,
    {
      name: 'pleg',
      start: () => {
        resolveToken(container, PodLifecycleEventGenerator).start();
      },
      stop: async () => {
        await resolveToken(container, PodLifecycleEventGenerator).stop();
      },
    },
    {
      name: 'probe-manager',
      start: () => resolveToken(container, ProbeManager).start(),
      stop: () => resolveToken(container, ProbeManager).stop(),
    },
    ...csi.before,
    {
      name: 'pod-lifecycle',
      start: async () => {
        const resolvConf = kubelet.resolvConf
          ? await readFile(kubelet.resolvConf, 'utf8').catch((err: unknown) => {
              logger.warn('Cannot read resolvConf; pods using the node DNS get 127.0.0.1', {
                component: 'agent',
                resolvConf: kubelet.resolvConf,
                error: String(err),
              });
              return '';
            })
          : '';
        // Pod-level cgroups under the kubelet's QoS hierarchy (cgroupsPerQOS).
        let cgroups;
        if (kubelet.cgroupsPerQOS) {
          cgroups = createPodContainerManager({
            clock,
            logger: logger.child({ component: 'cgroups' }),
            cgroupRoot: kubelet.cgroupRoot || '/',
            cgroupDriver: kubelet.cgroupDriver === 'systemd' ? 'systemd' : 'cgroupfs',
            ...(kubelet.podPidsLimit > 0 ? { podPidsLimit: kubelet.podPidsLimit } : {}),
          });
          await cgroups.ensureQosCgroups();
        }
        const admitHandlers = await createAdmitHandlers(container, config, { apiMode, logger });
        const nodeAnyWay = await createNodeGetter(container, config, { apiMode });
        const maxParallelImagePulls = imagePullConcurrency(
          kubelet.serializeImagePulls,
          kubelet.maxParallelImagePulls,
        );
        registerPodLifecycle(container, {
          admitHandlers,
          ...(maxParallelImagePulls !== undefined ? { maxParallelImagePulls } : {}),
          ...(cgroups ? { cgroups } : {}),
          nodeName: config.nodeName,
          rootDir: config.rootDir,
          podLogsDir: kubelet.podLogsDir,
          runtimeName,
          ...(config.nodeIps[0] ? { hostIp: config.nodeIps[0] } : {}),
          dns: {
            clusterDomain: kubelet.clusterDomain,
            clusterDNS: kubelet.clusterDNS,
            resolvConf,
            nodeIPs: config.nodeIps,
          },
          memoryCapacityBytes: totalmem(),
          nodeAllocatable: () => nodeAnyWay().status?.allocatable,
          syncFrequencyMs: kubelet.syncFrequency,
          seccompDefault: kubelet.seccompDefault,
          seccompProfileRoot: join(config.rootDir, 'seccomp'),
          ...(apiMode ? { runtimeHandlerFor: apiRuntimeHandlerFor(container) } : {}),
        });
        const lifecycle = resolveToken(container, PodLifecycleToken);
        if (options.onPodStateChange) {
          const onChange = options.onPodStateChange;
          lifecycle.manager.onContainerStateChange((change) => {
            const [namespace = 'default', ...rest] = change.pod.split('/');
            onChange({
              pod: { namespace, name: rest.join('/'), uid: change.podUid },
              container: change.container,
              from: change.from,
              to: change.to,
              ...(change.reason ? { reason: change.reason } : {}),
            });
          });
        }
        lifecycle.manager.onStatus((pod, status) => {
          logger.debug('Pod status', {
            component: 'pod-lifecycle',
            pod: podFullName(pod),
            phase: status.phase,
            ready: status.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
          });
        });
        lifecycle.start();
      },
      stop: () => resolveToken(container, PodLifecycleToken).stop(),
    },
    ...csi.after,
    ...protectionComponents,
    ...nodeApiComponents,
    ...podResourcesComponents,
  ];

  const started: AgentComponent[] = [];
  let state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  const stopStarted = async (): Promise<void> => {
    while (started.length > 0) {
      const component = started.pop();
      if (!component) break;
      try {
        await component.stop();
        logger.debug('Component stopped', { component: 'agent', name: component.name });
      } catch (err) {
        logger.error('Component failed to stop', { component: 'agent', name: component.name, err });
      }
    }
    if (criUsed) cri().close();
  };

  return {
    container,
    config,
    metrics,
    async start() {
      if (state !== 'new') throw new Error(`agent cannot start: it is ${state}`);
      state = 'starting';
      logger.info('Starting nodeagent', {
        component: 'agent',
        nodeName: config.nodeName,
        mode: apiMode ? 'api-server' : 'standalone',
        ...(config.configFile ? { config: config.configFile } : {}),
        runtimeEndpoint: kubelet.containerRuntimeEndpoint,
        staticPodPath: kubelet.staticPodPath || '<none>',
        syncFrequency: formatGoDuration(kubelet.syncFrequency),
        fileCheckFrequency: formatGoDuration(kubelet.fileCheckFrequency),
        rootDir: config.rootDir,
      });
      for (const field of config.ignoredFields) {
        logger.warn('Configuration field is not implemented by nodeagent and is ignored', {
          component: 'agent',
          field: `KubeletConfiguration.${field}`,
        });
      }
      try {
        await mkdir(join(config.rootDir, 'pods'), { recursive: true, mode: 0o750 });
        for (const component of components) {
          await component.start();
          started.push(component);
          logger.info('Component started', { component: 'agent', name: component.name });
        }
      } catch (err) {
        state = 'stopping';
        await stopStarted();
        state = 'stopped';
        throw err;
      }
      state = 'running';
      logger.info('nodeagent is running', {
        component: 'agent',
        components: components.map((c) => c.name).join(','),
      });
    },
    async stop() {
      if (state === 'stopped' || state === 'stopping') return;
      state = 'stopping';
      logger.info('Stopping nodeagent; pods keep running', { component: 'agent' });
      await stopStarted();
      state = 'stopped';
      logger.info('nodeagent stopped', { component: 'agent' });
    },
  };
}
