import { describe, expect, it } from 'vitest';
import type { k8s } from '@nodeagent/core';
import { container, pod } from './__fixtures__/pods.js';
import { makeContainerConfig, type ContainerConfigOptions } from './container-config.js';
import {
  InvalidPodSpecError,
  UnsupportedInStandaloneError,
  UnsupportedVolumeSourceError,
} from './errors.js';
import { hashContainer } from './hash.js';
import { makePodSandboxConfig } from './sandbox-config.js';
import { defaultMaskedPaths } from './security-context.js';

const gi = 1024 ** 3;

function thePod(c: Partial<k8s.Container> = {}, spec: Partial<k8s.PodSpec> = {}): k8s.Pod {
  return pod(
    [
      container(
        'app',
        { cpu: '100m', memory: '32Mi' },
        { cpu: '500m', memory: '64Mi' },
        {
          command: ['/bin/sh', '-c', 'echo $(GREETING) $$(HOME)'],
          args: ['$(POD_NAME)'],
          workingDir: '/work',
          env: [
            { name: 'GREETING', value: 'hello' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
          volumeMounts: [
            { name: 'scratch', mountPath: '/scratch' },
            {
              name: 'host',
              mountPath: '/host',
              readOnly: true,
              subPath: 'etc',
              mountPropagation: 'HostToContainer',
            },
          ],
          ports: [{ containerPort: 8080 }],
          stdin: true,
          tty: true,
          ...c,
        },
      ),
    ],
    {
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'host', hostPath: { path: '/srv/data', type: 'DirectoryOrCreate' } },
      ],
      terminationGracePeriodSeconds: 5,
      ...spec,
    },
  );
}

const options: ContainerConfigOptions = {
  restartCount: 1,
  podIPs: ['10.88.0.7'],
  hostIP: '192.168.1.10',
  nodeName: 'node-1',
  podDir: '/var/lib/nodeagent/pods/1234-abcd',
  memoryCapacityBytes: 4 * gi,
};

