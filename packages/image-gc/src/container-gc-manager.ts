import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createToken,
  noopLogger,
  noopMetrics,
  type Clock,
  type ContainerRuntime,
  type InjectionToken,
  type Logger,
  type MetricsRegistry,
  type Timer,
} from '@nodeagent/core';
import { createContainerGcMetrics, type ContainerGcMetrics } from './metrics.js';
import { validateContainerGcPolicy, type ContainerGcPolicy } from './policy.js';

/** How often container GC runs: the kubelet's `ContainerGCPeriod`, 1 min. */
export const containerGcPeriodMs = 60_000;

/** The kubelet's pod log root, `/var/log/pods`. */
export const defaultPodLogsDir = '/var/log/pods';

/** Label holding a container's pod UID (set by the kubelet and by nodeagent). */
export const podUidLabel = 'io.kubernetes.pod.uid';

/**
 * What container GC needs to know about pods (the kubelet's `podStateProvider`,
 * implemented by its pod workers): whether a pod is gone for good, and whether it has
 * terminated (its containers will not run again).
 */
export interface PodStateProvider {
  /** True when the pod was deleted (or never existed): all its leftovers may go. */
  isPodDeleted(uid: string): boolean;
  /** True when the pod has terminated; its content goes only when GC is asked to evict terminated pods. */
  isPodTerminated(uid: string): boolean;
}
export const PodStateProvider: InjectionToken<PodStateProvider> =
  createToken<PodStateProvider>('PodStateProvider');

/** Collaborators and settings of {@link ContainerGcManager}. */
export interface ContainerGcManagerOptions {
  runtime: ContainerRuntime;
  clock: Clock;
  podStateProvider: PodStateProvider;
  /** The policy; missing fields take the kubelet defaults. Validated in the constructor. */
  policy?: Partial<ContainerGcPolicy>;
  /** Root of the pod log directories `<ns>_<name>_<uid>`; default `/var/log/pods`. */
  podLogsDir?: string;
  /**
   * Whether every pod source has delivered its pods at least once (kubelet
   * `sourcesReady.AllReady()`); until then nothing of "deleted" pods is removed,
   * since a pod may only look deleted. Default: always ready.
   */
  allSourcesReady?: () => boolean;
  /**
   * Only containers and sandboxes carrying all these labels are considered (for an
   * agent sharing a runtime, or tests). Default: all.
   */
  labelSelector?: Readonly<Record<string, string>>;
  /**
   * Removes a container's log files (rotated ones included) before the container is
   * removed, like the kubelet's `removeContainerLog` (usually the
   * {@link ContainerLogManager}). Without it the files stay until the pod's log
   * directory goes.
   */
  containerLogs?: { clean(containerId: string): Promise<void> };
  logger?: Logger;
  metrics?: MetricsRegistry;
  /** Period of the passes started by {@link ContainerGcManager.start}; default 1 min. */
  periodMs?: number;
}

/** Options of one container GC pass. */
export interface ContainerGcRunOptions {
  /**
   * Also remove everything of terminated (not only deleted) pods — what the eviction
   * manager asks for when it reclaims disk (kubelet `DeleteAllUnusedContainers`).
   * Default false.
   */
  evictTerminatedPods?: boolean;
}

/** What one container GC pass did. */
export interface ContainerGcResult {
  removedContainers: string[];
  removedSandboxes: string[];
  /** Full paths of the pod log directories removed. */
  removedPodLogDirs: string[];
  /** Removals that failed (the pass carries on past them). */
  errors: unknown[];
}

interface DeadContainer {
  id: string;
  name: string;
  createdAt: number;
  attempt: number;
  unknown: boolean;
}

interface SandboxInfo {
  id: string;
  createdAt: number;
  attempt: number;
  active: boolean;
}

/** Newest first: higher attempt, then later creation (kubelet `byAttempt`). */
function newestFirst(a: { attempt: number; createdAt: number }, b: typeof a): number {
  return a.attempt === b.attempt ? b.createdAt - a.createdAt : b.attempt - a.attempt;
}

