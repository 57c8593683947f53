import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@nodeagent/core/testing';
import {
  startTestCsiDriver,
  type TestCsiDriver,
  type TestCsiDriverOptions,
  type TestCsiMounter,
} from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CsiNodeDriverInfo, CsiNodeInfoWriter } from './csinode.js';
import { CsiPluginManager, type CsiRegistrationEvent } from './plugin-watcher.js';

const noMounts: TestCsiMounter = {
  bind: async () => undefined,
  unmount: async () => undefined,
  isMounted: async () => false,
};

let base: string;
let regDir: string;
let clock: FakeClock;
let manager: CsiPluginManager;
let events: CsiRegistrationEvent[];
let changes: Array<[string, boolean]>;
const drivers: TestCsiDriver[] = [];

class RecordingNodeInfo implements CsiNodeInfoWriter {
  installed: CsiNodeDriverInfo[] = [];
  uninstalled: string[] = [];
  failInstall = false;
  async installDriver(driver: CsiNodeDriverInfo): Promise<void> {
    if (this.failInstall) throw new Error('API server said no');
    this.installed.push(driver);
  }
  async uninstallDriver(name: string): Promise<void> {
    this.uninstalled.push(name);
  }
}

async function driver(
  name: string,
  sub: string,
  extra: Partial<TestCsiDriverOptions> = {},
): Promise<TestCsiDriver> {
  const d = await startTestCsiDriver({
    name,
    dir: join(base, sub),
    registrationDir: regDir,
    registrationSocketName: `${sub}-reg.sock`,
    mounter: noMounts,
    nodeId: `${sub}-node`,
    ...extra,
  });
  drivers.push(d);
  return d;
}

async function startManager(nodeInfo?: CsiNodeInfoWriter): Promise<void> {
  manager = new CsiPluginManager({
    registrationDir: regDir,
    clock,
    random: { float: () => 0 },
    onEvent: (e) => events.push(e),
    ...(nodeInfo ? { nodeInfo } : {}),
  });
  manager.registry.onChange((n, r) => changes.push([n, r]));
  await manager.start();
}

async function eventually(check: () => void): Promise<void> {
  await vi.waitFor(check, { timeout: 5000, interval: 5 });
}

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'csi-pm-'));
  regDir = join(base, 'reg');
  clock = new FakeClock();
  events = [];
  changes = [];
});

afterEach(async () => {
  await manager.stop();
  for (const d of drivers.splice(0)) await d.stop();
  rmSync(base, { recursive: true, force: true });
  expect(clock.pendingTimers()).toBe(0);
});

