/**
 * The kubelet's configuration file (`KubeletConfiguration`, API group
 * `kubelet.config.k8s.io/v1beta1`), read with the kubelet's own field names, defaults
 * (`pkg/kubelet/apis/config/v1beta1/defaults.go`) and strictness: an unknown field, a
 * value of the wrong type or a malformed duration is an error naming the field.
 */
import { isIP } from 'node:net';
import { InvalidConfigError, parseQuantity } from '@nodeagent/core';
import { sysctlNamespace } from '@nodeagent/pod-lifecycle';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { GoDurationError, formatGoDuration, parseGoDurationMs } from './go-duration.js';
import { closestName } from './suggest.js';

/** `apiVersion` of the configuration file. */
export const kubeletConfigApiVersion = 'kubelet.config.k8s.io/v1beta1';
/** `kind` of the configuration file. */
export const kubeletConfigKind = 'KubeletConfiguration';

/**
 * The kubelet's hard eviction thresholds when `evictionHard` is not set (Linux).
 * Setting `evictionHard` replaces them, unless `mergeDefaultEvictionSettings` is true.
 */
export const defaultEvictionHard: Readonly<Record<string, string>> = Object.freeze({
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
  'imagefs.inodesFree': '5%',
});

// ---------------------------------------------------------------------------
// Field types

/**
 * A `metav1.Duration`: a Go duration string, parsed to milliseconds. (The sign check
 * lives in the transform: a zod refinement would still run after a parse failure.)
 */
function goDuration(allowNegative: boolean) {
  return z
    .string({ invalid_type_error: 'expected a duration string such as "1m0s" or "300ms"' })
    .transform((text, ctx) => {
      try {
        const ms = parseGoDurationMs(text);
        if (ms < 0 && !allowNegative) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            message: `must not be negative, got ${JSON.stringify(text)}`,
          });
          return z.NEVER;
        }
        return ms;
      } catch (err) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: err instanceof GoDurationError ? err.message : String(err),
        });
        return z.NEVER;
      }
    });
}
const duration = goDuration(true);
const nonNegativeDuration = goDuration(false);

const int32 = z
  .number()
  .int()
  .min(-(2 ** 31))
  .max(2 ** 31 - 1);
const nonNegativeInt32 = int32.min(0, 'must not be negative');
const int64 = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const port = z.number().int().min(0).max(65535, 'must be between 0 and 65535');
const percent = z.number().int().min(0).max(100, 'must be between 0 and 100');

const ipAddress = z.string().refine(
  (s) => isIP(s) !== 0,
  (s) => ({ message: `invalid IP address ${JSON.stringify(s)}` }),
);

const stringMap = z.record(z.string());

/** A kubelet field nodeagent reads but does not act on (yet); any value is accepted. */
const notImplemented = z.unknown().optional();

/**
 * Fields of the kubelet's v1beta1 `KubeletConfiguration` that nodeagent accepts, so
 * existing kubelet configuration files load, but does not act on. Setting one logs
 * a warning instead of failing.
 */
export const notImplementedKubeletFields = [
  'tlsCurvePreferences',
  'imagePullCredentialsVerificationPolicy',
  'preloadedImagesVerificationAllowlist',
  'enableContentionProfiling',
  'volumeStatsAggPeriod',
  'kubeletCgroups',
  'systemCgroups',
  'cpuManagerPolicy',
  'singleProcessOOMKill',
  'cpuManagerPolicyOptions',
  'cpuManagerReconcilePeriod',
  'draManagerReconcilePeriod',
  'memoryManagerPolicy',
  'topologyManagerPolicy',
  'topologyManagerScope',
  'topologyManagerPolicyOptions',
  'qosReserved',
  'hairpinMode',
  'podCIDR',
  'runOnce',
  'maxOpenFiles',
  'contentType',
  'podsPerCore',
  'enableControllerAttachDetach',
  'iptablesMasqueradeBit',
  'iptablesDropBit',
  'featureGates',
  'failSwapOn',
  'memorySwap',
  'reservedSystemCPUs',
  'showHiddenMetricsForVersion',
  'systemReservedCgroup',
  'kubeReservedCgroup',
  'enforceNodeAllocatable',
  'volumePluginDir',
  'providerID',
  'kernelMemcgNotification',
  'enableSystemLogHandler',
  'enableSystemLogQuery',
  'shutdownGracePeriodByPodPriority',
  'crashLoopBackOff',
  'reservedMemory',
  'enableProfilingHandler',
  'enableDebugFlagsHandler',
  'memoryThrottlingFactor',
  'memoryReservationPolicy',
  'tracing',
  'failCgroupV1',
  'userNamespaces',
  'podHousekeepingPeriod',
  'cpuCFSQuota',
  'cpuCFSQuotaPeriod',
  'oomScoreAdj',
  'enableDebuggingHandlers',
  'registryPullQPS',
  'registryBurst',
] as const;