describe('makeContainerConfig', () => {
  it('builds the whole config', () => {
    const p = thePod();
    const c = p.spec.containers[0]!;
    const config = makeContainerConfig(p, c, {
      ...options,
      imageRef: 'sha256:abc',
      terminationMessageHostPath: '/x/tm',
    });
    expect(config).toEqual({
      metadata: { name: 'app', attempt: 1 },
      image: { image: 'sha256:abc', userSpecifiedImage: 'busybox:1' },
      command: ['/bin/sh', '-c', 'echo hello $(HOME)'],
      args: ['web'],
      workingDir: '/work',
      envs: [
        { key: 'GREETING', value: new TextEncoder().encode('hello') },
        { key: 'POD_NAME', value: new TextEncoder().encode('web') },
      ],
      mounts: [
        {
          containerPath: '/scratch',
          hostPath: '/var/lib/nodeagent/pods/1234-abcd/volumes/kubernetes.io~empty-dir/scratch',
          readonly: false,
          propagation: 'PROPAGATION_PRIVATE',
        },
        {
          containerPath: '/host',
          hostPath: '/srv/data/etc',
          readonly: true,
          propagation: 'PROPAGATION_HOST_TO_CONTAINER',
        },
        { containerPath: '/dev/termination-log', hostPath: '/x/tm' },
      ],
      labels: {
        'io.kubernetes.pod.name': 'web',
        'io.kubernetes.pod.namespace': 'team',
        'io.kubernetes.pod.uid': '1234-abcd',
        'io.kubernetes.container.name': 'app',
      },
      annotations: {
        'io.kubernetes.container.hash': hashContainer(c),
        'io.kubernetes.container.restartCount': '1',
        'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
        'io.kubernetes.container.terminationMessagePolicy': 'File',
        'io.kubernetes.container.type': 'container',
        'io.kubernetes.pod.terminationGracePeriod': '5',
        'io.kubernetes.container.ports': '[{"containerPort":8080,"protocol":"TCP"}]',
      },
      logPath: 'app/1.log',
      stdin: true,
      stdinOnce: false,
      tty: true,
      linux: {
        resources: {
          cpuShares: 102,
          cpuPeriod: 100000,
          cpuQuota: 50000,
          memoryLimitInBytes: 64 * 1024 * 1024,
          oomScoreAdj: 1000 - Math.floor((1000 * 32 * 1024 * 1024) / (4 * gi)),
        },
        securityContext: {
          namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
          seccomp: { profileType: 'Unconfined' },
          maskedPaths: [...defaultMaskedPaths],
          readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
        },
      },
    });
  });

  it('uses given volume paths, the sandbox namespaces, subPathExpr and the preStop annotation', () => {
    const p = thePod(
      {
        volumeMounts: [{ name: 'scratch', mountPath: '/logs', subPathExpr: '$(POD_NAME)/logs' }],
        lifecycle: { preStop: { httpGet: { path: '/quit', port: 8080 } } },
      },
      { hostNetwork: true },
    );
    const sandboxConfig = makePodSandboxConfig(p, { attempt: 0, podLogsDir: '/l' });
    const config = makeContainerConfig(p, p.spec.containers[0]!, {
      ...options,
      sandboxConfig,
      volumePaths: { scratch: '/custom/scratch' },
    });
    expect(config.mounts).toEqual([
      {
        containerPath: '/logs',
        hostPath: '/custom/scratch/web/logs',
        readonly: false,
        propagation: 'PROPAGATION_PRIVATE',
      },
    ]);
    expect(config.linux?.securityContext?.namespaceOptions).toEqual({
      network: 'NODE',
      pid: 'CONTAINER',
      ipc: 'POD',
    });
    expect(config.annotations?.['io.kubernetes.container.preStopHandler']).toBe(
      '{"httpGet":{"path":"/quit","port":8080}}',
    );
  });

  function errorOf(p: k8s.Pod, extra: Partial<ContainerConfigOptions> = {}): Error {
    try {
      makeContainerConfig(p, p.spec.containers[0]!, { ...options, ...extra });
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected an error');
  }

  it.each<[string, Partial<k8s.Container>, Partial<k8s.PodSpec>, RegExp]>([
    [
      'unknown volume',
      { volumeMounts: [{ name: 'ghost', mountPath: '/g' }] },
      {},
      /cannot find volume "ghost"/,
    ],
    [
      'relative mountPath',
      { volumeMounts: [{ name: 'scratch', mountPath: 'rel' }] },
      {},
      /mountPath: must be an absolute path/,
    ],
    [
      'duplicate mountPath',
      {
        volumeMounts: [
          { name: 'scratch', mountPath: '/a' },
          { name: 'host', mountPath: '/a/' },
        ],
      },
      {},
      /mounted more than once/,
    ],
    [
      'subPath with ..',
      { volumeMounts: [{ name: 'scratch', mountPath: '/a', subPath: '../etc' }] },
      {},
      /must not contain '\.\.'/,
    ],
    [
      'absolute subPath',
      { volumeMounts: [{ name: 'scratch', mountPath: '/a', subPath: '/etc' }] },
      {},
      /must be a relative path/,
    ],
    [
      'subPathExpr with an unknown variable',
      { volumeMounts: [{ name: 'scratch', mountPath: '/a', subPathExpr: '$(NOPE)' }] },
      {},
      /missing value for NOPE/,
    ],
    [
      'Bidirectional unprivileged',
      { volumeMounts: [{ name: 'host', mountPath: '/a', mountPropagation: 'Bidirectional' }] },
      {},
      /Bidirectional mount propagation is available only to privileged containers/,
    ],
    [
      'runAsNonRoot with uid 0',
      { securityContext: { runAsNonRoot: true, runAsUser: 0 } },
      {},
      /runAsUser breaks non-root policy/,
    ],
    ['port out of range', { ports: [{ containerPort: 65536 }] }, {}, /ports\[0\]\.containerPort/],
    [
      'invalid quantity',
      { resources: { limits: { cpu: 'one' } } },
      {},
      /limits\.cpu: quantity "one" is invalid/,
    ],
    [
      'unknown fieldRef',
      { env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'status.phase' } } }] },
      {},
      /unsupported downward API field path/,
    ],
    ['no image', { image: '' }, {}, /container has no image/],
  ])('%s → InvalidPodSpecError', (_name, c, spec, message) => {
    const err = errorOf(thePod(c, spec));
    expect(err).toBeInstanceOf(InvalidPodSpecError);
    expect(err.message).toMatch(message);
  });

  it('unsupported volume sources → UnsupportedVolumeSourceError; ConfigMap refs without objects → UnsupportedInStandaloneError', () => {
    const p = thePod(
      { volumeMounts: [{ name: 'data', mountPath: '/data' }] },
      { volumes: [{ name: 'data', csi: { driver: 'x.example.com' } }] },
    );
    const err = errorOf(p);
    expect(err).toBeInstanceOf(UnsupportedVolumeSourceError);
    expect(err.message).toMatch(/volume source "csi" is not supported/);
    const env = errorOf(
      thePod({ env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }),
    );
    expect(env).toBeInstanceOf(UnsupportedInStandaloneError);
  });

  it('configMap, secret, downwardAPI and projected volumes mount read-only from their plugin dirs', () => {
    const p = thePod(
      {
        volumeMounts: [
          { name: 'cfg', mountPath: '/cfg' },
          { name: 'sec', mountPath: '/sec', readOnly: false },
          { name: 'info', mountPath: '/info' },
          { name: 'all', mountPath: '/all', subPath: 'sub' },
        ],
      },
      {
        volumes: [
          { name: 'cfg', configMap: { name: 'x' } },
          { name: 'sec', secret: { secretName: 's' } },
          { name: 'info', downwardAPI: { items: [] } },
          { name: 'all', projected: { sources: [] } },
        ],
      },
    );
    const config = makeContainerConfig(p, p.spec.containers[0]!, {
      ...options,
      volumePaths: {},
      podDir: '/var/lib/kubelet/pods/u1',
    });
    expect(config.mounts?.map((m) => [m.containerPath, m.hostPath, m.readonly])).toEqual([
      ['/cfg', '/var/lib/kubelet/pods/u1/volumes/kubernetes.io~configmap/cfg', true],
      ['/sec', '/var/lib/kubelet/pods/u1/volumes/kubernetes.io~secret/sec', true],
      ['/info', '/var/lib/kubelet/pods/u1/volumes/kubernetes.io~downward-api/info', true],
      ['/all', '/var/lib/kubelet/pods/u1/volumes/kubernetes.io~projected/all/sub', true],
    ]);
  });

  it('rejects a bad restart count and a pod without identity', () => {
    expect(errorOf(thePod(), { restartCount: -1 }).message).toMatch(/restartCount/);
    const p = thePod();
    p.metadata.uid = '';
    expect(errorOf(p).message).toMatch(/no UID/);
  });
});

