import { InvalidConfigError, isNodeAgentError } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import {
  defaultEvictionHard,
  defaultKubeletConfiguration,
  parseKubeletConfiguration,
  parseKubeletConfigurationObject,
  versionedKubeletConfiguration,
} from './kubelet-config.js';

const header = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n';

function parse(body: string) {
  return parseKubeletConfiguration(header + body, 'config.yaml');
}

/** The error message of parsing `body`, failing the test when it parses. */
function errorOf(body: string, withHeader = true): string {
  try {
    parseKubeletConfiguration(withHeader ? header + body : body, 'config.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(isNodeAgentError(err, 'InvalidConfig')).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(body)} to be rejected`);
}

describe('defaults (kubelet SetDefaults_KubeletConfiguration)', () => {
  it('fills every field of an empty configuration as the kubelet does', () => {
    const c = parse('').config;
    expect(c).toEqual(defaultKubeletConfiguration());
    expect(c).toMatchObject({
      enableServer: true,
      staticPodPath: '',
      staticPodURL: '',
      staticPodURLHeader: {},
      containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
      imageServiceEndpoint: '',
      syncFrequency: 60_000,
      fileCheckFrequency: 20_000,
      httpCheckFrequency: 20_000,
      runtimeRequestTimeout: 120_000,
      maxPods: 110,
      podLogsDir: '/var/log/pods',
      podPidsLimit: -1,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: '',
      cgroupsPerQOS: true,
      clusterDomain: '',
      clusterDNS: [],
      resolvConf: '/etc/resolv.conf',
      nodeStatusUpdateFrequency: 10_000,
      nodeStatusReportFrequency: 300_000,
      nodeLeaseDurationSeconds: 40,
      imageGCHighThresholdPercent: 85,
      imageGCLowThresholdPercent: 80,
      imageMinimumGCAge: 120_000,
      imageMaximumGCAge: 0,
      serializeImagePulls: true,
      maxParallelImagePulls: null,
      port: 10250,
      readOnlyPort: 0,
      address: '0.0.0.0',
      healthzPort: 10248,
      healthzBindAddress: '127.0.0.1',
      containerLogMaxSize: '10Mi',
      containerLogMaxFiles: 5,
      containerLogMaxWorkers: 1,
      containerLogMonitorInterval: 10_000,
      shutdownGracePeriod: 0,
      shutdownGracePeriodCriticalPods: 0,
      authentication: {
        x509: { clientCAFile: '' },
        webhook: { enabled: true, cacheTTL: 120_000 },
        anonymous: { enabled: false },
      },
      authorization: {
        mode: 'Webhook',
        webhook: { cacheAuthorizedTTL: 300_000, cacheUnauthorizedTTL: 30_000 },
      },
      logging: { format: 'text', verbosity: 0, flushFrequency: 5_000, vmodule: [], options: {} },
    });
    expect(c.evictionHard).toEqual(defaultEvictionHard);
  });

  it('reports no ignored fields for a plain file', () => {
    expect(parse('maxPods: 20\n').ignoredFields).toEqual([]);
  });

  it('allowedUnsafeSysctls: namespaced names or prefixes; others are refused naming the entry', () => {
    expect(parse('maxPods: 20\n').config.allowedUnsafeSysctls).toEqual([]);
    expect(
      parse('allowedUnsafeSysctls: ["kernel.msg*", "net.core.somaxconn"]\n').config
        .allowedUnsafeSysctls,
    ).toEqual(['kernel.msg*', 'net.core.somaxconn']);
    expect(errorOf('allowedUnsafeSysctls: ["vm.swappiness"]\n')).toMatch(
      /allowedUnsafeSysctls.*0.*not known to be namespaced/s,
    );
  });

  it('nodeStatusReportFrequency follows an explicit nodeStatusUpdateFrequency', () => {
    expect(parse('nodeStatusUpdateFrequency: 4s\n').config).toMatchObject({
      nodeStatusUpdateFrequency: 4_000,
      nodeStatusReportFrequency: 4_000,
    });
    expect(
      parse('nodeStatusUpdateFrequency: 4s\nnodeStatusReportFrequency: 1m\n').config
        .nodeStatusReportFrequency,
    ).toBe(60_000);
  });

  it('a zero duration means unset for nodeStatusUpdateFrequency, as in the kubelet', () => {
    expect(parse('nodeStatusUpdateFrequency: 0s\n').config.nodeStatusUpdateFrequency).toBe(10_000);
  });

  it('serializeImagePulls defaults to false when maxParallelImagePulls allows parallel pulls', () => {
    expect(parse('maxParallelImagePulls: 3\n').config.serializeImagePulls).toBe(false);
    expect(parse('maxParallelImagePulls: 1\n').config.serializeImagePulls).toBe(true);
  });

  it('evictionHard replaces the defaults unless mergeDefaultEvictionSettings is set', () => {
    expect(parse('evictionHard:\n  memory.available: 300Mi\n').config.evictionHard).toEqual({
      'memory.available': '300Mi',
    });
    expect(
      parse('mergeDefaultEvictionSettings: true\nevictionHard:\n  memory.available: 300Mi\n').config
        .evictionHard,
    ).toEqual({ ...defaultEvictionHard, 'memory.available': '300Mi' });
  });

  it('a negative podPidsLimit means no limit (-1)', () => {
    expect(parse('podPidsLimit: -5\n').config.podPidsLimit).toBe(-1);
    expect(parse('podPidsLimit: 4096\n').config.podPidsLimit).toBe(4096);
  });
});

describe('every field type', () => {
  it('reads a full configuration in YAML', () => {
    const { config } = parse(`
staticPodPath: /etc/kubernetes/manifests
staticPodURL: http://127.0.0.1:8080/pods
staticPodURLHeader:
  Authorization: ["Bearer abc"]
  X-Node: [a, b]
containerRuntimeEndpoint: unix:///run/crio/crio.sock
imageServiceEndpoint: unix:///run/crio/images.sock
syncFrequency: 30s
fileCheckFrequency: 1h2m3s
httpCheckFrequency: 300ms
runtimeRequestTimeout: 1m30s
maxPods: 250
podLogsDir: /data/pod-logs
podPidsLimit: 1024
cgroupDriver: systemd
cgroupRoot: /kubelet
cgroupsPerQOS: false
clusterDomain: cluster.local
clusterDNS: [10.96.0.10, "fd00::a"]
resolvConf: /run/systemd/resolve/resolv.conf
nodeStatusUpdateFrequency: 20s
imageGCHighThresholdPercent: 90
imageGCLowThresholdPercent: 70
imageMinimumGCAge: 5m
serializeImagePulls: false
maxParallelImagePulls: 4
evictionHard:
  memory.available: 200Mi
port: 10260
readOnlyPort: 10255
address: 127.0.0.1
healthzPort: 0
healthzBindAddress: 0.0.0.0
shutdownGracePeriod: 30s
shutdownGracePeriodCriticalPods: 10s
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
    cacheTTL: 1m
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: AlwaysAllow
  webhook:
    cacheAuthorizedTTL: 1m
    cacheUnauthorizedTTL: 5s
logging:
  format: json
  verbosity: 4
  flushFrequency: 1s
`);
    expect(config).toMatchObject({
      staticPodPath: '/etc/kubernetes/manifests',
      staticPodURL: 'http://127.0.0.1:8080/pods',
      staticPodURLHeader: { Authorization: ['Bearer abc'], 'X-Node': ['a', 'b'] },
      containerRuntimeEndpoint: 'unix:///run/crio/crio.sock',
      imageServiceEndpoint: 'unix:///run/crio/images.sock',
      syncFrequency: 30_000,
      fileCheckFrequency: 3_723_000,
      httpCheckFrequency: 300,
      runtimeRequestTimeout: 90_000,
      maxPods: 250,
      podLogsDir: '/data/pod-logs',
      podPidsLimit: 1024,
      cgroupDriver: 'systemd',
      cgroupRoot: '/kubelet',
      cgroupsPerQOS: false,
      clusterDomain: 'cluster.local',
      clusterDNS: ['10.96.0.10', 'fd00::a'],
      resolvConf: '/run/systemd/resolve/resolv.conf',
      nodeStatusUpdateFrequency: 20_000,
      nodeStatusReportFrequency: 20_000,
      imageGCHighThresholdPercent: 90,
      imageGCLowThresholdPercent: 70,
      imageMinimumGCAge: 300_000,
      serializeImagePulls: false,
      maxParallelImagePulls: 4,
      evictionHard: { 'memory.available': '200Mi' },
      port: 10260,
      readOnlyPort: 10255,
      address: '127.0.0.1',
      healthzPort: 0,
      healthzBindAddress: '0.0.0.0',
      shutdownGracePeriod: 30_000,
      shutdownGracePeriodCriticalPods: 10_000,
      authentication: {
        anonymous: { enabled: true },
        webhook: { enabled: false, cacheTTL: 60_000 },
        x509: { clientCAFile: '/etc/kubernetes/pki/ca.crt' },
      },
      authorization: {
        mode: 'AlwaysAllow',
        webhook: { cacheAuthorizedTTL: 60_000, cacheUnauthorizedTTL: 5_000 },
      },
      logging: { format: 'json', verbosity: 4, flushFrequency: 1_000 },
    });
  });

  it('reads JSON as well', () => {
    const { config } = parseKubeletConfiguration(
      JSON.stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        staticPodPath: '/etc/nodeagent/manifests',
        fileCheckFrequency: '5s',
        maxPods: 30,
      }),
      'config.json',
    );
    expect(config).toMatchObject({
      staticPodPath: '/etc/nodeagent/manifests',
      fileCheckFrequency: 5_000,
      maxPods: 30,
    });
  });

  it('accepts logging.flushFrequency in nanoseconds, as component-base does', () => {
    expect(parse('logging:\n  flushFrequency: 2000000000\n').config.logging.flushFrequency).toBe(
      2_000,
    );
  });

  it('accepts kubelet fields nodeagent does not implement, and names them', () => {
    const { config, ignoredFields } = parse(
      'featureGates:\n  SomeGate: true\nrotateCertificates: true\ncpuManagerPolicy: static\nmaxPods: 10\n',
    );
    expect(ignoredFields).toEqual(['cpuManagerPolicy', 'featureGates']);
    expect(config.rotateCertificates).toBe(true);
    expect(config).not.toHaveProperty('featureGates');
    expect(config.maxPods).toBe(10);
  });

  it('reports a graceful node shutdown period as ignored (no logind inhibitor lock), not 0s', () => {
    expect(parse('shutdownGracePeriod: 0s\n').ignoredFields).toEqual([]);
    const { config, ignoredFields } = parse(
      'shutdownGracePeriod: 30s\nshutdownGracePeriodCriticalPods: 10s\n',
    );
    expect(ignoredFields).toEqual(['shutdownGracePeriod', 'shutdownGracePeriodCriticalPods']);
    expect(config.shutdownGracePeriod).toBe(30_000);
  });
});

