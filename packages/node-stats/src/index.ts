/**
 * @nodeagent/node-stats — node, pod and container resource usage in the kubelet's
 * `/stats/summary` shape (core's `StatsProvider`), from the CRI, cgroups, /proc and
 * statfs, following the kubelet's CRI stats provider.
 */
export { NodeStatsProvider, createStatsProvider, removeTerminatedPods } from './stats-provider.js';
export type { StatsProviderOptions, StatsRuntime } from './stats-provider.js';
export { registerNodeStats } from './register.js';
export type { RegisterNodeStatsOptions } from './register.js';
export { CgroupReader, workingSetBytes } from './cgroup-reader.js';
export type { CgroupMemory, CgroupVersion } from './cgroup-reader.js';
export { MachineReader, ignoredInterfacePrefixes } from './machine-reader.js';
export type { MachineMemory, MachineRlimit } from './machine-reader.js';
export { CpuUsageCache, defaultCpuUsageCachePeriodMs } from './cpu-usage-cache.js';
export type { CpuSample } from './cpu-usage-cache.js';
export { diskUsage } from './disk-usage.js';
export type { DiskUsage, DiskUsageOptions } from './disk-usage.js';
export { fsCapacity, fsStatsFromStatfs } from './fs-stats.js';
export { nodeHostFs, tmpfsMagic, isNotFound } from './host-fs.js';
export type { FileStat, HostFilesystem, StatFs } from './host-fs.js';
export {
  parseFlatKeyed,
  parseLoadavgTasks,
  parseMeminfo,
  parseNetDev,
  parseProcStat,
  parseSingleNumber,
  userHz,
} from './proc.js';
export type { NetDevCounters, ProcStat } from './proc.js';
export {
  CadvisorMetrics,
  cadvisorMetricsContentType,
  cpuTopology,
  createCadvisorMetrics,
  imageFromVerboseInfo,
} from './cadvisor-metrics.js';
export type {
  CadvisorMetricsOptions,
  CadvisorRuntime,
  InterfaceCounters,
} from './cadvisor-metrics.js';
