/**
 * A strict, in-memory Kubernetes API server for tests and local development: the
 * kube-apiserver wire behaviour (REST verbs, Status errors, list/watch semantics,
 * patch content types, discovery) for the resources a kubelet uses, over plain HTTP
 * on 127.0.0.1.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { RealClock, mathRandom, type Clock, type Random, type Timer } from '@nodeagent/core';
import {
  ApiStatusError,
  badRequest,
  expired,
  methodNotAllowed,
  pathNotFound,
  unsupportedMediaType,
} from './api-status.js';
import {
  ObjectStore,
  fieldValue,
  labelsOf,
  nameOf,
  namespaceOf,
  type StoreEvent,
} from './object-store.js';
import {
  applyPatch,
  isObject,
  patchContentTypes,
  type Json,
  type JsonObject,
  type PatchContentType,
} from './patch.js';
import { apiVersionOf, findResource, servedResources, type ResourceInfo } from './resources.js';
import { CertificateAuthority, type CertificateAndKey } from './certificates.js';
import {
  autoApprovable,
  builtInSignerNames,
  checkSignerRules,
  csrRequestPem,
  csrUsages,
  isCsrApproved,
  isCsrDenied,
  isCsrFailed,
  issueCsrCertificate,
  prepareCsrApproval,
  prepareCsrCreate,
  prepareCsrStatus,
  prepareCsrUpdate,
  withApprovedCondition,
  withFailedCondition,
  type CsrSigningMode,
} from './csr.js';
import { parseCertificateRequest } from './certificate-request.js';
import { admitPodPriority } from './priority.js';
import {
  nodeProxyTarget,
  podStreamTarget,
  proxyKubeletRequest,
  proxyKubeletUpgrade,
  rawStatusResponse,
  splitSchemeNamePort,
  type KubeletTarget,
  type PodStreamKind,
} from './kubelet-proxy.js';
import {
  parsePodLogOptions,
  podLogLocation,
  proxyPodLog,
  type KubeletClientTls,
} from './pod-log.js';
import {
  checkNoEphemeralContainersOnCreate,
  ephemeralContainersSubresource,
  prepareEphemeralContainersUpdate,
} from './ephemeral-containers.js';
import { decodeProtobufCsr, protobufContentType } from './protobuf.js';
import {
  faultError,
  faultMatches,
  type ErrorFault,
  type FaultRequest,
  type LatencyFault,
} from './faults.js';
import { toTable, wantsTable, type IncludeObject } from './table.js';
import {
  ServiceAccountTokenSigner,
  admitPodServiceAccount,
  createTokenRequest,
  defaultServiceAccountName,
  rootCaConfigMapName,
  type ServiceAccountLookup,
} from './service-accounts.js';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  type FieldSelector,
  type LabelSelector,
} from './selectors.js';

/** One request as the server saw it (the audit-log view tests assert on). */
export interface RecordedRequest {
  method: string;
  /** The URL path without the query. */
  path: string;
  /** The raw query string without `?` ('' when none). */
  query: string;
  /** The Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`), or '' for non-resource paths. */
  verb: string;
  /** Resource plural ('' for non-resource paths). */
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** The request's `Content-Type` header ('' when none). */
  contentType: string;
  /** The HTTP status answered. */
  status: number;
  userAgent: string;
  /** The authenticated user name (`system:anonymous` when none). */
  user: string;
}

/** What a request (or a SubjectAccessReview) asks to do, as the authorizer sees it. */
export interface AuthorizationAttributes {
  user: string;
  groups: readonly string[];
  /** Kubernetes verb; for non-resource paths the lower-case HTTP method (`get`). */
  verb: string;
  /** API group ('' for core). */
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** Set for non-resource requests (`/healthz`). */
  path: string;
}

/** An authenticated identity (`user.Info`). */
export interface ApiUser {
  name: string;
  groups?: readonly string[];
}

/** Options of {@link startTestApiServer}. */
export interface TestApiServerOptions {
  /** TCP port on 127.0.0.1; default 0 (an ephemeral port). */
  port?: number;
  /** Clock for timestamps, watch timeouts and bookmarks; default the real clock. */
  clock?: Clock;
  /** Randomness for `generateName`; default `Math.random`. */
  random?: Random;
  /** Changes kept for watches/continues before 410 Gone; default 1000. */
  historySize?: number;
  /** Interval of BOOKMARK events on watches that asked for them, in ms; default 60 000 (the real server's cadence is about a minute). */
  bookmarkIntervalMs?: number;
  /** Watch timeout when the client gives no `timeoutSeconds`, in seconds; default 1800. */
  defaultWatchTimeoutSeconds?: number;
  /**
   * Serve HTTPS with a certificate from a CA generated at start (SAN 127.0.0.1,
   * ::1, localhost) and accept client certificates signed by it (CN = user,
   * O = groups, as kube-apiserver's x509 authenticator). Default false (plain HTTP).
   */
  tls?: boolean;
  /** Bearer tokens the server accepts (`Authorization: Bearer <token>`) and who they are. */
  tokens?: Readonly<Record<string, ApiUser>>;
  /**
   * Answer unauthenticated requests with 401 (health, version and discovery of
   * `/healthz`, `/livez`, `/readyz`, `/version` stay public, as with the default
   * RBAC `system:public-info-viewer`). Default: true with `tls`, false without.
   */
  requireAuthentication?: boolean;
  /**
   * Authorizer for authenticated resource requests and for SubjectAccessReviews;
   * false answers 403 Forbidden. Default: everything is allowed.
   */
  authorize?: (attributes: AuthorizationAttributes) => boolean;
  /** `gitVersion` reported by `/version`; default `v1.33.0`. */
  gitVersion?: string;
  /**
   * CA (PEM) that signed the kubelets' serving certificates, used to verify them
   * when proxying `pods/log` (kube-apiserver's `--kubelet-certificate-authority`).
   * Default: none, and then — as kube-apiserver without that flag — the kubelet's
   * certificate is not verified (a kubelet's self-signed serving certificate works).
   * With a CA, a request with `insecureSkipTLSVerifyBackend=true` skips the check, as
   * on the real server.
   */
  kubeletCaPem?: string;
  /**
   * Kubelet port used for `pods/log` when a node reports none in
   * `status.daemonEndpoints.kubeletEndpoint.Port` (the real server's `--kubelet-port`,
   * 10250). Default: none — such a log request is a 503, so a test never reaches a
   * kubelet it did not start.
   */
  defaultKubeletPort?: number;
  /**
   * The built-in CSR controller (kube-controller-manager's csrapproving + csrsigning):
   * in both modes an approved CSR for `kubernetes.io/kube-apiserver-client-kubelet`,
   * `kubernetes.io/kubelet-serving` or `kubernetes.io/kube-apiserver-client` is
   * signed with the server CA (or marked `Failed` when it breaks the signer's
   * rules). `auto` also approves kubelet client CSRs from bootstrappers/the node
   * itself and kubelet serving CSRs from the node itself. Default `manual`: only
   * `/approval` writes, `kubectl certificate approve` or `signCsr` approve.
   */
  csrSigning?: CsrSigningMode;
  /**
   * The ServiceAccount admission plugin (on by default, as on kube-apiserver): a pod
   * created over HTTP gets `serviceAccountName: default` when it names none, must name
   * an existing ServiceAccount (403 otherwise) and, unless
   * `automountServiceAccountToken` is false, gets the `kube-api-access-<random>`
   * projected volume mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount
   * in every container. Pods written with `store.create` bypass admission (they go
   * straight to "etcd"), so tests that build exact pod specs are not affected. The
   * `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (key `ca.crt`, the
   * server's CA) are kept in every namespace either way.
   */
  serviceAccountAdmission?: boolean;
}

