/**
 * Parsers of the kernel's text files that node stats are read from: /proc/meminfo,
 * /proc/stat, /proc/vmstat, /proc/net/dev, /proc/loadavg and the cgroup `*.stat`
 * files. Pure functions over the file's text, so they run on fixtures.
 */

/** USER_HZ on Linux: /proc/stat counts CPU time in 1/100 s ticks. */
export const userHz = 100;

/** `key value` lines (memory.stat, cpu.stat, /proc/vmstat) as a map; other lines are skipped. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const value = Number(line.slice(sp + 1).trim());
    if (Number.isFinite(value)) out.set(line.slice(0, sp), value);
  }
  return out;
}

/** /proc/meminfo as bytes by field name (`MemTotal`, `Inactive(file)`…); `kB` values × 1024. */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)(\s+kB)?/.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    out.set(m[1]!, m[3] ? value * 1024 : value);
  }
  return out;
}

/** What /proc/stat tells about the machine. */
export interface ProcStat {
  /**
   * Busy CPU time of all cores since boot, nanoseconds: user + nice + system + irq +
   * softirq + steal (guest time is already inside user); idle and iowait excluded.
   */
  cpuUsageNanoSeconds: number | undefined;
  /** Boot time, seconds since the epoch (`btime`). */
  bootTimeSeconds: number | undefined;
}

/** Parses /proc/stat: the aggregate `cpu` line and `btime`. */
export function parseProcStat(text: string): ProcStat {
  let cpuUsageNanoSeconds: number | undefined;
  let bootTimeSeconds: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu ')) {
      const f = line.trim().split(/\s+/).slice(1).map(Number);
      const tick = (i: number): number => f[i] ?? 0;
      // user nice system idle iowait irq softirq steal guest guest_nice
      const busy = tick(0) + tick(1) + tick(2) + tick(5) + tick(6) + tick(7);
      cpuUsageNanoSeconds = busy * (1e9 / userHz);
    } else if (line.startsWith('btime ')) {
      bootTimeSeconds = Number(line.slice(6).trim());
    }
  }
  return { cpuUsageNanoSeconds, bootTimeSeconds };
}

/** Cumulative counters of one interface from /proc/net/dev. */
export interface NetDevCounters {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** Parses /proc/net/dev (two header lines, then `name: 8 receive and 8 transmit columns`). */
export function parseNetDev(text: string): NetDevCounters[] {
  const out: NetDevCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === '' || f.length < 16 || f.some((v) => !Number.isFinite(v))) continue;
    out.push({
      name,
      rxBytes: f[0]!,
      rxPackets: f[1]!,
      rxErrors: f[2]!,
      rxDropped: f[3]!,
      txBytes: f[8]!,
      txPackets: f[9]!,
      txErrors: f[10]!,
      txDropped: f[11]!,
    });
  }
  return out;
}

/**
 * The number of tasks (processes and threads) from /proc/loadavg's fourth field
 * (`running/total`), as the kubelet's pidlimit does (sysinfo(2) truncates it).
 */
export function parseLoadavgTasks(text: string): number | undefined {
  const field = text.trim().split(/\s+/)[3];
  const total = field?.split('/')[1];
  if (total === undefined) return undefined;
  const n = Number(total);
  return Number.isInteger(n) ? n : undefined;
}

/** A single integer file (`pid_max`, `cpuacct.usage`, `memory.usage_in_bytes`); `max` → undefined. */
export function parseSingleNumber(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}
