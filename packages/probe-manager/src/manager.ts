import {
  InvalidArgumentError,
  mathRandom,
  noopEventRecorder,
  noopLogger,
  noopMetrics,
  RealClock,
  type Clock,
  type ContainerRestartRequest,
  type ContainerRuntime,
  type EventRecorder,
  type k8s,
  type Logger,
  type MetricsRegistry,
  type ProbeManager,
  type ProbeResultFilter,
  type ProbeResultsManager,
  type ProbeResultUpdate,
  type ProbeType,
  type Random,
  type Unsubscribe,
} from '@nodeagent/core';
import {
  defaultTerminationGracePeriodSeconds,
  probeField,
  probedContainers,
  resolveProbeLeniently,
} from './probe-spec.js';
import { Prober } from './prober.js';
import { DefaultProbeRunner } from './probers/runner.js';
import type { ProbeRunner } from './probers/types.js';
import { ResultsManager } from './results-manager.js';
import { ProbeWorker, type ProbeWorkerContext } from './worker.js';

/** Options of {@link createProbeManager}. */
export interface ProbeManagerOptions {
  /**
   * Runs exec probes through CRI `ExecSync`. Required unless `runner` replaces the
   * built-in probers.
   */
  runtime?: Pick<ContainerRuntime, 'execSync'>;
  /** Time source; default the real clock. */
  clock?: Clock;
  /** Randomness for the start-up jitter; default `Math.random`. */
  random?: Random;
  /** Where `prober_probe_total` and `prober_probe_duration_seconds` go; default none. */
  metrics?: MetricsRegistry;
  logger?: Logger;
  /** Sink for `Unhealthy` / `ProbeWarning` events; default none. */
  recorder?: EventRecorder;
  /** `<major>.<minor>` in the probes' `User-Agent: kube-probe/<version>`; default `1.36`. */
  userAgentVersion?: string;
  /**
   * Extra milliseconds an exec probe's CRI call may take beyond the probe timeout
   * (the runtime kills the command at the timeout); default 120 000 like the kubelet.
   */
  execGraceMs?: number;
  /** Replaces the built-in exec/http/tcp/grpc probers (tests, custom transports). */
  runner?: ProbeRunner;
  /**
   * The pod status the workers probe against (kubelet `statusManager.GetPodStatus`).
   * Default: the last status given to {@link ProbeManager.updatePodStatus}.
   */
  podStatusProvider?: (podUid: string) => k8s.PodStatus | undefined;
}

const probeTypes: readonly ProbeType[] = ['Startup', 'Readiness', 'Liveness'];

function workerKey(podUid: string, containerName: string, probeType: ProbeType): string {
  return `${podUid}\u0000${containerName}\u0000${probeType}`;
}

/**
 * Throws for input that is not a pod at all (no `metadata.uid`, no `spec.containers`
 * array): there is nothing to key workers by. Probe contents are not checked here.
 */
function checkPodShape(pod: k8s.Pod): void {
  const reasons: string[] = [];
  const maybe = pod as Partial<k8s.Pod> | null | undefined;
  if (!maybe?.metadata?.uid) reasons.push('metadata.uid: Required value');
  if (!Array.isArray(maybe?.spec?.containers)) reasons.push('spec.containers: Required value');
  if (reasons.length > 0) {
    const name = `${maybe?.metadata?.namespace ?? ''}/${maybe?.metadata?.name ?? ''}`;
    throw new InvalidArgumentError(`invalid pod ${name}: ${reasons.join('; ')}`, {
      operation: 'ProbeManager/AddPod',
      detail: reasons.join('\n'),
    });
  }
}

/** The message of the kill that a failed liveness/startup probe causes (kubelet `computePodActions`). */
function restartMessage(containerName: string, probeType: 'Liveness' | 'Startup'): string {
  return `Container ${containerName} failed ${probeType.toLowerCase()} probe, will be restarted`;
}

/**
 * The kubelet's probe manager (`prober.manager`): one {@link ProbeWorker} per probe per
 * container, three results caches (liveness, readiness, startup), restart requests
 * for liveness/startup failures, and `UpdatePodStatus` for ready/started.
 */
export class DefaultProbeManager implements ProbeManager {
  private readonly workers = new Map<string, ProbeWorker>();
  private readonly statuses = new Map<string, k8s.PodStatus>();
  private readonly managers: Record<ProbeType, ResultsManager>;
  private readonly restartListeners = new Set<(request: ContainerRestartRequest) => void>();
  private readonly ctx: Record<ProbeType, ProbeWorkerContext>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly podStatusProvider: (podUid: string) => k8s.PodStatus | undefined;
  private stopped = false;

