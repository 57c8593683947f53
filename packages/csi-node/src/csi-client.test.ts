import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortedError,
  CancelledError,
  DeadlineExceededError,
  InvalidArgumentError,
  UnavailableError,
} from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { startTestCsiDriver, type TestCsiDriver, type TestCsiMounter } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CsiClient } from './csi-client.js';

/** Records bind mounts instead of making them (unit tests run without root). */
function recordingMounter(): TestCsiMounter & { mounted: Map<string, string> } {
  const mounted = new Map<string, string>();
  return {
    mounted,
    bind: async (source, target) => {
      mounted.set(target, source);
    },
    unmount: async (target) => {
      mounted.delete(target);
    },
    isMounted: async (target) => mounted.has(target),
  };
}

let dir: string;
let driver: TestCsiDriver;
let clock: FakeClock;
let client: CsiClient;
let mounter: ReturnType<typeof recordingMounter>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'csi-c-'));
  mounter = recordingMounter();
  driver = await startTestCsiDriver({
    name: 'unit.csi.test',
    dir,
    mounter,
    nodeId: 'node-a',
    maxVolumesPerNode: 7,
    topology: { 'topology.unit.csi.test/zone': 'z1' },
  });
  clock = new FakeClock();
  client = new CsiClient({
    driverName: 'unit.csi.test',
    endpoint: `unix://${driver.endpoint}`,
    clock,
    random: { float: () => 0 },
  });
});

