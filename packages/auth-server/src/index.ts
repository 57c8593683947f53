/**
 * @nodeagent/auth-server — the kubelet's secured node API on :10250: HTTPS with a
 * given or self-signed serving certificate, x509 / TokenReview / anonymous
 * authentication, SubjectAccessReview authorization with the kubelet's attributes
 * and caches, and the endpoints healthz, pods, runningpods, stats/summary, metrics,
 * containerLogs, logs, configz, exec, attach and portForward.
 */
export {
  NodeApiServer,
  createNodeApiServer,
  defaultHandshakeTimeoutMs,
  defaultHeadersTimeoutMs,
  defaultKubeletAddress,
  defaultKubeletPort,
  defaultMaxHeaderBytes,
  defaultPodLogsDir,
  defaultRequestTimeoutMs,
  defaultStreamingConnectionIdleTimeoutMs,
  parseContainerLogQuery,
  parseGoBool,
  parseRequestTarget,
} from './server.js';
export type {
  ContainerLogQuery,
  MetricsSource,
  NodeApiAuthenticationOptions,
  NodeApiAuthorizationOptions,
  NodeApiProviders,
  NodeApiServerOptions,
  NodeApiTlsOptions,
  ParsedTarget,
} from './server.js';
export {
  NodeRequestAuthenticator,
  anonymousUser,
  authenticatedGroup,
  bearerToken,
  defaultAuthenticationCacheTtlMs,
  defaultTokenCacheSize,
  unauthenticatedGroup,
} from './authenticator.js';
export type {
  AuthenticationMethod,
  AuthenticationResult,
  NodeRequestAuthenticatorOptions,
  UserInfo,
} from './authenticator.js';
export {
  WebhookAuthorizer,
  alwaysAllowAuthorizer,
  apiVerbForMethod,
  defaultAuthorizationCacheSize,
  defaultCacheAuthorizedTtlMs,
  defaultCacheUnauthorizedTtlMs,
  isSubpath,
  nodeRequestAttributes,
  subjectAccessReviewFor,
  subresourcesForPath,
} from './authorizer.js';
export type {
  AuthorizationDecision,
  NodeAuthorizer,
  NodeRequestAttributes,
  WebhookAuthorizerOptions,
} from './authorizer.js';
export { kubeApiReviewClient } from './review-client.js';
export type {
  AuthReviewClient,
  KubeApiReviewMethods,
  SubjectAccessReview,
  SubjectAccessReviewResourceAttributes,
  SubjectAccessReviewStatus,
  TokenReview,
  TokenReviewStatus,
} from './review-client.js';
export {
  formatTimestampFixed,
  parseCriLogLine,
  parseRfc3339,
  readContainerLog,
  tailStartOffset,
} from './container-log.js';
export type {
  ContainerLogReadContext,
  ContainerLogReadOptions,
  CriLogLine,
  LogSink,
} from './container-log.js';
export { logHealthCheck, pingHealthCheck, runHealthz, syncLoopHealthCheck } from './healthz.js';
export {
  HealthzServer,
  createHealthzServer,
  defaultHealthzBindAddress,
  defaultHealthzPort,
  healthzListenRetryMs,
} from './healthz-server.js';
export type { HealthzServerOptions } from './healthz-server.js';
export type { HealthCheck, HealthzResult } from './healthz.js';
export { defaultNodeLogDir, serveNodeLog } from './node-logs.js';
export type { NodeLogOutcome } from './node-logs.js';
export { prometheusTextContentType, renderResourceMetrics } from './resource-metrics.js';
export { findPodContainers, findPodSandbox, podList, runningPodList } from './runtime-pods.js';
export type { NodeApiRuntime, PodListJson } from './runtime-pods.js';
export {
  generateSelfSignedServingCertificate,
  loadServingCertificate,
  selfSignedCertFileName,
  selfSignedKeyFileName,
  selfSignedValidityMs,
} from './serving-cert.js';
export type { ServingCertificate, ServingCertificateSource } from './serving-cert.js';
export { proxyUpgrade } from './stream-proxy.js';
export type { ProxyUpgradeOptions } from './stream-proxy.js';
export {
  cipherSuiteOpenSslNames,
  nodeTlsMinVersion,
  openSslCipherList,
  tlsVersionNames,
} from './tls-options.js';
export { TtlCache } from './ttl-cache.js';
export { NodeApiServerToken, registerNodeApiServer } from './register.js';
export type { RegisterNodeApiServerOptions } from './register.js';
