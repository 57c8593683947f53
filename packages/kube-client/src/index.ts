/**
 * @nodeagent/kube-client — the node agent's connection to the Kubernetes API server
 * through @kubernetes/client-node: kubeconfig and in-cluster loading, one
 * rate-limited set of API clients, a reflector that survives every watch failure,
 * the API pod source, ConfigMap/Secret managers, the service lister and an API event
 * recorder.
 */
export { TokenBucketRateLimiter } from './rate-limiter.js';
export {
  createKubeApi,
  defaultKubeApiBurst,
  defaultKubeApiQps,
  loadKubeConfig,
} from './kube-api.js';
export type { KubeApi, KubeApiOptions, KubeConfigSource } from './kube-api.js';
export {
  ApiEventRecorder,
  createApiEventRecorder,
  defaultEventBurst,
  defaultEventFlushTimeoutMs,
  defaultEventQueueSize,
  defaultEventRecordQps,
  defaultEventRetrySleepMs,
  maxTriesPerEvent,
  nodeReference,
} from './event-recorder.js';
export type { ApiEventRecorderOptions, EventRecorderStats } from './event-recorder.js';
export { registerApiEventRecorder } from './event-recorder-register.js';
export {
  EventCorrelator,
  aggregatedEventMessagePrefix,
  defaultAggregateIntervalMs,
  defaultAggregateMaxEvents,
  defaultEventCacheSize,
  defaultSpamBurst,
  defaultSpamQps,
} from './event-correlator.js';
export type { CoreEvent, EventCorrelation, EventCorrelatorOptions } from './event-correlator.js';
export { KubeApiCallError, apiFailureOf, isResourceExpired, rawApiCall } from './api-call.js';
export type { ApiFailure } from './api-call.js';
export {
  Reflector,
  createApiListerWatcher,
  defaultListTimeoutMs,
  defaultMinWatchTimeoutSeconds,
  defaultReflectorBackoffResetMs,
  defaultReflectorInitialBackoffMs,
  defaultReflectorMaxBackoffMs,
  defaultReflectorPageSize,
  defaultReflectorUnhealthyAfterMs,
  defaultWatchSilenceTimeoutMs,
} from './reflector.js';
export type {
  ApiCollection,
  KubeObject,
  ListCallParams,
  ListPage,
  ListPageOptions,
  ListerWatcher,
  ReflectorEventHandler,
  ReflectorHealth,
  ReflectorOptions,
  WatchRequestOptions,
} from './reflector.js';
export {
  ApiPodSource,
  createApiPodSource,
  defaultCheckpointMinIntervalMs,
  parseCheckpoint,
  podCheckpointKind,
} from './api-pod-source.js';
export type { ApiPodSourceOptions, PodCheckpoint, PodReflectorTuning } from './api-pod-source.js';
export { podConfigMapNames, podSecretNames } from './pod-references.js';
export {
  WatchingConfigMapManager,
  WatchingSecretManager,
  createWatchingConfigMapManager,
  createWatchingSecretManager,
  defaultObjectSyncTimeoutMs,
} from './watching-object-managers.js';
export type {
  ObjectReflectorTuning,
  WatchingObjectManagerOptions,
} from './watching-object-managers.js';
export {
  WatchingServiceLister,
  createWatchingServiceLister,
  serviceListerFieldSelector,
} from './service-lister.js';
export type { ServiceReflectorTuning, WatchingServiceListerOptions } from './service-lister.js';
export {
  ApiServiceAccountTokenManager,
  createServiceAccountTokenManager,
  maxTokenRefreshJitterMs,
  maxTokenTtlMs,
  requiresTokenRefresh,
  tokenCacheKey,
  tokenGcPeriodMs,
  tokenRequestClient,
} from './token-manager.js';
export type {
  ApiServiceAccountTokenManagerOptions,
  RequestServiceAccountToken,
  TokenRequestResult,
} from './token-manager.js';
export {
  ApiServerPodSource,
  ApiServerServiceLister,
  KubeApiClient,
  registerKubeClient,
} from './register.js';
export type { KubeClientOptions } from './register.js';
export {
  certificateMatchesTemplate,
  certificateSubjectAltNames,
  generateNodePrivateKey,
  makeCertificateSigningRequest,
  parseCertificatePair,
  pemBlocks,
} from './certificate-request.js';
export type { CertificatePair, CertificateTemplate } from './certificate-request.js';
export {
  CertificateFileStore,
  kubeletClientPairPrefix,
  kubeletServerPairPrefix,
} from './certificate-store.js';
export type { CertificateFileStoreOptions } from './certificate-store.js';
export {
  defaultCertificateWaitTimeoutMs,
  kubeletClientSignerName,
  kubeletServingSignerName,
  requestCertificate,
} from './certificate-signing-request.js';
export type { CertificateRequestOptions } from './certificate-signing-request.js';
export {
  CertificateManager,
  certificateRotationBackoffMs,
  certificateRotationRetryPeriodMs,
  createClientCertificateManager,
  createServingCertificateManager,
  nextRotationDeadline,
} from './certificate-manager.js';
export type {
  CertificateKind,
  CertificateManagerOptions,
  CertificateRotationListener,
  KindlessCertificateManagerOptions,
} from './certificate-manager.js';
export {
  bootstrapClientCertificate,
  bootstrapTempKeyFile,
  defaultBootstrapWaitTimeoutMs,
  isClientConfigStillValid,
} from './certificate-bootstrap.js';
export type {
  BootstrapClientCertificateOptions,
  BootstrapClientCertificateResult,
} from './certificate-bootstrap.js';
export {
  ClientCertificateManager,
  ServingCertificateManager,
  registerCertificateManagers,
} from './certificate-register.js';
export type { CertificateManagersOptions } from './certificate-register.js';
export {
  createConfigMapManager,
  createSecretManager,
  defaultObjectCacheTtlMs,
  nodeTtlAnnotation,
  objectTtlFromNode,
} from './object-manager-strategies.js';
export type {
  ChangeDetectionStrategy,
  ObjectManagerOptions,
  StoppableConfigMapManager,
  StoppableSecretManager,
} from './object-manager-strategies.js';
