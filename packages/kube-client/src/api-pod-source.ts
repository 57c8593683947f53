import {
  InvalidConfigError,
  PodAnnotation,
  PodOperation,
  PodSourceName,
  noopLogger,
  type Clock,
  type Logger,
  type PodSource,
  type PodUpdate,
  type Random,
  type k8s,
} from '@nodeagent/core';
import { CheckpointFile } from './checkpoint-file.js';
import type { KubeApi } from './kube-api.js';
import {
  Reflector,
  createApiListerWatcher,
  type ListerWatcher,
  type ReflectorHealth,
  type ReflectorOptions,
} from './reflector.js';

/** Reflector tuning that {@link ApiPodSource} passes through. */
export type PodReflectorTuning = Omit<
  ReflectorOptions<k8s.Pod>,
  'listerWatcher' | 'clock' | 'random' | 'logger'
>;

/** Options of {@link ApiPodSource}. */
export interface ApiPodSourceOptions {
  /** This node's name: pods are listed with `fieldSelector=spec.nodeName=<nodeName>`. */
  nodeName: string;
  /** The API clients; required unless `listerWatcher` is given. */
  api?: KubeApi;
  /** Lists and watches the node's pods; default: `/api/v1/pods` through `api`. */
  listerWatcher?: ListerWatcher<k8s.Pod>;
  clock: Clock;
  random?: Random;
  logger?: Logger;
  /**
   * File where the last pod set is kept (JSON, mode 0600, replaced atomically), so
   * that an agent restarted while the API server is unreachable still adopts and
   * runs its pods. No checkpoint when unset.
   */
  checkpointPath?: string;
  /** Least time between two checkpoint writes, ms; default 1000. */
  checkpointMinIntervalMs?: number;
  /** Reflector tuning (silence timeout, back-off, page size…). */
  reflector?: PodReflectorTuning;
}

/** Default least time between two checkpoint writes (ms). */
export const defaultCheckpointMinIntervalMs = 1000;

/** `kind` of the pod checkpoint file. */
export const podCheckpointKind = 'NodeAgentPodCheckpoint';

/** The pod checkpoint file's content. */
export interface PodCheckpoint {
  kind: typeof podCheckpointKind;
  version: 1;
  nodeName: string;
  /** When it was written (RFC 3339). */
  savedAt: string;
  /** The pods as the API server sent them (without the source annotation). */
  pods: k8s.Pod[];
}

/**
 * The kubelet's API server pod source (`config.NewSourceApiserver`): a
 * {@link Reflector} on `/api/v1/pods` with `fieldSelector=spec.nodeName=<node>`
 * that emits `SET` with all of the node's pods (core `k8s.Pod` JSON, annotated
 * `kubernetes.io/config.source: api`) after the first list and after every change,
 * coalescing a burst of watch events into one SET per event-loop turn.
 *
 * With `checkpointPath`, the last pod set is also written to disk (throttled, and
 * on stop); when the agent starts with a checkpoint and the first list fails, the
 * checkpoint's pods are emitted right away so the agent keeps running them; the
 * first successful list replaces them.
 */
export class ApiPodSource implements PodSource {
  readonly name = PodSourceName.Api;
  private readonly reflector: Reflector<k8s.Pod>;
  private readonly listeners = new Set<(update: PodUpdate) => void>();
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly checkpoint: CheckpointFile<PodCheckpoint> | undefined;
  private state: 'new' | 'running' | 'stopped' = 'new';
  private starting: Promise<void> | undefined;
  private emitQueued = false;
  private checkpointPods: k8s.Pod[] | undefined;
  private checkpointUsed = false;
  /**
   * The annotated copy of each stored pod object, so a SET after one watch event
   * copies only the pod that changed: the reflector keeps unchanged pods' objects,
   * and an object's copy is dropped with it.
   */
  private readonly annotated = new WeakMap<k8s.Pod, k8s.Pod>();

