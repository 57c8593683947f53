import {
  jitter,
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type Random,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import { podFullName, podUid } from './pod-config.js';

/** Why a pod worker is asked to act (kubelet `kubetypes.SyncPodType`). */
export type SyncPodType = 'create' | 'update' | 'sync' | 'kill';

/** The phases of a pod worker (kubelet `podSyncStatus`). */
export type PodWorkerPhase = 'syncing' | 'terminating' | 'terminated';

export interface KillPodOptions {
  /** Overrides the pod's termination grace period (seconds). */
  gracePeriodSeconds?: number;
  /** Why the pod is stopped, for logs and status (`Evicted`, `Removed`…). */
  reason?: string;
}

export interface UpdatePodOptions {
  type: SyncPodType;
  pod: k8s.Pod;
  kill?: KillPodOptions;
}

/** What one sync of a running pod reports back to its worker. */
export interface SyncPodResult {
  /** The pod reached a terminal phase (Succeeded/Failed): terminate it. */
  terminal?: boolean;
  /** Sync again after this many ms (a back-off expires then); default: the resync interval. */
  retryAfterMs?: number;
}

export interface SyncPodContext {
  /** Aborted when the pod must stop syncing (it is being killed) or the workers stop. */
  signal: AbortSignal;
  /** Act only on runtime status newer than this (ms since epoch): the end of the previous sync. */
  statusNewerThanMs: number;
}

/**
 * What pod workers call: the kubelet's `SyncPod`, `SyncTerminatingPod` and
 * `SyncTerminatedPod`. Implemented by the pod lifecycle's runtime manager.
 */
export interface PodSyncHandler {
  syncPod(pod: k8s.Pod, type: SyncPodType, context: SyncPodContext): Promise<SyncPodResult>;
  /** Stops every container and the sandbox, honouring the grace period. */
  syncTerminatingPod(pod: k8s.Pod, options: KillPodOptions, context: SyncPodContext): Promise<void>;
  /** Releases what is left once the pod is stopped (containers, sandbox, volumes, cgroups). */
  syncTerminatedPod(pod: k8s.Pod, options: KillPodOptions, context: SyncPodContext): Promise<void>;
}

export interface PodWorkersOptions {
  handler: PodSyncHandler;
  clock: Clock;
  random?: Random;
  logger?: Logger;
  /** Periodic resync of a healthy pod (kubelet `syncFrequency`, default 1 min). */
  resyncIntervalMs?: number;
  /** Delay before retrying a failed sync (kubelet `backOffPeriod`, 10 s). */
  backOffPeriodMs?: number;
}

interface WorkerState {
  pod: k8s.Pod;
  phase: PodWorkerPhase;
  pending: UpdatePodOptions | undefined;
  kill: KillPodOptions | undefined;
  running: boolean;
  abort: AbortController;
  timer: Timer | undefined;
  lastSyncMs: number;
  cleanedUp: boolean;
  /** The same UID came back while terminating (static pod re-added): start over once done. */
  restartRequested: k8s.Pod | undefined;
  done: Promise<void>;
}

/** Kubelet `workerResyncIntervalJitterFactor` and `workerBackOffPeriodJitterFactor`. */
const resyncJitterFactor = 0.5;
const backOffJitterFactor = 0.5;

/**
 * One serial worker per pod UID, in parallel across pods (kubelet `podWorkers`).
 * The newest spec wins: updates that arrive while a sync runs replace each other and
 * the last one is synced next; a kill is sticky and aborts a sync in flight. A worker
 * goes syncing → terminating → terminated and is forgotten with {@link removeWorker}.
 */
export class PodWorkers {
  private readonly workers = new Map<string, WorkerState>();
  private readonly logger: Logger;
  private readonly random: Random;
  private readonly resyncIntervalMs: number;
  private readonly backOffPeriodMs: number;
  private stopped = false;

  constructor(private readonly options: PodWorkersOptions) {
    this.logger = (options.logger ?? noopLogger).child({ component: 'pod-workers' });
    this.random = options.random ?? mathRandom;
    this.resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
    this.backOffPeriodMs = options.backOffPeriodMs ?? 10_000;
  }

  /** Asks the pod's worker to act; starts a worker for a new UID. */
  updatePod(update: UpdatePodOptions): void {
    if (this.stopped) return;
    const uid = podUid(update.pod);
    let state = this.workers.get(uid);
    if (!state) {
      if (update.type === 'kill') {
        // Never seen as desired (e.g. an orphan found in the runtime): terminate it.
        state = this.newState(update.pod, 'terminating');
        state.kill = update.kill ?? {};
      } else {
        state = this.newState(update.pod, 'syncing');
      }
      this.workers.set(uid, state);
    } else if (state.phase !== 'syncing' && update.type !== 'kill') {
      if (update.type === 'create') state.restartRequested = update.pod;
      else state.pod = update.pod;
      return;
    }
    if (update.type === 'kill') {
      state.kill = { ...state.kill, ...update.kill };
      // Cut a running sync short; a termination in progress is never interrupted.
      if (state.phase === 'syncing') state.abort.abort(new Error('pod is being killed'));
    }
    state.pod = update.pod;
    if (state.pending?.type !== 'kill') state.pending = update;
    this.schedule(uid, state);
  }

  /** The phase of a pod's worker, undefined when there is none. */
  phase(uid: string): PodWorkerPhase | undefined {
    return this.workers.get(uid)?.phase;
  }

  /** UIDs of every pod that has a worker. */
  knownPods(): string[] {
    return [...this.workers.keys()];
  }

  /** True when the pod's worker finished its terminated cleanup. */
  isFinished(uid: string): boolean {
    const s = this.workers.get(uid);
    return s !== undefined && s.phase === 'terminated' && s.cleanedUp && !s.running;
  }

  /** Forgets a finished worker, so the UID may start anew. */
  removeWorker(uid: string): void {
    const s = this.workers.get(uid);
    if (!s || !this.isFinished(uid)) return;
    s.timer?.cancel();
    this.workers.delete(uid);
  }

  /** Resolves when no worker is running a sync (tests and shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const busy = [...this.workers.values()].filter((s) => s.running);
      if (busy.length === 0) return;
      await Promise.all(busy.map((s) => s.done));
    }
  }

  /**
   * Stops every worker without touching its pod (agent shutdown leaves pods
   * running): aborts syncs in flight, cancels timers and waits for them to return.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.workers.values()) {
      s.timer?.cancel();
      s.pending = undefined;
      s.abort.abort(new Error('pod workers stopped'));
    }
    await this.idle();
  }

  private newState(pod: k8s.Pod, phase: PodWorkerPhase): WorkerState {
    return {
      pod,
      phase,
      pending: undefined,
      kill: undefined,
      running: false,
      abort: new AbortController(),
      timer: undefined,
      lastSyncMs: 0,
      cleanedUp: false,
      restartRequested: undefined,
      done: Promise.resolve(),
    };
  }

  private schedule(uid: string, state: WorkerState): void {
    if (state.running) return;
    state.running = true;
    state.done = this.run(uid, state).finally(() => {
      state.running = false;
    });
  }

  private requeue(uid: string, state: WorkerState, delayMs: number): void {
    state.timer?.cancel();
    if (this.stopped) return;
    state.timer = this.options.clock.setTimeout(() => {
      state.timer = undefined;
      if (this.workers.get(uid) === state && !state.pending) {
        state.pending = { type: 'sync', pod: state.pod };
        this.schedule(uid, state);
      }
    }, delayMs);
  }

  private async run(uid: string, state: WorkerState): Promise<void> {
    const { handler, clock } = this.options;
    while (state.pending && !this.stopped) {
      const work = state.pending;
      state.pending = undefined;
      state.timer?.cancel();
      state.timer = undefined;
      if (state.phase === 'syncing' && (work.type === 'kill' || state.kill)) {
        state.phase = 'terminating';
        state.abort = new AbortController();
      }
      const context: SyncPodContext = {
        signal: state.abort.signal,
        statusNewerThanMs: state.lastSyncMs,
      };
      try {
        if (state.phase === 'syncing') {
          const result = await handler.syncPod(state.pod, work.type, context);
          state.lastSyncMs = clock.now();
          if (result.terminal) {
            state.kill ??= { reason: 'PodCompleted' };
            state.pending ??= { type: 'kill', pod: state.pod };
            continue;
          }
          const delay =
            result.retryAfterMs ?? jitter(this.resyncIntervalMs, resyncJitterFactor, this.random);
          this.requeue(uid, state, delay);
        } else if (state.phase === 'terminating') {
          await handler.syncTerminatingPod(state.pod, state.kill ?? {}, context);
          state.lastSyncMs = clock.now();
          state.phase = 'terminated';
          state.pending ??= { type: 'sync', pod: state.pod };
        } else if (!state.cleanedUp) {
          await handler.syncTerminatedPod(state.pod, state.kill ?? {}, context);
          state.lastSyncMs = clock.now();
          state.cleanedUp = true;
          if (state.restartRequested) {
            // The same UID is desired again: start a fresh worker for it.
            const pod = state.restartRequested;
            const fresh = this.newState(pod, 'syncing');
            fresh.pending = { type: 'create', pod };
            this.workers.set(uid, fresh);
            this.schedule(uid, fresh);
            return;
          }
        }
      } catch (err) {
        if (context.signal.aborted) {
          // Superseded by a kill (or shutdown): the loop picks up the pending work.
          if (!state.pending && state.kill && !this.stopped)
            state.pending = { type: 'kill', pod: state.pod };
          continue;
        }
        this.logger.warn('Error syncing pod, will retry', {
          pod: podFullName(state.pod),
          podUid: uid,
          phase: state.phase,
          error: err instanceof Error ? err.message : String(err),
        });
        state.lastSyncMs = clock.now();
        this.requeue(uid, state, jitter(this.backOffPeriodMs, backOffJitterFactor, this.random));
      }
    }
  }
}
