/**
 * The resources the test API server serves, described the way discovery
 * (`APIResourceList`) describes them.
 */

/** One served resource kind. */
export interface ResourceInfo {
  /** API group; `''` for the core (legacy) group. */
  group: string;
  version: string;
  /** URL plural (`pods`). */
  plural: string;
  singular: string;
  kind: string;
  /** The kind of the list (`PodList`). */
  listKind: string;
  namespaced: boolean;
  shortNames: readonly string[];
  /** Whether the resource has a `status` subresource (main-resource writes keep the old status). */
  hasStatus: boolean;
  /** Whether a PUT to a missing object creates it (`AllowCreateOnUpdate` of the strategy). */
  allowCreateOnUpdate: boolean;
  /** Whether `metadata.generation` is maintained (incremented on spec changes). */
  hasGeneration: boolean;
  /** Field selector labels the server supports besides `metadata.name`/`metadata.namespace`. */
  fieldLabels: readonly string[];
  /** `categories` in discovery (`all`). */
  categories: readonly string[];
  /** Review kinds (TokenReview, SubjectAccessReview) are create-only and never stored. */
  review?: boolean;
  /** Subresources besides `status`, with their discovery verbs (`pods/log`, `certificatesigningrequests/approval`). */
  subresources?: readonly { name: string; verbs: readonly string[] }[];
}

/** `apiVersion` of a resource (`v1`, `coordination.k8s.io/v1`). */
export function apiVersionOf(r: ResourceInfo): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

const core = { group: '', version: 'v1' } as const;

