/**
 * The in-memory object store behind the test API server: one global, monotonically
 * increasing resourceVersion (like etcd's revision), a bounded history of changes
 * for watches and consistent paginated lists, and the per-kind write strategies
 * (status subresource, generation, graceful pod deletion) of kube-apiserver.
 */
import { randomUUID } from 'node:crypto';
import {
  RealClock,
  compareQuantities,
  mathRandom,
  parseQuantity,
  type Clock,
  type Random,
} from '@nodeagent/core';
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  notFound,
  optimisticLockMessage,
} from './api-status.js';
import { defaultContainer } from './ephemeral-containers.js';
import { cloneJson, isObject, type Json, type JsonObject } from './patch.js';
import {
  apiVersionOf,
  prepareServiceForWrite,
  servedResources,
  type ResourceInfo,
} from './resources.js';

/** A watch event type (`watch.EventType`). */
export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change in the store's history. */
export interface StoreEvent {
  type: WatchEventType;
  resource: ResourceInfo;
  /** The object after the change (for DELETED: its last state, with the deletion's resourceVersion). */
  object: JsonObject;
  /** The object before the change (undefined for ADDED). */
  previous: JsonObject | undefined;
  /** The change's resourceVersion. */
  resourceVersion: number;
}

/** Options of {@link ObjectStore}. */
export interface ObjectStoreOptions {
  /** Timestamps; default the real clock. */
  clock?: Clock;
  /** `generateName` suffixes; default `Math.random`. */
  random?: Random;
  /**
   * How many changes are kept for watches and paginated lists; a watch or list at an
   * older resourceVersion gets 410 Gone (kube-apiserver's watch cache holds about
   * 5 minutes / 100 events per resource by default). Default 1000.
   */
  historySize?: number;
  /** Namespaces created at start; default `default`, `kube-system`, `kube-public`, `kube-node-lease`. */
  initialNamespaces?: readonly string[];
}

/** A listener for committed changes. */
export type StoreListener = (event: StoreEvent) => void;

/** Options of a delete (`DeleteOptions`). */
export interface StoreDeleteOptions {
  /** Grace in seconds; pods only (other kinds delete at once). */
  gracePeriodSeconds?: number;
  /** `preconditions.uid` / `preconditions.resourceVersion`. */
  preconditionUid?: string;
  preconditionResourceVersion?: string;
}

/** The result of a delete: the object, and whether it is gone or only marked for deletion. */
export interface StoreDeleteResult {
  object: JsonObject;
  removed: boolean;
}

const generateNameAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

function key(r: ResourceInfo, namespace: string, name: string): string {
  return `${r.group}/${r.plural}/${r.namespaced ? namespace : ''}/${name}`;
}

