/**
 * The kubelet-managed /etc/hosts on the real containerd, through the RuntimeManager:
 * a pod on the test CNI bridge sees the managed file (its sandbox IP with the FQDN of
 * its hostname and subdomain, then its hostAliases) and may write to it; a
 * host-network pod sees the node's /etc/hosts under the host-network header, then its
 * hostAliases. Everything the suite creates is removed at the end.
 */
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { k8s } from '@nodeagent/core';
import type { CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeManager } from '../runtime-manager.js';
import { RealRuntimeHarness } from '../test-support/real-runtime-manager.js';

const env = realRuntime();
const suiteLabel = { 'nodeagent.test/suite': 'pod-lifecycle-etc-hosts' };
const namespace = 'etc-hosts-it';
const clusterDomain = 'cluster.local';

const hostAliases: k8s.HostAlias[] = [
  { ip: '10.123.0.1', hostnames: ['alpha.example', 'alpha'] },
  { ip: '10.123.0.2', hostnames: ['beta.example'] },
];
const aliasSection =
  '\n# Entries added by HostAliases.\n' +
  '10.123.0.1\talpha.example\talpha\n' +
  '10.123.0.2\tbeta.example\n';

function makePod(name: string, spec: Partial<k8s.PodSpec>): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: randomUUID(), labels: { ...suiteLabel } },
    spec: {
      terminationGracePeriodSeconds: 1,
      hostAliases,
      containers: [{ name: 'app', image: env.busyboxImage, command: ['sleep', '3600'] }],
      ...spec,
    },
  };
}

const podNetwork = makePod('etc-hosts-podnet', { hostname: 'web-0', subdomain: 'web' });
const hostNetwork = makePod('etc-hosts-hostnet', { hostNetwork: true });

let harness: RealRuntimeHarness;
let cri: CriClient;
let manager: RuntimeManager;
let rootDir: string;
let events: RealRuntimeHarness['events'];

async function sync(pod: k8s.Pod): Promise<void> {
  await harness.sync(manager, pod);
}

async function runningContainer(pod: k8s.Pod): Promise<string> {
  const { containers } = await cri.listContainers({
    filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.metadata.uid ?? '' } },
  });
  const running = containers.find((c) => c.state === 'CONTAINER_RUNNING');
  if (!running) throw new Error(`no running container in ${pod.metadata.name}`);
  return running.id;
}

async function exec(pod: k8s.Pod, cmd: string[]): Promise<{ stdout: string; exitCode: number }> {
  const r = await cri.execSync({ containerId: await runningContainer(pod), cmd, timeout: 10 });
  return { stdout: Buffer.from(r.stdout).toString('utf8'), exitCode: r.exitCode };
}

async function sandboxIp(pod: k8s.Pod): Promise<string> {
  const { items } = await cri.listPodSandbox({
    filter: { labelSelector: { 'io.kubernetes.pod.uid': pod.metadata.uid ?? '' } },
  });
  const id = items.find((s) => s.state === 'SANDBOX_READY')?.id;
  if (!id) throw new Error(`no ready sandbox for ${pod.metadata.name}`);
  const { status } = await cri.podSandboxStatus({ podSandboxId: id });
  return status?.network?.ip ?? '';
}

beforeAll(async () => {
  harness = await RealRuntimeHarness.open({ suiteLabel, rootDirPrefix: 'etc-hosts-it-' });
  ({ cri, rootDir, events } = harness);
  manager = harness.manager({ dns: { clusterDomain } });
});

afterAll(() => harness?.close());

describe('kubelet-managed /etc/hosts on containerd', () => {
  it('a pod on the bridge: the managed file with its IP, FQDN and hostAliases', async () => {
    await sync(podNetwork);
    // no clusterDNS configured: the kubelet warns that ClusterFirst falls back to Default
    expect(events.filter((e) => e.type === 'Warning').map((e) => e.reason)).toEqual([
      'MissingClusterDNS',
    ]);
    const ip = await sandboxIp(podNetwork);
    const prefix = env.cniSubnet.split('.').slice(0, 3).join('.') + '.';
    expect(ip.startsWith(prefix)).toBe(true);
    const expected =
      '# Kubernetes-managed hosts file.\n' +
      '127.0.0.1\tlocalhost\n' +
      '::1\tlocalhost ip6-localhost ip6-loopback\n' +
      'fe00::0\tip6-localnet\n' +
      'fe00::0\tip6-mcastprefix\n' +
      'fe00::1\tip6-allnodes\n' +
      'fe00::2\tip6-allrouters\n' +
      `${ip}\tweb-0.web.${namespace}.svc.${clusterDomain}\tweb-0\n` +
      aliasSection;
    const cat = await exec(podNetwork, ['cat', '/etc/hosts']);
    expect(cat.exitCode).toBe(0);
    expect(cat.stdout).toBe(expected);
    // The file lives in the pod directory on the node.
    const hostFile = join(rootDir, 'pods', podNetwork.metadata.uid ?? '', 'etc-hosts');
    expect(await readFile(hostFile, 'utf8')).toBe(expected);
    // The container's hostname matches the file's short name.
    expect((await exec(podNetwork, ['hostname'])).stdout).toBe('web-0\n');
  });

  it('the mount is read-write, as on a kubelet', async () => {
    const append = await exec(podNetwork, ['sh', '-c', 'echo "10.9.9.9 added" >> /etc/hosts']);
    expect(append.exitCode).toBe(0);
    const hostFile = join(rootDir, 'pods', podNetwork.metadata.uid ?? '', 'etc-hosts');
    expect(await readFile(hostFile, 'utf8')).toMatch(/10\.9\.9\.9 added\n$/);
  });

  it('a host-network pod: the node hosts file under its header, then the hostAliases', async () => {
    const warningsBefore = events.filter((e) => e.type === 'Warning').length;
    await sync(hostNetwork);
    // a host-network ClusterFirst pod uses the node's DNS: no warning
    expect(events.filter((e) => e.type === 'Warning')).toHaveLength(warningsBefore);
    const node = await readFile('/etc/hosts', 'utf8');
    const cat = await exec(hostNetwork, ['cat', '/etc/hosts']);
    expect(cat.exitCode).toBe(0);
    expect(cat.stdout).toBe(
      '# Kubernetes-managed hosts file (host network).\n' + node + aliasSection,
    );
  });

  it('cleanup removes both pods and their directories', async () => {
    for (const p of [podNetwork, hostNetwork]) {
      await harness.terminate(manager, p);
    }
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: suiteLabel } });
    expect(items).toEqual([]);
    const { containers } = await cri.listContainers({ filter: { labelSelector: suiteLabel } });
    expect(containers).toEqual([]);
    for (const p of [podNetwork, hostNetwork]) {
      await expect(stat(join(rootDir, 'pods', p.metadata.uid ?? ''))).rejects.toThrow(/ENOENT/);
    }
  });
});
