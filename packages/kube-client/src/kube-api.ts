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
  type RequestContext,
} from '@kubernetes/client-node';
import { InvalidConfigError, RealClock, type Clock } from '@nodeagent/core';
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
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: config },
    promiseMiddleware: [
      {
        pre: async (context: RequestContext) => {
          await limiter.acquire();
          if (userAgent) context.setHeaderParam('User-Agent', userAgent);
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
    async startWatch(path, query, callback, done) {
      await limiter.acquire();
      return watch.watch(path, query, callback, done);
    },
  };
}
