import {
  NotFoundError,
  UnavailableError,
  isNodeAgentError,
  noopLogger,
  type Clock,
  type ConfigMapManager,
  type Logger,
  type Random,
  type SecretManager,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import { rawApiCall, toReadError } from './api-call.js';
import type { KubeApi } from './kube-api.js';
import { podConfigMapNames, podSecretNames } from './pod-references.js';
import {
  Reflector,
  createApiListerWatcher,
  type ApiCollection,
  type KubeObject,
  type ListerWatcher,
  type ReflectorOptions,
} from './reflector.js';

/**
 * How long `get*` waits for a registered object's reflector to sync before failing
 * (kubelet `objectCache.Get`: `wait.PollImmediate(10ms, time.Second, hasSynced)`), ms.
 */
export const defaultObjectSyncTimeoutMs = 1000;

/** Reflector tuning passed to every single-object reflector. */
export type ObjectReflectorTuning = Omit<
  ReflectorOptions<KubeObject>,
  'listerWatcher' | 'clock' | 'random' | 'logger'
>;

/** Options of {@link WatchingConfigMapManager} and {@link WatchingSecretManager}. */
export interface WatchingObjectManagerOptions {
  api: KubeApi;
  clock: Clock;
  random?: Random;
  logger?: Logger;
  /** Bounded wait for a registered object's first sync in `get*`, ms; default 1000. */
  syncTimeoutMs?: number;
  /** Tuning of the per-object reflectors. */
  reflector?: ObjectReflectorTuning;
}

/** What differs between the ConfigMap and the Secret manager (shared with the other strategies). */
export interface ObjectKind<T> {
  /** `configmap` / `secret`, for messages. */
  readonly kind: string;
  /** Resource plural for paths: `configmaps` / `secrets`. */
  readonly resource: string;
  names(pod: k8s.Pod): Set<string>;
  /** The typed list call of the collection in `namespace`. */
  list(api: KubeApi): (namespace: string) => ApiCollection['list'];
  read(api: KubeApi, namespace: string, name: string): Promise<T>;
}

interface CacheItem<T> {
  readonly namespace: string;
  readonly name: string;
  refs: number;
  reflector: Reflector<T & KubeObject> | undefined;
  /** Set once the object was seen with `immutable: true`; its reflector is then stopped. */
  immutable: T | undefined;
  readonly waiters: Set<() => void>;
}

/**
 * The kubelet's `Watch` change-detection strategy for ConfigMaps and Secrets
 * (`pkg/kubelet/util/manager/watch_based_manager.go`): every object referenced by a
 * registered pod gets its own reflector (`fieldSelector=metadata.name=<name>` in its
 * namespace), reference-counted by pod UID; `get` serves from it after its first
 * sync, waiting at most `syncTimeoutMs`.
 */
class WatchingObjectManager<T extends KubeObject & { immutable?: boolean }> {
  private readonly items = new Map<string, CacheItem<T>>();
  private readonly pods = new Map<string, { namespace: string; names: Set<string> }>();
  private readonly logger: Logger;
  private readonly syncTimeoutMs: number;
  private stopped = false;

  constructor(
    private readonly kind: ObjectKind<T>,
    private readonly options: WatchingObjectManagerOptions,
  ) {
    this.logger = (options.logger ?? noopLogger).child({ component: `${kind.kind}-manager` });
    this.syncTimeoutMs = options.syncTimeoutMs ?? defaultObjectSyncTimeoutMs;
  }

  async get(namespace: string, name: string): Promise<T> {
    const what = `${this.kind.kind} "${name}" in namespace "${namespace}"`;
    // kubelet: apierrors.NewNotFound(corev1.Resource("configmap"), name)
    const notFound = (cause?: unknown): NotFoundError =>
      new NotFoundError(`${this.kind.kind} "${name}" not found`, cause ? { cause } : undefined);
    const item = this.items.get(key(namespace, name));
    // Not referenced by any registered pod: one GET.
    if (item === undefined) return readObject(this.kind, this.options.api, namespace, name);
    if (item.immutable !== undefined) return item.immutable;
    const reflector = item.reflector;
    if (reflector === undefined) throw new UnavailableError(`${what}: not watched`);
    if (!reflector.hasSynced()) await this.waitForSync(item, reflector);
    if (item.immutable !== undefined) return item.immutable;
    const obj = reflector.getByName(namespace, name);
    if (obj === undefined) throw notFound();
    return obj;
  }

  registerPod(pod: k8s.Pod): void {
    if (this.stopped) return;
    const uid = podKey(pod);
    const namespace = pod.metadata.namespace ?? 'default';
    const names = this.kind.names(pod);
    const previous = this.pods.get(uid);
    this.pods.set(uid, { namespace, names });
    // Add the new references before dropping the old ones, so an object both
    // versions use keeps its reflector.
    for (const name of names) this.addReference(namespace, name);
    if (previous !== undefined) {
      for (const name of previous.names) this.deleteReference(previous.namespace, name);
    }
  }

  unregisterPod(pod: k8s.Pod): void {
    const uid = podKey(pod);
    const previous = this.pods.get(uid);
    if (previous === undefined) return;
    this.pods.delete(uid);
    for (const name of previous.names) this.deleteReference(previous.namespace, name);
  }

  /** Number of objects currently watched (for tests and metrics). */
  get watchedObjects(): number {
    let n = 0;
    for (const item of this.items.values()) if (item.reflector !== undefined) n++;
    return n;
  }

  /** Number of objects referenced by registered pods. */
  get referencedObjects(): number {
    return this.items.size;
  }

  stop(): void {
    this.stopped = true;
    for (const item of this.items.values()) this.dropItem(item);
    this.items.clear();
    this.pods.clear();
  }

  private addReference(namespace: string, name: string): void {
    const k = key(namespace, name);
    let item = this.items.get(k);
    if (item === undefined) {
      item = {
        namespace,
        name,
        refs: 0,
        reflector: undefined,
        immutable: undefined,
        waiters: new Set(),
      };
      this.items.set(k, item);
    }
    item.refs++;
    if (item.refs === 1) this.startReflector(item);
  }

  private deleteReference(namespace: string, name: string): void {
    const k = key(namespace, name);
    const item = this.items.get(k);
    if (item === undefined) return;
    item.refs--;
    if (item.refs > 0) return;
    this.items.delete(k);
    this.dropItem(item);
  }

  private dropItem(item: CacheItem<T>): void {
    item.reflector?.stop();
    item.reflector = undefined;
    for (const w of item.waiters) w();
    item.waiters.clear();
  }

  private startReflector(item: CacheItem<T>): void {
    const api = this.options.api;
    const fieldSelector = `metadata.name=${item.name}`;
    const lw: ListerWatcher<T> = createApiListerWatcher<T>(api, {
      description: `${this.kind.resource} ${item.namespace}/${item.name}`,
      path: `/api/v1/namespaces/${encodeURIComponent(item.namespace)}/${this.kind.resource}`,
      fieldSelector,
      list: this.kind.list(api)(item.namespace),
    });
    const reflector = new Reflector<T>({
      ...this.options.reflector,
      listerWatcher: lw,
      clock: this.options.clock,
      ...(this.options.random ? { random: this.options.random } : {}),
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
    const seen = (obj: T): void => {
      if (obj.immutable !== true || item.reflector !== reflector) return;
      // kubelet: an immutable object cannot change; stop watching it.
      item.immutable = obj;
      reflector.stop();
      item.reflector = undefined;
      this.logger.debug('Stopped watching an immutable object', {
        namespace: item.namespace,
        name: item.name,
      });
    };
    reflector.addEventHandler({
      onAdd: seen,
      onUpdate: (_old, obj) => seen(obj),
      onSync: () => {
        for (const w of item.waiters) w();
        item.waiters.clear();
      },
    });
    item.reflector = reflector;
    reflector.start();
  }

  private waitForSync(item: CacheItem<T>, reflector: Reflector<T>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        timer.cancel();
        item.waiters.delete(done);
        if (reflector.hasSynced() || item.immutable !== undefined) resolve();
        else {
          reject(
            new UnavailableError(
              `failed to sync ${this.kind.kind} cache: timed out waiting for the condition`,
              { detail: reflector.healthy().message },
            ),
          );
        }
      };
      item.waiters.add(done);
      const timer: Timer = this.options.clock.setTimeout(done, this.syncTimeoutMs);
    });
  }
}

