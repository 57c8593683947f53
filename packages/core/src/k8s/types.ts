/**
 * A hand-written subset of the Kubernetes core/v1 API types, in the JSON shape the
 * API server sends and static manifest files contain: field names as in the API,
 * optional fields optional (`field?: T`), timestamps as RFC 3339 strings,
 * `int-or-string` fields as {@link IntOrString}. Only what nodeagent reads or writes
 * is here; fields are added as packages need them, never renamed.
 *
 * Defaults noted in the comments are those the API server's defaulting applies
 * (pkg/apis/core/v1/defaults.go); a consumer reading an object that did not pass
 * through the API server (a static manifest) applies them itself.
 */

/** RFC 3339 timestamp, e.g. `2026-01-01T00:00:00Z` (metav1.Time in JSON). */
export type Time = string;

/** A value that is either an integer or a string (`intstr.IntOrString`), e.g. a port number or name. */
export type IntOrString = number | string;

/** A quantity such as `100m`, `128Mi`, `1` (resource.Quantity in JSON). */
export type Quantity = string;

/** Reference to the object that owns this one. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** metadata of every persisted object (metav1.ObjectMeta). */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: Time;
  /** Set when graceful deletion was requested; the object goes away after the grace period. */
  deletionTimestamp?: Time;
  /** Grace period (seconds) requested with the deletion. */
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

/** Reference to an object, as used by events (`involvedObject`). */
export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  /**
   * The part of the object meant, e.g. `spec.containers{web}` for a container of a
   * pod (the kubelet's convention for container events).
   */
  fieldPath?: string;
}

/** A reference to a key of a ConfigMap. */
export interface ConfigMapKeySelector {
  name?: string;
  key: string;
  optional?: boolean;
}

/** A reference to a key of a Secret. */
export interface SecretKeySelector {
  name?: string;
  key: string;
  optional?: boolean;
}

/** Selects a field of the pod (downward API), e.g. `metadata.name`, `status.podIP`. */
export interface ObjectFieldSelector {
  apiVersion?: string;
  fieldPath: string;
}

/** Selects a resource of a container (downward API), e.g. `limits.memory`. */
export interface ResourceFieldSelector {
  containerName?: string;
  resource: string;
  divisor?: Quantity;
}

/** Source of an environment variable's value. */
export interface EnvVarSource {
  fieldRef?: ObjectFieldSelector;
  resourceFieldRef?: ResourceFieldSelector;
  configMapKeyRef?: ConfigMapKeySelector;
  secretKeyRef?: SecretKeySelector;
}

/** An environment variable of a container. */
export interface EnvVar {
  name: string;
  /** May reference earlier variables as `$(VAR)`; `$$` escapes. */
  value?: string;
  valueFrom?: EnvVarSource;
}

/** Populates environment variables from a ConfigMap or Secret. */
export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name?: string; optional?: boolean };
  secretRef?: { name?: string; optional?: boolean };
}

/** A network port of a container. */
export interface ContainerPort {
  /** IANA_SVC_NAME; probes may refer to the port by this name. */
  name?: string;
  hostPort?: number;
  /** The host IP the host port binds to; default all (0.0.0.0). */
  hostIP?: string;
  containerPort: number;
  /** `TCP` (default), `UDP` or `SCTP`. */
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** Runs a command inside the container; exit status 0 is success. */
export interface ExecAction {
  /** argv; not run in a shell. */
  command?: string[];
}

/** An HTTP header of an httpGet probe or lifecycle hook. */
export interface HTTPHeader {
  name: string;
  value: string;
}

/** An HTTP GET request. */
export interface HTTPGetAction {
  /** Path to request, e.g. `/healthz`. */
  path?: string;
  /** Port number (1–65535) or the name of one of the container's ports. */
  port: IntOrString;
  /** Host to connect to; defaults to the pod IP. Prefer a `Host` header instead. */
  host?: string;
  /** `HTTP` (default) or `HTTPS`. */
  scheme?: 'HTTP' | 'HTTPS';
  /** Custom request headers; repeated names are allowed. */
  httpHeaders?: HTTPHeader[];
}

/** Opens a TCP connection. */
export interface TCPSocketAction {
  /** Port number (1–65535) or the name of one of the container's ports. */
  port: IntOrString;
  /** Host to connect to; defaults to the pod IP. */
  host?: string;
}

/** Calls the standard gRPC health-checking protocol (grpc.health.v1.Health/Check). */
export interface GRPCAction {
  /** Port number (1–65535); names are not allowed. */
  port: number;
  /** The `service` field of the HealthCheckRequest; empty (default) asks about the whole server. */
  service?: string;
}

/** Waits before the container is killed (lifecycle hook). */
export interface SleepAction {
  seconds: number;
}

/** The action of a probe: exactly one of the handlers must be set. */
export interface ProbeHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  grpc?: GRPCAction;
}

