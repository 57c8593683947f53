/**
 * Container log rotation against the real containerd: a container that writes a line
 * every few milliseconds, rotated at 1 KiB with at most 3 files (the shape of the
 * kubelet's ContainerLogRotation node e2e test, at a smaller scale): containerd must
 * reopen the live file after each rotation and keep writing to it, the file count must
 * never exceed the limit, the compressed files must hold the CRI log lines, and
 * `clean` must remove every file of the container.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { cri as api } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { ContainerLogManager, allContainerLogs } from './index.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'container-log-rotation' };
let cri: CriClient;

async function cleanup(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => ({ size: -1 }))).size;
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
}, 60_000);

afterAll(async () => {
  await cleanup();
  cri.close();
}, 60_000);

describe('container log rotation on containerd', () => {
  it('rotates a busy log at 1 KiB, never more than 3 files, containerd keeps writing; clean removes all', async () => {
    const uid = randomUUID();
    const config: api.PodSandboxConfigInput = {
      metadata: { name: 'logrot', namespace: 'image-gc-test', uid, attempt: 0 },
      logDirectory: `${env.podLogDir}/${uid}`,
      labels: { ...suiteLabel, 'io.kubernetes.pod.uid': uid },
      linux: {
        cgroupParent: `${env.cgroupRoot}/pod${uid}`,
        securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
    const { podSandboxId } = await cri.runPodSandbox({ config });
    const { containerId } = await cri.createContainer({
      podSandboxId,
      sandboxConfig: config,
      config: {
        metadata: { name: 'writer', attempt: 0 },
        image: { image: env.busyboxImage },
        command: ['sh', '-c', 'i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.005; done'],
        logPath: 'writer/0.log',
        labels: suiteLabel,
      },
    });
    await cri.startContainer({ containerId });
    const log = (await cri.containerStatus({ containerId })).status?.logPath ?? '';
    expect(log).toMatch(/writer\/0\.log$/);

    const clock = new FakeClock(Date.now());
    const manager = new ContainerLogManager({ runtime: cri, clock, maxSize: '1Ki', maxFiles: 3 });
    for (let round = 0; round < 5; round++) {
      await until('the live log to reach 1 KiB', async () =>
        (await sizeOf(log)) >= 1024 ? true : undefined,
      );
      const result = await manager.rotateLogs();
      expect(result.errors).toEqual([]);
      expect(result.rotated).toContain(containerId);
      expect((await allContainerLogs(log)).length).toBeLessThanOrEqual(3);
      // containerd reopened the path and writes to the new file
      await until('containerd to write to the reopened log', async () =>
        (await sizeOf(log)) > 0 ? true : undefined,
      );
      clock.setWallTime(clock.now() + 1_000); // a new rotation timestamp each round
    }
    const files = await allContainerLogs(log);
    expect(files).toHaveLength(3);
    const [gz, plain] = files;
    expect(gz).toMatch(/\.log\.\d{8}-\d{6}\.gz$/);
    expect(plain).toMatch(/\.log\.\d{8}-\d{6}$/);
    const lines = gunzipSync(readFileSync(gz!)).toString().trim().split('\n');
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) expect(line).toMatch(/^\S+ stdout F line \d+$/);
    // the numbering runs on from one file to the next: nothing lost at a rotation
    const last = (text: string) => Number(/line (\d+)\n$/.exec(text)?.[1]);
    const first = (text: string) => Number(/^\S+ stdout F line (\d+)/.exec(text)?.[1]);
    const gzText = gunzipSync(readFileSync(gz!)).toString();
    expect(first(readFileSync(plain!, 'utf8'))).toBe(last(gzText) + 1);

    await cri.stopContainer({ containerId, timeout: 0 });
    await manager.clean(containerId);
    const left = (await readdir(dirname(log))).filter((n) => n.startsWith(basename(log)));
    expect(left).toEqual([]);
    await manager.stop();
  }, 120_000);
});