// ---------------------------------------------------------------------------
// Sections

const authenticationSchema = z
  .object({
    x509: z
      .object({ clientCAFile: z.string().default('') })
      .strict()
      .default({}),
    webhook: z
      .object({
        enabled: z.boolean().default(true),
        cacheTTL: nonNegativeDuration.default('2m'),
      })
      .strict()
      .default({}),
    anonymous: z
      .object({ enabled: z.boolean().default(false) })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

const authorizationSchema = z
  .object({
    mode: z.enum(['AlwaysAllow', 'Webhook']).default('Webhook'),
    webhook: z
      .object({
        cacheAuthorizedTTL: nonNegativeDuration.default('5m'),
        cacheUnauthorizedTTL: nonNegativeDuration.default('30s'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

/** component-base `LoggingConfiguration` (the kubelet's `logging:` section). */
const loggingSchema = z
  .object({
    format: z.enum(['text', 'json']).default('text'),
    /** Accepted as a duration string or, as component-base also does, nanoseconds. */
    flushFrequency: z
      .union([
        duration,
        z
          .number()
          .int()
          .min(0)
          .transform((ns) => ns / 1e6),
      ])
      .default('5s'),
    verbosity: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    vmodule: z
      .array(z.object({ filePattern: z.string(), verbosity: z.number().int().min(0) }).strict())
      .default([]),
    options: z.record(z.unknown()).default({}),
  })
  .strict()
  .default({});

const fields = {
  apiVersion: z.literal(kubeletConfigApiVersion),
  kind: z.literal(kubeletConfigKind),

  enableServer: z.boolean().default(true),
  staticPodPath: z.string().default(''),
  podLogsDir: z
    .string()
    .refine((p) => p.startsWith('/'), 'must be an absolute path')
    .default('/var/log/pods'),
  syncFrequency: nonNegativeDuration.default('1m'),
  fileCheckFrequency: nonNegativeDuration.default('20s'),
  httpCheckFrequency: nonNegativeDuration.default('20s'),
  staticPodURL: z.string().default(''),
  staticPodURLHeader: z.record(z.array(z.string())).default({}),
  address: ipAddress.default('0.0.0.0'),
  port: port.refine((p) => p > 0, 'must be between 1 and 65535').default(10250),
  readOnlyPort: port.default(0),
  tlsCertFile: z.string().default(''),
  tlsPrivateKeyFile: z.string().default(''),
  rotateCertificates: z.boolean().default(false),
  serverTLSBootstrap: z.boolean().default(false),
  tlsCipherSuites: z
    .array(
      z
        .string()
        .regex(
          /^TLS_[A-Z0-9_]+$/,
          'must be a cipher suite name such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
        ),
    )
    .default([]),
  tlsMinVersion: z
    .enum(['', 'VersionTLS10', 'VersionTLS11', 'VersionTLS12', 'VersionTLS13'], {
      errorMap: () => ({
        message: 'must be one of VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13',
      }),
    })
    .default(''),
  authentication: authenticationSchema,
  authorization: authorizationSchema,
  healthzPort: port.default(10248),
  healthzBindAddress: ipAddress.default('127.0.0.1'),
  clusterDomain: z.string().default(''),
  clusterDNS: z.array(ipAddress).default([]),
  nodeStatusUpdateFrequency: nonNegativeDuration.optional(),
  nodeStatusReportFrequency: nonNegativeDuration.optional(),
  nodeLeaseDurationSeconds: nonNegativeInt32.default(40),
  imageMinimumGCAge: nonNegativeDuration.default('2m'),
  imageMaximumGCAge: nonNegativeDuration.default('0s'),
  imageGCHighThresholdPercent: percent.default(85),
  imageGCLowThresholdPercent: percent.default(80),
  cgroupRoot: z.string().default(''),
  cgroupsPerQOS: z.boolean().default(true),
  cgroupDriver: z.enum(['cgroupfs', 'systemd']).default('cgroupfs'),
  runtimeRequestTimeout: nonNegativeDuration.default('2m'),
  maxPods: nonNegativeInt32.default(110),
  podPidsLimit: int64.default(-1),
  resolvConf: z.string().default('/etc/resolv.conf'),
  serializeImagePulls: z.boolean().optional(),
  maxParallelImagePulls: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31 - 1)
    .nullable()
    .default(null),
  evictionHard: stringMap.optional(),
  evictionSoft: stringMap.default({}),
  evictionSoftGracePeriod: stringMap.default({}),
  evictionPressureTransitionPeriod: nonNegativeDuration.default('5m'),
  evictionMaxPodGracePeriod: int32.default(0),
  localStorageCapacityIsolation: z.boolean().default(true),
  evictionMinimumReclaim: stringMap.default({}),
  mergeDefaultEvictionSettings: z.boolean().default(false),
  containerLogMaxSize: z
    .string()
    .refine((q) => {
      try {
        parseQuantity(q);
        return true;
      } catch {
        return false;
      }
    }, 'must be a quantity such as "10Mi"')
    .default('10Mi'),
  containerLogMaxFiles: z.number().int().min(2, 'must be at least 2').default(5),
  containerLogMaxWorkers: z.number().int().min(1, 'must be at least 1').default(1),
  containerLogMonitorInterval: nonNegativeDuration
    .refine((ms) => typeof ms !== 'number' || ms >= 3_000, 'must be at least 3s')
    .default('10s'),
  logging: loggingSchema,
  shutdownGracePeriod: nonNegativeDuration.default('0s'),
  shutdownGracePeriodCriticalPods: nonNegativeDuration.default('0s'),
  kubeAPIQPS: z.number().min(0, 'must not be negative').default(50),
  kubeAPIBurst: nonNegativeInt32.default(100),
  eventRecordQPS: z.number().min(0, 'must not be negative').default(50),
  eventBurst: nonNegativeInt32.default(100),
  registerNode: z.boolean().default(true),
  registerWithTaints: z
    .array(
      z
        .object({
          key: z.string().min(1, 'must not be empty'),
          value: z.string().optional(),
          effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
        })
        .strict(),
    )
    .default([]),
  nodeStatusMaxImages: int32.min(-1, 'must be -1 (no limit) or more').default(50),
  kubeReserved: stringMap.default({}),
  systemReserved: stringMap.default({}),
  configMapAndSecretChangeDetectionStrategy: z
    .enum(['Get', 'Cache', 'Watch'], {
      errorMap: () => ({ message: 'must be one of "Get", "Cache" or "Watch" (the default)' }),
    })
    .default('Watch'),
  containerRuntimeEndpoint: z.string().min(1).default('unix:///run/containerd/containerd.sock'),
  imageServiceEndpoint: z.string().default(''),
  allowedUnsafeSysctls: z
    .array(
      z
        .string()
        .min(1, 'must not be empty')
        .refine((s) => sysctlNamespace(s) !== undefined, {
          message:
            'is not known to be namespaced (only kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* and net.* may be allowed)',
        }),
    )
    .default([]),
  seccompDefault: z.boolean().default(false),
  protectKernelDefaults: z.boolean().default(false),
  makeIPTablesUtilChains: z.boolean().default(true),
  streamingConnectionIdleTimeout: nonNegativeDuration.default('4h'),
};

/** One of {@link notImplementedKubeletFields}. */
export type NotImplementedKubeletField = (typeof notImplementedKubeletFields)[number];

const notImplementedShape = Object.fromEntries(
  notImplementedKubeletFields.map((name) => [name, notImplemented]),
) as Record<NotImplementedKubeletField, typeof notImplemented>;

const kubeletConfigSchema = z
  .object(fields)
  .extend(notImplementedShape)
  .strict()
  .superRefine((c, ctx) => {
    if (c.imageGCLowThresholdPercent >= c.imageGCHighThresholdPercent) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['imageGCLowThresholdPercent'],
        message: `must be less than imageGCHighThresholdPercent (${c.imageGCLowThresholdPercent} >= ${c.imageGCHighThresholdPercent})`,
      });
    }
    if (
      c.serializeImagePulls === true &&
      c.maxParallelImagePulls !== null &&
      c.maxParallelImagePulls > 1
    ) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['maxParallelImagePulls'],
        message: 'must not be greater than 1 when serializeImagePulls is true',
      });
    }
    if (c.shutdownGracePeriodCriticalPods > c.shutdownGracePeriod) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['shutdownGracePeriodCriticalPods'],
        message: 'must not be greater than shutdownGracePeriod',
      });
    }
  });

