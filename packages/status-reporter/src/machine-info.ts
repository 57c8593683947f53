import { readFile, readdir, statfs } from 'node:fs/promises';
import { arch, cpus, hostname, networkInterfaces, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { createToken, type InjectionToken } from '@nodeagent/core';

/** Huge pages of one page size (`/sys/kernel/mm/hugepages/hugepages-<size>kB`). */
export interface HugePages {
  /** Page size in bytes (2 MiB, 1 GiB…). */
  pageSizeBytes: number;
  /** Pages reserved (`nr_hugepages`). */
  count: number;
}

/**
 * What the node is made of, as the kubelet learns it from cAdvisor's `MachineInfo`,
 * `VersionInfo` and the Go runtime. Read once when the node status manager starts.
 */
export interface MachineInfo {
  /** The host name, lower-cased (kubelet default node name and `kubernetes.io/hostname`). */
  hostname: string;
  /** `/etc/machine-id`; `''` when unknown. */
  machineId: string;
  /** `/sys/class/dmi/id/product_uuid`; `''` when unknown. */
  systemUuid: string;
  /** `/proc/sys/kernel/random/boot_id`; changes on every boot. */
  bootId: string;
  /** `uname -r`, e.g. `6.1.0-18-amd64`. */
  kernelVersion: string;
  /** `PRETTY_NAME` of `/etc/os-release`, e.g. `Debian GNU/Linux 12 (bookworm)`. */
  osImage: string;
  /** GOOS-style name: `linux`. */
  operatingSystem: string;
  /** GOARCH-style name: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`. */
  architecture: string;
  /** Logical CPUs (node capacity `cpu`). */
  numCores: number;
  /** Physical memory in bytes (`MemTotal`; node capacity `memory`). */
  memoryCapacityBytes: number;
  /** Reserved huge pages per page size (node capacity `hugepages-<size>`). */
  hugePages: HugePages[];
  /** Size in bytes of the filesystem holding the agent's root directory (capacity `ephemeral-storage`). */
  rootFsCapacityBytes: number;
  /**
   * Candidate node IPs, best first: the default-route interface's addresses, then other
   * non-loopback, non-link-local addresses (IPv4 before IPv6).
   */
  addresses: string[];
}

/** Where node status reads the {@link MachineInfo} from; inject fixed values in tests. */
export interface MachineInfoProvider {
  read(): Promise<MachineInfo>;
}
export const MachineInfoProvider: InjectionToken<MachineInfoProvider> =
  createToken<MachineInfoProvider>('MachineInfoProvider');

/** Node's `process.arch` → Go's GOARCH (what Kubernetes labels use). */
export function goArch(nodeArch: string = arch()): string {
  const map: Readonly<Record<string, string>> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips: 'mips',
    mipsel: 'mipsle',
  };
  return map[nodeArch] ?? nodeArch;
}

/** Node's `process.platform` → Go's GOOS. */
export function goOs(platform: string = process.platform): string {
  return platform === 'win32' ? 'windows' : platform;
}

/** Options of {@link HostMachineInfoProvider}. */
export interface HostMachineInfoOptions {
  /**
   * The agent's root directory (kubelet `--root-dir`, default `/var/lib/kubelet`);
   * `ephemeral-storage` capacity is the size of its filesystem (the nearest existing
   * parent when it does not exist yet).
   */
  rootDir?: string;
  /** Prefix for `/proc`, `/sys` and `/etc` (tests); default `''`. */
  hostRoot?: string;
}

async function readTrimmed(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return '';
  }
}

/** Parses `/etc/os-release` and returns `PRETTY_NAME` (cAdvisor's `ContainerOsVersion`). */
export function parseOsRelease(text: string): string {
  for (const line of text.split('\n')) {
    const m = /^PRETTY_NAME=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) return m[1].replace(/^["']|["']$/g, '');
  }
  return '';
}

/** `MemTotal` of `/proc/meminfo` in bytes, undefined when absent. */
export function parseMemTotal(text: string): number | undefined {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
}

/** The interface of the IPv4 default route in `/proc/net/route`, undefined when none. */
export function parseDefaultRouteInterface(text: string): string | undefined {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === '00000000' && f[7] === '00000000' && f[0]) return f[0];
  }
  return undefined;
}