  constructor(options: ProbeManagerOptions) {
    this.clock = options.clock ?? new RealClock();
    this.logger = (options.logger ?? noopLogger).child({ component: 'probe-manager' });
    const metrics = options.metrics ?? noopMetrics;
    const random = options.random ?? mathRandom;
    const recorder = options.recorder ?? noopEventRecorder;
    let runner = options.runner;
    if (!runner) {
      if (!options.runtime)
        throw new TypeError('createProbeManager: `runtime` is required unless `runner` is given');
      runner = new DefaultProbeRunner({
        runtime: options.runtime,
        clock: this.clock,
        ...(options.userAgentVersion !== undefined
          ? { userAgentVersion: options.userAgentVersion }
          : {}),
        ...(options.execGraceMs !== undefined ? { execGraceMs: options.execGraceMs } : {}),
      });
    }
    const prober = new Prober(runner, recorder, this.logger);
    this.podStatusProvider = options.podStatusProvider ?? ((uid) => this.statuses.get(uid));
    const onListenerError = (err: unknown): void =>
      this.logger.error('Probe result listener threw', {
        err: err instanceof Error ? err.message : String(err),
      });
    this.managers = {
      Liveness: new ResultsManager('Liveness', onListenerError),
      Readiness: new ResultsManager('Readiness', onListenerError),
      Startup: new ResultsManager('Startup', onListenerError),
    };
    const probeTotal = metrics.counter({
      name: 'prober_probe_total',
      help: 'Cumulative number of a liveness, readiness or startup probe for a container by result.',
      labelNames: ['probe_type', 'result', 'container', 'pod', 'namespace', 'pod_uid'],
    });
    const probeDuration = metrics.histogram({
      name: 'prober_probe_duration_seconds',
      help: 'Duration in seconds for a probe response.',
      labelNames: ['probe_type', 'container', 'pod', 'namespace'],
    });
    const managerStartedAt = this.clock.monotonicNow();
    const make = (type: ProbeType): ProbeWorkerContext => ({
      clock: this.clock,
      random,
      logger: this.logger,
      prober,
      results: this.managers[type],
      managerStartedAt,
      podStatus: (uid) => this.podStatusProvider(uid),
      isStarted: (uid, status) => this.isStarted(uid, status),
      requestRestart: (w) => this.emitRestart(w),
      onExit: (w) => {
        const key = workerKey(w.podUid, w.container.name, w.probeType);
        if (this.workers.get(key) === w) this.workers.delete(key);
      },
      probeTotal,
      probeDuration,
    });
    this.ctx = {
      Liveness: make('Liveness'),
      Readiness: make('Readiness'),
      Startup: make('Startup'),
    };
  }

  /**
   * Starts one worker per probe of the pod's containers and restartable init containers
   * (kubelet `AddPod`); probes that already have a worker are left alone.
   *
   * Probes are not validated up front — the kubelet leaves that to the API server and
   * runs whatever it gets. An invalid probe still gets a worker, whose every attempt
   * errors with the reason (see `resolveProbeLeniently`): each period a
   * `Warning Unhealthy` event `<Type> probe errored and resulted in unknown state: …`
   * and no result, so readiness stays `Failure` (never ready), liveness stays `Success`
   * (never restarts) and startup stays unknown (never started). The pod's other probes
   * and its containers run as usual.
   *
   * @throws InvalidArgumentError only for a pod that is not one: no `metadata.uid` or
   *   no `spec.containers` array.
   */
  addPod(pod: k8s.Pod): void {
    checkPodShape(pod);
    if (this.stopped) return;
    const uid = pod.metadata.uid ?? '';
    for (const { container, path, fieldPath } of probedContainers(pod)) {
      for (const type of probeTypes) {
        const probe = container[probeField[type]];
        if (!probe) continue;
        const key = workerKey(uid, container.name, type);
        if (this.workers.has(key)) {
          this.logger.debug('Probe already exists for container', {
            probeType: type,
            podUID: uid,
            containerName: container.name,
          });
          continue;
        }
        const resolved = resolveProbeLeniently(
          pod,
          container,
          type,
          probe,
          `${path}.${probeField[type]}`,
        );
        if (resolved.reasons.length > 0) {
          this.logger.warn('Invalid probe; every attempt will error', {
            probeType: type,
            pod: `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`,
            podUID: uid,
            containerName: container.name,
            reasons: resolved.reasons.join('; '),
          });
        }
        const worker = new ProbeWorker(
          this.ctx[type],
          type,
          pod,
          container,
          resolved.probe,
          fieldPath,
        );
        this.workers.set(key, worker);
        worker.start();
      }
    }
  }

  updatePod(pod: k8s.Pod): void {
    for (const w of this.workers.values()) if (w.podUid === pod.metadata.uid) w.pod = pod;
  }

  stopLivenessAndStartup(pod: k8s.Pod): void {
    this.stopWorkers(pod, ['Liveness', 'Startup']);
  }

  removePod(pod: k8s.Pod): void {
    this.stopWorkers(pod, probeTypes);
    this.statuses.delete(pod.metadata.uid ?? '');
  }

  cleanupPods(desiredPodUids: ReadonlySet<string>): void {
    for (const w of [...this.workers.values()]) if (!desiredPodUids.has(w.podUid)) void w.stop();
    for (const uid of [...this.statuses.keys()])
      if (!desiredPodUids.has(uid)) this.statuses.delete(uid);
  }