/**
 * A health check performed by the kubelet. Defaults (API defaulting): timeoutSeconds
 * 1, periodSeconds 10, successThreshold 1, failureThreshold 3, initialDelaySeconds 0.
 */
export interface Probe extends ProbeHandler {
  /** Seconds after the container started before the probe runs. Default 0. */
  initialDelaySeconds?: number;
  /** Seconds before a probe attempt times out. Default 1, minimum 1. */
  timeoutSeconds?: number;
  /** Seconds between probes. Default 10, minimum 1. */
  periodSeconds?: number;
  /** Consecutive successes to be considered successful after a failure. Default 1; must be 1 for liveness and startup. */
  successThreshold?: number;
  /** Consecutive failures to be considered failed after a success. Default 3, minimum 1. */
  failureThreshold?: number;
  /**
   * Grace period (seconds) used when this (liveness or startup) probe kills the
   * container, instead of the pod's `terminationGracePeriodSeconds`. Minimum 1.
   */
  terminationGracePeriodSeconds?: number;
}

/** The action of a lifecycle hook: exactly one of the handlers must be set. */
export interface LifecycleHandler {
  exec?: ExecAction;
  httpGet?: HTTPGetAction;
  tcpSocket?: TCPSocketAction;
  sleep?: SleepAction;
}

/** Hooks run after a container starts and before it is stopped. */
export interface Lifecycle {
  postStart?: LifecycleHandler;
  preStop?: LifecycleHandler;
  /** Signal sent to stop the container (e.g. `SIGTERM`); image default when unset. */
  stopSignal?: string;
}

/** Resource names (`cpu`, `memory`, `ephemeral-storage`, …) to quantities. */
export type ResourceList = Record<string, Quantity>;

/** Compute resource requests and limits of a container. */
export interface ResourceRequirements {
  limits?: ResourceList;
  requests?: ResourceList;
}

/** Linux capabilities to add and drop, e.g. `NET_ADMIN`. */
export interface Capabilities {
  add?: string[];
  drop?: string[];
}

/** SELinux labels. */
export interface SELinuxOptions {
  user?: string;
  role?: string;
  type?: string;
  level?: string;
}

/** A seccomp profile: `RuntimeDefault`, `Unconfined` or `Localhost` (+ path). */
export interface SeccompProfile {
  type: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostProfile?: string;
}

/** Security options of a container. */
export interface SecurityContext {
  capabilities?: Capabilities;
  privileged?: boolean;
  seLinuxOptions?: SELinuxOptions;
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  /** `Default` or `Unmasked`. */
  procMount?: string;
  seccompProfile?: SeccompProfile;
}

/** Security options of a pod (apply to every container unless overridden). */
export interface PodSecurityContext {
  seLinuxOptions?: SELinuxOptions;
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  supplementalGroups?: number[];
  fsGroup?: number;
  sysctls?: { name: string; value: string }[];
  seccompProfile?: SeccompProfile;
}

/** Mounts a volume of the pod into a container. */
export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  subPathExpr?: string;
  /** `None` (default), `HostToContainer` or `Bidirectional`. */
  mountPropagation?: 'None' | 'HostToContainer' | 'Bidirectional';
}

