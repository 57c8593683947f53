import type { ImageServiceMethods, RuntimeServiceMethods } from './cri/types.js';
import { createToken, type InjectionToken } from './token.js';

/** Per-call options of the runtime contracts. */
export interface CallOptions {
  /**
   * Deadline for this call in milliseconds. The implementation's default applies
   * when omitted (cri-client: 2 min like the kubelet's runtime request timeout, less
   * for list and status calls).
   */
  timeoutMs?: number;
  /** Cancels the call; the promise then rejects with a `CancelledError`. */
  signal?: AbortSignal;
}

/**
 * Turns a generated CRI method table into promise-returning methods: unary RPCs
 * resolve to their response; server-streaming RPCs return an AsyncIterable that ends
 * when the stream ends or the signal aborts.
 */
export type CriServiceApi<M> = {
  [K in keyof M]: M[K] extends { request: infer Req; response: infer Res; responseStream: infer S }
    ? S extends true
      ? (request?: Req, options?: CallOptions) => AsyncIterable<Res>
      : (request?: Req, options?: CallOptions) => Promise<Res>
    : never;
};

/**
 * The container runtime: the CRI v1 `RuntimeService`, one method per RPC (camelCase),
 * request and response messages as the CRI defines them. Implemented over gRPC by
 * `@nodeagent/cri-client`, in memory by `@nodeagent/testkit`. Errors are
 * `NodeAgentError`s whose code follows the gRPC status (NotFound, Unavailable…).
 */
export interface ContainerRuntime extends CriServiceApi<RuntimeServiceMethods> {}
export const ContainerRuntime: InjectionToken<ContainerRuntime> =
  createToken<ContainerRuntime>('ContainerRuntime');

/** The CRI v1 `ImageService`: list, inspect, pull and remove images; image filesystem usage. */
export interface ImageService extends CriServiceApi<ImageServiceMethods> {}
export const ImageService: InjectionToken<ImageService> = createToken<ImageService>('ImageService');
