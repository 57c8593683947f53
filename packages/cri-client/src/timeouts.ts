/** The kubelet's default `--runtime-request-timeout`: 2 minutes. */
export const defaultRuntimeRequestTimeoutMs = 2 * 60 * 1000;

/** Default deadline of list, status, stats and version calls, which should answer fast. */
export const defaultStatusRequestTimeoutMs = 10 * 1000;

/** Calls that only read state; they get the shorter status deadline. */
const statusMethods = new Set<string>([
  'version',
  'status',
  'runtimeConfig',
  'podSandboxStatus',
  'listPodSandbox',
  'listContainers',
  'containerStatus',
  'containerStats',
  'listContainerStats',
  'podSandboxStats',
  'listPodSandboxStats',
  'listMetricDescriptors',
  'listPodSandboxMetrics',
  'listImages',
  'imageStatus',
  'imageFsInfo',
]);

/** Calls with no deadline by default (like the kubelet): they may legitimately take long. */
const unboundedMethods = new Set<string>(['pullImage']);

export interface TimeoutDefaults {
  runtimeRequestTimeoutMs: number;
  statusRequestTimeoutMs: number;
}

/**
 * The default deadline of one call, following the kubelet's remote runtime client:
 * StopContainer gets the runtime request timeout plus the stop grace period, ExecSync
 * the exec timeout plus the runtime request timeout; PullImage and streams have none.
 * Returns undefined for "no deadline".
 */
export function defaultTimeoutMs(
  method: string,
  request: unknown,
  defaults: TimeoutDefaults,
): number | undefined {
  if (unboundedMethods.has(method)) return undefined;
  if (statusMethods.has(method)) return defaults.statusRequestTimeoutMs;
  if (method === 'stopContainer' || method === 'execSync') {
    const seconds = Number((request as { timeout?: unknown } | undefined)?.timeout ?? 0);
    const extra = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
    return defaults.runtimeRequestTimeoutMs + extra;
  }
  return defaults.runtimeRequestTimeoutMs;
}
