import { InvalidConfigError, type k8s } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { SysctlAdmitHandler, normalizeSysctlName, sysctlNamespace } from './sysctl.js';

function pod(sysctls: { name: string; value: string }[], spec: Partial<k8s.PodSpec> = {}): k8s.Pod {
  return {
    metadata: { name: 'p', uid: 'u' },
    spec: { containers: [{ name: 'c', image: 'i' }], securityContext: { sysctls }, ...spec },
  };
}

describe('SysctlAdmitHandler (kubelet sysctl allowlist)', () => {
  it('admits safe sysctls and pods without sysctls', () => {
    const h = new SysctlAdmitHandler();
    expect(h.admit({ pod: pod([]), otherPods: [] })).toEqual({ admit: true });
    expect(
      h.admit({
        pod: pod([
          { name: 'kernel.shm_rmid_forced', value: '1' },
          { name: 'net.ipv4.ip_local_port_range', value: '1024 65535' },
        ]),
        otherPods: [],
      }),
    ).toEqual({ admit: true });
  });

  it('refuses an unsafe sysctl that is not allowed: SysctlForbidden', () => {
    const h = new SysctlAdmitHandler();
    expect(
      h.admit({ pod: pod([{ name: 'kernel.msgmax', value: '10000000000' }]), otherPods: [] }),
    ).toEqual({
      admit: false,
      reason: 'SysctlForbidden',
      message: 'forbidden sysctl: "kernel.msgmax" not allowlisted',
    });
  });

  it('allows unsafe sysctls by name or prefix; refuses net ones with host network and ipc ones with host IPC', () => {
    const h = new SysctlAdmitHandler({
      allowedUnsafeSysctls: ['kernel.msg*', 'net.core.somaxconn'],
    });
    expect(h.admit({ pod: pod([{ name: 'kernel.msgmax', value: '1' }]), otherPods: [] })).toEqual({
      admit: true,
    });
    expect(
      h.admit({ pod: pod([{ name: 'net.core.somaxconn', value: '1024' }]), otherPods: [] }),
    ).toEqual({
      admit: true,
    });
    expect(
      h.admit({
        pod: pod([{ name: 'net.core.somaxconn', value: '1024' }], { hostNetwork: true }),
        otherPods: [],
      }),
    ).toMatchObject({
      admit: false,
      message: 'forbidden sysctl: "net.core.somaxconn" not allowed with host net enabled',
    });
    expect(
      h.admit({
        pod: pod([{ name: 'kernel.msgmax', value: '1' }], { hostIPC: true }),
        otherPods: [],
      }),
    ).toMatchObject({
      admit: false,
      message: 'forbidden sysctl: "kernel.msgmax" not allowed with host ipc enabled',
    });
  });

  it('refuses to allow a sysctl that is not namespaced', () => {
    expect(() => new SysctlAdmitHandler({ allowedUnsafeSysctls: ['vm.swappiness'] })).toThrow(
      InvalidConfigError,
    );
    expect(sysctlNamespace('fs.mqueue.msg_max')).toBe('ipc');
    expect(sysctlNamespace('kernel.sem')).toBe('ipc');
    expect(sysctlNamespace('vm.overcommit_memory')).toBeUndefined();
  });

  it('normalizes slash-separated names', () => {
    expect(normalizeSysctlName('net/ipv4/conf/eno2.100/rp_filter')).toBe(
      'net.ipv4.conf.eno2/100.rp_filter',
    );
    expect(normalizeSysctlName('net.ipv4.tcp_syncookies')).toBe('net.ipv4.tcp_syncookies');
  });
});