describe('errors name the field', () => {
  it('a bad duration', () => {
    expect(errorOf('fileCheckFrequency: 20 seconds\n')).toContain(
      'KubeletConfiguration.fileCheckFrequency: invalid duration "20 seconds"',
    );
    expect(errorOf('syncFrequency: 60\n')).toContain(
      'KubeletConfiguration.syncFrequency: expected a duration string such as "1m0s"',
    );
    expect(errorOf('authentication:\n  webhook:\n    cacheTTL: 2 minutes\n')).toContain(
      'KubeletConfiguration.authentication.webhook.cacheTTL: invalid duration "2 minutes"',
    );
    expect(errorOf('syncFrequency: -1m\n')).toContain(
      'KubeletConfiguration.syncFrequency: must not be negative',
    );
  });

  it('an unknown field, with a hint', () => {
    const message = errorOf('staticPodDir: /etc/kubernetes/manifests\n');
    expect(message).toContain('config.yaml');
    expect(message).toContain(
      'KubeletConfiguration: unknown field "staticPodDir" (did you mean "staticPodPath"?)',
    );
    expect(errorOf('MaxPods: 3\n')).toContain('unknown field "MaxPods" (did you mean "maxPods"?)');
    expect(errorOf('frobnicate: 1\n')).toMatch(/unknown field "frobnicate"$/m);
    expect(errorOf('podLogDir: /x\n')).toContain('(did you mean "podLogsDir"?)');
    expect(errorOf('rootDir: /x\n')).toContain(
      'unknown field "rootDir" (not a config file field: use the --root-dir flag)',
    );
    expect(errorOf('verbosity: 2\n')).toContain('(did you mean "logging.verbosity"?)');
  });

  it('an unknown field in a section', () => {
    expect(errorOf('authentication:\n  webhook:\n    enable: true\n')).toContain(
      'KubeletConfiguration.authentication.webhook: unknown field "enable" (did you mean "enabled"?)',
    );
    expect(errorOf('logging:\n  fromat: json\n')).toContain(
      'KubeletConfiguration.logging: unknown field "fromat" (did you mean "format"?)',
    );
  });

  it('wrong types and out-of-range values', () => {
    expect(errorOf('maxPods: many\n')).toContain(
      'KubeletConfiguration.maxPods: Expected number, received string',
    );
    expect(errorOf('maxPods: 1.5\n')).toContain('KubeletConfiguration.maxPods: Expected integer');
    expect(errorOf('maxPods: -1\n')).toContain(
      'KubeletConfiguration.maxPods: must not be negative',
    );
    expect(errorOf('port: 70000\n')).toContain(
      'KubeletConfiguration.port: must be between 0 and 65535',
    );
    expect(errorOf('port: 0\n')).toContain(
      'KubeletConfiguration.port: must be between 1 and 65535',
    );
    expect(errorOf('cgroupsPerQOS: "yes"\n')).toContain(
      'KubeletConfiguration.cgroupsPerQOS: Expected boolean, received string',
    );
    expect(errorOf('cgroupDriver: cgroupv2\n')).toContain(
      "KubeletConfiguration.cgroupDriver: Invalid enum value. Expected 'cgroupfs' | 'systemd'",
    );
    expect(errorOf('clusterDNS: [10.96.0.10, not-an-ip]\n')).toContain(
      'KubeletConfiguration.clusterDNS[1]: invalid IP address "not-an-ip"',
    );
    expect(errorOf('staticPodURLHeader:\n  X: abc\n')).toContain(
      'KubeletConfiguration.staticPodURLHeader.X: Expected array, received string',
    );
    expect(errorOf('imageGCHighThresholdPercent: 101\n')).toContain(
      'KubeletConfiguration.imageGCHighThresholdPercent: must be between 0 and 100',
    );
    expect(errorOf('podLogsDir: logs\n')).toContain(
      'KubeletConfiguration.podLogsDir: must be an absolute path',
    );
    expect(errorOf('logging:\n  format: xml\n')).toContain(
      'KubeletConfiguration.logging.format: Invalid enum value',
    );
    expect(errorOf('containerLogMaxSize: 10 MB\n')).toContain(
      'KubeletConfiguration.containerLogMaxSize: must be a quantity such as "10Mi"',
    );
    expect(errorOf('containerLogMaxFiles: 1\n')).toContain(
      'KubeletConfiguration.containerLogMaxFiles: must be at least 2',
    );
    expect(errorOf('containerLogMonitorInterval: 1s\n')).toContain(
      'KubeletConfiguration.containerLogMonitorInterval: must be at least 3s',
    );
    expect(errorOf('containerLogMaxWorkers: 0\n')).toContain(
      'KubeletConfiguration.containerLogMaxWorkers: must be at least 1',
    );
  });

  it('cross-field rules of the kubelet validation', () => {
    expect(errorOf('imageGCLowThresholdPercent: 90\n')).toContain(
      'KubeletConfiguration.imageGCLowThresholdPercent: must be less than imageGCHighThresholdPercent (90 >= 85)',
    );
    expect(errorOf('serializeImagePulls: true\nmaxParallelImagePulls: 5\n')).toContain(
      'KubeletConfiguration.maxParallelImagePulls: must not be greater than 1 when serializeImagePulls is true',
    );
    expect(errorOf('shutdownGracePeriod: 10s\nshutdownGracePeriodCriticalPods: 20s\n')).toContain(
      'KubeletConfiguration.shutdownGracePeriodCriticalPods: must not be greater than shutdownGracePeriod',
    );
  });

  it('lists every problem, one per line', () => {
    const message = errorOf('maxPods: x\nsyncFrequency: soon\nstaticPodDir: /x\n');
    expect(message.split('\n').filter((l) => l.startsWith('  KubeletConfiguration'))).toHaveLength(
      3,
    );
  });

  it('a wrong or missing apiVersion and kind', () => {
    expect(errorOf('apiVersion: v1\nkind: KubeletConfiguration\n', false)).toContain(
      'KubeletConfiguration.apiVersion: must be "kubelet.config.k8s.io/v1beta1", got "v1"',
    );
    expect(errorOf('apiVersion: kubelet.config.k8s.io/v1beta1\nkind: Pod\n', false)).toContain(
      'KubeletConfiguration.kind: must be "KubeletConfiguration", got "Pod"',
    );
    expect(errorOf('maxPods: 3\n', false)).toContain('KubeletConfiguration.apiVersion: must be');
  });

  it('files that are not a configuration object', () => {
    expect(errorOf('', false)).toContain('config.yaml: the file is empty');
    expect(errorOf('- a\n- b\n', false)).toContain('expected a KubeletConfiguration object');
    expect(errorOf('maxPods: [\n', false)).toContain('config.yaml: not valid YAML or JSON');
    expect(errorOf('maxPods: 1\nmaxPods: 2\n')).toContain('not valid YAML or JSON');
    expect(errorOf('maxPods: 1\n---\nmaxPods: 2\n')).toContain('not valid YAML or JSON');
    expect(() => parseKubeletConfigurationObject(null, 'x')).toThrow(
      'x: expected a KubeletConfiguration object',
    );
  });
});

