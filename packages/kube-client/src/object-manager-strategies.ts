/**
 * The kubelet's other two `configMapAndSecretChangeDetectionStrategy` values besides
 * the default `Watch` ({@link WatchingConfigMapManager}):
 *
 * - `Get` (`NewSimpleConfigMapManager` / `NewSimpleSecretManager`): every read is a
 *   GET to the API server; nothing is watched or cached.
 * - `Cache` (`pkg/kubelet/util/manager/cache_based_manager.go`): objects referenced
 *   by registered pods are read with a GET and kept for a TTL — the Node's
 *   `node.alpha.kubernetes.io/ttl` annotation (seconds), one minute without it; a
 *   pod registering a reference invalidates the cached copy so that new pods see the
 *   current object; objects seen `immutable: true` are kept for good.
 */
import {
  noopLogger,
  type Clock,
  type ConfigMapManager,
  type Logger,
  type SecretManager,
  type k8s,
} from '@nodeagent/core';
import type { KubeApi } from './kube-api.js';
import {
  WatchingConfigMapManager,
  WatchingSecretManager,
  configMapKind,
  key,
  podKey,
  readObject,
  secretKind,
  type ObjectKind,
  type WatchingObjectManagerOptions,
} from './watching-object-managers.js';

/** The kubelet's `configMapAndSecretChangeDetectionStrategy`. */
export type ChangeDetectionStrategy = 'Watch' | 'Cache' | 'Get';

/** TTL of cached objects when the Node has no TTL annotation (kubelet `defaultTTL`), ms. */
export const defaultObjectCacheTtlMs = 60_000;

/** The Node annotation the kubelet reads the object cache TTL from (seconds). */
export const nodeTtlAnnotation = 'node.alpha.kubernetes.io/ttl';

/**
 * The object cache TTL a Node asks for (kubelet `GetObjectTTLFromNodeFunc`): its
 * `node.alpha.kubernetes.io/ttl` annotation in seconds when it is a non-negative
 * integer, else undefined (the default applies).
 */
export function objectTtlFromNode(
  node: { metadata?: { annotations?: Record<string, string> } } | undefined,
): number | undefined {
  const value = node?.metadata?.annotations?.[nodeTtlAnnotation];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value) * 1000;
}

/** Options of the `Get` and `Cache` managers. */
export interface ObjectManagerOptions {
  api: KubeApi;
  clock: Clock;
  logger?: Logger;
  /** `Cache` only: the TTL now, ms (e.g. from the Node annotation); default 1 min. */
  ttlMs?: () => number | undefined;
}

/** The common surface of the ConfigMap and Secret managers of every strategy. */
interface ObjectManager<T> {
  get(namespace: string, name: string): Promise<T>;
  registerPod(pod: k8s.Pod): void;
  unregisterPod(pod: k8s.Pod): void;
  stop(): void;
}

/** The `Get` strategy: a GET per read. */
class GettingObjectManager<T> implements ObjectManager<T> {
  constructor(
    private readonly kind: ObjectKind<T>,
    private readonly api: KubeApi,
  ) {}

  get(namespace: string, name: string): Promise<T> {
    return readObject(this.kind, this.api, namespace, name);
  }

  registerPod(): void {}

  unregisterPod(): void {}

  stop(): void {}
}

interface CachedObject<T> {
  refs: number;
  /** The last read: the object or its failure, and when (monotonic ms); none when invalidated. */
  data?: { object?: T; err?: unknown; at: number };
}

/** The `Cache` strategy (kubelet `objectStore` with a TTL). */
class CachingObjectManager<T extends { immutable?: boolean }> implements ObjectManager<T> {
  private readonly items = new Map<string, CachedObject<T>>();
  private readonly pods = new Map<string, { namespace: string; names: Set<string> }>();
  private readonly logger: Logger;

  constructor(
    private readonly kind: ObjectKind<T>,
    private readonly options: ObjectManagerOptions,
  ) {
    this.logger = (options.logger ?? noopLogger).child({ component: `${kind.kind}-manager` });
  }

  private ttl(): number {
    return this.options.ttlMs?.() ?? defaultObjectCacheTtlMs;
  }