  updatePodStatus(pod: k8s.Pod, status: k8s.PodStatus): k8s.PodStatus {
    const uid = pod.metadata.uid ?? '';
    const out: k8s.PodStatus = { ...status };
    if (status.containerStatuses) {
      out.containerStatuses = status.containerStatuses.map((c) => {
        const next = { ...c };
        const started = this.isStarted(uid, c);
        next.started = started;
        if (started) next.ready = this.isReady(uid, c);
        else next.ready = false;
        return next;
      });
    }
    if (status.initContainerStatuses) {
      const specs = pod.spec.initContainers ?? [];
      out.initContainerStatuses = status.initContainerStatuses.map((c) => {
        const next = { ...c };
        const started = this.isStarted(uid, c);
        next.started = started;
        const spec = specs.find((s) => s.name === c.name);
        if (spec?.restartPolicy !== 'Always') {
          next.ready = c.state?.terminated !== undefined && c.state.terminated.exitCode === 0;
        } else {
          next.ready = started ? this.isReady(uid, c) : false;
        }
        return next;
      });
    }
    if (!this.stopped) this.statuses.set(uid, out);
    return out;
  }

  results(probeType: ProbeType): ProbeResultsManager {
    return this.managers[probeType];
  }

  subscribe(
    listener: (update: ProbeResultUpdate) => void,
    filter: ProbeResultFilter = {},
  ): Unsubscribe {
    const matches = (u: ProbeResultUpdate): boolean =>
      (filter.probeType === undefined || filter.probeType === u.probeType) &&
      (filter.podUid === undefined || filter.podUid === u.podUid) &&
      (filter.containerName === undefined || filter.containerName === u.containerName) &&
      (filter.containerId === undefined || filter.containerId === u.containerId);
    const offs = probeTypes
      .filter((t) => filter.probeType === undefined || filter.probeType === t)
      .map((t) =>
        this.managers[t].subscribe((u) => {
          if (matches(u)) listener(u);
        }),
      );
    return () => offs.forEach((off) => off());
  }

  onRestartRequest(listener: (request: ContainerRestartRequest) => void): Unsubscribe {
    this.restartListeners.add(listener);
    return () => {
      this.restartListeners.delete(listener);
    };
  }

  workerCount(): number {
    return this.workers.size;
  }

  /** The worker of one probe, if running (for tests and diagnostics). */
  getWorker(podUid: string, containerName: string, probeType: ProbeType): ProbeWorker | undefined {
    return this.workers.get(workerKey(podUid, containerName, probeType));
  }

  start(): void {
    this.stopped = false;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.workers.values()].map((w) => w.stop()));
    this.statuses.clear();
  }

  /** kubelet `UpdatePodStatus`, the `started` part. */
  private isStarted(podUid: string, c: k8s.ContainerStatus): boolean {
    if (!c.state?.running) return false;
    const result = c.containerID ? this.managers.Startup.get(c.containerID) : undefined;
    if (result !== undefined) return result === 'Success';
    return !this.workers.has(workerKey(podUid, c.name, 'Startup'));
  }

  /** kubelet `UpdatePodStatus`, the `ready` part (for a started container). */
  private isReady(podUid: string, c: k8s.ContainerStatus): boolean {
    if (!c.state?.running) return false;
    const result = c.containerID ? this.managers.Readiness.get(c.containerID) : undefined;
    if (result === 'Success') return true;
    const worker = this.workers.get(workerKey(podUid, c.name, 'Readiness'));
    if (!worker) return true; // no readiness probe: ready once running
    worker.trigger();
    return false;
  }

  private workersOf(podUid: string): ProbeWorker[] {
    return [...this.workers.values()].filter((w) => w.podUid === podUid);
  }

  private stopWorkers(pod: k8s.Pod, types: readonly ProbeType[]): void {
    for (const w of this.workersOf(pod.metadata.uid ?? ''))
      if (types.includes(w.probeType)) void w.stop();
  }

  private emitRestart(w: ProbeWorker): void {
    if (w.probeType !== 'Liveness' && w.probeType !== 'Startup') return;
    const pod = w.pod;
    const grace =
      w.spec.terminationGracePeriodSeconds ??
      pod.metadata.deletionGracePeriodSeconds ??
      pod.spec.terminationGracePeriodSeconds ??
      defaultTerminationGracePeriodSeconds;
    const request: ContainerRestartRequest = {
      probeType: w.probeType,
      podUid: w.podUid,
      podName: pod.metadata.name ?? '',
      namespace: pod.metadata.namespace ?? '',
      containerName: w.container.name,
      containerId: w.containerId,
      message: restartMessage(w.container.name, w.probeType),
      gracePeriodSeconds: grace,
    };
    this.logger.info('Container failed probe, requesting restart', {
      probeType: w.probeType,
      podUID: w.podUid,
      containerName: w.container.name,
      containerID: w.containerId,
    });
    for (const listener of [...this.restartListeners]) {
      try {
        listener(request);
      } catch (err) {
        this.logger.error('Restart listener threw', {
          err: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }
}

/** Creates the kubelet-style probe manager. See {@link ProbeManagerOptions}. */
export function createProbeManager(options: ProbeManagerOptions): DefaultProbeManager {
  return new DefaultProbeManager(options);
}