function matchesSelector(
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

const nsPerMs = 1_000_000;

/**
 * The kubelet's container garbage collector (`pkg/kubelet/kuberuntime/kuberuntime_gc.go`).
 * Each pass:
 *
 * 1. groups dead containers (any state but running, created at least `minAgeMs` ago)
 *    by evict unit (pod UID, container name), newest first by attempt then creation;
 * 2. when all sources are ready, removes every one of a deleted pod (and of a
 *    terminated one when asked);
 * 3. keeps at most `maxPerPodContainer` per unit, then, with `maxContainers` set,
 *    an equal share per unit (at least 1) and finally the oldest first across units;
 *    containers in unknown state are stopped before removal. Unlike the kubelet, the
 *    newest dead instance of a container of a pod that still exists is never removed,
 *    whatever the counts: pod status and restart counts are derived from it;
 * 4. removes sandboxes that are not ready and hold no container: all of those of
 *    deleted pods, and all but the newest sandbox of other pods (stopping each first,
 *    as the kubelet does);
 * 5. removes `<podLogsDir>/<ns>_<name>_<uid>` of deleted pods with no sandbox left.
 *
 * Containers without the `io.kubernetes.pod.uid` label were not made by a kubelet and
 * are left alone.
 */
export class ContainerGcManager {
  readonly policy: Readonly<ContainerGcPolicy>;
  private readonly runtime: ContainerRuntime;
  private readonly clock: Clock;
  private readonly pods: PodStateProvider;
  private readonly podLogsDir: string;
  private readonly allSourcesReady: () => boolean;
  private readonly labelSelector: Readonly<Record<string, string>> | undefined;
  private readonly containerLogs: ContainerGcManagerOptions['containerLogs'];
  private readonly logger: Logger;
  private readonly metrics: ContainerGcMetrics;
  private readonly periodMs: number;
  private timer: Timer | undefined;
  private running = false;
  private queue: Promise<unknown> = Promise.resolve();
  private inFlight = new Set<Promise<unknown>>();

  /** @throws InvalidConfigError when the policy is invalid */
  constructor(options: ContainerGcManagerOptions) {
    this.policy = Object.freeze(validateContainerGcPolicy(options.policy));
    this.runtime = options.runtime;
    this.clock = options.clock;
    this.pods = options.podStateProvider;
    this.podLogsDir = options.podLogsDir ?? defaultPodLogsDir;
    this.allSourcesReady = options.allSourcesReady ?? (() => true);
    this.labelSelector = options.labelSelector;
    this.containerLogs = options.containerLogs;
    this.logger = (options.logger ?? noopLogger).child({ component: 'container-gc' });
    this.metrics = createContainerGcMetrics(options.metrics ?? noopMetrics);
    this.periodMs = options.periodMs ?? containerGcPeriodMs;
  }

  /** Runs a pass at once and then every `periodMs`; failures are logged. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.timer = this.clock.setInterval(() => this.tick(), this.periodMs);
    this.tick();
  }

  /** Stops the periodic passes and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
  }

  /**
   * One pass (see the class comment). Removal failures are collected in the result;
   * the promise rejects only when the runtime cannot be listed. Passes never overlap.
   */
  garbageCollect(options: ContainerGcRunOptions = {}): Promise<ContainerGcResult> {
    const run = this.queue.then(
      () => this.pass(options),
      () => this.pass(options),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A pass that also removes what terminated pods left (kubelet `DeleteAllUnusedContainers`). */
  deleteAllUnusedContainers(): Promise<ContainerGcResult> {
    return this.garbageCollect({ evictTerminatedPods: true });
  }

  private tick(): void {
    if (!this.running) return;
    const p = this.garbageCollect().then(
      (result) => {
        if (result.errors.length > 0) {
          this.logger.warn('Container garbage collection finished with errors', {
            errors: result.errors.length,
            first: String(result.errors[0]),
          });
        }
      },
      (err: unknown) =>
        this.logger.error('Container garbage collection failed', { err: String(err) }),
    );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async pass(options: ContainerGcRunOptions): Promise<ContainerGcResult> {
    const started = this.clock.monotonicNow();
    try {
      return await this.passInner(options.evictTerminatedPods ?? false);
    } finally {
      this.metrics.duration.observe({}, (this.clock.monotonicNow() - started) / 1000);
    }
  }

  private podContentRemovable(uid: string, evictTerminated: boolean): boolean {
    return this.pods.isPodDeleted(uid) || (evictTerminated && this.pods.isPodTerminated(uid));
  }

  private async passInner(evictTerminated: boolean): Promise<ContainerGcResult> {
    const result: ContainerGcResult = {
      removedContainers: [],
      removedSandboxes: [],
      removedPodLogDirs: [],
      errors: [],
    };
    const selector = this.labelSelector ? { labelSelector: { ...this.labelSelector } } : {};
    const [containerList, sandboxList] = await Promise.all([
      this.runtime.listContainers({ filter: selector }),
      this.runtime.listPodSandbox({ filter: selector }),
    ]);
    const containers = containerList.containers.filter((c) =>
      matchesSelector(c.labels, this.labelSelector),
    );
    const sandboxes = sandboxList.items.filter((s) =>
      matchesSelector(s.labels, this.labelSelector),
    );
    const sourcesReady = this.allSourcesReady();

    // ---- containers
    const newestGcTimeNs = (this.clock.now() - this.policy.minAgeMs) * nsPerMs;
    const units = new Map<string, { uid: string; containers: DeadContainer[] }>();
    // The newest dead instance of each unit, young or not: what status needs.
    const newestDead = new Map<string, DeadContainer>();
    for (const c of containers) {
      if (c.state === 'CONTAINER_RUNNING') continue;
      const uid = c.labels[podUidLabel];
      if (!uid) continue;
      const info: DeadContainer = {
        id: c.id,
        name: c.metadata?.name ?? '',
        createdAt: c.createdAt,
        attempt: c.metadata?.attempt ?? 0,
        unknown: c.state === 'CONTAINER_UNKNOWN',
      };
      const key = `${uid}\u0000${info.name}`;
      const prev = newestDead.get(key);
      if (!prev || newestFirst(info, prev) < 0) newestDead.set(key, info);
      if (c.createdAt > newestGcTimeNs) continue;
      let unit = units.get(key);
      if (!unit) {
        unit = { uid, containers: [] };
        units.set(key, unit);
      }
      unit.containers.push(info);
    }
    const protectedIds = new Set<string>();
    for (const [key, unit] of units) {
      unit.containers.sort(newestFirst);
      if (sourcesReady && this.podContentRemovable(unit.uid, evictTerminated)) {
        await this.removeContainers(unit.containers, result);
        units.delete(key);
        continue;
      }
      const newest = newestDead.get(key);
      if (newest) protectedIds.add(newest.id);
    }

    const enforcePerUnit = async (keep: number): Promise<void> => {
      for (const unit of units.values()) {
        if (unit.containers.length <= keep) continue;
        const victims = unit.containers.slice(keep).filter((c) => !protectedIds.has(c.id));
        unit.containers = unit.containers.filter((c, i) => i < keep || protectedIds.has(c.id));
        await this.removeContainers(victims, result);
      }
    };
    const count = (): number => {
      let n = 0;
      for (const unit of units.values()) n += unit.containers.length;
      return n;
    };
    if (this.policy.maxPerPodContainer >= 0) await enforcePerUnit(this.policy.maxPerPodContainer);
    if (this.policy.maxContainers >= 0 && count() > this.policy.maxContainers) {
      // Leave an equal number per unit (at least 1), then the oldest go first.
      await enforcePerUnit(Math.max(1, Math.floor(this.policy.maxContainers / units.size)));
      const total = count();
      if (total > this.policy.maxContainers) {
        const flattened = [...units.values()].flatMap((u) => u.containers).sort(newestFirst);
        const victims = flattened
          .slice(this.policy.maxContainers)
          .filter((c) => !protectedIds.has(c.id));
        await this.removeContainers(victims, result);
      }
    }

    // ---- sandboxes
    const removed = new Set(result.removedContainers);
    const sandboxesWithContainers = new Set<string>();
    for (const c of containers) if (!removed.has(c.id)) sandboxesWithContainers.add(c.podSandboxId);
    const byPod = new Map<string, SandboxInfo[]>();
    for (const sb of sandboxes) {
      const uid = sb.metadata?.uid;
      if (!uid) continue;
      const info: SandboxInfo = {
        id: sb.id,
        createdAt: sb.createdAt,
        attempt: sb.metadata?.attempt ?? 0,
        active: sb.state === 'SANDBOX_READY' || sandboxesWithContainers.has(sb.id),
      };
      const list = byPod.get(uid);
      if (list) list.push(info);
      else byPod.set(uid, [info]);
    }
    const remainingSandboxUids = new Set<string>();
    for (const [uid, list] of byPod) {
      list.sort(newestFirst);
      // Keep the newest sandbox of a pod that still exists.
      const keep = this.podContentRemovable(uid, evictTerminated) ? 0 : 1;
      for (const [i, sb] of list.entries()) {
        if (i < keep || sb.active || !(await this.removeSandbox(sb.id, result))) {
          remainingSandboxUids.add(uid);
        }
      }
    }

    // ---- pod log directories
    if (sourcesReady) await this.evictPodLogDirs(remainingSandboxUids, evictTerminated, result);
    return result;
  }

  private async removeContainers(list: DeadContainer[], result: ContainerGcResult): Promise<void> {
    // Oldest first, like the kubelet's removeOldestN.
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i];
      if (!c) continue;
      try {
        if (c.unknown) {
          // A container in unknown state may still run: stop it first.
          await this.runtime.stopContainer({ containerId: c.id, timeout: 0 });
        }
        // kubelet removeContainer: the logs first; if they cannot go, neither does it
        await this.containerLogs?.clean(c.id);
        await this.runtime.removeContainer({ containerId: c.id });
        result.removedContainers.push(c.id);
        this.metrics.removed.inc({ kind: 'container' });
      } catch (err) {
        this.logger.warn('Failed to remove container', { containerID: c.id, err: String(err) });
        this.metrics.errors.inc({ kind: 'container' });
        result.errors.push(err);
      }
    }
  }

  private async removeSandbox(id: string, result: ContainerGcResult): Promise<boolean> {
    try {
      // The sandbox should be stopped already; make sure (kubelet removeSandbox).
      await this.runtime.stopPodSandbox({ podSandboxId: id });
      await this.runtime.removePodSandbox({ podSandboxId: id });
      result.removedSandboxes.push(id);
      this.metrics.removed.inc({ kind: 'sandbox' });
      return true;
    } catch (err) {
      this.logger.warn('Failed to remove sandbox', { podSandboxID: id, err: String(err) });
      this.metrics.errors.inc({ kind: 'sandbox' });
      result.errors.push(err);
      return false;
    }
  }

  private async evictPodLogDirs(
    uidsWithSandbox: ReadonlySet<string>,
    evictTerminated: boolean,
    result: ContainerGcResult,
  ): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.podLogsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      result.errors.push(err);
      this.logger.warn('Failed to read pod logs directory', {
        path: this.podLogsDir,
        err: String(err),
      });
      return;
    }
    for (const name of names) {
      const uid = parsePodUidFromLogsDirectory(name);
      if (!uid || uidsWithSandbox.has(uid) || !this.podContentRemovable(uid, evictTerminated)) {
        continue;
      }
      const path = join(this.podLogsDir, name);
      try {
        await rm(path, { recursive: true, force: true });
        result.removedPodLogDirs.push(path);
        this.metrics.removed.inc({ kind: 'pod_log_dir' });
      } catch (err) {
        this.logger.warn('Failed to remove pod logs directory', { path, err: String(err) });
        this.metrics.errors.inc({ kind: 'pod_log_dir' });
        result.errors.push(err);
      }
    }
  }
}

/**
 * The pod UID from a pod log directory name `<namespace>_<name>_<uid>` (kubelet
 * `parsePodUIDFromLogsDirectory`); undefined for names of another shape.
 */
export function parsePodUidFromLogsDirectory(name: string): string | undefined {
  const parts = name.split('_');
  if (parts.length < 3) return undefined;
  const uid = parts[parts.length - 1];
  return uid === '' ? undefined : uid;
}

/** Creates a {@link ContainerGcManager}; throws `InvalidConfigError` for a bad policy. */
export function createContainerGcManager(options: ContainerGcManagerOptions): ContainerGcManager {
  return new ContainerGcManager(options);
}
