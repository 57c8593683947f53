/**
 * @nodeagent/testkit — test support for nodeagent and for agents built with it.
 * This release: the real containerd harness. (Fakes and the strict test API server
 * arrive with the packages that need them.)
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
