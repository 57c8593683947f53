import { InvalidConfigError } from '@nodeagent/core';
import type { PodAdmitAttributes, PodAdmitHandler, PodAdmitResult } from './types.js';

/** The event and status reason of a pod refused for its sysctls (kubelet `sysctl.ForbiddenReason`). */
export const sysctlForbiddenReason = 'SysctlForbidden';

/**
 * Sysctls every pod may set (kubelet `SafeSysctlAllowlist` on a current kernel): they
 * are namespaced and cannot affect other pods or the node.
 */
export const safeSysctls: readonly string[] = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
];

type SysctlNamespace = 'ipc' | 'net';

/**
 * The kernel namespace a sysctl (or a `prefix*` pattern) belongs to, undefined when it
 * is not namespaced (kubelet `NamespacedBy`): `kernel.shm*`, `kernel.msg*`,
 * `kernel.sem`, `fs.mqueue.*` → ipc; `net.*` → net.
 */
export function sysctlNamespace(name: string): SysctlNamespace | undefined {
  const n = name.endsWith('*') ? name.slice(0, -1) : name;
  if (
    n.startsWith('kernel.shm') ||
    n.startsWith('kernel.msg') ||
    n === 'kernel.sem' ||
    n.startsWith('fs.mqueue.')
  ) {
    return 'ipc';
  }
  if (n.startsWith('net.')) return 'net';
  return undefined;
}

/**
 * A sysctl name in dotted form (kubelet `NormalizeName`): a name written with `/`
 * separators has its `/` and `.` swapped (`net/ipv4/conf/eno2.100/rp_filter` →
 * `net.ipv4.conf.eno2/100.rp_filter`).
 */
export function normalizeSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first < 0 || name[first] === '.') return name;
  return name.replace(/[./]/g, (c) => (c === '/' ? '.' : '/'));
}

/**
 * The kubelet's sysctl allow-list admission (`patternAllowlist`): a pod may set the
 * {@link safeSysctls} and the node's `allowedUnsafeSysctls` (names, or prefixes ending
 * in `*`); a net sysctl is refused for a host-network pod and an ipc one for a host-IPC
 * pod. Refusals are `SysctlForbidden` with `forbidden sysctl: "<name>" not allowlisted`.
 */
export class SysctlAdmitHandler implements PodAdmitHandler {
  readonly name = 'sysctl';
  private readonly sysctls = new Map<string, SysctlNamespace>();
  private readonly prefixes = new Map<string, SysctlNamespace>();

  /** @throws InvalidConfigError for an allowed unsafe sysctl that is not namespaced. */
  constructor(options: { allowedUnsafeSysctls?: readonly string[] } = {}) {
    for (const s of [...safeSysctls, ...(options.allowedUnsafeSysctls ?? [])]) {
      const ns = sysctlNamespace(s);
      if (ns === undefined) {
        throw new InvalidConfigError(
          `allowedUnsafeSysctls: the sysctl "${s}" is not known to be namespaced`,
        );
      }
      if (s.endsWith('*')) this.prefixes.set(s.slice(0, -1), ns);
      else this.sysctls.set(s, ns);
    }
  }

  /** Why the sysctl is forbidden for such a pod, or undefined when it is allowed. */
  validate(sysctl: string, hostNetwork: boolean, hostIPC: boolean): string | undefined {
    const name = normalizeSysctlName(sysctl);
    let ns = this.sysctls.get(name);
    if (ns === undefined) {
      for (const [prefix, pns] of this.prefixes) {
        if (name.startsWith(prefix)) {
          ns = pns;
          break;
        }
      }
    }
    if (ns === undefined) return `"${name}" not allowlisted`;
    if (ns === 'ipc' && hostIPC) return `"${name}" not allowed with host ipc enabled`;
    if (ns === 'net' && hostNetwork) return `"${name}" not allowed with host net enabled`;
    return undefined;
  }

  admit({ pod }: PodAdmitAttributes): PodAdmitResult {
    for (const s of pod.spec?.securityContext?.sysctls ?? []) {
      const why = this.validate(s.name, pod.spec?.hostNetwork === true, pod.spec?.hostIPC === true);
      if (why !== undefined) {
        return { admit: false, reason: sysctlForbiddenReason, message: `forbidden sysctl: ${why}` };
      }
    }
    return { admit: true };
  }
}
