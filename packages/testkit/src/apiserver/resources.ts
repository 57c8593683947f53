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
    subresources: [{ name: 'log', verbs: ['get'] }],
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
