import { resourceListsEqual } from './node-quantity.js';
import type { NodeCondition, NodeStatus } from './node-types.js';

/*
 * Change detection and the strategic merge patch for node status, as the kubelet's
 * `nodeStatusHasChanged` and `nodeutil.PatchNodeStatus` (component-helpers) do them.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function withoutHeartbeat(c: NodeCondition): NodeCondition {
  const copy = { ...c };
  delete copy.lastHeartbeatTime;
  return copy;
}

/** Kubelet `nodeConditionsHaveChanged`: compared by type, ignoring `lastHeartbeatTime`. */
export function nodeConditionsChanged(
  original: readonly NodeCondition[] | undefined,
  next: readonly NodeCondition[] | undefined,
): boolean {
  const a = [...(original ?? [])].sort((x, y) => (x.type < y.type ? -1 : 1));
  const b = [...(next ?? [])].sort((x, y) => (x.type < y.type ? -1 : 1));
  if (a.length !== b.length) return true;
  return a.some((c, i) => {
    const d = b[i];
    return d === undefined || !sameJson(withoutHeartbeat(c), withoutHeartbeat(d));
  });
}

/**
 * Kubelet `nodeStatusHasChanged`: conditions ignoring heartbeats, quantities by
 * value (`1Gi` = `1024Mi`), everything else as JSON.
 */
export function nodeStatusChanged(original: NodeStatus | undefined, next: NodeStatus): boolean {
  if (original === undefined) return true;
  if (nodeConditionsChanged(original.conditions, next.conditions)) return true;
  if (!resourceListsEqual(original.capacity, next.capacity)) return true;
  if (!resourceListsEqual(original.allocatable, next.allocatable)) return true;
  const rest = (s: NodeStatus): NodeStatus => {
    const copy = { ...s };
    delete copy.conditions;
    delete copy.capacity;
    delete copy.allocatable;
    return copy;
  };
  return !sameJson(rest(original), rest(next));
}

function keyOf(item: unknown, mergeKey: string): string {
  return typeof item === 'object' && item !== null
    ? JSON.stringify((item as Record<string, unknown>)[mergeKey])
    : '';
}

/** Two-way diff of plain objects (maps): changed keys with new values, removed keys null. */
function diffMap(original: JsonObject, next: JsonObject): JsonObject | undefined {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(next)) {
    const o = original[k];
    if (sameJson(o, v)) continue;
    if (
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      typeof o === 'object' &&
      o !== null &&
      !Array.isArray(o)
    ) {
      const d = diffMap(o, v);
      if (d) out[k] = d;
    } else out[k] = v;
  }
  for (const k of Object.keys(original)) if (!(k in next)) out[k] = null;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Strategic diff of a list merged by `mergeKey`: changed items (by key) and `$setElementOrder`. */
function diffMergeList(
  field: string,
  mergeKey: string,
  original: Json[],
  next: Json[],
  out: JsonObject,
): void {
  const items: Json[] = [];
  for (const item of next) {
    const k = keyOf(item, mergeKey);
    const o = original.find((x) => keyOf(x, mergeKey) === k);
    if (o === undefined) {
      items.push(item);
      continue;
    }
    const d = diffMap(o as JsonObject, item as JsonObject);
    if (d) items.push({ [mergeKey]: (item as JsonObject)[mergeKey] ?? null, ...d });
  }
  for (const o of original) {
    const k = keyOf(o, mergeKey);
    if (!next.some((x) => keyOf(x, mergeKey) === k))
      items.push({ [mergeKey]: (o as JsonObject)[mergeKey] ?? null, $patch: 'delete' });
  }
  const orderChanged = !sameJson(
    original.map((x) => keyOf(x, mergeKey)),
    next.map((x) => keyOf(x, mergeKey)),
  );
  if (items.length === 0 && !orderChanged) return;
  out[`$setElementOrder/${field}`] = next.map((x) => ({
    [mergeKey]: (x as JsonObject)[mergeKey] ?? null,
  }));
  if (items.length > 0) out[field] = items;
}

/**
 * The strategic merge patch from `original` to `next` status, wrapped as
 * `{ status: … }` (kubelet `PatchNodeStatus` → `CreateTwoWayMergePatch`):
 * conditions merge by `type` with `$setElementOrder/conditions`; addresses, when they
 * changed, are replaced whole with `$patch: replace` (the kubelet's fix-up, since
 * their `type` merge key is not unique); other lists (images) are atomic; maps send
 * changed keys only. Undefined when nothing differs.
 */
export function nodeStatusPatch(
  original: NodeStatus | undefined,
  next: NodeStatus,
): { status: JsonObject } | undefined {
  const o = (original ?? {}) as unknown as JsonObject;
  const n = next as unknown as JsonObject;
  const out: JsonObject = {};
  for (const [field, value] of Object.entries(n)) {
    const before = o[field];
    if (value === undefined || sameJson(before, value)) continue;
    if (field === 'conditions') {
      diffMergeList(field, 'type', Array.isArray(before) ? before : [], value as Json[], out);
    } else if (field === 'addresses') {
      out.addresses = [{ $patch: 'replace' }, ...(value as Json[])];
    } else if (
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      typeof before === 'object' &&
      before !== null &&
      !Array.isArray(before)
    ) {
      const d = diffMap(before, value);
      if (d) out[field] = d;
    } else out[field] = value;
  }
  for (const field of Object.keys(o)) if (!(field in n)) out[field] = null;
  return Object.keys(out).length > 0 ? { status: out } : undefined;
}
