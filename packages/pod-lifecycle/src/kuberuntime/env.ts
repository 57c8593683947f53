import {
  NotFoundError,
  isNodeAgentError,
  type ConfigMapManager,
  type SecretManager,
  type ServiceLister,
  type k8s,
} from '@nodeagent/core';
import { InvalidPodSpecError, UnsupportedInStandaloneError } from './errors.js';
import { expand, mappingFuncFor, type EnvVarValue } from './expansion.js';
import {
  parseQuantity,
  quantityMilliValue,
  quantityValue,
  type ParsedQuantity as Quantity,
} from '@nodeagent/core';
import { containerFieldPath, containerLimits, containerRequests } from './resource-lists.js';
import { serviceEnvironment } from './service-env.js';

/** Node facts the downward API exposes, and defaults for unset limits. */
export interface DownwardApiContext {
  /** The pod's IPs, primary first; for a host-network pod with none given, the host IP is used. */
  podIPs: readonly string[];
  /** The node's primary IP (`status.hostIP`). */
  hostIP: string;
  /** All node IPs (`status.hostIPs`); defaults to `[hostIP]`. */
  hostIPs?: readonly string[];
  /** The node's name; `spec.nodeName` when the pod has none. */
  nodeName: string;
  /**
   * Node allocatable resources, the value of `limits.*` resourceFieldRefs when the
   * container has no such limit (kubelet `defaultPodLimitsForDownwardAPI`).
   */
  nodeAllocatable?: { milliCPU?: number; memoryBytes?: number; ephemeralStorageBytes?: number };
}

/**
 * The node's allocatable resources (a Node's `status.allocatable`) as the downward API
 * uses them for unset limits (kubelet `defaultPodLimitsForDownwardAPI` reads the
 * Node): `cpu` in millicores, `memory` and `ephemeral-storage` in bytes. Missing or
 * unparseable quantities are left out (a limit that needs one then fails).
 */
export function downwardApiNodeAllocatable(
  allocatable: k8s.ResourceList | undefined,
): NonNullable<DownwardApiContext['nodeAllocatable']> {
  const out: NonNullable<DownwardApiContext['nodeAllocatable']> = {};
  const parsed = (name: string): Quantity | undefined => {
    const value = allocatable?.[name];
    if (value === undefined) return undefined;
    try {
      return parseQuantity(value);
    } catch {
      return undefined;
    }
  };
  const cpu = parsed('cpu');
  if (cpu) out.milliCPU = quantityMilliValue(cpu);
  const memory = parsed('memory');
  if (memory) out.memoryBytes = quantityValue(memory);
  const storage = parsed('ephemeral-storage');
  if (storage) out.ephemeralStorageBytes = quantityValue(storage);
  return out;
}

/** Field paths a `fieldRef` of an environment variable may name (API validation `validEnvDownwardAPIFieldPathExpressions`). */
export const supportedEnvFieldPaths: readonly string[] = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  "metadata.labels['<key>']",
  "metadata.annotations['<key>']",
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];

/** `metadata.labels['k']` → `['metadata.labels', 'k']` (fieldpath `SplitMaybeSubscriptedPath`). */
function splitSubscript(path: string): [string, string] | undefined {
  if (!path.endsWith("']")) return undefined;
  const at = path.indexOf("['");
  if (at <= 0) return undefined;
  return [path.slice(0, at), path.slice(at + 2, -2)];
}

function podIPsOf(pod: k8s.Pod, ctx: DownwardApiContext): string[] {
  if (ctx.podIPs.length > 0) return [...ctx.podIPs];
  return pod.spec?.hostNetwork && ctx.hostIP ? [ctx.hostIP] : [];
}

/**
 * The value of a downward-API `fieldRef` for an environment variable (kubelet
 * `podFieldSelectorRuntimeValue` + fieldpath `ExtractFieldPathAsString`).
 * @throws InvalidPodSpecError for an unsupported path or API version.
 */
