import type { k8s } from '@nodeagent/core';
import { canonicalJson, type JsonObject, type JsonValue } from './pod-status-normalize.js';

/**
 * Patch merge keys of the lists in a PodStatus (`patchMergeKey` tags of k8s.io/api
 * core/v1); other lists are atomic and replaced whole.
 */
export const podStatusMergeKeys: Readonly<Record<string, string>> = {
  conditions: 'type',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
  ephemeralContainerStatuses: 'name',
  podIPs: 'ip',
  hostIPs: 'ip',
  resourceClaimStatuses: 'name',
};

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Whether two JSON values serialize alike (`JSON.stringify(a) === JSON.stringify(b)`,
 * key order included), compared in place instead of serializing both at every level
 * of the diff.
 */
export function sameJson(x: JsonValue | undefined, y: JsonValue | undefined): boolean {
  // Non-finite numbers serialize as null.
  const a = typeof x === 'number' && !Number.isFinite(x) ? null : x;
  const b = typeof y === 'number' && !Number.isFinite(y) ? null : y;
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a).filter((k) => a[k] !== undefined);
  const bk = Object.keys(b).filter((k) => b[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (let i = 0; i < ak.length; i++) {
    const k = ak[i]!;
    if (k !== bk[i] || !sameJson(a[k], b[k])) return false;
  }
  return true;
}

const same = sameJson;

/** The two-way diff of two objects; undefined when they are equal. */
function diffObjects(
  original: JsonObject,
  modified: JsonObject,
  mergeKeys: Readonly<Record<string, string>>,
): JsonObject | undefined {
  const patch: JsonObject = {};
  for (const k of Object.keys(original)) {
    if (!(k in modified)) patch[k] = null;
  }
  for (const [k, v] of Object.entries(modified)) {
    const o = original[k];
    if (same(o, v)) continue;
    if (isObject(v) && isObject(o)) {
      const sub = diffObjects(o, v, {});
      if (sub !== undefined) patch[k] = sub;
    } else if (Array.isArray(v) && Array.isArray(o) && mergeKeys[k] !== undefined) {
      const key = mergeKeys[k];
      const { items, order } = diffMergeList(o, v, key);
      if (items.length > 0) patch[k] = items;
      patch[`$setElementOrder/${k}`] = order;
    } else {
      patch[k] = v;
    }
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}

/** The patch of a list merged by `key`: changed and new items (with their key), deletions, and the new order. */
function diffMergeList(
  original: JsonValue[],
  modified: JsonValue[],
  key: string,
): { items: JsonValue[]; order: JsonValue[] } {
  const keyOf = (v: JsonValue): string => JSON.stringify(isObject(v) ? (v[key] ?? null) : v);
  const originals = new Map(original.map((o) => [keyOf(o), o]));
  const modifiedKeys = new Set(modified.map(keyOf));
  const items: JsonValue[] = [];
  const order: JsonValue[] = [];
  for (const m of modified) {
    const keyValue = isObject(m) ? (m[key] ?? null) : m;
    order.push({ [key]: keyValue });
    const o = originals.get(keyOf(m));
    if (o === undefined || !isObject(o) || !isObject(m)) {
      if (!same(o, m)) items.push(m);
      continue;
    }
    const sub = diffObjects(o, m, {});
    if (sub !== undefined) items.push({ ...sub, [key]: keyValue });
  }
  for (const o of original) {
    if (!modifiedKeys.has(keyOf(o)) && isObject(o)) {
      items.push({ [key]: o[key] ?? null, $patch: 'delete' });
    }
  }
  return { items, order };
}

/** A pod status patch and whether it changes anything. */
export interface PodStatusPatch {
  /** The strategic merge patch body: `{ metadata: { uid }, status: {...} }`. */
  patch: JsonObject;
  /** True when the patch carries only the UID precondition (nothing to write). */
  unchanged: boolean;
}

/**
 * The strategic merge patch from the API server's pod status to `status`, with
 * `metadata.uid` as a precondition (kubelet `statusutil.PatchPodStatus` /
 * `preparePatchBytesForPodStatus`, which uses `strategicpatch.CreateTwoWayMergePatch`):
 * lists with a merge key (conditions by `type`, container statuses by `name`, pod IPs
 * by `ip`) are patched item by item with `$setElementOrder`, removed items with
 * `$patch: delete`; removed fields are `null`. Both statuses are compared in the JSON
 * form the API server stores (see {@link canonicalJson}).
 */
export function podStatusPatch(
  uid: string,
  apiStatus: k8s.PodStatus | undefined,
  status: k8s.PodStatus,
): PodStatusPatch {
  const original = canonicalJson(apiStatus ?? {});
  const modified = canonicalJson(status);
  const diff = diffObjects(
    isObject(original) ? original : {},
    isObject(modified) ? modified : {},
    podStatusMergeKeys,
  );
  const patch: JsonObject = { metadata: { uid } };
  if (diff !== undefined) patch.status = diff;
  return { patch, unchanged: diff === undefined };
}
