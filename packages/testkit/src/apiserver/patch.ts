/**
 * The three patch formats kube-apiserver accepts for JSON objects: JSON merge patch
 * (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (k8s.io/apimachinery
 * `strategicpatch`), the latter with the patch merge keys of the fields a kubelet
 * patches.
 */
import { ApiStatusError, badRequest } from './api-status.js';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** Whether `v` is a JSON object (not an array, not null). */
export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy of a JSON value. */
export function cloneJson<T extends Json>(v: T): T {
  return structuredClone(v);
}

/** RFC 7386 JSON merge patch: objects merge, `null` removes, everything else replaces. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return cloneJson(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k] ?? null, v);
  }
  return out;
}

function decodePointer(ptr: string): string[] {
  if (ptr === '') return [];
  if (!ptr.startsWith('/')) throw badRequest(`invalid JSON pointer: ${ptr}`);
  return ptr
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonPatchError(message: string): ApiStatusError {
  // The real server answers a failing JSON patch with 422 Invalid ("the server rejected our request due to an error in our request").
  return new ApiStatusError(422, 'Invalid', message);
}

function getAt(doc: Json, path: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObject(cur)) cur = Object.hasOwn(cur, seg) ? cur[seg] : undefined;
    else return undefined;
  }
  return cur;
}

function parentOf(doc: Json, path: string[], op: string): { parent: Json; key: string } {
  const key = path[path.length - 1];
  if (key === undefined) throw jsonPatchError(`${op}: cannot operate on the document root`);
  const parent = getAt(doc, path.slice(0, -1));
  if (parent === undefined || (!Array.isArray(parent) && !isObject(parent))) {
    throw jsonPatchError(
      `${op} operation does not apply: doc is missing path: "/${path.join('/')}"`,
    );
  }
  return { parent, key };
}

function addAt(doc: Json, path: string[], value: Json): Json {
  if (path.length === 0) return value;
  const { parent, key } = parentOf(doc, path, 'add');
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length)
      throw jsonPatchError(`add: index out of range: ${key}`);
    parent.splice(i, 0, value);
  } else if (isObject(parent)) parent[key] = value;
  return doc;
}

function removeAt(doc: Json, path: string[]): Json {
  const { parent, key } = parentOf(doc, path, 'remove');
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length)
      throw jsonPatchError(`remove: index out of range: ${key}`);
    parent.splice(i, 1);
  } else if (isObject(parent)) {
    if (!Object.hasOwn(parent, key)) {
      throw jsonPatchError(
        `remove operation does not apply: doc is missing path: "/${path.join('/')}"`,
      );
    }
    delete parent[key];
  }
  return doc;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. */
export function applyJsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  let doc = cloneJson(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw badRequest('json patch operation needs "op" and "path"');
    }
    const path = decodePointer(raw.path);
    const value = raw.value;
    switch (raw.op) {
      case 'add':
        if (value === undefined) throw badRequest('add operation needs "value"');
        doc = addAt(doc, path, cloneJson(value));
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        if (value === undefined) throw badRequest('replace operation needs "value"');
        if (getAt(doc, path) === undefined) {
          throw jsonPatchError(`replace operation does not apply: doc is missing key: ${raw.path}`);
        }
        if (path.length === 0) doc = cloneJson(value);
        else doc = addAt(removeAt(doc, path), path, cloneJson(value));
        break;
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw badRequest(`${raw.op} operation needs "from"`);
        const from = decodePointer(raw.from);
        const v = getAt(doc, from);
        if (v === undefined)
          throw jsonPatchError(
            `${raw.op} operation does not apply: doc is missing from path: ${raw.from}`,
          );
        if (raw.op === 'move') doc = removeAt(doc, from);
        doc = addAt(doc, path, cloneJson(v));
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(value)) {
          throw jsonPatchError(`testing value ${raw.path} failed: test failed`);
        }
        break;
      default:
        throw badRequest(`Unexpected kind: ${raw.op}`);
    }
  }
  return doc;
}

/**
 * Patch merge keys (`patchMergeKey` struct tags in k8s.io/api) for lists the kubelet
 * and kubectl patch, by field name. Lists not named here are replaced as a whole,
 * like atomic lists in the real schema. `finalizers` is a set of strings (merged).
 */
