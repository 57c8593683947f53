import {
  PodOperation,
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type PodLifecycleEventGenerator,
  type PodSource,
  type PodUpdate,
  type Random,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import { PodConfig, podFullName, podUid } from './pod-config.js';
import { PodWorkers } from './pod-workers.js';
import { RuntimeManager, type RuntimeManagerOptions } from './runtime-manager.js';

/** Kubelet `housekeepingPeriod`: orphan cleanup and worker GC every 2 s. */
export const housekeepingPeriodMs = 2_000;

export interface PodLifecycleOptions extends RuntimeManagerOptions {
  /** Where desired pods come from (static files, a URL, the API server). */
  sources: readonly PodSource[];
  pleg: PodLifecycleEventGenerator;
  random?: Random;
  /** Periodic resync of every pod (kubelet `syncFrequency`, default 1 min). */
  syncFrequencyMs?: number;
}

/** A desired pod and the status the agent generated for it. */
export interface PodView {
  pod: k8s.Pod;
  status: k8s.PodStatus | undefined;
  phase: 'syncing' | 'terminating' | 'terminated' | undefined;
}

/**
 * The pod lifecycle: merges the pod sources, runs one worker per pod, reacts to PLEG
 * events and probe results, and cleans up orphans (the kubelet's `syncLoop` and
 * `HandlePodCleanups`). Stopping it leaves every pod running, as a kubelet restart does;
 * on start, pods already in the runtime are adopted through their labels.
 */
export class PodLifecycle {
  readonly config: PodConfig;
  readonly workers: PodWorkers;
  readonly manager: RuntimeManager;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly unsubscribers: Array<() => void> = [];
  private housekeeping: Timer | undefined;
  private housekeepingRunning = false;
  private started = false;

  constructor(private readonly options: PodLifecycleOptions) {
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'pod-lifecycle' });
    this.config = new PodConfig({ clock: options.clock, logger: options.logger ?? noopLogger });
    this.manager = new RuntimeManager({
      ...options,
      requestRelist: options.requestRelist ?? (() => void options.pleg.relist()),
    });
    this.workers = new PodWorkers({
      handler: this.manager,
      clock: options.clock,
      random: options.random ?? mathRandom,
      logger: options.logger ?? noopLogger,
      resyncIntervalMs: options.syncFrequencyMs ?? 60_000,
    });
  }

  /** Subscribes to sources, PLEG and probes, and starts housekeeping. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const { pleg, probes } = this.options;
    this.unsubscribers.push(this.config.subscribe((u) => this.handlePodUpdate(u)));
    for (const source of this.options.sources) {
      this.unsubscribers.push(source.subscribe((u) => this.config.apply(u)));
    }
    this.unsubscribers.push(
      pleg.subscribe((event) => {
        const pod = this.desiredPod(event.podUid);
        if (pod && this.workers.phase(event.podUid) === 'syncing') {
          this.workers.updatePod({ type: 'sync', pod });
        }
      }),
    );
    if (probes) {
      this.unsubscribers.push(
        probes.onRestartRequest((request) => {
          this.manager.requestRestart(request);
          const pod = this.desiredPod(request.podUid);
          if (pod) this.workers.updatePod({ type: 'sync', pod });
        }),
      );
      this.unsubscribers.push(
        probes.subscribe((update) => {
          if (update.probeType !== 'Readiness') return;
          const pod = this.desiredPod(update.podUid);
          if (pod) this.manager.refreshReadiness(pod);
        }),
      );
    }
    for (const source of this.options.sources) source.start();
    this.housekeeping = this.clock.setInterval(
      () => void this.runHousekeeping(),
      housekeepingPeriodMs,
    );
    this.logger.info('Pod lifecycle started', { sources: this.options.sources.map((s) => s.name) });
  }

  /** Stops watching and syncing; pods keep running (agent shutdown). */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.housekeeping?.cancel();
    for (const u of this.unsubscribers.splice(0)) u();
    await Promise.all(this.options.sources.map((s) => s.stop()));
    await this.workers.stop();
    this.logger.info('Pod lifecycle stopped; pods left running');
  }

  /** Desired pods with their generated status. */
  pods(): PodView[] {
    return this.config.pods().map((pod) => ({
      pod,
      status: this.manager.podStatus(podUid(pod)),
      phase: this.workers.phase(podUid(pod)),
    }));
  }

  private desiredPod(uid: string): k8s.Pod | undefined {
    return this.config.get(uid);
  }

  private handlePodUpdate(update: PodUpdate): void {
    for (const pod of update.pods) {
      switch (update.op) {
        case PodOperation.ADD:
          this.logger.info('Pod added', {
            pod: podFullName(pod),
            podUid: podUid(pod),
            source: update.source,
          });
          this.workers.updatePod({ type: 'create', pod });
          break;
        case PodOperation.UPDATE:
          this.logger.info('Pod updated', {
            pod: podFullName(pod),
            podUid: podUid(pod),
            source: update.source,
          });
          this.options.probes?.updatePod(pod);
          this.workers.updatePod({ type: 'update', pod });
          break;
        case PodOperation.DELETE: {
          const grace = pod.metadata?.deletionGracePeriodSeconds;
          this.options.probes?.updatePod(pod);
          this.workers.updatePod({
            type: 'kill',
            pod,
            kill: {
              reason: 'Deleted',
              ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
            },
          });
          break;
        }
        case PodOperation.REMOVE:
          this.logger.info('Pod removed', {
            pod: podFullName(pod),
            podUid: podUid(pod),
            source: update.source,
          });
          this.removePod(pod);
          break;
        default:
          break;
      }
    }
  }

  private removePod(pod: k8s.Pod): void {
    const uid = podUid(pod);
    if (this.workers.isFinished(uid)) {
      // It had completed (and kept its containers); now it is gone: clean it up.
      this.workers.removeWorker(uid);
    }
    this.workers.updatePod({ type: 'kill', pod, kill: { reason: 'Removed' } });
  }

  /** Kubelet `HandlePodCleanups`: forget finished workers, stop orphaned pods. */
  private async runHousekeeping(): Promise<void> {
    if (this.housekeepingRunning || !this.started) return;
    this.housekeepingRunning = true;
    try {
      const desired = new Set(this.config.pods().map(podUid));
      for (const uid of this.workers.knownPods()) {
        if (!desired.has(uid) && this.workers.isFinished(uid)) this.workers.removeWorker(uid);
      }
      this.manager.gcBackoff();
      this.options.probes?.cleanupPods(desired);
      if (!this.config.sourcesReady(this.options.sources.map((s) => s.name))) return;
      const { items } = await this.options.runtime.listPodSandbox({});
      const known = new Set(this.workers.knownPods());
      for (const sb of items) {
        const uid = sb.labels['io.kubernetes.pod.uid'] ?? sb.metadata?.uid ?? '';
        if (!uid || desired.has(uid) || known.has(uid)) continue;
        known.add(uid);
        const orphan: k8s.Pod = {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: sb.metadata?.name ?? '',
            namespace: sb.metadata?.namespace ?? 'default',
            uid,
          },
          spec: { containers: [] },
        };
        this.logger.info('Stopping orphaned pod', { pod: podFullName(orphan), podUid: uid });
        this.workers.updatePod({ type: 'kill', pod: orphan, kill: { reason: 'Orphaned' } });
      }
    } catch (err) {
      this.logger.warn('Housekeeping failed', {
        error: err instanceof Error ? err.message : String(err),
      });
    } finally {
      this.housekeepingRunning = false;
    }
  }
}