export function podFieldSelectorValue(
  pod: k8s.Pod,
  selector: k8s.ObjectFieldSelector,
  ctx: DownwardApiContext,
  field = 'fieldRef',
): string {
  if (
    selector.apiVersion !== undefined &&
    selector.apiVersion !== '' &&
    selector.apiVersion !== 'v1'
  ) {
    throw new InvalidPodSpecError(
      `${field}.apiVersion`,
      `unsupported pod version ${JSON.stringify(selector.apiVersion)}`,
    );
  }
  const path = selector.fieldPath;
  const meta = pod.metadata ?? {};
  switch (path) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName || ctx.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
      return ctx.hostIP;
    case 'status.hostIPs':
      return (ctx.hostIPs ?? (ctx.hostIP ? [ctx.hostIP] : [])).join(',');
    case 'status.podIP':
      return podIPsOf(pod, ctx)[0] ?? '';
    case 'status.podIPs':
      return podIPsOf(pod, ctx).join(',');
  }
  const sub = splitSubscript(path ?? '');
  if (sub && sub[1] !== '') {
    if (sub[0] === 'metadata.labels') return meta.labels?.[sub[1]] ?? '';
    if (sub[0] === 'metadata.annotations') return meta.annotations?.[sub[1]] ?? '';
  }
  throw new InvalidPodSpecError(
    `${field}.fieldPath`,
    `unsupported downward API field path ${JSON.stringify(path)}; supported: ${supportedEnvFieldPaths.join(', ')}`,
  );
}

const cpuDivisorsMilli = new Set([1, 1000]);
const memoryDivisors = new Set<bigint>([
  ...[0n, 3n, 6n, 9n, 12n, 15n, 18n].map((e) => 10n ** e),
  ...[10n, 20n, 30n, 40n, 50n, 60n].map((e) => 1n << e),
]);

/**
 * The value of a downward-API `resourceFieldRef` (kubelet `containerResourceRuntimeValue`):
 * `limits.cpu`, `requests.cpu` (ceil of millicores / divisor; divisor `1` or `1m`),
 * `limits.memory`, `requests.memory`, `limits.ephemeral-storage`,
 * `requests.ephemeral-storage` (ceil of bytes / divisor; divisor `1`, `1k`…`1E`,
 * `1Ki`…`1Ei`). An unset limit reads as the node's allocatable amount.
 * @throws InvalidPodSpecError for an unknown resource or container, or a bad divisor.
 */
export function containerResourceFieldValue(
  pod: k8s.Pod,
  container: k8s.Container,
  selector: k8s.ResourceFieldSelector,
  ctx: DownwardApiContext,
  field = 'resourceFieldRef',
): string {
  let target = container;
  if (selector.containerName) {
    const found = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(
      (c) => c.name === selector.containerName,
    );
    if (!found) {
      throw new InvalidPodSpecError(
        `${field}.containerName`,
        `container ${JSON.stringify(selector.containerName)} not found in the pod`,
      );
    }
    target = found;
  }
  const divisor: Quantity =
    selector.divisor === undefined || selector.divisor === ''
      ? parseQuantity('1')
      : parseQuantity(selector.divisor, `${field}.divisor`);
  const [kind, resource] = selector.resource.split(/\.(.*)/s) as [string, string | undefined];
  if ((kind !== 'limits' && kind !== 'requests') || !resource) {
    throw new InvalidPodSpecError(
      `${field}.resource`,
      `unsupported container resource ${JSON.stringify(selector.resource)}`,
    );
  }
  const list = kind === 'limits' ? containerLimits(pod, target) : containerRequests(pod, target);
  const allocatable = ctx.nodeAllocatable ?? {};
  if (resource === 'cpu') {
    const divisorMilli = quantityMilliValue(divisor);
    if (!cpuDivisorsMilli.has(divisorMilli)) {
      throw new InvalidPodSpecError(
        `${field}.divisor`,
        `${JSON.stringify(selector.divisor)} is not a valid CPU divisor (1m or 1)`,
      );
    }
    let milli = list['cpu'] ? quantityMilliValue(list['cpu']) : undefined;
    if (milli === undefined) {
      if (kind === 'requests') milli = 0;
      else if (allocatable.milliCPU !== undefined) milli = allocatable.milliCPU;
      else
        throw new InvalidPodSpecError(
          `${field}.resource`,
          'container has no CPU limit and node allocatable CPU is unknown',
        );
    }
    return String(Math.ceil(milli / divisorMilli));
  }
  if (
    resource === 'memory' ||
    resource === 'ephemeral-storage' ||
    resource.startsWith('hugepages-')
  ) {
    const divisorValue = divisor.numerator / divisor.denominator;
    if (divisor.numerator % divisor.denominator !== 0n || !memoryDivisors.has(divisorValue)) {
      throw new InvalidPodSpecError(
        `${field}.divisor`,
        `${JSON.stringify(selector.divisor)} is not a valid divisor for ${resource}`,
      );
    }
    const q = list[resource];
    let bytes = q ? quantityValue(q) : undefined;
    if (bytes === undefined) {
      const fallback =
        resource === 'memory'
          ? allocatable.memoryBytes
          : resource === 'ephemeral-storage'
            ? allocatable.ephemeralStorageBytes
            : 0;
      if (kind === 'requests' || resource.startsWith('hugepages-')) bytes = 0;
      else if (fallback !== undefined) bytes = fallback;
      else
        throw new InvalidPodSpecError(
          `${field}.resource`,
          `container has no ${resource} limit and node allocatable ${resource} is unknown`,
        );
    }
    const big = BigInt(bytes);
    return String(big / divisorValue + (big % divisorValue === 0n ? 0n : 1n));
  }
  throw new InvalidPodSpecError(
    `${field}.resource`,
    `unsupported container resource ${JSON.stringify(selector.resource)}`,
  );
}