describe('makeContainerConfig: the kubelet-managed /etc/hosts', () => {
  const hosts = '/var/lib/nodeagent/pods/1234-abcd/etc-hosts';

  it('mounts the pod hosts file read-write with relabelling after the volumes, before the termination log', () => {
    const p = thePod();
    const config = makeContainerConfig(p, p.spec.containers[0]!, {
      ...options,
      etcHostsHostPath: hosts,
      terminationMessageHostPath: '/x/tm',
    });
    expect(config.mounts?.map((m) => m.containerPath)).toEqual([
      '/scratch',
      '/host',
      '/etc/hosts',
      '/dev/termination-log',
    ]);
    expect(config.mounts?.[2]).toEqual({
      containerPath: '/etc/hosts',
      hostPath: hosts,
      readonly: false,
      selinuxRelabel: true,
    });
  });

  it('no /etc/hosts mount without the option', () => {
    const p = thePod();
    const config = makeContainerConfig(p, p.spec.containers[0]!, options);
    expect(config.mounts?.some((m) => m.containerPath === '/etc/hosts')).toBe(false);
  });

  it('a container mounting its own /etc/hosts keeps it', () => {
    for (const mountPath of ['/etc/hosts', '/etc/hosts/']) {
      const p = thePod({
        volumeMounts: [{ name: 'host', mountPath, subPath: 'hosts', readOnly: true }],
      });
      const config = makeContainerConfig(p, p.spec.containers[0]!, {
        ...options,
        etcHostsHostPath: hosts,
      });
      expect(config.mounts).toEqual([
        {
          containerPath: '/etc/hosts',
          hostPath: '/srv/data/hosts',
          readonly: true,
          propagation: 'PROPAGATION_PRIVATE',
        },
      ]);
    }
  });
});
