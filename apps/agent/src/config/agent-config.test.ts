import { InvalidConfigError } from '@nodeagent/core';
import { describe, expect, it } from 'vitest';
import { defaultRootDir, loadAgentConfig } from './agent-config.js';
import { parseCommandLine, type AgentFlags } from './flags.js';

const file = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: /etc/kubernetes/manifests
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
cgroupRoot: /file-root
logging:
  format: json
  verbosity: 1
`;

function flagsOf(argv: string[]): AgentFlags {
  const command = parseCommandLine(argv);
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command.flags;
}

function load(
  argv: string[],
  files: Record<string, string> = { '/etc/nodeagent/config.yaml': file },
) {
  return loadAgentConfig(flagsOf(argv), {
    readFile: async (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return text;
    },
    hostname: () => ' Node-1.Example ',
  });
}

describe('parseCommandLine', () => {
  it('parses every agent flag', () => {
    expect(
      flagsOf([
        '--config=/c.yaml',
        '--kubeconfig',
        '/k',
        '--hostname-override',
        'edge-1',
        '--node-ip',
        '10.0.0.5,fd00::5',
        '--root-dir',
        '/var/lib/nodeagent',
        '--container-runtime-endpoint',
        'unix:///run/crio/crio.sock',
        '--image-service-endpoint',
        'unix:///run/img.sock',
        '--pod-manifest-path',
        '/m',
        '--cgroup-root',
        '/pods',
        '--v=4',
        '--log-format',
        'json',
        '--node-labels',
        'topology.kubernetes.io/zone=z1,edge=true, empty=',
      ]),
    ).toEqual({
      nodeLabels: { 'topology.kubernetes.io/zone': 'z1', edge: 'true', empty: '' },
      config: '/c.yaml',
      kubeconfig: '/k',
      hostnameOverride: 'edge-1',
      nodeIp: ['10.0.0.5', 'fd00::5'],
      rootDir: '/var/lib/nodeagent',
      containerRuntimeEndpoint: 'unix:///run/crio/crio.sock',
      imageServiceEndpoint: 'unix:///run/img.sock',
      podManifestPath: '/m',
      cgroupRoot: '/pods',
      verbosity: 4,
      logFormat: 'json',
    });
  });

  it('knows the subcommands', () => {
    expect(parseCommandLine([])).toEqual({ kind: 'run', flags: {} });
    expect(parseCommandLine(['version'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['--version'])).toEqual({ kind: 'version' });
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', topic: 'run' });
    expect(parseCommandLine(['-h'])).toEqual({ kind: 'help', topic: 'run' });
    expect(parseCommandLine(['help'])).toEqual({ kind: 'help', topic: 'run' });
    expect(parseCommandLine(['pods'])).toEqual({ kind: 'pods', flags: { output: 'table' } });
    expect(parseCommandLine(['pods', '-o', 'wide', '--runtime-endpoint', '/run/x.sock'])).toEqual({
      kind: 'pods',
      flags: { output: 'wide', runtimeEndpoint: '/run/x.sock' },
    });
    expect(parseCommandLine(['pods', '--output=json', '--config', '/c'])).toEqual({
      kind: 'pods',
      flags: { output: 'json', config: '/c' },
    });
    expect(parseCommandLine(['pods', '--help'])).toEqual({ kind: 'help', topic: 'pods' });
  });

  it.each([
    [['--bogus'], "Unknown option '--bogus'"],
    [['--v', 'loud'], '--v: invalid value "loud": expected a number 0 or above'],
    [['--v=-1'], '--v: invalid value "-1"'],
    [['--log-format', 'xml'], '--log-format: invalid value "xml": expected text or json'],
    [['--node-ip', '10.0.0.300'], '--node-ip: invalid IP address "10.0.0.300"'],
    [['--hostname-override', ' '], '--hostname-override: must not be empty'],
    [['--config='], '--config: must not be empty'],
    [['--config'], "Option '--config <value>' argument missing"],
    [['start'], 'unknown command "start"'],
    [['pods', '-o', 'yaml'], '--output: invalid value "yaml"'],
    [['pods', 'extra'], "Unexpected argument 'extra'"],
    [['--node-labels', 'novalue'], '--node-labels: "novalue" is not key=value'],
    [['--node-labels', 'bad key=x'], '--node-labels: invalid label key "bad key"'],
    [['--node-labels', 'k=-x-'], '--node-labels: invalid value "-x-" of label k'],
    [['--in-cluster', '--kubeconfig', '/k'], '--in-cluster: cannot be combined with --kubeconfig'],
  ])('rejects %j', (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(InvalidConfigError);
    expect(() => parseCommandLine(argv)).toThrow(message);
  });
});

describe('loadAgentConfig: file, defaults, then flags', () => {
  it('without --config: the kubelet defaults, standalone, host name as node name', async () => {
    const config = await load([]);
    expect(config.kubelet.containerRuntimeEndpoint).toBe('unix:///run/containerd/containerd.sock');
    expect(config.kubelet.staticPodPath).toBe('');
    expect(config).not.toHaveProperty('kubeconfig');
    expect(config).not.toHaveProperty('configFile');
    expect(config.nodeName).toBe('node-1.example');
    expect(config.rootDir).toBe(defaultRootDir);
    expect(config.nodeIps).toEqual([]);
  });

  it('reads the file', async () => {
    const config = await load(['--config', '/etc/nodeagent/config.yaml']);
    expect(config.configFile).toBe('/etc/nodeagent/config.yaml');
    expect(config.kubelet).toMatchObject({
      staticPodPath: '/etc/kubernetes/manifests',
      cgroupRoot: '/file-root',
      logging: { format: 'json', verbosity: 1 },
      maxPods: 110,
    });
  });

  it('flags override the file', async () => {
    const config = await load([
      '--config',
      '/etc/nodeagent/config.yaml',
      '--pod-manifest-path',
      '/srv/manifests',
      '--container-runtime-endpoint',
      'unix:///tmp/rt.sock',
      '--image-service-endpoint',
      'unix:///tmp/img.sock',
      '--cgroup-root',
      '/flag-root',
      '--v',
      '5',
      '--log-format',
      'text',
      '--hostname-override',
      'Edge-7',
      '--root-dir',
      '/var/lib/nodeagent',
      '--node-ip',
      '192.168.1.10',
      '--kubeconfig',
      '/etc/nodeagent/kubeconfig',
    ]);
    expect(config.kubelet).toMatchObject({
      staticPodPath: '/srv/manifests',
      containerRuntimeEndpoint: 'unix:///tmp/rt.sock',
      imageServiceEndpoint: 'unix:///tmp/img.sock',
      cgroupRoot: '/flag-root',
      logging: { format: 'text', verbosity: 5, flushFrequency: 5_000 },
    });
    expect(config).toMatchObject({
      nodeName: 'edge-7',
      rootDir: '/var/lib/nodeagent',
      nodeIps: ['192.168.1.10'],
      kubeconfig: '/etc/nodeagent/kubeconfig',
    });
  });

  it('a missing file is named', async () => {
    await expect(load(['--config', '/nope.yaml'])).rejects.toThrow(
      '--config /nope.yaml: cannot read the file: no such file',
    );
  });

  it('an invalid file is named with the bad field', async () => {
    await expect(
      load(['--config', '/c.yaml'], { '/c.yaml': file.replace('cgroupRoot', 'cgroupRooot') }),
    ).rejects.toThrow(
      /\/c\.yaml: invalid KubeletConfiguration:\n {2}KubeletConfiguration: unknown field "cgroupRooot" \(did you mean "cgroupRoot"\?\)/,
    );
  });

  it.each([
    [
      'evictionSoft:\n  memory.available: 500Mi\n',
      'grace period must be specified for the soft eviction threshold memory.available',
    ],
    ['evictionHard:\n  memory.avail: 100Mi\n', 'memory.avail'],
    ['evictionHard:\n  nodefs.available: 120%\n', 'nodefs.available'],
    ['imageGCHighThresholdPercent: 101\n', 'imageGCHighThresholdPercent'],
  ])('rejects bad eviction and image GC settings at start: %j', async (extra, message) => {
    const err = await load(['--config', '/c.yaml'], { '/c.yaml': `${file}${extra}` }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect((err as Error).message).toContain('/c.yaml');
    expect((err as Error).message).toContain(message);
  });
});
