import {
  NotFoundError,
  UnavailableError,
  isNodeAgentError,
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type Random,
  type ServiceAccountTokenManager,
  type TokenRequestSpec,
  type TokenRequestStatus,
} from '@nodeagent/core';
import { apiFailureOf, rawApiCall } from './api-call.js';
import type { KubeApi } from './kube-api.js';

/** Kubelet token manager `maxTTL`: a token older than 24 h is refreshed whatever its lifetime. */
export const maxTokenTtlMs = 24 * 60 * 60 * 1000;
/** Kubelet `gcPeriod`: expired tokens are dropped from the cache at most this often (here: on access). */
export const tokenGcPeriodMs = 60_000;
/** Kubelet `maxJitter`: up to 10 s (whole seconds) earlier refreshes, so pods do not refresh at once. */
export const maxTokenRefreshJitterMs = 10_000;

/** A TokenRequest as the API server answered it: the defaulted spec and the token. */
export interface TokenRequestResult {
  spec: TokenRequestSpec;
  status: TokenRequestStatus;
}

/** Asks the API server for a token (`POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`). */
export type RequestServiceAccountToken = (
  namespace: string,
  name: string,
  spec: TokenRequestSpec,
) => Promise<TokenRequestResult>;

/** Options of {@link ApiServiceAccountTokenManager}. */
export interface ApiServiceAccountTokenManagerOptions {
  /** The agent's API clients; requests go through its rate limiter. Needed unless `requestToken` is given. */
  api?: KubeApi;
  /** Replaces the TokenRequest call (tests). */
  requestToken?: RequestServiceAccountToken;
  clock: Clock;
  /** Source of the refresh jitter; `Math.random` by default. */
  random?: Random;
  logger?: Logger;
}

interface CachedToken {
  result: TokenRequestResult;
  expiresAtMs: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The spec the server answered with (its defaults filled in), falling back to what was asked. */
function answeredSpec(raw: Record<string, unknown>, asked: TokenRequestSpec): TokenRequestSpec {
  const out: TokenRequestSpec = { ...asked };
  if (Array.isArray(raw.audiences))
    out.audiences = raw.audiences.filter((a): a is string => typeof a === 'string');
  if (typeof raw.expirationSeconds === 'number') out.expirationSeconds = raw.expirationSeconds;
  const ref = raw.boundObjectRef;
  if (isRecord(ref) && typeof ref.kind === 'string' && typeof ref.name === 'string') {
    out.boundObjectRef = {
      kind: ref.kind,
      name: ref.name,
      ...(typeof ref.apiVersion === 'string' ? { apiVersion: ref.apiVersion } : {}),
      ...(typeof ref.uid === 'string' ? { uid: ref.uid } : {}),
    };
  }
  return out;
}

/** The TokenRequest client: one rate-limited call through client-node, answering the raw JSON. */
export function tokenRequestClient(api: KubeApi): RequestServiceAccountToken {
  return async (namespace, name, spec) => {
    let raw: unknown;
    try {
      raw = await rawApiCall((o) =>
        api.core.createNamespacedServiceAccountToken(
          {
            namespace,
            name,
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              metadata: { name, namespace },
              spec: {
                audiences: spec.audiences ?? [],
                ...(spec.expirationSeconds !== undefined
                  ? { expirationSeconds: spec.expirationSeconds }
                  : {}),
                ...(spec.boundObjectRef ? { boundObjectRef: spec.boundObjectRef } : {}),
              },
            },
          },
          o,
        ),
      );
    } catch (err) {
      const f = apiFailureOf(err);
      // The server's own words (`serviceaccounts "x" not found`), as the kubelet reports them.
      const message = f.message.replace(/^HTTP \d+: /, '');
      if (f.code === 404) throw new NotFoundError(message, { cause: err, detail: f.message });
      throw new UnavailableError(message, { cause: err, detail: f.message });
    }
    const body = isRecord(raw) ? raw : {};
    const status = isRecord(body.status) ? body.status : {};
    if (typeof status.token !== 'string' || typeof status.expirationTimestamp !== 'string') {
      throw new UnavailableError('the TokenRequest answer has no status.token/expirationTimestamp');
    }
    return {
      spec: answeredSpec(isRecord(body.spec) ? body.spec : {}, spec),
      status: { token: status.token, expirationTimestamp: status.expirationTimestamp },
    };
  };
}

/**
 * The cache key of a request (kubelet `keyFunc`): ServiceAccount, namespace,
 * audiences, requested expiration and bound object — never the token.
 */
export function tokenCacheKey(namespace: string, name: string, spec: TokenRequestSpec): string {
  return JSON.stringify([
    name,
    namespace,
    spec.audiences ?? [],
    spec.expirationSeconds ?? 0,
    spec.boundObjectRef ?? null,
  ]);
}

/**
 * Service-account tokens from the TokenRequest API (kubelet pkg/kubelet/token
 * `Manager`), cached per ServiceAccount, namespace, audiences, requested expiration
 * and bound pod. A cached token is used until it {@link requiresTokenRefresh needs a
 * refresh}; when a refresh fails the cached token is still used while it has not
 * expired (the failure is logged), after that the failure is thrown (`token … expired
 * and refresh failed: …`); with nothing cached, `failed to fetch token: <server
 * message>`. Expired tokens are dropped on access at most once a minute (the kubelet's
 * gc period) and a pod's tokens with {@link deleteServiceAccountToken}; there are no
 * timers. Concurrent requests for one key share one API call.
 */
