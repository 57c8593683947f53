import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createSecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Server as HttpServer } from 'node:http';
import {
  cri,
  InvalidConfigError,
  isNodeAgentError,
  ErrorCode,
  noopLogger,
  type Clock,
  type Logger,
  type StatsProvider,
  type k8s,
} from '@nodeagent/core';
import { NodeRequestAuthenticator, errorText, type UserInfo } from './authenticator.js';
import {
  WebhookAuthorizer,
  alwaysAllowAuthorizer,
  nodeRequestAttributes,
  type NodeAuthorizer,
} from './authorizer.js';
import { readContainerLog, type ContainerLogReadOptions } from './container-log.js';
import { pingHealthCheck, runHealthz, type HealthCheck } from './healthz.js';
import { defaultNodeLogDir, sendText, serveNodeLog } from './node-logs.js';
import { prometheusTextContentType, renderResourceMetrics } from './resource-metrics.js';
import type { AuthReviewClient } from './review-client.js';
import {
  findPodContainers,
  findPodSandbox,
  podList,
  runningPodList,
  type NodeApiRuntime,
} from './runtime-pods.js';
import { loadServingCertificate, type ServingCertificate } from './serving-cert.js';
import { proxyUpgrade } from './stream-proxy.js';
import { nodeTlsMinVersion, openSslCipherList } from './tls-options.js';

/** Kubelet `port` default. */
export const defaultKubeletPort = 10250;
/** Kubelet `address` default. */
export const defaultKubeletAddress = '0.0.0.0';
/** Kubelet `MaxHeaderBytes`: 1 MiB. */
export const defaultMaxHeaderBytes = 1 << 20;
/** Time a client gets to send its request headers (slowloris guard); 30 s. */
export const defaultHeadersTimeoutMs = 30_000;
/** Time a client gets to send its whole request; 5 min. */
export const defaultRequestTimeoutMs = 300_000;
/** Time a client gets to finish the TLS handshake; 10 s. */
export const defaultHandshakeTimeoutMs = 10_000;
/** Kubelet `streamingConnectionIdleTimeout` default: 4 h. */
export const defaultStreamingConnectionIdleTimeoutMs = 4 * 3600 * 1000;
/** The kubelet's pod log directory. */
export const defaultPodLogsDir = '/var/log/pods';

/** A Prometheus registry as prom-client's `Registry` exposes it. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Where the endpoints get what they serve. Each endpoint whose source is missing is 404. */
export interface NodeApiProviders {
  /** The agent's pods, with status (`/pods`, and pod lookups of logs/exec). */
  pods?: () => readonly k8s.Pod[];
  /** The CRI runtime (`/runningpods/`, container logs, exec/attach/portForward). */
  runtime?: NodeApiRuntime;
  /** The Summary API (`/stats/summary`, `/metrics/resource`). */
  stats?: StatsProvider;
  /** The agent's metrics (`/metrics`). */
  metrics?: MetricsSource;
  /** The prober's metrics (`/metrics/probes`). */
  probeMetrics?: MetricsSource;
  /** cAdvisor's container and machine metrics (`/metrics/cadvisor`, authorized as nodes/metrics). */
  cadvisorMetrics?: MetricsSource;
  /** The effective configuration (`/configz` answers `{"kubeletconfig": …}`). */
  configz?: () => unknown;
  /** Health checks of `/healthz`; default `ping` only. */
  healthChecks?: readonly HealthCheck[];
}

/** TLS settings (kubelet `tlsCertFile`, `tlsPrivateKeyFile`, `tlsMinVersion`, `tlsCipherSuites`). */
export interface NodeApiTlsOptions {
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** Where a self-signed pair is kept; default `<rootDir>/pki`. */
  certDir?: string;
  /** `VersionTLS12` (default) or `VersionTLS13`. */
  tlsMinVersion?: string;
  /** Go/IANA cipher suite names; default Node's. */
  tlsCipherSuites?: readonly string[];
  /** Host name in a generated certificate; default the node name. */
  hostname?: string;
  /** Extra IP SANs of a generated certificate. */
  alternateIps?: readonly string[];
  /** Extra DNS SANs of a generated certificate. */
  alternateDnsNames?: readonly string[];
}

/** Kubelet `authentication`. */
export interface NodeApiAuthenticationOptions {
  /** `x509.clientCAFile`: PEM file of the CAs that sign client certificates. */
  clientCaFile?: string;
  /** The same as PEM text (takes precedence over the file). */
  clientCaPem?: string;
  /** `webhook.enabled` (TokenReview) and `webhook.cacheTTL` (default 2 min). */
  webhook?: { enabled: boolean; cacheTtlMs?: number };
  /** `anonymous.enabled`; default false. */
  anonymous?: { enabled: boolean };
}

