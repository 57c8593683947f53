/**
 * The two API calls the node API's webhooks make, as a small interface, plus an
 * adapter over `@nodeagent/kube-client`'s `KubeApi` (typed structurally, so this
 * package does not depend on kube-client or @kubernetes/client-node).
 */

/** `authentication.k8s.io/v1` TokenReview as sent and received (JSON shape). */
export interface TokenReview {
  apiVersion: 'authentication.k8s.io/v1';
  kind: 'TokenReview';
  spec: { token: string; audiences?: string[] };
  status?: TokenReviewStatus;
}

/** Status of a TokenReview. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  audiences?: string[];
  error?: string;
}

/** The `resourceAttributes` of a SubjectAccessReview. */
export interface SubjectAccessReviewResourceAttributes {
  namespace?: string;
  verb: string;
  group?: string;
  version?: string;
  resource: string;
  subresource?: string;
  name?: string;
}

/** `authorization.k8s.io/v1` SubjectAccessReview as sent and received (JSON shape). */
export interface SubjectAccessReview {
  apiVersion: 'authorization.k8s.io/v1';
  kind: 'SubjectAccessReview';
  spec: {
    user: string;
    uid?: string;
    groups?: string[];
    extra?: Record<string, string[]>;
    resourceAttributes: SubjectAccessReviewResourceAttributes;
  };
  status?: SubjectAccessReviewStatus;
}

/** Status of a SubjectAccessReview. */
export interface SubjectAccessReviewStatus {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

/**
 * Creates TokenReviews and SubjectAccessReviews on the API server (the kubelet's
 * `authenticationv1.TokenReviewInterface` / `authorizationv1.SubjectAccessReviewInterface`).
 * Rejects when the call fails (network, 5xx, 403 of the node's own credentials).
 */
export interface AuthReviewClient {
  createTokenReview(body: TokenReview): Promise<TokenReview>;
  createSubjectAccessReview(body: SubjectAccessReview): Promise<SubjectAccessReview>;
}

/**
 * The part of `@nodeagent/kube-client`'s `KubeApi` the adapter needs:
 * `api.authentication.createTokenReview({ body })` and
 * `api.authorization.createSubjectAccessReview({ body })` of @kubernetes/client-node.
 */
export interface KubeApiReviewMethods {
  readonly authentication: { createTokenReview(param: { body: never }): Promise<unknown> };
  readonly authorization: { createSubjectAccessReview(param: { body: never }): Promise<unknown> };
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined;
}

function tokenReviewStatus(raw: unknown): TokenReviewStatus {
  const s = asRecord(raw);
  const u = asRecord(s.user);
  const groups = strings(u.groups);
  const audiences = strings(s.audiences);
  return {
    authenticated: s.authenticated === true,
    user: {
      ...(typeof u.username === 'string' ? { username: u.username } : {}),
      ...(typeof u.uid === 'string' ? { uid: u.uid } : {}),
      ...(groups ? { groups } : {}),
    },
    ...(audiences ? { audiences } : {}),
    ...(typeof s.error === 'string' ? { error: s.error } : {}),
  };
}

function sarStatus(raw: unknown): SubjectAccessReviewStatus {
  const s = asRecord(raw);
  return {
    allowed: s.allowed === true,
    ...(s.denied === true ? { denied: true } : {}),
    ...(typeof s.reason === 'string' ? { reason: s.reason } : {}),
    ...(typeof s.evaluationError === 'string' ? { evaluationError: s.evaluationError } : {}),
  };
}

/**
 * Adapts a `KubeApi` (from `@nodeagent/kube-client`, rate-limited and authenticated
 * with the node's credentials) to {@link AuthReviewClient}. The client-node models of
 * TokenReview and SubjectAccessReview carry no dates, so their fields are read as is.
 */
export function kubeApiReviewClient(api: KubeApiReviewMethods): AuthReviewClient {
  return {
    async createTokenReview(body) {
      const res = asRecord(await api.authentication.createTokenReview({ body: body as never }));
      return { ...body, status: tokenReviewStatus(res.status) };
    },
    async createSubjectAccessReview(body) {
      const res = asRecord(
        await api.authorization.createSubjectAccessReview({ body: body as never }),
      );
      return { ...body, status: sarStatus(res.status) };
    },
  };
}
