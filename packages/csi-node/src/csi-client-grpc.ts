import { existsSync } from 'node:fs';
import { Client, Metadata, credentials, type ChannelOptions } from '@grpc/grpc-js';
import {
  CancelledError,
  DeadlineExceededError,
  ErrorCode,
  InvalidConfigError,
  errorCodeForGrpcStatus,
  errorForCode,
  isGrpcServiceError,
  type NodeAgentError,
} from '@nodeagent/core';
import protobuf from 'protobufjs';
import { csiDescriptor, identityMethods, nodeMethods } from './generated/csi-descriptor.js';
import {
  pluginRegistrationDescriptor,
  registrationMethods,
} from './generated/pluginregistration-descriptor.js';

/**
 * How decoded messages look (the generated types in ./generated): every field
 * present, 64-bit integers as numbers, enums as their names, absent sub-messages as null.
 */
const decodeOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
};

/** Encoder, decoder and path of one unary gRPC method. */
export interface GrpcMethod {
  /** `csi.v1.Node/NodeStageVolume`: used in errors and metrics. */
  readonly operation: string;
  /** The RPC name, e.g. `NodeStageVolume`. */
  readonly rpc: string;
  readonly path: string;
  readonly serialize: (value: unknown) => Buffer;
  readonly deserialize: (bytes: Buffer) => unknown;
}

interface MethodInfo {
  readonly path: string;
  readonly requestType: string;
  readonly responseType: string;
}

function buildMethods<K extends string>(
  descriptor: Readonly<Record<string, unknown>>,
  table: Readonly<Record<K, MethodInfo>>,
): Record<K, GrpcMethod> {
  const root = protobuf.Root.fromJSON(descriptor);
  const out = {} as Record<K, GrpcMethod>;
  for (const [name, info] of Object.entries(table) as Array<[K, MethodInfo]>) {
    const requestType = root.lookupType(info.requestType);
    const responseType = root.lookupType(info.responseType);
    out[name] = {
      operation: info.path.slice(1),
      rpc: info.path.slice(info.path.lastIndexOf('/') + 1),
      path: info.path,
      serialize: (value) =>
        requestType.encode(requestType.fromObject(value ?? {})).finish() as Buffer,
      deserialize: (bytes) => responseType.toObject(responseType.decode(bytes), decodeOptions),
    };
  }
  return out;
}

type IdentityName = keyof typeof identityMethods;
type NodeName = keyof typeof nodeMethods;
type RegistrationName = keyof typeof registrationMethods;

let csiCodecs: Record<IdentityName | NodeName, GrpcMethod> | undefined;
let registrationCodecs: Record<RegistrationName, GrpcMethod> | undefined;

/** Codecs of the CSI Identity and Node methods, keyed by camelCase method name (built once). */
export function csiMethods(): Record<IdentityName | NodeName, GrpcMethod> {
  csiCodecs ??= {
    ...buildMethods(csiDescriptor, identityMethods),
    ...buildMethods(csiDescriptor, nodeMethods),
  };
  return csiCodecs;
}

/** Codecs of the plugin registration methods (built once). */
export function registrationGrpcMethods(): Record<RegistrationName, GrpcMethod> {
  registrationCodecs ??= buildMethods(pluginRegistrationDescriptor, registrationMethods);
  return registrationCodecs;
}

/**
 * Parses a CSI or registration endpoint: `unix:///path`, `unix:/path` or an absolute
 * path (node-driver-registrar reports a bare path). Returns the gRPC address and the
 * socket path. Anything else is an InvalidConfigError.
 */
export function parseUnixEndpoint(endpoint: string): { address: string; socketPath: string } {
  const trimmed = endpoint.trim();
  let path: string;
  if (trimmed.startsWith('unix://')) path = trimmed.slice('unix://'.length);
  else if (trimmed.startsWith('unix:')) path = trimmed.slice('unix:'.length);
  else path = trimmed;
  if (!path.startsWith('/')) {
    throw new InvalidConfigError(
      `unsupported endpoint "${endpoint}": expected an absolute unix socket path (unix:///path/csi.sock)`,
    );
  }
  return { address: `unix://${path}`, socketPath: path };
}

/**
 * Converts a grpc-js failure into the core error class of its status code; the
 * driver's own message is kept in `detail`. `who` names the peer in messages.
 */
export function toCsiError(
  err: unknown,
  operation: string,
  socketPath: string,
  who: string,
): NodeAgentError {
  if (!isGrpcServiceError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return errorForCode(ErrorCode.Unknown, `${operation}: ${message}`, { operation, cause: err });
  }
  const code = errorCodeForGrpcStatus(err.code);
  const detail = err.details;
  let message = `${operation}: ${detail || code}`;
  if (code === ErrorCode.Unavailable) {
    message = existsSync(socketPath)
      ? `${operation}: ${who} at unix://${socketPath} is unavailable: ${detail}`
      : `${operation}: ${who} socket ${socketPath} does not exist`;
  }
  return errorForCode(code, message, { operation, detail, cause: err });
}

/** Options of {@link GrpcUnixChannel}. */
export interface GrpcUnixChannelOptions {
  /** The peer's unix socket (`unix:///…` or an absolute path). */
  endpoint: string;
  /** Names the peer in error messages, e.g. `CSI driver "hostpath.csi.k8s.io"`. */
  who: string;
  /** Extra grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

/**
 * One gRPC channel to a unix socket and a cancellable unary call on it. Deadlines
 * are not set here: callers enforce them with their Clock and cancel through `signal`.
 */
export class GrpcUnixChannel {
  readonly address: string;
  readonly socketPath: string;
  private readonly who: string;
  private readonly client: Client;
  private closed = false;

  constructor(options: GrpcUnixChannelOptions) {
    const { address, socketPath } = parseUnixEndpoint(options.endpoint);
    this.address = address;
    this.socketPath = socketPath;
    this.who = options.who;
    this.client = new Client(address, credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      ...options.channelOptions,
    });
  }

  /**
   * Makes one unary call. Rejects with the core error class of the gRPC status, with
   * CancelledError when `signal` aborts first (or `reason` if it is a NodeAgentError,
   * e.g. a DeadlineExceededError raised by the caller's timer).
   */
  unary(method: GrpcMethod, request: unknown, signal?: AbortSignal): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(
        errorForCode(ErrorCode.Cancelled, `${method.operation}: client closed`, {
          operation: method.operation,
        }),
      );
    }
    if (signal?.aborted) return Promise.reject(abortError(method.operation, signal));
    return new Promise((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const call = this.client.makeUnaryRequest(
        method.path,
        method.serialize,
        method.deserialize,
        request ?? {},
        new Metadata(),
        {},
        (err, value) => {
          if (onAbort) signal?.removeEventListener('abort', onAbort);
          if (signal?.aborted) reject(abortError(method.operation, signal));
          else if (err) reject(toCsiError(err, method.operation, this.socketPath, this.who));
          else resolve(value);
        },
      );
      if (signal) {
        onAbort = () => call.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** Closes the channel; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}

function abortError(operation: string, signal: AbortSignal): NodeAgentError {
  const reason: unknown = signal.reason;
  if (reason instanceof DeadlineExceededError || reason instanceof CancelledError) return reason;
  return new CancelledError(`${operation}: cancelled`, { operation, cause: reason });
}
