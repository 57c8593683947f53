/**
 * Image GC on a real, small filesystem: a second, private containerd (brought up by
 * the harness) whose root is a size-limited tmpfs made by this test, filled with real
 * images pushed to that runtime's own registry. GC must bring usage from above the high
 * threshold to below the low one, while the image of a running container, a young
 * image and the pinned pause image survive.
 *
 * Needs root (mount) like the rest of the harness.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventRecorder, cri } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import {
  freeLoopbackPort,
  startRealRuntime,
  stopRealRuntime,
  type RealRuntimeEnv,
} from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { ImageGcFailedError, ImageGcManager, criImageFsUsage } from './index.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const fsSizeMiB = 128;
const fillLayerMiB = 4;
const suiteLabel = { 'nodeagent.test/suite': 'image-gc' };

let base: RealRuntimeEnv;
let env: RealRuntimeEnv;
let dir: string;
let work: string;
let port: number;
let client: CriClient | undefined;
let up = false;

async function usagePercent(): Promise<number> {
  const st = await statfs(join(dir, 'root'));
  return 100 - Math.floor((st.bavail * 100) / st.blocks);
}

/** Builds an image with one layer of `mib` random bytes and pushes it as `gc/NAME:1`. */
async function pushRandomImage(name: string, mib: number): Promise<string> {
  const layout = join(work, 'oci');
  const bundle = join(work, `bundle-${name}`);
  const script = `set -euo pipefail
[[ -d ${layout} ]] || umoci init --layout ${layout}
umoci new --image ${layout}:${name}
umoci unpack --image ${layout}:${name} ${bundle}
head -c ${mib * MiB} /dev/urandom > ${bundle}/rootfs/filler
umoci repack --image ${layout}:${name} ${bundle}
umoci config --image ${layout}:${name} --os linux --architecture amd64 --config.cmd /filler
skopeo --insecure-policy copy --quiet --dest-tls-verify=false oci:${layout}:${name} docker://127.0.0.1:${port}/gc/${name}:1
rm -rf ${bundle}`;
  await run('bash', ['-c', script]);
  return `127.0.0.1:${port}/gc/${name}:1`;
}

async function pull(ref: string): Promise<string> {
  return (await criClient().pullImage({ image: { image: ref } })).imageRef;
}

function criClient(): CriClient {
  if (!client) throw new Error('no CRI client');
  return client;
}