  async get(namespace: string, name: string): Promise<T> {
    const item = this.items.get(key(namespace, name));
    // Not referenced by any registered pod: one GET, not kept.
    if (item === undefined) return readObject(this.kind, this.options.api, namespace, name);
    const data = item.data;
    const now = this.options.clock.monotonicNow();
    if (data !== undefined && (data.object?.immutable === true || now - data.at < this.ttl())) {
      if (data.object !== undefined) return data.object;
      throw data.err;
    }
    try {
      const object = await readObject(this.kind, this.options.api, namespace, name);
      if (this.items.get(key(namespace, name)) === item) item.data = { object, at: now };
      return object;
    } catch (err) {
      if (this.items.get(key(namespace, name)) === item) item.data = { err, at: now };
      this.logger.debug('Object read failed', {
        namespace,
        name,
        err: err instanceof Error ? err.message : String(err),
      });
      throw err;
    }
  }

  registerPod(pod: k8s.Pod): void {
    const uid = podKey(pod);
    const namespace = pod.metadata.namespace ?? 'default';
    const names = this.kind.names(pod);
    const previous = this.pods.get(uid);
    this.pods.set(uid, { namespace, names });
    for (const name of names) {
      const k = key(namespace, name);
      const item = this.items.get(k) ?? { refs: 0 };
      item.refs++;
      // kubelet objectStore.AddReference: the next Get fetches the object again.
      delete item.data;
      this.items.set(k, item);
    }
    if (previous !== undefined) this.dropReferences(previous.namespace, previous.names);
  }

  unregisterPod(pod: k8s.Pod): void {
    const uid = podKey(pod);
    const previous = this.pods.get(uid);
    if (previous === undefined) return;
    this.pods.delete(uid);
    this.dropReferences(previous.namespace, previous.names);
  }

  private dropReferences(namespace: string, names: Set<string>): void {
    for (const name of names) {
      const k = key(namespace, name);
      const item = this.items.get(k);
      if (item === undefined) continue;
      item.refs--;
      if (item.refs <= 0) this.items.delete(k);
    }
  }

  /** Objects referenced by registered pods. */
  get referencedObjects(): number {
    return this.items.size;
  }

  stop(): void {
    this.items.clear();
    this.pods.clear();
  }
}

/** Pod registration and stop of a manager over any strategy's object manager. */
abstract class ManagerOf<T> {
  constructor(protected readonly impl: ObjectManager<T>) {}
  registerPod(pod: k8s.Pod): void {
    this.impl.registerPod(pod);
  }
  unregisterPod(pod: k8s.Pod): void {
    this.impl.unregisterPod(pod);
  }
  /** Forgets what is cached or watched (agent shutdown). */
  stop(): void {
    this.impl.stop();
  }
}

/** A ConfigMapManager over any strategy's object manager. */
class ConfigMapManagerOf extends ManagerOf<k8s.ConfigMap> implements ConfigMapManager {
  getConfigMap(namespace: string, name: string): Promise<k8s.ConfigMap> {
    return this.impl.get(namespace, name);
  }
}

/** A SecretManager over any strategy's object manager. */
class SecretManagerOf extends ManagerOf<k8s.Secret> implements SecretManager {
  getSecret(namespace: string, name: string): Promise<k8s.Secret> {
    return this.impl.get(namespace, name);
  }
}

/** A manager of the ConfigMap or Secret kind with a `stop()` for shutdown. */
export type StoppableConfigMapManager = ConfigMapManager & { stop(): void };
/** See {@link StoppableConfigMapManager}. */
export type StoppableSecretManager = SecretManager & { stop(): void };

/**
 * The ConfigMap manager of a change-detection strategy (kubelet
 * `configMapAndSecretChangeDetectionStrategy`): `Watch` (default), `Cache` or `Get`.
 */
export function createConfigMapManager(
  strategy: ChangeDetectionStrategy,
  options: WatchingObjectManagerOptions & Pick<ObjectManagerOptions, 'ttlMs'>,
): StoppableConfigMapManager {
  switch (strategy) {
    case 'Get':
      return new ConfigMapManagerOf(new GettingObjectManager(configMapKind, options.api));
    case 'Cache':
      return new ConfigMapManagerOf(new CachingObjectManager(configMapKind, options));
    default:
      return new WatchingConfigMapManager(options);
  }
}

/** The Secret manager of a change-detection strategy; see {@link createConfigMapManager}. */
export function createSecretManager(
  strategy: ChangeDetectionStrategy,
  options: WatchingObjectManagerOptions & Pick<ObjectManagerOptions, 'ttlMs'>,
): StoppableSecretManager {
  switch (strategy) {
    case 'Get':
      return new SecretManagerOf(new GettingObjectManager(secretKind, options.api));
    case 'Cache':
      return new SecretManagerOf(new CachingObjectManager(secretKind, options));
    default:
      return new WatchingSecretManager(options);
  }
}