/**
 * The ConfigMaps and Secrets a container's environment reads, fetched beforehand so
 * the (synchronous) builders can use them. Each lookup returns the object or throws
 * what reading it threw (a NotFoundError when it does not exist).
 */
export interface EnvObjectSource {
  configMap(name: string): k8s.ConfigMap;
  secret(name: string): k8s.Secret;
}

/** Options of {@link makeEnvironmentVariables} for ConfigMap and Secret references. */
export interface EnvObjectOptions {
  /**
   * The objects `envFrom`, `configMapKeyRef` and `secretKeyRef` read (see
   * {@link fetchEnvObjects}). Without it those references fail with
   * UnsupportedInStandaloneError, as a kubelet without a kube client does.
   */
  envObjects?: EnvObjectSource;
  /**
   * Called with the keys of an `envFrom` source that cannot be environment variable
   * names and were skipped (sorted, prefix included), for the kubelet's Warning event
   * `InvalidEnvironmentVariableNames`.
   */
  onInvalidEnvFromKeys?: (kind: 'configMap' | 'secret', name: string, keys: string[]) => void;
  /**
   * The cluster's Services, for the service-link variables (`<NAME>_SERVICE_HOST` …,
   * see `serviceEnvironment`). Without it (standalone) there are none, as on a
   * kubelet without an API server.
   */
  services?: ServiceLister;
}

/** The ConfigMap and Secret names a container's `envFrom` and `env[].valueFrom` refer to. */
export function envObjectReferences(container: k8s.Container): {
  configMaps: Set<string>;
  secrets: Set<string>;
} {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) configMaps.add(from.configMapRef.name ?? '');
    else if (from.secretRef) secrets.add(from.secretRef.name ?? '');
  }
  for (const e of container.env ?? []) {
    if (e.value) continue;
    if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name ?? '');
    else if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name ?? '');
  }
  return { configMaps, secrets };
}

/**
 * Reads (in parallel) every ConfigMap and Secret the container's environment refers to,
 * through the managers, and returns them as an {@link EnvObjectSource}; a failed read is
 * kept and thrown by the lookup, so `optional` references to missing objects can be
 * skipped exactly as the kubelet does (only NotFound is ignored for them).
 */
