import type { k8s } from '@nodeagent/core';
import { z } from 'zod';
import {
  compareQuantities,
  parseQuantity as parseExactQuantity,
  zeroQuantity,
  type ParsedQuantity,
} from '@nodeagent/core';

/** The parsed quantity, or undefined when `text` is not one (core's exact parser). */
function parseQuantity(text: string): ParsedQuantity | undefined {
  try {
    return parseExactQuantity(text);
  } catch {
    return undefined;
  }
}

/*
 * Validation of pod manifests: the subset of the API server's `ValidatePodCreate`
 * (pkg/apis/core/validation) that matters for pods the kubelet runs from files and
 * URLs, plus the static-pod rule that a pod may not reference API objects
 * (`PreventStaticPodAPIReferences`). The shape is checked with zod; the rules that
 * need more than one field (unique names, mounts naming volumes, probes per
 * container kind, requests ≤ limits) run in `superRefine`. Every issue carries the
 * field path, formatted the Kubernetes way: `spec.containers[0].image: Required`.
 *
 * Objects are `passthrough`: fields nodeagent does not model are kept, as the
 * kubelet keeps every API field it decodes.
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const ENV_VAR_NAME = /^[\x20-\x3c\x3e-\x7e]+$/;

/** Longest DNS-1123 label (container, volume and namespace names). */
export const DNS1123_LABEL_MAX_LENGTH = 63;
/** Longest DNS-1123 subdomain (pod names). */
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
/** Most bytes all annotations of an object may take together (apimachinery `TotalAnnotationSizeLimitB`). */
export const TOTAL_ANNOTATION_SIZE_LIMIT_BYTES = 256 * 1024;

/** Why `value` is not a DNS-1123 label, or undefined when it is one. */
export function dns1123LabelError(value: string): string | undefined {
  if (value.length > DNS1123_LABEL_MAX_LENGTH) {
    return `must be no more than ${DNS1123_LABEL_MAX_LENGTH} characters`;
  }
  if (!DNS1123_LABEL.test(value)) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
  }
  return undefined;
}

/** Why `value` is not a DNS-1123 subdomain, or undefined when it is one. */
export function dns1123SubdomainError(value: string): string | undefined {
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) {
    return `must be no more than ${DNS1123_SUBDOMAIN_MAX_LENGTH} characters`;
  }
  if (!DNS1123_SUBDOMAIN.test(value)) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

function ianaSvcNameError(value: string): string | undefined {
  if (value.length > 15) return 'must be no more than 15 characters';
  if (!IANA_SVC_NAME.test(value)) {
    return "must contain only lowercase alphanumeric characters or '-' and start and end with an alphanumeric character";
  }
  if (value.includes('--')) return "must not contain consecutive hyphens ('--')";
  if (!/[a-z]/.test(value)) return 'must contain at least one letter (a-z)';
  return undefined;
}

function qualifiedNameError(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1) {
    const prefix = key.slice(0, slash);
    if (prefix === '') return 'prefix part must be non-empty';
    const prefixError = dns1123SubdomainError(prefix);
    if (prefixError !== undefined) return `prefix part ${prefixError}`;
  }
  if (name.length === 0) return 'name part must be non-empty';
  if (name.length > 63) return 'name part must be no more than 63 characters';
  if (!QUALIFIED_NAME_PART.test(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  }
  return undefined;
}

const custom = (ctx: z.RefinementCtx, path: (string | number)[], message: string): void => {
  ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
};

/** A string that must be present and not empty (the API's `Required value`). */
const requiredString = z.string().min(1, 'Required');
const nonNegativeInt = z.number().int().nonnegative();
const portNumber = z
  .number()
  .int()
  .min(1, 'must be between 1 and 65535, inclusive')
  .max(65535, 'must be between 1 and 65535, inclusive');
const dnsLabel = z.string().superRefine((value, ctx) => {
  const error = value === '' ? 'Required' : dns1123LabelError(value);
  if (error !== undefined) custom(ctx, [], error);
});

