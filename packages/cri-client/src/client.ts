import {
  Client,
  Metadata,
  credentials,
  type CallOptions as GrpcCallOptions,
  type ChannelOptions,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import {
  CancelledError,
  ErrorCode,
  RealClock,
  RuntimeVersionUnsupportedError,
  createToken,
  isNodeAgentError,
  noopLogger,
  noopMetrics,
  type CallOptions,
  type Clock,
  type ContainerRuntime,
  type ImageService,
  type InjectionToken,
  type Logger,
  type MetricLabels,
  type MetricsRegistry,
  type cri,
} from '@nodeagent/core';
import { criMethodCodecs, type MethodCodec } from './codec.js';
import { parseCriEndpoint, type CriEndpoint } from './endpoint.js';
import { toCriError } from './grpc-errors.js';
import {
  defaultRuntimeRequestTimeoutMs,
  defaultStatusRequestTimeoutMs,
  defaultTimeoutMs,
  type TimeoutDefaults,
} from './timeouts.js';

/** The CRI API version this client speaks. */
export const criApiVersion = 'v1';

/** Largest gRPC message sent or received by default: 16 MiB, like the kubelet. */
export const defaultMaxMessageBytes = 16 * 1024 * 1024;

/** What the client reports about each finished call through {@link CriClientOptions.onCall}. */
export interface CriCallEvent {
  readonly service: 'RuntimeService' | 'ImageService';
  /** The RPC name, e.g. `ListContainers`. */
  readonly method: string;
  /** `RuntimeService/ListContainers`. */
  readonly operation: string;
  /** Wall time of the call in milliseconds (for streams: until the stream ended). */
  readonly durationMs: number;
  /** `ok`, or the error code the call failed with. */
  readonly outcome: 'ok' | ErrorCode;
}

export interface CriClientOptions {
  /** Runtime endpoint, e.g. `unix:///run/containerd/containerd.sock`. */
  endpoint: string;
  /** Image service endpoint; the runtime endpoint when omitted. */
  imageEndpoint?: string;
  /** Default deadline of mutating calls in ms. Default 2 min (kubelet `--runtime-request-timeout`). */
  runtimeRequestTimeoutMs?: number;
  /** Default deadline of list/status/stats/version calls in ms. Default 10 s. */
  statusRequestTimeoutMs?: number;
  /** Largest message sent or received, in bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  /**
   * Reconnect back-off after the runtime went away, in ms: first delay and cap.
   * Default 100 ms growing to 3 s, as the kubelet's CRI connection does. While
   * disconnected, calls fail at once with an `UnavailableError`.
   */
  reconnectBackoffMs?: { initial: number; max: number };
  /** Records `kubelet_runtime_operations_total`, `…_duration_seconds` and `…_errors_total`. */
  metrics?: MetricsRegistry;
  /** Called after every call with its method, duration and outcome. Must not throw. */
  onCall?: (event: CriCallEvent) => void;
  logger?: Logger;
  /** Used to measure call durations. */
  clock?: Clock;
  /** Extra grpc-js channel options (escape hatch; overrides the ones above). */
  channelOptions?: ChannelOptions;
}

/**
 * A CRI v1 client: every RuntimeService and ImageService RPC as a promise-returning
 * method (server streams as AsyncIterables), plus connection management. Errors are
 * typed (`NotFoundError`, `UnavailableError`, `DeadlineExceededError`… from
 * `@nodeagent/core`) and carry the RPC name and the runtime's message.
 */
export interface CriClient extends ContainerRuntime, ImageService {
  readonly endpoint: string;
  readonly imageEndpoint: string;
  /**
   * Checks that the runtime answers and speaks CRI v1 (and that a separate image
   * endpoint answers). Rejects with `RuntimeVersionUnsupportedError` when it does
   * not, with `UnavailableError` when nothing listens. Resolves to the runtime's
   * Version response.
   */
  connect(options?: CallOptions): Promise<cri.VersionResponse>;
  /** Closes the connections; later calls fail. Idempotent. */
  close(): void;
}
export const CriClient: InjectionToken<CriClient> = createToken<CriClient>('CriClient');

/** `RunPodSandbox` → `run_podsandbox`: the kubelet's `operation_type` label values. */
function operationType(rpc: string): string {
  return rpc
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/pod_sandbox/g, 'podsandbox');
}

interface Instruments {
  labels: MetricLabels;
}

class GrpcCriClient {
  readonly endpoint: string;
  readonly imageEndpoint: string;
  private readonly runtimeTarget: CriEndpoint;
  private readonly imageTarget: CriEndpoint;
  private readonly runtimeChannel: Client;
  private readonly imageChannel: Client;
  private readonly timeouts: TimeoutDefaults;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly onCall: ((event: CriCallEvent) => void) | undefined;
  private readonly operations;
  private readonly durations;
  private readonly failures;
  private readonly instruments = new Map<string, Instruments>();
  private closed = false;

