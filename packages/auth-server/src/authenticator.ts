import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { noopLogger, type Clock, type Logger } from '@nodeagent/core';
import type { AuthReviewClient, TokenReview } from './review-client.js';
import { TtlCache } from './ttl-cache.js';

/** The anonymous user name (`user.Anonymous`). */
export const anonymousUser = 'system:anonymous';
/** The group of anonymous requests (`user.AllUnauthenticated`). */
export const unauthenticatedGroup = 'system:unauthenticated';
/** The group every authenticated user gets (`user.AllAuthenticated`). */
export const authenticatedGroup = 'system:authenticated';
/** Kubelet `authentication.webhook.cacheTTL` default: 2 minutes. */
export const defaultAuthenticationCacheTtlMs = 120_000;
/** Bound of the token cache (entries). */
export const defaultTokenCacheSize = 4096;

/** An authenticated identity (the apiserver's `user.Info`). */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** How a request was authenticated. */
export type AuthenticationMethod = 'x509' | 'token' | 'anonymous';

/** The outcome of {@link NodeRequestAuthenticator.authenticate}. */
export type AuthenticationResult =
  { ok: true; user: UserInfo; method: AuthenticationMethod } | { ok: false; reason: string };

/** Options of {@link NodeRequestAuthenticator}. */
export interface NodeRequestAuthenticatorOptions {
  /**
   * Whether client certificates are checked (kubelet `authentication.x509.clientCAFile`
   * set). The TLS layer verifies the chain against that CA; this reads the result.
   */
  x509Enabled: boolean;
  /** Bearer tokens through TokenReview (kubelet `authentication.webhook.enabled`). */
  webhook?: {
    client: AuthReviewClient;
    /** Kubelet `authentication.webhook.cacheTTL`; default 2 min. */
    cacheTtlMs?: number;
    /** Audiences put into the TokenReview (kubelet: none). */
    audiences?: readonly string[];
  };
  /** Kubelet `authentication.anonymous.enabled`; default false. */
  anonymousEnabled?: boolean;
  clock: Clock;
  logger?: Logger;
}

interface CachedTokenResult {
  ok: boolean;
  user?: UserInfo;
}

/** Outcome of one authenticator in the chain (the apiserver's `(resp, ok, err)`). */
type Step = { kind: 'user'; user: UserInfo } | { kind: 'none' } | { kind: 'error'; reason: string };

interface ConnectionMemo {
  step: Step;
  /** The client certificate's `notAfter`, ms since epoch (undefined: unreadable). */
  notAfterMs?: number;
  /** For a user: the authentication result handed out on every request (immutable). */
  result?: AuthenticationResult;
}

const clientAuthOid = '1.3.6.1.5.5.7.3.2';

/**
 * The kubelet's request authenticator (`DelegatingAuthenticatorConfig.New`):
 * x509 client certificates, then bearer tokens through a cached TokenReview webhook,
 * in a union where the first success wins; when none succeeds, any error fails the
 * request, and a request without credentials is `system:anonymous` only when
 * anonymous auth is on. Authenticated users get `system:authenticated` added.
 *
 * Token cache (the apiserver's `cachedTokenAuthenticator` with `cacheErrs=false`):
 * authenticated and plainly unauthenticated answers are cached for `cacheTtlMs`;
 * answers carrying `status.error` and failed calls are not cached. Concurrent
 * reviews of one token share one call. Tokens are keyed by their SHA-256.
 */
export class NodeRequestAuthenticator {
  private readonly cache: TtlCache<CachedTokenResult>;
  private readonly inflight = new Map<string, Promise<Step>>();
  /**
   * Per TLS connection: the outcome of verifying its client certificate, the
   * certificate's expiry, and (for a user) the finished result, so a keep-alive
   * request costs one WeakMap lookup and one expiry comparison.
   */
  private readonly perConnection = new WeakMap<object, ConnectionMemo>();
  private readonly logger: Logger;
  /** Number of TokenReview calls made (for tests and metrics). */
  tokenReviews = 0;

  constructor(private readonly options: NodeRequestAuthenticatorOptions) {
    this.cache = new TtlCache(options.clock, defaultTokenCacheSize);
    this.logger = options.logger ?? noopLogger;
  }

  /** Authenticates one request (plain or upgrade). Never rejects. */
  async authenticate(req: IncomingMessage): Promise<AuthenticationResult> {
    return this.authenticateCached(req) ?? this.authenticateFull(req);
  }

  /**
   * The result for a request on a connection whose client certificate was already
   * verified and has not expired (checked now, on every request), without waiting;
   * undefined when the full chain has to run.
   */
  authenticateCached(req: IncomingMessage): AuthenticationResult | undefined {
    if (!this.options.x509Enabled) return undefined;
    const memo = this.perConnection.get(req.socket);
    if (
      memo?.result === undefined ||
      (memo.notAfterMs !== undefined && this.options.clock.now() > memo.notAfterMs)
    )
      return undefined;
    return memo.result;
  }

  private async authenticateFull(req: IncomingMessage): Promise<AuthenticationResult> {
    const errors: string[] = [];
    const x509 = this.x509(req);
    if (x509.kind === 'user') {
      const result: AuthenticationResult = {
        ok: true,
        user: withAuthenticated(x509.user),
        method: 'x509',
      };
      const memo = this.perConnection.get(req.socket);
      if (memo?.step === x509) memo.result = result;
      return result;
    }
    if (x509.kind === 'error') errors.push(x509.reason);

    const token = this.options.webhook ? bearerToken(req) : undefined;
    if (token !== undefined) {
      const t = await this.token(token);
      if (t.kind === 'user') return { ok: true, user: withAuthenticated(t.user), method: 'token' };
      if (t.kind === 'error') errors.push(t.reason);
    }
    if (errors.length > 0) return { ok: false, reason: errors.join('; ') };
    if (this.options.anonymousEnabled === true) {
      return {
        ok: true,
        user: { name: anonymousUser, groups: [unauthenticatedGroup] },
        method: 'anonymous',
      };
    }
    return { ok: false, reason: 'no credentials' };
  }

