import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CertificatesV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  ServerConfiguration,
  StorageV1Api,
  Watch,
  createConfiguration,
  wrapHttpLibrary,
  type HttpLibrary,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import {
  InvalidConfigError,
  RealClock,
  noopMetrics,
  type Clock,
  type MetricsRegistry,
} from '@nodeagent/core';
import { KeepAliveAgents } from './keep-alive-agents.js';
import { TokenBucketRateLimiter } from './rate-limiter.js';

/** Kubelet `kubeAPIQPS` default. */
export const defaultKubeApiQps = 50;
/** Kubelet `kubeAPIBurst` default. */
export const defaultKubeApiBurst = 100;

/** Where to read the API server's address and credentials from. */
export interface KubeConfigSource {
  /** Path of a kubeconfig file (kubelet `--kubeconfig`). */
  kubeconfigPath?: string;
  /** Use the in-cluster service account (`KUBERNETES_SERVICE_HOST`, the mounted token and CA). */
  inCluster?: boolean;
}

/**
 * Loads a kubeconfig file or the in-cluster configuration.
 * @throws InvalidConfigError when neither is given, the file cannot be read, or it has no current cluster.
 */
export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (source.kubeconfigPath) kc.loadFromFile(source.kubeconfigPath);
    else if (source.inCluster) kc.loadFromCluster();
    else throw new Error('give a kubeconfig path or choose the in-cluster configuration');
  } catch (err) {
    throw new InvalidConfigError(
      `cannot load the API server configuration: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new InvalidConfigError(
      `kubeconfig ${source.kubeconfigPath ?? '(in-cluster)'} has no current cluster`,
    );
  }
  return kc;
}

export interface KubeApiOptions {
  /** Requests per second to the API server (kubelet `kubeAPIQPS`, 50); 0 disables the limit. */
  qps?: number;
  /** Requests allowed at once above the rate (kubelet `kubeAPIBurst`, 100). */
  burst?: number;
  /** `User-Agent` header, e.g. `nodeagent/0.1.0 (linux/amd64)`. */
  userAgent?: string;
  clock?: Clock;
  /**
   * Where to export client-go's REST client metrics: `rest_client_requests_total{code,method,host}`
   * (code `<error>` when no response came), `rest_client_request_duration_seconds{verb,host}`
   * (until the response headers) and `rest_client_rate_limiter_duration_seconds{verb,host}`
   * (time spent waiting for the `qps`/`burst` limiter). Default: none.
   */
  metrics?: MetricsRegistry;
}

/** client-go's latency buckets for the REST client histograms, in seconds. */
const restClientLatencyBuckets = [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];

/**
 * Wraps the HTTP library of client-node so every request is counted and timed
 * (client-go `metrics.RequestResult` / `RequestLatency`); the middleware's `post`
 * hook sees only the response, so the request is measured around `send`.
 */
function instrumentHttpLibrary(
  inner: HttpLibrary,
  clock: Clock,
  metrics: MetricsRegistry,
): HttpLibrary {
  const requests = metrics.counter({
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests, partitioned by status code, method, and host.',
    labelNames: ['code', 'method', 'host'],
  });
  const duration = metrics.histogram({
    name: 'rest_client_request_duration_seconds',
    help: 'Request latency in seconds. Broken down by verb, and host.',
    labelNames: ['verb', 'host'],
    buckets: restClientLatencyBuckets,
  });
  return wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const method = request.getHttpMethod().toString();
      const host = hostOf(request.getUrl());
      const start = clock.monotonicNow();
      let code = '<error>';
      try {
        const response = await inner.send(request).toPromise();
        code = String(response.httpStatusCode);
        return response;
      } finally {
        requests.inc({ code, method, host });
        duration.observe({ verb: method, host }, (clock.monotonicNow() - start) / 1000);
      }
    },
  });
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

/**
 * The API clients of one agent, sharing one kubeconfig and one rate limiter: every
 * request made through them (and every watch started through {@link KubeApi.startWatch})
 * first takes a token from {@link KubeApi.limiter}.
 */
export interface KubeApi {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly certificates: CertificatesV1Api;
  readonly storage: StorageV1Api;
  readonly authentication: AuthenticationV1Api;
  readonly authorization: AuthorizationV1Api;
  readonly limiter: TokenBucketRateLimiter;
  /** Stops the limiter (waiters reject) and closes the kept-alive connections. */
  close(): void;
  /**
   * Starts a watch on `path` (e.g. `/api/v1/pods`) after taking a rate-limit token;
   * resolves with the AbortController that ends it. `callback` gets each event's
   * type (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`) and raw JSON object;
   * `done` is called once when the watch ends, with the error if it failed.
   */
  startWatch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    callback: (type: string, object: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

/** Builds the rate-limited API clients for a kubeconfig (kubelet `kubeClient`). */
export function createKubeApi(config: KubeConfig, options: KubeApiOptions = {}): KubeApi {
  const clock = options.clock ?? new RealClock();
  const limiter = new TokenBucketRateLimiter(
    clock,
    options.qps ?? defaultKubeApiQps,
    options.burst ?? defaultKubeApiBurst,
  );
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new InvalidConfigError('kubeconfig has no current cluster');
  const userAgent = options.userAgent;
  const metrics = options.metrics ?? noopMetrics;
  const rateLimiterDuration = metrics.histogram({
    name: 'rest_client_rate_limiter_duration_seconds',
    help: 'Client side rate limiter latency in seconds. Broken down by verb, and host.',
    labelNames: ['verb', 'host'],
    buckets: restClientLatencyBuckets,
  });
  const baseServer = new ServerConfiguration(cluster.server, {});
  const agents = new KeepAliveAgents();
  const instrumented = options.metrics
    ? {
        httpApi: instrumentHttpLibrary(
          createConfiguration({ baseServer }).httpApi,
          clock,
          options.metrics,
        ),
      }
    : {};
  const configuration = createConfiguration({
    baseServer,
    authMethods: { default: config },
    ...instrumented,
    promiseMiddleware: [
      {
        pre: async (context: RequestContext) => {
          const waitStart = clock.monotonicNow();
          await limiter.acquire();
          rateLimiterDuration.observe(
            { verb: context.getHttpMethod().toString(), host: hostOf(context.getUrl()) },
            (clock.monotonicNow() - waitStart) / 1000,
          );
          if (userAgent) context.setHeaderParam('User-Agent', userAgent);
          // One kept-alive connection pool instead of a TLS handshake per request.
          const fresh = context.getAgent();
          if (fresh) context.setAgent(agents.reuse(fresh));
          return context;
        },
        post: (response) => Promise.resolve(response),
      },
    ],
  });
  const watch = new Watch(config);
  return {
    config,
    core: new CoreV1Api(configuration),
    coordination: new CoordinationV1Api(configuration),
    certificates: new CertificatesV1Api(configuration),
    storage: new StorageV1Api(configuration),
    authentication: new AuthenticationV1Api(configuration),
    authorization: new AuthorizationV1Api(configuration),
    limiter,
    close() {
      limiter.stop();
      agents.close();
    },
    async startWatch(path, query, callback, done) {
      await limiter.acquire();
      return watch.watch(path, query, callback, done);
    },
  };
}