export async function fetchEnvObjects(
  pod: k8s.Pod,
  container: k8s.Container,
  managers: { configMaps: ConfigMapManager; secrets: SecretManager },
): Promise<EnvObjectSource> {
  const namespace = pod.metadata?.namespace || 'default';
  const refs = envObjectReferences(container);
  type Result<T> = { ok: T } | { error: unknown };
  const settle = async <T>(p: () => Promise<T>): Promise<Result<T>> => {
    try {
      return { ok: await p() };
    } catch (error) {
      return { error };
    }
  };
  const [configMaps, secrets] = await Promise.all([
    Promise.all(
      [...refs.configMaps].map(
        async (name) =>
          [name, await settle(() => managers.configMaps.getConfigMap(namespace, name))] as const,
      ),
    ),
    Promise.all(
      [...refs.secrets].map(
        async (name) =>
          [name, await settle(() => managers.secrets.getSecret(namespace, name))] as const,
      ),
    ),
  ]);
  const cm = new Map(configMaps);
  const sec = new Map(secrets);
  const take = <T>(r: Result<T> | undefined, kind: string, name: string): T => {
    if (!r) throw new NotFoundError(`${kind} "${name}" not found`);
    if ('error' in r) throw r.error;
    return r.ok;
  };
  return {
    configMap: (name) => take(cm.get(name), 'configmap', name),
    secret: (name) => take(sec.get(name), 'secret', name),
  };
}

/**
 * Whether `name` can be an environment variable name: not empty, printable ASCII, no
 * `=` (the API's relaxed rule, `IsRelaxedEnvVarName`, GA since Kubernetes 1.34).
 */
export function isValidEnvVarName(name: string): boolean {
  return name !== '' && /^[\x20-\x3c\x3e-\x7e]+$/.test(name);
}

function lookupOptional<T>(lookup: () => T, optional: boolean | undefined): T | undefined {
  try {
    return lookup();
  } catch (err) {
    if (optional && isNodeAgentError(err, 'NotFound')) return undefined;
    throw err;
  }
}

const utf8Decoder = new TextDecoder();

function decodeSecretValue(value: string): string {
  return utf8Decoder.decode(Buffer.from(value, 'base64'));
}

/** Secret values as strings: base64 `data` decoded, overlaid with `stringData`. */
function secretStrings(secret: k8s.Secret): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(secret.data ?? {})) out.set(k, decodeSecretValue(v));
  for (const [k, v] of Object.entries(secret.stringData ?? {})) out.set(k, v);
  return out;
}

/**
 * The container's environment (kubelet `makeEnvironmentVariables`): first the keys of
 * each `envFrom` source (ConfigMap `data` or decoded Secret values, with `prefix`; a
 * missing `optional` object is skipped; keys that cannot be variable names are skipped
 * and reported through `onInvalidEnvFromKeys`), then `env` in order, which overrides
 * them: `value`s with `$(VAR)` references to earlier variables expanded (`$$` escapes),
 * downward-API `fieldRef` and `resourceFieldRef` values, `configMapKeyRef` and
 * `secretKeyRef` values (not expanded; a missing `optional` object or key leaves the
 * variable out). A name given twice keeps its first position and takes the last value,
 * as the kubelet's map does. With `services`, the service-link variables of the
 * pod's namespace (and the master `kubernetes` Service) come last, each only when
 * neither `envFrom` nor `env` defines that name; `$(VAR)` in `env` values can refer to
 * them (container variables win over them there too).
 *
 * @throws UnavailableError "services have not yet been read at least once, cannot
 *   construct envvars" when `services` has not synced and the pod is not static.
 * @throws NotFoundError (the manager's `configmap "x" not found`, or
 *   `couldn't find key k in ConfigMap ns/x` / `… in Secret ns/x`) for a missing object
 *   or key that is not optional; whatever reading the object threw otherwise — the
 *   kubelet's CreateContainerConfigError.
 * @throws UnsupportedInStandaloneError for such references when `envObjects` is not given.
 * @throws InvalidPodSpecError for an empty or malformed name, or a bad fieldRef/resourceFieldRef.
 */
