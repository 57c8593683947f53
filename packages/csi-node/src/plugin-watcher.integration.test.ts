import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RealClock } from '@nodeagent/core';
import { listMountPoints, startTestCsiDriver, type TestCsiDriver } from '@nodeagent/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CsiPluginManager } from './plugin-watcher.js';

// Real bind mounts: runs as root (the integration project runs on the harness host).
const base = mkdtempSync('/tmp/csi-it-');
const regDir = join(base, 'plugins_registry');
let manager: CsiPluginManager;
let driver: TestCsiDriver;

async function eventually(check: () => void | Promise<void>): Promise<void> {
  await vi.waitFor(check, { timeout: 10_000, interval: 20 });
}

beforeAll(async () => {
  driver = await startTestCsiDriver({
    name: 'it.csi.nodeagent.test',
    dir: join(base, 'driver'),
    registrationDir: regDir,
  });
  manager = new CsiPluginManager({ registrationDir: regDir, clock: new RealClock() });
  await manager.start();
});

afterAll(async () => {
  await manager.stop();
  await driver.stop();
  const left = (await listMountPoints()).filter((m) => m.startsWith(base));
  rmSync(base, { recursive: true, force: true });
  expect(left).toEqual([]);
});

describe('CSI registration and mounts on the real host', () => {
  it('registers the test driver through the registration directory, stages and publishes with real bind mounts, and unmounts cleanly', async () => {
    await eventually(() => expect(manager.registry.list()).toEqual(['it.csi.nodeagent.test']));
    // the status is sent to the driver after the registry has it
    await eventually(() =>
      expect(driver.registrationStatus).toEqual([{ pluginRegistered: true, error: '' }]),
    );
    const client = manager.registry.get('it.csi.nodeagent.test')!;
    expect((await client.nodeGetCapabilities()).stageUnstage).toBe(true);

    const staging = join(base, 'plugins/kubernetes.io/csi/it.csi.nodeagent.test/h/globalmount');
    const targetA = join(base, 'pods/a/volumes/kubernetes.io~csi/data/mount');
    const targetB = join(base, 'pods/b/volumes/kubernetes.io~csi/data/mount');
    const capability = { mount: {}, accessMode: 'SINGLE_NODE_MULTI_WRITER' } as const;
    await client.nodeStageVolume({
      volumeId: 'vol-it',
      stagingTargetPath: staging,
      volumeCapability: capability,
    });
    // Idempotent: a second stage is a no-op.
    await client.nodeStageVolume({
      volumeId: 'vol-it',
      stagingTargetPath: staging,
      volumeCapability: capability,
    });
    await client.nodePublishVolume({
      volumeId: 'vol-it',
      stagingTargetPath: staging,
      targetPath: targetA,
      volumeCapability: capability,
      readonly: false,
    });
    await client.nodePublishVolume({
      volumeId: 'vol-it',
      stagingTargetPath: staging,
      targetPath: targetB,
      volumeCapability: capability,
      readonly: true,
    });
    const mounts = await listMountPoints();
    expect(mounts.filter((m) => m === staging)).toHaveLength(1);
    expect(mounts).toContain(targetA);
    expect(mounts).toContain(targetB);
    const procMounts = readFileSync('/proc/mounts', 'utf8');
    expect(procMounts).toContain(` ${targetA} `);

    // Written through pod A's mount, seen in the backing dir and through pod B's read-only mount.
    writeFileSync(join(targetA, 'hello.txt'), 'from pod a');
    expect(readFileSync(join(driver.backingDir('vol-it'), 'hello.txt'), 'utf8')).toBe('from pod a');
    expect(readFileSync(join(targetB, 'hello.txt'), 'utf8')).toBe('from pod a');
    expect(() => writeFileSync(join(targetB, 'nope.txt'), 'x')).toThrow(/EROFS|read-only/);

    const stats = await client.nodeGetVolumeStats({ volumeId: 'vol-it', volumePath: targetA });
    expect(stats.usage.find((u) => u.unit === 'BYTES')?.total).toBeGreaterThan(0);

    await client.nodeUnpublishVolume({ volumeId: 'vol-it', targetPath: targetA });
    await client.nodeUnpublishVolume({ volumeId: 'vol-it', targetPath: targetB });
    await client.nodeUnpublishVolume({ volumeId: 'vol-it', targetPath: targetB }); // idempotent
    await client.nodeUnstageVolume({ volumeId: 'vol-it', stagingTargetPath: staging });
    const after = await listMountPoints();
    expect(after.filter((m) => m.startsWith(base))).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(base);
    expect(existsSync(targetA)).toBe(false);
    expect(driver.mounts()).toEqual([]);
  });

  it('refuses volume handles with path characters without mounting anything', async () => {
    const client = manager.registry.get('it.csi.nodeagent.test')!;
    await expect(
      client.nodeStageVolume({
        volumeId: '../../etc',
        stagingTargetPath: join(base, 'evil/globalmount'),
        volumeCapability: { mount: {}, accessMode: 'SINGLE_NODE_WRITER' },
      }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect((await listMountPoints()).filter((m) => m.startsWith(base))).toEqual([]);
  });

  it('stop() of the driver unmounts what it mounted', async () => {
    const client = manager.registry.get('it.csi.nodeagent.test')!;
    const staging = join(base, 'left/globalmount');
    await client.nodeStageVolume({
      volumeId: 'vol-left',
      stagingTargetPath: staging,
      volumeCapability: { mount: {}, accessMode: 'SINGLE_NODE_WRITER' },
    });
    await client.nodePublishVolume({
      volumeId: 'vol-left',
      stagingTargetPath: staging,
      targetPath: join(base, 'left/target'),
      volumeCapability: { mount: {}, accessMode: 'SINGLE_NODE_WRITER' },
      readonly: false,
    });
    expect((await listMountPoints()).filter((m) => m.startsWith(base))).toHaveLength(2);
    // Driver socket removed → driver unregistered.
    await driver.removeRegistration();
    await eventually(() => expect(manager.registry.list()).toEqual([]));
    await driver.stop();
    expect((await listMountPoints()).filter((m) => m.startsWith(base))).toEqual([]);
  });
});
