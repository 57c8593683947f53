import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { cri, k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createPleg, type Pleg } from '@nodeagent/pleg';
import { createFakeRuntime, type FakeRuntime } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RuntimeManager, type PodFilesystem } from '../runtime-manager.js';
import { container, pod } from './__fixtures__/pods.js';
import {
  containerMountsEtcHosts,
  ensureHostsFile,
  etcHostsFilePath,
  hostsEntriesFromHostAliases,
  hostsFileContent,
  hostsFileSpec,
  makeHostsMount,
  managedHostsFileContent,
  needsHostsMount,
  nodeHostsFileContent,
  shouldMountHostsFile,
  type HostsFileSpec,
} from './etc-hosts.js';
import { InvalidPodSpecError } from './errors.js';

const localhostLines =
  '127.0.0.1\tlocalhost\n' +
  '::1\tlocalhost ip6-localhost ip6-loopback\n' +
  'fe00::0\tip6-localnet\n' +
  'fe00::0\tip6-mcastprefix\n' +
  'fe00::1\tip6-allnodes\n' +
  'fe00::2\tip6-allrouters\n';

const aliases: k8s.HostAlias[] = [
  { ip: '10.1.2.3', hostnames: ['foo.local', 'bar.local'] },
  { ip: '10.1.2.4', hostnames: ['baz'] },
];

describe('hosts file content (kubelet managedHostsFileContent / nodeHostsFileContent)', () => {
  it('a pod-network pod without subdomain: header, localhost and ip6 lines, one line per pod IP', () => {
    expect(managedHostsFileContent(['10.0.0.5', 'fd00::5'], 'web', '', [])).toBe(
      '# Kubernetes-managed hosts file.\n' + localhostLines + '10.0.0.5\tweb\n' + 'fd00::5\tweb\n',
    );
  });

  it('with a subdomain: the FQDN then the short name, then the HostAliases section', () => {
    expect(
      managedHostsFileContent(['10.0.0.5'], 'web-0', 'nginx.team.svc.cluster.local', aliases),
    ).toBe(
      '# Kubernetes-managed hosts file.\n' +
        localhostLines +
        '10.0.0.5\tweb-0.nginx.team.svc.cluster.local\tweb-0\n' +
        '\n# Entries added by HostAliases.\n' +
        '10.1.2.3\tfoo.local\tbar.local\n' +
        '10.1.2.4\tbaz\n',
    );
  });

  it('the HostAliases section is empty without aliases; an alias without hostnames keeps its IP', () => {
    expect(hostsEntriesFromHostAliases([])).toBe('');
    expect(hostsEntriesFromHostAliases([{ ip: '1.2.3.4' }])).toBe(
      '\n# Entries added by HostAliases.\n1.2.3.4\t\n',
    );
  });

  it('a host-network pod: its own header, the node file as it is, then the aliases', () => {
    const node = '127.0.0.1 localhost\n192.168.1.10 node-1 # the node\n';
    expect(nodeHostsFileContent(node, aliases)).toBe(
      '# Kubernetes-managed hosts file (host network).\n' +
        node +
        '\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n10.1.2.4\tbaz\n',
    );
    expect(nodeHostsFileContent(node, [])).toBe(
      '# Kubernetes-managed hosts file (host network).\n' + node,
    );
  });

  it('hostsFileContent picks by hostNetwork', () => {
    const spec: HostsFileSpec = {
      podIPs: ['10.0.0.5'],
      hostname: 'web',
      domain: '',
      hostAliases: [],
      hostNetwork: false,
    };
    expect(hostsFileContent(spec, 'NODE\n')).toBe(
      managedHostsFileContent(['10.0.0.5'], 'web', '', []),
    );
    expect(hostsFileContent({ ...spec, hostNetwork: true }, 'NODE\n')).toBe(
      '# Kubernetes-managed hosts file (host network).\nNODE\n',
    );
  });
});