describe('API-mode fields', () => {
  it('have the kubelet defaults', () => {
    const c = defaultKubeletConfiguration();
    expect(c).toMatchObject({
      kubeAPIQPS: 50,
      kubeAPIBurst: 100,
      eventRecordQPS: 50,
      eventBurst: 100,
      registerNode: true,
      registerWithTaints: [],
      nodeStatusMaxImages: 50,
      kubeReserved: {},
      systemReserved: {},
      configMapAndSecretChangeDetectionStrategy: 'Watch',
    });
  });

  it('are read and checked', () => {
    const c = parse(
      'kubeAPIQPS: 5\nkubeAPIBurst: 10\nregisterWithTaints:\n- key: edge\n  effect: NoSchedule\nkubeReserved:\n  memory: 100Mi\n',
    ).config;
    expect(c.kubeAPIQPS).toBe(5);
    expect(c.registerWithTaints).toEqual([{ key: 'edge', effect: 'NoSchedule' }]);
    expect(c.kubeReserved).toEqual({ memory: '100Mi' });
    expect(errorOf('kubeAPIQPS: -1\n')).toContain(
      'KubeletConfiguration.kubeAPIQPS: must not be negative',
    );
    expect(errorOf('registerWithTaints:\n- key: a\n  effect: Sometimes\n')).toContain(
      'KubeletConfiguration.registerWithTaints[0].effect',
    );
    expect(parse('configMapAndSecretChangeDetectionStrategy: Cache\n').config).toMatchObject({
      configMapAndSecretChangeDetectionStrategy: 'Cache',
    });
    expect(errorOf('configMapAndSecretChangeDetectionStrategy: Sometimes\n')).toContain(
      'must be one of "Get", "Cache" or "Watch" (the default)',
    );
    expect(errorOf('nodeStatusMaxImages: -2\n')).toContain('must be -1 (no limit) or more');
  });
});

