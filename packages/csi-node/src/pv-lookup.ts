import { NotFoundError, UnavailableError, createToken, type InjectionToken } from '@nodeagent/core';
import { apiFailureOf, type KubeApi } from '@nodeagent/kube-client';

/**
 * The CSI source of a PersistentVolume (core/v1 `CSIPersistentVolumeSource`, JSON shape;
 * only the fields the node uses).
 */
export interface CSIPersistentVolumeSource {
  driver: string;
  volumeHandle: string;
  readOnly?: boolean;
  fsType?: string;
  volumeAttributes?: Record<string, string>;
  nodeStageSecretRef?: { name?: string; namespace?: string };
  nodePublishSecretRef?: { name?: string; namespace?: string };
}

/** A PersistentVolume (core/v1, JSON shape; the fields the node uses). */
export interface PersistentVolume {
  apiVersion?: string;
  kind?: string;
  metadata: { name?: string; uid?: string; resourceVersion?: string };
  spec?: {
    csi?: CSIPersistentVolumeSource;
    /** `ReadWriteOnce`, `ReadOnlyMany`, `ReadWriteMany`, `ReadWriteOncePod`. */
    accessModes?: string[];
    mountOptions?: string[];
    /** `Filesystem` (default) or `Block`. */
    volumeMode?: string;
    claimRef?: { namespace?: string; name?: string; uid?: string };
    [field: string]: unknown;
  };
  status?: { phase?: string };
}

/** A PersistentVolumeClaim (core/v1, JSON shape; the fields the node uses). */
export interface PersistentVolumeClaim {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    deletionTimestamp?: string;
    resourceVersion?: string;
  };
  spec?: { volumeName?: string; accessModes?: string[]; volumeMode?: string };
  /** `phase`: `Pending`, `Bound`, `Lost`. */
  status?: { phase?: string };
}

/**
 * Reads the claims and volumes behind pods' `persistentVolumeClaim` volumes (the
 * kubelet's desired-state populator reads them from the API server).
 */
export interface PersistentVolumeLookup {
  /** The claim `namespace/name`. @throws NotFoundError when missing; UnavailableError when it cannot be read now. */
  getClaim(namespace: string, name: string): Promise<PersistentVolumeClaim>;
  /** The volume `name`. @throws NotFoundError when missing; UnavailableError when it cannot be read now. */
  getVolume(name: string): Promise<PersistentVolume>;
}
export const PersistentVolumeLookup: InjectionToken<PersistentVolumeLookup> =
  createToken<PersistentVolumeLookup>('PersistentVolumeLookup');

/**
 * The lookup of an agent without an API server: every claim is missing (a pod with a
 * `persistentVolumeClaim` volume waits with FailedMount, as it would on a kubelet that
 * cannot reach the API server).
 */
export const standalonePersistentVolumeLookup: PersistentVolumeLookup = {
  getClaim: (namespace, name) =>
    Promise.reject(
      new NotFoundError(
        `persistentvolumeclaim "${name}" not found in namespace "${namespace}": no API server in standalone mode`,
      ),
    ),
  getVolume: (name) =>
    Promise.reject(
      new NotFoundError(`persistentvolume "${name}" not found: no API server in standalone mode`),
    ),
};

/**
 * A fixed set of claims and volumes (tests, and embedders that provision volumes
 * themselves). Objects are returned as deep copies.
 */
export class StaticPersistentVolumeLookup implements PersistentVolumeLookup {
  private readonly claims = new Map<string, PersistentVolumeClaim>();
  private readonly volumes = new Map<string, PersistentVolume>();

  constructor(init: { claims?: PersistentVolumeClaim[]; volumes?: PersistentVolume[] } = {}) {
    for (const c of init.claims ?? []) this.setClaim(c);
    for (const v of init.volumes ?? []) this.setVolume(v);
  }

  /** Adds or replaces a claim (keyed by `metadata.namespace` (default `default`) and `metadata.name`). */
  setClaim(claim: PersistentVolumeClaim): void {
    this.claims.set(
      `${claim.metadata.namespace || 'default'}/${claim.metadata.name ?? ''}`,
      structuredClone(claim),
    );
  }

  /** Adds or replaces a volume (keyed by `metadata.name`). */
  setVolume(volume: PersistentVolume): void {
    this.volumes.set(volume.metadata.name ?? '', structuredClone(volume));
  }

  getClaim(namespace: string, name: string): Promise<PersistentVolumeClaim> {
    const c = this.claims.get(`${namespace}/${name}`);
    return c
      ? Promise.resolve(structuredClone(c))
      : Promise.reject(
          new NotFoundError(
            `persistentvolumeclaim "${name}" not found in namespace "${namespace}"`,
          ),
        );
  }

  getVolume(name: string): Promise<PersistentVolume> {
    const v = this.volumes.get(name);
    return v
      ? Promise.resolve(structuredClone(v))
      : Promise.reject(new NotFoundError(`persistentvolume "${name}" not found`));
  }
}

/**
 * The JSON shape of a client-node model: its `Date` fields become RFC 3339 strings
 * with second precision (as the API server writes them). client-node 1.4 does not
 * export its ObjectSerializer from the package root; PV and PVC models use the JSON
 * field names, so a JSON round trip is exact for them.
 */
function toJsonShape<T>(model: object): T {
  return JSON.parse(
    JSON.stringify(model, function (this: Record<string, unknown>, key: string, value: unknown) {
      const raw = this[key];
      return raw instanceof Date ? raw.toISOString().replace(/\.\d{3}Z$/, 'Z') : value;
    }),
  ) as T;
}

function mapApiError(err: unknown, what: string): Error {
  const failure = apiFailureOf(err);
  if (failure.code === 404) return new NotFoundError(`${what} not found`, { cause: err });
  return new UnavailableError(`reading ${what}: ${failure.message}`, { cause: err });
}

/**
 * {@link PersistentVolumeLookup} over the API server (`GET
 * /api/v1/namespaces/<ns>/persistentvolumeclaims/<name>`, `GET
 * /api/v1/persistentvolumes/<name>`), converted to the JSON shape. Every call reads
 * the server (the kubelet reads claims and volumes when it adds a pod's volumes to
 * its desired state; setUp is called once per pod volume until it succeeds).
 */
export class KubePersistentVolumeLookup implements PersistentVolumeLookup {
  constructor(private readonly api: Pick<KubeApi, 'core'>) {}

  async getClaim(namespace: string, name: string): Promise<PersistentVolumeClaim> {
    try {
      const claim = await this.api.core.readNamespacedPersistentVolumeClaim({ name, namespace });
      return toJsonShape<PersistentVolumeClaim>(claim);
    } catch (err) {
      throw mapApiError(err, `persistentvolumeclaim "${name}" in namespace "${namespace}"`);
    }
  }

  async getVolume(name: string): Promise<PersistentVolume> {
    try {
      const volume = await this.api.core.readPersistentVolume({ name });
      return toJsonShape<PersistentVolume>(volume);
    } catch (err) {
      throw mapApiError(err, `persistentvolume "${name}"`);
    }
  }
}

/** Creates a {@link KubePersistentVolumeLookup}. */
export function createKubePersistentVolumeLookup(
  api: Pick<KubeApi, 'core'>,
): PersistentVolumeLookup {
  return new KubePersistentVolumeLookup(api);
}
