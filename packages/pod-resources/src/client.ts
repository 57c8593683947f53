import { Client, credentials, type CallOptions as GrpcCallOptions } from '@grpc/grpc-js';
import { CancelledError, RealClock, type Clock } from '@nodeagent/core';
import { podResourcesCodecs, type PodResourcesMethodCodec } from './codec.js';
import type {
  AllocatableResourcesResponse,
  GetPodResourcesRequestInput,
  GetPodResourcesResponse,
  ListPodResourcesResponse,
} from './generated/types.js';
import { toPodResourcesError } from './grpc-errors.js';
import { defaultPodResourcesSocket } from './socket-path.js';

/**
 * Largest response the client accepts by default: 16 MiB, what the kubelet's own
 * PodResources consumers use (`defaultPodResourcesMaxSize` in its node e2e tests).
 */
export const defaultPodResourcesClientMaxMessageBytes = 16 * 1024 * 1024;

/** Default deadline of a call: 10 s (the kubelet e2e's `defaultPodResourcesTimeout`). */
export const defaultPodResourcesClientTimeoutMs = 10_000;

/** Options of {@link PodResourcesClient}. */
export interface PodResourcesClientOptions {
  /**
   * The socket: a path, or a `unix://` endpoint. Default
   * `/var/lib/kubelet/pod-resources/kubelet.sock`.
   */
  socket?: string;
  /** Largest response accepted, bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  /** Default deadline per call, ms. Default 10 s. */
  timeoutMs?: number;
  /** Used to compute deadlines. Default: the real clock. */
  clock?: Clock;
}

/** Per-call options. */
export interface PodResourcesCallOptions {
  /** Deadline of this call in ms (overrides the client's default). */
  timeoutMs?: number;
  /** Cancels the call; it then rejects with `CancelledError`. */
  signal?: AbortSignal;
}

/**
 * A typed client of the kubelet PodResources API v1 (`v1.PodResourcesLister`), for
 * tests and node-local tooling; it talks to nodeagent and to any kubelet alike.
 * Failed calls reject with core's typed errors (`ResourceExhaustedError` for the
 * server's rate limit, `UnknownError` for the kubelet's plain errors such as a pod
 * not found, `UnavailableError` when nothing serves the socket), with the server's
 * message in `detail`.
 */
export class PodResourcesClient {
  private readonly client: Client;
  private readonly target: string;
  private readonly timeoutMs: number;
  private readonly clock: Clock;

  constructor(options: PodResourcesClientOptions = {}) {
    const socket = options.socket ?? defaultPodResourcesSocket;
    const path = socket.startsWith('unix://') ? socket.slice('unix://'.length) : socket;
    this.target = `unix:${path}`;
    this.timeoutMs = options.timeoutMs ?? defaultPodResourcesClientTimeoutMs;
    this.clock = options.clock ?? new RealClock();
    this.client = new Client(this.target, credentials.createInsecure(), {
      'grpc.max_receive_message_length':
        options.maxMessageBytes ?? defaultPodResourcesClientMaxMessageBytes,
      'grpc.max_send_message_length':
        options.maxMessageBytes ?? defaultPodResourcesClientMaxMessageBytes,
    });
  }

  /** `List`: every active pod of the node and what its containers were given. */
  list(options?: PodResourcesCallOptions): Promise<ListPodResourcesResponse> {
    return this.call(podResourcesCodecs().list, {}, options) as Promise<ListPodResourcesResponse>;
  }

  /** `GetAllocatableResources`: the node's allocatable devices, CPUs and memory. */
  getAllocatableResources(
    options?: PodResourcesCallOptions,
  ): Promise<AllocatableResourcesResponse> {
    return this.call(
      podResourcesCodecs().getAllocatableResources,
      {},
      options,
    ) as Promise<AllocatableResourcesResponse>;
  }

  /** `Get`: one pod by `podNamespace` and `podName`. */
  get(
    request: GetPodResourcesRequestInput,
    options?: PodResourcesCallOptions,
  ): Promise<GetPodResourcesResponse> {
    return this.call(
      podResourcesCodecs().get,
      request,
      options,
    ) as Promise<GetPodResourcesResponse>;
  }

  /** Closes the connection. */
  close(): void {
    this.client.close();
  }

  private call(
    codec: PodResourcesMethodCodec,
    request: unknown,
    options: PodResourcesCallOptions = {},
  ): Promise<unknown> {
    const { signal } = options;
    if (signal?.aborted) {
      return Promise.reject(
        new CancelledError(`${codec.operation} cancelled`, { operation: codec.operation }),
      );
    }
    const callOptions: GrpcCallOptions = {
      deadline: this.clock.now() + (options.timeoutMs ?? this.timeoutMs),
    };
    return new Promise((resolve, reject) => {
      const call = this.client.makeUnaryRequest(
        codec.path,
        codec.encodeRequest,
        codec.decodeResponse,
        request,
        callOptions,
        (err, value) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) reject(toPodResourcesError(err, codec.operation, this.target));
          else resolve(value);
        },
      );
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** Creates a {@link PodResourcesClient}. */
export function createPodResourcesClient(options?: PodResourcesClientOptions): PodResourcesClient {
  return new PodResourcesClient(options);
}