describe('hostsFileSpec (kubelet GeneratePodHostNameAndDomain)', () => {
  it('hostname and subdomain of the spec, namespace and cluster domain', () => {
    const p = pod([container('app')], { hostname: 'db-0', subdomain: 'db', hostAliases: aliases });
    expect(hostsFileSpec(p, ['10.0.0.9'], 'cluster.local')).toEqual({
      podIPs: ['10.0.0.9'],
      hostname: 'db-0',
      domain: 'db.team.svc.cluster.local',
      hostAliases: aliases,
      hostNetwork: false,
    });
  });

  it('the pod name (cut to 63 characters) by default; namespace default; no domain without subdomain', () => {
    const long = `${'a'.repeat(62)}-b`;
    const p = pod([container('app')], { hostNetwork: true }, { name: long, namespace: '' });
    const spec = hostsFileSpec(p, []);
    expect(spec.hostname).toBe('a'.repeat(62));
    expect(spec.domain).toBe('');
    expect(spec.hostNetwork).toBe(true);
    expect(spec.hostAliases).toEqual([]);
    const sub = pod([container('app')], { subdomain: 'svc1' }, { namespace: '' });
    expect(hostsFileSpec(sub, [], 'example.org').domain).toBe('svc1.default.svc.example.org');
  });

  it('an invalid hostname is an InvalidPodSpecError', () => {
    const p = pod([container('app')], { hostname: 'Not_A_Label' });
    expect(() => hostsFileSpec(p, ['10.0.0.9'])).toThrow(InvalidPodSpecError);
  });
});

describe('when the kubelet mounts /etc/hosts (shouldMountHostsFile, makeMounts)', () => {
  const own = container('own', undefined, undefined, {
    volumeMounts: [{ name: 'v', mountPath: '/etc/hosts' }],
  });
  const plain = container('plain');

  it('pod network: only once the sandbox has an IP; host network: always', () => {
    const podNet = pod([plain]);
    const hostNet = pod([plain], { hostNetwork: true });
    expect(shouldMountHostsFile(podNet, [])).toBe(false);
    expect(shouldMountHostsFile(podNet, ['10.0.0.1'])).toBe(true);
    expect(shouldMountHostsFile(hostNet, [])).toBe(true);
  });

  it('not into a container that mounts its own /etc/hosts', () => {
    expect(containerMountsEtcHosts(plain)).toBe(false);
    expect(containerMountsEtcHosts(own)).toBe(true);
    expect(
      containerMountsEtcHosts(
        container('c', undefined, undefined, {
          volumeMounts: [{ name: 'v', mountPath: '/etc/./hosts/' }],
        }),
      ),
    ).toBe(true);
    expect(
      containerMountsEtcHosts(
        container('c', undefined, undefined, {
          volumeMounts: [{ name: 'v', mountPath: '/etc/hosts.d' }],
        }),
      ),
    ).toBe(false);
    const p = pod([plain, own]);
    expect(needsHostsMount(p, plain, ['10.0.0.1'])).toBe(true);
    expect(needsHostsMount(p, own, ['10.0.0.1'])).toBe(false);
    expect(needsHostsMount(p, plain, [])).toBe(false);
  });

  it('the mount: <podDir>/etc-hosts at /etc/hosts, read-write, relabelled', () => {
    expect(etcHostsFilePath('/var/lib/kubelet/pods/u1')).toBe('/var/lib/kubelet/pods/u1/etc-hosts');
    expect(makeHostsMount('/p/etc-hosts')).toEqual({
      containerPath: '/etc/hosts',
      hostPath: '/p/etc-hosts',
      readonly: false,
      selinuxRelabel: true,
    });
  });
});

