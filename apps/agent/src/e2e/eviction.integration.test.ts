/**
 * End to end: node-pressure eviction on a small filesystem. The `nodeagent` command
 * runs as a real process in API-server mode (against the in-process testkit API
 * server, TLS, a `system:node:<node>` client certificate) on the real containerd,
 * with its `--root-dir` on a 64 MiB tmpfs made for the test. A BestEffort pod fills
 * an emptyDir (which lives under the root dir, so on the node fs) past
 * `evictionHard: nodefs.available 40%`; the kubelet's behaviour is then expected:
 * the writer is evicted (Failed / Evicted / DisruptionTarget, an `Evicted` event),
 * the node reports DiskPressure while over the threshold and drops it once the
 * evicted pod's emptyDir is gone and the transition period has passed, and the
 * well-behaved Guaranteed pod is never touched.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import type { cri as api, k8s } from '@nodeagent/core';
import {
  freeLoopbackPort,
  startTestApiServer,
  type CertificateAndKey,
  type TestApiServer,
} from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSysctlStandIn } from '../kernel-defaults.js';
import { spawnAgent } from './support/agent-process.js';

const env = realRuntime();
const suffix = Math.random().toString(36).slice(2, 8);
const nodeName = `evict-e2e-${suffix}`;
/** Every pod of this suite lives in this namespace: cleanup filters on it. */
const namespace = `evict-e2e-${suffix}`;
const tmpfsMiB = 64;
/** nodefs.available below 40 % of 64 MiB (25.6 MiB) is pressure. */
const nodefsThreshold = '40%';
/** What the writer pod puts in its emptyDir: 40 MiB, in 4 MiB steps. */
const writeMiB = 40;
const transitionPeriodSeconds = 20;

let server: TestApiServer;
let admin: CertificateAndKey;
let cri: CriClient;
let workDir: string;
let rootDir: string;
let logFile: string;
let mounted = false;
let agent: ChildProcess | undefined;

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** A request to the API server as a cluster administrator; resolves with the parsed body. */
function apiRequest<T>(method: string, path: string, body?: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        method,
        path,
        ca: server.caPem,
        cert: admin.certPem,
        key: admin.keyPem,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 500) >= 300) {
            reject(new Error(`${method} ${path}: ${res.statusCode ?? '?'} ${text}`));
            return;
          }
          resolve(JSON.parse(text) as T);
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const getPod = (name: string): Promise<k8s.Pod> =>
  apiRequest<k8s.Pod>('GET', `/api/v1/namespaces/${namespace}/pods/${name}`);

async function diskPressure(): Promise<Condition | undefined> {
  const node = await apiRequest<{ status?: { conditions?: Condition[] } }>(
    'GET',
    `/api/v1/nodes/${nodeName}`,
  );
  return node.status?.conditions?.find((c) => c.type === 'DiskPressure');
}

function agentLogTail(lines = 40): string {
  return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}\nagent log tail:\n${agentLogTail()}`,
  );
}

function startAgent(nodeApiPort: number): ChildProcess {
  const config = join(workDir, 'config.yaml');
  writeFileSync(
    config,
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'makeIPTablesUtilChains: false', // tests never change the host firewall
      `containerRuntimeEndpoint: ${env.criEndpoint}`,
      `podLogsDir: ${join(workDir, 'logs')}`,
      `cgroupRoot: ${env.cgroupRoot}`,
      'address: 127.0.0.1',
      `port: ${nodeApiPort}`,
      'nodeStatusUpdateFrequency: 2s',
      // Only this threshold (setting evictionHard replaces the kubelet's defaults).
      'evictionHard:',
      `  nodefs.available: "${nodefsThreshold}"`,
      `evictionPressureTransitionPeriod: ${transitionPeriodSeconds}s`,
      'logging:',
      '  format: json',
      '',
    ].join('\n'),
  );
  const kubeconfig = join(workDir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    server.kubeconfig(
      server.issueClientCertificate({ name: `system:node:${nodeName}`, groups: ['system:nodes'] }),
    ),
    { mode: 0o600 },
  );
  return spawnAgent(
    [
      '--config',
      config,
      '--kubeconfig',
      kubeconfig,
      '--hostname-override',
      nodeName,
      '--node-ip',
      '127.0.0.1',
      '--root-dir',
      rootDir,
      '--cert-dir',
      join(workDir, 'pki'),
      '--v',
      '4',
    ],
    { workDir, logFile },
  );
}

async function stopAgent(): Promise<void> {
  const child = agent;
  agent = undefined;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

function pod(name: string, spec: Omit<k8s.PodSpec, 'nodeName'>): k8s.Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { suite: namespace } },
    spec: { nodeName, hostNetwork: true, terminationGracePeriodSeconds: 2, ...spec },
  };
}

/** The pod's containers on the runtime (CRI), by the kubelet's labels. */
async function containersOf(name: string): Promise<api.Container[]> {
  const { containers } = await cri.listContainers({
    filter: {
      labelSelector: {
        'io.kubernetes.pod.namespace': namespace,
        'io.kubernetes.pod.name': name,
      },
    },
  });
  return containers;
}

function availableBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'na-evict-'));
  rootDir = join(workDir, 'root');
  mkdirSync(rootDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsMiB}m`, 'nodeagent-evict-e2e', rootDir]);
  mounted = true;
  logFile = join(workDir, 'agent.log');
  writeFileSync(logFile, '');
  await writeSysctlStandIn(join(workDir, 'proc-sys'));
  server = await startTestApiServer({ tls: true });
  admin = server.issueClientCertificate({ name: 'e2e-admin', groups: ['system:masters'] });
  await apiRequest('POST', '/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  });
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  agent = startAgent(await freeLoopbackPort());
  await waitFor(
    'the node to register and be Ready',
    async () => {
      const node = await apiRequest<{ status?: { conditions?: Condition[] } }>(
        'GET',
        `/api/v1/nodes/${nodeName}`,
      );
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    },
    45_000,
  );
}, 90_000);