  private x509(req: IncomingMessage): Step {
    if (!this.options.x509Enabled) return { kind: 'none' };
    // A connection's client certificate never changes: verify it once per connection,
    // but re-check its expiry on every request (as the x509 authenticator does).
    const memo = this.perConnection.get(req.socket);
    if (
      memo !== undefined &&
      (memo.notAfterMs === undefined || this.options.clock.now() <= memo.notAfterMs)
    ) {
      return memo.step;
    }
    const step = this.verifyPeer(req);
    const notAfterMs = step.kind === 'user' ? this.peerNotAfter(req) : undefined;
    if (step.kind === 'user' && notAfterMs !== undefined && this.options.clock.now() > notAfterMs) {
      return { kind: 'error', reason: 'verifying certificate failed: certificate has expired' };
    }
    this.perConnection.set(req.socket, {
      step,
      ...(notAfterMs !== undefined ? { notAfterMs } : {}),
    });
    return step;
  }

  private peerNotAfter(req: IncomingMessage): number | undefined {
    const socket = req.socket as Partial<TLSSocket>;
    const t = Date.parse(socket.getPeerCertificate?.().valid_to ?? '');
    return Number.isNaN(t) ? undefined : t;
  }

  private verifyPeer(req: IncomingMessage): Step {
    const socket = req.socket as Partial<TLSSocket>;
    if (typeof socket.getPeerCertificate !== 'function') return { kind: 'none' };
    const cert = socket.getPeerCertificate();
    // no certificate presented: {} (or null on some versions)
    if (typeof cert !== 'object' || Object.keys(cert).length === 0) {
      return { kind: 'none' };
    }
    if (socket.authorized !== true) {
      const why = socket.authorizationError;
      return {
        kind: 'error',
        reason: `verifying certificate failed: ${why instanceof Error ? why.message : String(why)}`,
      };
    }
    if (Array.isArray(cert.ext_key_usage) && !cert.ext_key_usage.includes(clientAuthOid)) {
      return { kind: 'error', reason: 'certificate is not valid for client authentication' };
    }
    const subject = cert.subject as unknown as Record<string, string | string[] | undefined>;
    const cnRaw = subject.CN;
    const cn = Array.isArray(cnRaw) ? cnRaw[0] : cnRaw;
    // CommonNameUserConversion: no CN, no user
    if (cn === undefined || cn === '') return { kind: 'none' };
    const o = subject.O;
    const groups = o === undefined ? [] : Array.isArray(o) ? [...o] : [o];
    return { kind: 'user', user: { name: cn, groups } };
  }

  private token(token: string): Promise<Step> {
    const key = createHash('sha256').update(token).digest('base64');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      return Promise.resolve(
        cached.ok && cached.user
          ? { kind: 'user', user: cached.user }
          : { kind: 'error', reason: 'invalid bearer token' },
      );
    }
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.review(key, token).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private async review(key: string, token: string): Promise<Step> {
    const webhook = this.options.webhook;
    if (!webhook) return { kind: 'none' };
    const ttl = webhook.cacheTtlMs ?? defaultAuthenticationCacheTtlMs;
    const body: TokenReview = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, ...(webhook.audiences ? { audiences: [...webhook.audiences] } : {}) },
    };
    let res: TokenReview;
    try {
      this.tokenReviews++;
      res = await webhook.client.createTokenReview(body);
    } catch (err) {
      this.logger.warn('TokenReview failed', { err: errorText(err) });
      return { kind: 'error', reason: 'token review failed' };
    }
    const status = res.status;
    if (status?.authenticated !== true) {
      if (status?.error !== undefined && status.error !== '') {
        return { kind: 'error', reason: 'invalid bearer token' };
      }
      this.cache.set(key, { ok: false }, ttl);
      return { kind: 'error', reason: 'invalid bearer token' };
    }
    const u = status.user ?? {};
    // Cached with system:authenticated already added: a cache hit allocates nothing.
    const user: UserInfo = withAuthenticated({
      name: u.username ?? '',
      groups: [...(u.groups ?? [])],
      ...(u.uid !== undefined && u.uid !== '' ? { uid: u.uid } : {}),
      ...(u.extra ? { extra: u.extra } : {}),
    });
    this.cache.set(key, { ok: true, user }, ttl);
    return { kind: 'user', user };
  }
}

function withAuthenticated(user: UserInfo): UserInfo {
  return user.groups.includes(authenticatedGroup)
    ? user
    : { ...user, groups: [...user.groups, authenticatedGroup] };
}

/**
 * The bearer token of a request (the apiserver's `bearertoken` authenticator):
 * `Authorization: Bearer <token>`, scheme case-insensitive; undefined when absent.
 */
export function bearerToken(req: IncomingMessage): string | undefined {
  const auth = (req.headers.authorization ?? '').trim();
  if (auth === '') return undefined;
  const parts = auth.split(' ');
  if (parts.length < 2 || parts[0]?.toLowerCase() !== 'bearer') return undefined;
  const token = parts[1];
  return token === undefined || token === '' ? undefined : token;
}

/** A short text for logs (never sent to clients). */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
