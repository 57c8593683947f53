import { FailedPreconditionError } from './errors.js';
import { createToken, type InjectionToken } from './token.js';

/** The object a token is bound to (authentication/v1 `BoundObjectReference`); the kubelet binds to the pod. */
export interface BoundObjectReference {
  /** `Pod` (also `Secret`, `Node` on a real server). */
  kind: string;
  /** `v1`. */
  apiVersion?: string;
  name: string;
  uid?: string;
}

/** What a token is asked for (authentication/v1 `TokenRequestSpec`). */
export interface TokenRequestSpec {
  /** Audiences the token is for; empty = the API server's audiences. */
  audiences?: string[];
  /** Requested lifetime in seconds (API default 3600, minimum 600). */
  expirationSeconds?: number;
  boundObjectRef?: BoundObjectReference;
}

/** A token the API server issued (authentication/v1 `TokenRequestStatus`). */
export interface TokenRequestStatus {
  /** The signed JWT. */
  token: string;
  /** When it expires (RFC 3339). */
  expirationTimestamp: string;
}

/**
 * Service-account tokens for pods' projected `serviceAccountToken` volume sources
 * (kubelet `token.Manager`): tokens are requested through the TokenRequest API
 * (`POST serviceaccounts/<name>/token`), cached, and refreshed before they expire.
 */
export interface ServiceAccountTokenManager {
  /**
   * A token for ServiceAccount `namespace/name` as `spec` asks, from the cache or the
   * API server (kubelet `GetServiceAccountToken`).
   * @throws NotFoundError (missing ServiceAccount or bound pod) or UnavailableError
   *   when no token can be had and no cached one is still valid; FailedPreconditionError
   *   without an API server.
   */
  getServiceAccountToken(
    namespace: string,
    name: string,
    spec: TokenRequestSpec,
  ): Promise<TokenRequestStatus>;
  /** Forgets the cached tokens bound to the pod (kubelet `DeleteServiceAccountToken`, on pod removal). */
  deleteServiceAccountToken(podUid: string): void;
}
export const ServiceAccountTokenManager: InjectionToken<ServiceAccountTokenManager> =
  createToken<ServiceAccountTokenManager>('ServiceAccountTokenManager');

/**
 * The token manager of an agent without an API server: every request fails with the
 * kubelet's standalone message (`failed to fetch token: cannot use TokenManager when
 * kubelet is in standalone mode`), so a projected `serviceAccountToken` source fails
 * its mount.
 */
export const standaloneServiceAccountTokenManager: ServiceAccountTokenManager = {
  getServiceAccountToken: (namespace, name) =>
    Promise.reject(
      new FailedPreconditionError(
        `failed to fetch token: cannot use TokenManager when kubelet is in standalone mode (no API server to request a token for service account "${namespace}/${name}")`,
      ),
    ),
  deleteServiceAccountToken() {},
};
