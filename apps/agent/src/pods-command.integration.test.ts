/**
 * `nodeagent pods` and the agent's start/stop against the real containerd: a
 * host-network sandbox with a busybox container, created and removed by this suite.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger, type cri as api } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcSysctl, writeSysctlStandIn } from './kernel-defaults.js';
import { createAgent } from './agent.js';
import { defaultKubeletConfiguration } from './config/kubelet-config.js';
import { podUidLabel, restartCountAnnotation, runPodsCommand } from './pods-command.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'agent-pods-command' };
const uid = randomUUID();
const podName = `pods-cmd-${uid.slice(0, 8)}`;
let client: CriClient;
let sandboxId: string;
let workDir: string;

async function cleanup(): Promise<void> {
  const { items } = await client.listPodSandbox({ filter: { labelSelector: suiteLabel } });
  for (const sb of items) {
    await client.stopPodSandbox({ podSandboxId: sb.id });
    await client.removePodSandbox({ podSandboxId: sb.id });
  }
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'nodeagent-pods-it-'));
  client = createCriClient({ endpoint: env.criEndpoint });
  await client.connect();
  await cleanup();
  await client.pullImage({ image: { image: env.busyboxImage } });
  const config: api.PodSandboxConfigInput = {
    metadata: { name: podName, namespace: 'agent-test', uid, attempt: 0 },
    logDirectory: `${env.podLogDir}/${uid}`,
    labels: { ...suiteLabel, [podUidLabel]: uid },
    linux: {
      cgroupParent: `${env.cgroupRoot}/pod${uid}`,
      securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  ({ podSandboxId: sandboxId } = await client.runPodSandbox({ config }));
  const create = async (name: string, attempt: number, command: string[]): Promise<string> => {
    const { containerId } = await client.createContainer({
      podSandboxId: sandboxId,
      sandboxConfig: config,
      config: {
        metadata: { name, attempt },
        image: { image: env.busyboxImage },
        command,
        logPath: `${name}/${attempt}.log`,
        labels: { ...suiteLabel, [podUidLabel]: uid },
        annotations: { [restartCountAnnotation]: String(attempt) },
      },
    });
    await client.startContainer({ containerId });
    return containerId;
  };
  // "web" crashed once and runs again (restart count 1); "sidecar" runs.
  await create('web', 0, ['/bin/sh', '-c', 'exit 1']);
  await create('web', 1, ['/bin/sleep', '3600']);
  await create('sidecar', 0, ['/bin/sleep', '3600']);
});

afterAll(async () => {
  await cleanup();
  const { items } = await client.listPodSandbox({ filter: { labelSelector: suiteLabel } });
  expect(items).toEqual([]);
  client.close();
  rmSync(workDir, { recursive: true, force: true });
});

describe('nodeagent pods on the real runtime', () => {
  it('lists the pod with its containers, restarts and age (table)', async () => {
    let text = '';
    const pods = await runPodsCommand({
      endpoint: env.criEndpoint,
      output: 'table',
      out: { write: (t: string) => (text += t) },
      labelSelector: suiteLabel,
    });
    expect(pods).toHaveLength(1);
    expect(pods[0]).toMatchObject({
      uid,
      name: podName,
      namespace: 'agent-test',
      sandboxId,
      state: 'SANDBOX_READY',
    });
    expect(pods[0]?.containers.map((c) => [c.name, c.state, c.restartCount])).toEqual([
      ['sidecar', 'CONTAINER_RUNNING', 0],
      ['web', 'CONTAINER_RUNNING', 1],
    ]);
    const [header, row] = text.split('\n');
    expect(header).toMatch(/^POD\s+NAMESPACE\s+STATE\s+CONTAINERS\s+RESTARTS\s+AGE\s+IP$/);
    expect(row).toMatch(
      new RegExp(`^${podName}\\s+agent-test\\s+Ready\\s+2/2\\s+1\\s+\\d+s\\s+-$`),
    );
  });

  it('the CLI prints the same pod (json), reading the real runtime', () => {
    // The built CLI, as a user runs it; other suites may share this containerd, so
    // look for our pod rather than an exact list.
    const cli = join(import.meta.dirname, '../dist/cli.js');
    const result = spawnSync(
      process.execPath,
      [cli, 'pods', '--runtime-endpoint', env.criEndpoint, '-o', 'json'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const pods = JSON.parse(result.stdout) as Array<{
      uid: string;
      containers: Array<{ name: string }>;
    }>;
    const ours = pods.find((p) => p.uid === uid);
    expect(ours?.containers.map((c) => c.name)).toEqual(['sidecar', 'web']);
  });
});

describe('the agent on the real runtime', () => {
  it('stops and removes a pod it does not want (orphan cleanup), then stops cleanly', async () => {
    const sysctlDir = join(workDir, 'proc-sys');
    await writeSysctlStandIn(sysctlDir);
    const agent = createAgent(
      {
        kubelet: {
          ...defaultKubeletConfiguration(),
          containerRuntimeEndpoint: env.criEndpoint,
          cgroupRoot: env.cgroupRoot,
          podLogsDir: join(workDir, 'logs'),
          // The node API is tested on its own; do not take :10250 here.
          enableServer: false,
          // Tests never change the host firewall.
          makeIPTablesUtilChains: false,
        },
        ignoredFields: [],
        inCluster: false,
        certDir: '/nonexistent/pki',
        nodeLabels: {},
        nodeName: 'agent-it',
        nodeIps: [],
        rootDir: join(workDir, 'root'),
      },
      // Kernel tunables go to a stand-in for /proc/sys: tests never change the host's.
      { logger: noopLogger, sysctl: createProcSysctl(sysctlDir) },
    );
    await agent.start();
    try {
      // No pod source wants this pod: the kubelet's HandlePodCleanups stops it
      // (housekeeping runs every 2 s) and the terminated pod is removed.
      const deadline = Date.now() + 20_000;
      let left = 1;
      while (left > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        left = (await client.listPodSandbox({ filter: { labelSelector: suiteLabel } })).items
          .length;
      }
      expect(left).toBe(0);
      const { containers } = await client.listContainers({ filter: { labelSelector: suiteLabel } });
      expect(containers).toEqual([]);
    } finally {
      await agent.stop();
    }
  }, 30_000);
});
