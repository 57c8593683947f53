import type { k8s } from '@nodeagent/core';

/** Canonical JSON: object keys sorted, `undefined` members dropped, so key order never matters. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    return '[' + value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',') + ']';
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonicalJson(v)).join(',') + '}';
}

/** 32-bit FNV-1a over the UTF-8 bytes of `text` (Go `hash/fnv.New32a`). */
export function fnv32a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * A stable hash of the whole container spec, as lowercase hex — the value of the
 * `io.kubernetes.container.hash` annotation (kubelet `HashContainer`: FNV-32a over the
 * container's JSON, written with `strconv.FormatUint(h, 16)`). Equal specs give equal
 * hashes whatever the key order; any change of any field gives a different hash, so a
 * running container whose annotation differs from the desired spec's hash is replaced.
 *
 * Unlike kubelet ≥ 1.31, which hashes only `name` and `image` because the API server
 * forbids other container changes, every field counts here: static pod manifests can
 * change anything.
 */
export function hashContainer(container: k8s.Container): string {
  return fnv32a(canonicalJson(container)).toString(16);
}
