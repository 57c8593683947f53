import { posix } from 'node:path';
import { InvalidArgumentError, NotFoundError, type k8s } from '@nodeagent/core';
import { containerResourceFieldValue, type DownwardApiContext } from './env.js';

/** Default mode of the files of ConfigMap, Secret, downward-API and projected volumes (API default 0644). */
export const defaultVolumeFileMode = 0o644;
/** Kubelet atomic writer `maxFileNameLength`. */
export const maxVolumeFileNameLength = 255;
/** Kubelet atomic writer `maxPathLength`. */
export const maxVolumePathLength = 4096;

/** One file of a volume payload (kubelet `volumeutil.FileProjection`). */
export interface FileProjection {
  data: Uint8Array;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  /** Owner uid the file is given (kubelet `FileProjection.FsUser`); unset: the agent's. */
  fsUser?: number;
}

/** Relative file path → contents and mode: what an atomic writer puts in a volume. */
export type VolumePayload = Map<string, FileProjection>;

/**
 * Checks one payload path as the kubelet's atomic writer does (`validatePath`): not
 * empty, not absolute, no `..` element, not starting with `..`, at most 4096
 * characters, file names at most 255.
 * @throws InvalidArgumentError (`invalid path: must not contain '..': a/../b`, …).
 */
export function validateVolumeFilePath(path: string): void {
  if (path === '') throw new InvalidArgumentError('invalid path: must not be empty: ""');
  if (posix.isAbsolute(path))
    throw new InvalidArgumentError(`invalid path: must be relative path: ${path}`);
  if (path.length > maxVolumePathLength) {
    throw new InvalidArgumentError(
      `invalid path: must be less than or equal to ${maxVolumePathLength} characters`,
    );
  }
  const items = path.split('/');
  for (const item of items) {
    if (item === '..')
      throw new InvalidArgumentError(`invalid path: must not contain '..': ${path}`);
    if (item.length > maxVolumeFileNameLength) {
      throw new InvalidArgumentError(
        `invalid path: filenames must be less than or equal to ${maxVolumeFileNameLength} characters`,
      );
    }
  }
  const first = items[0] ?? '';
  if (first.startsWith('..') && first.length > 2)
    throw new InvalidArgumentError(`invalid path: must not start with '..': ${path}`);
}

function checkMode(mode: number, what: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new InvalidArgumentError(
      `${what}: invalid file mode ${String(mode)} (must be between 0 and 0777)`,
    );
  }
  return mode;
}

const utf8 = new TextEncoder();

function decodeBase64(value: string): Uint8Array {
  return Uint8Array.from(Buffer.from(value, 'base64'));
}

/** The decoded values of a Secret: base64 `data`, overlaid with plain-text `stringData` (as the API server merges them). */
export function secretData(secret: k8s.Secret): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(secret.data ?? {})) out.set(k, decodeBase64(v));
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out.set(k, utf8.encode(v));
  return out;
}

/** The values of a ConfigMap: `data` as UTF-8, then base64 `binaryData`. */
export function configMapData(configMap: k8s.ConfigMap): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [k, v] of Object.entries(configMap.data ?? {})) out.set(k, utf8.encode(v));
  for (const [k, v] of Object.entries(configMap.binaryData ?? {})) out.set(k, decodeBase64(v));
  return out;
}

function keysPayload(
  values: Map<string, Uint8Array>,
  items: readonly k8s.KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  missingKey: (key: string) => string,
): VolumePayload {
  const payload: VolumePayload = new Map();
  if (!items || items.length === 0) {
    for (const [key, data] of values) payload.set(key, { data, mode: defaultMode });
    return payload;
  }
  for (const item of items) {
    const data = values.get(item.key);
    if (data === undefined) {
      if (optional) continue;
      throw new NotFoundError(missingKey(item.key));
    }
    validateVolumeFilePath(item.path);
    const mode = item.mode === undefined ? defaultMode : checkMode(item.mode, item.path);
    payload.set(posix.normalize(item.path), { data, mode });
  }
  return payload;
}