/** Kubelet `authorization`. */
export interface NodeApiAuthorizationOptions {
  /** `Webhook` (default) or `AlwaysAllow`. */
  mode?: 'Webhook' | 'AlwaysAllow';
  /** `webhook.cacheAuthorizedTTL` (default 5 min), `webhook.cacheUnauthorizedTTL` (default 30 s). */
  webhook?: { cacheAuthorizedTtlMs?: number; cacheUnauthorizedTtlMs?: number };
}

/** Options of {@link NodeApiServer}. */
export interface NodeApiServerOptions {
  /** The node's name (the SubjectAccessReview's `name`). */
  nodeName: string;
  /** Kubelet `address`; default `0.0.0.0`. */
  address?: string;
  /** Kubelet `port`; default 10250; 0 picks a free port. */
  port?: number;
  /** Kubelet `readOnlyPort`: plain HTTP, no authentication, no debugging handlers. Default 0 (off). */
  readOnlyPort?: number;
  /** Kubelet `rootDir` (for the default cert dir `<rootDir>/pki`); default `/var/lib/kubelet`. */
  rootDir?: string;
  tls?: NodeApiTlsOptions;
  authentication?: NodeApiAuthenticationOptions;
  authorization?: NodeApiAuthorizationOptions;
  /** The API calls of the webhooks (required with webhook authn or `Webhook` authz). */
  reviewClient?: AuthReviewClient;
  /** `KubeletFineGrainedAuthz` (on by default since 1.33): `pods`/`healthz`/`configz` first, `proxy` second. */
  fineGrainedAuthz?: boolean;
  /** Kubelet `enableDebuggingHandlers`; default true. */
  enableDebuggingHandlers?: boolean;
  /** Kubelet `streamingConnectionIdleTimeout` in ms; default 4 h. */
  streamingConnectionIdleTimeoutMs?: number;
  /** Pod log directory; default `/var/log/pods`. */
  podLogsDir?: string;
  /** Node log directory served under `/logs/`; default `/var/log`. */
  nodeLogDir?: string;
  /** Request-header size limit in bytes; default 1 MiB (larger → 431). */
  maxHeaderBytes?: number;
  /** Header timeout in ms; default 30 s. */
  headersTimeoutMs?: number;
  /** Whole-request timeout in ms; default 5 min. */
  requestTimeoutMs?: number;
  /** TLS handshake timeout in ms; default 10 s. */
  handshakeTimeoutMs?: number;
  /** Poll period of `follow` for container logs in ms; default 100. */
  logFollowPollMs?: number;
  providers?: NodeApiProviders;
  clock: Clock;
  logger?: Logger;
}

type RouteResult = Promise<void>;

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: URLSearchParams;
}

const notFound = '404 page not found\n';
const { ContainerState } = cri;
const debugDisabledPrefixes = [
  '/run/',
  '/exec/',
  '/attach/',
  '/portForward/',
  '/containerLogs/',
  '/runningpods/',
  '/debug/pprof/',
  '/logs/',
];

/** A parsed request target: the decoded path and the query. */
export interface ParsedTarget {
  path: string;
  query: URLSearchParams;
}

/**
 * Splits and checks a request target: the path is percent-decoded (malformed escapes,
 * NUL, `..` segments in raw or encoded form → undefined, answered 400), the query is
 * checked for malformed escapes.
 */
export function parseRequestTarget(url: string | undefined): ParsedTarget | undefined {
  if (url === undefined || !url.startsWith('/')) return undefined;
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  // Without a '%' there is nothing to check or decode (the common case).
  const escaped = url.includes('%');
  if (escaped && (/%(?![0-9A-Fa-f]{2})/.test(rawPath) || /%(?![0-9A-Fa-f]{2})/.test(rawQuery)))
    return undefined;
  let path = rawPath;
  if (escaped) {
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      return undefined;
    }
  }
  if (path.includes('\0') || (path.includes('..') && path.split('/').some((s) => s === '..')))
    return undefined;
  try {
    // decodes + as space like Go's ParseQuery
    return { path, query: new URLSearchParams(rawQuery) };
  } catch {
    return undefined;
  }
}

/** Go's `strconv.ParseBool`. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Kubernetes query-parameter bool conversion: anything but 0/f/false/n/no (any case) is true. */
function queryBool(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  if (v === null) return false;
  return !['0', 'f', 'false', 'n', 'no'].includes(v.toLowerCase());
}

function queryInt(query: URLSearchParams, name: string): number | undefined | 'invalid' {
  const v = query.get(name);
  if (v === null) return undefined;
  if (!/^[+-]?\d{1,18}$/.test(v)) return 'invalid';
  return Number(v);
}

/** Options of {@link parseContainerLogQuery}'s result plus `previous`. */
export interface ContainerLogQuery extends ContainerLogReadOptions {
  previous: boolean;
}

