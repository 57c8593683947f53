/**
 * @nodeagent/pod-resources — the kubelet PodResources API v1 (`v1.PodResourcesLister`,
 * KEP-606): the gRPC server the kubelet serves on `<root-dir>/pod-resources/kubelet.sock`
 * for node-local monitoring agents, and a typed client (@grpc/grpc-js + protobufjs).
 */
export {
  PodResourcesServer,
  PodResourcesServerToken,
  createPodResourcesServer,
  defaultPodResourcesMaxReceiveMessageBytes,
  podResourcesDirMode,
} from './server.js';
export type { PodResourcesServerOptions } from './server.js';
export { registerPodResourcesServer } from './register.js';
export {
  PodResourcesClient,
  createPodResourcesClient,
  defaultPodResourcesClientMaxMessageBytes,
  defaultPodResourcesClientTimeoutMs,
} from './client.js';
export type { PodResourcesCallOptions, PodResourcesClientOptions } from './client.js';
export {
  TokenBucketRateLimiter,
  defaultPodResourcesBurst,
  defaultPodResourcesQps,
  rateLimitExceededMessage,
} from './rate-limiter.js';
export { activePodsOf } from './active-pods.js';
export type { PodActivityView, PodWorkerPhase } from './active-pods.js';
export {
  containerResourcesOf,
  isRestartableInitContainer,
  podResourcesOf,
} from './pod-resources.js';
export {
  defaultPodResourcesSocket,
  podResourcesDirName,
  podResourcesSocketName,
  podResourcesSocketPath,
} from './socket-path.js';
export { errorCodeForGrpcStatus } from './grpc-errors.js';
export { podResourcesDescriptor, podResourcesListerMethods } from './generated/descriptor.js';
export type { PodResourcesMethodInfo } from './generated/descriptor.js';
export type * as podresources from './generated/types.js';