/**
 * Reads machine facts from the host: `/proc`, `/sys`, `/etc`, `statfs` of the root
 * directory and `os` (cAdvisor's sources for the kubelet).
 */
export class HostMachineInfoProvider implements MachineInfoProvider {
  private readonly rootDir: string;
  private readonly hostRoot: string;

  constructor(options: HostMachineInfoOptions = {}) {
    this.rootDir = options.rootDir ?? '/var/lib/kubelet';
    this.hostRoot = options.hostRoot ?? '';
  }

  async read(): Promise<MachineInfo> {
    const p = (path: string): string => `${this.hostRoot}${path}`;
    const [machineId, dbusMachineId, systemUuid, bootId, osRelease, meminfo, routes] =
      await Promise.all([
        readTrimmed(p('/etc/machine-id')),
        readTrimmed(p('/var/lib/dbus/machine-id')),
        readTrimmed(p('/sys/class/dmi/id/product_uuid')),
        readTrimmed(p('/proc/sys/kernel/random/boot_id')),
        readTrimmed(p('/etc/os-release')),
        readTrimmed(p('/proc/meminfo')),
        readTrimmed(p('/proc/net/route')),
      ]);
    return {
      hostname: hostname().toLowerCase(),
      machineId: machineId || dbusMachineId,
      systemUuid,
      bootId,
      kernelVersion: release(),
      osImage: parseOsRelease(osRelease) || 'Linux',
      operatingSystem: goOs(),
      architecture: goArch(),
      numCores: cpus().length,
      memoryCapacityBytes: parseMemTotal(meminfo) ?? totalmem(),
      hugePages: await this.hugePages(),
      rootFsCapacityBytes: await this.rootFsCapacity(),
      addresses: this.addresses(parseDefaultRouteInterface(routes)),
    };
  }

  private async hugePages(): Promise<HugePages[]> {
    const dir = `${this.hostRoot}/sys/kernel/mm/hugepages`;
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return [];
    }
    const out: HugePages[] = [];
    for (const entry of entries) {
      const m = /^hugepages-(\d+)kB$/.exec(entry);
      if (m?.[1] === undefined) continue;
      const count = Number(await readTrimmed(`${dir}/${entry}/nr_hugepages`));
      out.push({ pageSizeBytes: Number(m[1]) * 1024, count: Number.isFinite(count) ? count : 0 });
    }
    return out.sort((a, b) => a.pageSizeBytes - b.pageSizeBytes);
  }

  private async rootFsCapacity(): Promise<number> {
    let dir = this.rootDir;
    for (;;) {
      try {
        const s = await statfs(dir);
        return s.blocks * s.bsize;
      } catch {
        const parent = dirname(dir);
        if (parent === dir) return 0;
        dir = parent;
      }
    }
  }

  private addresses(defaultInterface: string | undefined): string[] {
    const interfaces = networkInterfaces();
    const ordered = Object.keys(interfaces).sort((a, b) =>
      a === defaultInterface ? -1 : b === defaultInterface ? 1 : 0,
    );
    const v4: string[] = [];
    const v6: string[] = [];
    for (const name of ordered) {
      for (const addr of interfaces[name] ?? []) {
        if (addr.internal) continue;
        if (addr.family === 'IPv4') v4.push(addr.address);
        else if (!addr.address.toLowerCase().startsWith('fe80')) v6.push(addr.address);
      }
    }
    if (defaultInterface === undefined) return [...v4, ...v6];
    // Addresses of the default-route interface first, IPv4 before IPv6 within each group.
    const own = new Set(
      (interfaces[defaultInterface] ?? []).filter((a) => !a.internal).map((a) => a.address),
    );
    return [...v4, ...v6].sort((a, b) => Number(own.has(b)) - Number(own.has(a)));
  }
}

/** The host's machine info provider (see {@link HostMachineInfoProvider}). */
export function createHostMachineInfoProvider(
  options: HostMachineInfoOptions = {},
): MachineInfoProvider {
  return new HostMachineInfoProvider(options);
}
