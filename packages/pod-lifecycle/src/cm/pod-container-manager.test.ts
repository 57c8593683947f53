import { ErrorCode, isNodeAgentError, type k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createFakeCgroupfs,
  type FakeCgroupfs,
  type FakeCgroupMode,
} from './__fixtures__/fake-cgroupfs.js';
import { detectCgroupLayout } from './cgroup-manager.js';
import {
  CgroupfsPodContainerManager,
  PodContainerManager,
  createPodContainerManager,
  registerPodContainerManager,
  type PodContainerManagerOptions,
} from './pod-container-manager.js';
import { Clock, type InjectionToken, type TokenResolver } from '@nodeagent/core';

type Res = { requests?: Record<string, string>; limits?: Record<string, string> };

function pod(uid: string, ...containers: Res[]): k8s.Pod {
  return {
    metadata: { name: `pod-${uid}`, namespace: 'default', uid },
    spec: {
      containers: containers.map((resources, i) => ({
        name: `c${i}`,
        image: 'busybox',
        resources,
      })),
    },
  };
}
const guaranteed = (uid: string): k8s.Pod => pod(uid, { limits: { cpu: '500m', memory: '256Mi' } });
const burstable = (uid: string): k8s.Pod =>
  pod(uid, { requests: { cpu: '100m' }, limits: { cpu: '500m', memory: '100Mi' } });
const besteffort = (uid: string): k8s.Pod => pod(uid, {});

const MiB = 2 ** 20;

/**
 * Drives the fake clock until `promise` settles: file I/O is real, so between timers
 * the loop yields to the event loop (setImmediate) rather than sleeping.
 */
async function settle<T>(
  promise: Promise<T>,
  clock: FakeClock,
  onTimer?: (n: number) => Promise<void>,
): Promise<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  tracked.catch(() => undefined);
  let timers = 0;
  for (let i = 0; !settled; i++) {
    if (i > 1_000_000) throw new Error('promise did not settle');
    const delay = clock.nextTimerDelay();
    if (delay === undefined) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      continue;
    }
    await onTimer?.(++timers);
    await clock.advance(delay);
  }
  return tracked;
}
const fakes: FakeCgroupfs[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.cleanup()));
});

async function setup(
  mode: FakeCgroupMode,
  options: Partial<PodContainerManagerOptions> = {},
  fakeOptions: { hierarchies?: string[]; hugePageSizes?: string[] } = {},
): Promise<{ fake: FakeCgroupfs; cm: CgroupfsPodContainerManager; clock: FakeClock }> {
  const fake = await createFakeCgroupfs({ mode, ...fakeOptions });
  fakes.push(fake);
  const clock = new FakeClock();
  const cm = new CgroupfsPodContainerManager({
    clock,
    cgroupRoot: '/nodeagent',
    cgroupMountRoot: fake.root,
    fs: fake.fs,
    ...options,
  });
  return { fake, cm, clock };
}

/** Reads a trimmed file of the fake; fails the test when missing. */
async function value(fake: FakeCgroupfs, path: string): Promise<string> {
  const text = await fake.read(path);
  if (text === undefined) throw new Error(`missing ${path}`);
  return text.trim();
}

const v1Hierarchies = [
  'blkio',
  'cpu,cpuacct',
  'cpuset',
  'devices',
  'freezer',
  'hugetlb',
  'memory',
  'pids',
  'systemd',
];

