import {
  CancelledError,
  type Clock,
  type Counter,
  type Histogram,
  type k8s,
  type Logger,
  type ProbeResult,
  type ProbeType,
  type Random,
  type Timer,
} from '@nodeagent/core';
import type { ResolvedProbe } from './probe-spec.js';
import type { Prober } from './prober.js';
import type { ResultsManager } from './results-manager.js';

/** The result a worker publishes for a new container before its first probe (kubelet `initialValue`). */
export const initialProbeResult: Readonly<Record<ProbeType, ProbeResult>> = {
  Readiness: 'Failure',
  Liveness: 'Success',
  Startup: 'Unknown',
};

/** The `result` label values of `prober_probe_total`. */
const resultLabel = { Success: 'successful', Failure: 'failed', Unknown: 'unknown' } as const;

/** What a worker needs from its manager. */
export interface ProbeWorkerContext {
  clock: Clock;
  random: Random;
  logger: Logger;
  prober: Prober;
  /** The results cache of this worker's probe kind. */
  results: ResultsManager;
  /** `clock.monotonicNow()` when the manager was created (kubelet `manager.start`). */
  managerStartedAt: number;
  /** The pod status the kubelet knows (kubelet `statusManager.GetPodStatus`). */
  podStatus(podUid: string): k8s.PodStatus | undefined;
  /** Whether the container passed its startup probe (or has none) — `ContainerStatus.started`. */
  isStarted(podUid: string, status: k8s.ContainerStatus): boolean;
  /** Called once, when a liveness/startup probe's failure reaches the threshold. */
  requestRestart(worker: ProbeWorker): void;
  /** Called once, when the worker has stopped. */
  onExit(worker: ProbeWorker): void;
  probeTotal: Counter;
  probeDuration: Histogram;
}

type WorkerState = 'new' | 'jitter' | 'idle' | 'probing' | 'stopped';

/**
 * Probes one container with one probe, periodically (kubelet `prober.worker`).
 *
 * Timing: the first probe runs at once, or after a random part of the period when the
 * manager was created less than one period ago (so that an agent restart does not
 * fire every probe at the same instant); then on a ticker every `periodSeconds`. A
 * probe is never run twice at once: a tick (or manual trigger) that arrives during a
 * probe is kept (at most one of each) and runs right after it, like Go's ticker channel.
 *
 * Each round follows `doProbe`: see {@link ProbeWorker.doProbe}.
 */
export class ProbeWorker {
  /** The container instance (`<runtime>://<id>`) the worker last saw. */
  containerId = '';
  /** Holds probing after a liveness/startup failure until a new container id appears. */
  onHold = false;
  /** The last probe result and how many times in a row it came (Go zero value: Success, 0). */
  lastResult: 'Success' | 'Failure' = 'Success';
  resultRun = 0;

  private state: WorkerState = 'new';
  private stopRequested = false;
  private tickPending = false;
  private manualPending = false;
  private ticker: Timer | undefined;
  private jitterTimer: Timer | undefined;
  private readonly abort = new AbortController();
  private readonly exited: Promise<void>;
  private resolveExited!: () => void;
  private readonly resultLabels: Record<'Success' | 'Failure' | 'Unknown', Record<string, string>>;
  private readonly durationLabels: Record<string, string>;

  constructor(
    private readonly ctx: ProbeWorkerContext,
    readonly probeType: ProbeType,
    /** The pod; replaced by the manager when the pod object is updated. */
    public pod: k8s.Pod,
    readonly container: k8s.Container,
    readonly spec: ResolvedProbe,
    /** `spec.containers{name}`: the event field path. */
    readonly fieldPath: string,
  ) {
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
    const base = {
      probe_type: probeType,
      container: container.name,
      pod: pod.metadata.name ?? '',
      namespace: pod.metadata.namespace ?? '',
    };
    const withUid = { ...base, pod_uid: pod.metadata.uid ?? '' };
    this.resultLabels = {
      Success: { ...withUid, result: resultLabel.Success },
      Failure: { ...withUid, result: resultLabel.Failure },
      Unknown: { ...withUid, result: resultLabel.Unknown },
    };
    this.durationLabels = base;
  }

  /** The pod UID. */
  get podUid(): string {
    return this.pod.metadata.uid ?? '';
  }

  /** True once the worker has stopped for good. */
  get stopped(): boolean {
    return this.state === 'stopped';
  }

  /** Starts the probe loop (after the start-up jitter, if any). */
  start(): void {
    if (this.state !== 'new') return;
    const periodMs = this.spec.periodSeconds * 1000;
    if (periodMs > this.ctx.clock.monotonicNow() - this.ctx.managerStartedAt) {
      this.state = 'jitter';
      this.jitterTimer = this.ctx.clock.setTimeout(() => {
        this.jitterTimer = undefined;
        this.beginLoop();
      }, this.ctx.random.float() * periodMs);
    } else {
      this.beginLoop();
    }
  }

  /** Asks for a probe now (kubelet `manualTriggerCh`, buffered: at most one pending). */
  trigger(): void {
    if (this.stopRequested || this.state === 'stopped') return;
    if (this.state === 'idle') void this.runRound();
    else this.manualPending = true;
  }

  /**
   * Stops the worker: a probe in flight is aborted (its outcome thrown away), the
   * ticker cancelled, the container's result removed. Resolves once stopped.
   */
  stop(): Promise<void> {
    if (this.state === 'stopped') return this.exited;
    this.stopRequested = true;
    if (!this.abort.signal.aborted) this.abort.abort(new CancelledError('probe worker stopped'));
    if (this.state === 'jitter' || this.state === 'idle' || this.state === 'new') this.exit();
    return this.exited;
  }