/**
 * The files of a ConfigMap volume (kubelet configmap `MakePayload`): every key of
 * `data` and `binaryData` as a file named after it, or only the listed `items` at their
 * `path`; mode = item `mode` ?? `defaultMode`. A listed key that is missing fails unless
 * `optional` (`configmap references non-existent config key: k`).
 * @throws NotFoundError for a missing listed key; InvalidArgumentError for a bad path or mode.
 */
export function makeConfigMapPayload(
  items: readonly k8s.KeyToPath[] | undefined,
  configMap: k8s.ConfigMap,
  defaultMode: number,
  optional: boolean,
): VolumePayload {
  return keysPayload(
    configMapData(configMap),
    items,
    defaultMode,
    optional,
    (key) => `configmap references non-existent config key: ${key}`,
  );
}

/**
 * The files of a Secret volume (kubelet secret `MakePayload`): the base64-decoded values,
 * all keys or the listed `items`; a listed key that is missing fails unless `optional`
 * (`references non-existent secret key: k`).
 * @throws NotFoundError for a missing listed key; InvalidArgumentError for a bad path or mode.
 */
export function makeSecretPayload(
  items: readonly k8s.KeyToPath[] | undefined,
  secret: k8s.Secret,
  defaultMode: number,
  optional: boolean,
): VolumePayload {
  return keysPayload(
    secretData(secret),
    items,
    defaultMode,
    optional,
    (key) => `references non-existent secret key: ${key}`,
  );
}

/**
 * Go's `%q` quoting of a string (strconv.Quote), which the kubelet uses for label and
 * annotation values in downward-API files: `"`, `\` and control characters escaped.
 */
export function goQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code >= 0x80 && code < 0xa0) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/**
 * Labels or annotations as the kubelet writes them to a downward-API file
 * (fieldpath `FormatMap`): one `key="value"` line per entry (value Go-quoted), sorted
 * by key, no trailing newline.
 */