type ParsedSchema = z.output<typeof kubeletConfigSchema>;

// ---------------------------------------------------------------------------
// The effective configuration

/** The `authentication` section (served by the :10250 server once it exists). */
export interface KubeletAuthentication {
  x509: { clientCAFile: string };
  /** Bearer tokens checked with TokenReview. Default: enabled, results cached 2 min. */
  webhook: { enabled: boolean; cacheTTL: number };
  /** Anonymous requests. Default: disabled. */
  anonymous: { enabled: boolean };
}

/** The `authorization` section. Default: mode `Webhook`, 5 min / 30 s caches. */
export interface KubeletAuthorization {
  mode: 'AlwaysAllow' | 'Webhook';
  webhook: { cacheAuthorizedTTL: number; cacheUnauthorizedTTL: number };
}

/** The `logging` section (component-base `LoggingConfiguration`). */
export interface KubeletLogging {
  /** `text` (default) or `json`. */
  format: 'text' | 'json';
  /** How often buffered logs are flushed, in ms. Default 5 s. */
  flushFrequency: number;
  /** klog verbosity (`--v`): 0 (default) prints info and above, 4 and up adds debug. */
  verbosity: number;
  vmodule: { filePattern: string; verbosity: number }[];
  options: Record<string, unknown>;
}

