/**
 * The agent's effective configuration: the KubeletConfiguration file (or the
 * kubelet's defaults without one) with the command-line flags applied on top.
 */
import { readFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { InvalidConfigError } from '@nodeagent/core';
import { validateImageGcPolicy } from '@nodeagent/image-gc';
import { parseThresholdConfig } from '@nodeagent/pod-lifecycle';
import type { AgentFlags } from './flags.js';
import { formatGoDuration } from './go-duration.js';
import {
  defaultKubeletConfiguration,
  parseKubeletConfiguration,
  type KubeletConfiguration,
} from './kubelet-config.js';

/** The kubelet's `--root-dir` default. */
export const defaultRootDir = '/var/lib/kubelet';

/** Everything the agent runs with. */
export interface AgentConfig {
  /** The effective KubeletConfiguration (file, defaults, then flags). */
  kubelet: KubeletConfiguration;
  /** The configuration file read, if any. */
  configFile?: string;
  /** Kubelet fields in the file that nodeagent does not act on. */
  ignoredFields: string[];
  /** The kubeconfig path; absent (and not `inCluster`) means standalone mode (no API server). */
  kubeconfig?: string;
  /** `--bootstrap-kubeconfig`: used to obtain a client certificate when the kubeconfig is missing or invalid. */
  bootstrapKubeconfig?: string;
  /** Certificates and keys (`--cert-dir`, default `<rootDir>/pki`). */
  certDir: string;
  /** Reach the API server with the in-cluster service account. */
  inCluster: boolean;
  /** Labels the Node registers with (`--node-labels`). */
  nodeLabels: Record<string, string>;
  /**
   * The node name: `--hostname-override`, else the host name, lowercased and trimmed
   * as the kubelet does (`nodeutil.GetHostname`).
   */
  nodeName: string;
  /** `--node-ip` addresses; empty when not given. */
  nodeIps: string[];
  /** `--root-dir`: pod directories and volumes live under `<rootDir>/pods`. */
  rootDir: string;
}

/** Where {@link loadAgentConfig} reads from; tests replace the file system and host name. */
export interface LoadAgentConfigDeps {
  readFile?: (path: string) => Promise<string>;
  hostname?: () => string;
}

/**
 * The eviction thresholds and image GC policy, checked at start by the same code the
 * eviction manager and image GC use, so a bad value fails with its field named.
 */
function checkEvictionAndGc(kubelet: KubeletConfiguration, source: string): void {
  try {
    parseThresholdConfig({
      evictionHard: kubelet.evictionHard,
      evictionSoft: kubelet.evictionSoft,
      evictionSoftGracePeriod: kubelet.evictionSoftGracePeriod,
      evictionMinimumReclaim: kubelet.evictionMinimumReclaim,
    });
    // Checked by the eviction manager too, but only once it is built — after the
    // runtime, kernel tunables and pod lifecycle were started: refuse it here.
    if (
      !Number.isInteger(kubelet.evictionMaxPodGracePeriod) ||
      kubelet.evictionMaxPodGracePeriod < 0
    ) {
      throw new InvalidConfigError(
        `evictionMaxPodGracePeriod: must be a non-negative whole number of seconds, got ${kubelet.evictionMaxPodGracePeriod}`,
      );
    }
    // The kubelet's rule and wording (config validation): named by the config fields,
    // not by image GC's policy fields in ms.
    if (kubelet.imageMaximumGCAge > 0 && kubelet.imageMaximumGCAge <= kubelet.imageMinimumGCAge) {
      throw new InvalidConfigError(
        `imageMaximumGCAge ${formatGoDuration(kubelet.imageMaximumGCAge)} must be greater than imageMinimumGCAge ${formatGoDuration(kubelet.imageMinimumGCAge)}`,
      );
    }
    validateImageGcPolicy({
      highThresholdPercent: kubelet.imageGCHighThresholdPercent,
      lowThresholdPercent: kubelet.imageGCLowThresholdPercent,
      minAgeMs: kubelet.imageMinimumGCAge,
      maxAgeMs: kubelet.imageMaximumGCAge,
    });
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      throw new InvalidConfigError(`${source}: invalid KubeletConfiguration: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}

/** Applies the flags that override KubeletConfiguration fields. */
export function applyFlagOverrides(
  config: KubeletConfiguration,
  flags: AgentFlags,
): KubeletConfiguration {
  return {
    ...config,
    ...(flags.containerRuntimeEndpoint !== undefined
      ? { containerRuntimeEndpoint: flags.containerRuntimeEndpoint }
      : {}),
    ...(flags.imageServiceEndpoint !== undefined
      ? { imageServiceEndpoint: flags.imageServiceEndpoint }
      : {}),
    ...(flags.podManifestPath !== undefined ? { staticPodPath: flags.podManifestPath } : {}),
    ...(flags.cgroupRoot !== undefined ? { cgroupRoot: flags.cgroupRoot } : {}),
    logging: {
      ...config.logging,
      ...(flags.verbosity !== undefined ? { verbosity: flags.verbosity } : {}),
      ...(flags.logFormat !== undefined ? { format: flags.logFormat } : {}),
    },
  };
}

/**
 * Reads `--config` (when given), applies the kubelet's defaults and then the flags.
 *
 * @throws InvalidConfigError when the file cannot be read or is invalid (naming the
 *   file and each bad field), or when no node name can be found.
 */
export async function loadAgentConfig(
  flags: AgentFlags,
  deps: LoadAgentConfigDeps = {},
): Promise<AgentConfig> {
  const read = deps.readFile ?? ((path: string) => readFile(path, 'utf8'));
  let kubelet = defaultKubeletConfiguration();
  let ignoredFields: string[] = [];
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = await read(flags.config);
    } catch (err) {
      const reason =
        (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : String(err);
      throw new InvalidConfigError(`--config ${flags.config}: cannot read the file: ${reason}`, {
        cause: err,
      });
    }
    ({ config: kubelet, ignoredFields } = parseKubeletConfiguration(text, flags.config));
  }
  kubelet = applyFlagOverrides(kubelet, flags);
  checkEvictionAndGc(kubelet, flags.config ?? 'configuration');
  const nodeName = (flags.hostnameOverride ?? (deps.hostname ?? osHostname)()).trim().toLowerCase();
  if (nodeName === '') {
    throw new InvalidConfigError('the host name is empty; set --hostname-override');
  }
  return {
    kubelet,
    ...(flags.config !== undefined ? { configFile: flags.config } : {}),
    ignoredFields,
    ...(flags.kubeconfig !== undefined ? { kubeconfig: flags.kubeconfig } : {}),
    ...(flags.bootstrapKubeconfig !== undefined
      ? { bootstrapKubeconfig: flags.bootstrapKubeconfig }
      : {}),
    certDir: flags.certDir ?? join(flags.rootDir ?? defaultRootDir, 'pki'),
    inCluster: flags.inCluster === true,
    nodeLabels: flags.nodeLabels ?? {},
    nodeName,
    nodeIps: flags.nodeIp ?? [],
    rootDir: flags.rootDir ?? defaultRootDir,
  };
}