export function formatDownwardApiMap(map: Readonly<Record<string, string>> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${goQuote(map?.[k] ?? '')}`)
    .join('\n');
}

/** Field paths a downward-API volume file may name (fieldpath `ExtractFieldPathAsString`). */
export const supportedVolumeFieldPaths: readonly string[] = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'metadata.labels',
  'metadata.annotations',
  "metadata.labels['<key>']",
  "metadata.annotations['<key>']",
];

/**
 * The contents of a downward-API volume file for a `fieldRef` (fieldpath
 * `ExtractFieldPathAsString`): name, namespace, uid, all labels/annotations in
 * {@link formatDownwardApiMap} format, or one label/annotation value.
 * @throws InvalidArgumentError (`unsupported fieldPath: …`).
 */
export function volumeFieldPathValue(pod: k8s.Pod, selector: k8s.ObjectFieldSelector): string {
  if (selector.apiVersion && selector.apiVersion !== 'v1') {
    throw new InvalidArgumentError(`unsupported pod version: ${selector.apiVersion}`);
  }
  const meta = pod.metadata ?? {};
  const path = selector.fieldPath;
  switch (path) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'metadata.labels':
      return formatDownwardApiMap(meta.labels);
    case 'metadata.annotations':
      return formatDownwardApiMap(meta.annotations);
  }
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/s.exec(path ?? '');
  if (m) {
    const map = m[1] === 'labels' ? meta.labels : meta.annotations;
    return map?.[m[2] ?? ''] ?? '';
  }
  throw new InvalidArgumentError(
    `unsupported fieldPath: ${path}; supported: ${supportedVolumeFieldPaths.join(', ')}`,
  );
}

/**
 * An error that lists several (kubelet `utilerrors.NewAggregate`): the one message
 * when there is one, `[a, b]` otherwise.
 */
export class AggregateVolumeError extends InvalidArgumentError {
  readonly errors: readonly Error[];
  constructor(errors: readonly Error[]) {
    super(
      errors.length === 1
        ? (errors[0]?.message ?? '')
        : `[${errors.map((e) => e.message).join(', ')}]`,
    );
    this.errors = errors;
  }
}

/** Throws nothing for no errors, the error itself for one, an {@link AggregateVolumeError} for several. */
export function throwAggregateVolumeErrors(errors: Error[]): void {
  if (errors.length === 0) return;
  if (errors.length === 1 && errors[0]) throw errors[0];
  throw new AggregateVolumeError(errors);
}

/**
 * The files of a downward-API volume (kubelet downwardapi `CollectData`): each item's
 * `fieldRef` ({@link volumeFieldPathValue}) or `resourceFieldRef` (container resources,
 * `containerName` required) at its `path`, mode = item `mode` ?? `defaultMode`. Errors
 * of all items are collected and thrown together.
 * @throws InvalidArgumentError / InvalidPodSpecError, or {@link AggregateVolumeError} for several.
 */
export function collectDownwardApiPayload(
  items: readonly k8s.DownwardAPIVolumeFile[] | undefined,
  pod: k8s.Pod,
  ctx: DownwardApiContext,
  defaultMode: number,
): VolumePayload {
  const payload: VolumePayload = new Map();
  const errors: Error[] = [];
  for (const item of items ?? []) {
    try {
      validateVolumeFilePath(item.path);
      const mode = item.mode === undefined ? defaultMode : checkMode(item.mode, item.path);
      let value: string;
      if (item.fieldRef) {
        value = volumeFieldPathValue(pod, item.fieldRef);
      } else if (item.resourceFieldRef) {
        const name = item.resourceFieldRef.containerName;
        const container = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])][0];
        if (!name || !container) {
          throw new InvalidArgumentError(
            `${item.path}: resourceFieldRef.containerName is required in a downward API volume`,
          );
        }
        value = containerResourceFieldValue(
          pod,
          container,
          item.resourceFieldRef,
          ctx,
          `${item.path}.resourceFieldRef`,
        );
      } else {
        throw new InvalidArgumentError(
          `${item.path}: one of fieldRef, resourceFieldRef is required`,
        );
      }
      // Kubelet `sortLines`: multi-line values (labels, annotations) in sorted line order.
      value = value.split('\n').sort().join('\n');
      payload.set(posix.normalize(item.path), { data: utf8.encode(value), mode });
    } catch (err) {
      errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  throwAggregateVolumeErrors(errors);
  return payload;
}

/**
 * The user that owns a projected service-account token (kubelet `FsUserFrom`): the
 * effective `runAsUser` (container's, else the pod's) shared by every init, regular
 * and ephemeral container; undefined when one of them sets none or they differ.
 */
export function projectedTokenFsUser(pod: k8s.Pod): number | undefined {
  const spec = pod.spec;
  if (!spec) return undefined;
  const podUser = spec.securityContext?.runAsUser;
  let fsUser: number | undefined;
  const containers: readonly { securityContext?: { runAsUser?: number } }[] = [
    ...(spec.initContainers ?? []),
    ...spec.containers,
    ...(spec.ephemeralContainers ?? []),
  ];
  for (const c of containers) {
    const user = c.securityContext?.runAsUser ?? podUser;
    if (user === undefined || (fsUser !== undefined && fsUser !== user)) return undefined;
    fsUser = user;
  }
  return fsUser;
}

/**
 * The file of a projected `serviceAccountToken` source (kubelet projected
 * `collectData`): the token at `path`, mode = the volume's `defaultMode` — or 0600
 * when the pod has an fsUser ({@link projectedTokenFsUser}) or an fsGroup (the fsGroup
 * ownership then makes it 0640) — owned by the fsUser when there is one.
 * @throws InvalidArgumentError for a bad path.
 */
export function makeServiceAccountTokenPayload(
  path: string,
  token: string,
  defaultMode: number,
  owner: { fsUser?: number | undefined; fsGroup?: number | undefined },
): VolumePayload {
  validateVolumeFilePath(path);
  const restricted = owner.fsUser !== undefined || owner.fsGroup !== undefined;
  const file: FileProjection = { data: utf8.encode(token), mode: restricted ? 0o600 : defaultMode };
  if (owner.fsUser !== undefined) file.fsUser = owner.fsUser;
  return new Map([[posix.normalize(path), file]]);
}