/** A port number (1–65535) or an IANA service name (a container port's name). */
const intOrStringPort = z
  .union([z.number(), z.string()], {
    errorMap: () => ({ message: 'Expected a port number or a port name' }),
  })
  .superRefine((value, ctx) => {
    if (typeof value === 'number') {
      if (!Number.isInteger(value) || value < 1 || value > 65535) {
        custom(ctx, [], 'must be between 1 and 65535, inclusive');
      }
    } else {
      const error = ianaSvcNameError(value);
      if (error !== undefined) custom(ctx, [], error);
    }
  });

/** A quantity; YAML numbers (`cpu: 1`) are accepted and kept as their decimal text. */
const quantity = z
  .union([z.string(), z.number()], {
    errorMap: () => ({ message: 'Expected a quantity such as "100m" or "128Mi"' }),
  })
  .transform((value) => String(value))
  .superRefine((value, ctx) => {
    if (parseQuantity(value) === undefined) {
      custom(
        ctx,
        [],
        `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' (got "${value}")`,
      );
    }
  });

const resourceList = z.record(z.string(), quantity).superRefine((list, ctx) => {
  for (const [name, value] of Object.entries(list)) {
    const nameError = qualifiedNameError(name);
    if (nameError !== undefined) custom(ctx, [name], `invalid resource name: ${nameError}`);
    const parsed = parseQuantity(value);
    if (parsed !== undefined && compareQuantities(parsed, zeroQuantity()) < 0) {
      custom(ctx, [name], 'must be greater than or equal to 0');
    }
  }
});

const stringMap = z.record(z.string(), z.string());

const execAction = z.object({ command: z.array(z.string()).optional() }).passthrough();
const httpHeader = z.object({ name: requiredString, value: z.string() }).passthrough();
const httpGetAction = z
  .object({
    path: z.string().optional(),
    port: intOrStringPort,
    host: z.string().optional(),
    scheme: z.enum(['HTTP', 'HTTPS']).optional(),
    httpHeaders: z.array(httpHeader).optional(),
  })
  .passthrough();
const tcpSocketAction = z
  .object({ port: intOrStringPort, host: z.string().optional() })
  .passthrough();
const grpcAction = z.object({ port: portNumber, service: z.string().optional() }).passthrough();
const sleepAction = z.object({ seconds: nonNegativeInt }).passthrough();

function exactlyOneHandler(kinds: readonly string[]) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const set = kinds.filter((kind) => value[kind] !== undefined && value[kind] !== null);
    if (set.length === 0) custom(ctx, [], 'must specify a handler type');
    else if (set.length > 1) {
      custom(ctx, [set[1] ?? ''], 'may not specify more than 1 handler type');
    }
  };
}

const probe = z
  .object({
    exec: execAction.optional(),
    httpGet: httpGetAction.optional(),
    tcpSocket: tcpSocketAction.optional(),
    grpc: grpcAction.optional(),
    initialDelaySeconds: nonNegativeInt.optional(),
    timeoutSeconds: nonNegativeInt.optional(),
    periodSeconds: nonNegativeInt.optional(),
    successThreshold: nonNegativeInt.optional(),
    failureThreshold: nonNegativeInt.optional(),
    terminationGracePeriodSeconds: z.number().int().positive('must be greater than 0').optional(),
  })
  .passthrough()
  .superRefine(exactlyOneHandler(['exec', 'httpGet', 'tcpSocket', 'grpc']));

const lifecycleHandler = z
  .object({
    exec: execAction.optional(),
    httpGet: httpGetAction.optional(),
    tcpSocket: tcpSocketAction.optional(),
    sleep: sleepAction.optional(),
  })
  .passthrough()
  .superRefine(exactlyOneHandler(['exec', 'httpGet', 'tcpSocket', 'sleep']));

