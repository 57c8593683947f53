import {
  DeadlineExceededError,
  ErrorCode,
  RealClock,
  isNodeAgentError,
  jitter,
  mathRandom,
  noopLogger,
  noopMetrics,
  type Clock,
  type Histogram,
  type Logger,
  type MetricsRegistry,
  type Random,
} from '@nodeagent/core';
import { GrpcUnixChannel, csiMethods, type GrpcMethod } from './csi-client-grpc.js';
import type {
  GetPluginCapabilitiesResponse,
  GetPluginInfoResponse,
  NodeExpandVolumeResponse,
  NodeGetCapabilitiesResponse,
  NodeGetInfoResponse,
  NodeGetVolumeStatsResponse,
  VolumeCapabilityInput,
} from './generated/csi-types.js';
import type {
  CsiNodeClient,
  NodePublishVolumeRequest,
  NodeStageVolumeRequest,
  VolumeCapability,
} from './types.js';

/** Kubelet `csiTimeout`: the deadline of every CSI call, retries included (2 minutes). */
export const defaultCsiTimeoutMs = 2 * 60 * 1000;

/**
 * Back-off between attempts of a CSI call that failed with a retriable code: the
 * first wait is 500 ms (kubelet `initialDurationBeforeRetry`), doubling up to 8 s,
 * with up to 10 % jitter; at most 5 attempts, and never past the call's deadline.
 */
export const defaultCsiRetry: CsiRetryPolicy = {
  initialBackoffMs: 500,
  maxBackoffMs: 8000,
  factor: 2,
  jitter: 0.1,
  maxAttempts: 5,
};

/** How a CSI call is retried. */
export interface CsiRetryPolicy {
  /** Wait before the second attempt, in milliseconds. */
  readonly initialBackoffMs: number;
  /** Upper bound of a wait, in milliseconds. */
  readonly maxBackoffMs: number;
  /** Growth factor of the wait per attempt. */
  readonly factor: number;
  /** Random extra wait as a fraction of the wait (0.1 = up to +10 %). */
  readonly jitter: number;
  /** Attempts in total, the first included (1 = no retry). */
  readonly maxAttempts: number;
}

/**
 * gRPC codes after which a CSI call is retried. Every Identity and Node RPC is
 * idempotent by the CSI spec (repeating a successful stage/publish is a no-op), so
 * the codes that mean "not now" are safe to retry for all of them: UNAVAILABLE (driver
 * restarting, socket not yet there), ABORTED (the spec's "operation pending for
 * volume": retry with back-off), RESOURCE_EXHAUSTED. Anything else (INVALID_ARGUMENT,
 * NOT_FOUND, FAILED_PRECONDITION, INTERNAL, a driver-side DEADLINE_EXCEEDED …) is
 * returned to the caller, whose own back-off (the volume manager's) decides.
 */
export const retriableCsiErrorCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCode.Unavailable,
  ErrorCode.Aborted,
  ErrorCode.ResourceExhausted,
]);

/** Options of {@link CsiClient}. */
export interface CsiClientOptions {
  /** The registered driver name. */
  driverName: string;
  /** The driver's unix socket (`unix:///var/lib/kubelet/plugins/<driver>/csi.sock` or a bare path). */
  endpoint: string;
  /** Deadline of each call, retries included, in ms; default {@link defaultCsiTimeoutMs}. */
  timeoutMs?: number;
  /** Retry policy; default {@link defaultCsiRetry}. */
  retry?: Partial<CsiRetryPolicy>;
  /** Clock for deadlines and back-off; default the real clock. */
  clock?: Clock;
  /** Randomness for the back-off jitter. */
  random?: Random;
  /** Logger; default silent. */
  logger?: Logger;
  /** Where `csi_operations_seconds` goes (kubelet metric); default nowhere. */
  metrics?: MetricsRegistry;
}

/** Decoded CSI `PluginCapability` list, flattened. */
export interface CsiPluginCapabilities {
  /** The plugin serves the Controller service. */
  controllerService: boolean;
  /** Volumes have topology constraints. */
  volumeAccessibilityConstraints: boolean;
  /** Online volume expansion. */
  onlineExpansion: boolean;
  /** Offline volume expansion. */
  offlineExpansion: boolean;
}