/** Every resource the server serves, in discovery order. */
export const servedResources: readonly ResourceInfo[] = [
  {
    ...core,
    plural: 'namespaces',
    singular: 'namespace',
    kind: 'Namespace',
    listKind: 'NamespaceList',
    namespaced: false,
    shortNames: ['ns'],
    hasStatus: true,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: ['status.phase'],
    categories: [],
  },
  {
    ...core,
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    listKind: 'NodeList',
    namespaced: false,
    shortNames: ['no'],
    hasStatus: true,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: ['spec.unschedulable'],
    categories: [],
    subresources: [{ name: 'proxy', verbs: ['create', 'delete', 'get', 'patch', 'update'] }],
  },
  {
    ...core,
    plural: 'pods',
    singular: 'pod',
    kind: 'Pod',
    listKind: 'PodList',
    namespaced: true,
    shortNames: ['po'],
    hasStatus: true,
    allowCreateOnUpdate: false,
    hasGeneration: true,
    fieldLabels: [
      'spec.nodeName',
      'spec.restartPolicy',
      'spec.schedulerName',
      'spec.serviceAccountName',
      'spec.hostNetwork',
      'status.phase',
      'status.podIP',
      'status.nominatedNodeName',
    ],
    categories: ['all'],
    subresources: [
      { name: 'log', verbs: ['get'] },
      { name: 'ephemeralcontainers', verbs: ['get', 'patch', 'update'] },
      { name: 'exec', verbs: ['create', 'get'] },
      { name: 'attach', verbs: ['create', 'get'] },
      { name: 'portforward', verbs: ['create', 'get'] },
    ],
  },
  {
    ...core,
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    listKind: 'EventList',
    namespaced: true,
    shortNames: ['ev'],
    hasStatus: false,
    allowCreateOnUpdate: true,
    hasGeneration: false,
    fieldLabels: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
    categories: [],
  },
  {
    ...core,
    plural: 'configmaps',
    singular: 'configmap',
    kind: 'ConfigMap',
    listKind: 'ConfigMapList',
    namespaced: true,
    shortNames: ['cm'],
    hasStatus: false,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
  },
  {
    ...core,
    plural: 'secrets',
    singular: 'secret',
    kind: 'Secret',
    listKind: 'SecretList',
    namespaced: true,
    shortNames: [],
    hasStatus: false,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: ['type'],
    categories: [],
  },
  {
    // The `token` subresource is the TokenRequest API (kubelet projected tokens).
    ...core,
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    kind: 'ServiceAccount',
    listKind: 'ServiceAccountList',
    namespaced: true,
    shortNames: ['sa'],
    hasStatus: false,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
    subresources: [{ name: 'token', verbs: ['create'] }],
  },
  {
    // Listed and watched by the kubelet (all namespaces, `spec.clusterIP!=None`) for
    // the service-link environment variables of containers.
    ...core,
    plural: 'services',
    singular: 'service',
    kind: 'Service',
    listKind: 'ServiceList',
    namespaced: true,
    shortNames: ['svc'],
    hasStatus: true,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: ['spec.clusterIP', 'spec.type'],
    categories: ['all'],
  },
  {
    // Read by the kubelet for pods' persistentVolumeClaim volumes (CSI volumes).
    ...core,
    plural: 'persistentvolumeclaims',
    singular: 'persistentvolumeclaim',
    kind: 'PersistentVolumeClaim',
    listKind: 'PersistentVolumeClaimList',
    namespaced: true,
    shortNames: ['pvc'],
    hasStatus: true,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: ['all'],
  },
  {
    ...core,
    plural: 'persistentvolumes',
    singular: 'persistentvolume',
    kind: 'PersistentVolume',
    listKind: 'PersistentVolumeList',
    namespaced: false,
    shortNames: ['pv'],
    hasStatus: true,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    plural: 'leases',
    singular: 'lease',
    kind: 'Lease',
    listKind: 'LeaseList',
    namespaced: true,
    shortNames: [],
    hasStatus: false,
    allowCreateOnUpdate: true,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
  },
  {
    group: 'authentication.k8s.io',
    version: 'v1',
    plural: 'tokenreviews',
    singular: 'tokenreview',
    kind: 'TokenReview',
    listKind: 'TokenReviewList',
    namespaced: false,
    shortNames: [],
    hasStatus: false,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
    review: true,
  },
  {
    group: 'authorization.k8s.io',
    version: 'v1',
    plural: 'subjectaccessreviews',
    singular: 'subjectaccessreview',
    kind: 'SubjectAccessReview',
    listKind: 'SubjectAccessReviewList',
    namespaced: false,
    shortNames: [],
    hasStatus: false,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
    review: true,
  },
  {
    group: 'certificates.k8s.io',
    version: 'v1',
    plural: 'certificatesigningrequests',
    singular: 'certificatesigningrequest',
    kind: 'CertificateSigningRequest',
    listKind: 'CertificateSigningRequestList',
    namespaced: false,
    shortNames: ['csr'],
    hasStatus: true,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: ['spec.signerName'],
    categories: [],
    subresources: [{ name: 'approval', verbs: ['get', 'patch', 'update'] }],
  },
  {
    // RuntimeClasses name the CRI handler a pod's sandbox runs with; the kubelet looks
    // a pod's `runtimeClassName` up before RunPodSandbox (kubelet runtimeclass.Manager).
    group: 'node.k8s.io',
    version: 'v1',
    plural: 'runtimeclasses',
    singular: 'runtimeclass',
    kind: 'RuntimeClass',
    listKind: 'RuntimeClassList',
    namespaced: false,
    shortNames: [],
    hasStatus: false,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
  },
  {
    // The kubelet keeps one CSINode per node (named after it) listing the registered
    // CSI drivers with their node id, topology keys and volume limit.
    group: 'storage.k8s.io',
    version: 'v1',
    plural: 'csinodes',
    singular: 'csinode',
    kind: 'CSINode',
    listKind: 'CSINodeList',
    namespaced: false,
    shortNames: [],
    hasStatus: false,
    allowCreateOnUpdate: false,
    hasGeneration: false,
    fieldLabels: [],
    categories: [],
  },
];

/** Finds a served resource by group, version and plural. */
export function findResource(
  group: string,
  version: string,
  plural: string,
): ResourceInfo | undefined {
  return servedResources.find(
    (r) => r.group === group && r.version === version && r.plural === plural,
  );
}

/** Finds a served resource by `apiVersion` and `kind`. */
export function findResourceByKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return servedResources.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

/** The service cluster IP range the server allocates from (kube-apiserver's default `--service-cluster-ip-range`). */
export const serviceClusterIPRange = '10.96.0.0/16';

const serviceRangeBase = (10 << 24) | (96 << 16);
const serviceRangeSize = 1 << 16;

function ipv4ToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

function numberToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

type JsonRecord = Record<string, unknown>;