const containerPort = z
  .object({
    name: z
      .string()
      .superRefine((value, ctx) => {
        const error = ianaSvcNameError(value);
        if (error !== undefined) custom(ctx, [], error);
      })
      .optional(),
    hostPort: z
      .number()
      .int()
      .min(0, 'must be between 1 and 65535, inclusive')
      .max(65535, 'must be between 1 and 65535, inclusive')
      .optional(),
    containerPort: portNumber,
    protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
    hostIP: z.string().optional(),
  })
  .passthrough();

const keySelector = z
  .object({ name: z.string().optional(), key: requiredString, optional: z.boolean().optional() })
  .passthrough();

const envVar = z
  .object({
    name: z.string().superRefine((value, ctx) => {
      if (value === '') custom(ctx, [], 'Required');
      else if (!ENV_VAR_NAME.test(value)) {
        custom(
          ctx,
          [],
          "a valid environment variable name must consist only of printable ASCII characters other than '='",
        );
      }
    }),
    value: z.string().optional(),
    valueFrom: z
      .object({
        fieldRef: z
          .object({ apiVersion: z.string().optional(), fieldPath: requiredString })
          .passthrough()
          .optional(),
        resourceFieldRef: z
          .object({
            containerName: z.string().optional(),
            resource: requiredString,
            divisor: quantity.optional(),
          })
          .passthrough()
          .optional(),
        configMapKeyRef: keySelector.optional(),
        secretKeyRef: keySelector.optional(),
      })
      .passthrough()
      .superRefine((source, ctx) => {
        const kinds = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'] as const;
        const set = kinds.filter((kind) => source[kind] !== undefined);
        if (set.length === 0)
          custom(
            ctx,
            [],
            'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
          );
        else if (set.length > 1)
          custom(ctx, [], 'may not have more than one field specified at a time');
      })
      .optional(),
  })
  .passthrough()
  .superRefine((env, ctx) => {
    if (env.valueFrom !== undefined && env.value !== undefined && env.value !== '') {
      custom(ctx, ['valueFrom'], 'may not be specified when `value` is not empty');
    }
  });

const volumeMount = z
  .object({
    name: requiredString,
    mountPath: requiredString,
    readOnly: z.boolean().optional(),
    subPath: z.string().optional(),
    subPathExpr: z.string().optional(),
    mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']).optional(),
  })
  .passthrough();

