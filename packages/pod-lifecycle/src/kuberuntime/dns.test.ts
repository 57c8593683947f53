import { describe, expect, it } from 'vitest';
import type { k8s } from '@nodeagent/core';
import { container, pod } from './__fixtures__/pods.js';
import { parseResolvConf, podDNSConfig, podDNSType, type PodDNSConfig } from './dns.js';
import { InvalidPodSpecError } from './errors.js';

const resolvConf = `# generated
nameserver 192.168.1.1
nameserver 192.168.1.2   # second
; comment
search example.com. corp.example.com
options timeout:2 attempts:3
options timeout:1
`;

function withDns(spec: Partial<k8s.PodSpec> & { dnsConfig?: PodDNSConfig }): k8s.Pod {
  return pod([container('a')], spec);
}

describe('parseResolvConf', () => {
  it('reads servers, the last search line, and merged options', () => {
    expect(parseResolvConf(resolvConf)).toEqual({
      servers: ['192.168.1.1', '192.168.1.2'],
      searches: ['example.com', 'corp.example.com'],
      options: ['timeout:1', 'attempts:3'],
    });
    expect(parseResolvConf('')).toEqual({ servers: [], searches: [], options: [] });
  });
});

describe('podDNSType', () => {
  it('maps policies like the kubelet', () => {
    expect(podDNSType(withDns({}))).toBe('ClusterFirst');
    expect(podDNSType(withDns({ hostNetwork: true }))).toBe('Default');
    expect(podDNSType(withDns({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }))).toBe(
      'ClusterFirst',
    );
    expect(podDNSType(withDns({ dnsPolicy: 'Default' }))).toBe('Default');
    expect(podDNSType(withDns({ dnsPolicy: 'None' }))).toBe('None');
    expect(() => podDNSType(withDns({ dnsPolicy: 'Bogus' }))).toThrow(InvalidPodSpecError);
  });
});

describe('podDNSConfig', () => {
  const cluster = { clusterDomain: 'cluster.local', clusterDNS: ['10.96.0.10'], resolvConf };

  it('ClusterFirst: cluster DNS, cluster searches + node searches, ndots:5', () => {
    expect(podDNSConfig(withDns({}), cluster)).toEqual({
      servers: ['10.96.0.10'],
      searches: [
        'team.svc.cluster.local',
        'svc.cluster.local',
        'cluster.local',
        'example.com',
        'corp.example.com',
      ],
      options: ['ndots:5'],
    });
  });

  it('ClusterFirst without cluster DNS falls back to Default', () => {
    expect(podDNSConfig(withDns({}), { resolvConf })).toEqual({
      servers: ['192.168.1.1', '192.168.1.2'],
      searches: ['example.com', 'corp.example.com'],
      options: ['timeout:1', 'attempts:3'],
    });
  });

  it('Default (and host-network ClusterFirst) use the node resolv.conf', () => {
    expect(podDNSConfig(withDns({ dnsPolicy: 'Default' }), cluster).servers).toEqual([
      '192.168.1.1',
      '192.168.1.2',
    ]);
    expect(podDNSConfig(withDns({ hostNetwork: true }), cluster).servers).toEqual([
      '192.168.1.1',
      '192.168.1.2',
    ]);
  });

  it('without a resolv.conf the node DNS is localhost with search "."', () => {
    expect(podDNSConfig(withDns({ dnsPolicy: 'Default' }), {})).toEqual({
      servers: ['127.0.0.1'],
      searches: ['.'],
      options: [],
    });
    expect(
      podDNSConfig(withDns({ dnsPolicy: 'Default' }), { nodeIPs: ['fd00::1'] }).servers,
    ).toEqual(['::1']);
  });

  it('None uses only pod.spec.dnsConfig; dnsConfig merges into other policies', () => {
    const dnsConfig: PodDNSConfig = {
      nameservers: ['1.1.1.1', '10.96.0.10'],
      searches: ['my.ns', 'cluster.local'],
      options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
    };
    expect(podDNSConfig(withDns({ dnsPolicy: 'None', dnsConfig }), cluster)).toEqual({
      servers: ['1.1.1.1', '10.96.0.10'],
      searches: ['my.ns', 'cluster.local'],
      options: ['ndots:2', 'edns0'],
    });
    expect(podDNSConfig(withDns({ dnsPolicy: 'None' }), cluster)).toEqual({
      servers: [],
      searches: [],
      options: [],
    });
    expect(podDNSConfig(withDns({ dnsConfig }), cluster)).toEqual({
      servers: ['10.96.0.10', '1.1.1.1'],
      searches: [
        'team.svc.cluster.local',
        'svc.cluster.local',
        'cluster.local',
        'example.com',
        'corp.example.com',
        'my.ns',
      ],
      options: ['ndots:2', 'edns0'],
    });
  });

  it('cuts to resolver limits', () => {
    const many = {
      nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'],
      searches: Array.from({ length: 40 }, (_, i) => `d${i}.example`),
    };
    const r = podDNSConfig(withDns({ dnsPolicy: 'None', dnsConfig: many }), {});
    expect(r.servers).toEqual(['1.1.1.1', '2.2.2.2', '3.3.3.3']);
    expect(r.searches).toHaveLength(32);
  });
});