/** A scratch directory that lives as long as the pod. */
export interface EmptyDirVolumeSource {
  /** `""` (node disk, default) or `Memory` (tmpfs). */
  medium?: '' | 'Memory';
  sizeLimit?: Quantity;
}

/** A file or directory of the node. */
export interface HostPathVolumeSource {
  path: string;
  /** `""` (no check), `DirectoryOrCreate`, `Directory`, `FileOrCreate`, `File`, `Socket`, `CharDevice`, `BlockDevice`. */
  type?: string;
}

/** Maps one key of a ConfigMap/Secret to a file path inside the volume. */
export interface KeyToPath {
  key: string;
  /** Relative path of the file; must not contain `..` or start with `/`. */
  path: string;
  /** File mode bits (0–0777); the volume's `defaultMode` when unset. */
  mode?: number;
}

/** The keys of a ConfigMap as files. */
export interface ConfigMapVolumeSource {
  name?: string;
  /** Only these keys (all keys when unset). A listed key that is missing fails the mount unless `optional`. */
  items?: KeyToPath[];
  /** Mode of the files (default 0644). */
  defaultMode?: number;
  /** Mount an empty volume when the ConfigMap (or a listed key) does not exist. */
  optional?: boolean;
}

/** The keys of a Secret as files. */
export interface SecretVolumeSource {
  secretName?: string;
  items?: KeyToPath[];
  /** Mode of the files (default 0644). */
  defaultMode?: number;
  optional?: boolean;
}

/** One file of a downward-API volume. */
export interface DownwardAPIVolumeFile {
  path: string;
  /** Pod fields: `metadata.name`, `metadata.namespace`, `metadata.uid`, `metadata.labels`, `metadata.annotations` (and `['key']` forms). */
  fieldRef?: ObjectFieldSelector;
  /** Container resources; `containerName` is required in volumes. */
  resourceFieldRef?: ResourceFieldSelector;
  mode?: number;
}

/** Pod metadata and container resources as files. */
export interface DownwardAPIVolumeSource {
  items?: DownwardAPIVolumeFile[];
  /** Mode of the files (default 0644). */
  defaultMode?: number;
}

/** A projected service-account token (needs the TokenRequest API). */
export interface ServiceAccountTokenProjection {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}

/** One source of a projected volume. */
export interface VolumeProjection {
  configMap?: Omit<ConfigMapVolumeSource, 'defaultMode'>;
  secret?: Omit<SecretVolumeSource, 'defaultMode' | 'secretName'> & { name?: string };
  downwardAPI?: Omit<DownwardAPIVolumeSource, 'defaultMode'>;
  serviceAccountToken?: ServiceAccountTokenProjection;
}

/** Several sources merged into one directory. */
export interface ProjectedVolumeSource {
  sources?: VolumeProjection[];
  /** Mode of the files (default 0644). */
  defaultMode?: number;
}

/** An inline (ephemeral) CSI volume. */
export interface CSIVolumeSource {
  driver: string;
  readOnly?: boolean;
  fsType?: string;
  volumeAttributes?: Record<string, string>;
  nodePublishSecretRef?: { name?: string };
}

/** A claim on a PersistentVolume. */
export interface PersistentVolumeClaimVolumeSource {
  claimName: string;
  readOnly?: boolean;
}

/** A volume of the pod (only the sources nodeagent supports are typed). */
export interface Volume {
  name: string;
  emptyDir?: EmptyDirVolumeSource;
  hostPath?: HostPathVolumeSource;
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  downwardAPI?: DownwardAPIVolumeSource;
  projected?: ProjectedVolumeSource;
  csi?: CSIVolumeSource;
  persistentVolumeClaim?: PersistentVolumeClaimVolumeSource;
}