/**
 * The effective KubeletConfiguration: every field present, defaults applied as the
 * kubelet applies them. Durations are in **milliseconds** (the file holds Go
 * duration strings such as `"1m0s"`).
 */
export interface KubeletConfiguration {
  apiVersion: typeof kubeletConfigApiVersion;
  kind: typeof kubeletConfigKind;
  /** Serve the kubelet API on `address:port`. Default true. */
  enableServer: boolean;
  /** Directory (or single file) of static pod manifests; `''` disables the file source. */
  staticPodPath: string;
  /** Root of container logs (`<podLogsDir>/<ns>_<name>_<uid>/<container>/<n>.log`). Default `/var/log/pods`. */
  podLogsDir: string;
  /** Longest time between two syncs of a pod with its spec, ms. Default 1 min. */
  syncFrequency: number;
  /** How often the static pod directory is re-read in full, ms. Default 20 s. */
  fileCheckFrequency: number;
  /** How often `staticPodURL` is polled, ms. Default 20 s. */
  httpCheckFrequency: number;
  /** URL serving static pod manifests; `''` disables the HTTP source. */
  staticPodURL: string;
  /** HTTP headers sent with requests to `staticPodURL`. */
  staticPodURLHeader: Record<string, string[]>;
  /** IP the kubelet API serves on. Default `0.0.0.0`. */
  address: string;
  /** Port of the authenticated kubelet API. Default 10250. */
  port: number;
  /** Port of the unauthenticated read-only API; 0 (default) disables it. */
  readOnlyPort: number;
  tlsCertFile: string;
  tlsPrivateKeyFile: string;
  /** Rotate the API client certificate through CSRs before it expires (kubelet `--rotate-certificates`). Default false. */
  rotateCertificates: boolean;
  /**
   * Obtain (and rotate) the :10250 serving certificate through a CSR with signer
   * `kubernetes.io/kubelet-serving` instead of a self-signed one. Default false.
   */
  serverTLSBootstrap: boolean;
  /** Go/IANA names of the TLS cipher suites the :10250 server allows; `[]` (default) for the runtime's defaults. */
  tlsCipherSuites: string[];
  /** Lowest TLS version of the :10250 server (`VersionTLS12`, `VersionTLS13`…); `''` (default) for the runtime's default. */
  tlsMinVersion: '' | 'VersionTLS10' | 'VersionTLS11' | 'VersionTLS12' | 'VersionTLS13';
  authentication: KubeletAuthentication;
  authorization: KubeletAuthorization;
  /** Port of the localhost healthz endpoint; 0 disables it. Default 10248. */
  healthzPort: number;
  /** Default `127.0.0.1`. */
  healthzBindAddress: string;
  /** Cluster DNS domain added to pods' search paths; `''` for none. */
  clusterDomain: string;
  /** Cluster DNS server IPs given to pods with `dnsPolicy: ClusterFirst`. */
  clusterDNS: string[];
  /** How often node status is computed, ms. Default 10 s. */
  nodeStatusUpdateFrequency: number;
  /** How often unchanged node status is posted, ms. Default 5 min, or nodeStatusUpdateFrequency when that is set. */
  nodeStatusReportFrequency: number;
  /** Node Lease duration, s. Default 40. */
  nodeLeaseDurationSeconds: number;
  /** Unused images younger than this are never collected, ms. Default 2 min. */
  imageMinimumGCAge: number;
  /** Unused images older than this are collected; 0 (default) disables it, ms. */
  imageMaximumGCAge: number;
  /** Image GC starts above this disk usage, %. Default 85. */
  imageGCHighThresholdPercent: number;
  /** Image GC frees down to this disk usage, %. Default 80. */
  imageGCLowThresholdPercent: number;
  /** Root cgroup of pods; `''` for the runtime's default. */
  cgroupRoot: string;
  /** Build the QoS cgroup hierarchy (`kubepods`, `burstable`, `besteffort`). Default true. */
  cgroupsPerQOS: boolean;
  /** `cgroupfs` (default) or `systemd`. */
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** Deadline of runtime calls except pull/logs/exec/attach, ms. Default 2 min. */
  runtimeRequestTimeout: number;
  /** Most pods this node runs. Default 110. */
  maxPods: number;
  /**
   * Unsafe sysctls pods may set besides the safe ones (names, or prefixes ending in
   * `*`), all namespaced. Default none: such pods are rejected (`SysctlForbidden`).
   */
  allowedUnsafeSysctls: string[];
  /** Most PIDs per pod; -1 (default) for no pod-level limit. */
  podPidsLimit: number;
  /** Resolver file pods' DNS is based on; `''` disables DNS for pods. Default `/etc/resolv.conf`. */
  resolvConf: string;
  /** Pull one image at a time. Default true (false when maxParallelImagePulls > 1). */
  serializeImagePulls: boolean;
  /** Most parallel image pulls; null (default) for no limit. */
  maxParallelImagePulls: number | null;
  /** Hard eviction thresholds by signal. Default {@link defaultEvictionHard}. */
  evictionHard: Record<string, string>;
  /** Soft eviction thresholds by signal (each needs a grace period). */
  evictionSoft: Record<string, string>;
  /** Grace periods of the soft thresholds (Go durations) by signal. */
  evictionSoftGracePeriod: Record<string, string>;
  /** How long a pressure condition stays after the last threshold crossing, ms. Default 5 min. */
  evictionPressureTransitionPeriod: number;
  /** Most grace (s) a pod evicted for a soft threshold gets; 0 (default): its own. */
  evictionMaxPodGracePeriod: number;
  /**
   * Evict pods over their emptyDir `sizeLimit` or `ephemeral-storage` limits (kubelet
   * LocalStorageCapacityIsolation). Default true.
   */
  localStorageCapacityIsolation: boolean;
  /** Minimum amount reclaimed past a threshold, by signal. */
  evictionMinimumReclaim: Record<string, string>;
  mergeDefaultEvictionSettings: boolean;
  /** Rotate a container log above this size. Default `10Mi`. */
  containerLogMaxSize: string;
  /** Keep this many log files per container. Default 5. */
  containerLogMaxFiles: number;
  /** Containers whose logs are rotated at the same time. Default 1. */
  containerLogMaxWorkers: number;
  /** Period of the log rotation passes, ms. Default 10 s; at least 3 s. */
  containerLogMonitorInterval: number;
  logging: KubeletLogging;
  /**
   * Graceful node shutdown delay, ms; 0 (default) disables it. Checked but not acted on
   * (no systemd-logind inhibitor lock): a value above 0 is reported as ignored.
   */
  shutdownGracePeriod: number;
  /** Part of shutdownGracePeriod reserved for critical pods, ms. Default 0. */
  shutdownGracePeriodCriticalPods: number;
  /** Requests per second to the API server. Default 50. */
  kubeAPIQPS: number;
  /** Burst of requests to the API server. Default 100. */
  kubeAPIBurst: number;
  /** Events per second written to the API server; 0 means no limit. Default 50. */
  eventRecordQPS: number;
  /** Burst of events. Default 100. */
  eventBurst: number;
  /** Register the Node with the API server. Default true. */
  registerNode: boolean;
  /** Taints the Node is registered with. */
  registerWithTaints: {
    key: string;
    value?: string | undefined;
    effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  }[];
  /** Most images listed in node status; -1 for no limit. Default 50. */
  nodeStatusMaxImages: number;
  /** Resources reserved for Kubernetes daemons (`cpu`, `memory`, `ephemeral-storage`, `pid`). */
  kubeReserved: Record<string, string>;
  /** Resources reserved for the OS. */
  systemReserved: Record<string, string>;
  /** How ConfigMaps and Secrets used by pods are kept current: `Watch`. */
  configMapAndSecretChangeDetectionStrategy: 'Get' | 'Cache' | 'Watch';
  /** CRI runtime endpoint. Default `unix:///run/containerd/containerd.sock`. */
  containerRuntimeEndpoint: string;
  /** CRI image endpoint; `''` (default) means containerRuntimeEndpoint. */
  imageServiceEndpoint: string;
  /**
   * Run containers whose pod and container security contexts name no seccomp
   * profile with the runtime's default profile (`RuntimeDefault`) instead of
   * `Unconfined` (kubelet `--seccomp-default`; CIS 4.2.14 wants true). Default false.
   */
  seccompDefault: boolean;
  /**
   * At start, refuse to run when a kernel tunable the kubelet depends on differs
   * from the kubelet's value (kubelet `--protect-kernel-defaults`, CIS 1.8 4.2.6);
   * when false (default) the agent sets them itself, as the kubelet does. See
   * `kubeletKernelTunables` for the list.
   */
  protectKernelDefaults: boolean;
  /**
   * Create the kubelet's iptables utility chains at start, for IPv4 and IPv6 where
   * the binary works (kubelet `--make-iptables-util-chains`, CIS 4.2.6 wants true):
   * `KUBE-IPTABLES-HINT` (mangle), `KUBE-FIREWALL` (filter, jumped to from INPUT and
   * OUTPUT, dropping non-local traffic to 127.0.0.0/8; IPv4 only) and the
   * `KUBE-KUBELET-CANARY` chains, checked every minute; all re-created when the
   * canary is flushed. Default true. See `iptables-util-chains.ts`.
   */
  makeIPTablesUtilChains: boolean;
  /**
   * Longest idle time of an exec/attach/port-forward stream through the node API
   * before it is closed, ms; 0 means no timeout (CIS 4.2.5 wants it not 0).
   * Default 4 h (kubelet `--streaming-connection-idle-timeout`).
   */
  streamingConnectionIdleTimeout: number;
}

