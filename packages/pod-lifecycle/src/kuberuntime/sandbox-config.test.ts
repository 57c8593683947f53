import { describe, expect, it } from 'vitest';
import type { k8s } from '@nodeagent/core';
import { container, pod } from './__fixtures__/pods.js';
import { InvalidPodSpecError } from './errors.js';
import { makePodSandboxConfig, makePortMappings, podSandboxHostname } from './sandbox-config.js';

const options = {
  attempt: 2,
  podLogsDir: '/var/log/pods',
  cgroupParent: '/nodeagent/kubepods/burstable/pod1234-abcd',
  dns: {
    clusterDomain: 'cluster.local',
    clusterDNS: ['10.96.0.10'],
    resolvConf: 'nameserver 9.9.9.9\nsearch lan\n',
  },
};

describe('makePodSandboxConfig', () => {
  it('builds the whole config', () => {
    const p = pod(
      [
        container(
          'web',
          { cpu: '100m' },
          { memory: '64Mi' },
          {
            ports: [
              { name: 'http', containerPort: 80, hostPort: 8080, hostIP: '127.0.0.1' },
              { containerPort: 9090 },
            ],
          },
        ),
        container('dns', undefined, undefined, {
          ports: [{ containerPort: 53, hostPort: 5353, protocol: 'UDP' }],
        }),
      ],
      {
        securityContext: {
          runAsUser: 1000,
          sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }],
        },
      },
      { labels: { app: 'web' }, annotations: { 'kubernetes.io/config.source': 'file' } },
    );
    expect(makePodSandboxConfig(p, options)).toEqual({
      metadata: { name: 'web', namespace: 'team', uid: '1234-abcd', attempt: 2 },
      hostname: 'web',
      logDirectory: '/var/log/pods/team_web_1234-abcd',
      dnsConfig: {
        servers: ['10.96.0.10'],
        searches: ['team.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'lan'],
        options: ['ndots:5'],
      },
      portMappings: [
        { protocol: 'TCP', containerPort: 80, hostPort: 8080, hostIp: '127.0.0.1' },
        { protocol: 'UDP', containerPort: 53, hostPort: 5353, hostIp: '' },
      ],
      labels: {
        app: 'web',
        'io.kubernetes.pod.name': 'web',
        'io.kubernetes.pod.namespace': 'team',
        'io.kubernetes.pod.uid': '1234-abcd',
      },
      annotations: { 'kubernetes.io/config.source': 'file' },
      linux: {
        cgroupParent: '/nodeagent/kubepods/burstable/pod1234-abcd',
        securityContext: {
          namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
          privileged: false,
          seccomp: { profileType: 'RuntimeDefault' },
          runAsUser: { value: 1000 },
        },
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0' },
        resources: {
          cpuShares: 102,
          cpuPeriod: 100000,
          cpuQuota: 0,
          memoryLimitInBytes: 64 * 1024 * 1024,
        },
      },
    });
  });

  it('host network: empty hostname, NODE namespaces, node DNS', () => {
    const p = pod([container('a')], { hostNetwork: true, hostPID: true });
    const c = makePodSandboxConfig(p, options);
    expect(c.hostname).toBe('');
    expect(c.linux?.securityContext?.namespaceOptions).toEqual({
      network: 'NODE',
      pid: 'NODE',
      ipc: 'POD',
    });
    expect(c.dnsConfig).toEqual({ servers: ['9.9.9.9'], searches: ['lan'], options: [] });
  });

  it('defaults namespace to "default"; rejects pods without name or uid and bad attempts', () => {
    const p = pod([container('a')], {}, { namespace: undefined as unknown as string });
    delete p.metadata.namespace;
    expect(makePodSandboxConfig(p, options).logDirectory).toBe(
      '/var/log/pods/default_web_1234-abcd',
    );
    expect(() => makePodSandboxConfig(pod([container('a')], {}, { uid: '' }), options)).toThrow(
      /metadata\.uid: pod has no UID/,
    );
    expect(() => makePodSandboxConfig(pod([container('a')], {}, { name: '' }), options)).toThrow(
      InvalidPodSpecError,
    );
    expect(() => makePodSandboxConfig(pod([container('a')]), { ...options, attempt: -1 })).toThrow(
      /attempt/,
    );
  });
});

describe('podSandboxHostname', () => {
  const withSpec = (spec: Partial<k8s.PodSpec> & { setHostnameAsFQDN?: boolean }, name = 'web') =>
    pod([container('a')], spec, { name });

  it('uses spec.hostname, the pod name, truncation and FQDN rules', () => {
    expect(podSandboxHostname(withSpec({ hostname: 'custom' }))).toBe('custom');
    expect(podSandboxHostname(withSpec({ subdomain: 'sub' }), 'cluster.local')).toBe('web');
    expect(
      podSandboxHostname(withSpec({ subdomain: 'sub', setHostnameAsFQDN: true }), 'cluster.local'),
    ).toBe('web.sub.team.svc.cluster.local');
    const long = `${'a'.repeat(62)}-b-c`;
    expect(podSandboxHostname(withSpec({}, long))).toBe('a'.repeat(62));
  });

  it('rejects invalid hostnames, subdomains and too-long FQDNs', () => {
    expect(() => podSandboxHostname(withSpec({ hostname: 'Bad_Name' }))).toThrow(
      /spec\.hostname: "Bad_Name" is not a valid DNS label/,
    );
    expect(() => podSandboxHostname(withSpec({ subdomain: '-x' }))).toThrow(/spec\.subdomain/);
    expect(() =>
      podSandboxHostname(
        withSpec({ hostname: 'h'.repeat(40), subdomain: 's'.repeat(20), setHostnameAsFQDN: true }),
        'cluster.local',
      ),
    ).toThrow(/FQDN .* is too long/);
  });
});

describe('makePortMappings', () => {
  it('skips ports without hostPort and duplicates', () => {
    const p = pod([
      container('a', undefined, undefined, {
        ports: [
          { containerPort: 80, hostPort: 8080 },
          { containerPort: 80, hostPort: 8080 },
          { containerPort: 81 },
        ],
      }),
    ]);
    expect(makePortMappings(p)).toEqual([
      { protocol: 'TCP', containerPort: 80, hostPort: 8080, hostIp: '' },
    ]);
  });

  it.each([
    [{ containerPort: 0 }, /containerPort: must be an integer between 1 and 65535, got 0/],
    [{ containerPort: 70000 }, /containerPort: must be an integer between 1 and 65535, got 70000/],
    [{ containerPort: 80, hostPort: 65536 }, /hostPort: must be an integer between 0 and 65535/],
    [{ containerPort: 80.5 }, /containerPort/],
    [{ containerPort: 80, protocol: 'ICMP' }, /unsupported protocol "ICMP"/],
  ])('rejects %j', (port, message) => {
    const p = pod([container('a', undefined, undefined, { ports: [port as k8s.ContainerPort] })]);
    expect(() => makePortMappings(p)).toThrow(message);
    expect(() => makePortMappings(p)).toThrow(InvalidPodSpecError);
  });
});