function asRecord(v: unknown): JsonRecord | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonRecord) : undefined;
}

/**
 * Service defaults and cluster IP allocation of a Service write (the Service REST
 * storage and `SetDefaults_Service`), applied in place: `type` defaults to
 * `ClusterIP`, `sessionAffinity` to `None`, each port's `protocol` to `TCP` (and
 * `targetPort` to `port`). On create, a Service that is not `ExternalName` and not
 * headless (`clusterIP: None`) without a `spec.clusterIP` gets the lowest free
 * address of {@link serviceClusterIPRange} above `10.96.0.1` (which the real API
 * server reserves for the `kubernetes` Service; ask for it explicitly to create
 * that one); a requested address must be inside the range and free. On update
 * (`current` given), the allocated `clusterIP`/`clusterIPs` are kept when the write
 * leaves them out, and cannot be changed. `clusterIPs` mirrors `clusterIP`.
 *
 * @param inUse the cluster IPs of the other stored Services.
 * @returns the validation causes (`field: message`) of a rejected write, else `[]`.
 */
export function prepareServiceForWrite(
  service: JsonRecord,
  current: JsonRecord | undefined,
  inUse: ReadonlySet<string>,
): string[] {
  const spec = asRecord(service.spec) ?? {};
  service.spec = spec;
  const type = typeof spec.type === 'string' && spec.type !== '' ? spec.type : 'ClusterIP';
  spec.type = type;
  spec.sessionAffinity ??= 'None';
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  const causes: string[] = [];
  ports.forEach((p, i) => {
    const port = asRecord(p);
    if (port === undefined || typeof port.port !== 'number' || !Number.isInteger(port.port)) {
      causes.push(`spec.ports[${i}].port: Required value`);
      return;
    }
    port.protocol ??= 'TCP';
    port.targetPort ??= port.port;
  });
  if (ports.length > 1) {
    ports.forEach((p, i) => {
      const name = asRecord(p)?.name;
      if (typeof name !== 'string' || name === '')
        causes.push(`spec.ports[${i}].name: Required value`);
    });
  }
  const requested = typeof spec.clusterIP === 'string' ? spec.clusterIP : '';
  if (type === 'ExternalName') {
    if (typeof spec.externalName !== 'string' || spec.externalName === '')
      causes.push('spec.externalName: Required value');
    if (requested !== '')
      causes.push(
        `spec.clusterIP: Invalid value: "${requested}": may not be set for ExternalName services`,
      );
    delete spec.clusterIP;
    delete spec.clusterIPs;
    return causes;
  }
  if (ports.length === 0 && requested !== 'None') causes.push('spec.ports: Required value');
  const old = asRecord(current?.spec);
  const oldIP = typeof old?.clusterIP === 'string' ? old.clusterIP : '';
  if (current !== undefined && oldIP !== '') {
    if (requested !== '' && requested !== oldIP) {
      causes.push(`spec.clusterIPs[0]: Invalid value: ["${requested}"]: may not change once set`);
      return causes;
    }
    spec.clusterIP = oldIP;
    spec.clusterIPs = [oldIP];
    return causes;
  }
  if (requested === 'None') {
    spec.clusterIPs = ['None'];
    return causes;
  }
  if (requested !== '') {
    const n = ipv4ToNumber(requested);
    if (n === undefined || n - serviceRangeBase < 0 || n - serviceRangeBase >= serviceRangeSize)
      causes.push(
        `spec.clusterIPs: Invalid value: ["${requested}"]: failed to allocate IP ${requested}: provided IP is not in the valid range. The range of valid IPs is ${serviceClusterIPRange}`,
      );
    else if (inUse.has(requested))
      causes.push(
        `spec.clusterIPs: Invalid value: ["${requested}"]: failed to allocate IP ${requested}: provided IP is already allocated`,
      );
    spec.clusterIPs = [requested];
    return causes;
  }
  if (causes.length > 0) return causes;
  // .0 is the network, .1 belongs to the `kubernetes` Service, the last is broadcast.
  for (let off = 2; off < serviceRangeSize - 1; off++) {
    const ip = numberToIpv4(serviceRangeBase + off);
    if (!inUse.has(ip)) {
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
      return causes;
    }
  }
  return ['spec.clusterIPs: Internal error: range is full'];
}
