import { KubeConfig } from '@kubernetes/client-node';
import { createKubeApi, type KubeApi } from '@nodeagent/kube-client';
import type { Clock } from '@nodeagent/core';
import type { TestApiServer } from '@nodeagent/testkit';
import type { MachineInfo, MachineInfoProvider } from '../machine-info.js';

/** Fixed machine facts for unit tests: 4 cores, 8 GiB, 100 GiB root filesystem. */
export const fixedMachine: MachineInfo = {
  hostname: 'node-a',
  machineId: 'machine-id-1',
  systemUuid: 'system-uuid-1',
  bootId: 'boot-id-1',
  kernelVersion: '6.1.0-test',
  osImage: 'Debian GNU/Linux 12 (bookworm)',
  operatingSystem: 'linux',
  architecture: 'amd64',
  numCores: 4,
  memoryCapacityBytes: 8 * 1024 ** 3,
  hugePages: [{ pageSizeBytes: 2 * 1024 ** 2, count: 0 }],
  rootFsCapacityBytes: 100 * 1024 ** 3,
  addresses: ['10.0.0.5', '10.0.0.6'],
};

export const fixedMachineInfo: MachineInfoProvider = { read: () => Promise.resolve(fixedMachine) };

/**
 * A rate-unlimited API connection to the test server (started with `tls: true`:
 * client-node refuses plain HTTP), authenticated as the node, timed by `clock`.
 */
export function testKubeApi(server: TestApiServer, clock: Clock, nodeName = 'node-a'): KubeApi {
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: `system:node:${nodeName}`, groups: ['system:nodes'] }),
    ),
  );
  return createKubeApi(kc, { clock, qps: 0 });
}