export function makeEnvironmentVariables(
  pod: k8s.Pod,
  container: k8s.Container,
  ctx: DownwardApiContext & EnvObjectOptions,
): EnvVarValue[] {
  const base = containerFieldPath(pod, container);
  const namespace = pod.metadata?.namespace || 'default';
  const objects = ctx.envObjects;
  // Built first, as the kubelet does: an unsynced lister fails the container config.
  const serviceEnv = serviceEnvironment(pod, ctx.services);
  const values = new Map<string, string>();
  (container.envFrom ?? []).forEach((source, i) => {
    const kind = source.configMapRef ? 'configMapRef' : source.secretRef ? 'secretRef' : 'source';
    if (!objects || (!source.configMapRef && !source.secretRef)) {
      if (!objects)
        throw new UnsupportedInStandaloneError(
          `${base}.envFrom[${i}].${kind}`,
          'envFrom (ConfigMap/Secret)',
        );
      throw new InvalidPodSpecError(
        `${base}.envFrom[${i}]`,
        'must specify one of configMapRef, secretRef',
      );
    }
    const ref = source.configMapRef ?? source.secretRef ?? {};
    const name = ref.name ?? '';
    let entries: Map<string, string>;
    if (source.configMapRef) {
      const cm = lookupOptional(() => objects.configMap(name), ref.optional);
      if (!cm) return;
      entries = new Map(Object.entries(cm.data ?? {}));
    } else {
      const secret = lookupOptional(() => objects.secret(name), ref.optional);
      if (!secret) return;
      entries = secretStrings(secret);
    }
    const invalid: string[] = [];
    for (const key of [...entries.keys()].sort()) {
      const varName = (source.prefix ?? '') + key;
      if (!isValidEnvVarName(varName)) {
        invalid.push(varName);
        continue;
      }
      values.set(varName, entries.get(key) ?? '');
    }
    if (invalid.length > 0)
      ctx.onInvalidEnvFromKeys?.(
        source.configMapRef ? 'configMap' : 'secret',
        name,
        invalid.sort(),
      );
  });
  const mapping = mappingFuncFor(values, serviceEnv);
  for (const envVar of container.env ?? []) {
    const field = `${base}.env[${envVar.name}]`;
    if (typeof envVar.name !== 'string' || envVar.name === '') {
      throw new InvalidPodSpecError(`${base}.env`, 'environment variable name must not be empty');
    }
    if (envVar.name.includes('=')) {
      throw new InvalidPodSpecError(field, "environment variable name must not contain '='");
    }
    let value = envVar.value ?? '';
    if (value !== '') {
      value = expand(value, mapping);
    } else if (envVar.valueFrom) {
      const from = envVar.valueFrom;
      if (from.fieldRef) {
        value = podFieldSelectorValue(pod, from.fieldRef, ctx, `${field}.valueFrom.fieldRef`);
      } else if (from.resourceFieldRef) {
        value = containerResourceFieldValue(
          pod,
          container,
          from.resourceFieldRef,
          ctx,
          `${field}.valueFrom.resourceFieldRef`,
        );
      } else if (from.configMapKeyRef) {
        const ref = from.configMapKeyRef;
        if (!objects)
          throw new UnsupportedInStandaloneError(
            `${field}.valueFrom.configMapKeyRef`,
            'a ConfigMap reference',
          );
        const name = ref.name ?? '';
        const cm = lookupOptional(() => objects.configMap(name), ref.optional);
        if (!cm) continue;
        const found = cm.data?.[ref.key];
        if (found === undefined || !Object.hasOwn(cm.data ?? {}, ref.key)) {
          if (ref.optional) continue;
          throw new NotFoundError(`couldn't find key ${ref.key} in ConfigMap ${namespace}/${name}`);
        }
        value = found;
      } else if (from.secretKeyRef) {
        const ref = from.secretKeyRef;
        if (!objects)
          throw new UnsupportedInStandaloneError(
            `${field}.valueFrom.secretKeyRef`,
            'a Secret reference',
          );
        const name = ref.name ?? '';
        const secret = lookupOptional(() => objects.secret(name), ref.optional);
        if (!secret) continue;
        const found = secretStrings(secret).get(ref.key);
        if (found === undefined) {
          if (ref.optional) continue;
          throw new NotFoundError(`couldn't find key ${ref.key} in Secret ${namespace}/${name}`);
        }
        value = found;
      } else {
        throw new InvalidPodSpecError(
          `${field}.valueFrom`,
          'must specify one of fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef',
        );
      }
    }
    values.set(envVar.name, value);
  }
  const result = [...values].map(([name, value]) => ({ name, value }));
  for (const [name, value] of serviceEnv) if (!values.has(name)) result.push({ name, value });
  return result;
}
