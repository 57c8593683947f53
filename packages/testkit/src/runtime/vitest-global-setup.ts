import type { TestProject } from 'vitest/node';
import { startRealRuntime, stopRealRuntime, type RealRuntimeEnv } from './real-runtime.js';

declare module 'vitest' {
  export interface ProvidedContext {
    nodeagentRuntime: RealRuntimeEnv;
  }
}

/**
 * vitest `globalSetup` for integration tests: brings up the real runtime once for
 * the run and provides its {@link RealRuntimeEnv} (read it with `realRuntime()` from
 * `@nodeagent/testkit/vitest`). Tears it down afterwards, unless
 * `NODEAGENT_KEEP_RUNTIME=1` (handy while iterating locally).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = await startRealRuntime();
  project.provide('nodeagentRuntime', env);
  return async () => {
    if (process.env.NODEAGENT_KEEP_RUNTIME === '1') return;
    // Outside CI keep the built images on disk: the next run starts in seconds.
    await stopRealRuntime({ keepImages: process.env.CI !== 'true' });
  };
}
