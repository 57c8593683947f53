/**
 * The kubelet's node lister in API-server mode: an informer on the agent's own Node
 * (`fieldSelector=metadata.name=<node>`), so that admission (`getNodeAnyWay`) sees the
 * Node's labels and taints as soon as they change, and the API pod source that starts
 * only once that Node has been listed (kubelet `NewSourceApiserver` waits for
 * `nodeHasSynced`).
 */
import {
  createToken,
  noopLogger,
  PodAnnotation,
  PodOperation,
  type Clock,
  type InjectionToken,
  type Logger,
  type PodSource,
  type PodUpdate,
  type Random,
  type k8s,
} from '@nodeagent/core';
import { Reflector, createApiListerWatcher, type KubeApi } from '@nodeagent/kube-client';
import { generalFilter, type AdmissionNode } from '@nodeagent/pod-lifecycle';
import { toApiJson } from '@nodeagent/status-reporter';

/** A Node as the informer stores it (the JSON shape; what admission reads of it). */
export type ListedNode = AdmissionNode & {
  metadata: AdmissionNode['metadata'] & {
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
};

/** Options of {@link WatchingNodeLister}. */
export interface WatchingNodeListerOptions {
  /** The Node's name (`--hostname-override`). */
  nodeName: string;
  /** The agent's shared, rate-limited API clients. */
  api: KubeApi;
  clock: Clock;
  /** Jitter of the reflector's back-off; default `Math.random`. */
  random?: Random;
  logger?: Logger;
}

/**
 * One reflector listing and watching this node's Node object (kubelet `nodeLister`,
 * a shared informer with the `metadata.name` field selector). `node()` is the Node as
 * last seen (undefined before the first list, or while it does not exist);
 * `hasSynced()` turns true after the first complete list. Start once the API clients
 * exist, stop on shutdown (no timer or watch is left).
 */
export class WatchingNodeLister {
  private readonly reflector: Reflector<ListedNode>;
  private readonly nodeName: string;
  private readonly logger: Logger;
  private readonly readyListeners = new Set<() => void>();
  private readonly api: KubeApi;
  private readonly clock: Clock;
  private firstListFailed = false;
  /** Bumped by every change the reflector applies (watch event or relist). */
  private generation = 0;
  /** A Node read by {@link refresh}; newer than the reflector's until its next change. */
  private fresh: { node: ListedNode; generation: number } | undefined;

  constructor(options: WatchingNodeListerOptions) {
    this.nodeName = options.nodeName;
    this.api = options.api;
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'node-lister' });
    const api = options.api;
    const fieldSelector = `metadata.name=${options.nodeName}`;
    this.reflector = new Reflector<ListedNode>({
      listerWatcher: createApiListerWatcher<ListedNode>(api, {
        description: `nodes (${fieldSelector})`,
        path: '/api/v1/nodes',
        fieldSelector,
        list: (params, o) => api.core.listNode(params, o),
      }),
      clock: options.clock,
      ...(options.random ? { random: options.random } : {}),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const changed = (): void => {
      this.generation++;
      this.fresh = undefined;
    };
    this.reflector.addEventHandler({
      onAdd: changed,
      onUpdate: changed,
      onDelete: changed,
      onSync: () => {
        changed();
        this.logger.debug('Node synced', { node: this.nodeName, found: this.node() !== undefined });
        this.notifyReady();
      },
      onError: (failure) => {
        if (this.reflector.hasSynced() || this.firstListFailed) return;
        // The API server is unreachable before the first list: let the API pod source
        // start anyway, so that it can serve its checkpoint during the outage.
        this.firstListFailed = true;
        this.logger.warn('Node not listed yet; API pods start without waiting for it', {
          node: this.nodeName,
          err: failure.message,
        });
        this.notifyReady();
      },
    });
  }

  /** Starts listing and watching (idempotent). */
  start(): void {
    this.reflector.start();
  }

  /** Stops the reflector: no watch, list or timer is left. */
  stop(): void {
    this.reflector.stop();
    this.readyListeners.clear();
  }

  /** True once the Node has been listed (client-go `HasSynced`). */
  hasSynced(): boolean {
    return this.reflector.hasSynced();
  }

  /**
   * The Node as last seen: the reflector's, or the one {@link refresh} read when the
   * watch has brought nothing since. Undefined before the first list or when it does
   * not exist.
   */
  node(): ListedNode | undefined {
    return this.fresh?.node ?? this.reflector.getByName('', this.nodeName);
  }

  /**
   * Reads the Node from the API server now (one GET), for when the watch may lag
   * behind a change another client just made (a label added right before a pod that
   * needs it is created). What it read is what {@link node} returns until the watch
   * delivers its next change, which is at least as new. Gives up after `timeoutMs`
   * (default 5 s) or on any error, keeping the watched Node; never rejects.
   */
  async refresh(timeoutMs = defaultNodeRefreshTimeoutMs): Promise<void> {
    const generation = this.generation;
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = this.clock.setTimeout(() => resolve(undefined), timeoutMs);
    });
    try {
      const read = await Promise.race([
        this.api.core.readNode({ name: this.nodeName }).then((n) => toApiJson<ListedNode>(n)),
        timeout,
      ]);
      if (read === undefined) {
        this.logger.debug('Node refresh timed out', { node: this.nodeName, timeoutMs });
        return;
      }
      // A change the watch applied meanwhile is at least as new as what was read.
      if (this.generation === generation) this.fresh = { node: read, generation };
    } catch (err) {
      this.logger.debug('Node refresh failed', {
        node: this.nodeName,
        err: err instanceof Error ? err.message : String(err),
      });
    } finally {
      timer?.cancel();
    }
  }

  /**
   * Calls `listener` once the API pods may start: at the first sync, or at the first
   * failure before it (API server unreachable). At once when that already happened.
   * Returns the unsubscribe function.
   */
  onReadyForPods(listener: () => void): () => void {
    if (this.hasSynced() || this.firstListFailed) {
      listener();
      return () => {};
    }
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  private notifyReady(): void {
    const listeners = [...this.readyListeners];
    this.readyListeners.clear();
    for (const l of listeners) l();
  }
}