/**
 * One GET of an object, its failures as the kubelet words them (a missing one is
 * `NotFoundError` `configmap "x" not found`).
 */
export async function readObject<T>(
  kind: ObjectKind<T>,
  api: KubeApi,
  namespace: string,
  name: string,
): Promise<T> {
  try {
    return await kind.read(api, namespace, name);
  } catch (err) {
    const e = toReadError(err, `${kind.kind} "${name}" in namespace "${namespace}"`);
    throw isNodeAgentError(e, 'NotFound')
      ? new NotFoundError(`${kind.kind} "${name}" not found`, { cause: e })
      : e;
  }
}

/** `namespace/name`. */
export function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** A pod's UID (else `namespace/name`). */
export function podKey(pod: k8s.Pod): string {
  return pod.metadata.uid ?? `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

export const configMapKind: ObjectKind<k8s.ConfigMap> = {
  kind: 'configmap',
  resource: 'configmaps',
  names: podConfigMapNames,
  list: (api) => (namespace) => (params, o) =>
    api.core.listNamespacedConfigMap({ ...params, namespace }, o),
  read: async (api, namespace, name) =>
    (await rawApiCall((o) =>
      api.core.readNamespacedConfigMap({ namespace, name }, o),
    )) as k8s.ConfigMap,
};

export const secretKind: ObjectKind<k8s.Secret> = {
  kind: 'secret',
  resource: 'secrets',
  names: podSecretNames,
  list: (api) => (namespace) => (params, o) =>
    api.core.listNamespacedSecret({ ...params, namespace }, o),
  read: async (api, namespace, name) =>
    (await rawApiCall((o) => api.core.readNamespacedSecret({ namespace, name }, o))) as k8s.Secret,
};

/**
 * What the ConfigMap and Secret managers share: the pod registration that decides
 * which objects are watched, the counts, and stop.
 */
abstract class WatchingManagerBase<T extends KubeObject & { immutable?: boolean }> {
  protected readonly impl: WatchingObjectManager<T>;

  protected constructor(kind: ObjectKind<T>, options: WatchingObjectManagerOptions) {
    this.impl = new WatchingObjectManager(kind, options);
  }

  registerPod(pod: k8s.Pod): void {
    this.impl.registerPod(pod);
  }

  unregisterPod(pod: k8s.Pod): void {
    this.impl.unregisterPod(pod);
  }

  /** Objects currently watched (immutable ones seen are no longer watched). */
  get watchedObjects(): number {
    return this.impl.watchedObjects;
  }

  /** Objects referenced by registered pods. */
  get referencedObjects(): number {
    return this.impl.referencedObjects;
  }

  /** Stops every reflector (agent shutdown). */
  stop(): void {
    this.impl.stop();
  }
}

/**
 * {@link ConfigMapManager} with the kubelet's default `Watch` strategy: one
 * single-object reflector per ConfigMap that registered pods reference (volumes,
 * projected sources, env `valueFrom`, `envFrom`), reference-counted by pod UID and
 * stopped when no pod needs it; immutable ConfigMaps stop being watched once seen.
 * `getConfigMap` waits up to `syncTimeoutMs` (1 s) for the first sync, then fails
 * with an UnavailableError ("failed to sync configmap cache: timed out waiting for
 * the condition"); a ConfigMap no pod registered is read with one GET.
 */
export class WatchingConfigMapManager
  extends WatchingManagerBase<k8s.ConfigMap>
  implements ConfigMapManager
{
  constructor(options: WatchingObjectManagerOptions) {
    super(configMapKind, options);
  }

  getConfigMap(namespace: string, name: string): Promise<k8s.ConfigMap> {
    return this.impl.get(namespace, name);
  }
}

/** {@link SecretManager} with the kubelet's `Watch` strategy; see {@link WatchingConfigMapManager}. Also follows `imagePullSecrets` and CSI `nodePublishSecretRef`. */
export class WatchingSecretManager
  extends WatchingManagerBase<k8s.Secret>
  implements SecretManager
{
  constructor(options: WatchingObjectManagerOptions) {
    super(secretKind, options);
  }

  getSecret(namespace: string, name: string): Promise<k8s.Secret> {
    return this.impl.get(namespace, name);
  }
}

/** Creates a {@link WatchingConfigMapManager}. */
export function createWatchingConfigMapManager(
  options: WatchingObjectManagerOptions,
): WatchingConfigMapManager {
  return new WatchingConfigMapManager(options);
}

/** Creates a {@link WatchingSecretManager}. */
export function createWatchingSecretManager(
  options: WatchingObjectManagerOptions,
): WatchingSecretManager {
  return new WatchingSecretManager(options);
}
