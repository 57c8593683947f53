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
  type Clock,
  type InjectionToken,
  type Logger,
  type PodSource,
  type PodUpdate,
  type Random,
} from '@nodeagent/core';
import { Reflector, createApiListerWatcher, type KubeApi } from '@nodeagent/kube-client';
import type { AdmissionNode } from '@nodeagent/pod-lifecycle';

/** A Node as the informer stores it (the JSON shape; what admission reads of it). */
export type ListedNode = AdmissionNode & {
  metadata: AdmissionNode['metadata'] & { uid?: string; resourceVersion?: string };
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
  private firstListFailed = false;

  constructor(options: WatchingNodeListerOptions) {
    this.nodeName = options.nodeName;
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
    this.reflector.addEventHandler({
      onSync: () => {
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

  /** The Node as last seen; undefined before the first list or when it does not exist. */
  node(): ListedNode | undefined {
    return this.reflector.getByName('', this.nodeName);
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

/** Creates a {@link WatchingNodeLister}. */
export function createNodeLister(options: WatchingNodeListerOptions): WatchingNodeLister {
  return new WatchingNodeLister(options);
}

/** Token of the agent's node lister (API-server mode only). */
export const NodeListerToken: InjectionToken<WatchingNodeLister> =
  createToken<WatchingNodeLister>('NodeLister');

/**
 * Wraps the API pod source so that it starts only once the node lister is ready
 * (kubelet `NewSourceApiserver`: "Waiting for node sync before watching apiserver
 * pods"), so that pods are never admitted against a Node that was not read yet.
 */
export function waitForNodeSync(
  source: PodSource,
  lister: Pick<WatchingNodeLister, 'onReadyForPods'>,
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
      return source.subscribe(listener);
    },
  };
}