  private beginLoop(): void {
    if (this.stopRequested) {
      this.exit();
      return;
    }
    this.ticker = this.ctx.clock.setInterval(() => this.onTick(), this.spec.periodSeconds * 1000);
    void this.runRound();
  }

  private onTick(): void {
    if (this.state === 'probing') this.tickPending = true;
    else if (this.state === 'idle') void this.runRound();
  }

  private async runRound(): Promise<void> {
    this.state = 'probing';
    let keepGoing: boolean;
    try {
      keepGoing = await this.doProbe();
    } catch (err) {
      // kubelet: HandleCrash keeps the worker going.
      this.ctx.logger.error('Probe worker crashed', {
        probeType: this.probeType,
        podUID: this.podUid,
        containerName: this.container.name,
        err: err instanceof Error ? err.message : String(err),
      });
      keepGoing = true;
    }
    if (!keepGoing || this.stopRequested) {
      this.exit();
      return;
    }
    this.state = 'idle';
    if (this.tickPending) {
      this.tickPending = false;
      void this.runRound();
    } else if (this.manualPending) {
      this.manualPending = false;
      void this.runRound();
    }
  }

  private exit(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.stopRequested = true;
    this.jitterTimer?.cancel();
    this.ticker?.cancel();
    if (!this.abort.signal.aborted) this.abort.abort(new CancelledError('probe worker stopped'));
    if (this.containerId !== '') this.ctx.results.remove(this.containerId);
    this.ctx.onExit(this);
    this.resolveExited();
  }

  private setResult(result: ProbeResult): void {
    this.ctx.results.set(this.containerId, result, this.pod, this.container.name);
  }

  /**
   * One round (kubelet `worker.doProbe`); returns whether to keep going:
   *
   * 1. no pod status yet → wait; pod Succeeded/Failed → stop;
   * 2. container not in the status or without id → wait;
   * 3. a new container id → the old one's result is removed, the initial result set,
   *    and a hold lifted; on hold → wait;
   * 4. container not running → result Failure; stop if it terminated and will not be
   *    restarted (restart policy Never);
   * 5. pod being deleted → liveness/startup set Success and stop;
   * 6. less than `initialDelaySeconds` (whole seconds) since the container started → wait;
   * 7. startup stops probing once the container started; liveness and readiness wait
   *    for it;
   * 8. probe; an error is thrown away; the result is published once it came
   *    `failureThreshold`/`successThreshold` times in a row; a liveness/startup failure
   *    asks for a restart and holds the worker until a new container appears.
   */
  async doProbe(): Promise<boolean> {
    const { clock } = this.ctx;
    const startedMono = clock.monotonicNow();
    const status = this.ctx.podStatus(this.podUid);
    if (!status) return true;
    if (status.phase === 'Failed' || status.phase === 'Succeeded') return false;

    const name = this.container.name;
    let c = status.containerStatuses?.find((s) => s.name === name);
    if (!c?.containerID) {
      c = status.initContainerStatuses?.find((s) => s.name === name);
      if (!c?.containerID) return true;
    }

    if (this.containerId !== c.containerID) {
      if (this.containerId !== '') this.ctx.results.remove(this.containerId);
      this.containerId = c.containerID;
      this.setResult(initialProbeResult[this.probeType]);
      this.onHold = false;
    }
    if (this.onHold) return true;

    const running = c.state?.running;
    if (!running) {
      this.setResult('Failure');
      const restartPolicy = this.container.restartPolicy ?? this.pod.spec.restartPolicy ?? 'Always';
      return c.state?.terminated === undefined || restartPolicy !== 'Never';
    }

    if (
      this.pod.metadata.deletionTimestamp !== undefined &&
      (this.probeType === 'Liveness' || this.probeType === 'Startup')
    ) {
      this.setResult('Success');
      return false;
    }

    const startedAt = running.startedAt === undefined ? NaN : Date.parse(running.startedAt);
    if (Number.isFinite(startedAt)) {
      const sinceStart = Math.trunc((clock.now() - startedAt) / 1000);
      if (sinceStart < this.spec.initialDelaySeconds) return true;
    }

    if (this.ctx.isStarted(this.podUid, c)) {
      if (this.probeType === 'Startup') return true;
    } else if (this.probeType !== 'Startup') {
      return true;
    }

    const verdict = await this.ctx.prober.probe(
      this.probeType,
      this.spec,
      {
        pod: this.pod,
        status,
        container: this.container,
        containerId: this.containerId,
        signal: this.abort.signal,
      },
      this.fieldPath,
    );
    if ('error' in verdict || this.stopRequested) return true;
    const result = verdict.result;

    this.ctx.probeTotal.inc(this.resultLabels[result]);
    if (result === 'Success') {
      this.ctx.probeDuration.observe(
        this.durationLabels,
        (clock.monotonicNow() - startedMono) / 1000,
      );
    }

    if (this.lastResult === result) {
      this.resultRun++;
    } else {
      this.lastResult = result;
      this.resultRun = 1;
    }
    if (
      (result === 'Failure' && this.resultRun < this.spec.failureThreshold) ||
      (result === 'Success' && this.resultRun < this.spec.successThreshold)
    ) {
      return true;
    }

    this.setResult(result);
    if ((this.probeType === 'Liveness' || this.probeType === 'Startup') && result === 'Failure') {
      this.onHold = true;
      this.resultRun = 0;
      this.ctx.requestRestart(this);
    }
    return true;
  }
}