/** Options of {@link TestApiServer.signCsr}. */
export interface SignCsrOptions {
  /** Approve a pending CSR first (reason `TestkitApproved`); default true. With false an unapproved CSR is an error. */
  approve?: boolean;
  /** Certificate lifetime in seconds instead of `spec.expirationSeconds` (at least 600, at most a year). */
  durationSeconds?: number;
}

/** A running test API server. */
export interface TestApiServer {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The backing store; tests may read and write objects directly (watches see the changes). */
  readonly store: ObjectStore;
  /** Every request served so far, in order of completion. */
  readonly requests: readonly RecordedRequest[];
  /** Number of watches currently open. */
  readonly openWatches: number;
  /** TCP connections accepted so far (a client that reuses connections opens few). */
  readonly connectionsAccepted: number;
  /** Fault injection for tests of clients' error handling. */
  readonly faults: TestApiServerFaults;
  /** The CA certificate (PEM) with `tls`; undefined on plain HTTP. */
  readonly caPem: string | undefined;
  /** Issues a client certificate for `user` signed by the server's CA (needs `tls`). */
  issueClientCertificate(user: ApiUser): CertificateAndKey;
  /**
   * The CA (PEM) that signed the API server's kubelet client certificate
   * (CN `kube-apiserver-kubelet-client`, O `system:masters`), which a kubelet
   * should trust for client authentication when the server proxies `pods/log`.
   * Equals {@link caPem} with `tls`; a separate CA is made on plain HTTP.
   */
  readonly kubeletClientCaPem: string;
  /**
   * Approves (unless `approve: false`) and signs the named CSR by hand, as an
   * administrator with `kubectl certificate approve` plus the signer would;
   * returns the stored CSR with `status.certificate`. Throws for a missing,
   * denied or (with `approve: false`) unapproved CSR, or one that breaks its
   * built-in signer's rules.
   */
  signCsr(name: string, options?: SignCsrOptions): JsonObject;
  /** Accepts another bearer token for `user`. */
  addToken(token: string, user: ApiUser): void;
  /**
   * A kubeconfig (JSON, which kubectl and client libraries read as YAML) for this
   * server, authenticating with the given token or client certificate.
   */
  kubeconfig(credentials?: { token: string } | CertificateAndKey): string;
  /** Closes open watches and the listener. */
  stop(): Promise<void>;
}

/** Fault injection on a running {@link TestApiServer}. */
export interface TestApiServerFaults {
  /**
   * Answers matching requests with an error Status (and `Retry-After` when given)
   * instead of serving them. Returns a function that removes the rule.
   */
  failRequests(fault: ErrorFault): () => void;
  /** Delays matching requests by `delayMs` on the server's clock. Returns a function that removes the rule. */
  addLatency(fault: LatencyFault): () => void;
  /**
   * Ends every open watch. `abort: true` destroys the connections mid-stream (a
   * network drop); otherwise the response ends cleanly like a server-side timeout.
   * Returns how many watches were dropped.
   */
  dropWatches(options?: { abort?: boolean }): number;
  /**
   * Makes every open watch go silent without closing it (a half-dead connection):
   * it sends nothing more, not even bookmarks. New watches are not affected.
   * Returns how many watches were stalled.
   */
  stallWatches(): number;
  /** Removes every error and latency rule. */
  clear(): void;
  /** Goes down: stops listening and cuts every connection; the store keeps its state. */
  goDown(): Promise<void>;
  /** Comes back on the same port after {@link goDown}. */
  comeBack(): Promise<void>;
  /** Whether the server is currently down. */
  readonly down: boolean;
}

interface OpenWatch {
  close(abort?: boolean): void;
  stalled: boolean;
}

interface RouteInfo {
  resource: ResourceInfo;
  namespace: string;
  name: string;
  subresource: string;
  /** `nodes/<id>/proxy/<path>`: the path after `proxy/`, as sent (still escaped). */
  proxyPath?: string;
}

interface ContinueToken {
  rv: number;
  start: string;
}

function sortKey(obj: JsonObject): string {
  return `${namespaceOf(obj)}/${nameOf(obj)}`;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: t.rv, start: t.start })).toString(
    'base64url',
  );
}

function decodeContinue(raw: string): ContinueToken {
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Json;
    if (isObject(v) && typeof v.rv === 'number' && typeof v.start === 'string')
      return { rv: v.rv, start: v.start };
  } catch {
    // fall through
  }
  throw badRequest(
    'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
  );
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function parseRv(raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`invalid resource version: ${raw}`);
  return n;
}

/** The root-ca-cert-publisher's annotation on `kube-root-ca.crt`. */
const rootCaDescription =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

function verbsOf(r: ResourceInfo): string[] {
  if (r.review === true) return ['create'];
  return ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'].filter(
    (v) => r.plural !== 'namespaces' || v !== 'deletecollection',
  );
}

class ApiServerImpl {
  readonly requests: RecordedRequest[] = [];
  readonly store: ObjectStore;
  private readonly clock: Clock;
  private readonly watches = new Set<OpenWatch>();
  private readonly server: Server | HttpsServer;
  /** Signs the serving certificate, client certificates, CSRs and the kubelet client certificate. */
  readonly ca: CertificateAuthority;
  readonly tls: boolean;
  private kubeletClient: CertificateAndKey | undefined;
  readonly tokens = new Map<string, ApiUser>();
  private readonly users = new WeakMap<IncomingMessage, ApiUser>();
  private readonly errorFaults: { fault: ErrorFault; left: number }[] = [];
  private readonly latencyFaults: LatencyFault[] = [];
  private port = 0;
  down = false;
  /** Signs and validates service-account tokens (TokenRequest, TokenReview, bearer auth). */
  readonly serviceAccountSigner = new ServiceAccountTokenSigner();
  private readonly serviceAccountLookup: ServiceAccountLookup = {
    serviceAccount: (ns, name) =>
      this.store.tryGet(this.store.resource('serviceaccounts'), ns, name),
    pod: (ns, name) => this.store.tryGet(this.store.resource('pods'), ns, name),
  };

