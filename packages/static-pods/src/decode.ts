import type { k8s } from '@nodeagent/core';
import { parseDocument } from 'yaml';
import { dns1123SubdomainError, validatePodManifest } from './pod-validation.js';
import {
  applyStaticPodDefaults,
  generateStaticPodName,
  type StaticPodOrigin,
} from './static-pod-identity.js';

/**
 * Largest manifest the kubelet reads, from a file or the manifest URL, in bytes
 * (common.go `maxConfigLength`, 10 MiB). Anything larger is rejected unread.
 */
export const MAX_CONFIG_LENGTH = 10 * 1024 * 1024;

/** The outcome of decoding a manifest: the static pods, or why there are none. */
export type DecodeResult =
  | { readonly ok: true; readonly pods: readonly k8s.Pod[] }
  | { readonly ok: false; readonly reason: string };

/** Inputs of {@link decodeStaticPods}. */
export interface DecodeOptions {
  /** Where the bytes came from (UID recipe, config source). */
  origin: StaticPodOrigin;
  /** This node's name. */
  nodeName: string;
  /** Accept a `v1` `PodList` too, as the manifest URL does (files hold one Pod). */
  allowPodList?: boolean;
}

type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * Parses YAML (1.1, as the kubelet's sigs.k8s.io/yaml; JSON is YAML too). One
 * document only; aliases are bounded by the yaml package's `maxAliasCount` (100), so
 * a "billion laughs" document fails instead of eating memory.
 */
function parseYaml(text: string): Decoded {
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: true, prettyErrors: false });
  const error = doc.errors[0];
  if (error !== undefined) {
    return { ok: false, reason: `invalid YAML or JSON: ${error.message.split('\n')[0] ?? ''}` };
  }
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (err) {
    return { ok: false, reason: `invalid YAML or JSON: ${(err as Error).message}` };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeType(object: Record<string, unknown>): string {
  const kind = typeof object['kind'] === 'string' ? `"${object['kind']}"` : 'missing';
  const apiVersion =
    typeof object['apiVersion'] === 'string' ? `"${object['apiVersion']}"` : 'missing';
  return `kind is ${kind}, apiVersion is ${apiVersion}`;
}

/** Validates one Pod object and gives it its static pod identity; `prefix` names it in a list. */
function decodeOnePod(object: unknown, options: DecodeOptions, prefix: string): DecodeResult {
  const validation = validatePodManifest(object);
  if (!validation.ok) {
    return {
      ok: false,
      reason: `invalid pod: ${validation.errors.map((e) => `${prefix}${e}`).join('; ')}`,
    };
  }
  const generated = generateStaticPodName(validation.pod.metadata.name ?? '', options.nodeName);
  const nameError = dns1123SubdomainError(generated);
  if (nameError !== undefined) {
    return {
      ok: false,
      reason: `invalid pod: ${prefix}metadata.name: static pod name "${generated}" (name-node) ${nameError}`,
    };
  }
  return { ok: true, pods: [applyStaticPodDefaults(validation.pod, options)] };
}

/**
 * Decodes a static pod manifest the way the kubelet's `tryDecodeSinglePod` /
 * `tryDecodePodList` do: YAML or JSON, a `v1` `Pod` (or, with `allowPodList`, a `v1`
 * `PodList`), validated, then given its static pod identity
 * ({@link applyStaticPodDefaults}). A list is all-or-nothing, as in the kubelet.
 * Never throws: a bad manifest comes back as `{ ok: false, reason }`.
 */
export function decodeStaticPods(data: string | Uint8Array, options: DecodeOptions): DecodeResult {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  if (size > MAX_CONFIG_LENGTH) {
    return {
      ok: false,
      reason: `manifest is ${size} bytes, larger than the limit of ${MAX_CONFIG_LENGTH} bytes`,
    };
  }
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  if (text.trim() === '') return { ok: false, reason: 'manifest is empty' };
  const parsed = parseYaml(text);
  if (!parsed.ok) return parsed;
  const object = parsed.value;
  if (!isObject(object)) {
    return {
      ok: false,
      reason: 'not a Kubernetes object: expected a mapping with apiVersion and kind',
    };
  }
  if (object['apiVersion'] === 'v1' && object['kind'] === 'Pod') {
    return decodeOnePod(object, options, '');
  }
  if (
    options.allowPodList === true &&
    object['apiVersion'] === 'v1' &&
    object['kind'] === 'PodList'
  ) {
    const items = object['items'];
    if (items !== undefined && items !== null && !Array.isArray(items)) {
      return { ok: false, reason: 'invalid pod list: items: Expected array' };
    }
    const pods: k8s.Pod[] = [];
    for (const [i, item] of (items ?? []).entries()) {
      if (isObject(item) && (item['kind'] ?? 'Pod') !== 'Pod') {
        return {
          ok: false,
          reason: `invalid pod list: items[${i}]: not a v1 Pod (${describeType(item)})`,
        };
      }
      const one = decodeOnePod(
        isObject(item) ? { apiVersion: 'v1', kind: 'Pod', ...item } : item,
        options,
        `items[${i}].`,
      );
      if (!one.ok) return one;
      pods.push(...one.pods);
    }
    return { ok: true, pods };
  }
  const expected = options.allowPodList === true ? 'a v1 Pod or PodList' : 'a v1 Pod';
  return { ok: false, reason: `not ${expected} (${describeType(object)})` };
}