describe('serving TLS fields (serverTLSBootstrap, tlsCipherSuites, tlsMinVersion)', () => {
  it('default to off / the runtime defaults and are real fields, not ignored ones', () => {
    const d = defaultKubeletConfiguration();
    expect(d.serverTLSBootstrap).toBe(false);
    expect(d.tlsCipherSuites).toEqual([]);
    expect(d.tlsMinVersion).toBe('');
    const { config, ignoredFields } = parse(
      'serverTLSBootstrap: true\ntlsMinVersion: VersionTLS13\ntlsCipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n',
    );
    expect(ignoredFields).toEqual([]);
    expect(config.serverTLSBootstrap).toBe(true);
    expect(config.tlsMinVersion).toBe('VersionTLS13');
    expect(config.tlsCipherSuites).toEqual(['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256']);
  });

  it('reject bad values naming the field', () => {
    expect(errorOf('tlsMinVersion: TLS1.2\n')).toMatch(
      /KubeletConfiguration\.tlsMinVersion: must be one of VersionTLS10/,
    );
    expect(errorOf('tlsCipherSuites: [ecdhe-rsa-aes128]\n')).toMatch(
      /KubeletConfiguration\.tlsCipherSuites\[0\]: must be a cipher suite name/,
    );
    expect(errorOf('serverTLSBootstrap: "yes"\n')).toMatch(
      /KubeletConfiguration\.serverTLSBootstrap/,
    );
  });
});

