/**
 * The OOM watcher on this machine's real /dev/kmsg with the real containerd: a
 * host-network busybox container limited to 20 MiB builds a 100 MB shell variable;
 * the runtime reports it exited `OOMKilled`, and the watcher — started before, so
 * the older OOM reports already in the kernel log are skipped — parses the kill from
 * the kernel log. The OOM happened inside the container's memory cgroup, not in the
 * root cgroup, so, as in the kubelet (which only records kills whose OOM cgroup is
 * `/`), no SystemOOM event is recorded for it.
 */
import { randomUUID } from 'node:crypto';
import { RealClock, type cri as api, type EventType } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DevKmsgReader } from './kmsg-reader.js';
import type { OomInstance } from './oom-parser.js';
import { OomWatcher } from './oom-watcher.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-eviction-oom' };
const MiB = 2 ** 20;

let cri: CriClient;

async function removeOurSandboxes(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await removeOurSandboxes();
  await cri.pullImage({ image: { image: env.busyboxImage } });
});

afterAll(async () => {
  if (cri) {
    await removeOurSandboxes();
    cri.close();
  }
});

describe('OomWatcher on the real kernel log', () => {
  it('parses the OOM kill of a container over its memory limit; no SystemOOM for a cgroup OOM', async () => {
    const events: { type: EventType; reason: string; message: string }[] = [];
    const ooms: OomInstance[] = [];
    const watcher = new OomWatcher({
      clock: new RealClock(),
      reader: new DevKmsgReader(),
      pollIntervalMs: 100,
      recorder: { event: (_o, type, reason, message) => events.push({ type, reason, message }) },
      onOom: (o) => ooms.push(o),
    });
    await watcher.start();
    try {
      const uid = randomUUID();
      const sandboxConfig: api.PodSandboxConfigInput = {
        metadata: { name: 'oom-it', namespace: 'eviction-test', uid, attempt: 0 },
        labels: { ...suiteLabel, 'io.kubernetes.pod.uid': uid },
        linux: {
          securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
        },
      };
      const { podSandboxId } = await cri.runPodSandbox({ config: sandboxConfig });
      const { containerId } = await cri.createContainer({
        podSandboxId,
        sandboxConfig,
        config: {
          metadata: { name: 'hog', attempt: 0 },
          image: { image: env.busyboxImage },
          command: ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\000" a); echo ${#x}'],
          labels: suiteLabel,
          linux: { resources: { memoryLimitInBytes: 20 * MiB } },
        },
      });
      await cri.startContainer({ containerId });

      const status = await waitFor('the container to exit', async () => {
        const { status: s } = await cri.containerStatus({ containerId });
        return s?.state === 'CONTAINER_EXITED' ? s : undefined;
      });
      expect(status.reason).toBe('OOMKilled');

      const oom = await waitFor('the OOM kill in the kernel log', () =>
        ooms.find((o) => o.containerName.includes(containerId)),
      );
      expect(['sh', 'head', 'tr']).toContain(oom.processName);
      expect(oom.pid).toBeGreaterThan(0);
      expect(oom.victimContainerName).not.toBe('/');
      expect(oom.victimContainerName).toContain(containerId);
      // Only kills from after start(): the log already held other containers' OOMs.
      for (const o of ooms) expect(o.containerName).toContain(containerId);
      expect(events.filter((e) => e.reason === 'SystemOOM')).toEqual([]);
    } finally {
      await watcher.stop();
    }
  });
});
