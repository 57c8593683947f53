/**
 * @nodeagent/testkit — test support for nodeagent and for agents built with it: the
 * real containerd harness, an in-memory CRI runtime, a CRI event server, and a strict
 * Kubernetes API server (REST + watch over HTTP or TLS) for API-mode tests.
 */
export {
  parseRuntimeEnv,
  runHarnessScript,
  runtimeScriptsDir,
  startContainerd,
  startRealRuntime,
  stopContainerd,
  stopRealRuntime,
} from './runtime/real-runtime.js';
export type { RealRuntimeEnv, RealRuntimeOptions } from './runtime/real-runtime.js';

export { FakeRuntime, createFakeRuntime } from './fakes/fake-runtime.js';
export type {
  FakeContainerInput,
  FakeRuntimeMethod,
  FakeRuntimeOptions,
  FakeSandboxInput,
} from './fakes/fake-runtime.js';

export { startCriEventServer } from './cri-event-server.js';
export type {
  CriEventServer,
  CriEventServerMethodInfo,
  CriEventServerOptions,
  CriEventServerSchema,
} from './cri-event-server.js';

export { startTestApiServer } from './apiserver/test-api-server.js';
export type {
  ApiUser,
  RecordedRequest,
  TestApiServer,
  TestApiServerFaults,
  TestApiServerOptions,
} from './apiserver/test-api-server.js';
export { ObjectStore, podQosClass } from './apiserver/object-store.js';
export type {
  ObjectStoreOptions,
  StoreDeleteOptions,
  StoreDeleteResult,
  StoreEvent,
  StoreListener,
  WatchEventType,
} from './apiserver/object-store.js';
export { ApiStatusError } from './apiserver/api-status.js';
export type { ApiStatus } from './apiserver/api-status.js';
export { servedResources } from './apiserver/resources.js';
export type { ResourceInfo } from './apiserver/resources.js';
export { CertificateAuthority } from './apiserver/certificates.js';
export type { CertificateAndKey, CertificateRequest } from './apiserver/certificates.js';
export type { ErrorFault, FaultMatch, LatencyFault } from './apiserver/faults.js';
export type { Json, JsonObject } from './apiserver/patch.js';

export { freeLoopbackPort, waitForLoopbackPort } from './net.js';

export {
  startDevCluster,
  parseDevClusterArgs,
  runDevClusterCommand,
  devClusterUsage,
} from './dev-cluster.js';
export type {
  DevCluster,
  DevClusterCommandIo,
  DevClusterFiles,
  DevClusterOptions,
} from './dev-cluster.js';
export type { SignCsrOptions } from './apiserver/test-api-server.js';
export type { PublicKeyCertificateRequest } from './apiserver/certificates.js';
export {
  createCertificateSigningRequest,
  parseCertificateRequest,
} from './apiserver/certificate-request.js';
export type {
  CertificateSigningRequestInput,
  ParsedCertificateRequest,
} from './apiserver/certificate-request.js';
export {
  apiServerClientSignerName,
  kubeletClientSignerName,
  kubeletServingSignerName,
} from './apiserver/csr.js';
export type { CsrSigningMode } from './apiserver/csr.js';

export { startTestCsiDriver } from './csi-driver/test-csi-driver.js';
export type {
  TestCsiCall,
  TestCsiDriver,
  TestCsiDriverOptions,
  TestCsiRpc,
  TestCsiStatus,
  TestPluginInfo,
} from './csi-driver/test-csi-driver.js';
export { listMountPoints, systemMounter } from './csi-driver/mounter.js';
export type { TestCsiMounter } from './csi-driver/mounter.js';
