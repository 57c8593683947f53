import { createHash, type Hash } from 'node:crypto';
import { PodAnnotation, PodSourceName, type k8s } from '@nodeagent/core';

/** The namespace of static pods whose manifest names none (`metav1.NamespaceDefault`). */
export const DEFAULT_NAMESPACE = 'default';

/**
 * The toleration the kubelet adds to every pod from a file, so that static pods are
 * not evicted when the node has problems (common.go `applyDefaults`).
 */
export const STATIC_POD_TOLERATION: Readonly<k8s.Toleration> = Object.freeze({
  operator: 'Exists',
  effect: 'NoExecute',
});

/** Where a static pod came from: a file of the manifest directory or the manifest URL. */
export type StaticPodOrigin =
  { readonly kind: 'file'; readonly path: string } | { readonly kind: 'url'; readonly url: string };

/**
 * The static pod name the kubelet generates: `<name>-<node name in lower case>`
 * (common.go `generatePodName`), unique among nodes.
 */
export function generateStaticPodName(name: string, nodeName: string): string {
  return `${name}-${nodeName.toLowerCase()}`;
}

/**
 * Feeds `value` into `hasher` as a canonical byte stream: object keys sorted,
 * every value tagged with its type, so that equal objects hash equally whatever the
 * key order of the manifest and different objects (almost surely) differently. This
 * is nodeagent's stand-in for the kubelet's `hash.DeepHashObject` (which prints the
 * Go object with spew); it is stable but not byte-compatible with Go's.
 */
export function deepHashObject(hasher: Hash, value: unknown): void {
  if (value === null || value === undefined) {
    hasher.update('n;');
  } else if (Array.isArray(value)) {
    hasher.update(`a${value.length}[`);
    for (const item of value) deepHashObject(hasher, item);
    hasher.update(']');
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    hasher.update(`o${entries.length}{`);
    for (const [key, item] of entries) {
      hasher.update(`${JSON.stringify(key)}:`);
      deepHashObject(hasher, item);
    }
    hasher.update('}');
  } else if (typeof value === 'string') {
    hasher.update(`s${JSON.stringify(value)};`);
  } else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    hasher.update(`${typeof value}:${String(value)};`);
  } else {
    hasher.update(`?${typeof value};`);
  }
}

/**
 * The UID the kubelet gives a static pod whose manifest has none: the hex MD5 of
 * the pod object, then `host:<node name>` and `file:<path>` for a file, or
 * `url:<manifest URL>` for the URL source. (The kubelet writes the source after the
 * object because `DeepHashObject` resets the hasher; common.go `applyDefaults`.)
 * The same manifest on the same node and path always gets the same UID; any change
 * of the manifest gives a new one.
 */
export function staticPodUid(pod: unknown, origin: StaticPodOrigin, nodeName: string): string {
  const hasher = createHash('md5');
  deepHashObject(hasher, pod);
  if (origin.kind === 'file') {
    hasher.update(`host:${nodeName}`);
    hasher.update(`file:${origin.path}`);
  } else {
    hasher.update(`url:${origin.url}`);
  }
  return hasher.digest('hex');
}

/**
 * Adds `toleration` to the pod unless an equal one is there; a toleration matching
 * it (same key, operator, value, effect) but different otherwise is replaced
 * (kubelet `helper.AddOrUpdateTolerationInPod`).
 */
function addOrUpdateToleration(
  tolerations: readonly k8s.Toleration[],
  toleration: k8s.Toleration,
): k8s.Toleration[] {
  const matches = (t: k8s.Toleration): boolean =>
    (t.key ?? '') === (toleration.key ?? '') &&
    (t.operator ?? 'Equal') === (toleration.operator ?? 'Equal') &&
    (t.value ?? '') === (toleration.value ?? '') &&
    (t.effect ?? '') === (toleration.effect ?? '');
  const index = tolerations.findIndex(matches);
  if (index === -1) return [...tolerations, { ...toleration }];
  const out = [...tolerations];
  out[index] = { ...toleration };
  return out;
}

/** Inputs of {@link applyStaticPodDefaults}. */
export interface StaticPodDefaultsOptions {
  /** Where the manifest came from (decides the UID recipe and the config source). */
  origin: StaticPodOrigin;
  /** This node's name (`spec.nodeName`, the pod name suffix and part of the UID). */
  nodeName: string;
}

/**
 * Gives a validated manifest its static pod identity exactly as the kubelet's
 * `applyDefaults` (pkg/kubelet/config/common.go):
 *
 * - UID: kept when the manifest has one, else {@link staticPodUid};
 * - name `<name>-<node name>`, namespace `default` when empty;
 * - `spec.nodeName` = this node;
 * - annotations `kubernetes.io/config.hash` (= UID) and `kubernetes.io/config.source`
 *   (`file` or `http`; the kubelet's config merger adds the source, nodeAgent's
 *   sources do it themselves);
 * - for files only, the toleration `operator: Exists, effect: NoExecute`;
 * - `status.phase` = `Pending`.
 *
 * `kubernetes.io/config.seen` is the source's to add: it depends on when the source
 * first saw this version. Returns a new object; `manifest` is not changed.
 */
export function applyStaticPodDefaults(
  manifest: k8s.Pod,
  options: StaticPodDefaultsOptions,
): k8s.Pod {
  const { origin, nodeName } = options;
  const pod = structuredClone(manifest);
  const uid =
    pod.metadata.uid !== undefined && pod.metadata.uid !== ''
      ? pod.metadata.uid
      : staticPodUid(manifest, origin, nodeName);
  pod.metadata.uid = uid;
  pod.metadata.name = generateStaticPodName(pod.metadata.name ?? '', nodeName);
  if (pod.metadata.namespace === undefined || pod.metadata.namespace === '') {
    pod.metadata.namespace = DEFAULT_NAMESPACE;
  }
  pod.spec.nodeName = nodeName;
  pod.metadata.annotations = {
    ...pod.metadata.annotations,
    [PodAnnotation.ConfigHash]: uid,
    [PodAnnotation.ConfigSource]: origin.kind === 'file' ? PodSourceName.File : PodSourceName.Http,
  };
  if (origin.kind === 'file') {
    pod.spec.tolerations = addOrUpdateToleration(pod.spec.tolerations ?? [], STATIC_POD_TOLERATION);
  }
  pod.status = { phase: 'Pending' };
  return pod;
}