/**
 * Parses the `/containerLogs` query as the kubelet does (`PodLogOptions` via the
 * parameter codec, then `ValidatePodLogOptions`): undecodable values → 400
 * `{"message": "Unable to decode query."}`, invalid ones (negative tailLines,
 * limitBytes or sinceSeconds below 1, both sinceSeconds and sinceTime, unknown
 * stream, tailLines with one stream) → 422 `{"message": "Invalid request."}`.
 * `tail=N|all` is the legacy spelling of tailLines.
 */
export function parseContainerLogQuery(
  query: URLSearchParams,
  nowMs: number,
): ContainerLogQuery | { status: 400 | 422; body: string } {
  const q = new URLSearchParams(query);
  const tail = q.get('tail');
  if (tail !== null && tail !== '') {
    if (tail === 'all') q.delete('tailLines');
    else q.set('tailLines', tail);
  }
  const bad = { status: 400 as const, body: '{"message": "Unable to decode query."}' };
  const invalid = { status: 422 as const, body: '{"message": "Invalid request."}' };
  const tailLines = queryInt(q, 'tailLines');
  const limitBytes = queryInt(q, 'limitBytes');
  const sinceSeconds = queryInt(q, 'sinceSeconds');
  if (tailLines === 'invalid' || limitBytes === 'invalid' || sinceSeconds === 'invalid') return bad;
  const sinceTimeRaw = q.get('sinceTime');
  let sinceTimeMs: number | undefined;
  if (sinceTimeRaw !== null && sinceTimeRaw !== '') {
    const m = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(sinceTimeRaw);
    const t = m ? Date.parse(sinceTimeRaw) : Number.NaN;
    if (Number.isNaN(t)) return bad;
    sinceTimeMs = t;
  }
  const streamRaw = q.get('stream');
  if (tailLines !== undefined && tailLines < 0) return invalid;
  if (limitBytes !== undefined && limitBytes < 1) return invalid;
  if (sinceSeconds !== undefined && sinceSeconds < 1) return invalid;
  if (sinceSeconds !== undefined && sinceTimeMs !== undefined) return invalid;
  if (streamRaw !== null && !['Stdout', 'Stderr', 'All'].includes(streamRaw)) return invalid;
  if (streamRaw !== null && streamRaw !== 'All' && tailLines !== undefined) return invalid;
  const sinceMs = sinceSeconds !== undefined ? nowMs - sinceSeconds * 1000 : sinceTimeMs;
  return {
    previous: queryBool(q, 'previous'),
    follow: queryBool(q, 'follow'),
    timestamps: queryBool(q, 'timestamps'),
    ...(tailLines !== undefined ? { tailLines } : {}),
    ...(limitBytes !== undefined ? { limitBytes } : {}),
    ...(sinceMs !== undefined ? { sinceMs } : {}),
    ...(streamRaw === 'Stdout' ? { stream: 'stdout' as const } : {}),
    ...(streamRaw === 'Stderr' ? { stream: 'stderr' as const } : {}),
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function rawResponse(status: number, reason: string, body: string): string {
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `X-Content-Type-Options: nosniff\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

const reasons: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
};

/** Outcome of authenticating and authorizing one request. */
type Admission = { ok: true; user: UserInfo } | { ok: false; status: number; body: string };

/**
 * The kubelet's secured node API (`pkg/kubelet/server`): HTTPS on `address:port` with
 * x509 / TokenReview / anonymous authentication and SubjectAccessReview
 * authorization in front of healthz, pods, runningpods, stats, metrics, container
 * and node logs, configz and the exec/attach/portForward stream proxy. The serving
 * certificate can be swapped at runtime with {@link setServingCertificate} (for
 * certificate rotation); connections already open keep theirs.
 */
export class NodeApiServer {
  private server: HttpsServer | undefined;
  private readOnlyServer: HttpServer | undefined;
  private readonly sockets = new Set<Duplex>();
  private readonly logger: Logger;
  private readonly authenticator: NodeRequestAuthenticator;
  private readonly authorizer: NodeAuthorizer;
  private readonly providers: NodeApiProviders;
  private tlsBase: SecureContextOptions = {};
  private certificate: ServingCertificate | undefined;
  private clientCaPem: string | undefined;
  private stopping = false;
  private readonly inflight = new Set<AbortController>();

  constructor(private readonly options: NodeApiServerOptions) {
    this.logger = (options.logger ?? noopLogger).child({ component: 'auth-server' });
    this.providers = options.providers ?? {};
    const authn = options.authentication ?? {};
    const webhookAuthn = authn.webhook?.enabled === true;
    const mode = options.authorization?.mode ?? 'Webhook';
    if ((webhookAuthn || mode === 'Webhook') && options.reviewClient === undefined) {
      throw new InvalidConfigError(
        'the authentication/authorization webhooks need a client for the API server (reviewClient)',
      );
    }
    if (mode !== 'Webhook' && mode !== 'AlwaysAllow') {
      throw new InvalidConfigError(`authorization.mode: unknown mode ${JSON.stringify(mode)}`);
    }
    this.authenticator = new NodeRequestAuthenticator({
      x509Enabled: authn.clientCaFile !== undefined || authn.clientCaPem !== undefined,
      ...(webhookAuthn && options.reviewClient
        ? {
            webhook: {
              client: options.reviewClient,
              ...(authn.webhook?.cacheTtlMs !== undefined
                ? { cacheTtlMs: authn.webhook.cacheTtlMs }
                : {}),
            },
          }
        : {}),
      anonymousEnabled: authn.anonymous?.enabled === true,
      clock: options.clock,
      logger: this.logger,
    });
    this.authorizer =
      mode === 'AlwaysAllow' || options.reviewClient === undefined
        ? alwaysAllowAuthorizer
        : new WebhookAuthorizer({
            client: options.reviewClient,
            clock: options.clock,
            logger: this.logger,
            ...(options.authorization?.webhook?.cacheAuthorizedTtlMs !== undefined
              ? { cacheAuthorizedTtlMs: options.authorization.webhook.cacheAuthorizedTtlMs }
              : {}),
            ...(options.authorization?.webhook?.cacheUnauthorizedTtlMs !== undefined
              ? { cacheUnauthorizedTtlMs: options.authorization.webhook.cacheUnauthorizedTtlMs }
              : {}),
          });
  }

  /** The request authenticator (its `tokenReviews` counter shows webhook calls). */
  get requestAuthenticator(): NodeRequestAuthenticator {
    return this.authenticator;
  }

  /** The request authorizer. */
  get requestAuthorizer(): NodeAuthorizer {
    return this.authorizer;
  }

  /** The serving certificate in use (after start). */
  get servingCertificate(): ServingCertificate | undefined {
    return this.certificate;
  }

  /** Address and port the HTTPS server listens on (after start). */
  address(): { address: string; port: number } {
    const a = this.server?.address();
    if (a === null || a === undefined || typeof a === 'string') throw new Error('not listening');
    return { address: a.address, port: a.port };
  }

  /** Port of the read-only server, when it runs. */
  readOnlyAddress(): { address: string; port: number } | undefined {
    const a = this.readOnlyServer?.address();
    if (a === null || a === undefined || typeof a === 'string') return undefined;
    return { address: a.address, port: a.port };
  }

  /**
   * Loads (or generates) the serving certificate and the client CA, and starts
   * listening. Logs a loud warning when anonymous auth is on or authorization is
   * `AlwaysAllow`.
   * @throws InvalidConfigError for bad TLS settings or unreadable files.
   */
  async start(): Promise<void> {
    if (this.server) return;
    const o = this.options;
    const tls = o.tls ?? {};
    const authn = o.authentication ?? {};
    const minVersion = nodeTlsMinVersion(tls.tlsMinVersion);
    const ciphers = openSslCipherList(tls.tlsCipherSuites);
    if (authn.clientCaPem !== undefined) this.clientCaPem = authn.clientCaPem;
    else if (authn.clientCaFile !== undefined) {
      const { readFile } = await import('node:fs/promises');
      try {
        this.clientCaPem = await readFile(authn.clientCaFile, 'utf8');
      } catch (err) {
        throw new InvalidConfigError('cannot read authentication.x509.clientCAFile', {
          cause: err,
        });
      }
    }
    const cert = await loadServingCertificate(
      {
        ...(tls.tlsCertFile !== undefined ? { tlsCertFile: tls.tlsCertFile } : {}),
        ...(tls.tlsPrivateKeyFile !== undefined
          ? { tlsPrivateKeyFile: tls.tlsPrivateKeyFile }
          : {}),
        certDir: tls.certDir ?? join(o.rootDir ?? '/var/lib/kubelet', 'pki'),
        hostname: tls.hostname ?? (o.nodeName === '' ? osHostname() : o.nodeName),
        ...(tls.alternateIps ? { alternateIps: tls.alternateIps } : {}),
        ...(tls.alternateDnsNames ? { alternateDnsNames: tls.alternateDnsNames } : {}),
      },
      o.clock.now(),
    );
    if (cert.generated)
      this.logger.info('Generated a self-signed serving certificate', { certDir: tls.certDir });
    this.certificate = { certPem: cert.certPem, keyPem: cert.keyPem };
    this.tlsBase = {
      minVersion,
      ...(ciphers !== undefined ? { ciphers } : {}),
      ...(this.clientCaPem !== undefined ? { ca: this.clientCaPem } : {}),
    };
    try {
      createSecureContext({ ...this.tlsBase, cert: cert.certPem, key: cert.keyPem });
    } catch (err) {
      throw new InvalidConfigError(`invalid TLS configuration: ${errorText(err)}`, { cause: err });
    }
    if (o.authorization?.mode === 'AlwaysAllow') {
      this.logger.warn(
        'INSECURE: authorization mode AlwaysAllow: every authenticated request to the node API is allowed',
      );
    }
    if (authn.anonymous?.enabled === true) {
      this.logger.warn(
        'INSECURE: anonymous requests to the node API are authenticated as system:anonymous',
      );
    }
    const server = createHttpsServer({
      ...this.tlsBase,
      cert: cert.certPem,
      key: cert.keyPem,
      requestCert: this.clientCaPem !== undefined,
      rejectUnauthorized: false,
      maxHeaderSize: o.maxHeaderBytes ?? defaultMaxHeaderBytes,
      headersTimeout: o.headersTimeoutMs ?? defaultHeadersTimeoutMs,
      requestTimeout: o.requestTimeoutMs ?? defaultRequestTimeoutMs,
      handshakeTimeout: o.handshakeTimeoutMs ?? defaultHandshakeTimeoutMs,
      connectionsCheckingInterval: Math.min(
        1000,
        Math.max(10, Math.floor((o.headersTimeoutMs ?? defaultHeadersTimeoutMs) / 4)),
      ),
    });
    this.wire(server, false);
    this.server = server;
    await listen(server, o.port ?? defaultKubeletPort, o.address ?? defaultKubeletAddress);
    if ((o.readOnlyPort ?? 0) > 0) {
      const ro = createHttpServer({
        maxHeaderSize: o.maxHeaderBytes ?? defaultMaxHeaderBytes,
        headersTimeout: o.headersTimeoutMs ?? defaultHeadersTimeoutMs,
        requestTimeout: o.requestTimeoutMs ?? defaultRequestTimeoutMs,
      });
      this.wire(ro, true);
      this.readOnlyServer = ro;
      await listen(ro, o.readOnlyPort ?? 0, o.address ?? defaultKubeletAddress);
      this.logger.warn(
        'INSECURE: the read-only port serves pods, stats and metrics without authentication',
      );
    }
    this.logger.info('Started the node API server', this.address());
  }

  /**
   * Swaps the serving certificate (and key) without a restart: new TLS handshakes use
   * it; open connections are not touched. The hook for serving-certificate rotation.
   */
  setServingCertificate(cert: ServingCertificate): void {
    const ctx = { ...this.tlsBase, cert: cert.certPem, key: cert.keyPem };
    createSecureContext(ctx); // throws on a bad pair before anything changes
    this.server?.setSecureContext(ctx);
    this.certificate = cert;
  }

  /** Stops listening, ends every connection, stream and log follow. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.inflight) c.abort();
    const servers = [this.server, this.readOnlyServer].filter(
      (s): s is HttpsServer | HttpServer => s !== undefined,
    );
    this.server = undefined;
    this.readOnlyServer = undefined;
    const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of servers) s.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all(closed);
    this.stopping = false;
  }

  private wire(server: HttpsServer | HttpServer, readOnly: boolean): void {
    server.on(readOnly ? 'connection' : 'secureConnection', (socket: Duplex) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const code = err.code ?? '';
      const answer =
        code === 'HPE_HEADER_OVERFLOW'
          ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
          : code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'
            : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
      socket.end(answer);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res, readOnly).catch((err: unknown) => {
        this.logger.error('Node API request failed', {
          path: req.url?.split('?')[0],
          err: errorText(err),
        });
        if (!res.headersSent) sendText(res, 500, 'Internal Server Error\n');
        else res.destroy();
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      this.handleUpgrade(req, socket, head, readOnly).catch((err: unknown) => {
        this.logger.error('Node API upgrade failed', { err: errorText(err) });
        if (socket.writable)
          socket.end(rawResponse(500, reasons[500] ?? '', 'Internal Server Error\n'));
        else socket.destroy();
      });
    });
  }

  /**
   * The hot path of {@link admit} for a keep-alive request: the connection's client
   * certificate already verified (its expiry checked again now) and a cached
   * allow for one of the request's attributes, tried in the same order. Undefined
   * whenever anything is not known without a call; the full path then decides.
   */
  private admitCached(req: IncomingMessage, path: string): Admission | undefined {
    if (this.authorizer.cachedDecision === undefined) return undefined;
    const authn = this.authenticator.authenticateCached(req);
    if (authn?.ok !== true) return undefined;
    const attrs = nodeRequestAttributes(
      authn.user,
      req.method,
      path,
      this.options.nodeName,
      this.options.fineGrainedAuthz ?? true,
    );
    for (const a of attrs) {
      const decision = this.authorizer.cachedDecision(a);
      if (decision === undefined) return undefined;
      if (decision === 'allow') return { ok: true, user: authn.user };
    }
    return undefined;
  }

  /** Authentication, then authorization over the kubelet's attribute list. */
  private async admit(req: IncomingMessage, path: string): Promise<Admission> {
    const authn = await this.authenticator.authenticate(req);
    if (!authn.ok) {
      this.logger.debug('Unauthorized', { path, reason: authn.reason });
      return { ok: false, status: 401, body: 'Unauthorized' };
    }
    const user = authn.user;
    const attrs = nodeRequestAttributes(
      user,
      req.method,
      path,
      this.options.nodeName,
      this.options.fineGrainedAuthz ?? true,
    );
    for (const a of attrs) {
      let decision;
      try {
        decision = await this.authorizer.authorize(a);
      } catch (err) {
        this.logger.error('Authorization error', {
          user: user.name,
          verb: a.verb,
          subresource: a.subresource,
          err: errorText(err),
        });
        return {
          ok: false,
          status: 500,
          body: `Authorization error (user=${user.name}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`,
        };
      }
      if (decision === 'allow') return { ok: true, user };
    }
    const first = attrs[0];
    const subs = attrs.map((a) => a.subresource);
    const subText =
      subs.length === 1 ? `subresource=${subs[0]}` : `subresource(s)=[${subs.join(' ')}]`;
    this.logger.debug('Forbidden', { user: user.name, verb: first?.verb, subresources: subs });
    return {
      ok: false,
      status: 403,
      body: `Forbidden (user=${user.name}, verb=${first?.verb ?? ''}, resource=nodes, ${subText})`,
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse, readOnly: boolean): RouteResult {
    const target = parseRequestTarget(req.url);
    if (!target) {
      sendText(res, 400, 'invalid URL path\n');
      return;
    }
    if (!readOnly) {
      const admission = this.admitCached(req, target.path) ?? (await this.admit(req, target.path));
      if (!admission.ok) {
        sendText(res, admission.status, `${admission.body}\n`);
        return;
      }
    }
    await this.route({ req, res, path: target.path, query: target.query }, readOnly);
  }

  /**
   * An AbortSignal for a long-running response (a followed log): aborted when the
   * response closes or the server stops. Only such routes pay for one.
   */
  private responseSignal(res: ServerResponse): AbortSignal {
    const ctrl = new AbortController();
    if (res.closed || this.stopping) {
      ctrl.abort();
      return ctrl.signal;
    }
    this.inflight.add(ctrl);
    res.on('close', () => {
      ctrl.abort();
      this.inflight.delete(ctrl);
    });
    return ctrl.signal;
  }

  private async handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    readOnly: boolean,
  ): Promise<void> {
    const target = parseRequestTarget(req.url);
    if (!target) {
      socket.end(rawResponse(400, 'Bad Request', 'invalid URL path\n'));
      return;
    }
    if (readOnly) {
      socket.end(rawResponse(404, 'Not Found', notFound));
      return;
    }
    const admission = await this.admit(req, target.path);
    if (!admission.ok) {
      socket.end(
        rawResponse(admission.status, reasons[admission.status] ?? '', `${admission.body}\n`),
      );
      return;
    }
    const kind = ['exec', 'attach', 'portForward'].find((k) => target.path.startsWith(`/${k}/`));
    if (kind === undefined) {
      socket.end(
        rawResponse(
          400,
          'Bad Request',
          'upgrade is only supported for exec, attach and portForward\n',
        ),
      );
      return;
    }
    if (this.options.enableDebuggingHandlers === false) {
      socket.end(rawResponse(405, 'Method Not Allowed', 'Debug endpoints are disabled.\n'));
      return;
    }
    const url = await this.streamingUrl(kind as 'exec' | 'attach' | 'portForward', target);
    if ('status' in url) {
      socket.end(rawResponse(url.status, reasons[url.status] ?? '', url.body));
      return;
    }
    await proxyUpgrade(req, socket, head, url.url, {
      idleTimeoutMs:
        this.options.streamingConnectionIdleTimeoutMs ?? defaultStreamingConnectionIdleTimeoutMs,
      track: (s) => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      },
    });
  }

  private findPod(namespace: string, name: string): k8s.Pod | undefined {
    const pods = this.providers.pods?.() ?? [];
    return pods.find((p) => p.metadata.namespace === namespace && p.metadata.name === name);
  }

  /** Asks the runtime for the streaming URL of an exec/attach/portForward request. */
  private async streamingUrl(
    kind: 'exec' | 'attach' | 'portForward',
    target: ParsedTarget,
  ): Promise<{ url: URL } | { status: number; body: string }> {
    const runtime = this.providers.runtime;
    if (!runtime) return { status: 404, body: notFound };
    const parts = target.path.split('/').slice(2);
    const [ns, podName] = parts;
    const uidPart = kind === 'portForward' ? parts[2] : parts.length === 4 ? parts[2] : undefined;
    const container = kind === 'portForward' ? undefined : parts[parts.length - 1];
    const expected = kind === 'portForward' ? [2, 3] : [3, 4];
    if (!expected.includes(parts.length) || parts.some((p) => p === '') || !ns || !podName) {
      return { status: 404, body: notFound };
    }
    const q = target.query;
    const flag = (n: string): boolean => q.get(n) === '1' || q.get(n) === 'true';
    let stdin = flag('input') || flag('stdin');
    const stdout = flag('output') || flag('stdout');
    let stderr = flag('error') || flag('stderr');
    const tty = flag('tty');
    if (kind !== 'portForward') {
      if (!stdin && !stdout && !stderr) {
        return { status: 400, body: 'you must specify at least 1 of stdin, stdout, stderr\n' };
      }
      if (tty && stderr) stderr = false; // kubelet: tty merges stderr into stdout
    }
    stdin = stdin && true;
    const pod = this.findPod(ns, podName);
    if (!pod || (uidPart !== undefined && pod.metadata.uid !== uidPart)) {
      return { status: 404, body: `pod does not exist\n` };
    }
    const uid = pod.metadata.uid ?? '';
    try {
      let raw: string;
      if (kind === 'portForward') {
        const ports: number[] = [];
        for (const p of q.getAll('port').flatMap((v) => v.split(','))) {
          const n = Number(p);
          if (!/^\d+$/.test(p) || n < 1 || n > 65535)
            return { status: 400, body: `invalid port ${JSON.stringify(p)}\n` };
          ports.push(n);
        }
        const sandbox = await findPodSandbox(runtime, uid);
        if (!sandbox) return { status: 404, body: `pod not found (${JSON.stringify(podName)})\n` };
        raw = (await runtime.portForward({ podSandboxId: sandbox.id, port: ports })).url;
      } else {
        const cmd = q.getAll('command');
        if (kind === 'exec' && cmd.length === 0)
          return { status: 400, body: 'you must specify a command\n' };
        const found = (await findPodContainers(runtime, uid, container ?? '')).find(
          (c) => c.state === ContainerState.CONTAINER_RUNNING,
        );
        if (!found)
          return { status: 404, body: `container not found (${JSON.stringify(container)})\n` };
        raw =
          kind === 'exec'
            ? (await runtime.exec({ containerId: found.id, cmd, tty, stdin, stdout, stderr })).url
            : (await runtime.attach({ containerId: found.id, tty, stdin, stdout, stderr })).url;
      }
      const url = new URL(raw);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        return { status: 500, body: 'the runtime returned an unusable streaming URL\n' };
      }
      return { url };
    } catch (err) {
      this.logger.warn('Streaming request failed', { kind, err: errorText(err) });
      if (isNodeAgentError(err, ErrorCode.NotFound)) return { status: 404, body: 'not found\n' };
      if (err instanceof TypeError)
        return { status: 500, body: 'the runtime returned an unusable streaming URL\n' };
      return { status: 500, body: 'Internal Server Error\n' };
    }
  }

  private async route(ctx: RequestContext, readOnly: boolean): RouteResult {
    const { req, res, path, query } = ctx;
    const method = req.method ?? 'GET';
    const debugging = !readOnly && this.options.enableDebuggingHandlers !== false;
    const p = this.providers;

    if (path === '/healthz' || path.startsWith('/healthz/')) {
      if (method !== 'GET' && method !== 'HEAD')
        return void sendText(res, 405, 'Method Not Allowed\n');
      const r = await runHealthz(
        p.healthChecks ?? [pingHealthCheck],
        path.slice('/healthz/'.length),
        query,
      );
      return void sendText(res, r.status, r.body);
    }
    if (!debugging && !readOnly) {
      const disabled = debugDisabledPrefixes.find(
        (d) => path === d.slice(0, -1) || path.startsWith(d),
      );
      if (disabled !== undefined) return void sendText(res, 405, 'Debug endpoints are disabled.\n');
    }
    if (method !== 'GET' && !(debugging && /^\/(exec|attach|portForward)\//.test(path))) {
      return void sendText(res, 405, 'Method Not Allowed\n');
    }
    if (path === '/pods' || path === '/pods/') {
      if (!p.pods) return void sendText(res, 404, notFound);
      return void sendJson(res, 200, podList([...p.pods()]));
    }
    if (path === '/stats/summary' || path === '/stats/summary/') {
      if (!p.stats) return void sendText(res, 404, notFound);
      const raw = query.get('only_cpu_and_memory');
      const only = raw === null ? false : parseGoBool(raw);
      if (only === undefined)
        return void sendText(res, 400, 'invalid value of only_cpu_and_memory\n');
      const summary = await p.stats.summary(only ? { onlyCpuAndMemory: true } : {});
      return void sendJson(res, 200, summary);
    }
    if (path === '/metrics' || path === '/metrics/probes' || path === '/metrics/cadvisor') {
      const src =
        path === '/metrics'
          ? p.metrics
          : path === '/metrics/probes'
            ? p.probeMetrics
            : p.cadvisorMetrics;
      if (!src) return void sendText(res, 404, notFound);
      const body = await src.metrics();
      res.writeHead(200, {
        'Content-Type': src.contentType,
        'Content-Length': Buffer.byteLength(body),
      });
      return void res.end(body);
    }
    if (path === '/metrics/resource') {
      if (!p.stats) return void sendText(res, 404, notFound);
      const body = await renderResourceMetrics(p.stats);
      res.writeHead(200, {
        'Content-Type': prometheusTextContentType,
        'Content-Length': Buffer.byteLength(body),
      });
      return void res.end(body);
    }
    if (!debugging) return void sendText(res, 404, notFound);
    if (path === '/configz') {
      if (!p.configz) return void sendText(res, 404, notFound);
      return void sendJson(res, 200, { kubeletconfig: p.configz() });
    }
    if (path === '/runningpods/' || path === '/runningpods') {
      if (!p.runtime) return void sendText(res, 404, notFound);
      return void sendJson(res, 200, await runningPodList(p.runtime));
    }
    if (path === '/logs' || path.startsWith('/logs/')) {
      await serveNodeLog(
        this.options.nodeLogDir ?? defaultNodeLogDir,
        path.slice('/logs/'.length),
        path,
        res,
      );
      return;
    }
    if (path.startsWith('/containerLogs/')) return this.containerLogs(ctx);
    if (/^\/(exec|attach|portForward)\//.test(path)) {
      const kind = path.split('/')[1] as 'exec' | 'attach' | 'portForward';
      // validate like the kubelet, then insist on an upgrade
      const url = await this.streamingUrl(kind, { path, query });
      if ('status' in url) return void sendText(res, url.status, url.body);
      return void sendText(res, 400, 'Upgrade request required\n');
    }
    sendText(res, 404, notFound);
  }

  /** `/containerLogs/{namespace}/{pod}/{container}` (kubelet `getContainerLogs`). */
  private async containerLogs(ctx: RequestContext): RouteResult {
    const { res, path, query } = ctx;
    const signal = this.responseSignal(res);
    const parts = path.split('/').slice(2);
    const [ns = '', podName = '', container = ''] = parts;
    if (parts.length !== 3) return void sendText(res, 404, notFound);
    if (ns === '') return void sendText(res, 400, 'Missing podNamespace information\n');
    if (podName === '') return void sendText(res, 400, 'Missing podID information\n');
    if (container === '') return void sendText(res, 400, 'Missing container name information\n');
    const opts = parseContainerLogQuery(query, this.options.clock.now());
    if ('status' in opts) return void sendText(res, opts.status, `${opts.body}\n`);
    const pod = this.findPod(ns, podName);
    if (!pod) return void sendText(res, 404, `pod ${JSON.stringify(podName)} does not exist\n`);
    const inSpec = [
      ...pod.spec.containers,
      ...(pod.spec.initContainers ?? []),
      ...((pod.spec as { ephemeralContainers?: { name: string }[] }).ephemeralContainers ?? []),
    ].some((c) => c.name === container);
    if (!inSpec) {
      return void sendText(
        res,
        404,
        `container ${JSON.stringify(container)} not found in pod ${JSON.stringify(podName)}\n`,
      );
    }
    const runtime = this.providers.runtime;
    if (!runtime) return void sendText(res, 404, notFound);
    const instances = await findPodContainers(runtime, pod.metadata.uid ?? '', container);
    const chosen = opts.previous ? instances[1] : instances[0];
    if (!chosen) {
      const msg = opts.previous
        ? `previous terminated container ${JSON.stringify(container)} in pod ${JSON.stringify(podName)} not found`
        : `container ${JSON.stringify(container)} in pod ${JSON.stringify(podName)} is waiting to start: ContainerCreating`;
      return void sendText(res, 400, `${msg}\n`);
    }
    const status = (await runtime.containerStatus({ containerId: chosen.id })).status;
    const logPath = status?.logPath ?? '';
    if (logPath === '') {
      return void sendText(
        res,
        400,
        `container ${JSON.stringify(container)} in pod ${JSON.stringify(podName)} has no log file\n`,
      );
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Content-Type-Options': 'nosniff' });
    res.flushHeaders();
    const write = (chunk: Buffer): Promise<void> =>
      new Promise((resolve) => {
        if (res.destroyed) return resolve();
        if (res.write(chunk)) resolve();
        else res.once('drain', () => resolve());
      });
    try {
      await readContainerLog(logPath, opts.previous ? { ...opts, follow: false } : opts, {
        clock: this.options.clock,
        ...(this.options.logFollowPollMs !== undefined
          ? { followPollMs: this.options.logFollowPollMs }
          : {}),
        signal,
        sink: { write },
        isRunning: async () => {
          try {
            const s = await runtime.containerStatus({ containerId: chosen.id });
            return s.status?.state === ContainerState.CONTAINER_RUNNING;
          } catch {
            return false;
          }
        },
      });
      res.end();
    } catch (err) {
      this.logger.warn('Reading a container log failed', { err: errorText(err) });
      res.destroy();
    }
  }

  /** Whether {@link stop} is running. */
  get isStopping(): boolean {
    return this.stopping;
  }
}

function listen(server: HttpsServer | HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
}

/** Creates a {@link NodeApiServer}. */
export function createNodeApiServer(options: NodeApiServerOptions): NodeApiServer {
  return new NodeApiServer(options);
}