  constructor(private readonly options: ApiPodSourceOptions) {
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'api-pod-source' });
    this.checkpoint =
      options.checkpointPath === undefined
        ? undefined
        : new CheckpointFile<PodCheckpoint>({
            path: options.checkpointPath,
            clock: options.clock,
            minIntervalMs: options.checkpointMinIntervalMs ?? defaultCheckpointMinIntervalMs,
            logger: this.logger,
            description: 'pod checkpoint',
          });
    const lw = options.listerWatcher ?? podListerWatcher(options);
    this.reflector = new Reflector<k8s.Pod>({
      ...options.reflector,
      listerWatcher: lw,
      clock: options.clock,
      ...(options.random ? { random: options.random } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.reflector.addEventHandler({
      onAdd: () => this.queueEmit(),
      onUpdate: () => this.queueEmit(),
      onDelete: () => this.queueEmit(),
      onSync: () => this.queueEmit(),
      onError: () => this.useCheckpointIfUnsynced(),
    });
  }

  /** Starts: reads the checkpoint (if any), then lists and watches. */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.starting = this.loadCheckpoint().then(() => {
      if (this.state === 'running') this.reflector.start();
    });
  }

  /** Stops the reflector and timers, and writes the last pod set to the checkpoint. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    await this.starting;
    this.reflector.stop();
    await this.checkpoint?.close();
  }

  subscribe(listener: (update: PodUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** True once the first list has been applied. */
  hasSynced(): boolean {
    return this.reflector.hasSynced();
  }

  /** The reflector's health (unhealthy after failing for longer than its threshold). */
  healthy(): ReflectorHealth {
    return this.reflector.healthy();
  }

  /** The resourceVersion the pod watch has reached. */
  get lastSyncResourceVersion(): string {
    return this.reflector.lastSyncResourceVersion;
  }

  /** Resolves once any checkpoint write in flight has finished (for tests and shutdown). */
  async flushCheckpoint(): Promise<void> {
    await this.checkpoint?.idle();
  }

  private queueEmit(): void {
    if (!this.reflector.hasSynced() || this.emitQueued) return;
    this.emitQueued = true;
    queueMicrotask(() => {
      this.emitQueued = false;
      if (this.state !== 'running') return;
      const pods = sortPods(this.reflector.list());
      this.publish(pods);
      this.scheduleCheckpoint(pods);
    });
  }

  private publish(pods: readonly k8s.Pod[]): void {
    const update: PodUpdate = {
      op: PodOperation.SET,
      source: PodSourceName.Api,
      pods: pods.map((pod) => this.withSourceAnnotation(pod)),
    };
    for (const l of this.listeners) l(update);
  }

  /** The pod annotated `kubernetes.io/config.source: api`, one copy per pod object. */
  private withSourceAnnotation(pod: k8s.Pod): k8s.Pod {
    let copy = this.annotated.get(pod);
    if (copy === undefined) {
      copy = withSourceAnnotation(pod);
      this.annotated.set(pod, copy);
    }
    return copy;
  }

  private useCheckpointIfUnsynced(): void {
    if (this.checkpointUsed || this.reflector.hasSynced() || this.checkpointPods === undefined) {
      return;
    }
    this.checkpointUsed = true;
    this.logger.warn('API server unreachable at start; running the pods of the checkpoint', {
      pods: this.checkpointPods.length,
      checkpoint: this.options.checkpointPath,
    });
    this.publish(this.checkpointPods);
  }

  private async loadCheckpoint(): Promise<void> {
    if (this.checkpoint === undefined) return;
    const text = await this.checkpoint.read();
    if (text === undefined) return;
    const parsed = parseCheckpoint(text, this.options.nodeName);
    if (typeof parsed === 'string') {
      this.logger.warn('Ignoring a corrupt pod checkpoint', {
        checkpoint: this.options.checkpointPath,
        reason: parsed,
      });
      return;
    }
    this.checkpointPods = sortPods(parsed.pods);
    this.checkpoint.markWritten(JSON.stringify(this.checkpointPods));
  }

  private scheduleCheckpoint(pods: k8s.Pod[]): void {
    if (this.checkpoint === undefined || this.state !== 'running') return;
    const body: PodCheckpoint = {
      kind: podCheckpointKind,
      version: 1,
      nodeName: this.options.nodeName,
      savedAt: new Date(this.clock.now()).toISOString(),
      pods,
    };
    this.checkpoint.schedule(body, JSON.stringify(pods));
  }
}

function podListerWatcher(options: ApiPodSourceOptions): ListerWatcher<k8s.Pod> {
  const api = options.api;
  if (api === undefined) {
    throw new InvalidConfigError('ApiPodSource needs `api` or a `listerWatcher`');
  }
  const fieldSelector = `spec.nodeName=${options.nodeName}`;
  return createApiListerWatcher<k8s.Pod>(api, {
    description: `pods (${fieldSelector})`,
    path: '/api/v1/pods',
    fieldSelector,
    list: (params, o) => api.core.listPodForAllNamespaces(params, o),
  });
}

function withSourceAnnotation(pod: k8s.Pod): k8s.Pod {
  return {
    ...pod,
    metadata: {
      ...pod.metadata,
      annotations: { ...pod.metadata.annotations, [PodAnnotation.ConfigSource]: PodSourceName.Api },
    },
  };
}

/** Sorts `pods` in place by namespace, name and UID (each key built once). */
function sortPods(pods: k8s.Pod[]): k8s.Pod[] {
  const keyed = pods.map((p) => ({
    key: `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}/${p.metadata.uid ?? ''}`,
    pod: p,
  }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 0; i < keyed.length; i++) pods[i] = keyed[i]!.pod;
  return pods;
}

/** Parses a checkpoint file; returns the reason when it cannot be used. */
export function parseCheckpoint(text: string, nodeName: string): PodCheckpoint | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (typeof parsed !== 'object' || parsed === null) return 'not an object';
  const c = parsed as Partial<PodCheckpoint>;
  if (c.kind !== podCheckpointKind || c.version !== 1) return 'unknown kind or version';
  if (c.nodeName !== nodeName) return `written for node "${String(c.nodeName)}"`;
  if (!Array.isArray(c.pods)) return 'no pods';
  for (const p of c.pods as unknown[]) {
    const pod = p as Partial<k8s.Pod> | null;
    if (
      typeof pod !== 'object' ||
      pod === null ||
      typeof pod.metadata !== 'object' ||
      typeof pod.metadata.uid !== 'string' ||
      typeof pod.spec !== 'object'
    ) {
      return 'a pod without metadata.uid or spec';
    }
  }
  return c as PodCheckpoint;
}

/** Creates an {@link ApiPodSource}. */
export function createApiPodSource(options: ApiPodSourceOptions): ApiPodSource {
  return new ApiPodSource(options);
}