/** A parsed configuration file: the effective configuration and what was ignored. */
export interface ParsedKubeletConfiguration {
  config: KubeletConfiguration;
  /** Kubelet fields present in the file that nodeagent does not act on (warned about). */
  ignoredFields: string[];
}

// ---------------------------------------------------------------------------
// Parsing

/** The default configuration: what an empty `KubeletConfiguration` turns into. */
export function defaultKubeletConfiguration(): KubeletConfiguration {
  return parseKubeletConfigurationObject({
    apiVersion: kubeletConfigApiVersion,
    kind: kubeletConfigKind,
  }).config;
}

function formatPath(path: readonly (string | number)[]): string {
  let text = kubeletConfigKind;
  for (const part of path) text += typeof part === 'number' ? `[${part}]` : `.${part}`;
  return text;
}

/** The keys a strict object schema accepts at `path` (for "did you mean" hints). */
function knownKeysAt(schema: z.ZodTypeAny, path: readonly (string | number)[]): string[] {
  let current: z.ZodTypeAny | undefined = schema;
  const unwrap = (s: z.ZodTypeAny): z.ZodTypeAny => {
    let t = s;
    for (;;) {
      if (t instanceof z.ZodDefault || t instanceof z.ZodOptional || t instanceof z.ZodNullable) {
        t = (t._def as { innerType: z.ZodTypeAny }).innerType;
      } else if (t instanceof z.ZodEffects) {
        t = (t._def as { schema: z.ZodTypeAny }).schema;
      } else return t;
    }
  };
  for (const part of path) {
    if (!current) return [];
    const obj = unwrap(current);
    if (obj instanceof z.ZodObject && typeof part === 'string') {
      current = (obj.shape as Record<string, z.ZodTypeAny>)[part];
    } else if (obj instanceof z.ZodArray && typeof part === 'number') {
      current = (obj._def as { type: z.ZodTypeAny }).type;
    } else return [];
  }
  const target = current ? unwrap(current) : undefined;
  return target instanceof z.ZodObject ? Object.keys(target.shape as object) : [];
}