function toWireCapability(c: VolumeCapability): VolumeCapabilityInput {
  return {
    ...(c.block ? { block: {} } : {}),
    ...(c.mount
      ? {
          mount: {
            fsType: c.mount.fsType ?? '',
            mountFlags: c.mount.mountFlags ?? [],
            volumeMountGroup: c.mount.volumeMountGroup ?? '',
          },
        }
      : {}),
    accessMode: { mode: c.accessMode },
  };
}

/**
 * A CSI v1 client for one driver (kubelet `csiDriverClient`): Identity (GetPluginInfo,
 * GetPluginCapabilities, Probe) and Node RPCs over the driver's unix socket. Each call
 * has a deadline (kubelet `csiTimeout`, 2 min) enforced with the injected Clock, retries
 * the retriable codes ({@link retriableCsiErrorCodes}) with back-off, and fails with the
 * core error class of the final gRPC status.
 */
export class CsiClient implements CsiNodeClient {
  readonly driverName: string;
  /** The driver endpoint as a gRPC address. */
  readonly endpoint: string;
  private readonly channel: GrpcUnixChannel;
  private readonly timeoutMs: number;
  private readonly retry: CsiRetryPolicy;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly durations: Histogram;

  constructor(options: CsiClientOptions) {
    this.driverName = options.driverName;
    this.channel = new GrpcUnixChannel({
      endpoint: options.endpoint,
      who: `CSI driver "${options.driverName}"`,
    });
    this.endpoint = this.channel.address;
    this.timeoutMs = options.timeoutMs ?? defaultCsiTimeoutMs;
    this.retry = { ...defaultCsiRetry, ...options.retry };
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({
      component: 'csi-client',
      driver: options.driverName,
    });
    this.durations = (options.metrics ?? noopMetrics).histogram({
      name: 'csi_operations_seconds',
      help: 'Container Storage Interface operation duration in seconds, by driver, method and gRPC status.',
      labelNames: ['driver_name', 'method_name', 'grpc_status_code', 'migrated'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25, 50, 120, 300, 600],
    });
  }

  /** CSI GetPluginInfo: the driver's name and vendor version. */
  async getPluginInfo(signal?: AbortSignal): Promise<GetPluginInfoResponse> {
    return (await this.call(csiMethods().getPluginInfo, {}, signal)) as GetPluginInfoResponse;
  }

  /** CSI GetPluginCapabilities, flattened. */
  async getPluginCapabilities(signal?: AbortSignal): Promise<CsiPluginCapabilities> {
    const res = (await this.call(
      csiMethods().getPluginCapabilities,
      {},
      signal,
    )) as GetPluginCapabilitiesResponse;
    const caps: CsiPluginCapabilities = {
      controllerService: false,
      volumeAccessibilityConstraints: false,
      onlineExpansion: false,
      offlineExpansion: false,
    };
    for (const c of res.capabilities) {
      const service = c.service?.type;
      if (service === 'CONTROLLER_SERVICE') caps.controllerService = true;
      if (service === 'VOLUME_ACCESSIBILITY_CONSTRAINTS')
        caps.volumeAccessibilityConstraints = true;
      const expansion = c.volumeExpansion?.type;
      if (expansion === 'ONLINE') caps.onlineExpansion = true;
      if (expansion === 'OFFLINE') caps.offlineExpansion = true;
    }
    return caps;
  }

  /** CSI Probe: true when the driver is ready (an absent `ready` means ready, per the spec). */
  async probe(signal?: AbortSignal): Promise<boolean> {
    const res = (await this.call(csiMethods().probe, {}, signal)) as {
      ready: { value: boolean } | null;
    };
    return res.ready === null ? true : res.ready.value;
  }

  /** {@inheritDoc CsiNodeClient.nodeGetInfo} */
  async nodeGetInfo(signal?: AbortSignal): Promise<{
    nodeId: string;
    maxVolumesPerNode: number;
    accessibleTopology?: Record<string, string>;
  }> {
    const res = (await this.call(csiMethods().nodeGetInfo, {}, signal)) as NodeGetInfoResponse;
    return {
      nodeId: res.nodeId,
      maxVolumesPerNode: res.maxVolumesPerNode,
      ...(res.accessibleTopology
        ? { accessibleTopology: { ...res.accessibleTopology.segments } }
        : {}),
    };
  }

