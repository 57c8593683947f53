import { lstat, mkdir, rename, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ServiceDefinition,
  type UntypedHandleCall,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import {
  FailedPreconditionError,
  RealClock,
  createToken,
  noopLogger,
  noopMetrics,
  type Clock,
  type Counter,
  type InjectionToken,
  type Logger,
  type MetricsRegistry,
  type k8s,
} from '@nodeagent/core';
import { podResourcesCodecs, type PodResourcesMethodName } from './codec.js';
import type {
  AllocatableResourcesResponse,
  GetPodResourcesRequest,
  GetPodResourcesResponse,
  ListPodResourcesResponse,
} from './generated/types.js';
import { podResourcesOf } from './pod-resources.js';
import {
  TokenBucketRateLimiter,
  defaultPodResourcesBurst,
  defaultPodResourcesQps,
  rateLimitExceededMessage,
} from './rate-limiter.js';

/**
 * Largest request the server accepts, in bytes: 4 MiB, grpc-go's server default (the
 * kubelet sets no limit of its own on this server). Responses are not limited, as in
 * grpc-go; clients choose how much they receive (the kubelet's tools use 16 MiB).
 */
export const defaultPodResourcesMaxReceiveMessageBytes = 4 * 1024 * 1024;

/** Mode of the socket directory, as the kubelet creates `<root>/pod-resources`: 0750. */
export const podResourcesDirMode = 0o750;

/** `server_api_version` label of the kubelet's PodResources metrics. */
const apiVersionLabel = { server_api_version: 'v1' } as const;

/** Options of {@link PodResourcesServer}. */
export interface PodResourcesServerOptions {
  /** The unix socket to serve on, e.g. `podResourcesSocketPath(rootDir)`. */
  socketPath: string;
  /**
   * The node's active pods (kubelet `GetActivePods`), asked on every List and Get.
   * Mirror pods must not be among them.
   */
  activePods: () => readonly k8s.Pod[];
  /**
   * Looks a pod up for Get (kubelet `GetPodByName`). Default: a search of
   * {@link activePods} by namespace and name.
   */
  getPodByName?: (namespace: string, name: string) => k8s.Pod | undefined;
  /**
   * The `KubeletPodResourcesGet` feature gate: Get answers only when on. Beta and on
   * by default since Kubernetes 1.34 (alpha, off, 1.27–1.33). Default true.
   */
  podResourcesGet?: boolean;
  /** Requests per second let through (kubelet `podresources.DefaultQPS`). Default 100. */
  qps?: number;
  /** Requests let through at once (kubelet `podresources.DefaultBurstTokens`). Default 10. */
  burst?: number;
  /** Largest request accepted, bytes. Default 4 MiB. */
  maxReceiveMessageBytes?: number;
  /** Source of time for the rate limiter. Default: the real clock. */
  clock?: Clock;
  logger?: Logger;
  /** Records the kubelet's `kubelet_pod_resources_endpoint_*` counters. */
  metrics?: MetricsRegistry;
}

interface Counters {
  requestsTotal: Counter;
  requestsList: Counter;
  requestsGetAllocatable: Counter;
  requestsGet: Counter;
  errorsGet: Counter;
}

function counters(metrics: MetricsRegistry): Counters {
  const counter = (name: string, help: string): Counter =>
    metrics.counter({ name: `kubelet_${name}`, help, labelNames: ['server_api_version'] });
  return {
    requestsTotal: counter(
      'pod_resources_endpoint_requests_total',
      'Cumulative number of requests to the PodResource endpoint. Broken down by server api version.',
    ),
    requestsList: counter(
      'pod_resources_endpoint_requests_list',
      'Number of requests to the PodResource List endpoint. Broken down by server api version.',
    ),
    requestsGetAllocatable: counter(
      'pod_resources_endpoint_requests_get_allocatable',
      'Number of requests to the PodResource GetAllocatableResources endpoint. Broken down by server api version.',
    ),
    requestsGet: counter(
      'pod_resources_endpoint_requests_get',
      'Number of requests to the PodResource Get endpoint. Broken down by server api version.',
    ),
    errorsGet: counter(
      'pod_resources_endpoint_errors_get',
      'Number of requests to the PodResource Get endpoint which returned error. Broken down by server api version.',
    ),
  };
}

/** A gRPC status for the client: code and message (the kubelet's own wording). */
class StatusError extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
  }
}