  constructor(options: CriClientOptions) {
    this.runtimeTarget = parseCriEndpoint(options.endpoint);
    this.imageTarget = parseCriEndpoint(options.imageEndpoint ?? options.endpoint);
    this.endpoint = this.runtimeTarget.address;
    this.imageEndpoint = this.imageTarget.address;
    this.timeouts = {
      runtimeRequestTimeoutMs: options.runtimeRequestTimeoutMs ?? defaultRuntimeRequestTimeoutMs,
      statusRequestTimeoutMs: options.statusRequestTimeoutMs ?? defaultStatusRequestTimeoutMs,
    };
    this.clock = options.clock ?? new RealClock();
    this.logger = (options.logger ?? noopLogger).child({ component: 'cri-client' });
    this.onCall = options.onCall;
    const metrics = options.metrics ?? noopMetrics;
    this.operations = metrics.counter({
      name: 'kubelet_runtime_operations_total',
      help: 'Cumulative number of runtime operations by operation type.',
      labelNames: ['operation_type'],
    });
    this.durations = metrics.histogram({
      name: 'kubelet_runtime_operations_duration_seconds',
      help: 'Duration in seconds of runtime operations, by operation type.',
      labelNames: ['operation_type'],
      buckets: [
        0.005, 0.0125, 0.03125, 0.078125, 0.1953125, 0.48828125, 1.220703125, 3.0517578125,
        7.62939453125, 19.073486328125, 47.6837158203125, 119.20928955078125, 298.0232238769531,
        745.0580596923828,
      ],
    });
    this.failures = metrics.counter({
      name: 'kubelet_runtime_operations_errors_total',
      help: 'Cumulative number of runtime operation errors by operation type.',
      labelNames: ['operation_type'],
    });
    const backoff = options.reconnectBackoffMs ?? { initial: 100, max: 3000 };
    const maxBytes = options.maxMessageBytes ?? defaultMaxMessageBytes;
    const channelOptions: ChannelOptions = {
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
      'grpc.initial_reconnect_backoff_ms': backoff.initial,
      'grpc.max_reconnect_backoff_ms': backoff.max,
      ...options.channelOptions,
    };
    this.runtimeChannel = new Client(this.endpoint, credentials.createInsecure(), channelOptions);
    this.imageChannel =
      this.imageEndpoint === this.endpoint
        ? this.runtimeChannel
        : new Client(this.imageEndpoint, credentials.createInsecure(), channelOptions);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.runtimeChannel.close();
    if (this.imageChannel !== this.runtimeChannel) this.imageChannel.close();
  }

  async connect(options?: CallOptions): Promise<cri.VersionResponse> {
    const versionCodec = this.codec('version');
    let response: cri.VersionResponse;
    try {
      response = (await this.unary(
        versionCodec,
        { version: criApiVersion },
        options,
      )) as cri.VersionResponse;
    } catch (err) {
      if (isNodeAgentError(err, ErrorCode.Unimplemented)) {
        throw new RuntimeVersionUnsupportedError(
          `container runtime at ${this.endpoint} does not implement CRI ${criApiVersion} (runtime.v1.RuntimeService): ${err.detail ?? err.message}`,
          { operation: versionCodec.operation, cause: err },
        );
      }
      throw err;
    }
    if (response.runtimeApiVersion && response.runtimeApiVersion !== criApiVersion) {
      throw new RuntimeVersionUnsupportedError(
        `container runtime ${response.runtimeName} ${response.runtimeVersion} at ${this.endpoint} speaks CRI ${response.runtimeApiVersion}, but nodeagent needs ${criApiVersion}`,
        { operation: versionCodec.operation },
      );
    }
    if (this.imageChannel !== this.runtimeChannel) {
      try {
        await this.unary(this.codec('imageFsInfo'), {}, options);
      } catch (err) {
        if (isNodeAgentError(err, ErrorCode.Unimplemented)) {
          throw new RuntimeVersionUnsupportedError(
            `image service at ${this.imageEndpoint} does not implement CRI ${criApiVersion} (runtime.v1.ImageService)`,
            { operation: 'ImageService/ImageFsInfo', cause: err },
          );
        }
        throw err;
      }
    }
    this.logger.info('Connected to the container runtime', {
      endpoint: this.endpoint,
      runtimeName: response.runtimeName,
      runtimeVersion: response.runtimeVersion,
      runtimeApiVersion: response.runtimeApiVersion,
    });
    return response;
  }

