/**
 * The `nodeagent` process and its files as the end-to-end tests set them up: the
 * built CLI (apps/agent/dist/cli.js) spawned with the /proc/sys stand-in of its work
 * directory and its output appended to a log file, the API-mode KubeletConfiguration,
 * and a kubeconfig with a `system:node:<node>` client certificate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestApiServer } from '@nodeagent/testkit';
import type { realRuntime } from '@nodeagent/testkit/vitest';
import { sysctlRootEnv } from '../../kernel-defaults.js';

/** The built agent CLI. */
export const agentCliPath = join(dirname(fileURLToPath(import.meta.url)), '../../../dist/cli.js');

/**
 * Spawns `node dist/cli.js <args>`; kernel tunables go to the stand-in for /proc/sys
 * at `<workDir>/proc-sys` (tests never change the host's; see `writeSysctlStandIn`),
 * stdout and stderr are appended to `logFile`.
 */
export function spawnAgent(
  args: readonly string[],
  options: { workDir: string; logFile: string },
): ChildProcess {
  const child = spawn(process.execPath, [agentCliPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, [sysctlRootEnv]: join(options.workDir, 'proc-sys') },
  });
  const append = (chunk: Buffer): void => writeFileSync(options.logFile, chunk, { flag: 'a' });
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return child;
}

/**
 * Writes `<workDir>/kubeconfig` for the API server with a client certificate of
 * `system:node:<nodeName>` in `system:nodes`; returns its path.
 */
export function writeNodeKubeconfig(
  server: TestApiServer,
  workDir: string,
  nodeName: string,
): string {
  const path = join(workDir, 'kubeconfig');
  writeFileSync(
    path,
    server.kubeconfig(
      server.issueClientCertificate({ name: `system:node:${nodeName}`, groups: ['system:nodes'] }),
    ),
  );
  return path;
}

/**
 * Writes `<workDir>/config.yaml`, the KubeletConfiguration of the API-mode tests: no
 * host firewall changes, static pods from `manifestDir`, the test runtime's CRI
 * endpoint and cgroup root, pod logs under `<workDir>/logs`, the node API on
 * 127.0.0.1:`nodeApiPort`, the plain healthz on 127.0.0.1:`healthzPort` (off by default,
 * so that agents running side by side do not contend for 10248), the client CA of the node
 * API when given (so that the API server can proxy `pods/log`), JSON logs. Returns its path.
 */
export function writeApiModeAgentConfig(options: {
  workDir: string;
  manifestDir: string;
  env: ReturnType<typeof realRuntime>;
  nodeApiPort: number;
  healthzPort?: number;
  /** CA file of client certificates the node API accepts (the API server's kubelet client CA). */
  clientCaFile?: string;
}): string {
  const { workDir, manifestDir, env, nodeApiPort, healthzPort = 0, clientCaFile } = options;
  const path = join(workDir, 'config.yaml');
  writeFileSync(
    path,
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'makeIPTablesUtilChains: false', // tests never change the host firewall
      `staticPodPath: ${manifestDir}`,
      `containerRuntimeEndpoint: ${env.criEndpoint}`,
      `podLogsDir: ${join(workDir, 'logs')}`,
      `cgroupRoot: ${env.cgroupRoot}`,
      'address: 127.0.0.1',
      `port: ${nodeApiPort}`,
      `healthzPort: ${healthzPort}`,
      ...(clientCaFile ? ['authentication:', '  x509:', `    clientCAFile: ${clientCaFile}`] : []),
      'logging:',
      '  format: json',
      '',
    ].join('\n'),
  );
  return path;
}