/** A container of a pod. */
export interface Container {
  /** DNS label, unique within the pod. */
  name: string;
  image?: string;
  /** Entrypoint (replaces the image's ENTRYPOINT). */
  command?: string[];
  /** Arguments (replace the image's CMD). */
  args?: string[];
  workingDir?: string;
  ports?: ContainerPort[];
  envFrom?: EnvFromSource[];
  env?: EnvVar[];
  resources?: ResourceRequirements;
  /**
   * Only on init containers: `Always` makes a restartable init container (sidecar).
   */
  restartPolicy?: 'Always';
  volumeMounts?: VolumeMount[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: Lifecycle;
  /** Default `/dev/termination-log`. */
  terminationMessagePath?: string;
  /** `File` (default) or `FallbackToLogsOnError`. */
  terminationMessagePolicy?: 'File' | 'FallbackToLogsOnError';
  /** `Always`, `IfNotPresent` or `Never`; default depends on the image tag. */
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  securityContext?: SecurityContext;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
}

/**
 * A debugging container added to a running pod through the `pods/ephemeralcontainers`
 * subresource (core/v1 `EphemeralContainer`, `kubectl debug`): the fields of a
 * {@link Container} (ports, probes, lifecycle and resources are not allowed) plus
 * `targetContainerName`. Never restarted; not counted for the pod's phase or readiness.
 */
export interface EphemeralContainer extends Container {
  /**
   * The container whose namespaces (PID) the ephemeral container joins (CRI
   * `NamespaceOption.pid = TARGET`); unset: the pod's own namespaces.
   */
  targetContainerName?: string;
}

/** Restart policy of a pod's containers: `Always` (default), `OnFailure`, `Never`. */
export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** An `/etc/hosts` entry added to the pod. */
export interface HostAlias {
  ip: string;
  hostnames?: string[];
}

/** The pod's tolerations of node taints. */
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/** The desired state of a pod. */
/** A resolver option (`ndots:2`, `edns0`). */
export interface PodDNSConfigOption {
  name?: string;
  value?: string;
}

/** Pod DNS parameters (core/v1 `PodDNSConfig`). */
export interface PodDNSConfig {
  nameservers?: string[];
  searches?: string[];
  options?: PodDNSConfigOption[];
}

export interface PodSpec {
  volumes?: Volume[];
  initContainers?: Container[];
  containers: Container[];
  /** Debugging containers added while the pod runs (`pods/<name>/ephemeralcontainers`); add-only. */
  ephemeralContainers?: EphemeralContainer[];
  /** Default `Always`. */
  restartPolicy?: RestartPolicy;
  /** Seconds between SIGTERM and SIGKILL on termination. Default 30. */
  terminationGracePeriodSeconds?: number;
  activeDeadlineSeconds?: number;
  /** `ClusterFirst` (default), `ClusterFirstWithHostNet`, `Default`, `None`. */
  dnsPolicy?: string;
  nodeSelector?: Record<string, string>;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  nodeName?: string;
  hostNetwork?: boolean;
  /** Secrets (in the pod's namespace) holding registry credentials for pulling the pod's images. */
  imagePullSecrets?: { name?: string }[];
  hostPID?: boolean;
  hostIPC?: boolean;
  shareProcessNamespace?: boolean;
  securityContext?: PodSecurityContext;
  hostname?: string;
  subdomain?: string;
  /** When true, the pod's hostname is its FQDN (`<hostname>.<subdomain>.<ns>.svc.<domain>`). */
  setHostnameAsFQDN?: boolean;
  /** DNS settings merged with (or, for dnsPolicy None, replacing) the policy's. */
  dnsConfig?: PodDNSConfig;
  tolerations?: Toleration[];
  hostAliases?: HostAlias[];
  priorityClassName?: string;
  priority?: number;
  /** Extra conditions that must be True for the pod to be Ready. */
  readinessGates?: { conditionType: string }[];
  runtimeClassName?: string;
  enableServiceLinks?: boolean;
  /** Scheduling constraints; the kubelet checks the required node affinity at admission. */
  affinity?: Affinity;
  /** The OS the pod's containers need; admission refuses a pod whose OS is not the node's. */
  os?: { name: string };
  /** Resources the runtime class adds to the pod's requests (RuntimeClass overhead). */
  overhead?: ResourceList;
}

/** A node selector requirement: `key` `operator` `values` (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`). */
export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';
  values?: string[];
}