describe('ensureHostsFile (kubelet ensureHostsFile) on a temporary directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'etc-hosts-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const spec: HostsFileSpec = {
    podIPs: ['10.0.0.5'],
    hostname: 'web',
    domain: '',
    hostAliases: aliases,
    hostNetwork: false,
  };

  it('creates the pod directory and writes mode 0644', async () => {
    const path = join(dir, 'pods', 'u1', 'etc-hosts');
    const umask = process.umask(0o077);
    try {
      await ensureHostsFile(path, spec);
    } finally {
      process.umask(umask);
    }
    expect(await readFile(path, 'utf8')).toBe(hostsFileContent(spec));
    expect((await stat(path)).mode & 0o777).toBe(0o644);
  });

  it('rewrites the file in place at every call (same inode: running containers see it)', async () => {
    const path = join(dir, 'etc-hosts');
    await ensureHostsFile(path, spec);
    const before = await stat(path);
    await ensureHostsFile(path, { ...spec, podIPs: ['10.0.0.77'] });
    const after = await stat(path);
    expect(after.ino).toBe(before.ino);
    expect(await readFile(path, 'utf8')).toContain('10.0.0.77\tweb\n');
    expect(await readFile(path, 'utf8')).not.toContain('10.0.0.5');
  });

  it('host network: copies the node hosts file; a missing node file is an error', async () => {
    const node = join(dir, 'node-hosts');
    await writeFile(node, '127.0.0.1 localhost\n192.168.7.7 node-7\n');
    const path = join(dir, 'etc-hosts');
    await ensureHostsFile(path, { ...spec, hostNetwork: true }, { nodeHostsPath: node });
    expect(await readFile(path, 'utf8')).toBe(
      '# Kubernetes-managed hosts file (host network).\n' +
        '127.0.0.1 localhost\n192.168.7.7 node-7\n' +
        '\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n10.1.2.4\tbaz\n',
    );
    await expect(
      ensureHostsFile(path, { ...spec, hostNetwork: true }, { nodeHostsPath: join(dir, 'none') }),
    ).rejects.toThrow(/ENOENT/);
  });
});

/** An in-memory pod filesystem whose hosts files are kept in a map. */
class MemoryPodFilesystem implements PodFilesystem {
  readonly files = new Map<string, string>();
  writes = 0;
  fail: Error | undefined;
  constructor(private readonly nodeHosts: string) {}
  ensureDir = async (): Promise<void> => {};
  removeAll = async (path: string): Promise<void> => {
    for (const f of this.files.keys()) if (f.startsWith(`${path}/`)) this.files.delete(f);
  };
  prepareHostPath = async (): Promise<void> => {};
  ensureHostsFile = async (path: string, spec: HostsFileSpec): Promise<void> => {
    if (this.fail) throw this.fail;
    this.writes++;
    this.files.set(path, hostsFileContent(spec, this.nodeHosts));
  };
}