  constructor(private readonly options: TestApiServerOptions) {
    this.clock = options.clock ?? new RealClock();
    this.store = new ObjectStore({
      clock: this.clock,
      ...(options.random === undefined ? {} : { random: options.random }),
      ...(options.historySize === undefined ? {} : { historySize: options.historySize }),
    });
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      void this.handle(req, res);
    };
    for (const [token, user] of Object.entries(options.tokens ?? {})) this.tokens.set(token, user);
    this.tls = options.tls === true;
    this.ca = new CertificateAuthority();
    this.store.subscribe((e) => {
      if (e.resource.plural === 'certificatesigningrequests' && e.type !== 'DELETED') {
        const name = nameOf(e.object);
        // After the write that caused it has been answered, like a controller reacting to a watch event.
        queueMicrotask(() => this.reconcileCsr(name));
      }
      // serviceaccounts-controller and root-ca-cert-publisher: every namespace has the
      // `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap, re-made when removed.
      const plural = e.resource.plural;
      if (
        (plural === 'namespaces' && e.type === 'ADDED') ||
        (plural === 'serviceaccounts' &&
          e.type === 'DELETED' &&
          nameOf(e.object) === defaultServiceAccountName) ||
        (plural === 'configmaps' && e.type !== 'ADDED' && nameOf(e.object) === rootCaConfigMapName)
      ) {
        const ns = plural === 'namespaces' ? nameOf(e.object) : namespaceOf(e.object);
        queueMicrotask(() => this.ensureNamespaceServiceAccounts(ns));
      }
    });
    for (const ns of this.store.list(this.store.resource('namespaces'), ''))
      this.ensureNamespaceServiceAccounts(nameOf(ns));
    if (this.tls) {
      const serving = this.ca.issue({
        commonName: 'kube-apiserver',
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default'],
        ipAddresses: ['127.0.0.1', '::1'],
        usages: ['serverAuth'],
      });
      this.server = createHttpsServer(
        {
          key: serving.keyPem,
          cert: serving.certPem,
          ca: this.ca.certPem,
          requestCert: true,
          rejectUnauthorized: false,
        },
        handler,
      );
    } else {
      this.server = createServer(handler);
    }
  }

  /**
   * The `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap (`ca.crt` = the
   * server's CA) of a namespace that exists and is not terminating; a changed ConfigMap
   * is put back.
   */
  private ensureNamespaceServiceAccounts(namespace: string): void {
    const nsObj = this.store.tryGet(this.store.resource('namespaces'), '', namespace);
    if (nsObj === undefined || (isObject(nsObj.metadata) && nsObj.metadata.deletionTimestamp))
      return;
    const sas = this.store.resource('serviceaccounts');
    if (this.store.tryGet(sas, namespace, defaultServiceAccountName) === undefined)
      this.store.create(sas, namespace, { metadata: { name: defaultServiceAccountName } });
    const cms = this.store.resource('configmaps');
    const current = this.store.tryGet(cms, namespace, rootCaConfigMapName);
    const data = { 'ca.crt': this.ca.certPem };
    if (current === undefined) {
      this.store.create(cms, namespace, {
        metadata: {
          name: rootCaConfigMapName,
          annotations: { 'kubernetes.io/description': rootCaDescription },
        },
        data,
      });
    } else if (!isObject(current.data) || current.data['ca.crt'] !== this.ca.certPem) {
      this.store.update(cms, namespace, { ...current, data });
    }
  }

  /** Both ends of every upgraded (exec/attach/port-forward/proxy) connection. */
  private readonly upgraded = new Set<Duplex>();

  get openWatches(): number {
    return this.watches.size;
  }

  connectionsAccepted = 0;

  async listen(port: number): Promise<number> {
    this.server.on('connection', () => {
      this.connectionsAccepted++;
    });
    if (this.server.listenerCount('upgrade') === 0)
      this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        this.handleUpgrade(req, socket, head);
      });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    if (this.down) return;
    await this.goDown();
  }

  async goDown(): Promise<void> {
    this.down = true;
    this.dropWatches(true);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    // Upgraded connections (exec, port-forward) no longer belong to the HTTP server.
    for (const s of this.upgraded) s.destroy();
    this.upgraded.clear();
    await closed;
  }

  async comeBack(): Promise<void> {
    if (!this.down) return;
    await this.listen(this.port);
    this.down = false;
  }

  dropWatches(abort: boolean): number {
    const open = [...this.watches];
    for (const w of open) w.close(abort);
    return open.length;
  }

  stallWatches(): number {
    let n = 0;
    for (const w of this.watches) {
      if (!w.stalled) n++;
      w.stalled = true;
    }
    return n;
  }

  failRequests(fault: ErrorFault): () => void {
    const rule = { fault, left: fault.times ?? Number.POSITIVE_INFINITY };
    this.errorFaults.push(rule);
    return () => {
      const i = this.errorFaults.indexOf(rule);
      if (i >= 0) this.errorFaults.splice(i, 1);
    };
  }

  addLatency(fault: LatencyFault): () => void {
    this.latencyFaults.push(fault);
    return () => {
      const i = this.latencyFaults.indexOf(fault);
      if (i >= 0) this.latencyFaults.splice(i, 1);
    };
  }

  clearFaults(): void {
    this.errorFaults.length = 0;
    this.latencyFaults.length = 0;
  }

  /** Applies latency, then throws the first matching error fault. */
  private async applyFaults(r: FaultRequest): Promise<ErrorFault | undefined> {
    const delay = this.latencyFaults
      .filter((f) => faultMatches(f.match, r))
      .reduce((a, f) => a + f.delayMs, 0);
    if (delay > 0) await this.clock.sleep(delay);
    const rule = this.errorFaults.find((e) => e.left > 0 && faultMatches(e.fault.match, r));
    if (rule === undefined) return undefined;
    rule.left--;
    if (rule.left <= 0) this.errorFaults.splice(this.errorFaults.indexOf(rule), 1);
    return rule.fault;
  }

  /** The request's user: a verified client certificate, then a known bearer token; undefined when anonymous. Throws 401 for a bad token. */
  private authenticate(req: IncomingMessage): ApiUser | undefined {
    const socket = req.socket as Partial<TLSSocket>;
    if (
      socket.encrypted === true &&
      socket.authorized === true &&
      socket.getPeerCertificate !== undefined
    ) {
      const subject = socket.getPeerCertificate().subject as
        Record<string, string | string[] | undefined> | undefined;
      const cn = subject?.CN;
      const o = subject?.O;
      if (typeof cn === 'string') {
        return {
          name: cn,
          groups: [...(o === undefined ? [] : Array.isArray(o) ? o : [o]), 'system:authenticated'],
        };
      }
    }
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      const user = m?.[1] === undefined ? undefined : this.tokens.get(m[1]);
      if (user === undefined && m?.[1] !== undefined) {
        // A service-account token (kube-apiserver's service-account authenticator).
        const sa = this.serviceAccountSigner.validate(
          m[1],
          this.clock.now(),
          this.serviceAccountLookup,
        );
        if (!('error' in sa))
          return { name: sa.username, groups: [...sa.groups, 'system:authenticated'] };
      }
      if (user === undefined) throw new ApiStatusError(401, 'Unauthorized', 'Unauthorized');
      return { name: user.name, groups: [...(user.groups ?? []), 'system:authenticated'] };
    }
    return undefined;
  }

  private record(
    req: IncomingMessage,
    url: URL,
    route: Partial<RouteInfo>,
    verb: string,
    status: number,
  ): void {
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      verb,
      resource: route.resource?.plural ?? '',
      subresource: route.subresource ?? '',
      namespace: route.namespace ?? '',
      name: route.name ?? '',
      contentType: req.headers['content-type'] ?? '',
      status,
      userAgent: req.headers['user-agent'] ?? '',
      user: this.users.get(req)?.name ?? 'system:anonymous',
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let route: Partial<RouteInfo> = {};
    let verb = '';
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        ...headers,
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
      this.record(req, url, route, verb, status);
    };
    try {
      const rawBody = await readBody(req);
      const body = rawBody.toString('utf8');
      const method = req.method ?? 'GET';
      const q = url.searchParams;
      const nonResource = this.nonResource(url.pathname);
      let parsedRoute: RouteInfo | undefined;
      if (nonResource === undefined) {
        try {
          parsedRoute = this.route(url.pathname);
          route = parsedRoute;
          verb = verbOf(method, parsedRoute, q);
        } catch {
          // answered below, after faults
        }
      }
      const user = this.authenticate(req);
      if (user !== undefined) this.users.set(req, user);
      const publicPath = ['/healthz', '/livez', '/readyz', '/version'].includes(
        url.pathname.replace(/\/+$/, ''),
      );
      const requireAuth = this.options.requireAuthentication ?? this.options.tls === true;
      if (user === undefined && requireAuth && !publicPath) {
        throw new ApiStatusError(401, 'Unauthorized', 'Unauthorized');
      }
      if (
        user !== undefined &&
        route.resource !== undefined &&
        this.options.authorize !== undefined
      ) {
        const r = route.resource;
        const attrs: AuthorizationAttributes = {
          user: user.name,
          groups: user.groups ?? [],
          verb,
          group: r.group,
          resource: r.plural,
          subresource: route.subresource ?? '',
          namespace: route.namespace ?? '',
          name: route.name ?? '',
          path: '',
        };
        if (!this.options.authorize(attrs)) throw forbidden(attrs);
      }
      const fault = await this.applyFaults({
        verb,
        resource: route.resource?.plural ?? '',
        subresource: route.subresource ?? '',
        namespace: route.namespace ?? '',
        name: route.name ?? '',
        method,
        path: url.pathname,
      });
      if (fault !== undefined) {
        const headers: Record<string, string> =
          fault.retryAfterSeconds === undefined
            ? {}
            : { 'Retry-After': String(fault.retryAfterSeconds) };
        send(fault.code, faultError(fault).status, headers);
        return;
      }
      if (nonResource !== undefined) {
        if (req.method !== 'GET' && req.method !== 'HEAD')
          throw methodNotAllowed(`${req.method ?? ''} is not allowed`);
        if (typeof nonResource === 'string') {
          res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end(nonResource);
          this.record(req, url, route, verb, 200);
        } else send(200, nonResource);
        return;
      }
      const parsed = parsedRoute ?? this.route(url.pathname);
      if (parsed.subresource === 'status' && !parsed.resource.hasStatus)
        throw pathNotFound(url.pathname);
      if (
        parsed.subresource !== '' &&
        parsed.subresource !== 'status' &&
        !(parsed.resource.subresources ?? []).some((sr) => sr.name === parsed.subresource)
      )
        throw pathNotFound(url.pathname);
      if (
        parsed.resource.plural === 'pods' &&
        ['exec', 'attach', 'portforward'].includes(parsed.subresource)
      ) {
        if (method !== 'GET' && method !== 'POST')
          throw methodNotAllowed('the server does not allow this method on the requested resource');
        throw badRequest('Upgrade request required');
      }
      if (parsed.resource.plural === 'nodes' && parsed.subresource === 'proxy') {
        await this.nodeProxy(req, res, url, parsed, rawBody, (err) =>
          send(err.status.code, err.status),
        );
        return;
      }
      if (parsed.resource.plural === 'pods' && parsed.subresource === 'log') {
        if (method !== 'GET')
          throw methodNotAllowed('the server does not allow this method on the requested resource');
        await this.podLog(req, res, url, parsed, (err) => send(err.status.code, err.status));
        return;
      }
      if (
        parsed.subresource === ephemeralContainersSubresource &&
        (parsed.name === '' || (method !== 'GET' && method !== 'PUT' && method !== 'PATCH'))
      )
        throw methodNotAllowed('the server does not allow this method on the requested resource');
      const table = wantsTable(req.headers.accept) ? includeObjectOf(q) : undefined;
      if (parsed.resource.review === true) {
        if (method !== 'POST' || parsed.name !== '') {
          throw methodNotAllowed('the server does not allow this method on the requested resource');
        }
        send(201, this.review(parsed.resource, this.jsonBody(req, body)));
      } else if (parsed.resource.plural === 'serviceaccounts' && parsed.subresource === 'token') {
        if (method !== 'POST')
          throw methodNotAllowed('the server does not allow this method on the requested resource');
        send(
          201,
          createTokenRequest(
            this.serviceAccountSigner,
            this.clock.now(),
            parsed.namespace,
            parsed.name,
            this.jsonBody(req, body),
            this.serviceAccountLookup,
          ),
        );
      } else if (method === 'GET' && (q.get('watch') === 'true' || q.get('watch') === '1')) {
        this.watch(req, res, url, parsed, table);
      } else if (method === 'GET' && parsed.name !== '') {
        const obj = this.store.get(parsed.resource, parsed.namespace, parsed.name);
        send(200, table === undefined ? obj : this.table(parsed.resource, [obj], {}, table));
      } else if (method === 'GET') {
        const list = this.list(parsed, q);
        send(
          200,
          table === undefined
            ? list
            : this.table(
                parsed.resource,
                list.items as JsonObject[],
                list.metadata as JsonObject,
                table,
              ),
        );
      } else if (method === 'POST' && parsed.name === '') {
        let obj = this.objectBody(req, rawBody, parsed);
        if (parsed.resource.plural === 'certificatesigningrequests') {
          const u = this.users.get(req);
          obj = prepareCsrCreate(
            obj,
            u === undefined
              ? { name: 'system:anonymous', groups: ['system:unauthenticated'] }
              : { name: u.name, groups: u.groups ?? [] },
          );
        }
        if (parsed.resource.plural === 'pods') {
          checkNoEphemeralContainersOnCreate(obj);
          obj = admitPodPriority(obj);
          // NamespaceLifecycle runs first: a missing namespace stays a 404 from the store.
          if (
            this.options.serviceAccountAdmission !== false &&
            this.store.tryGet(this.store.resource('namespaces'), '', parsed.namespace) !== undefined
          )
            obj = admitPodServiceAccount(
              obj,
              parsed.namespace,
              this.serviceAccountLookup,
              this.options.random ?? mathRandom,
            );
        }
        send(201, this.store.create(parsed.resource, parsed.namespace, obj));
      } else if (method === 'PUT' && parsed.name !== '') {
        const obj = this.objectBody(req, rawBody, parsed);
        this.checkName(obj, parsed);
        const existed =
          this.store.tryGet(parsed.resource, parsed.namespace, parsed.name) !== undefined;
        send(existed ? 200 : 201, this.write(parsed, obj));
      } else if (method === 'PATCH' && parsed.name !== '') {
        send(200, this.patch(req, body, parsed));
      } else if (method === 'DELETE' && parsed.name !== '') {
        const opts = this.deleteOptions(q, body);
        send(200, this.store.delete(parsed.resource, parsed.namespace, parsed.name, opts).object);
      } else if (method === 'DELETE') {
        send(200, this.deleteCollection(parsed, q, body));
      } else {
        throw methodNotAllowed(`the server does not allow this method on the requested resource`);
      }
    } catch (err) {
      if (err instanceof ApiStatusError) send(err.status.code, err.status);
      else {
        const message = err instanceof Error ? err.message : String(err);
        send(
          500,
          new ApiStatusError(500, 'InternalError', `Internal error occurred: ${message}`).status,
        );
      }
    }
  }

  /** The API server's kubelet client certificate (`--kubelet-client-certificate`), made on first use. */
  private kubeletClientCertificate(): CertificateAndKey {
    this.kubeletClient ??= this.ca.issue({
      commonName: 'kube-apiserver-kubelet-client',
      organizations: ['system:masters'],
      usages: ['clientAuth'],
    });
    return this.kubeletClient;
  }

  /** `GET pods/<name>/log`: validate, locate the kubelet, stream its answer. */
  private async podLog(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: RouteInfo,
    sendStatus: (err: ApiStatusError) => void,
  ): Promise<void> {
    const opts = parsePodLogOptions(url.searchParams, route.name);
    const pod = this.store.get(route.resource, route.namespace, route.name);
    const spec = isObject(pod.spec) ? pod.spec : {};
    const nodeName = typeof spec.nodeName === 'string' ? spec.nodeName : '';
    const node =
      nodeName === '' ? undefined : this.store.tryGet(this.store.resource('nodes'), '', nodeName);
    const location = podLogLocation(pod, node, opts, this.options.defaultKubeletPort);
    const status = await proxyPodLog(
      res,
      location,
      {
        clientCertificate: this.kubeletClientCertificate(),
        ...(this.options.kubeletCaPem === undefined ? {} : { caPem: this.options.kubeletCaPem }),
      },
      sendStatus,
    );
    if (status === 200) this.record(req, url, route, 'get', 200);
  }

  private kubeletTls(): KubeletClientTls {
    return {
      clientCertificate: this.kubeletClientCertificate(),
      ...(this.options.kubeletCaPem === undefined ? {} : { caPem: this.options.kubeletCaPem }),
    };
  }

  /** The node and proxy target of `nodes/<id>/proxy/<path>`; 404 for an unknown node. */
  private nodeProxyTarget(url: URL, route: RouteInfo): KubeletTarget {
    const id = splitSchemeNamePort(route.name);
    if (id === undefined) throw badRequest(`invalid node request "${route.name}"`);
    const node = this.store.get(route.resource, '', id.name);
    return nodeProxyTarget(
      node,
      id,
      route.proxyPath ?? '',
      url.search,
      this.options.defaultKubeletPort,
    );
  }

  /** `nodes/<id>/proxy/<path>`: the kubelet's answer, unchanged. */
  private async nodeProxy(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: RouteInfo,
    body: Buffer,
    sendStatus: (err: ApiStatusError) => void,
  ): Promise<void> {
    const target = this.nodeProxyTarget(url, route);
    const status = await proxyKubeletRequest(req, res, body, target, this.kubeletTls(), sendStatus);
    this.record(req, url, route, verbOf(req.method ?? 'GET', route, url.searchParams), status);
  }

  /**
   * An upgrade request: `pods/<name>/exec|attach|portforward` or `nodes/<id>/proxy/…`,
   * authenticated and authorized like any request, then passed through to the
   * kubelet. Anything else is answered with a Status and closed.
   */
  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let route: Partial<RouteInfo> = {};
    let verb = '';
    socket.on('error', () => undefined);
    try {
      if (this.down) throw new ApiStatusError(503, 'ServiceUnavailable', 'the server is down');
      const parsed = this.route(url.pathname);
      route = parsed;
      const method = req.method ?? 'GET';
      verb = verbOf(method, parsed, url.searchParams);
      const user = this.authenticate(req);
      if (user !== undefined) this.users.set(req, user);
      const requireAuth = this.options.requireAuthentication ?? this.options.tls === true;
      if (user === undefined && requireAuth)
        throw new ApiStatusError(401, 'Unauthorized', 'Unauthorized');
      if (user !== undefined && this.options.authorize !== undefined) {
        const attrs: AuthorizationAttributes = {
          user: user.name,
          groups: user.groups ?? [],
          verb,
          group: parsed.resource.group,
          resource: parsed.resource.plural,
          subresource: parsed.subresource,
          namespace: parsed.namespace,
          name: parsed.name,
          path: '',
        };
        if (!this.options.authorize(attrs)) throw forbidden(attrs);
      }
      let target: KubeletTarget;
      if (
        parsed.resource.plural === 'pods' &&
        parsed.name !== '' &&
        ['exec', 'attach', 'portforward'].includes(parsed.subresource)
      ) {
        if (method !== 'GET' && method !== 'POST')
          throw methodNotAllowed('the server does not allow this method on the requested resource');
        const pod = this.store.get(parsed.resource, parsed.namespace, parsed.name);
        const nodeName =
          isObject(pod.spec) && typeof pod.spec.nodeName === 'string' ? pod.spec.nodeName : '';
        const node =
          nodeName === ''
            ? undefined
            : this.store.tryGet(this.store.resource('nodes'), '', nodeName);
        target = podStreamTarget(
          parsed.subresource as PodStreamKind,
          pod,
          node,
          url.searchParams,
          this.options.defaultKubeletPort,
        );
      } else if (parsed.resource.plural === 'nodes' && parsed.subresource === 'proxy') {
        target = this.nodeProxyTarget(url, parsed);
      } else {
        throw badRequest(
          'upgrade is only supported for pods/exec, pods/attach, pods/portforward and nodes/proxy',
        );
      }
      proxyKubeletUpgrade(req, socket, head, target, this.kubeletTls(), (s) => {
        this.upgraded.add(s);
        s.once('close', () => this.upgraded.delete(s));
      });
      this.record(req, url, route, verb, 101);
    } catch (err) {
      const e =
        err instanceof ApiStatusError
          ? err
          : new ApiStatusError(
              500,
              'InternalError',
              err instanceof Error ? err.message : String(err),
            );
      socket.end(rawStatusResponse(e));
      this.record(req, url, route, verb, e.status.code);
    }
  }

  /**
   * The built-in CSR controller, run after every CSR change: auto-approves (with
   * `csrSigning: 'auto'`), then signs approved requests of the built-in signers or
   * marks them Failed, like kube-controller-manager's csrapproving and csrsigning.
   */
  private reconcileCsr(name: string): void {
    const r = this.store.resource('certificatesigningrequests', 'certificates.k8s.io');
    try {
      const csr = this.store.tryGet(r, '', name);
      if (csr === undefined || isCsrDenied(csr) || isCsrFailed(csr)) return;
      const now = rfc3339(this.clock.now());
      if (!isCsrApproved(csr)) {
        if (this.options.csrSigning !== 'auto') return;
        const verdict = autoApprovable(csr);
        if (verdict !== undefined)
          this.store.update(
            r,
            '',
            withApprovedCondition(csr, verdict.reason, verdict.message, now),
            'status',
          );
        return;
      }
      const status = isObject(csr.status) ? csr.status : {};
      if (typeof status.certificate === 'string' && status.certificate !== '') return;
      const spec = isObject(csr.spec) ? csr.spec : {};
      const signer = typeof spec.signerName === 'string' ? spec.signerName : '';
      if (!builtInSignerNames.includes(signer)) return;
      const why = checkSignerRules(
        signer,
        parseCertificateRequest(csrRequestPem(csr)),
        csrUsages(csr),
      );
      if (why !== undefined) {
        this.store.update(r, '', withFailedCondition(csr, why, now), 'status');
        return;
      }
      this.storeCertificate(csr, issueCsrCertificate(this.ca, csr));
    } catch {
      // A concurrent write won (409) or the CSR went away: the next change reconciles again.
    }
  }

  private storeCertificate(csr: JsonObject, certPem: string): JsonObject {
    const r = this.store.resource('certificatesigningrequests', 'certificates.k8s.io');
    const status = isObject(csr.status) ? { ...csr.status } : {};
    status.certificate = Buffer.from(certPem, 'utf8').toString('base64');
    return this.store.update(r, '', { ...csr, status }, 'status');
  }

  signCsr(name: string, options: SignCsrOptions): JsonObject {
    const r = this.store.resource('certificatesigningrequests', 'certificates.k8s.io');
    let csr = this.store.get(r, '', name);
    if (isCsrDenied(csr)) throw new Error(`certificatesigningrequest ${name} is denied`);
    if (isCsrFailed(csr)) throw new Error(`certificatesigningrequest ${name} has failed`);
    if (!isCsrApproved(csr)) {
      if (options.approve === false)
        throw new Error(`certificatesigningrequest ${name} is not approved`);
      csr = this.store.update(
        r,
        '',
        withApprovedCondition(
          csr,
          'TestkitApproved',
          'This CSR was approved by the test API server (signCsr).',
          rfc3339(this.clock.now()),
        ),
        'status',
      );
    }
    const status = isObject(csr.status) ? csr.status : {};
    if (typeof status.certificate === 'string' && status.certificate !== '') return csr;
    const spec = isObject(csr.spec) ? csr.spec : {};
    const signer = typeof spec.signerName === 'string' ? spec.signerName : '';
    const why = checkSignerRules(
      signer,
      parseCertificateRequest(csrRequestPem(csr)),
      csrUsages(csr),
    );
    if (why !== undefined) throw new Error(`certificatesigningrequest ${name}: ${why}`);
    return this.storeCertificate(csr, issueCsrCertificate(this.ca, csr, options.durationSeconds));
  }

  /** Answers a TokenReview (against the server's tokens) or a SubjectAccessReview (against `authorize`). */
  private review(r: ResourceInfo, input: JsonObject): JsonObject {
    const spec = isObject(input.spec) ? input.spec : {};
    const out: JsonObject = {
      apiVersion: apiVersionOf(r),
      kind: r.kind,
      metadata: { creationTimestamp: null },
      spec,
    };
    if (r.plural === 'tokenreviews') {
      const user = typeof spec.token === 'string' ? this.tokens.get(spec.token) : undefined;
      if (user === undefined && typeof spec.token === 'string') {
        const audiences = Array.isArray(spec.audiences)
          ? spec.audiences.filter((a): a is string => typeof a === 'string')
          : [];
        const sa = this.serviceAccountSigner.validate(
          spec.token,
          this.clock.now(),
          this.serviceAccountLookup,
          audiences,
        );
        if (!('error' in sa)) {
          out.status = {
            authenticated: true,
            user: {
              username: sa.username,
              uid: sa.uid,
              groups: [...sa.groups, 'system:authenticated'],
              extra: sa.extra,
            },
            audiences: sa.audiences,
          };
          return out;
        }
        if (sa.error !== 'invalid bearer token') {
          out.status = { authenticated: false, user: {}, error: sa.error };
          return out;
        }
      }
      out.status =
        user === undefined
          ? { authenticated: false, user: {}, error: 'invalid bearer token' }
          : {
              authenticated: true,
              user: {
                username: user.name,
                groups: [...(user.groups ?? []), 'system:authenticated'],
              },
              audiences: Array.isArray(spec.audiences) ? spec.audiences : [],
            };
      return out;
    }
    const ra = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
    const nra = isObject(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
    if (typeof spec.user !== 'string' || (ra === undefined) === (nra === undefined)) {
      throw new ApiStatusError(
        422,
        'Invalid',
        'SubjectAccessReview.authorization.k8s.io "" is invalid: spec: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified, and user must be set',
      );
    }
    const str = (v: Json | undefined): string => (typeof v === 'string' ? v : '');
    const attrs: AuthorizationAttributes = {
      user: spec.user,
      groups: Array.isArray(spec.groups)
        ? spec.groups.filter((g): g is string => typeof g === 'string')
        : [],
      verb: str((ra ?? nra)?.verb),
      group: str(ra?.group),
      resource: str(ra?.resource),
      subresource: str(ra?.subresource),
      namespace: str(ra?.namespace),
      name: str(ra?.name),
      path: str(nra?.path),
    };
    const allowed = this.options.authorize === undefined || this.options.authorize(attrs);
    out.status = allowed
      ? { allowed: true, reason: 'allowed by the test API server' }
      : { allowed: false };
    return out;
  }

  private table(
    r: ResourceInfo,
    objects: JsonObject[],
    listMeta: JsonObject,
    include: IncludeObject,
  ): JsonObject {
    const withKind = objects.map((o) => ({ ...o, apiVersion: apiVersionOf(r), kind: r.kind }));
    return toTable(r, withKind, listMeta, this.clock.now(), include);
  }

  private nonResource(path: string): Json | string | undefined {
    const p = path.replace(/\/+$/, '') || '/';
    if (p === '/healthz' || p === '/readyz' || p === '/livez') return 'ok';
    if (p === '/version') {
      const gitVersion = this.options.gitVersion ?? 'v1.33.0';
      const m = /^v(\d+)\.(\d+)/.exec(gitVersion);
      return {
        major: m?.[1] ?? '1',
        minor: m?.[2] ?? '33',
        gitVersion,
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2025-01-01T00:00:00Z',
        goVersion: 'go1.24.0',
        compiler: 'gc',
        platform: 'linux/amd64',
      };
    }
    if (p === '/api') {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }],
      };
    }
    if (p === '/apis') {
      const groups = [
        ...new Set(
          servedResources.filter((r) => r.group !== '').map((r) => `${r.group}/${r.version}`),
        ),
      ];
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: groups.map((gv) => {
          const [name = '', version = ''] = gv.split('/');
          const v = { groupVersion: gv, version };
          return { name, versions: [v], preferredVersion: v };
        }),
      };
    }
    // One group's versions (kube-apiserver `/apis/<group>`, an APIGroup).
    const groupName = /^\/apis\/([^/]+)$/.exec(p)?.[1];
    if (groupName !== undefined) {
      const versions = [
        ...new Set(servedResources.filter((r) => r.group === groupName).map((r) => r.version)),
      ].map((version) => ({ groupVersion: `${groupName}/${version}`, version }));
      const preferred = versions[0];
      if (!preferred) return undefined;
      return {
        kind: 'APIGroup',
        apiVersion: 'v1',
        name: groupName,
        versions,
        preferredVersion: preferred,
      };
    }
    const gv = p === '/api/v1' ? 'v1' : /^\/apis\/([^/]+\/[^/]+)$/.exec(p)?.[1];
    if (gv !== undefined) {
      const resources = servedResources.filter((r) => apiVersionOf(r) === gv);
      if (resources.length === 0) return undefined;
      return {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: gv,
        resources: resources.flatMap((r) => {
          const main: JsonObject = {
            name: r.plural,
            singularName: r.singular,
            namespaced: r.namespaced,
            kind: r.kind,
            verbs: verbsOf(r),
          };
          if (r.shortNames.length > 0) main.shortNames = [...r.shortNames];
          if (r.categories.length > 0) main.categories = [...r.categories];
          const sub: JsonObject[] = [
            ...(r.hasStatus ? [{ name: 'status', verbs: ['get', 'patch', 'update'] }] : []),
            ...(r.subresources ?? []),
          ].map((sr) => ({
            name: `${r.plural}/${sr.name}`,
            singularName: '',
            namespaced: r.namespaced,
            kind: r.kind,
            verbs: [...sr.verbs],
          }));
          return [main, ...sub];
        }),
      };
    }
    return undefined;
  }

  private route(path: string): RouteInfo {
    const segs = path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 2) {
      group = '';
      version = segs[1] ?? '';
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 3) {
      group = segs[1] ?? '';
      version = segs[2] ?? '';
      rest = segs.slice(3);
    } else throw pathNotFound(path);
    let namespace = '';
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      const candidate = findResource(group, version, rest[2] ?? '');
      if (candidate?.namespaced === true) {
        namespace = rest[1] ?? '';
        rest = rest.slice(2);
      }
    }
    const resource = findResource(group, version, rest[0] ?? '');
    if (resource !== undefined && rest[2] === 'proxy' && resource.plural === 'nodes') {
      // Everything after `proxy/` is the path on the node, escaped as the client sent it.
      const raw = path.split('/');
      const at = raw.findIndex((seg, i) => seg === 'proxy' && raw[i - 2] === 'nodes');
      const after = raw.slice(at + 1).join('/');
      return { resource, namespace, name: rest[1] ?? '', subresource: 'proxy', proxyPath: after };
    }
    if (resource === undefined || rest.length > 3) throw pathNotFound(path);
    return { resource, namespace, name: rest[1] ?? '', subresource: rest[2] ?? '' };
  }

  /**
   * The body of a create/update: JSON, or protobuf for CertificateSigningRequests
   * (kubectl sends built-in kinds as protobuf; only the CSR is decoded here).
   */
  private objectBody(req: IncomingMessage, raw: Buffer, route: RouteInfo): JsonObject {
    if (
      route.resource.plural === 'certificatesigningrequests' &&
      mediaType(req.headers['content-type']) === protobufContentType
    )
      return decodeProtobufCsr(raw);
    return this.jsonBody(req, raw.toString('utf8'));
  }

  private jsonBody(req: IncomingMessage, body: string): JsonObject {
    const type = mediaType(req.headers['content-type']);
    if (type !== 'application/json') {
      throw unsupportedMediaType(type, [
        'application/json',
        'application/yaml',
        'application/vnd.kubernetes.protobuf',
      ]);
    }
    let v: Json;
    try {
      v = JSON.parse(body) as Json;
    } catch (err) {
      throw badRequest(
        `the object provided is unrecognized: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    if (!isObject(v))
      throw badRequest('the object provided is unrecognized (must be of type Object)');
    return v;
  }

  private checkName(obj: JsonObject, route: RouteInfo): void {
    const name = nameOf(obj);
    if (name !== route.name) {
      throw badRequest(
        'the name of the object (' +
          name +
          ') does not match the name on the URL (' +
          route.name +
          ')',
      );
    }
    if (route.resource.namespaced) {
      const ns = namespaceOf(obj);
      if (ns !== '' && ns !== route.namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
    }
  }

  private patch(req: IncomingMessage, body: string, route: RouteInfo): JsonObject {
    const type = mediaType(req.headers['content-type']);
    if (!(patchContentTypes as readonly string[]).includes(type)) {
      throw unsupportedMediaType(type, [...patchContentTypes, 'application/apply-patch+yaml']);
    }
    let patch: Json;
    try {
      patch = JSON.parse(body) as Json;
    } catch (err) {
      throw badRequest(`error decoding patch: ${err instanceof Error ? err.message : String(err)}`);
    }
    const current = this.store.get(route.resource, route.namespace, route.name);
    const next = applyPatch(type as PatchContentType, current, patch);
    if (!isObject(next)) throw badRequest('the patch did not produce an object');
    const meta = isObject(next.metadata) ? next.metadata : {};
    next.metadata = meta;
    if (nameOf(next) !== route.name) throw badRequest('metadata.name cannot be changed by a patch');
    // A patch with no resourceVersion applies to the current object; one with a stale resourceVersion conflicts.
    const patchedRv =
      isObject(patch) && isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined;
    meta.resourceVersion =
      typeof patchedRv === 'string'
        ? patchedRv
        : ((current.metadata as JsonObject).resourceVersion ?? '');
    return this.write(route, next);
  }

  /**
   * Stores a PUT or patched object through the resource's update strategy: the
   * status subresource, CSR approval/status, or the main resource.
   */
  private write(route: RouteInfo, obj: JsonObject): JsonObject {
    const r = route.resource;
    if (r.plural === 'certificatesigningrequests') {
      const current = this.store.get(r, '', route.name);
      const now = rfc3339(this.clock.now());
      if (route.subresource === 'approval')
        return this.store.update(r, '', prepareCsrApproval(current, obj, now), 'status');
      if (route.subresource === 'status')
        return this.store.update(r, '', prepareCsrStatus(current, obj, now), 'status');
      return this.store.update(r, '', prepareCsrUpdate(current, obj));
    }
    if (r.plural === 'pods' && route.subresource === ephemeralContainersSubresource) {
      const current = this.store.get(r, route.namespace, route.name);
      return this.store.update(
        r,
        route.namespace,
        prepareEphemeralContainersUpdate(r, current, obj),
      );
    }
    return this.store.update(
      r,
      route.namespace,
      obj,
      route.subresource === 'status' ? 'status' : undefined,
    );
  }

  private deleteOptions(q: URLSearchParams, body: string): Parameters<ObjectStore['delete']>[3] {
    const out: {
      gracePeriodSeconds?: number;
      preconditionUid?: string;
      preconditionResourceVersion?: string;
    } = {};
    if (body.trim() !== '') {
      let v: Json;
      try {
        v = JSON.parse(body) as Json;
      } catch {
        throw badRequest('invalid DeleteOptions body');
      }
      if (isObject(v)) {
        if (typeof v.gracePeriodSeconds === 'number') out.gracePeriodSeconds = v.gracePeriodSeconds;
        const pre = v.preconditions;
        if (isObject(pre)) {
          if (typeof pre.uid === 'string') out.preconditionUid = pre.uid;
          if (typeof pre.resourceVersion === 'string')
            out.preconditionResourceVersion = pre.resourceVersion;
        }
      }
    }
    const g = q.get('gracePeriodSeconds');
    if (g !== null && g !== '') {
      const n = Number(g);
      if (!Number.isInteger(n)) throw badRequest(`invalid gracePeriodSeconds: ${g}`);
      out.gracePeriodSeconds = n;
    }
    return out;
  }

  private selectors(
    route: RouteInfo,
    q: URLSearchParams,
  ): { labels: LabelSelector; fields: FieldSelector } {
    const supported = ['metadata.name', 'metadata.namespace', ...route.resource.fieldLabels];
    return {
      labels: parseLabelSelector(q.get('labelSelector') ?? ''),
      fields: parseFieldSelector(q.get('fieldSelector') ?? '', supported),
    };
  }

  private matches(sel: { labels: LabelSelector; fields: FieldSelector }, obj: JsonObject): boolean {
    return (
      matchesLabels(sel.labels, labelsOf(obj)) &&
      matchesFields(sel.fields, (f) => fieldValue(obj, f))
    );
  }

  private list(route: RouteInfo, q: URLSearchParams): JsonObject {
    const sel = this.selectors(route, q);
    const cont = q.get('continue') ?? '';
    const limitRaw = q.get('limit') ?? '';
    const limit = limitRaw === '' ? 0 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`invalid limit: ${limitRaw}`);
    let atRv: number | undefined;
    let start = '';
    if (cont !== '') {
      const token = decodeContinue(cont);
      if (token.rv < this.store.oldestWatchableResourceVersion) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        );
      }
      atRv = token.rv;
      start = token.start;
    } else {
      const rv = parseRv(q.get('resourceVersion'));
      const match = q.get('resourceVersionMatch') ?? '';
      if (match === 'Exact') {
        if (rv === undefined || rv === 0)
          throw badRequest(
            'resourceVersionMatch "Exact" requires a resourceVersion other than "0"',
          );
        atRv = rv;
      } else if (match !== '' && match !== 'NotOlderThan') {
        throw badRequest(`unsupported resourceVersionMatch: ${match}`);
      }
    }
    const listRv = atRv ?? this.store.resourceVersion;
    const all = this.store
      .list(route.resource, route.namespace, atRv)
      .filter((o) => this.matches(sel, o) && (start === '' || sortKey(o) > start));
    const page = limit > 0 ? all.slice(0, limit) : all;
    const metadata: JsonObject = { resourceVersion: String(listRv) };
    if (limit > 0 && all.length > limit) {
      const last = page[page.length - 1];
      if (last !== undefined)
        metadata.continue = encodeContinue({ rv: listRv, start: sortKey(last) });
      if (sel.labels.length === 0 && sel.fields.length === 0)
        metadata.remainingItemCount = all.length - limit;
    }
    return {
      kind: route.resource.listKind,
      apiVersion: apiVersionOf(route.resource),
      metadata,
      items: page.map((o) => {
        const item = { ...o };
        delete item.kind;
        delete item.apiVersion;
        return item;
      }),
    };
  }

  private deleteCollection(route: RouteInfo, q: URLSearchParams, body: string): JsonObject {
    const sel = this.selectors(route, q);
    const opts = this.deleteOptions(q, body);
    const items: JsonObject[] = [];
    for (const obj of this.store.list(route.resource, route.namespace)) {
      if (!this.matches(sel, obj)) continue;
      items.push(this.store.delete(route.resource, namespaceOf(obj), nameOf(obj), opts).object);
    }
    return {
      kind: route.resource.listKind,
      apiVersion: apiVersionOf(route.resource),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    };
  }

  private watch(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: RouteInfo,
    table: IncludeObject | undefined,
  ): void {
    const q = url.searchParams;
    const sel = this.selectors(route, q);
    const fromRv = parseRv(q.get('resourceVersion'));
    const sendInitialEvents = q.get('sendInitialEvents') === 'true';
    const bookmarks =
      q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const timeoutRaw = q.get('timeoutSeconds');
    const timeoutSeconds =
      timeoutRaw === null || timeoutRaw === '' ? undefined : Number(timeoutRaw);
    if (timeoutSeconds !== undefined && (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0)) {
      throw badRequest(`invalid timeoutSeconds: ${timeoutRaw ?? ''}`);
    }
    const inScope = (o: JsonObject): boolean =>
      !route.resource.namespaced || route.namespace === '' || namespaceOf(o) === route.namespace;
    const toWire = (e: StoreEvent): { type: string; object: JsonObject } | undefined => {
      if (e.resource !== route.resource || !inScope(e.object)) return undefined;
      if (route.name !== '' && nameOf(e.object) !== route.name) return undefined;
      const now = this.matches(sel, e.object);
      const before =
        e.previous !== undefined && e.type !== 'ADDED' && this.matches(sel, e.previous);
      if (e.type === 'DELETED')
        return before || now ? { type: 'DELETED', object: e.object } : undefined;
      if (e.type === 'ADDED') return now ? { type: 'ADDED', object: e.object } : undefined;
      if (now && before) return { type: 'MODIFIED', object: e.object };
      if (now) return { type: 'ADDED', object: e.object };
      if (before) return { type: 'DELETED', object: e.object };
      return undefined;
    };

    let backlog: { type: string; object: JsonObject }[];
    try {
      if (fromRv === undefined || fromRv === 0 || sendInitialEvents) {
        backlog = this.store
          .list(route.resource, route.namespace)
          .filter((o) => this.matches(sel, o) && (route.name === '' || nameOf(o) === route.name))
          .map((object) => ({ type: 'ADDED', object }));
      } else {
        backlog = this.store.eventsSince(fromRv).flatMap((e) => {
          const w = toWire(e);
          return w === undefined ? [] : [w];
        });
      }
    } catch (err) {
      if (!(err instanceof ApiStatusError)) throw err;
      // The real server answers a too-old watch with 200 and a single ERROR event.
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
      res.end(`${JSON.stringify({ type: 'ERROR', object: err.status })}\n`);
      this.record(req, url, route, 'watch', 200);
      return;
    }

    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    this.record(req, url, route, 'watch', 200);
    const timers: Timer[] = [];
    let unsubscribe = (): void => undefined;
    const watch: OpenWatch = {
      stalled: false,
      close: (abort = false) => {
        if (!this.watches.delete(watch)) return;
        unsubscribe();
        for (const t of timers) t.cancel();
        if (abort) res.destroy();
        else res.end();
      },
    };
    const write = (ev: { type: string; object: JsonObject }): void => {
      if (watch.stalled) return;
      const object =
        table === undefined || ev.type === 'BOOKMARK'
          ? ev.object
          : this.table(route.resource, [ev.object], {}, table);
      res.write(`${JSON.stringify({ type: ev.type, object })}\n`);
    };
    const bookmark = (annotations?: JsonObject): void => {
      const metadata: JsonObject = { resourceVersion: String(this.store.resourceVersion) };
      if (annotations !== undefined) metadata.annotations = annotations;
      write({
        type: 'BOOKMARK',
        object: { kind: route.resource.kind, apiVersion: apiVersionOf(route.resource), metadata },
      });
    };
    for (const ev of backlog) write(ev);
    // WatchList (sendInitialEvents=true): the initial state ends with an annotated bookmark.
    if (sendInitialEvents && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    unsubscribe = this.store.subscribe((e) => {
      const w = toWire(e);
      if (w !== undefined) write(w);
    });
    const close = (): void => watch.close();
    this.watches.add(watch);
    timers.push(
      this.clock.setTimeout(
        close,
        (timeoutSeconds ?? this.options.defaultWatchTimeoutSeconds ?? 1800) * 1000,
      ),
    );
    if (bookmarks) {
      timers.push(
        this.clock.setInterval(() => bookmark(), this.options.bookmarkIntervalMs ?? 60_000),
      );
    }
    req.on('close', close);
    res.on('close', close);
  }
}

function forbidden(a: AuthorizationAttributes): ApiStatusError {
  const what = a.name === '' ? a.resource : `${a.resource} "${a.name}"`;
  const scope = a.namespace === '' ? 'at the cluster scope' : `in the namespace "${a.namespace}"`;
  const res = a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`;
  return new ApiStatusError(
    403,
    'Forbidden',
    `${what} is forbidden: User "${a.user}" cannot ${a.verb} resource "${res}" in API group "${a.group}" ${scope}`,
    { ...(a.name === '' ? {} : { name: a.name }), group: a.group, kind: a.resource },
  );
}

function verbOf(method: string, route: RouteInfo, q: URLSearchParams): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (q.get('watch') === 'true' || q.get('watch') === '1') return 'watch';
      return route.name === '' ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name === '' ? 'deletecollection' : 'delete';
    default:
      return '';
  }
}