/** A node selector term: every requirement must hold (label expressions and `metadata.name` fields). */
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** The pod's node affinity; only the required part binds the kubelet. */
export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
  preferredDuringSchedulingIgnoredDuringExecution?: unknown[];
}

/** Scheduling constraints of a pod (core/v1 `Affinity`); pod (anti-)affinity is the scheduler's alone. */
export interface Affinity {
  nodeAffinity?: NodeAffinity;
  podAffinity?: unknown;
  podAntiAffinity?: unknown;
}

/** Phase of a pod: `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** `True`, `False` or `Unknown`. */
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/**
 * A condition of a pod. Types the kubelet manages: `PodScheduled`,
 * `PodReadyToStartContainers`, `Initialized`, `ContainersReady`, `Ready`.
 */
export interface PodCondition {
  type: string;
  /** The pod `metadata.generation` the condition was set for (PodObservedGenerationTracking). */
  observedGeneration?: number;
  status: ConditionStatus;
  lastProbeTime?: Time | null;
  lastTransitionTime?: Time;
  reason?: string;
  message?: string;
}

/** A container that has not started yet (pulling, crash-loop back-off, …). */
export interface ContainerStateWaiting {
  reason?: string;
  message?: string;
}

/** A running container. */
export interface ContainerStateRunning {
  /** When the container (this instance) started. */
  startedAt?: Time;
}

/** A container that has exited. */
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt?: Time;
  finishedAt?: Time;
  /** `<type>://<id>`. */
  containerID?: string;
}

/** State of a container: at most one member is set (none means waiting). */
export interface ContainerState {
  waiting?: ContainerStateWaiting;
  running?: ContainerStateRunning;
  terminated?: ContainerStateTerminated;
}

/** Status of one container of a pod. */
export interface ContainerStatus {
  name: string;
  state?: ContainerState;
  lastState?: ContainerState;
  /** Whether the container passes its readiness probe (true when it has none and runs). */
  ready: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  /** `<runtime type>://<id>`, e.g. `containerd://4f3c…`. */
  containerID?: string;
  /** Whether the container passed its startup probe (true when it has none and runs). */
  started?: boolean;
}

/** An IP address of a pod. */
export interface PodIP {
  ip: string;
}

/** The observed state of a pod. */
export interface PodStatus {
  /** The pod `metadata.generation` the node agent last acted on (PodObservedGenerationTracking). */
  observedGeneration?: number;
  phase?: PodPhase;
  conditions?: PodCondition[];
  message?: string;
  reason?: string;
  nominatedNodeName?: string;
  hostIP?: string;
  hostIPs?: PodIP[];
  /** The pod's primary IP; the node's for host-network pods. */
  podIP?: string;
  podIPs?: PodIP[];
  startTime?: Time;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
  /** Statuses of the pod's ephemeral containers (never ready, never restarted). */
  ephemeralContainerStatuses?: ContainerStatus[];
  /** `Guaranteed`, `Burstable` or `BestEffort`. */
  qosClass?: 'Guaranteed' | 'Burstable' | 'BestEffort';
}

/** A pod. */
export interface Pod {
  apiVersion?: 'v1';
  kind?: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: PodStatus;
}

/** Configuration data for pods (core/v1 ConfigMap). */
export interface ConfigMap {
  apiVersion?: 'v1';
  kind?: 'ConfigMap';
  metadata: ObjectMeta;
  data?: Record<string, string>;
  /** Values are base64 in JSON. */
  binaryData?: Record<string, string>;
  immutable?: boolean;
}

/** Secret data for pods (core/v1 Secret). */
export interface Secret {
  apiVersion?: 'v1';
  kind?: 'Secret';
  metadata: ObjectMeta;
  /** Values are base64 in JSON. */
  data?: Record<string, string>;
  /** Write-only plain-text values (merged into `data` by the API server). */
  stringData?: Record<string, string>;
  type?: string;
  immutable?: boolean;
}