describe('detectCgroupLayout', () => {
  it('v1: one entry per mounted hierarchy, symlinked aliases skipped', async () => {
    const fake = await createFakeCgroupfs({ mode: 'v1' });
    fakes.push(fake);
    const layout = await detectCgroupLayout(fake.fs, fake.root);
    expect(layout.version).toBe('v1');
    expect(layout.hierarchies.map((h) => h.name)).toEqual(v1Hierarchies);
    expect(layout.hierarchies.find((h) => h.name === 'cpu,cpuacct')?.controllers).toEqual([
      'cpu',
      'cpuacct',
    ]);
    expect(layout.hierarchies.find((h) => h.name === 'systemd')?.controllers).toEqual([]);
  });

  it('hybrid: the unified mount is a cgroup2 hierarchy next to the v1 ones', async () => {
    const fake = await createFakeCgroupfs({ mode: 'hybrid' });
    fakes.push(fake);
    const layout = await detectCgroupLayout(fake.fs, fake.root);
    expect(layout.version).toBe('v1');
    expect(layout.hierarchies.find((h) => h.name === 'unified')).toMatchObject({
      unified: true,
      controllers: [],
    });
  });

  it('v2: cgroup.controllers at the mount root', async () => {
    const fake = await createFakeCgroupfs({ mode: 'v2' });
    fakes.push(fake);
    const layout = await detectCgroupLayout(fake.fs, fake.root);
    expect(layout).toEqual({
      version: 'v2',
      mountRoot: fake.root,
      hierarchies: [{ name: '', mountPoint: fake.root, unified: true, controllers: [] }],
    });
  });

  it('no hierarchy at all is a FailedPrecondition', async () => {
    const fake = await createFakeCgroupfs({ mode: 'v1', hierarchies: [] });
    fakes.push(fake);
    await expect(detectCgroupLayout(fake.fs, fake.root)).rejects.toMatchObject({
      code: ErrorCode.FailedPrecondition,
    });
  });
});

describe('configuration', () => {
  it('rejects the systemd driver with InvalidConfigError', () => {
    expect(() =>
      createPodContainerManager({ clock: new FakeClock(), cgroupDriver: 'systemd' }),
    ).toThrow(
      expect.objectContaining({
        code: ErrorCode.InvalidConfig,
        message: expect.stringContaining('cgroupfs') as string,
      }),
    );
  });

  it('rejects a relative or dotted cgroupRoot and an out-of-range CFS period', () => {
    const clock = new FakeClock();
    expect(() => createPodContainerManager({ clock, cgroupRoot: 'nodeagent' })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidConfig }),
    );
    expect(() => createPodContainerManager({ clock, cgroupRoot: '/a/../b' })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidConfig }),
    );
    expect(() => createPodContainerManager({ clock, cpuCFSQuotaPeriodUs: 10 })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidConfig }),
    );
  });

  it('registerPodContainerManager builds one instance with the container Clock', () => {
    const registry = new Map<symbol, (r: TokenResolver) => unknown>();
    const resolver: TokenResolver = {
      resolve<T>(token: InjectionToken<T>): T {
        if (token === Clock) return new FakeClock() as T;
        const factory = registry.get(token);
        if (!factory) throw new Error('not registered');
        return factory(resolver) as T;
      },
    };
    registerPodContainerManager(
      { register: (token, provider) => registry.set(token, provider.useFactory) },
      { cgroupRoot: '/x' },
    );
    const a = resolver.resolve(PodContainerManager);
    expect(a).toBe(resolver.resolve(PodContainerManager));
    expect(a.qosCgroupName('Burstable')).toBe('/x/kubepods/burstable');
  });
});

describe('cgroup names', () => {
  it('Guaranteed pods sit directly under kubepods, the others under their QoS cgroup', async () => {
    const { cm } = await setup('v1');
    expect(cm.podCgroupName(guaranteed('g1'))).toBe('/nodeagent/kubepods/podg1');
    expect(cm.podCgroupName(burstable('b1'))).toBe('/nodeagent/kubepods/burstable/podb1');
    expect(cm.podCgroupName(besteffort('e1'))).toBe('/nodeagent/kubepods/besteffort/pode1');
    expect(cm.qosCgroupName('BestEffort')).toBe('/nodeagent/kubepods/besteffort');
    expect(
      new CgroupfsPodContainerManager({ clock: new FakeClock() }).podCgroupName(burstable('b')),
    ).toBe('/kubepods/burstable/podb');
  });

  it('a pod without UID, or with a UID that is not a path component, is rejected', async () => {
    const { cm } = await setup('v1');
    expect(() => cm.podCgroupName({ metadata: { name: 'x' }, spec: { containers: [] } })).toThrow(
      expect.objectContaining({ code: ErrorCode.InvalidArgument }),
    );
    await expect(cm.destroyPodCgroup('../etc')).rejects.toMatchObject({
      code: ErrorCode.InvalidArgument,
    });
  });
});

