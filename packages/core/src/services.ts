import type { ObjectMeta } from './k8s/types.js';
import { createToken, type InjectionToken } from './token.js';

/** One port of a Service (core/v1 `ServicePort`, the fields the kubelet reads). */
export interface ServicePort {
  /** Required when the Service has more than one port; a DNS label. */
  name?: string;
  /** `TCP` (default), `UDP` or `SCTP`. */
  protocol?: string;
  /** The port the Service exposes on its cluster IP. */
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

/** core/v1 `ServiceSpec`, the fields the kubelet reads (plus the common ones, kept as given). */
export interface ServiceSpec {
  /** `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`. */
  type?: string;
  /** The primary cluster IP; `None` for a headless Service; unset/empty for ExternalName. */
  clusterIP?: string;
  /** All cluster IPs, primary first (dual stack). */
  clusterIPs?: string[];
  ports?: ServicePort[];
  selector?: Record<string, string>;
  /** The DNS name an `ExternalName` Service aliases. */
  externalName?: string;
  sessionAffinity?: string;
  ipFamilies?: string[];
  ipFamilyPolicy?: string;
  internalTrafficPolicy?: string;
}

/** A core/v1 Service as JSON (the kubelet reads it only to build service environment variables). */
export interface Service {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: ServiceSpec;
  status?: Record<string, unknown>;
}

/** The cluster IP value of a headless Service (`v1.ClusterIPNone`). */
export const clusterIPNone = 'None';

/**
 * Whether the Service has a cluster IP (v1helper `IsServiceIPSet`): `spec.clusterIP`
 * is set and not `None`. Headless and ExternalName Services have none.
 */
export function isServiceIPSet(service: Service): boolean {
  const ip = service.spec?.clusterIP ?? '';
  return ip !== '' && ip !== clusterIPNone;
}

/**
 * Read access to the cluster's Services for the kubelet's service-link environment
 * variables (the kubelet's `serviceLister` + `serviceHasSynced`, an informer on all
 * namespaces). Agents without an API server have none and give no service variables.
 */
export interface ServiceLister {
  /**
   * The Services of `namespace` the lister holds (for `enableServiceLinks` and the
   * master services of `default`), in no particular order; the caller must not
   * modify them. Empty before the first sync.
   */
  listServices(namespace: string): readonly Service[];
  /**
   * True once the Services have been listed at least once (client-go `HasSynced`).
   * Until then the kubelet refuses to build the environment of API pods
   * ("services have not yet been read at least once, cannot construct envvars").
   */
  hasSynced(): boolean;
}
export const ServiceLister: InjectionToken<ServiceLister> =
  createToken<ServiceLister>('ServiceLister');

/**
 * A {@link ServiceLister} with no Services that counts as synced: what a kubelet
 * without a kube client uses (an empty indexer whose `hasSynced` is always true).
 */
export const emptyServiceLister: ServiceLister = {
  listServices: () => [],
  hasSynced: () => true,
};