afterEach(async () => {
  client.close();
  await driver.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Lets real I/O happen until `cond` holds (no clock time passes). */
async function until(cond: () => boolean): Promise<void> {
  await vi.waitFor(() => expect(cond()).toBe(true), { timeout: 5000, interval: 1 });
}

const mountCap = { mount: { fsType: 'ext4' }, accessMode: 'SINGLE_NODE_WRITER' } as const;

describe('CsiClient', () => {
  it('speaks Identity and Node RPCs', async () => {
    expect((await client.getPluginInfo()).name).toBe('unit.csi.test');
    expect(await client.probe()).toBe(true);
    expect(await client.getPluginCapabilities()).toEqual({
      controllerService: false,
      volumeAccessibilityConstraints: true,
      onlineExpansion: false,
      offlineExpansion: false,
    });
    expect(await client.nodeGetInfo()).toEqual({
      nodeId: 'node-a',
      maxVolumesPerNode: 7,
      accessibleTopology: { 'topology.unit.csi.test/zone': 'z1' },
    });
    expect(await client.nodeGetCapabilities()).toEqual({
      stageUnstage: true,
      getVolumeStats: true,
      expandVolume: true,
      singleNodeMultiWriter: false,
      volumeMountGroup: false,
    });
  });

  it('sends stage/publish requests field by field and unstages/unpublishes', async () => {
    const staging = join(dir, 'staging', 'vol-1', 'globalmount');
    const target = join(dir, 'pods', 'uid', 'mount');
    await client.nodeStageVolume({
      volumeId: 'vol-1',
      stagingTargetPath: staging,
      volumeCapability: {
        mount: { fsType: 'ext4', mountFlags: ['noatime'] },
        accessMode: 'SINGLE_NODE_WRITER',
      },
      publishContext: { a: 'b' },
      secrets: { s: 'x' },
      volumeContext: { c: 'd' },
    });
    await client.nodePublishVolume({
      volumeId: 'vol-1',
      stagingTargetPath: staging,
      targetPath: target,
      volumeCapability: mountCap,
      readonly: true,
    });
    const stage = driver.calls.find((c) => c.rpc === 'NodeStageVolume');
    expect(stage?.request).toMatchObject({
      volumeId: 'vol-1',
      stagingTargetPath: staging,
      publishContext: { a: 'b' },
      secrets: { s: 'x' },
      volumeContext: { c: 'd' },
      volumeCapability: {
        mount: { fsType: 'ext4', mountFlags: ['noatime'] },
        accessMode: { mode: 'SINGLE_NODE_WRITER' },
      },
    });
    expect(driver.calls.find((c) => c.rpc === 'NodePublishVolume')?.request).toMatchObject({
      targetPath: target,
      readonly: true,
    });
    expect(mounter.mounted.get(staging)).toBe(driver.backingDir('vol-1'));
    expect(mounter.mounted.get(target)).toBe(staging);
    const stats = await client.nodeGetVolumeStats({ volumeId: 'vol-1', volumePath: target });
    expect(stats.usage.map((u) => u.unit)).toEqual(['BYTES', 'INODES']);
    expect(stats.usage[0]!.total).toBeGreaterThan(0);
    expect(stats.abnormal).toBe(false);
    await client.nodeUnpublishVolume({ volumeId: 'vol-1', targetPath: target });
    await client.nodeUnstageVolume({ volumeId: 'vol-1', stagingTargetPath: staging });
    expect(mounter.mounted.size).toBe(0);
    expect(
      await client.nodeExpandVolume({ volumeId: 'vol-1', volumePath: target, requiredBytes: 1024 }),
    ).toBe(1024);
  });

  it('maps gRPC codes to core error classes without retrying non-retriable ones', async () => {
    driver.failNext('NodeStageVolume', 'INVALID_ARGUMENT');
    const err: unknown = await client
      .nodeStageVolume({
        volumeId: 'v',
        stagingTargetPath: join(dir, 's'),
        volumeCapability: mountCap,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).operation).toBe('csi.v1.Node/NodeStageVolume');
    expect((err as InvalidArgumentError).detail).toBe('injected failure of NodeStageVolume');
    expect(driver.calls.filter((c) => c.rpc === 'NodeStageVolume')).toHaveLength(1);
  });

  it('refuses volume ids with path characters (driver side) as InvalidArgument', async () => {
    for (const volumeId of ['../etc', 'a/b', '..']) {
      await expect(
        client.nodePublishVolume({
          volumeId,
          stagingTargetPath: join(dir, 's'),
          targetPath: join(dir, 't'),
          volumeCapability: mountCap,
          readonly: false,
        }),
      ).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    expect(mounter.mounted.size).toBe(0);
  });

  it('retries UNAVAILABLE with back-off and then succeeds', async () => {
    driver.failNext('NodeGetInfo', 'UNAVAILABLE', 2);
    const done = client.nodeGetInfo();
    // first failure → a 500 ms back-off sleep (plus the deadline timer)
    await until(() => clock.pendingTimers() === 2);
    expect(clock.nextTimerDelay()).toBe(500);
    await clock.advance(500);
    await until(() => driver.calls.length === 2 && clock.pendingTimers() === 2);
    expect(clock.nextTimerDelay()).toBe(1000);
    await clock.advance(1000);
    await expect(done).resolves.toMatchObject({ nodeId: 'node-a' });
    expect(driver.calls.map((c) => c.code)).toEqual([14, 14, 0]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('gives up after maxAttempts on a retriable code (ABORTED)', async () => {
    client.close();
    client = new CsiClient({
      driverName: 'unit.csi.test',
      endpoint: driver.endpoint,
      clock,
      random: { float: () => 0 },
      retry: { maxAttempts: 2 },
    });
    driver.failNext('NodeUnpublishVolume', 'ABORTED', 5);
    const done = client
      .nodeUnpublishVolume({ volumeId: 'v', targetPath: join(dir, 't') })
      .catch((e: unknown) => e);
    await until(() => clock.pendingTimers() === 2);
    await clock.advance(500);
    expect(await done).toBeInstanceOf(AbortedError);
    expect(driver.calls).toHaveLength(2);
  });

  it('fails a hanging call with DeadlineExceeded after csiTimeout (2 min) and records the metric', async () => {
    const metrics = new InMemoryMetrics();
    client.close();
    client = new CsiClient({
      driverName: 'unit.csi.test',
      endpoint: driver.endpoint,
      clock,
      metrics,
    });
    driver.delay('NodePublishVolume', Infinity);
    const done = client
      .nodePublishVolume({
        volumeId: 'v',
        stagingTargetPath: join(dir, 's'),
        targetPath: join(dir, 't'),
        volumeCapability: mountCap,
        readonly: false,
      })
      .catch((e: unknown) => e);
    await until(() => clock.pendingTimers() === 1);
    expect(clock.nextTimerDelay()).toBe(120_000);
    await clock.advance(119_999);
    expect(clock.pendingTimers()).toBe(1);
    await clock.advance(1);
    const err = await done;
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect(
      metrics.observations('csi_operations_seconds', {
        driver_name: 'unit.csi.test',
        method_name: '/csi.v1.Node/NodePublishVolume',
        grpc_status_code: 'DeadlineExceeded',
        migrated: 'false',
      }),
    ).toEqual([120]);
    driver.clearFaults();
  });

  it('is cancelled by the caller signal', async () => {
    driver.delay('NodeGetInfo', Infinity);
    const ac = new AbortController();
    const done = client.nodeGetInfo(ac.signal).catch((e: unknown) => e);
    await until(() => clock.pendingTimers() === 1);
    ac.abort();
    expect(await done).toBeInstanceOf(CancelledError);
    expect(clock.pendingTimers()).toBe(0);
    driver.clearFaults();
  });

  it('reports a missing socket as Unavailable naming the socket', async () => {
    const gone = new CsiClient({
      driverName: 'gone.csi.test',
      endpoint: join(dir, 'nope.sock'),
      clock,
      retry: { maxAttempts: 1 },
    });
    const err: unknown = await gone.probe().catch((e: unknown) => e);
    gone.close();
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain('nope.sock does not exist');
  });
});