const securityContext = z
  .object({
    capabilities: z
      .object({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() })
      .passthrough()
      .optional(),
    privileged: z.boolean().optional(),
    runAsUser: z.number().int().min(0).max(2147483647).optional(),
    runAsGroup: z.number().int().min(0).max(2147483647).optional(),
    runAsNonRoot: z.boolean().optional(),
    readOnlyRootFilesystem: z.boolean().optional(),
    allowPrivilegeEscalation: z.boolean().optional(),
    procMount: z.enum(['Default', 'Unmasked']).optional(),
    seccompProfile: z
      .object({
        type: z.enum(['RuntimeDefault', 'Unconfined', 'Localhost']),
        localhostProfile: z.string().optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();

const container = z
  .object({
    name: dnsLabel,
    image: z.string().superRefine((value, ctx) => {
      if (value.trim() === '') custom(ctx, [], 'Required');
      else if (value.trim() !== value) {
        custom(ctx, [], 'must not have leading or trailing whitespace');
      }
    }),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    ports: z.array(containerPort).optional(),
    envFrom: z
      .array(
        z
          .object({
            prefix: z.string().optional(),
            configMapRef: z.object({ name: z.string().optional() }).passthrough().optional(),
            secretRef: z.object({ name: z.string().optional() }).passthrough().optional(),
          })
          .passthrough(),
      )
      .optional(),
    env: z.array(envVar).optional(),
    resources: z
      .object({ limits: resourceList.optional(), requests: resourceList.optional() })
      .passthrough()
      .optional(),
    restartPolicy: z.enum(['Always']).optional(),
    volumeMounts: z.array(volumeMount).optional(),
    livenessProbe: probe.optional(),
    readinessProbe: probe.optional(),
    startupProbe: probe.optional(),
    lifecycle: z
      .object({
        postStart: lifecycleHandler.optional(),
        preStop: lifecycleHandler.optional(),
        stopSignal: z.string().optional(),
      })
      .passthrough()
      .optional(),
    terminationMessagePath: z.string().optional(),
    terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']).optional(),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
    securityContext: securityContext.optional(),
    stdin: z.boolean().optional(),
    stdinOnce: z.boolean().optional(),
    tty: z.boolean().optional(),
  })
  .passthrough();
type ContainerInput = z.infer<typeof container>;

const HOST_PATH_TYPES = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
] as const;

const volume = z
  .object({
    name: dnsLabel,
    emptyDir: z
      .object({ medium: z.enum(['', 'Memory']).optional(), sizeLimit: quantity.optional() })
      .passthrough()
      .optional(),
    hostPath: z
      .object({ path: requiredString, type: z.enum(HOST_PATH_TYPES).optional() })
      .passthrough()
      .optional(),
  })
  .passthrough()
  .superRefine((value, ctx) => {
    const sources = Object.keys(value).filter(
      (key) => key !== 'name' && typeof value[key] === 'object' && value[key] !== null,
    );
    if (sources.length === 0) custom(ctx, [], 'must specify a volume type');
    else if (sources.length > 1) {
      custom(ctx, [sources[1] ?? ''], 'may not specify more than 1 volume type');
    }
  });

const toleration = z
  .object({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .passthrough()
  .superRefine((t, ctx) => {
    if ((t.key ?? '') === '' && t.operator !== 'Exists') {
      custom(
        ctx,
        ['operator'],
        'operator must be Exists when `key` is empty, which means "match all values and all keys"',
      );
    }
    if (t.operator === 'Exists' && (t.value ?? '') !== '') {
      custom(ctx, ['value'], "value must be empty when `operator` is 'Exists'");
    }
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') {
      custom(ctx, ['effect'], "effect must be 'NoExecute' when `tolerationSeconds` is set");
    }
  });

const podSpecShape = z
  .object({
    volumes: z.array(volume).optional(),
    initContainers: z.array(container).optional(),
    containers: z.array(container).min(1, 'Required'),
    restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
    terminationGracePeriodSeconds: nonNegativeInt.optional(),
    activeDeadlineSeconds: z
      .number()
      .int()
      .positive('must be between 1 and 2147483647, inclusive')
      .optional(),
    dnsPolicy: z.enum(['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']).optional(),
    nodeSelector: stringMap.optional(),
    serviceAccountName: z.string().optional(),
    automountServiceAccountToken: z.boolean().optional(),
    nodeName: z.string().optional(),
    hostNetwork: z.boolean().optional(),
    hostPID: z.boolean().optional(),
    hostIPC: z.boolean().optional(),
    shareProcessNamespace: z.boolean().optional(),
    securityContext: z
      .object({
        runAsUser: z.number().int().min(0).max(2147483647).optional(),
        runAsGroup: z.number().int().min(0).max(2147483647).optional(),
        runAsNonRoot: z.boolean().optional(),
        supplementalGroups: z.array(z.number().int().min(0)).optional(),
        fsGroup: z.number().int().min(0).optional(),
        sysctls: z
          .array(z.object({ name: requiredString, value: z.string() }).passthrough())
          .optional(),
      })
      .passthrough()
      .optional(),
    hostname: z
      .string()
      .superRefine((value, ctx) => {
        const error = dns1123LabelError(value);
        if (error !== undefined) custom(ctx, [], error);
      })
      .optional(),
    subdomain: z
      .string()
      .superRefine((value, ctx) => {
        const error = dns1123LabelError(value);
        if (error !== undefined) custom(ctx, [], error);
      })
      .optional(),
    setHostnameAsFQDN: z.boolean().optional(),
    dnsConfig: z
      .object({
        nameservers: z.array(z.string()).max(3, 'must not have more than 3 nameservers').optional(),
        searches: z.array(z.string()).max(32, 'must not have more than 32 search paths').optional(),
        options: z
          .array(z.object({ name: requiredString, value: z.string().optional() }).passthrough())
          .optional(),
      })
      .passthrough()
      .optional(),
    tolerations: z.array(toleration).optional(),
    hostAliases: z
      .array(
        z.object({ ip: requiredString, hostnames: z.array(z.string()).optional() }).passthrough(),
      )
      .optional(),
    priorityClassName: z.string().optional(),
    priority: z.number().int().optional(),
    readinessGates: z.array(z.object({ conditionType: requiredString }).passthrough()).optional(),
    runtimeClassName: z.string().optional(),
    enableServiceLinks: z.boolean().optional(),
  })
  .passthrough();
type PodSpecInput = z.infer<typeof podSpecShape>;

const podSpec = podSpecShape.superRefine((spec, ctx) => validateSpecRelations(spec, ctx));

const metadata = z
  .object({
    name: z.string({ required_error: 'Required' }).superRefine((value, ctx) => {
      const error = value === '' ? 'Required' : dns1123SubdomainError(value);
      if (error !== undefined) custom(ctx, [], error);
    }),
    namespace: z
      .string()
      .superRefine((value, ctx) => {
        const error = value === '' ? undefined : dns1123LabelError(value);
        if (error !== undefined) custom(ctx, [], error);
      })
      .optional(),
    uid: z.string().optional(),
    labels: stringMap
      .superRefine((labels, ctx) => {
        for (const [key, value] of Object.entries(labels)) {
          const keyError = qualifiedNameError(key);
          if (keyError !== undefined) custom(ctx, [key], `invalid label key: ${keyError}`);
          if (value.length > 63)
            custom(ctx, [key], 'label value must be no more than 63 characters');
          else if (!LABEL_VALUE.test(value)) {
            custom(
              ctx,
              [key],
              "a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            );
          }
        }
      })
      .optional(),
    annotations: stringMap
      .superRefine((annotations, ctx) => {
        let size = 0;
        for (const [key, value] of Object.entries(annotations)) {
          const keyError = qualifiedNameError(key.toLowerCase());
          if (keyError !== undefined) custom(ctx, [key], `invalid annotation key: ${keyError}`);
          size += Buffer.byteLength(key) + Buffer.byteLength(value);
        }
        if (size > TOTAL_ANNOTATION_SIZE_LIMIT_BYTES) {
          custom(ctx, [], `may not be more than ${TOTAL_ANNOTATION_SIZE_LIMIT_BYTES} bytes`);
        }
      })
      .optional(),
  })
  .passthrough();

const pod = z
  .object({
    apiVersion: z.literal('v1').optional(),
    kind: z.literal('Pod').optional(),
    metadata,
    spec: podSpec,
  })
  .passthrough();

interface ContainerEntry {
  container: ContainerInput;
  path: (string | number)[];
  init: boolean;
}

/** Cross-field rules of a pod spec (names, mounts, probes per container kind, resources, API references). */
function validateSpecRelations(spec: PodSpecInput, ctx: z.RefinementCtx): void {
  // ValidatePodCreate: ephemeral containers are only ever added to a running pod
  // (through the API's ephemeralcontainers subresource), which a static pod is not.
  const ephemeral = (spec as { ephemeralContainers?: unknown }).ephemeralContainers;
  if (Array.isArray(ephemeral) && ephemeral.length > 0)
    custom(ctx, ['ephemeralContainers'], 'Forbidden: cannot be set on create');
  const volumeNames = new Set<string>();
  (spec.volumes ?? []).forEach((v, i) => {
    if (volumeNames.has(v.name))
      custom(ctx, ['volumes', i, 'name'], `Duplicate value: "${v.name}"`);
    volumeNames.add(v.name);
    validateVolumeReferences(v, ['volumes', i], ctx);
  });

  const entries: ContainerEntry[] = [
    ...(spec.initContainers ?? []).map((c, i) => ({
      container: c,
      path: ['initContainers', i],
      init: true,
    })),
    ...spec.containers.map((c, i) => ({ container: c, path: ['containers', i], init: false })),
  ];
  const containerNames = new Set<string>();
  for (const { container: c, path, init } of entries) {
    if (containerNames.has(c.name)) custom(ctx, [...path, 'name'], `Duplicate value: "${c.name}"`);
    containerNames.add(c.name);
    validateContainerRelations(c, path, init, spec, volumeNames, ctx);
  }

  if (spec.dnsPolicy === 'None' && (spec.dnsConfig?.nameservers ?? []).length === 0) {
    custom(
      ctx,
      ['dnsConfig', 'nameservers'],
      'must provide at least one DNS nameserver when `dnsPolicy` is None',
    );
  }
  if ((spec.serviceAccountName ?? '') !== '') {
    custom(ctx, ['serviceAccountName'], 'static pods may not reference serviceaccounts');
  }
  const claims = (spec as Record<string, unknown>)['resourceClaims'];
  if (Array.isArray(claims) && claims.length > 0) {
    custom(ctx, ['resourceClaims'], 'static pods may not reference resourceclaims');
  }
  const pullSecrets = (spec as Record<string, unknown>)['imagePullSecrets'];
  if (Array.isArray(pullSecrets) && pullSecrets.length > 0) {
    custom(ctx, ['imagePullSecrets'], 'static pods may not reference secrets');
  }
}

function validateContainerRelations(
  c: ContainerInput,
  path: (string | number)[],
  init: boolean,
  spec: PodSpecInput,
  volumeNames: ReadonlySet<string>,
  ctx: z.RefinementCtx,
): void {
  const sidecar = init && c.restartPolicy === 'Always';
  if (!init && c.restartPolicy !== undefined) {
    custom(ctx, [...path, 'restartPolicy'], 'may not be set for non-init containers');
  }
  if (init && !sidecar) {
    for (const field of ['livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle'] as const) {
      if (c[field] !== undefined) {
        custom(
          ctx,
          [...path, field],
          'may not be set for init containers without restartPolicy=Always',
        );
      }
    }
  }
  for (const field of ['livenessProbe', 'startupProbe'] as const) {
    const threshold = c[field]?.successThreshold;
    if (threshold !== undefined && threshold !== 1) {
      custom(ctx, [...path, field, 'successThreshold'], 'must be 1');
    }
  }
  if (c.readinessProbe?.terminationGracePeriodSeconds !== undefined) {
    custom(
      ctx,
      [...path, 'readinessProbe', 'terminationGracePeriodSeconds'],
      'must not be set for readinessProbes',
    );
  }

  const portNames = new Set<string>();
  (c.ports ?? []).forEach((p, i) => {
    if (p.name !== undefined) {
      if (portNames.has(p.name))
        custom(ctx, [...path, 'ports', i, 'name'], `Duplicate value: "${p.name}"`);
      portNames.add(p.name);
    }
    if (spec.hostNetwork === true && (p.hostPort ?? 0) !== 0 && p.hostPort !== p.containerPort) {
      custom(
        ctx,
        [...path, 'ports', i, 'hostPort'],
        'must match `containerPort` when `hostNetwork` is true',
      );
    }
  });

  const mountPaths = new Set<string>();
  (c.volumeMounts ?? []).forEach((m, i) => {
    if (m.name !== '' && !volumeNames.has(m.name)) {
      custom(ctx, [...path, 'volumeMounts', i, 'name'], `Not found: "${m.name}"`);
    }
    if (mountPaths.has(m.mountPath)) {
      custom(ctx, [...path, 'volumeMounts', i, 'mountPath'], 'must be unique');
    }
    mountPaths.add(m.mountPath);
  });

  const requests = c.resources?.requests ?? {};
  const limits = c.resources?.limits ?? {};
  for (const [name, request] of Object.entries(requests)) {
    const limit = limits[name];
    if (limit === undefined) continue;
    const r = parseQuantity(request);
    const l = parseQuantity(limit);
    if (r !== undefined && l !== undefined && compareQuantities(r, l) > 0) {
      custom(
        ctx,
        [...path, 'resources', 'requests', name],
        `must be less than or equal to ${name} limit of ${limit}`,
      );
    }
  }

  (c.env ?? []).forEach((e, i) => {
    if (e.valueFrom?.configMapKeyRef !== undefined) {
      custom(
        ctx,
        [...path, 'env', i, 'valueFrom', 'configMapKeyRef'],
        'static pods may not reference configmaps',
      );
    }
    if (e.valueFrom?.secretKeyRef !== undefined) {
      custom(
        ctx,
        [...path, 'env', i, 'valueFrom', 'secretKeyRef'],
        'static pods may not reference secrets',
      );
    }
  });
  (c.envFrom ?? []).forEach((e, i) => {
    if (e.configMapRef !== undefined) {
      custom(
        ctx,
        [...path, 'envFrom', i, 'configMapRef'],
        'static pods may not reference configmaps',
      );
    }
    if (e.secretRef !== undefined) {
      custom(ctx, [...path, 'envFrom', i, 'secretRef'], 'static pods may not reference secrets');
    }
  });
}

/** Volume sources that refer to API objects, which static pods may not use. */
const API_REFERENCING_VOLUMES: Readonly<Record<string, string>> = {
  secret: 'secrets',
  configMap: 'configmaps',
  persistentVolumeClaim: 'persistentvolumeclaims',
  ephemeral: 'persistentvolumeclaims',
};
const API_REFERENCING_PROJECTIONS: Readonly<Record<string, string>> = {
  secret: 'secrets',
  configMap: 'configmaps',
  serviceAccountToken: 'serviceaccounts',
  clusterTrustBundle: 'clustertrustbundles',
};

function validateVolumeReferences(
  v: Record<string, unknown>,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  for (const [source, resource] of Object.entries(API_REFERENCING_VOLUMES)) {
    if (v[source] !== undefined)
      custom(ctx, [...path, source], `static pods may not reference ${resource}`);
  }
  const projected = v['projected'];
  if (typeof projected === 'object' && projected !== null) {
    const sources = (projected as Record<string, unknown>)['sources'];
    if (Array.isArray(sources)) {
      sources.forEach((s: unknown, i) => {
        if (typeof s !== 'object' || s === null) return;
        for (const [kind, resource] of Object.entries(API_REFERENCING_PROJECTIONS)) {
          if ((s as Record<string, unknown>)[kind] !== undefined) {
            custom(
              ctx,
              [...path, 'projected', 'sources', i, kind],
              `static pods may not reference ${resource}`,
            );
          }
        }
      });
    }
  }
}

/** Formats a zod path the Kubernetes way: `spec.containers[0].image`, `metadata.labels[app.kubernetes.io/name]`. */
export function formatFieldPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${segment}]`;
  }
  return out;
}

/** The outcome of {@link validatePodManifest}. */
export type PodValidationResult =
  | { readonly ok: true; readonly pod: k8s.Pod }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * Validates a decoded pod object (its `apiVersion`/`kind`, when present, must be
 * `v1`/`Pod`). On success returns a copy of the pod with quantities normalised to
 * strings; on failure every problem found, each as `<field path>: <reason>`.
 */
export function validatePodManifest(value: unknown): PodValidationResult {
  const result = pod.safeParse(value);
  if (result.success) return { ok: true, pod: result.data as unknown as k8s.Pod };
  const errors = result.error.issues.map((issue) => {
    const field = formatFieldPath(issue.path);
    return field === '' ? issue.message : `${field}: ${issue.message}`;
  });
  return { ok: false, errors: [...new Set(errors)] };
}