function includeObjectOf(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject') ?? '';
  if (v === '' || v === 'Metadata') return 'Metadata';
  if (v === 'None' || v === 'Object') return v;
  throw badRequest(`includeObject must be one of None, Metadata, Object; got ${v}`);
}

function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Starts a test API server on 127.0.0.1 (plain HTTP). Point kubectl at `url`
 * (`kubectl --server <url>`) or a client at it; stop it with `stop()`.
 */
export async function startTestApiServer(
  options: TestApiServerOptions = {},
): Promise<TestApiServer> {
  const impl = new ApiServerImpl(options);
  const port = await impl.listen(options.port ?? 0);
  return {
    url: `${impl.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    store: impl.store,
    requests: impl.requests,
    get openWatches() {
      return impl.openWatches;
    },
    get connectionsAccepted() {
      return impl.connectionsAccepted;
    },
    faults: {
      failRequests: (f) => impl.failRequests(f),
      addLatency: (f) => impl.addLatency(f),
      dropWatches: (o) => impl.dropWatches(o?.abort ?? false),
      stallWatches: () => impl.stallWatches(),
      clear: () => impl.clearFaults(),
      goDown: () => impl.goDown(),
      comeBack: () => impl.comeBack(),
      get down() {
        return impl.down;
      },
    },
    stop: () => impl.stop(),
    caPem: impl.tls ? impl.ca.certPem : undefined,
    kubeletClientCaPem: impl.ca.certPem,
    signCsr: (name, options) => impl.signCsr(name, options ?? {}),
    issueClientCertificate: (user) => {
      if (!impl.tls)
        throw new Error('issueClientCertificate needs a server started with tls: true');
      return impl.ca.issue({
        commonName: user.name,
        ...(user.groups === undefined ? {} : { organizations: user.groups }),
        usages: ['clientAuth'],
      });
    },
    addToken: (token, user) => {
      impl.tokens.set(token, user);
    },
    kubeconfig: (credentials) => {
      const server = `${impl.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
      const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
      const user: Record<string, string> =
        credentials === undefined
          ? {}
          : 'token' in credentials
            ? { token: credentials.token }
            : {
                'client-certificate-data': b64(credentials.certPem),
                'client-key-data': b64(credentials.keyPem),
              };
      const cluster: Record<string, string> = { server };
      if (impl.tls) cluster['certificate-authority-data'] = b64(impl.ca.certPem);
      return JSON.stringify(
        {
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'testkit', cluster }],
          users: [{ name: 'testkit-user', user }],
          contexts: [{ name: 'testkit', context: { cluster: 'testkit', user: 'testkit-user' } }],
          'current-context': 'testkit',
        },
        null,
        2,
      );
    },
  };
}
