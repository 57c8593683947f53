/** Helpers for integration tests run under vitest with testkit's global setup. */
import { inject } from 'vitest';
import type { RealRuntimeEnv } from './runtime/real-runtime.js';
import './runtime/vitest-global-setup.js';

/** The real runtime brought up by `@nodeagent/testkit/vitest-global-setup`. */
export function realRuntime(): RealRuntimeEnv {
  const env = inject('nodeagentRuntime');
  if (!env) throw new Error('the real runtime is not set up: use the integration vitest project');
  return env;
}
