import { noopLogger, type Clock, type Logger } from '@nodeagent/core';
import type { UserInfo } from './authenticator.js';
import { errorText } from './authenticator.js';
import type { AuthReviewClient, SubjectAccessReview } from './review-client.js';
import { TtlCache } from './ttl-cache.js';

/** Kubelet `authorization.webhook.cacheAuthorizedTTL` default: 5 minutes. */
export const defaultCacheAuthorizedTtlMs = 300_000;
/** Kubelet `authorization.webhook.cacheUnauthorizedTTL` default: 30 seconds. */
export const defaultCacheUnauthorizedTtlMs = 30_000;
/** Bound of the decision cache (entries). */
export const defaultAuthorizationCacheSize = 8192;

/** What one request asks to do (the apiserver's `authorizer.Attributes`, resource form). */
export interface NodeRequestAttributes {
  user: UserInfo;
  /** API verb from the HTTP method (`get`, `create`, `update`, `patch`, `delete`, or ''). */
  verb: string;
  /** Always `nodes`. */
  resource: 'nodes';
  /** `stats`, `metrics`, `log`, `checkpoint`, `pods`, `healthz`, `configz`, `proxy`… */
  subresource: string;
  /** The node's name. */
  name: string;
  /** The request path. */
  path: string;
}

/** Decision of an authorizer (`authorizer.Decision`). */
export type AuthorizationDecision = 'allow' | 'deny' | 'no-opinion';

/** Decides whether a request may proceed. Rejects when it cannot decide (→ 500). */
export interface NodeAuthorizer {
  authorize(attributes: NodeRequestAttributes): Promise<AuthorizationDecision>;
  /**
   * Optional fast path: a decision known without any call (a warm cache, or a fixed
   * answer), or undefined when {@link authorize} must be asked.
   */
  cachedDecision?(attributes: NodeRequestAttributes): AuthorizationDecision | undefined;
}

/** The kubelet's HTTP-method-to-verb mapping. */
export function apiVerbForMethod(method: string | undefined): string {
  switch (method) {
    case 'POST':
      return 'create';
    case 'GET':
      return 'get';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return '';
  }
}

/** Kubelet `isSubpath`: `path` equals `prefix` (without a trailing slash) or lies under it. */
export function isSubpath(path: string, prefix: string): boolean {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || (path.startsWith(p) && path[p.length] === '/');
}

/**
 * The subresources a request path is checked against, in order: the kubelet's
 * `GetRequestAttributes` with `KubeletFineGrainedAuthz` (beta and on by default since
 * Kubernetes 1.33): `/pods`, `/runningpods/` → `pods`, `/healthz` → `healthz`,
 * `/configz` → `configz` are tried first with `proxy` as the fallback; `/stats` →
 * `stats`, `/metrics` → `metrics`, `/logs` → `log`, `/checkpoint` → `checkpoint`;
 * everything else → `proxy`.
 */
export function subresourcesForPath(path: string, fineGrained = true): string[] {
  const out: string[] = [];
  if (fineGrained) {
    if (isSubpath(path, '/pods')) out.push('pods');
    else if (isSubpath(path, '/healthz')) out.push('healthz');
    else if (isSubpath(path, '/configz')) out.push('configz');
    else if (isSubpath(path, '/statusz')) out.push('statusz');
    else if (isSubpath(path, '/runningpods/')) out.push('pods');
  }
  if (isSubpath(path, '/stats')) out.push('stats');
  else if (isSubpath(path, '/metrics')) out.push('metrics');
  else if (isSubpath(path, '/logs')) out.push('log');
  else if (isSubpath(path, '/checkpoint')) out.push('checkpoint');
  else out.push('proxy');
  return out;
}

/** The attributes tried for one request, in order (kubelet `GetRequestAttributes`). */
export function nodeRequestAttributes(
  user: UserInfo,
  method: string | undefined,
  path: string,
  nodeName: string,
  fineGrained = true,
): NodeRequestAttributes[] {
  const verb = apiVerbForMethod(method);
  return subresourcesForPath(path, fineGrained).map((subresource) => ({
    user,
    verb,
    resource: 'nodes',
    subresource,
    name: nodeName,
    path,
  }));
}

/** Authorizer mode `AlwaysAllow`: every request passes. Only when configured. */
export const alwaysAllowAuthorizer: NodeAuthorizer = {
  authorize: () => Promise.resolve('allow'),
  cachedDecision: () => 'allow',
};

