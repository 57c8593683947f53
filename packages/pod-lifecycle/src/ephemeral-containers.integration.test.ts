/**
 * Ephemeral containers on the real containerd, through the RuntimeManager: a running
 * pod gets `debugger` (`sh -c 'echo debug; sleep 60'`, targetContainerName `main`) by a
 * pod update; it starts in main's PID namespace (its PID 1 is main's `sleep 3600`),
 * main is not restarted, its status is Running under `ephemeralContainerStatuses`,
 * its log is readable, and the pod's teardown removes everything.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCriLogLine, type k8s } from '@nodeagent/core';
import type { CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeManager } from './runtime-manager.js';
import { RealRuntimeHarness } from './test-support/real-runtime-manager.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-ephemeral-containers' };

const basePod: k8s.Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'ephemeral-it',
    namespace: 'ephemeral-it',
    uid: randomUUID(),
    labels: { ...suiteLabel },
  },
  spec: {
    hostNetwork: true,
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'main',
        image: env.busyboxImage,
        imagePullPolicy: 'IfNotPresent',
        command: ['sleep', '3600'],
      },
    ],
  },
};
const withDebugger: k8s.Pod = {
  ...basePod,
  spec: {
    ...basePod.spec,
    ephemeralContainers: [
      {
        name: 'debugger',
        image: env.busyboxImage,
        imagePullPolicy: 'IfNotPresent',
        command: ['sh', '-c', 'echo debug; sleep 60'],
        targetContainerName: 'main',
      },
    ],
  },
};
const uid = basePod.metadata.uid ?? '';

let harness: RealRuntimeHarness;
let cri: CriClient;
let manager: RuntimeManager;
const signal = new AbortController().signal;

async function sync(pod: k8s.Pod): Promise<void> {
  await harness.sync(manager, pod);
}

async function containers(name?: string) {
  const { containers: list } = await cri.listContainers({
    filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } },
  });
  return list.filter((c) => name === undefined || c.metadata?.name === name);
}

async function exec(containerId: string, cmd: string[]): Promise<string> {
  const r = await cri.execSync({ containerId, cmd, timeout: 10 });
  return Buffer.from(r.stdout).toString('utf8');
}

beforeAll(async () => {
  harness = await RealRuntimeHarness.open({ suiteLabel, rootDirPrefix: 'ephemeral-it-' });
  ({ cri } = harness);
  manager = harness.manager();
});

afterAll(() => harness?.close());

describe('ephemeral containers on containerd', () => {
  let mainId = '';

  it('runs the pod', async () => {
    await sync(basePod);
    const [main] = await containers('main');
    expect(main?.state).toBe('CONTAINER_RUNNING');
    mainId = main?.id ?? '';
  });

  it('starts the ephemeral container in the target PID namespace, leaving main alone', async () => {
    await sync(withDebugger);
    const [dbg] = await containers('debugger');
    expect(dbg?.state).toBe('CONTAINER_RUNNING');
    // PID 1 in the debugger's PID namespace is main's process.
    const cmdline = await exec(dbg!.id, ['cat', '/proc/1/cmdline']);
    expect(cmdline.split('\0').filter(Boolean)).toEqual(['sleep', '3600']);
    expect(await exec(dbg!.id, ['ps'])).toMatch(/sleep 3600/);
    // main was not restarted, and a later sync adds nothing.
    await sync(withDebugger);
    expect((await containers('main')).map((c) => [c.id, c.state])).toEqual([
      [mainId, 'CONTAINER_RUNNING'],
    ]);
    expect(await containers('debugger')).toHaveLength(1);
  });

  it('reports it Running under ephemeralContainerStatuses, never ready; the pod stays Ready', async () => {
    await sync(withDebugger);
    const status = manager.podStatus(uid);
    const [dbg] = await containers('debugger');
    expect(status?.phase).toBe('Running');
    expect(status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(status?.containerStatuses?.map((c) => c.name)).toEqual(['main']);
    const ec = status?.ephemeralContainerStatuses?.[0];
    expect(ec?.name).toBe('debugger');
    expect(ec?.state?.running?.startedAt).toBeDefined();
    expect(ec?.ready).toBe(false);
    expect(ec?.containerID).toBe(`containerd://${dbg?.id}`);
  });

  it('writes its log where the kubelet does (<pod log dir>/debugger/0.log)', async () => {
    const [dbg] = await containers('debugger');
    const { status } = await cri.containerStatus({ containerId: dbg!.id });
    const logPath = status?.logPath ?? '';
    expect(logPath).toBe(
      join(env.podLogDir, `ephemeral-it_ephemeral-it_${uid}`, 'debugger', '0.log'),
    );
    const lines = (await readFile(logPath))
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => parseCriLogLine(Buffer.from(l))?.content.toString('utf8'));
    expect(lines).toContain('debug');
  });

  it('teardown kills and removes the ephemeral container with the pod', async () => {
    await harness.pleg.relist();
    await manager.syncTerminatingPod(withDebugger, {}, { signal, statusNewerThanMs: 0 });
    expect((await containers()).map((c) => c.state)).toEqual([
      'CONTAINER_EXITED',
      'CONTAINER_EXITED',
    ]);
    await manager.syncTerminatedPod(
      withDebugger,
      { reason: 'Deleted' },
      { signal, statusNewerThanMs: 0 },
    );
    expect(await containers()).toEqual([]);
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
    expect(items).toEqual([]);
  });
});
