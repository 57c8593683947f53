/**
 * The `pods/<name>/ephemeralcontainers` subresource (kube-apiserver
 * `pkg/registry/core/pod/storage` `EphemeralContainersREST` with the
 * `podEphemeralContainersStrategy`): GET returns the pod; PUT and PATCH may only add
 * ephemeral containers — everything but `spec.ephemeralContainers` is taken from the
 * stored pod, and existing ephemeral containers may be neither changed nor removed
 * (`ValidatePodEphemeralContainersUpdate`).
 */
import { conflict, invalid, optimisticLockMessage, type QualifiedResource } from './api-status.js';
import { cloneJson, isObject, type Json, type JsonObject } from './patch.js';

/** The subresource's name in URLs and discovery (`pods/ephemeralcontainers`). */
export const ephemeralContainersSubresource = 'ephemeralcontainers';

/** Fields an ephemeral container may not set (API validation `validateEphemeralContainers`). */
const forbiddenEphemeralFields = [
  'ports',
  'livenessProbe',
  'readinessProbe',
  'startupProbe',
  'lifecycle',
  'resources',
  'resizePolicy',
  'restartPolicy',
] as const;

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const forbiddenMessage = 'cannot be set for an Ephemeral Container';

function list(value: Json | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function nameOf(obj: JsonObject): string {
  return typeof obj.name === 'string' ? obj.name : '';
}

/** JSON equality independent of key order (Go's `apiequality.Semantic.DeepEqual` on decoded objects). */
function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
}

/**
 * `SetDefaults_Container` (the API server defaults containers on decode): termination
 * message path and policy, and the image pull policy from the tag. Used for app, init
 * and ephemeral containers alike.
 */
export function defaultContainer(c: JsonObject): void {
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (c.imagePullPolicy === undefined && typeof c.image === 'string') {
    const lastSegment = c.image.split('/').pop() ?? '';
    const tag = lastSegment.includes(':') ? lastSegment.split(':').pop() : undefined;
    c.imagePullPolicy = c.image.includes('@')
      ? 'IfNotPresent'
      : tag === undefined || tag === 'latest'
        ? 'Always'
        : 'IfNotPresent';
  }
}

/**
 * Refuses a pod created with ephemeral containers: they can only be added to an
 * existing pod through the subresource (`ValidatePodCreate`).
 * @throws ApiStatusError 422 `spec.ephemeralContainers: Forbidden: cannot be set on create`.
 */
export function checkNoEphemeralContainersOnCreate(pod: JsonObject): void {
  const spec = isObject(pod.spec) ? pod.spec : {};
  if (!Array.isArray(spec.ephemeralContainers) || spec.ephemeralContainers.length === 0) return;
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  throw invalid('Pod', typeof meta.name === 'string' ? meta.name : '', '', [
    'spec.ephemeralContainers: Forbidden: cannot be set on create',
  ]);
}

/**
 * The pod to store for a PUT or PATCH of `pods/<name>/ephemeralcontainers`: the stored
 * pod with the request's `spec.ephemeralContainers` (defaulted) and, from the request's
 * metadata, only `resourceVersion` and `uid` (preconditions).
 * @throws ApiStatusError 409 Conflict for a stale `metadata.resourceVersion` (checked
 *   first, as the registry store does), 422 Invalid when a new ephemeral container is invalid
 *   (name, image, duplicate name, forbidden field, unknown `targetContainerName`) or an
 *   existing one was changed or removed.
 */
export function prepareEphemeralContainersUpdate(
  r: QualifiedResource,
  current: JsonObject,
  input: JsonObject,
): JsonObject {
  const currentMeta = isObject(current.metadata) ? current.metadata : {};
  const inputRv = isObject(input.metadata) ? input.metadata.resourceVersion : undefined;
  if (typeof inputRv === 'string' && inputRv !== '' && inputRv !== currentMeta.resourceVersion) {
    throw conflict(
      r,
      typeof currentMeta.name === 'string' ? currentMeta.name : '',
      optimisticLockMessage,
    );
  }
  const inputSpec = isObject(input.spec) ? input.spec : {};
  const wanted = cloneJson(list(inputSpec.ephemeralContainers));
  for (const c of wanted) defaultContainer(c);
  const next = cloneJson(current);
  const spec = isObject(next.spec) ? next.spec : {};
  next.spec = spec;
  if (wanted.length > 0) spec.ephemeralContainers = wanted;
  else delete spec.ephemeralContainers;
  const meta = isObject(next.metadata) ? next.metadata : {};
  next.metadata = meta;
  const inputMeta = isObject(input.metadata) ? input.metadata : {};
  if (typeof inputMeta.resourceVersion === 'string')
    meta.resourceVersion = inputMeta.resourceVersion;
  if (typeof inputMeta.uid === 'string' && inputMeta.uid !== '') meta.uid = inputMeta.uid;

  const causes = validateEphemeralContainers(spec, wanted);
  const currentSpec = isObject(current.spec) ? current.spec : {};
  const byName = new Map(wanted.map((c) => [nameOf(c), c]));
  for (const old of list(currentSpec.ephemeralContainers)) {
    const now = byName.get(nameOf(old));
    if (now === undefined) {
      causes.push(
        `spec.ephemeralContainers: Forbidden: existing ephemeral containers "${nameOf(old)}" may not be removed`,
      );
    } else if (!jsonEqual(old, now)) {
      causes.push(
        `spec.ephemeralContainers: Forbidden: existing ephemeral containers "${nameOf(old)}" may not be changed`,
      );
    }
  }
  if (causes.length > 0) {
    const name = typeof meta.name === 'string' ? meta.name : '';
    throw invalid('Pod', name, '', causes);
  }
  return next;
}

/** API validation `validateEphemeralContainers` (the parts nodeagent's kubelet relies on). */
function validateEphemeralContainers(spec: JsonObject, ephemeral: JsonObject[]): string[] {
  const causes: string[] = [];
  const others = [...list(spec.containers), ...list(spec.initContainers)].map(nameOf);
  const seen = new Set(others);
  ephemeral.forEach((c, i) => {
    const path = `spec.ephemeralContainers[${i}]`;
    const name = nameOf(c);
    if (name === '') causes.push(`${path}.name: Required value`);
    else if (!dns1123Label.test(name) || name.length > 63)
      causes.push(
        `${path}.name: Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
      );
    else if (seen.has(name)) causes.push(`${path}.name: Duplicate value: "${name}"`);
    seen.add(name);
    if (typeof c.image !== 'string' || c.image === '') causes.push(`${path}.image: Required value`);
    for (const field of forbiddenEphemeralFields) {
      if (c[field] !== undefined && c[field] !== null)
        causes.push(`${path}.${field}: Forbidden: ${forbiddenMessage}`);
    }
    list(c.volumeMounts).forEach((m, j) => {
      if (typeof m.subPath === 'string' && m.subPath !== '')
        causes.push(`${path}.volumeMounts[${j}].subPath: Forbidden: ${forbiddenMessage}`);
    });
    const target = c.targetContainerName;
    if (typeof target === 'string' && target !== '' && !others.includes(target))
      causes.push(`${path}.targetContainerName: Not found: "${target}"`);
  });
  return causes;
}