export const patchMergeKeys: Readonly<Record<string, string>> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
  ephemeralContainerStatuses: 'name',
  conditions: 'type',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  podIPs: 'ip',
  hostIPs: 'ip',
  addresses: 'type',
  ownerReferences: 'uid',
  imagePullSecrets: 'name',
  volumesAttached: 'name',
  resourceClaimStatuses: 'name',
  resourceClaims: 'name',
  taints: 'key',
  hostAliases: 'ip',
};

const primitiveSetFields = new Set(['finalizers']);

function keyOf(item: Json, mergeKey: string): string | undefined {
  if (!isObject(item)) return undefined;
  const k = item[mergeKey];
  return k === undefined ? undefined : JSON.stringify(k);
}

function strategicMergeList(
  field: string,
  original: Json[],
  patch: Json[],
  order: Json[] | undefined,
): Json[] {
  const mergeKey = patchMergeKeys[field];
  if (mergeKey === undefined) {
    if (primitiveSetFields.has(field)) {
      const out = [...original];
      for (const p of patch)
        if (!out.some((o) => JSON.stringify(o) === JSON.stringify(p))) out.push(p);
      return out;
    }
    return patch.filter((p) => !(isObject(p) && p.$patch !== undefined)).map((p) => cloneJson(p));
  }
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map((p) => cloneJson(p));
  }
  const out = original.map((o) => cloneJson(o));
  for (const p of patch) {
    const k = keyOf(p, mergeKey);
    if (k === undefined)
      throw badRequest(
        `map: ${JSON.stringify(p)} does not contain declared merge key: ${mergeKey}`,
      );
    const idx = out.findIndex((o) => keyOf(o, mergeKey) === k);
    if (isObject(p) && p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx] ?? null, p);
    else out.push(strategicMerge({}, p));
  }
  if (order === undefined) return out;
  // $setElementOrder: listed keys take the given order; items the patch does not
  // mention keep their place after them (a simplification of the real interleaving).
  const orderKeys = order.map((o) => keyOf(o, mergeKey));
  const ranked = out.map((item, i) => {
    const r = orderKeys.indexOf(keyOf(item, mergeKey));
    return { item, rank: r < 0 ? orderKeys.length + i : r };
  });
  ranked.sort((a, b) => a.rank - b.rank);
  return ranked.map((r) => r.item);
}

/**
 * Strategic merge patch: like a JSON merge patch, but lists with a patch merge key
 * (see {@link patchMergeKeys}) merge item by item, and the directives `$patch`
 * (`replace`, `delete`), `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`
 * and `$retainKeys` are honoured.
 */
export function strategicMerge(original: Json, patch: Json): Json {
  if (!isObject(patch)) return cloneJson(patch);
  if (patch.$patch === 'replace') {
    const rest = { ...patch };
    delete rest.$patch;
    return rest;
  }
  if (patch.$patch === 'delete') return {};
  const out: JsonObject = isObject(original) ? { ...original } : {};
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) {
        const drop = new Set(v.map((x) => JSON.stringify(x)));
        out[field] = cur.filter((x) => !drop.has(JSON.stringify(x)));
      }
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const cur = out[k];
    if (Array.isArray(v)) {
      const order = patch[`$setElementOrder/${k}`];
      out[k] = strategicMergeList(
        k,
        Array.isArray(cur) ? cur : [],
        v,
        Array.isArray(order) ? order : undefined,
      );
    } else if (isObject(v)) {
      out[k] = strategicMerge(cur ?? null, v);
    } else out[k] = v;
  }
  for (const [k, order] of Object.entries(patch)) {
    if (!k.startsWith('$setElementOrder/') || !Array.isArray(order)) continue;
    const field = k.slice('$setElementOrder/'.length);
    const cur = out[field];
    if (Array.isArray(cur) && !Object.hasOwn(patch, field))
      out[field] = strategicMergeList(field, cur, [], order);
  }
  return out;
}

/** The patch content types the server accepts (`application/apply-patch+yaml` is not served). */
export const patchContentTypes = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
] as const;

/** One of {@link patchContentTypes}. */
export type PatchContentType = (typeof patchContentTypes)[number];

/** Applies a patch of the given content type. */
export function applyPatch(type: PatchContentType, target: JsonObject, patch: Json): Json {
  switch (type) {
    case 'application/json-patch+json':
      return applyJsonPatch(target, patch);
    case 'application/merge-patch+json':
      if (!isObject(patch)) throw badRequest('merge patch must be a JSON object');
      return applyMergePatch(target, patch);
    case 'application/strategic-merge-patch+json':
      if (!isObject(patch)) throw badRequest('strategic merge patch must be a JSON object');
      return strategicMerge(target, patch);
  }
}
