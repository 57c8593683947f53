/**
 * @nodeagent/agent — the `nodeagent` command: KubeletConfiguration loading, logging
 * and metrics backends, the DI wiring of every package, the terminal view and the
 * `pods` listing. Exported for embedders and tests; the CLI is `dist/cli.js`.
 * Importing `createAgent` requires `import 'reflect-metadata'` first.
 */
export { createAgent, runtimeConnectTimeoutMs } from './agent.js';
export type { Agent, AgentComponent, CreateAgentOptions } from './agent.js';
export { applyFlagOverrides, defaultRootDir, loadAgentConfig } from './config/agent-config.js';
export type { AgentConfig, LoadAgentConfigDeps } from './config/agent-config.js';
export { parseCommandLine, podsUsage, usage } from './config/flags.js';
export type { AgentFlags, Command, PodsFlags } from './config/flags.js';
export {
  defaultEvictionHard,
  defaultKubeletConfiguration,
  kubeletConfigApiVersion,
  kubeletConfigKind,
  notImplementedKubeletFields,
  parseKubeletConfiguration,
  parseKubeletConfigurationObject,
} from './config/kubelet-config.js';
export type {
  KubeletAuthentication,
  KubeletAuthorization,
  KubeletConfiguration,
  KubeletLogging,
  NotImplementedKubeletField,
  ParsedKubeletConfiguration,
} from './config/kubelet-config.js';
export {
  GoDurationError,
  formatGoDuration,
  parseGoDurationMs,
  parseGoDurationNs,
} from './config/go-duration.js';
export { LoggingEventRecorder } from './event-recorder.js';
export {
  createAgentLogger,
  debugVerbosity,
  formatJsonLine,
  formatTextLine,
  levelForVerbosity,
  logLevels,
} from './logging.js';
export type { AgentLogger, AgentLoggerOptions, LogLevel } from './logging.js';
export { PromMetricsRegistry, createPromMetricsRegistry } from './metrics.js';
export { PodStateView } from './pod-state-view.js';
export type { LineSink, PodRef, PodStateChange, PodStateViewOptions } from './pod-state-view.js';
export {
  formatPods,
  humanAge,
  listRuntimePods,
  podUidLabel,
  restartCountAnnotation,
  runPodsCommand,
} from './pods-command.js';
export type { ListedContainer, ListedPod, RunPodsCommandOptions } from './pods-command.js';
export { checkRuntimeSocket } from './runtime-socket.js';
export { handleShutdownSignals } from './signals.js';
export type { ShutdownOptions, SignalSource } from './signals.js';
export { runCommand } from './main.js';
export type { CommandIo } from './main.js';
export { agentVersion } from './version.js';