/**
 * Hints for top-level names people bring from kubelet flags or other agents, where
 * spelling distance alone would suggest the wrong field.
 */
const topLevelHints: Readonly<Record<string, string>> = {
  staticPodDir: 'did you mean "staticPodPath"?',
  podManifestPath: 'did you mean "staticPodPath"? (--pod-manifest-path is its flag)',
  manifestPath: 'did you mean "staticPodPath"?',
  runtimeEndpoint: 'did you mean "containerRuntimeEndpoint"?',
  containerRuntime: 'did you mean "containerRuntimeEndpoint"?',
  rootDir: 'not a config file field: use the --root-dir flag',
  hostnameOverride: 'not a config file field: use the --hostname-override flag',
  nodeIP: 'not a config file field: use the --node-ip flag',
  nodeIp: 'not a config file field: use the --node-ip flag',
  kubeconfig: 'not a config file field: use the --kubeconfig flag',
  v: 'did you mean "logging.verbosity"?',
  verbosity: 'did you mean "logging.verbosity"?',
  logFormat: 'did you mean "logging.format"?',
};

function issueMessages(issue: z.ZodIssue): string[] {
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    const known = knownKeysAt(kubeletConfigSchema, issue.path);
    return issue.keys.map((key) => {
      const alias = issue.path.length === 0 ? topLevelHints[key] : undefined;
      const closest = closestName(key, known);
      const hint = alias ?? (closest ? `did you mean ${JSON.stringify(closest)}?` : undefined);
      return `${formatPath(issue.path)}: unknown field ${JSON.stringify(key)}${hint ? ` (${hint})` : ''}`;
    });
  }
  if (issue.code === z.ZodIssueCode.invalid_literal) {
    return [
      `${formatPath(issue.path)}: must be ${JSON.stringify(issue.expected)}, got ${JSON.stringify(issue.received)}`,
    ];
  }
  if (issue.code === z.ZodIssueCode.invalid_union) {
    // Report the branch that got furthest (durations accept a string or nanoseconds).
    const first = issue.unionErrors[0]?.issues[0];
    if (first) return issueMessages(first);
  }
  return [`${formatPath(issue.path)}: ${issue.message}`];
}