beforeAll(async () => {
  base = realRuntime();
  dir = `${base.runtimeDir}-imagegc`;
  work = await mkdtemp(join(tmpdir(), 'image-gc-work-'));
  await mkdir(join(dir, 'root'), { recursive: true });
  await run('mount', [
    '-t',
    'tmpfs',
    '-o',
    `size=${fsSizeMiB}m,mode=0711`,
    'tmpfs',
    join(dir, 'root'),
  ]);
  port = await freeLoopbackPort();
  // The nested runtime gets its own bridge and subnet next to the run's own.
  const saved = {
    bridge: process.env.NODEAGENT_CNI_BRIDGE,
    subnet: process.env.NODEAGENT_CNI_SUBNET,
  };
  const octets = base.cniSubnet.split('.');
  process.env.NODEAGENT_CNI_BRIDGE = `${base.cniBridge.slice(0, 12)}gc`;
  process.env.NODEAGENT_CNI_SUBNET = `${octets[0]}.${octets[1]}.${(Number(octets[2]) + 1) % 256}.0/24`;
  try {
    up = true;
    env = await startRealRuntime({ runtimeDir: dir, registryPort: port });
  } finally {
    for (const [key, value] of [
      ['NODEAGENT_CNI_BRIDGE', saved.bridge],
      ['NODEAGENT_CNI_SUBNET', saved.subnet],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
  client = createCriClient({ endpoint: env.criEndpoint });
}, 300_000);

afterAll(async () => {
  client?.close();
  if (up) {
    // down.sh removes every sandbox and container, unmounts everything under the
    // directory (our tmpfs included) and removes it.
    await stopRealRuntime({ runtimeDir: dir, registryPort: port });
  }
  await run('umount', [join(dir, 'root')]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}, 300_000);

describe('image GC on a small real filesystem', () => {
  it('frees from above the high threshold to below the low one; keeps in-use, young and pinned images', async () => {
    const clock = new FakeClock();
    const events: Array<{ reason: string; message: string }> = [];
    const recorder: EventRecorder = {
      event: (_o, _t, reason, message) => events.push({ reason, message }),
    };
    const gc = new ImageGcManager({
      runtime: criClient(),
      images: criClient(),
      clock,
      sandboxImage: env.pauseImage,
      nodeName: 'image-gc-test',
      recorder,
      statePath: join(work, 'state.json'),
    });
    // The imageFsUsage default measures the tmpfs through ImageFsInfo + statfs.
    const fs = await criImageFsUsage(criClient())();
    expect(fs.capacityBytes).toBe(fsSizeMiB * MiB);

    // A running container (host network) from the busybox image.
    const uid = randomUUID();
    const sandboxConfig: cri.PodSandboxConfigInput = {
      metadata: { name: 'gc-running', namespace: 'image-gc-test', uid, attempt: 0 },
      logDirectory: `${env.podLogDir}/image-gc-test_gc-running_${uid}`,
      labels: { ...suiteLabel, 'io.kubernetes.pod.uid': uid },
      linux: {
        cgroupParent: `${env.cgroupRoot}/pod${uid}`,
        securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
    const busyboxId = await pull(env.busyboxImage);
    const { podSandboxId } = await criClient().runPodSandbox({ config: sandboxConfig });
    const { containerId } = await criClient().createContainer({
      podSandboxId,
      sandboxConfig,
      config: {
        metadata: { name: 'sleeper', attempt: 0 },
        image: { image: env.busyboxImage },
        command: ['sleep', '3600'],
        logPath: 'sleeper.log',
        labels: { ...suiteLabel, 'io.kubernetes.pod.uid': uid },
      },
    });
    await criClient().startContainer({ containerId });
    const pauseId = (await criClient().imageStatus({ image: { image: env.pauseImage } })).image?.id;
    expect(pauseId).toBeTruthy();

    // First pass: usage low; pause and busybox recorded (as found by a first start).
    const first = await gc.garbageCollect();
    expect(first.deletedImages).toEqual([]);

    // Fill the filesystem to about 70 % with distinct random images.
    const fillers: string[] = [];
    for (let i = 0; (await usagePercent()) < 70; i++) {
      expect(i).toBeLessThan(40);
      fillers.push(await pull(await pushRandomImage(`fill${i}`, fillLayerMiB)));
    }
    await clock.advance(60_000);
    const second = await gc.garbageCollect(); // fillers detected now (young), below the threshold
    expect(second.usagePercent).toBeLessThan(85);
    expect(second.deletedImages).toEqual([]);

    // A young image that takes usage to about 90 % (content + unpacked snapshot ≈ 2× layer).
    const gap = ((90 - (await usagePercent())) / 100) * fsSizeMiB;
    const youngId = await pull(await pushRandomImage('young', Math.max(1, Math.round(gap / 2))));
    const before = await usagePercent();
    expect(before).toBeGreaterThanOrEqual(85);

    await clock.advance(3 * 60_000); // fillers are now 3 min old (> 2 min), young 0 s
    const result = await gc.garbageCollect();
    expect(result.usagePercent).toBe(before);
    expect(result.bytesToFree).toBeGreaterThan(0);
    expect(result.bytesFreed).toBeGreaterThanOrEqual(result.bytesToFree);
    expect(result.deletedImages.length).toBeGreaterThan(0);
    for (const id of result.deletedImages) expect(fillers).toContain(id);

    const after = await usagePercent();
    expect(after).toBeLessThan(80);
    const remaining = new Set((await criClient().listImages({})).images.map((i) => i.id));
    expect(remaining.has(busyboxId)).toBe(true);
    expect(remaining.has(youngId)).toBe(true);
    expect(remaining.has(pauseId ?? '')).toBe(true);
    for (const id of result.deletedImages) expect(remaining.has(id)).toBe(false);
    expect(events.filter((e) => e.reason === 'FreeDiskSpaceFailed')).toEqual([]);

    // Nothing eligible is left except old fillers: ask for more than exists.
    await expect(
      new ImageGcManager({
        runtime: criClient(),
        images: criClient(),
        clock,
        sandboxImage: env.pauseImage,
        policy: { highThresholdPercent: 1, lowThresholdPercent: 0 },
        recorder,
        statePath: join(work, 'state.json'),
      }).garbageCollect(),
    ).rejects.toThrow(ImageGcFailedError);
    expect(events.some((e) => e.reason === 'FreeDiskSpaceFailed')).toBe(true);
    const survivors = new Set((await criClient().listImages({})).images.map((i) => i.id));
    expect(survivors.has(busyboxId) && survivors.has(youngId) && survivors.has(pauseId ?? '')).toBe(
      true,
    );

    await criClient().stopPodSandbox({ podSandboxId });
    await criClient().removePodSandbox({ podSandboxId });
  });
});