describe('RuntimeManager mounts the pod hosts file (in-memory runtime, FakeClock)', () => {
  const rootDir = '/nodeagent-test/root';
  const nodeHosts = '127.0.0.1 localhost\n192.168.1.10 node-1\n';
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pleg: Pleg;
  let fs: MemoryPodFilesystem;
  let created: Map<string, cri.ContainerConfigInput>;
  let manager: RuntimeManager;

  function makeManager(podFs: PodFilesystem): RuntimeManager {
    return new RuntimeManager({
      runtime,
      images: runtime,
      cache: pleg.cache,
      clock,
      nodeName: 'node-1',
      rootDir,
      podLogsDir: '/nodeagent-test/logs',
      runtimeName: 'containerd',
      memoryCapacityBytes: 8 * 1024 ** 3,
      dns: { clusterDomain: 'cluster.local' },
      fs: podFs,
    });
  }

  beforeEach(() => {
    clock = new FakeClock();
    runtime = createFakeRuntime({ clock, autoEvents: false });
    created = new Map();
    const createContainer = runtime.createContainer.bind(runtime);
    runtime.createContainer = async (req, opts) => {
      if (req?.config) created.set(req.config.metadata?.name ?? '', req.config);
      return createContainer(req, opts);
    };
    pleg = createPleg({ runtime, clock, relistPeriodMs: 1_000 });
    fs = new MemoryPodFilesystem(nodeHosts);
    manager = makeManager(fs);
  });
  afterEach(async () => {
    await pleg.stop();
  });

  const signal = new AbortController().signal;
  async function sync(p: k8s.Pod, m = manager): Promise<void> {
    await pleg.relist();
    await m.syncPod(p, 'sync', { signal, statusNewerThanMs: 0 });
  }
  const hostsMountOf = (name: string) =>
    created.get(name)?.mounts?.find((m) => m.containerPath === '/etc/hosts');
  const sandboxIp = async () => {
    const id = runtime.listSandboxesNow()[0]?.id ?? '';
    const { status } = await runtime.podSandboxStatus({ podSandboxId: id });
    return status?.network?.ip ?? '';
  };

  function thePod(spec: Partial<k8s.PodSpec>): k8s.Pod {
    return pod(
      [
        container('app', undefined, undefined, { command: ['sleep', '3600'] }),
        container('own', undefined, undefined, {
          command: ['sleep', '3600'],
          volumeMounts: [{ name: 'cfg', mountPath: '/etc/hosts', subPath: 'hosts' }],
        }),
      ],
      { hostname: 'web-0', subdomain: 'web', hostAliases: aliases, ...spec },
      { uid: 'hosts-1' },
    );
  }
  const volumes: k8s.Volume[] = [{ name: 'cfg', emptyDir: {} }];

  it('pod network: the managed file with the sandbox IP and the aliases, bind-mounted read-write', async () => {
    await sync(thePod({ volumes }));
    const path = join(rootDir, 'pods', 'hosts-1', 'etc-hosts');
    const ip = await sandboxIp();
    expect(ip).not.toBe('');
    expect(hostsMountOf('app')).toEqual({
      containerPath: '/etc/hosts',
      hostPath: path,
      readonly: false,
      selinuxRelabel: true,
    });
    expect(fs.files.get(path)).toBe(
      managedHostsFileContent([ip], 'web-0', 'web.team.svc.cluster.local', aliases),
    );
    expect(fs.files.get(path)).toContain(`${ip}\tweb-0.web.team.svc.cluster.local\tweb-0\n`);
    // The container mounting its own /etc/hosts keeps it, and causes no write.
    expect(created.get('own')?.mounts?.filter((m) => m.containerPath === '/etc/hosts')).toEqual([
      expect.objectContaining({
        hostPath: join(rootDir, 'pods', 'hosts-1', 'volumes/kubernetes.io~empty-dir/cfg/hosts'),
      }),
    ]);
    expect(fs.writes).toBe(1);
  });

  it('host network: the node hosts file plus the aliases', async () => {
    await sync(thePod({ hostNetwork: true, volumes }));
    const path = join(rootDir, 'pods', 'hosts-1', 'etc-hosts');
    expect(hostsMountOf('app')?.hostPath).toBe(path);
    expect(fs.files.get(path)).toBe(
      '# Kubernetes-managed hosts file (host network).\n' +
        nodeHosts +
        '\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n10.1.2.4\tbaz\n',
    );
  });

  it('rewritten at each container start, as the kubelet does', async () => {
    const p = pod(
      [
        container('a', undefined, undefined, { command: ['sleep', '3600'] }),
        container('b', undefined, undefined, { command: ['sleep', '3600'] }),
      ],
      {},
      { uid: 'hosts-2' },
    );
    await sync(p);
    expect(fs.writes).toBe(2);
    expect(hostsMountOf('a')?.hostPath).toBe(hostsMountOf('b')?.hostPath);
    expect(fs.files.get(join(rootDir, 'pods', 'hosts-2', 'etc-hosts'))).toBe(
      managedHostsFileContent([await sandboxIp()], 'web', '', []),
    );
  });

  it('a failed write is a CreateContainerConfigError and no container is created', async () => {
    fs.fail = new Error('EACCES: permission denied');
    const p = thePod({ hostNetwork: true, volumes });
    await sync(p);
    expect(created.has('app')).toBe(false);
    expect(
      manager.podStatus('hosts-1')?.containerStatuses?.find((s) => s.name === 'app')?.state,
    ).toEqual({
      waiting: { reason: 'CreateContainerConfigError', message: 'EACCES: permission denied' },
    });
  });

  it('a filesystem without ensureHostsFile mounts no /etc/hosts', async () => {
    const bare: PodFilesystem = {
      ensureDir: async () => {},
      removeAll: async () => {},
      prepareHostPath: async () => {},
    };
    await sync(thePod({ volumes }), makeManager(bare));
    expect(created.has('app')).toBe(true);
    expect(hostsMountOf('app')).toBeUndefined();
  });
});