/**
 * Validates a decoded configuration object and applies the kubelet's defaults.
 *
 * @param source named in error messages (the file path).
 * @throws InvalidConfigError listing every problem, one per line, each naming the
 *   field path (`KubeletConfiguration.fileCheckFrequency: invalid duration "20 seconds"`).
 */
export function parseKubeletConfigurationObject(
  raw: unknown,
  source = 'configuration',
): ParsedKubeletConfiguration {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new InvalidConfigError(
      `${source}: expected a ${kubeletConfigKind} object (apiVersion: ${kubeletConfigApiVersion}), got ${raw === null ? 'nothing' : Array.isArray(raw) ? 'a list' : typeof raw}`,
    );
  }
  const result = kubeletConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.flatMap(issueMessages);
    throw new InvalidConfigError(
      `${source}: invalid ${kubeletConfigKind}:\n  ${problems.join('\n  ')}`,
      {
        detail: problems.join('\n'),
      },
    );
  }
  const ignoredFields: string[] = notImplementedKubeletFields.filter((name) => name in raw);
  // Graceful node shutdown needs systemd-logind's inhibitor locks (D-Bus), which
  // nodeagent does not take: the fields are checked, but a set period has no effect.
  for (const field of ['shutdownGracePeriod', 'shutdownGracePeriodCriticalPods'] as const) {
    if (result.data[field] > 0) ignoredFields.push(field);
  }
  return { config: applyDependentDefaults(result.data), ignoredFields };
}