function meta(obj: JsonObject): JsonObject {
  const m = obj.metadata;
  if (isObject(m)) return m;
  const fresh: JsonObject = {};
  obj.metadata = fresh;
  return fresh;
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** `metadata.name` of an object ('' when unset). */
export function nameOf(obj: JsonObject): string {
  return str(meta(obj).name) ?? '';
}

/** `metadata.namespace` of an object ('' when unset). */
export function namespaceOf(obj: JsonObject): string {
  return str(meta(obj).namespace) ?? '';
}

/** `metadata.labels` as a record of strings. */
export function labelsOf(obj: JsonObject): Record<string, string> {
  const l = meta(obj).labels;
  const out: Record<string, string> = {};
  if (isObject(l)) for (const [k, v] of Object.entries(l)) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * The value of a field-selector label on an object, as the real server's
 * `GetAttrs` functions compute it (booleans as `true`/`false`, missing as '').
 */
export function fieldValue(obj: JsonObject, field: string): string {
  let cur: Json | undefined = obj;
  for (const seg of field.split('.')) cur = isObject(cur) ? cur[seg] : undefined;
  if (field === 'spec.hostNetwork' || field === 'spec.unschedulable')
    return cur === true ? 'true' : 'false';
  if (field === 'source' && isObject(obj.source)) return str(obj.source.component) ?? '';
  return typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean'
    ? String(cur)
    : '';
}

function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The in-memory store; see the file comment. */
export class ObjectStore {
  private readonly objects = new Map<string, JsonObject>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<StoreListener>();
  private readonly clock: Clock;
  private readonly random: Random;
  private historySize: number;
  private revision = 0;
  /** The highest resourceVersion whose change has been dropped from the history. */
  private compacted = 0;

  constructor(options: ObjectStoreOptions = {}) {
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? mathRandom;
    this.historySize = options.historySize ?? 1000;
    const ns = servedResources.find((r) => r.plural === 'namespaces');
    if (ns === undefined) throw new Error('namespaces resource missing');
    for (const name of options.initialNamespaces ?? [
      'default',
      'kube-system',
      'kube-public',
      'kube-node-lease',
    ]) {
      this.create(ns, '', { metadata: { name } });
    }
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch can still start from. */
  get oldestWatchableResourceVersion(): number {
    return this.compacted;
  }

  /** Changes the history size (the 410 window) and drops what no longer fits. */
  setHistorySize(size: number): void {
    this.historySize = size;
    this.trimHistory();
  }

  /** Drops the whole history, as an etcd compaction does: older watches get 410. */
  compact(): void {
    this.historySize = Math.max(0, this.historySize);
    this.compacted = this.revision;
    this.history.length = 0;
  }

  /** Subscribes to committed changes; returns the unsubscribe function. */
  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes after `resourceVersion`, or a 410 Status error when they are no longer kept. */
  eventsSince(resourceVersion: number): StoreEvent[] {
    if (resourceVersion < this.compacted) {
      throw expired(`too old resource version: ${resourceVersion} (${this.compacted + 1})`);
    }
    return this.history.filter((e) => e.resourceVersion > resourceVersion);
  }

  /** Finds a served resource by plural (and group, default core). */
  resource(plural: string, group = ''): ResourceInfo {
    const r = servedResources.find((x) => x.plural === plural && x.group === group);
    if (r === undefined) throw new Error(`unknown resource ${plural}.${group}`);
    return r;
  }

  /** A copy of one object, or a 404 Status error. */
  get(r: ResourceInfo, namespace: string, name: string): JsonObject {
    const obj = this.objects.get(key(r, namespace, name));
    if (obj === undefined) throw notFound(r, name);
    return cloneJson(obj);
  }

  /** A copy of one object, or undefined. */
  tryGet(r: ResourceInfo, namespace: string, name: string): JsonObject | undefined {
    const obj = this.objects.get(key(r, namespace, name));
    return obj === undefined ? undefined : cloneJson(obj);
  }

  /**
   * All objects of a kind (in one namespace when `namespace` is not ''), sorted by
   * key like etcd, as of `atResourceVersion` (default: now). Throws 410 when that
   * version is older than the kept history.
   */
  list(r: ResourceInfo, namespace: string, atResourceVersion?: number): JsonObject[] {
    const state = new Map<string, JsonObject>();
    for (const [k, v] of this.objects) state.set(k, v);
    if (atResourceVersion !== undefined && atResourceVersion < this.revision) {
      if (atResourceVersion < this.compacted) {
        throw expired(`too old resource version: ${atResourceVersion} (${this.compacted + 1})`);
      }
      for (let i = this.history.length - 1; i >= 0; i--) {
        const e = this.history[i];
        if (e === undefined || e.resourceVersion <= atResourceVersion) break;
        const k = key(e.resource, namespaceOf(e.object), nameOf(e.object));
        if (e.previous === undefined) state.delete(k);
        else state.set(k, e.previous);
      }
    }
    const prefix = `${r.group}/${r.plural}/${r.namespaced && namespace !== '' ? `${namespace}/` : ''}`;
    return [...state.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => cloneJson(v));
  }

  /**
   * Creates an object (POST): sets uid, creationTimestamp, resourceVersion,
   * generation; resolves `generateName`; applies the kind's defaults. 409
   * AlreadyExists when the name is taken; 404 when the namespace does not exist.
   */
  create(r: ResourceInfo, namespace: string, input: JsonObject): JsonObject {
    const obj = cloneJson(input);
    const m = meta(obj);
    if (r.namespaced) {
      const ns = str(m.namespace);
      if (ns !== undefined && ns !== '' && ns !== namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      m.namespace = namespace;
      if (
        r.plural !== 'namespaces' &&
        !this.objects.has(key(this.resource('namespaces'), '', namespace))
      ) {
        throw notFound(this.resource('namespaces'), namespace);
      }
    } else delete m.namespace;
    if ((str(m.name) ?? '') === '') {
      const prefix = str(m.generateName);
      if (prefix === undefined || prefix === '') {
        throw invalid(r.kind, '', r.group, [
          'metadata.name: Required value: name or generateName is required',
        ]);
      }
      let suffix = '';
      for (let i = 0; i < 5; i++) {
        suffix +=
          generateNameAlphabet[Math.floor(this.random.float() * generateNameAlphabet.length)] ??
          'x';
      }
      m.name = prefix + suffix;
    }
    const name = nameOf(obj);
    if (this.objects.has(key(r, namespace, name))) throw alreadyExists(r, name);
    this.validate(r, obj);
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    m.uid = randomUUID();
    m.creationTimestamp = rfc3339(this.clock.now());
    delete m.deletionTimestamp;
    delete m.deletionGracePeriodSeconds;
    if (r.hasGeneration) m.generation = 1;
    else delete m.generation;
    this.applyDefaults(r, obj);
    // The pod strategy ignores a submitted status (PrepareForCreate).
    if (r.plural === 'pods') obj.status = { phase: 'Pending', qosClass: podQosClass(obj) };
    return this.commit(r, 'ADDED', obj, undefined);
  }

  /**
   * Replaces an object (PUT). With `subresource: 'status'` only `.status` is taken
   * from the input; otherwise `.status` is kept for kinds with a status subresource.
   * A non-empty, stale `metadata.resourceVersion` is a 409 Conflict.
   */
  update(
    r: ResourceInfo,
    namespace: string,
    input: JsonObject,
    subresource?: 'status',
  ): JsonObject {
    const name = nameOf(input);
    const current = this.objects.get(key(r, namespace, name));
    if (current === undefined) {
      if (r.allowCreateOnUpdate && subresource === undefined)
        return this.create(r, namespace, input);
      throw notFound(r, name);
    }
    // A UID in the input is a precondition (a patch carrying metadata.uid, as the
    // kubelet's status patches do): the object must still be the same one.
    const uid = str(meta(input).uid) ?? '';
    if (uid !== '' && uid !== str(meta(current).uid)) {
      throw conflict(
        r,
        name,
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${str(meta(current).uid) ?? ''}`,
      );
    }
    const rv = str(meta(input).resourceVersion) ?? '';
    if (rv !== '' && rv !== str(meta(current).resourceVersion))
      throw conflict(r, name, optimisticLockMessage);
    let next: JsonObject;
    if (subresource === 'status') {
      next = cloneJson(current);
      if (input.status === undefined) delete next.status;
      else next.status = cloneJson(input.status);
      if (r.plural === 'pods' && isObject(next.status)) serializePodStatusLikeGo(next.status);
    } else {
      next = cloneJson(input);
      const nm = meta(next);
      const cm = meta(current);
      for (const f of [
        'uid',
        'creationTimestamp',
        'deletionTimestamp',
        'deletionGracePeriodSeconds',
        'generation',
      ]) {
        const v = cm[f];
        if (v === undefined) delete nm[f];
        else nm[f] = v;
      }
      if (r.namespaced) nm.namespace = namespace;
      if (r.hasStatus) {
        if (current.status === undefined) delete next.status;
        else next.status = cloneJson(current.status);
      }
      next.apiVersion = apiVersionOf(r);
      next.kind = r.kind;
      this.validate(r, next);
      this.applyDefaults(r, next);
      if (r.hasGeneration && JSON.stringify(next.spec) !== JSON.stringify(current.spec)) {
        nm.generation = (typeof cm.generation === 'number' ? cm.generation : 0) + 1;
      }
    }
    const m = meta(next);
    // An object marked for deletion whose last finalizer is removed goes away (grace permitting).
    const finalizers = m.finalizers;
    const noFinalizers = !Array.isArray(finalizers) || finalizers.length === 0;
    if (
      m.deletionTimestamp !== undefined &&
      noFinalizers &&
      (m.deletionGracePeriodSeconds ?? 0) === 0
    ) {
      if (JSON.stringify(next) === JSON.stringify(current)) return cloneJson(current);
      return this.commit(r, 'DELETED', next, current);
    }
    if (JSON.stringify(next) === JSON.stringify(current)) return cloneJson(current); // no-op writes keep the resourceVersion
    return this.commit(r, 'MODIFIED', next, current);
  }

  /**
   * Deletes an object. Pods are deleted gracefully: the first delete sets
   * `deletionTimestamp` and `deletionGracePeriodSeconds` (the request's grace, else
   * `spec.terminationGracePeriodSeconds`, else 30) and the pod stays until it is
   * deleted with grace 0 (the kubelet's final delete). A pod that is not bound to a
   * node, or is already Succeeded/Failed, goes at once, like the real pod strategy.
   * Objects with finalizers are only marked. Namespaces take their contents with them.
   */
  delete(
    r: ResourceInfo,
    namespace: string,
    name: string,
    options: StoreDeleteOptions = {},
  ): StoreDeleteResult {
    const current = this.objects.get(key(r, namespace, name));
    if (current === undefined) throw notFound(r, name);
    const cm = meta(current);
    if (options.preconditionUid !== undefined && options.preconditionUid !== cm.uid) {
      throw conflict(
        r,
        name,
        `Precondition failed: UID in precondition: ${options.preconditionUid}, UID in object meta: ${str(cm.uid) ?? ''}`,
      );
    }
    if (
      options.preconditionResourceVersion !== undefined &&
      options.preconditionResourceVersion !== cm.resourceVersion
    ) {
      throw conflict(r, name, optimisticLockMessage);
    }
    let grace = 0;
    if (r.plural === 'pods') {
      const spec = isObject(current.spec) ? current.spec : {};
      const phase = isObject(current.status) ? current.status.phase : undefined;
      const specGrace =
        typeof spec.terminationGracePeriodSeconds === 'number'
          ? spec.terminationGracePeriodSeconds
          : 30;
      grace = options.gracePeriodSeconds ?? specGrace;
      if (grace < 0) grace = 0;
      const unbound = str(spec.nodeName) === undefined || spec.nodeName === '';
      if (unbound || phase === 'Succeeded' || phase === 'Failed') grace = 0;
    }
    const finalizers = cm.finalizers;
    const hasFinalizers = Array.isArray(finalizers) && finalizers.length > 0;
    if (grace === 0 && !hasFinalizers) {
      if (r.plural === 'namespaces') this.deleteNamespaceContents(name);
      return { object: this.commit(r, 'DELETED', cloneJson(current), current), removed: true };
    }
    const prevGrace =
      typeof cm.deletionGracePeriodSeconds === 'number' ? cm.deletionGracePeriodSeconds : undefined;
    if (cm.deletionTimestamp !== undefined && prevGrace !== undefined && prevGrace <= grace) {
      return { object: cloneJson(current), removed: false }; // a delete may only shorten the grace
    }
    const next = cloneJson(current);
    const m = meta(next);
    m.deletionTimestamp = rfc3339(this.clock.now() + grace * 1000);
    m.deletionGracePeriodSeconds = grace;
    if (r.hasGeneration) m.generation = (typeof cm.generation === 'number' ? cm.generation : 0) + 1;
    return { object: this.commit(r, 'MODIFIED', next, current), removed: false };
  }

  private deleteNamespaceContents(namespace: string): void {
    for (const r of servedResources) {
      if (!r.namespaced) continue;
      for (const obj of this.list(r, namespace)) {
        const current = this.objects.get(key(r, namespace, nameOf(obj)));
        if (current !== undefined) this.commit(r, 'DELETED', cloneJson(current), current);
      }
    }
  }

  private commit(
    r: ResourceInfo,
    type: WatchEventType,
    obj: JsonObject,
    previous: JsonObject | undefined,
  ): JsonObject {
    this.revision++;
    meta(obj).resourceVersion = String(this.revision);
    const k = key(r, namespaceOf(obj), nameOf(obj));
    if (type === 'DELETED') this.objects.delete(k);
    else this.objects.set(k, obj);
    const event: StoreEvent = {
      type,
      resource: r,
      object: obj,
      previous,
      resourceVersion: this.revision,
    };
    this.history.push(event);
    this.trimHistory();
    for (const l of this.listeners) l(event);
    return cloneJson(obj);
  }

  private trimHistory(): void {
    while (this.history.length > this.historySize) {
      const dropped = this.history.shift();
      if (dropped !== undefined) this.compacted = dropped.resourceVersion;
    }
  }

  private validate(r: ResourceInfo, obj: JsonObject): void {
    if (r.plural !== 'pods') return;
    const name = nameOf(obj);
    const spec = obj.spec;
    const containers = isObject(spec) ? spec.containers : undefined;
    if (!Array.isArray(containers) || containers.length === 0) {
      throw invalid('Pod', name, '', ['spec.containers: Required value']);
    }
    const causes: string[] = [];
    containers.forEach((c, i) => {
      if (!isObject(c) || typeof c.name !== 'string' || c.name === '') {
        causes.push(`spec.containers[${i}].name: Required value`);
      }
      if (!isObject(c) || typeof c.image !== 'string' || c.image === '') {
        causes.push(`spec.containers[${i}].image: Required value`);
      }
    });
    if (causes.length > 0) throw invalid('Pod', name, '', causes);
  }

  /** Defaults of the real API (`SetDefaults_Pod`, `SetDefaults_Container`, namespace phase). */
  private applyDefaults(r: ResourceInfo, obj: JsonObject): void {
    if (r.plural === 'services') {
      // Defaults and cluster IP allocation (see prepareServiceForWrite); on update the
      // stored object is the current one.
      const current = this.objects.get(key(r, str(meta(obj).namespace) ?? '', nameOf(obj)));
      const inUse = new Set<string>();
      for (const o of this.objects.values()) {
        if (o === current || o.kind !== 'Service' || !isObject(o.spec)) continue;
        if (typeof o.spec.clusterIP === 'string') inUse.add(o.spec.clusterIP);
      }
      const causes = prepareServiceForWrite(obj, current, inUse);
      if (causes.length > 0) throw invalid('Service', nameOf(obj), '', causes);
      return;
    }
    if (r.plural === 'namespaces') {
      const status = isObject(obj.status) ? obj.status : {};
      status.phase ??= 'Active';
      obj.status = status;
      const m = meta(obj);
      const labels = isObject(m.labels) ? m.labels : {};
      labels['kubernetes.io/metadata.name'] = nameOf(obj);
      m.labels = labels;
      return;
    }
    if (r.plural === 'secrets') {
      // stringData is write-only: merged into data (base64) on every write.
      const stringData = obj.stringData;
      if (isObject(stringData)) {
        const data = isObject(obj.data) ? obj.data : {};
        for (const [k, v] of Object.entries(stringData)) {
          if (typeof v === 'string') data[k] = Buffer.from(v, 'utf8').toString('base64');
        }
        obj.data = data;
      }
      delete obj.stringData;
      obj.type ??= 'Opaque';
      return;
    }
    if (r.plural !== 'pods' || !isObject(obj.spec)) return;
    const spec = obj.spec;
    spec.restartPolicy ??= 'Always';
    spec.terminationGracePeriodSeconds ??= 30;
    // A negative grace period becomes 1 on create and update (pods.go "pod with
    // negative grace period").
    if (
      typeof spec.terminationGracePeriodSeconds === 'number' &&
      spec.terminationGracePeriodSeconds < 0
    )
      spec.terminationGracePeriodSeconds = 1;
    spec.dnsPolicy ??= 'ClusterFirst';
    spec.schedulerName ??= 'default-scheduler';
    spec.securityContext ??= {};
    spec.enableServiceLinks ??= true;
    for (const list of [spec.containers, spec.initContainers]) {
      if (!Array.isArray(list)) continue;
      for (const c of list) {
        if (isObject(c)) defaultContainer(c);
      }
    }
    const status = isObject(obj.status) ? obj.status : {};
    status.phase ??= 'Pending';
    obj.status = status;
  }
}

/**
 * What a pod status looks like after the real API server decoded it into its Go types
 * and encoded it again: a container status's `state` and `lastState` are structs and
 * `ready`, `restartCount`, `image` and `imageID` have no `omitempty`, so they are
 * always present (`lastState: {}` for a container that never restarted).
 */
function serializePodStatusLikeGo(status: JsonObject): void {
  for (const field of [
    'containerStatuses',
    'initContainerStatuses',
    'ephemeralContainerStatuses',
  ] as const) {
    const list = status[field];
    if (!Array.isArray(list)) continue;
    for (const c of list) {
      if (!isObject(c)) continue;
      c.state ??= {};
      c.lastState ??= {};
      c.ready ??= false;
      c.restartCount ??= 0;
      c.image ??= '';
      c.imageID ??= '';
    }
  }
}

/**
 * The pod's QoS class (`GetPodQOS`): BestEffort without any cpu/memory requests or
 * limits, Guaranteed when every container limits cpu and memory with requests equal
 * to limits, Burstable otherwise.
 */
export function podQosClass(pod: JsonObject): 'BestEffort' | 'Burstable' | 'Guaranteed' {
  const spec = isObject(pod.spec) ? pod.spec : {};
  const containers = [
    ...(Array.isArray(spec.containers) ? spec.containers : []),
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []),
  ].filter(isObject);
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const res = isObject(c.resources) ? c.resources : {};
    const limits = isObject(res.limits) ? res.limits : {};
    const requests = isObject(res.requests) ? res.requests : {};
    for (const name of ['cpu', 'memory']) {
      const limit = limits[name];
      const request = requests[name] ?? limit;
      if (limit !== undefined || request !== undefined) any = true;
      if (typeof limit !== 'string' && typeof limit !== 'number') {
        guaranteed = false;
        continue;
      }
      if (typeof request !== 'string' && typeof request !== 'number') continue;
      try {
        if (compareQuantities(parseQuantity(request), parseQuantity(limit)) !== 0)
          guaranteed = false;
      } catch {
        guaranteed = false;
      }
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
