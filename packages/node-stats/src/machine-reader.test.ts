import { describe, expect, it } from 'vitest';
import { MemoryFs } from './__fixtures__/memory-fs.js';
import { CgroupReader, workingSetBytes } from './cgroup-reader.js';
import { MachineReader } from './machine-reader.js';

const kb = 1024;
const memTotal = 4030000 * kb;

function reader(cgroups: 'cgroup-v1' | 'cgroup-v2' | undefined): {
  fs: MemoryFs;
  m: MachineReader;
} {
  const fs = new MemoryFs().loadFixture('proc', '/proc');
  if (cgroups) fs.loadFixture(cgroups, '/sys/fs/cgroup');
  return { fs, m: new MachineReader(fs, new CgroupReader(fs), '/proc') };
}

describe('MachineReader', () => {
  it('cgroup v1: CPU from the root cpuacct.usage, memory from the root memory cgroup', async () => {
    const { m } = reader('cgroup-v1');
    expect(await m.cpuUsageNanoSeconds()).toBe(6955807325653);
    const mem = await m.memory();
    // working set = usage_in_bytes − total_inactive_file
    expect(mem.usageBytes).toBe(2_000_000_000);
    expect(mem.workingSetBytes).toBe(1_500_000_000);
    expect(mem.availableBytes).toBe(memTotal - 1_500_000_000);
    expect(mem.rssBytes).toBe(700_000_000);
    expect(mem.pageFaults).toBe(164923575);
    expect(mem.majorPageFaults).toBe(7746);
  });

  it('cgroup v2: CPU from cpu.stat usage_usec; usage from meminfo, working set from memory.stat', async () => {
    const { m } = reader('cgroup-v2');
    expect(await m.cpuUsageNanoSeconds()).toBe(7_000_000_000_000);
    const mem = await m.memory();
    const usage = (4030000 - 1200000) * kb;
    expect(mem.usageBytes).toBe(usage);
    expect(mem.workingSetBytes).toBe(usage - 800_000_000);
    expect(mem.availableBytes).toBe(memTotal - (usage - 800_000_000));
    expect(mem.rssBytes).toBe(600_000_000);
    expect(mem.pageFaults).toBe(2_000_000);
    expect(mem.majorPageFaults).toBe(321);
  });

  it('without cgroups falls back to /proc/stat, /proc/meminfo and /proc/vmstat', async () => {
    const { m } = reader(undefined);
    expect(await m.cpuUsageNanoSeconds()).toBe((501618 + 178358 + 2707 + 211) * 10_000_000);
    const mem = await m.memory();
    const usage = (4030000 - 1200000) * kb;
    expect(mem.workingSetBytes).toBe(usage - 890000 * kb);
    expect(mem.rssBytes).toBe(650000 * kb);
    expect(mem.pageFaults).toBe(164923575);
  });

  it('network leaves out loopback and veth interfaces', async () => {
    const { m } = reader('cgroup-v1');
    expect((await m.network()).map((i) => i.name)).toEqual(['eth0', 'eth1']);
  });

  it('rlimit: the smaller of pid_max and threads-max, tasks from loadavg', async () => {
    const { fs, m } = reader('cgroup-v1');
    expect(await m.rlimit()).toEqual({ maxPid: 31459, tasks: 197 });
    fs.files.delete('/proc/sys/kernel/threads-max');
    expect((await m.rlimit()).maxPid).toBeUndefined();
  });

  it('boot time from btime', async () => {
    expect(await reader('cgroup-v1').m.bootTimeMs()).toBe(1767225600_000);
  });

  it('reads a non-root v1 cgroup with its limit', async () => {
    const { fs } = reader('cgroup-v1');
    const cg = new CgroupReader(fs);
    expect(await cg.cpuUsageNanoSeconds('/system.slice/containerd.service')).toBe(123e9);
    const mem = await cg.memory('/system.slice/containerd.service/');
    expect(mem).toMatchObject({ usageBytes: 300_000_000, limitBytes: 1073741824 });
    expect((await cg.memory('/'))?.limitBytes).toBeUndefined(); // 9223372036854771712 = unlimited
    expect(await cg.memory('/nope')).toBeUndefined();
  });

  it('working set never goes below zero', () => {
    expect(workingSetBytes(100, 150)).toBe(0);
    expect(workingSetBytes(100, undefined)).toBe(100);
  });
});