/** Probes a unix socket: true when a process accepts connections on it. */
function isServed(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

let tempCounter = 0;

/**
 * The kubelet's PodResources gRPC server (`ListenAndServePodResources`, KEP-606):
 * `v1.PodResourcesLister` on a unix socket, for node-local monitoring agents.
 *
 * - `List`: every active pod with its sidecars (restartable init containers) and app
 *   containers; devices, CPU ids and memory are empty lists (nodeagent has no device
 *   plugins, CPU or memory manager).
 * - `GetAllocatableResources`: empty lists, for the same reason.
 * - `Get`: one pod by namespace and name; a missing pod fails with gRPC `UNKNOWN` and
 *   `pod <name> in namespace <namespace> not found`, as the kubelet (which returns a
 *   plain Go error) answers; with the `KubeletPodResourcesGet` gate off it fails with
 *   `PodResources API Get method disabled`.
 * - Every call passes a token bucket first (100 qps, burst 10); over it the call
 *   fails with `RESOURCE_EXHAUSTED` / `rejected by rate limit`.
 *
 * `start()` creates the directory (0750), refuses when another process already
 * serves the socket, replaces a stale socket file, and binds atomically (a temporary
 * name renamed into place, as kubelet `util.CreateListener` does); `stop()` closes the
 * server and removes the socket.
 */
export class PodResourcesServer {
  private readonly options: PodResourcesServerOptions;
  private readonly logger: Logger;
  private readonly counters: Counters;
  private readonly limiter: TokenBucketRateLimiter;
  private server: Server | undefined;
  /** inode of the socket file this server bound, to remove only its own on stop. */
  private socketIno: number | undefined;
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';

  constructor(options: PodResourcesServerOptions) {
    this.options = options;
    this.logger = options.logger ?? noopLogger;
    this.counters = counters(options.metrics ?? noopMetrics);
    this.limiter = new TokenBucketRateLimiter(
      options.qps ?? defaultPodResourcesQps,
      options.burst ?? defaultPodResourcesBurst,
      options.clock ?? new RealClock(),
    );
  }

  /** The socket path served. */
  get socketPath(): string {
    return this.options.socketPath;
  }

  /** `List`: every active pod and its containers (kubelet `v1PodResourcesServer.List`). */
  list(): ListPodResourcesResponse {
    this.counters.requestsTotal.inc(apiVersionLabel);
    this.counters.requestsList.inc(apiVersionLabel);
    return { podResources: this.options.activePods().map(podResourcesOf) };
  }

  /** `GetAllocatableResources`: what the node can hand out — nothing is managed, so empty. */
  getAllocatableResources(): AllocatableResourcesResponse {
    this.counters.requestsTotal.inc(apiVersionLabel);
    this.counters.requestsGetAllocatable.inc(apiVersionLabel);
    return { devices: [], cpuIds: [], memory: [] };
  }

  /**
   * `Get`: one pod. Throws a status error (gRPC `UNKNOWN`) when the gate is off or the
   * pod is not found, with the kubelet's messages.
   */
  get(request: GetPodResourcesRequest): GetPodResourcesResponse {
    this.counters.requestsTotal.inc(apiVersionLabel);
    this.counters.requestsGet.inc(apiVersionLabel);
    if (this.options.podResourcesGet === false) {
      this.counters.errorsGet.inc(apiVersionLabel);
      throw new StatusError(GrpcStatus.UNKNOWN, 'PodResources API Get method disabled');
    }
    const { podName, podNamespace } = request;
    const pod = this.options.getPodByName
      ? this.options.getPodByName(podNamespace, podName)
      : this.options
          .activePods()
          .find((p) => p.metadata.name === podName && p.metadata.namespace === podNamespace);
    if (!pod) {
      this.counters.errorsGet.inc(apiVersionLabel);
      throw new StatusError(
        GrpcStatus.UNKNOWN,
        `pod ${podName} in namespace ${podNamespace} not found`,
      );
    }
    return { podResources: podResourcesOf(pod) };
  }

  /** Binds the socket and serves. Rejects when another process serves the socket. */
  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new Error(`pod resources server cannot start: it is ${this.state}`);
    this.state = 'starting';
    const path = this.options.socketPath;
    const dir = dirname(path);
    try {
      await mkdir(dir, { recursive: true, mode: podResourcesDirMode });
      await this.removeStaleSocket(path);
      const server = new Server({
        'grpc.max_receive_message_length':
          this.options.maxReceiveMessageBytes ?? defaultPodResourcesMaxReceiveMessageBytes,
        'grpc.max_send_message_length': -1,
      });
      server.addService(this.serviceDefinition(), this.handlers());
      // Bound under a temporary name and renamed into place: clients never see a
      // socket file that does not accept connections yet.
      const temp = join(dir, `.${process.pid}-${++tempCounter}.sock`);
      await unlink(temp).catch(() => {});
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix:${temp}`, ServerCredentials.createInsecure(), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      this.server = server;
      await rename(temp, path);
      this.socketIno = (await lstat(path)).ino;
    } catch (err) {
      this.state = 'stopped';
      this.server?.forceShutdown();
      this.server = undefined;
      throw err;
    }
    this.state = 'running';
    this.logger.info('Setting rate limiting for podresources endpoint', {
      component: 'pod-resources',
      qps: this.options.qps ?? defaultPodResourcesQps,
      burstTokens: this.options.burst ?? defaultPodResourcesBurst,
    });
    this.logger.info('Starting to serve the podresources API', {
      component: 'pod-resources',
      endpoint: `unix://${path}`,
    });
  }

  /** Closes the server (cancelling calls in flight) and removes the socket it bound. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
    const path = this.options.socketPath;
    try {
      // Only our own socket: another process may have taken the path over since.
      if (this.socketIno !== undefined && (await lstat(path)).ino === this.socketIno) {
        await unlink(path);
      }
    } catch {
      // already gone
    }
    this.socketIno = undefined;
    this.logger.info('Stopped serving the podresources API', { component: 'pod-resources' });
  }

  private async removeStaleSocket(path: string): Promise<void> {
    let isSocket: boolean;
    try {
      isSocket = (await lstat(path)).isSocket();
    } catch {
      return; // nothing there
    }
    if (isSocket && (await isServed(path))) {
      throw new FailedPreconditionError(
        `cannot serve the podresources API: another process is serving ${path}`,
      );
    }
    // A socket nobody serves (left by a process that died), or any other file: the
    // kubelet unlinks whatever is at the path before it listens.
    await unlink(path);
    this.logger.info('Removed stale podresources socket', { component: 'pod-resources', path });
  }

  private serviceDefinition(): ServiceDefinition {
    const codecs = podResourcesCodecs();
    const method = (name: PodResourcesMethodName) => {
      const c = codecs[name];
      return {
        path: c.path,
        requestStream: false,
        responseStream: false,
        requestSerialize: c.encodeRequest,
        requestDeserialize: c.decodeRequest,
        responseSerialize: c.encodeResponse,
        responseDeserialize: c.decodeResponse,
        originalName: name,
      };
    };
    return {
      List: method('list'),
      GetAllocatableResources: method('getAllocatableResources'),
      Get: method('get'),
    };
  }

  private handlers(): Record<string, UntypedHandleCall> {
    const unary =
      (fn: (request: unknown) => unknown) =>
      (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
        // The kubelet's unary interceptor: the limiter runs before any handler.
        if (!this.limiter.allow()) {
          callback({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: rateLimitExceededMessage });
          return;
        }
        let response: unknown;
        try {
          response = fn(call.request);
        } catch (err) {
          if (err instanceof StatusError) {
            callback({ code: err.code, details: err.message });
          } else {
            this.logger.error('podresources call failed', { component: 'pod-resources', err });
            callback({
              code: GrpcStatus.UNKNOWN,
              details: err instanceof Error ? err.message : String(err),
            });
          }
          return;
        }
        callback(null, response);
      };
    return {
      List: unary(() => this.list()),
      GetAllocatableResources: unary(() => this.getAllocatableResources()),
      Get: unary((request) => this.get(request as GetPodResourcesRequest)),
    };
  }
}

/** Creates a {@link PodResourcesServer}. */
export function createPodResourcesServer(options: PodResourcesServerOptions): PodResourcesServer {
  return new PodResourcesServer(options);
}

/** Token of the PodResources server (registered by `registerPodResourcesServer`). */
export const PodResourcesServerToken: InjectionToken<PodResourcesServer> =
  createToken<PodResourcesServer>('PodResourcesServer');