afterAll(async () => {
  await stopAgent();
  // The agent leaves pods running on shutdown: remove this suite's, and only those.
  if (cri) {
    const { items } = await cri.listPodSandbox({
      filter: { labelSelector: { 'io.kubernetes.pod.namespace': namespace } },
    });
    for (const sb of items) {
      await cri.stopPodSandbox({ podSandboxId: sb.id }).catch(() => undefined);
      await cri.removePodSandbox({ podSandboxId: sb.id }).catch(() => undefined);
    }
    cri.close();
  }
  await server?.stop();
  if (mounted) {
    try {
      execFileSync('umount', [rootDir]);
    } catch {
      // Still busy (a process inside): detach it so no mount is left behind.
      execFileSync('umount', ['-l', rootDir]);
    }
    mounted = false;
  }
  rmSync(workDir, { recursive: true, force: true });
}, 90_000);

describe('node-pressure eviction on a small node filesystem', () => {
  it('evicts the pod filling the node fs, reports DiskPressure, then recovers; the other pod runs on', async () => {
    const before = availableBytes(rootDir);
    // Room for the write to cross the threshold, but not to fill the fs to the brim.
    expect(before).toBeGreaterThan(0.6 * tmpfsMiB * 2 ** 20 + 4 * 2 ** 20);
    expect(before - writeMiB * 2 ** 20).toBeLessThan(0.4 * tmpfsMiB * 2 ** 20);
    expect((await diskPressure())?.status).toBe('False');

    // The well-behaved pod: Guaranteed, within its ephemeral-storage request.
    const resources = { cpu: '50m', memory: '32Mi', 'ephemeral-storage': '8Mi' };
    await apiRequest(
      'POST',
      `/api/v1/namespaces/${namespace}/pods`,
      pod('steady', {
        containers: [
          {
            name: 'main',
            image: env.busyboxImage,
            command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
            resources: { requests: resources, limits: resources },
          },
        ],
      }),
    );
    const steadyRunning = await waitFor('steady running', async () => {
      const p = await getPod('steady');
      return p.status?.phase === 'Running' ? p : undefined;
    });
    expect(steadyRunning.status?.qosClass).toBe('Guaranteed');
    const [steadyContainer] = await containersOf('steady');
    expect(steadyContainer?.state).toBe('CONTAINER_RUNNING');

    // The writer: BestEffort, fills its emptyDir (on the node fs), then idles.
    await apiRequest(
      'POST',
      `/api/v1/namespaces/${namespace}/pods`,
      pod('writer', {
        containers: [
          {
            name: 'fill',
            image: env.busyboxImage,
            command: [
              'sh',
              '-c',
              `trap "exit 0" TERM; i=0; while [ $i -lt ${writeMiB / 4} ]; do dd if=/dev/zero of=/scratch/f$i bs=1M count=4 2>/dev/null; i=$((i+1)); done; echo filled; sleep 3600 & wait`,
            ],
            volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
          },
        ],
        volumes: [{ name: 'scratch', emptyDir: {} }],
      }),
    );
    const writer = await waitFor('writer running', async () => {
      const p = await getPod('writer');
      return p.status?.phase === 'Running' ? p : undefined;
    });
    const writerUid = writer.metadata.uid ?? '';
    expect(writer.status?.qosClass).toBe('BestEffort');
    const emptyDir = join(
      rootDir,
      'pods',
      writerUid,
      'volumes',
      'kubernetes.io~empty-dir',
      'scratch',
    );
    // The write lands on the node fs: below the threshold.
    await waitFor('the node fs to be past the threshold', async () =>
      availableBytes(rootDir) < 0.4 * tmpfsMiB * 2 ** 20 ? true : undefined,
    );
    expect(existsSync(emptyDir)).toBe(true);

    // Pressure: the node reports it (the kubelet's reason) within a pass or two.
    const pressure = await waitFor(
      'DiskPressure True',
      async () => {
        const c = await diskPressure();
        return c?.status === 'True' ? c : undefined;
      },
      40_000,
    );
    const pressureSeenAt = Date.now();
    expect(pressure.reason).toBe('KubeletHasDiskPressure');

    // The writer is evicted: Failed, Evicted, a message naming the resource, the
    // DisruptionTarget condition (reason TerminationByKubelet).
    const evicted = await waitFor(
      'writer evicted',
      async () => {
        const p = await getPod('writer');
        return p.status?.phase === 'Failed' ? p : undefined;
      },
      40_000,
    );
    expect(evicted.status?.reason).toBe('Evicted');
    expect(evicted.status?.message).toMatch(
      /^The node was low on resource: ephemeral-storage\. Threshold quantity: \S+, available: \S+\. /,
    );
    const disruption = evicted.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
    expect(disruption).toMatchObject({ status: 'True', reason: 'TerminationByKubelet' });
    // The kubelet's `Evicted` event on the pod, with the same message.
    const events = await waitFor('Evicted event', async () => {
      const list = await apiRequest<{
        items: Array<{ reason?: string; message?: string; involvedObject?: { name?: string } }>;
      }>('GET', `/api/v1/namespaces/${namespace}/events`);
      const found = list.items.filter(
        (e) => e.reason === 'Evicted' && e.involvedObject?.name === 'writer',
      );
      return found.length > 0 ? found : undefined;
    });
    expect(events[0]?.message).toMatch(/^The node was low on resource: ephemeral-storage\./);
    // Not restarted: its containers are stopped and none runs again.
    await waitFor('writer containers stopped', async () =>
      (await containersOf('writer')).every((c) => c.state !== 'CONTAINER_RUNNING'),
    );

    // The evicted pod's resources are released: its emptyDir goes, the space comes back.
    await waitFor('the writer emptyDir removed', async () => !existsSync(emptyDir), 30_000);
    expect(availableBytes(rootDir)).toBeGreaterThan(0.4 * tmpfsMiB * 2 ** 20);

    // Still DiskPressure for the transition period, then back to False.
    const recovered = await waitFor(
      'DiskPressure back to False',
      async () => {
        const c = await diskPressure();
        return c?.status === 'False' ? c : undefined;
      },
      (transitionPeriodSeconds + 25) * 1000,
    );
    expect(recovered.reason).toBe('KubeletHasNoDiskPressure');
    // Held for the transition period after it was last observed (which is no earlier
    // than when this test first saw it, less the node status update period): a lower
    // bound only, a slow machine cannot break it.
    expect(Date.now() - pressureSeenAt).toBeGreaterThanOrEqual(
      (transitionPeriodSeconds - 5) * 1000,
    );

    // The steady pod ran throughout: same container, running, never restarted.
    const steady = await getPod('steady');
    expect(steady.status?.phase).toBe('Running');
    expect(steady.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    const steadyNow = await containersOf('steady');
    expect(steadyNow.map((c) => c.id)).toEqual([steadyContainer?.id]);
    expect(steadyNow[0]?.state).toBe('CONTAINER_RUNNING');
    expect((await getPod('writer')).status?.phase).toBe('Failed');

    // Clean up through the API: the agent removes the pods' sandboxes.
    for (const name of ['writer', 'steady']) {
      await apiRequest('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`);
    }
    await waitFor(
      'sandboxes removed',
      async () => {
        const { items } = await cri.listPodSandbox({
          filter: { labelSelector: { 'io.kubernetes.pod.namespace': namespace } },
        });
        return items.length === 0;
      },
      30_000,
    );
  }, 150_000);
});