describe('cgroup v1', () => {
  it('ensureQosCgroups creates kubepods, burstable and besteffort in every hierarchy', async () => {
    const { fake, cm } = await setup('v1');
    await cm.ensureQosCgroups();
    for (const h of v1Hierarchies) {
      for (const dir of [
        'nodeagent',
        'nodeagent/kubepods',
        'nodeagent/kubepods/burstable',
        'nodeagent/kubepods/besteffort',
      ]) {
        expect(await fake.exists(`${h}/${dir}`), `${h}/${dir}`).toBe(true);
      }
    }
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/besteffort/cpu.shares')).toBe('2');
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/burstable/cpu.shares')).toBe('1024');
    expect(await cm.cgroupVersion()).toBe('v1');
  });

  it('copies cpuset.cpus and cpuset.mems from the parent at every new level', async () => {
    const { fake, cm } = await setup('v1');
    await cm.ensureQosCgroups();
    for (const dir of ['nodeagent', 'nodeagent/kubepods', 'nodeagent/kubepods/besteffort']) {
      expect(await value(fake, `cpuset/${dir}/cpuset.cpus`)).toBe('0-3');
      expect(await value(fake, `cpuset/${dir}/cpuset.mems`)).toBe('0');
    }
  });

  it('sets the QoS huge page limits unbounded for every offered page size', async () => {
    const { fake, cm } = await setup('v1', {}, { hugePageSizes: ['2MB', '1GB'] });
    await cm.ensureQosCgroups();
    for (const qos of ['burstable', 'besteffort']) {
      expect(
        await value(fake, `hugetlb/nodeagent/kubepods/${qos}/hugetlb.2MB.limit_in_bytes`),
      ).toBe(String(2 ** 62));
      expect(
        await value(fake, `hugetlb/nodeagent/kubepods/${qos}/hugetlb.1GB.limit_in_bytes`),
      ).toBe(String(2 ** 62));
    }
  });

  it('ensureQosCgroups is idempotent and keeps existing values', async () => {
    const { fake, cm } = await setup('v1');
    await cm.ensureQosCgroups();
    await cm.destroyQosCgroups();
    await cm.ensureQosCgroups();
    await cm.ensureQosCgroups();
    const writesBefore = fake.writes.length;
    await cm.ensureQosCgroups();
    expect(fake.writes.length).toBe(writesBefore);
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/besteffort/cpu.shares')).toBe('2');
  });

  it('ensurePodCgroup (Burstable) applies shares, CFS quota/period and memory limit, and returns the cgroupParent', async () => {
    const { fake, cm } = await setup('v1');
    const parent = await cm.ensurePodCgroup(burstable('b1'));
    expect(parent).toBe('/nodeagent/kubepods/burstable/podb1');
    const dir = 'nodeagent/kubepods/burstable/podb1';
    expect(await value(fake, `cpu,cpuacct/${dir}/cpu.shares`)).toBe('102');
    expect(await value(fake, `cpu,cpuacct/${dir}/cpu.cfs_period_us`)).toBe('100000');
    expect(await value(fake, `cpu,cpuacct/${dir}/cpu.cfs_quota_us`)).toBe('50000');
    expect(await value(fake, `memory/${dir}/memory.limit_in_bytes`)).toBe(String(100 * MiB));
    expect(await value(fake, `pids/${dir}/pids.max`)).toBe('max');
    expect(await value(fake, `hugetlb/${dir}/hugetlb.2MB.limit_in_bytes`)).toBe('0');
    expect(await value(fake, `cpuset/${dir}/cpuset.cpus`)).toBe('0-3');
    for (const h of v1Hierarchies) expect(await fake.exists(`${h}/${dir}`), h).toBe(true);
    expect(await cm.podCgroupExists(burstable('b1'))).toBe(true);
    // Period before quota, as libcontainer writes them.
    const cpuWrites = fake.writes
      .filter((w) => w.path.startsWith(`cpu,cpuacct/${dir}/`))
      .map((w) => w.path.split('/').pop());
    expect(cpuWrites).toEqual(['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us']);
  });

  it('ensurePodCgroup (Guaranteed) goes under kubepods; podPidsLimit and cpuCFSQuota are honoured', async () => {
    const { fake, cm } = await setup('v1', { podPidsLimit: 100, cpuCFSQuota: false });
    expect(await cm.ensurePodCgroup(guaranteed('g1'))).toBe('/nodeagent/kubepods/podg1');
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/podg1/cpu.shares')).toBe('512');
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/podg1/cpu.cfs_quota_us')).toBe('-1');
    expect(await value(fake, 'memory/nodeagent/kubepods/podg1/memory.limit_in_bytes')).toBe(
      String(256 * MiB),
    );
    expect(await value(fake, 'pids/nodeagent/kubepods/podg1/pids.max')).toBe('100');
  });

  it('ensurePodCgroup (BestEffort) sets only 2 shares; the memory limit stays unlimited', async () => {
    const { fake, cm } = await setup('v1');
    expect(await cm.ensurePodCgroup(besteffort('e1'))).toBe('/nodeagent/kubepods/besteffort/pode1');
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/besteffort/pode1/cpu.shares')).toBe(
      '2',
    );
    expect(
      await value(fake, 'cpu,cpuacct/nodeagent/kubepods/besteffort/pode1/cpu.cfs_quota_us'),
    ).toBe('-1');
    expect(
      await value(fake, 'memory/nodeagent/kubepods/besteffort/pode1/memory.limit_in_bytes'),
    ).toBe('9223372036854771712');
  });

  it('the pod huge page limit is its request; other sizes are 0', async () => {
    const { fake, cm } = await setup('v1', {}, { hugePageSizes: ['2MB', '1GB'] });
    await cm.ensurePodCgroup(
      pod('h1', { limits: { cpu: '1', memory: '1Gi', 'hugepages-2Mi': '8Mi' } }),
    );
    expect(await value(fake, 'hugetlb/nodeagent/kubepods/podh1/hugetlb.2MB.limit_in_bytes')).toBe(
      String(8 * MiB),
    );
    expect(await value(fake, 'hugetlb/nodeagent/kubepods/podh1/hugetlb.1GB.limit_in_bytes')).toBe(
      '0',
    );
  });

  it('without hugetlb mounted, huge pages are skipped; a missing required controller is an error', async () => {
    const { fake, cm } = await setup(
      'v1',
      { podPidsLimit: 10 },
      { hierarchies: ['cpu,cpuacct', 'cpuset', 'memory', 'systemd'] },
    );
    await expect(cm.ensurePodCgroup(burstable('b1'))).rejects.toSatisfy(
      (err) => isNodeAgentError(err, ErrorCode.FailedPrecondition) && err.message.includes('pids'),
    );
    const { cm: ok } = await setup(
      'v1',
      {},
      { hierarchies: ['cpu,cpuacct', 'cpuset', 'memory', 'systemd'] },
    );
    await expect(ok.ensurePodCgroup(burstable('b2'))).resolves.toBe(
      '/nodeagent/kubepods/burstable/podb2',
    );
    expect(fake.writes.some((w) => w.path.includes('hugetlb'))).toBe(false);
  });

  it('an existing pod cgroup is left as it is (kubelet EnsureExists)', async () => {
    const { fake, cm } = await setup('v1');
    await cm.ensurePodCgroup(burstable('b1'));
    const writes = fake.writes.length;
    await cm.ensurePodCgroup(
      pod('b1', { requests: { cpu: '1' }, limits: { cpu: '2', memory: '1Gi' } }),
    );
    expect(fake.writes.length).toBe(writes);
    expect(
      await value(fake, 'memory/nodeagent/kubepods/burstable/podb1/memory.limit_in_bytes'),
    ).toBe(String(100 * MiB));
  });

  it('a pod cgroup missing in one hierarchy is completed', async () => {
    const { fake, cm } = await setup('v1');
    await cm.ensurePodCgroup(burstable('b1'));
    await fake.fs.rmdir(`${fake.root}/memory/nodeagent/kubepods/burstable/podb1`);
    expect(await cm.podCgroupExists(burstable('b1'))).toBe(false);
    await cm.ensurePodCgroup(burstable('b1'));
    expect(
      await value(fake, 'memory/nodeagent/kubepods/burstable/podb1/memory.limit_in_bytes'),
    ).toBe(String(100 * MiB));
  });

  it('destroyPodCgroup removes the pod and its leftover container cgroups everywhere, idempotently', async () => {
    const { fake, cm } = await setup('hybrid');
    await cm.ensurePodCgroup(burstable('b1'));
    await cm.ensurePodCgroup(besteffort('e1'));
    // runc leaves (empty) container cgroups, also in name=systemd and the hybrid unified tree.
    for (const h of ['memory', 'systemd', 'unified']) {
      await fake.fs.mkdir(`${fake.root}/${h}/nodeagent/kubepods/burstable/podb1/ctr1`);
    }
    await cm.destroyPodCgroup(burstable('b1'));
    for (const h of [...v1Hierarchies, 'unified']) {
      expect(await fake.exists(`${h}/nodeagent/kubepods/burstable/podb1`), h).toBe(false);
      expect(await fake.exists(`${h}/nodeagent/kubepods/burstable`), h).toBe(true);
      expect(await fake.exists(`${h}/nodeagent/kubepods/besteffort/pode1`), h).toBe(true);
    }
    await cm.destroyPodCgroup(burstable('b1'));
    await cm.destroyPodCgroup('never-existed');
    // By UID alone, wherever the pod's QoS put it.
    await cm.destroyPodCgroup('e1');
    expect(await fake.exists('memory/nodeagent/kubepods/besteffort/pode1')).toBe(false);
  });

  it('destroyPodCgroup retries while tasks remain and succeeds once they are gone', async () => {
    const { fake, cm, clock } = await setup('v1');
    await cm.ensurePodCgroup(burstable('b1'));
    await fake.addTask('memory/nodeagent/kubepods/burstable/podb1', 4242);
    const retries: number[] = [];
    await settle(cm.destroyPodCgroup('b1'), clock, async (n) => {
      retries.push(clock.monotonicNow());
      if (n === 2) await fake.clearTasks('memory/nodeagent/kubepods/burstable/podb1');
    });
    expect(retries).toHaveLength(2);
    expect(await fake.exists('memory/nodeagent/kubepods/burstable/podb1')).toBe(false);
  });

  it('destroyPodCgroup gives up after 5 attempts with a FailedPrecondition naming the pids; nothing is deleted by force', async () => {
    const { fake, cm, clock } = await setup('v1');
    await cm.ensurePodCgroup(burstable('b1'));
    await fake.fs.mkdir(`${fake.root}/memory/nodeagent/kubepods/burstable/podb1/ctr`);
    await fake.addTask('memory/nodeagent/kubepods/burstable/podb1/ctr', 4242);
    const start = clock.monotonicNow();
    let retries = 0;
    const err = await settle(cm.destroyPodCgroup('b1'), clock, async () => {
      retries++;
    }).catch((e: unknown) => e);
    // 5 attempts: 4 waits of 10, 20, 40 and 80 ms (libcontainer RemovePath).
    expect(retries).toBe(4);
    expect(clock.monotonicNow() - start).toBe(150);
    expect(isNodeAgentError(err, ErrorCode.FailedPrecondition)).toBe(true);
    expect((err as Error).message).toMatch(/still has processes 4242/);
    expect(await value(fake, 'memory/nodeagent/kubepods/burstable/podb1/ctr/cgroup.procs')).toBe(
      '4242',
    );
    expect(await cm.podCgroupPids('b1')).toEqual([4242]);
  });

  it('listPodCgroups finds the UIDs under every QoS cgroup', async () => {
    const { fake, cm } = await setup('v1');
    expect(await cm.listPodCgroups()).toEqual([]);
    await cm.ensurePodCgroup(guaranteed('g1'));
    await cm.ensurePodCgroup(burstable('b1'));
    await cm.ensurePodCgroup(besteffort('e1'));
    // A pod dir present only in one hierarchy (half-removed) is still found.
    await fake.fs.mkdir(`${fake.root}/memory/nodeagent/kubepods/burstable/podorphan`);
    expect(await cm.listPodCgroups()).toEqual(['b1', 'e1', 'g1', 'orphan']);
  });

  it('updateQosCgroups sets burstable shares from the Burstable pods and keeps besteffort at 2', async () => {
    const { fake, cm } = await setup('v1');
    await cm.updateQosCgroups([
      burstable('b1'),
      pod('b2', { requests: { cpu: '400m', memory: '1Mi' } }),
      guaranteed('g1'),
      besteffort('e1'),
    ]);
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/burstable/cpu.shares')).toBe('512');
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/besteffort/cpu.shares')).toBe('2');
    await cm.updateQosCgroups([]);
    expect(await value(fake, 'cpu,cpuacct/nodeagent/kubepods/burstable/cpu.shares')).toBe('2');
  });

  it('destroyQosCgroups removes only empty QoS cgroups', async () => {
    const { fake, cm } = await setup('v1');
    await cm.ensurePodCgroup(burstable('b1'));
    expect(await cm.destroyQosCgroups()).toBe(false);
    expect(await fake.exists('memory/nodeagent/kubepods/burstable/podb1')).toBe(true);
    expect(await fake.exists('memory/nodeagent/kubepods/besteffort')).toBe(false);
    await cm.destroyPodCgroup('b1');
    expect(await cm.destroyQosCgroups()).toBe(true);
    for (const h of v1Hierarchies) expect(await fake.exists(`${h}/nodeagent/kubepods`)).toBe(false);
    expect(await fake.exists('memory/nodeagent')).toBe(true);
  });
});