/** Defaults that depend on other fields, as `SetDefaults_KubeletConfiguration` computes them. */
function applyDependentDefaults(parsed: ParsedSchema): KubeletConfiguration {
  const {
    nodeStatusUpdateFrequency,
    nodeStatusReportFrequency,
    serializeImagePulls,
    evictionHard,
    ...rest
  } = parsed;
  const known = { ...rest };
  for (const name of notImplementedKubeletFields) delete known[name];
  // A zero duration means "unset" to the kubelet, which then applies the default.
  const updateMs = nodeStatusUpdateFrequency || undefined;
  const config: KubeletConfiguration = {
    ...(known as Omit<typeof rest, NotImplementedKubeletField>),
    // A negative limit means "none", like nil (kubelet: -1).
    podPidsLimit: known.podPidsLimit < 0 ? -1 : known.podPidsLimit,
    nodeStatusUpdateFrequency: updateMs ?? 10_000,
    nodeStatusReportFrequency: nodeStatusReportFrequency || (updateMs ?? 300_000),
    serializeImagePulls:
      serializeImagePulls ??
      !(known.maxParallelImagePulls !== null && known.maxParallelImagePulls >= 2),
    evictionHard:
      evictionHard === undefined
        ? { ...defaultEvictionHard }
        : known.mergeDefaultEvictionSettings
          ? { ...defaultEvictionHard, ...evictionHard }
          : { ...evictionHard },
  };
  return config;
}

/**
 * Parses the text of a configuration file, YAML or JSON (JSON is YAML), with the
 * kubelet's strictness: one document, no duplicate keys, no unknown fields.
 *
 * @throws InvalidConfigError naming the file and each bad field.
 */
export function parseKubeletConfiguration(
  text: string,
  source = 'configuration',
): ParsedKubeletConfiguration {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new InvalidConfigError(
      `${source}: not valid YAML or JSON: ${first?.message ?? 'parse error'}`,
      {
        cause: first,
      },
    );
  }
  if (text.trim() === '') {
    throw new InvalidConfigError(
      `${source}: the file is empty; expected apiVersion: ${kubeletConfigApiVersion} and kind: ${kubeletConfigKind}`,
    );
  }
  return parseKubeletConfigurationObject(doc.toJS() as unknown, source);
}

/** The top-level fields held in milliseconds that the v1beta1 API spells as Go durations. */
const durationFields = [
  'syncFrequency',
  'fileCheckFrequency',
  'httpCheckFrequency',
  'nodeStatusUpdateFrequency',
  'nodeStatusReportFrequency',
  'imageMinimumGCAge',
  'imageMaximumGCAge',
  'runtimeRequestTimeout',
  'evictionPressureTransitionPeriod',
  'containerLogMonitorInterval',
  'shutdownGracePeriod',
  'shutdownGracePeriodCriticalPods',
  'streamingConnectionIdleTimeout',
] as const satisfies readonly (keyof KubeletConfiguration)[];

/**
 * The effective configuration as the kubelet's `/configz` shows it: the v1beta1 JSON
 * form (durations as Go duration strings such as `"1m0s"`) without `kind` and
 * `apiVersion`, which the kubelet's converted copy does not carry — what
 * `kubeletconfigv1beta1.KubeletConfiguration` decodes.
 */
export function versionedKubeletConfiguration(
  config: KubeletConfiguration,
): Record<string, unknown> {
  const { apiVersion: _apiVersion, kind: _kind, ...rest } = structuredClone(config);
  const out: Record<string, unknown> = rest;
  for (const field of durationFields) {
    const ms = config[field];
    if (typeof ms === 'number') out[field] = formatGoDuration(ms);
  }
  out.authentication = {
    ...config.authentication,
    webhook: {
      ...config.authentication.webhook,
      cacheTTL: formatGoDuration(config.authentication.webhook.cacheTTL),
    },
  };
  out.authorization = {
    ...config.authorization,
    webhook: {
      cacheAuthorizedTTL: formatGoDuration(config.authorization.webhook.cacheAuthorizedTTL),
      cacheUnauthorizedTTL: formatGoDuration(config.authorization.webhook.cacheUnauthorizedTTL),
    },
  };
  out.logging = {
    ...config.logging,
    flushFrequency: formatGoDuration(config.logging.flushFrequency),
  };
  return out;
}
