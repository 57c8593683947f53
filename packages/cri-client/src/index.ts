/**
 * @nodeagent/cri-client — a typed, promise-based client for the CRI v1
 * RuntimeService and ImageService over a unix socket (@grpc/grpc-js + protobufjs).
 */
export { CriClient, createCriClient, criApiVersion, defaultMaxMessageBytes } from './client.js';
export type { CriCallEvent, CriClientOptions } from './client.js';
export { registerCriClient } from './register.js';
export { parseCriEndpoint } from './endpoint.js';
export type { CriEndpoint } from './endpoint.js';
export { errorCodeForGrpcStatus } from './grpc-errors.js';
export { defaultRuntimeRequestTimeoutMs, defaultStatusRequestTimeoutMs } from './timeouts.js';
export {
  criDescriptor,
  imageServiceMethods,
  runtimeServiceMethods,
} from './generated/descriptor.js';
export type { CriMethodInfo } from './generated/descriptor.js';