describe('cgroup v2', () => {
  it('ensureQosCgroups enables the controllers down the tree and gives besteffort cpu.weight 1', async () => {
    const { fake, cm } = await setup('v2');
    await cm.ensureQosCgroups();
    expect(await cm.cgroupVersion()).toBe('v2');
    for (const dir of ['', 'nodeagent/', 'nodeagent/kubepods/']) {
      expect(await value(fake, `${dir}cgroup.subtree_control`)).toBe(
        'cpuset cpu io memory hugetlb pids',
      );
    }
    expect(await value(fake, 'nodeagent/kubepods/besteffort/cpu.weight')).toBe('1');
    expect(await value(fake, 'nodeagent/kubepods/burstable/cpu.weight')).toBe('100');
    expect(await value(fake, 'nodeagent/kubepods/burstable/hugetlb.2MB.max')).toBe(String(2 ** 62));
  });

  it('ensurePodCgroup writes cpu.weight, cpu.max, memory.max and pids.max', async () => {
    const { fake, cm } = await setup('v2', { podPidsLimit: 50 });
    expect(await cm.ensurePodCgroup(burstable('b1'))).toBe('/nodeagent/kubepods/burstable/podb1');
    const dir = 'nodeagent/kubepods/burstable/podb1';
    expect(await value(fake, `${dir}/cpu.weight`)).toBe('4');
    expect(await value(fake, `${dir}/cpu.max`)).toBe('50000 100000');
    expect(await value(fake, `${dir}/memory.max`)).toBe(String(100 * MiB));
    expect(await value(fake, `${dir}/pids.max`)).toBe('50');
    expect(await value(fake, `${dir}/hugetlb.2MB.max`)).toBe('0');
    expect(await value(fake, 'nodeagent/kubepods/burstable/cgroup.subtree_control')).toBe(
      'cpuset cpu io memory hugetlb pids',
    );
  });

  it('without CPU limit enforcement cpu.max is "max <period>"', async () => {
    const { fake, cm } = await setup('v2', { cpuCFSQuota: false, cpuCFSQuotaPeriodUs: 50_000 });
    await cm.ensurePodCgroup(guaranteed('g1'));
    expect(await value(fake, 'nodeagent/kubepods/podg1/cpu.max')).toBe('max 50000');
    expect(await value(fake, 'nodeagent/kubepods/podg1/cpu.weight')).toBe(
      String(1 + Math.trunc((510 * 9999) / 262142)),
    );
  });

  it('destroy and list work on the unified tree', async () => {
    const { fake, cm } = await setup('v2');
    await cm.ensurePodCgroup(burstable('b1'));
    await cm.ensurePodCgroup(guaranteed('g1'));
    expect(await cm.listPodCgroups()).toEqual(['b1', 'g1']);
    await cm.destroyPodCgroup(guaranteed('g1'));
    expect(await fake.exists('nodeagent/kubepods/podg1')).toBe(false);
    expect(await cm.listPodCgroups()).toEqual(['b1']);
  });
});