  /** {@inheritDoc CsiNodeClient.nodeGetCapabilities} */
  async nodeGetCapabilities(signal?: AbortSignal): Promise<{
    stageUnstage: boolean;
    getVolumeStats: boolean;
    expandVolume: boolean;
    singleNodeMultiWriter: boolean;
    volumeMountGroup: boolean;
  }> {
    const res = (await this.call(
      csiMethods().nodeGetCapabilities,
      {},
      signal,
    )) as NodeGetCapabilitiesResponse;
    const types = new Set(res.capabilities.map((c) => c.rpc?.type));
    return {
      stageUnstage: types.has('STAGE_UNSTAGE_VOLUME'),
      getVolumeStats: types.has('GET_VOLUME_STATS'),
      expandVolume: types.has('EXPAND_VOLUME'),
      singleNodeMultiWriter: types.has('SINGLE_NODE_MULTI_WRITER'),
      volumeMountGroup: types.has('VOLUME_MOUNT_GROUP'),
    };
  }

  /** {@inheritDoc CsiNodeClient.nodeStageVolume} */
  async nodeStageVolume(req: NodeStageVolumeRequest, signal?: AbortSignal): Promise<void> {
    await this.call(
      csiMethods().nodeStageVolume,
      {
        volumeId: req.volumeId,
        publishContext: req.publishContext ?? {},
        stagingTargetPath: req.stagingTargetPath,
        volumeCapability: toWireCapability(req.volumeCapability),
        secrets: req.secrets ?? {},
        volumeContext: req.volumeContext ?? {},
      },
      signal,
    );
  }

  /** {@inheritDoc CsiNodeClient.nodeUnstageVolume} */
  async nodeUnstageVolume(
    req: { volumeId: string; stagingTargetPath: string },
    signal?: AbortSignal,
  ): Promise<void> {
    await this.call(csiMethods().nodeUnstageVolume, req, signal);
  }

  /** {@inheritDoc CsiNodeClient.nodePublishVolume} */
  async nodePublishVolume(req: NodePublishVolumeRequest, signal?: AbortSignal): Promise<void> {
    await this.call(
      csiMethods().nodePublishVolume,
      {
        volumeId: req.volumeId,
        publishContext: req.publishContext ?? {},
        stagingTargetPath: req.stagingTargetPath ?? '',
        targetPath: req.targetPath,
        volumeCapability: toWireCapability(req.volumeCapability),
        readonly: req.readonly,
        secrets: req.secrets ?? {},
        volumeContext: req.volumeContext ?? {},
      },
      signal,
    );
  }

  /** {@inheritDoc CsiNodeClient.nodeUnpublishVolume} */
  async nodeUnpublishVolume(
    req: { volumeId: string; targetPath: string },
    signal?: AbortSignal,
  ): Promise<void> {
    await this.call(csiMethods().nodeUnpublishVolume, req, signal);
  }

  /** {@inheritDoc CsiNodeClient.nodeGetVolumeStats} */
  async nodeGetVolumeStats(
    req: { volumeId: string; volumePath: string; stagingTargetPath?: string },
    signal?: AbortSignal,
  ): Promise<{
    usage: Array<{ unit: 'BYTES' | 'INODES'; available: number; total: number; used: number }>;
    abnormal?: boolean;
    message?: string;
  }> {
    const res = (await this.call(
      csiMethods().nodeGetVolumeStats,
      {
        volumeId: req.volumeId,
        volumePath: req.volumePath,
        stagingTargetPath: req.stagingTargetPath ?? '',
      },
      signal,
    )) as NodeGetVolumeStatsResponse;
    const usage: Array<{
      unit: 'BYTES' | 'INODES';
      available: number;
      total: number;
      used: number;
    }> = [];
    for (const u of res.usage) {
      if (u.unit === 'BYTES' || u.unit === 'INODES') {
        usage.push({ unit: u.unit, available: u.available, total: u.total, used: u.used });
      }
    }
    return {
      usage,
      ...(res.volumeCondition
        ? { abnormal: res.volumeCondition.abnormal, message: res.volumeCondition.message }
        : {}),
    };
  }