describe('CIS fields (seccompDefault, protectKernelDefaults, streamingConnectionIdleTimeout, makeIPTablesUtilChains)', () => {
  it('default as the kubelet does and are acted on, not ignored', () => {
    const d = defaultKubeletConfiguration();
    expect(d.seccompDefault).toBe(false);
    expect(d.protectKernelDefaults).toBe(false);
    expect(d.streamingConnectionIdleTimeout).toBe(4 * 3600_000);
    const { config, ignoredFields } = parse(
      'seccompDefault: true\nprotectKernelDefaults: true\nstreamingConnectionIdleTimeout: 5m\n',
    );
    expect(ignoredFields).toEqual([]);
    expect(config.seccompDefault).toBe(true);
    expect(config.protectKernelDefaults).toBe(true);
    expect(config.streamingConnectionIdleTimeout).toBe(300_000);
    expect(
      parse('streamingConnectionIdleTimeout: 0s\n').config.streamingConnectionIdleTimeout,
    ).toBe(0);
  });

  it('makeIPTablesUtilChains is a real boolean, default true, no longer ignored', () => {
    expect(defaultKubeletConfiguration().makeIPTablesUtilChains).toBe(true);
    const off = parse('makeIPTablesUtilChains: false\n');
    expect(off.ignoredFields).toEqual([]);
    expect(off.config.makeIPTablesUtilChains).toBe(false);
    expect(parse('makeIPTablesUtilChains: true\n').config.makeIPTablesUtilChains).toBe(true);
    expect(errorOf('makeIPTablesUtilChains: "yes"\n')).toMatch(
      /KubeletConfiguration\.makeIPTablesUtilChains/,
    );
  });

  it('reject bad values naming the field', () => {
    expect(errorOf('seccompDefault: "true"\n')).toMatch(/KubeletConfiguration\.seccompDefault/);
    expect(errorOf('protectKernelDefaults: 1\n')).toMatch(
      /KubeletConfiguration\.protectKernelDefaults/,
    );
    expect(errorOf('streamingConnectionIdleTimeout: -1m\n')).toMatch(
      /KubeletConfiguration\.streamingConnectionIdleTimeout: must not be negative/,
    );
    expect(errorOf('streamingConnectionIdleTimeout: 4 hours\n')).toMatch(
      /KubeletConfiguration\.streamingConnectionIdleTimeout/,
    );
  });
});

