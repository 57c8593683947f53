/**
 * Kubelet `seccompDefault` on the real containerd, through the RuntimeManager: a
 * container whose pod names no seccomp profile runs with the runtime's default
 * profile (`Seccomp: 2`, filter mode, in /proc/self/status) when seccompDefault is
 * on, an explicit `Unconfined` stays unfiltered (`Seccomp: 0`), and without
 * seccompDefault a container without a profile is unfiltered.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { k8s } from '@nodeagent/core';
import type { CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeManager } from '../runtime-manager.js';
import { RealRuntimeHarness } from '../test-support/real-runtime-manager.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-seccomp-default' };

function thePod(name: string, uid: string): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'seccomp-it', uid, labels: { ...suiteLabel } },
    spec: {
      hostNetwork: true,
      terminationGracePeriodSeconds: 1,
      containers: [
        { name: 'plain', image: env.busyboxImage, command: ['sleep', '3600'] },
        {
          name: 'unconfined',
          image: env.busyboxImage,
          command: ['sleep', '3600'],
          securityContext: { seccompProfile: { type: 'Unconfined' } },
        },
      ],
    },
  };
}

const withDefault = thePod('seccomp-default-on', randomUUID());
const withoutDefault = thePod('seccomp-default-off', randomUUID());

let harness: RealRuntimeHarness;
let cri: CriClient;

function manager(seccompDefault: boolean): RuntimeManager {
  return harness.manager({
    seccompDefault,
    seccompProfileRoot: join(harness.rootDir, 'seccomp'),
  });
}

/** The `Seccomp:` mode the container's own process reports (0 none, 2 filter). */
async function seccompMode(pod: k8s.Pod, container: string): Promise<string> {
  const { containers } = await cri.listContainers({
    filter: {
      labelSelector: {
        'io.kubernetes.pod.uid': pod.metadata.uid ?? '',
        'io.kubernetes.container.name': container,
      },
    },
  });
  const running = containers.find((c) => c.state === 'CONTAINER_RUNNING');
  if (!running) throw new Error(`container ${container} of ${pod.metadata.name} is not running`);
  const r = await cri.execSync({
    containerId: running.id,
    cmd: ['grep', 'Seccomp:', '/proc/self/status'],
    timeout: 10,
  });
  expect(r.exitCode).toBe(0);
  return Buffer.from(r.stdout).toString('utf8').replace(/\s+/g, ' ').trim();
}

beforeAll(async () => {
  harness = await RealRuntimeHarness.open({ suiteLabel, rootDirPrefix: 'seccomp-default-it-' });
  ({ cri } = harness);
  await cri.pullImage({ image: { image: env.busyboxImage } });
});

afterAll(() => harness?.close());

describe('seccompDefault on containerd', () => {
  it('on: a container without a profile is filtered (Seccomp: 2); explicit Unconfined is not', async () => {
    await harness.sync(manager(true), withDefault);
    expect(await seccompMode(withDefault, 'plain')).toBe('Seccomp: 2');
    expect(await seccompMode(withDefault, 'unconfined')).toBe('Seccomp: 0');
  });

  it('off: a container without a profile is not filtered (Seccomp: 0)', async () => {
    await harness.sync(manager(false), withoutDefault);
    expect(await seccompMode(withoutDefault, 'plain')).toBe('Seccomp: 0');
  });
});