  /**
   * CSI NodeExpandVolume: grows the volume's file system on this node; resolves to the
   * new capacity in bytes (0 when the driver does not say).
   */
  async nodeExpandVolume(
    req: {
      volumeId: string;
      volumePath: string;
      requiredBytes: number;
      limitBytes?: number;
      stagingTargetPath?: string;
      volumeCapability?: VolumeCapability;
      secrets?: Record<string, string>;
    },
    signal?: AbortSignal,
  ): Promise<number> {
    const res = (await this.call(
      csiMethods().nodeExpandVolume,
      {
        volumeId: req.volumeId,
        volumePath: req.volumePath,
        capacityRange: { requiredBytes: req.requiredBytes, limitBytes: req.limitBytes ?? 0 },
        stagingTargetPath: req.stagingTargetPath ?? '',
        ...(req.volumeCapability
          ? { volumeCapability: toWireCapability(req.volumeCapability) }
          : {}),
        secrets: req.secrets ?? {},
      },
      signal,
    )) as NodeExpandVolumeResponse;
    return res.capacityBytes;
  }

  /** {@inheritDoc CsiNodeClient.close} */
  close(): void {
    this.channel.close();
  }

  /** One logical call: attempts with back-off under one deadline. */
  private async call(method: GrpcMethod, request: unknown, signal?: AbortSignal): Promise<unknown> {
    const start = this.clock.monotonicNow();
    const controller = new AbortController();
    const deadline = this.clock.setTimeout(() => {
      controller.abort(
        new DeadlineExceededError(
          `${method.operation}: no answer from CSI driver "${this.driverName}" within ${this.timeoutMs} ms`,
          { operation: method.operation },
        ),
      );
    }, this.timeoutMs);
    const onAbort = (): void => controller.abort(signal?.reason);
    if (signal?.aborted) controller.abort(signal.reason);
    else signal?.addEventListener('abort', onAbort, { once: true });
    let outcome = 'OK';
    try {
      let backoff = this.retry.initialBackoffMs;
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.channel.unary(method, request, controller.signal);
        } catch (err) {
          const retriable =
            isNodeAgentError(err) &&
            retriableCsiErrorCodes.has(err.code) &&
            !controller.signal.aborted &&
            attempt < this.retry.maxAttempts;
          if (!retriable) {
            outcome = isNodeAgentError(err) ? grpcCodeName(err.code) : 'Unknown';
            throw err;
          }
          const wait = Math.min(
            jitter(backoff, this.retry.jitter, this.random),
            this.retry.maxBackoffMs,
          );
          this.logger.debug('CSI call failed, retrying', {
            operation: method.operation,
            attempt,
            code: err.code,
            retryInMs: Math.round(wait),
          });
          try {
            await this.clock.sleep(wait, controller.signal);
          } catch {
            // The deadline or the caller's signal ended the wait: report the last failure's cause.
            const reason: unknown = controller.signal.reason;
            outcome = isNodeAgentError(reason) ? grpcCodeName(reason.code) : 'Canceled';
            throw isNodeAgentError(reason) ? reason : err;
          }
          backoff = Math.min(backoff * this.retry.factor, this.retry.maxBackoffMs);
        }
      }
    } finally {
      deadline.cancel();
      signal?.removeEventListener('abort', onAbort);
      this.durations.observe(
        {
          driver_name: this.driverName,
          method_name: `/${method.operation}`,
          grpc_status_code: outcome,
          migrated: 'false',
        },
        (this.clock.monotonicNow() - start) / 1000,
      );
    }
  }
}

/** gRPC status code names as kubelet's `csi_operations_seconds` labels them. */
function grpcCodeName(code: ErrorCode): string {
  return code === ErrorCode.Cancelled ? 'Canceled' : code;
}

/** Creates a {@link CsiClient}. */
export function createCsiClient(options: CsiClientOptions): CsiClient {
  return new CsiClient(options);
}