/** How long {@link WatchingNodeLister.refresh} waits for the API server: 5 s. */
export const defaultNodeRefreshTimeoutMs = 5_000;

/** Creates a {@link WatchingNodeLister}. */
export function createNodeLister(options: WatchingNodeListerOptions): WatchingNodeLister {
  return new WatchingNodeLister(options);
}

/** Token of the agent's node lister (API-server mode only). */
export const NodeListerToken: InjectionToken<WatchingNodeLister> =
  createToken<WatchingNodeLister>('NodeLister');

/**
 * True when admission would refuse `pod` for a reason that depends on the Node's
 * labels or taints (`NodeAffinity`, `TaintToleration`): the one case where a Node
 * changed a moment ago by another client may not have reached the watch yet.
 */
export function refusedByNodeLabelsOrTaints(pod: k8s.Pod, node: AdmissionNode): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  if (pod.metadata?.annotations?.[PodAnnotation.ConfigMirror] !== undefined) return false;
  try {
    return generalFilter(pod, [], node).some(
      (f) => f.kind === 'predicate' && (f.name === 'NodeAffinity' || f.name === 'TaintToleration'),
    );
  } catch {
    return false; // an invalid quantity: admission refuses it whatever the Node says
  }
}

/**
 * Wraps the API pod source so that it starts only once the node lister is ready
 * (kubelet `NewSourceApiserver`: "Waiting for node sync before watching apiserver
 * pods"), so that pods are never admitted against a Node that was not read yet.
 *
 * Pods and the Node come on two watches, so a pod created right after a label it
 * needs was added to the Node can arrive first. Before handing on a new pod (in an ADD,
 * or in a SET snapshot that did not have it before) that the watched Node would refuse
 * for its labels or taints, the wrapper reads the Node once more
 * ({@link WatchingNodeLister.refresh}); updates stay in order meanwhile.
 */
export function waitForNodeSync(
  source: PodSource,
  lister: Pick<WatchingNodeLister, 'onReadyForPods' | 'node' | 'refresh'>,
  logger: Logger = noopLogger,
): PodSource {
  let cancel: (() => void) | undefined;
  let state: 'new' | 'waiting' | 'started' | 'stopped' = 'new';
  return {
    name: source.name,
    start(): void {
      if (state !== 'new') return;
      state = 'waiting';
      cancel = lister.onReadyForPods(() => {
        cancel = undefined;
        if (state !== 'waiting') return;
        state = 'started';
        source.start();
      });
    },
    async stop(): Promise<void> {
      const wasStarted = state === 'started';
      state = 'stopped';
      cancel?.();
      cancel = undefined;
      if (wasStarted) await source.stop();
    },
    subscribe(listener: (update: PodUpdate) => void): () => void {
      let queued = 0;
      let tail: Promise<void> = Promise.resolve();
      let subscribed = true;
      // UIDs of the pods handed on so far: the API source sends SET snapshots, so a
      // pod is new when it was in none of them.
      let known = new Set<string>();
      const uid = (p: k8s.Pod): string => p.metadata?.uid ?? '';
      const needsFreshNode = (update: PodUpdate): boolean => {
        if (update.op !== PodOperation.ADD && update.op !== PodOperation.SET) return false;
        const node = lister.node();
        return (
          node !== undefined &&
          update.pods.some((p) => !known.has(uid(p)) && refusedByNodeLabelsOrTaints(p, node))
        );
      };
      const deliver = (update: PodUpdate): void => {
        if (update.op === PodOperation.SET) known = new Set(update.pods.map(uid));
        else if (update.op === PodOperation.REMOVE)
          for (const p of update.pods) known.delete(uid(p));
        else for (const p of update.pods) known.add(uid(p));
        if (subscribed) listener(update);
      };
      const unsubscribe = source.subscribe((update) => {
        if (queued === 0 && !needsFreshNode(update)) {
          deliver(update);
          return;
        }
        queued++;
        tail = tail
          .then(async () => {
            if (needsFreshNode(update)) await lister.refresh();
            deliver(update);
          })
          .catch((err: unknown) => {
            logger.error('Pod update not handled', {
              component: 'node-lister',
              op: update.op,
              err: err instanceof Error ? err.message : String(err),
            });
          })
          .finally(() => {
            queued--;
          });
      });
      return () => {
        subscribed = false;
        unsubscribe();
      };
    },
  };
}