export class ApiServiceAccountTokenManager implements ServiceAccountTokenManager {
  private readonly cache = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<TokenRequestStatus>>();
  private readonly requestToken: RequestServiceAccountToken;
  private readonly random: Random;
  private readonly logger: Logger;
  private lastGcMs: number;

  constructor(private readonly options: ApiServiceAccountTokenManagerOptions) {
    const request =
      options.requestToken ?? (options.api ? tokenRequestClient(options.api) : undefined);
    if (!request) throw new Error('ApiServiceAccountTokenManager needs api or requestToken');
    this.requestToken = request;
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({ component: 'token-manager' });
    this.lastGcMs = options.clock.now();
  }

  /** Number of cached tokens (for tests and metrics). */
  get size(): number {
    return this.cache.size;
  }

  getServiceAccountToken(
    namespace: string,
    name: string,
    spec: TokenRequestSpec,
  ): Promise<TokenRequestStatus> {
    this.cleanup();
    const key = tokenCacheKey(namespace, name, spec);
    const cached = this.cache.get(key);
    if (cached && !this.requiresRefresh(cached)) return Promise.resolve(cached.result.status);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.fetch(key, namespace, name, spec, cached).finally(() =>
      this.inflight.delete(key),
    );
    this.inflight.set(key, p);
    return p;
  }

  deleteServiceAccountToken(podUid: string): void {
    for (const [k, t] of this.cache) {
      if (t.result.spec.boundObjectRef?.uid === podUid) this.cache.delete(k);
    }
  }

  private async fetch(
    key: string,
    namespace: string,
    name: string,
    spec: TokenRequestSpec,
    cached: CachedToken | undefined,
  ): Promise<TokenRequestStatus> {
    let result: TokenRequestResult;
    try {
      result = await this.requestToken(namespace, name, spec);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const ErrorClass =
        isNodeAgentError(err, 'NotFound') && cached === undefined
          ? NotFoundError
          : UnavailableError;
      if (cached === undefined)
        throw new ErrorClass(`failed to fetch token: ${why}`, { cause: err });
      if (this.options.clock.now() > cached.expiresAtMs) {
        throw new UnavailableError(`token ${key} expired and refresh failed: ${why}`, {
          cause: err,
        });
      }
      this.logger.error("Couldn't update token", { cacheKey: key, error: why });
      return cached.result.status;
    }
    const expiresAtMs = Date.parse(result.status.expirationTimestamp);
    if (Number.isNaN(expiresAtMs)) {
      throw new UnavailableError(
        `failed to fetch token: bad expirationTimestamp ${JSON.stringify(result.status.expirationTimestamp)}`,
      );
    }
    this.cache.set(key, { result, expiresAtMs });
    return result.status;
  }

  private requiresRefresh(t: CachedToken): boolean {
    const expirationSeconds = t.result.spec.expirationSeconds;
    if (expirationSeconds === undefined) {
      this.logger.error('Expiration seconds was nil for token request', {});
      return false;
    }
    const jitterMs = Math.floor(this.random.float() * (maxTokenRefreshJitterMs / 1000)) * 1000;
    return requiresTokenRefresh(
      this.options.clock.now(),
      t.expiresAtMs,
      expirationSeconds,
      jitterMs,
    );
  }

  private cleanup(): void {
    const now = this.options.clock.now();
    if (now - this.lastGcMs < tokenGcPeriodMs) return;
    this.lastGcMs = now;
    for (const [k, t] of this.cache) if (now > t.expiresAtMs) this.cache.delete(k);
  }
}

/**
 * The kubelet's refresh rule (`requiresRefresh`) for a token expiring at
 * `expiresAtMs` that was requested for `expirationSeconds` (so issued at
 * `expiresAtMs - expirationSeconds`): refresh when it is older than 24 h minus the
 * jitter, when less than 20 % of its lifetime (integer seconds) plus the jitter is
 * left — i.e. older than 80 % of its TTL — or when it was issued in the future (the
 * clock leapt back). All times in ms.
 */
export function requiresTokenRefresh(
  nowMs: number,
  expiresAtMs: number,
  expirationSeconds: number,
  jitterMs: number,
): boolean {
  const issuedAtMs = expiresAtMs - expirationSeconds * 1000;
  if (nowMs > issuedAtMs + maxTokenTtlMs - jitterMs) return true;
  const lastFifthMs = Math.floor((expirationSeconds * 20) / 100) * 1000;
  if (nowMs > expiresAtMs - lastFifthMs - jitterMs) return true;
  return nowMs < issuedAtMs;
}

/** Builds an {@link ApiServiceAccountTokenManager}. */
export function createServiceAccountTokenManager(
  options: ApiServiceAccountTokenManagerOptions,
): ApiServiceAccountTokenManager {
  return new ApiServiceAccountTokenManager(options);
}