/** Options of {@link WebhookAuthorizer}. */
export interface WebhookAuthorizerOptions {
  client: AuthReviewClient;
  clock: Clock;
  /** Kubelet `authorization.webhook.cacheAuthorizedTTL`; default 5 min. */
  cacheAuthorizedTtlMs?: number;
  /** Kubelet `authorization.webhook.cacheUnauthorizedTTL`; default 30 s. */
  cacheUnauthorizedTtlMs?: number;
  logger?: Logger;
}

/**
 * Authorizer mode `Webhook` (the apiserver's webhook authorizer): one
 * SubjectAccessReview per distinct set of attributes, with its answer cached —
 * allowed for `cacheAuthorizedTtlMs`, not allowed for `cacheUnauthorizedTtlMs`; a
 * failed call is not cached and rejects. `denied` → deny, `allowed` → allow,
 * neither → no opinion (which the server treats as a refusal). Concurrent identical
 * reviews share one call.
 */
export class WebhookAuthorizer implements NodeAuthorizer {
  private readonly cache: TtlCache<AuthorizationDecision>;
  private readonly inflight = new Map<string, Promise<AuthorizationDecision>>();
  private readonly logger: Logger;
  /** Number of SubjectAccessReview calls made. */
  reviews = 0;

  constructor(private readonly options: WebhookAuthorizerOptions) {
    this.cache = new TtlCache(options.clock, defaultAuthorizationCacheSize);
    this.logger = options.logger ?? noopLogger;
  }

  authorize(attributes: NodeRequestAttributes): Promise<AuthorizationDecision> {
    const key = this.cacheKey(attributes);
    const cached = this.cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.review(key, subjectAccessReviewFor(attributes)).finally(() =>
      this.inflight.delete(key),
    );
    this.inflight.set(key, p);
    return p;
  }

  /** The cached decision for `attributes` (same cache and TTLs as {@link authorize}), without waiting. */
  cachedDecision(attributes: NodeRequestAttributes): AuthorizationDecision | undefined {
    return this.cache.get(this.cacheKey(attributes));
  }

  /** JSON of the user part of a review's spec, per user object (users are never mutated). */
  private readonly userKeys = new WeakMap<UserInfo, string>();

  /**
   * The cache key: everything the SubjectAccessReview's spec holds (user, uid, groups,
   * extra, verb, resource, subresource, name), as JSON, so two requests share a
   * decision exactly when they would send the same review. The user part is
   * serialized once per user object.
   */
  private cacheKey(a: NodeRequestAttributes): string {
    let userKey = this.userKeys.get(a.user);
    if (userKey === undefined) {
      const u = a.user;
      userKey = JSON.stringify([u.name, u.uid ?? null, u.groups, u.extra ?? null]);
      this.userKeys.set(a.user, userKey);
    }
    return `${userKey}${JSON.stringify([a.verb, a.resource, a.subresource, a.name])}`;
  }

  private async review(key: string, body: SubjectAccessReview): Promise<AuthorizationDecision> {
    this.reviews++;
    let res: SubjectAccessReview;
    try {
      res = await this.options.client.createSubjectAccessReview(body);
    } catch (err) {
      this.logger.warn('SubjectAccessReview failed', { err: errorText(err) });
      throw new Error('authorization webhook call failed', { cause: err });
    }
    const status = res.status ?? { allowed: false };
    if (status.allowed && status.denied === true) {
      throw new Error('webhook subject access review returned both allow and deny response');
    }
    const decision: AuthorizationDecision =
      status.denied === true ? 'deny' : status.allowed ? 'allow' : 'no-opinion';
    this.cache.set(
      key,
      decision,
      status.allowed
        ? (this.options.cacheAuthorizedTtlMs ?? defaultCacheAuthorizedTtlMs)
        : (this.options.cacheUnauthorizedTtlMs ?? defaultCacheUnauthorizedTtlMs),
    );
    return decision;
  }
}

/** The SubjectAccessReview the webhook authorizer sends for `attributes`. */
export function subjectAccessReviewFor(attributes: NodeRequestAttributes): SubjectAccessReview {
  const u = attributes.user;
  return {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user: u.name,
      ...(u.uid !== undefined ? { uid: u.uid } : {}),
      groups: [...u.groups],
      ...(u.extra ? { extra: u.extra } : {}),
      resourceAttributes: {
        verb: attributes.verb,
        version: 'v1',
        resource: attributes.resource,
        subresource: attributes.subresource,
        name: attributes.name,
      },
    },
  };
}