describe('CsiPluginManager', () => {
  it('registers a driver found in the registration directory and unregisters it when the socket goes', async () => {
    const d = await driver('one.csi.test', 'one', {
      maxVolumesPerNode: 4,
      topology: { zone: 'z' },
    });
    const nodeInfo = new RecordingNodeInfo();
    await startManager(nodeInfo);
    await eventually(() => expect(manager.registry.list()).toEqual(['one.csi.test']));
    await eventually(() =>
      expect(d.registrationStatus).toEqual([{ pluginRegistered: true, error: '' }]),
    );
    expect(nodeInfo.installed).toEqual([
      { name: 'one.csi.test', nodeId: 'one-node', maxVolumesPerNode: 4, topology: { zone: 'z' } },
    ]);
    expect(manager.registry.entry('one.csi.test')).toMatchObject({
      version: '1.0.0',
      nodeId: 'one-node',
    });
    // The registered client talks to the driver.
    expect(await manager.registry.get('one.csi.test')!.nodeGetInfo()).toMatchObject({
      nodeId: 'one-node',
    });
    expect(d.calls.map((c) => c.rpc)).toEqual([
      'NodeGetInfo',
      'NodeGetCapabilities',
      'NodeGetInfo',
    ]);

    await d.removeRegistration();
    await eventually(() => expect(manager.registry.list()).toEqual([]));
    expect(changes).toEqual([
      ['one.csi.test', true],
      ['one.csi.test', false],
    ]);
    await eventually(() => expect(nodeInfo.uninstalled).toEqual(['one.csi.test']));
    expect(events.map((e) => e.outcome)).toEqual(['registered', 'unregistered']);
  });

  it('ignores dot-named sockets and files that are not sockets', async () => {
    const elsewhere = join(base, 'elsewhere');
    const hidden = await startTestCsiDriver({
      name: 'hidden.csi.test',
      dir: join(base, 'hidden'),
      registrationDir: elsewhere,
      mounter: noMounts,
    });
    drivers.push(hidden);
    await startManager();
    renameSync(hidden.registrationSocket!, join(regDir, '.hidden-reg.sock'));
    writeFileSync(join(regDir, 'plain-reg.sock'), 'not a socket');
    const d = await driver('visible.csi.test', 'visible');
    await eventually(() => expect(manager.registry.list()).toEqual(['visible.csi.test']));
    expect(d.getInfoCalls()).toBe(1);
    expect(hidden.getInfoCalls()).toBe(0);
    expect(manager.registrationSockets()).toEqual([join(regDir, 'visible-reg.sock')]);
  });

  it('picks up sockets that exist before it starts', async () => {
    await driver('early.csi.test', 'early');
    await startManager();
    await eventually(() => expect(manager.registry.list()).toEqual(['early.csi.test']));
  });

  it('refuses unsupported versions with NotifyRegistrationStatus(false) and retries with back-off', async () => {
    const d = await driver('old.csi.test', 'old', {
      pluginInfo: { supportedVersions: ['0.3.0', '2.0.0'] },
    });
    await startManager();
    await eventually(() => expect(d.registrationStatus).toHaveLength(1));
    expect(d.registrationStatus[0]).toMatchObject({ pluginRegistered: false });
    expect(d.registrationStatus[0]!.error).toMatch(/none of the CSI versions/);
    expect(manager.registry.list()).toEqual([]);
    expect(d.calls).toEqual([]); // never connected to the driver endpoint
    await eventually(() => expect(clock.nextTimerDelay()).toBe(500));
    await clock.advance(500);
    await eventually(() => expect(d.getInfoCalls()).toBe(2));
    await eventually(() => expect(clock.nextTimerDelay()).toBe(1000));
  });

  it.each([
    ['a device plugin', { type: 'DevicePlugin' }, /unsupported plugin type/],
    ['an empty name', { name: '' }, /empty name/],
    ['a name with path characters', { name: '../evil' }, /invalid CSI driver name/],
    ['no endpoint', { endpoint: '' }, /without an endpoint/],
    ['a relative endpoint', { endpoint: 'csi.sock' }, /absolute unix socket path/],
  ])('refuses %s', async (_what, pluginInfo, message) => {
    const d = await driver('bad.csi.test', 'bad', { pluginInfo });
    await startManager();
    await eventually(() => expect(d.registrationStatus).toHaveLength(1));
    expect(d.registrationStatus[0]!.pluginRegistered).toBe(false);
    expect(d.registrationStatus[0]!.error).toMatch(message);
    expect(manager.registry.list()).toEqual([]);
  });

  it('survives a malformed GetInfo reply: no registration, no notification, retried', async () => {
    const d = await driver('garbage.csi.test', 'garbage', {
      // field 1 with wire type 7, which does not exist: undecodable
      pluginInfo: Buffer.from([0x0f, 0x00, 0x00]),
    });
    await startManager();
    await eventually(() => expect(events).toHaveLength(1));
    expect(events[0]).toMatchObject({ outcome: 'failed' });
    expect(d.registrationStatus).toEqual([]);
    expect(manager.registry.list()).toEqual([]);
    await eventually(() => expect(clock.nextTimerDelay()).toBe(500));
  });

  it('requires a higher version to replace a registered driver of the same name', async () => {
    const nodeInfo = new RecordingNodeInfo();
    await startManager(nodeInfo);
    const first = await driver('dup.csi.test', 'first', {
      pluginInfo: { supportedVersions: ['1.1.0'] },
    });
    await eventually(() => expect(first.registrationStatus).toHaveLength(1));
    expect(manager.registry.entry('dup.csi.test')?.registrationSocket).toBe(
      first.registrationSocket,
    );

    const same = await driver('dup.csi.test', 'same', {
      pluginInfo: { supportedVersions: ['1.1.0'] },
    });
    await eventually(() => expect(same.registrationStatus).toHaveLength(1));
    expect(same.registrationStatus[0]!.error).toMatch(/already registered with version 1.1.0/);
    const lower = await driver('dup.csi.test', 'lower', {
      pluginInfo: { supportedVersions: ['1.0.0'] },
    });
    await eventually(() => expect(lower.registrationStatus).toHaveLength(1));
    expect(lower.registrationStatus[0]!.pluginRegistered).toBe(false);

    const higher = await driver('dup.csi.test', 'higher', {
      pluginInfo: { supportedVersions: ['1.0.0', '1.5.0'] },
    });
    await eventually(() =>
      expect(higher.registrationStatus).toEqual([{ pluginRegistered: true, error: '' }]),
    );
    expect(manager.registry.entry('dup.csi.test')).toMatchObject({
      version: '1.5.0',
      registrationSocket: higher.registrationSocket,
      nodeId: 'higher-node',
    });
    // The old socket going away does not unregister the newer registration.
    await first.removeRegistration();
    await same.removeRegistration();
    await lower.removeRegistration();
    await higher.removeRegistration();
    await eventually(() => expect(manager.registry.list()).toEqual([]));
    expect(changes).toEqual([
      ['dup.csi.test', true],
      ['dup.csi.test', true],
      ['dup.csi.test', false],
    ]);
    expect(nodeInfo.uninstalled).toEqual(['dup.csi.test']);
  });

  it('fails the registration when NodeGetInfo fails, and registers on the retry', async () => {
    const d = await driver('flaky.csi.test', 'flaky');
    d.failNext('NodeGetInfo', 'INTERNAL');
    await startManager();
    await eventually(() => expect(d.registrationStatus).toHaveLength(1));
    expect(d.registrationStatus[0]!.pluginRegistered).toBe(false);
    expect(d.registrationStatus[0]!.error).toMatch(/NodeGetInfo/);
    await eventually(() => expect(clock.nextTimerDelay()).toBe(500));
    await clock.advance(500);
    await eventually(() => expect(manager.registry.list()).toEqual(['flaky.csi.test']));
    // NotifyRegistrationStatus reaches the driver after the registry has the driver.
    await eventually(() =>
      expect(d.registrationStatus[1]).toEqual({ pluginRegistered: true, error: '' }),
    );
  });

  it('in API mode, does not register a driver it could not publish', async () => {
    const nodeInfo = new RecordingNodeInfo();
    nodeInfo.failInstall = true;
    const d = await driver('api.csi.test', 'api');
    await startManager(nodeInfo);
    await eventually(() => expect(d.registrationStatus).toHaveLength(1));
    expect(d.registrationStatus[0]).toEqual({
      pluginRegistered: false,
      error: 'API server said no',
    });
    expect(manager.registry.list()).toEqual([]);
    nodeInfo.failInstall = false;
    await eventually(() => expect(clock.nextTimerDelay()).toBe(500));
    await clock.advance(500);
    await eventually(() => expect(manager.registry.list()).toEqual(['api.csi.test']));
  });

  it('fails a registration whose NodeGetInfo hangs once csiTimeout (2 min) passes', async () => {
    const d = await driver('slow.csi.test', 'slow');
    d.delay('NodeGetInfo', Infinity);
    await startManager();
    await eventually(() => expect(clock.nextTimerDelay()).toBe(120_000));
    await clock.advance(120_000);
    await eventually(() => expect(d.registrationStatus).toHaveLength(1));
    expect(d.registrationStatus[0]!.error).toMatch(/within 120000 ms/);
    d.clearFaults();
  });
});