  codec(name: string): MethodCodec {
    const codec = criMethodCodecs().get(name);
    if (!codec) throw new Error(`unknown CRI method ${name}`);
    return codec;
  }

  unary(codec: MethodCodec, request: unknown, options: CallOptions | undefined): Promise<unknown> {
    const signal = options?.signal;
    const start = this.clock.monotonicNow();
    if (signal?.aborted) {
      const err = new CancelledError(`${codec.operation}: cancelled before it started`, {
        operation: codec.operation,
        cause: signal.reason,
      });
      this.record(codec, start, err.code);
      return Promise.reject(err);
    }
    const timeoutMs = options?.timeoutMs ?? defaultTimeoutMs(codec.name, request, this.timeouts);
    const callOptions: GrpcCallOptions =
      timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
    const channel = codec.service === 'ImageService' ? this.imageChannel : this.runtimeChannel;
    const socketPath =
      codec.service === 'ImageService'
        ? this.imageTarget.socketPath
        : this.runtimeTarget.socketPath;
    return new Promise((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const call = channel.makeUnaryRequest(
        codec.path,
        codec.serialize,
        codec.deserialize,
        request ?? {},
        new Metadata(),
        callOptions,
        (err, value) => {
          if (onAbort) signal?.removeEventListener('abort', onAbort);
          if (err) {
            const error = toCriError(err, codec.operation, socketPath);
            this.record(codec, start, error.code);
            reject(error);
          } else {
            this.record(codec, start, 'ok');
            resolve(value);
          }
        },
      );
      if (signal) {
        onAbort = () => call.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  async *stream(
    codec: MethodCodec,
    request: unknown,
    options: CallOptions | undefined,
  ): AsyncGenerator<unknown> {
    const signal = options?.signal;
    const start = this.clock.monotonicNow();
    if (signal?.aborted) return;
    const callOptions: GrpcCallOptions =
      options?.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
    const channel = codec.service === 'ImageService' ? this.imageChannel : this.runtimeChannel;
    const socketPath =
      codec.service === 'ImageService'
        ? this.imageTarget.socketPath
        : this.runtimeTarget.socketPath;
    const call: ClientReadableStream<unknown> = channel.makeServerStreamRequest(
      codec.path,
      codec.serialize,
      codec.deserialize,
      request ?? {},
      new Metadata(),
      callOptions,
    );
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let outcome: CriCallEvent['outcome'] = 'ok';
    try {
      for await (const message of call) yield message;
    } catch (err) {
      const error = toCriError(err, codec.operation, socketPath);
      if (signal?.aborted && error.code === ErrorCode.Cancelled) return;
      outcome = error.code;
      throw error;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // Ends the call when the consumer stopped iterating early.
      call.cancel();
      this.record(codec, start, outcome);
    }
  }

  private record(codec: MethodCodec, start: number, outcome: CriCallEvent['outcome']): void {
    const durationMs = this.clock.monotonicNow() - start;
    let inst = this.instruments.get(codec.name);
    if (!inst) {
      inst = {
        labels: { operation_type: operationType(codec.operation.slice(codec.service.length + 1)) },
      };
      this.instruments.set(codec.name, inst);
    }
    this.operations.inc(inst.labels);
    this.durations.observe(inst.labels, durationMs / 1000);
    if (outcome !== 'ok') this.failures.inc(inst.labels);
    if (this.onCall) {
      try {
        this.onCall({
          service: codec.service,
          method: codec.operation.slice(codec.service.length + 1),
          operation: codec.operation,
          durationMs,
          outcome,
        });
      } catch (err) {
        this.logger.warn('CRI onCall hook threw', { error: String(err) });
      }
    }
  }
}

/**
 * Creates a CRI v1 client. No connection is made until the first call; call
 * `connect()` to check the runtime up front.
 *
 * ```ts
 * const cri = createCriClient({ endpoint: 'unix:///run/containerd/containerd.sock' });
 * await cri.connect();
 * const { containers } = await cri.listContainers({});
 * ```
 */
export function createCriClient(options: CriClientOptions): CriClient {
  const impl = new GrpcCriClient(options);
  const client: Record<string, unknown> = {
    endpoint: impl.endpoint,
    imageEndpoint: impl.imageEndpoint,
    connect: (opts?: CallOptions) => impl.connect(opts),
    close: () => impl.close(),
  };
  for (const [name, codec] of criMethodCodecs()) {
    client[name] = codec.responseStream
      ? (request?: unknown, opts?: CallOptions) => impl.stream(codec, request, opts)
      : (request?: unknown, opts?: CallOptions) => impl.unary(codec, request, opts);
  }
  return Object.freeze(client) as unknown as CriClient;
}