describe('versionedKubeletConfiguration (what /configz shows)', () => {
  it('spells durations as Go durations and carries no kind or apiVersion, so that it parses back to the same configuration', () => {
    const config = parse(
      'syncFrequency: 30s\nstreamingConnectionIdleTimeout: 1h30m\nmaxPods: 42\n' +
        'authentication:\n  webhook:\n    cacheTTL: 10s\n',
    ).config;
    const v = versionedKubeletConfiguration(config);
    expect(v.kind).toBeUndefined();
    expect(v.apiVersion).toBeUndefined();
    expect(v).toMatchObject({
      syncFrequency: '30s',
      fileCheckFrequency: '20s',
      runtimeRequestTimeout: '2m0s',
      streamingConnectionIdleTimeout: '1h30m0s',
      evictionPressureTransitionPeriod: '5m0s',
      imageMaximumGCAge: '0s',
      maxPods: 42,
      authentication: { webhook: { enabled: true, cacheTTL: '10s' } },
      authorization: { webhook: { cacheAuthorizedTTL: '5m0s', cacheUnauthorizedTTL: '30s' } },
      logging: { flushFrequency: '5s' },
    });
    // The configuration itself is not changed.
    expect(config.syncFrequency).toBe(30_000);
    // Round trip: the versioned form is a valid configuration file with the same meaning.
    const back = parseKubeletConfigurationObject(
      { apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', ...v },
      'configz',
    ).config;
    expect(back).toEqual(config);
  });
});
