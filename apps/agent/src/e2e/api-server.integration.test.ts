/**
 * End to end in API-server mode: the `nodeagent` process against testkit's strict
 * API server (in this process, TLS, client certificates) and the real containerd.
 * Pods are created and deleted through the API server's store (every change reaches
 * the agent through its watch, as from kubectl); what the agent reports is read back
 * from the API, what it does from the runtime over CRI.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import type { cri as api } from '@nodeagent/core';
import {
  freeLoopbackPort,
  startContainerd,
  startTestApiServer,
  stopContainerd,
  type ResourceInfo,
  type TestApiServer,
} from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSysctlStandIn } from '../kernel-defaults.js';
import {
  spawnAgent,
  writeApiModeAgentConfig,
  writeNodeKubeconfig,
} from './support/agent-process.js';

const env = realRuntime();
const nodeName = 'e2e-api-node';

type Json = Record<string, unknown>;

let server: TestApiServer;
let cri: CriClient;
let workDir: string;
let manifestDir: string;
let logFile: string;
let agent: ChildProcess | undefined;
let pods: ResourceInfo;
let nodes: ResourceInfo;
let leases: ResourceInfo;
let events: ResourceInfo;
let namespaces: ResourceInfo;

function startAgent(): ChildProcess {
  // Kernel tunables go to a stand-in for /proc/sys: tests never change the host's.
  return spawnAgent(
    [
      '--config',
      join(workDir, 'config.yaml'),
      '--kubeconfig',
      join(workDir, 'kubeconfig'),
      '--hostname-override',
      nodeName,
      '--node-ip',
      '127.0.0.1',
      '--root-dir',
      join(workDir, 'root'),
      '--v',
      '4',
    ],
    { workDir, logFile },
  );
}

async function stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const child = agent;
  agent = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
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
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}\nagent log tail:\n${readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n')}`,
  );
}

const obj = (v: unknown): Json => (v !== null && typeof v === 'object' ? (v as Json) : {});

function getPod(ns: string, name: string): Json | undefined {
  return server.store.tryGet(pods, ns, name);
}

function podStatus(ns: string, name: string): Json {
  return obj(getPod(ns, name)?.status);
}

function condition(status: Json, type: string): Json | undefined {
  return (Array.isArray(status.conditions) ? status.conditions : [])
    .map(obj)
    .find((c) => c.type === type);
}

function containerStatus(status: Json, name: string): Json | undefined {
  return (Array.isArray(status.containerStatuses) ? status.containerStatuses : [])
    .map(obj)
    .find((c) => c.name === name);
}

function nodeCondition(type: string): Json | undefined {
  const node = server.store.tryGet(nodes, '', nodeName);
  return condition(obj(node?.status), type);
}

function createPod(ns: string, name: string, spec: Json): Json {
  return server.store.create(pods, ns, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      nodeName,
      hostNetwork: true,
      terminationGracePeriodSeconds: 3,
      ...spec,
    },
  });
}

function sleeper(name: string, extra: Json = {}): Json {
  return { name, image: env.busyboxImage, command: ['sleep', '3600'], ...extra };
}

/** Containers of an API pod (by UID), newest first. */
async function containersOf(uid: string): Promise<api.Container[]> {
  const { containers } = await cri.listContainers({
    filter: { labelSelector: { 'io.kubernetes.pod.uid': uid } },
  });
  return containers.sort((a, b) => b.createdAt - a.createdAt);
}

function uidOf(pod: Json | undefined): string {
  const uid = obj(pod?.metadata).uid;
  return typeof uid === 'string' ? uid : '';
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'na-e2e-api-'));
  manifestDir = join(workDir, 'manifests');
  mkdirSync(manifestDir);
  logFile = join(workDir, 'agent.log');
  writeFileSync(logFile, '');
  await writeSysctlStandIn(join(workDir, 'proc-sys'));
  server = await startTestApiServer({ tls: true, bookmarkIntervalMs: 5_000 });
  pods = server.store.resource('pods');
  nodes = server.store.resource('nodes');
  leases = server.store.resource('leases', 'coordination.k8s.io');
  events = server.store.resource('events');
  namespaces = server.store.resource('namespaces');
  for (const ns of ['e2e-api', 'e2e-faults']) {
    server.store.create(namespaces, '', { metadata: { name: ns } });
  }
  writeNodeKubeconfig(server, workDir, nodeName);
  const nodeApiPort = await freeLoopbackPort();
  writeApiModeAgentConfig({ workDir, manifestDir, env, nodeApiPort });
  cri = createCriClient({ endpoint: env.criEndpoint });
  agent = startAgent();
  await waitFor('the Node to register', () => server.store.tryGet(nodes, '', nodeName), 30_000);
}, 60_000);

afterAll(async () => {
  await stopAgent();
  // The agent leaves pods running when it stops: remove this suite's.
  const { items } = await cri.listPodSandbox({});
  for (const sb of items) {
    const ns = sb.labels['io.kubernetes.pod.namespace'];
    if (ns !== 'e2e-api' && ns !== 'e2e-faults' && ns !== 'default') continue;
    if (ns === 'default' && !(sb.labels['io.kubernetes.pod.name'] ?? '').endsWith(nodeName))
      continue;
    const { containers } = await cri.listContainers({ filter: { podSandboxId: sb.id } });
    for (const c of containers) await cri.removeContainer({ containerId: c.id }).catch(() => {});
    await cri.stopPodSandbox({ podSandboxId: sb.id }).catch(() => {});
    await cri.removePodSandbox({ podSandboxId: sb.id }).catch(() => {});
  }
  cri.close();
  await server.stop();
  if (process.env.NODEAGENT_E2E_KEEP_LOGS) console.log(`e2e work dir kept: ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
});

describe('nodeagent in API-server mode on real containerd', () => {
  it('registers the Node Ready and renews its Lease every 10 s', async () => {
    const ready = await waitFor('Node Ready', () => {
      const c = nodeCondition('Ready');
      return c?.status === 'True' ? c : undefined;
    });
    expect(ready.reason).toBe('KubeletReady');
    const node = server.store.get(nodes, '', nodeName);
    expect(obj(node.metadata).labels).toMatchObject({
      'kubernetes.io/hostname': nodeName,
      'kubernetes.io/os': 'linux',
    });
    const status = obj(node.status);
    expect(status.addresses).toContainEqual({ type: 'InternalIP', address: '127.0.0.1' });
    expect(String(obj(status.nodeInfo).containerRuntimeVersion)).toMatch(/^containerd:\/\//);
    expect(obj(status.capacity)).toHaveProperty('pods', '110');
    for (const type of ['MemoryPressure', 'DiskPressure', 'PIDPressure'])
      expect(nodeCondition(type)?.status).toBe('False');

    const lease = server.store.get(leases, 'kube-node-lease', nodeName);
    const spec = obj(lease.spec);
    expect(spec).toMatchObject({ holderIdentity: nodeName, leaseDurationSeconds: 40 });
    const first = String(spec.renewTime);
    const renewed = await waitFor(
      'a lease renewal',
      () => {
        const t = String(obj(server.store.get(leases, 'kube-node-lease', nodeName).spec).renewTime);
        return t !== first ? t : undefined;
      },
      15_000,
    );
    const gapMs = Date.parse(renewed) - Date.parse(first);
    expect(gapMs).toBeGreaterThanOrEqual(9_000);
    expect(gapMs).toBeLessThanOrEqual(12_000);
  });

  it('runs a pod from the API: Running and Ready with the status fields a kubelet writes', async () => {
    const created = createPod('e2e-api', 'web', {
      containers: [
        sleeper('main', {
          readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 },
        }),
      ],
    });
    const uid = uidOf(created);
    const status = await waitFor('web Ready', () => {
      const s = podStatus('e2e-api', 'web');
      return condition(s, 'Ready')?.status === 'True' ? s : undefined;
    });
    expect(status.phase).toBe('Running');
    for (const type of ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']) {
      const c = condition(status, type);
      expect(c?.status, type).toBe('True');
      expect(String(c?.lastTransitionTime), type).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    expect(status).toMatchObject({
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      qosClass: 'BestEffort',
    });
    expect(String(status.startTime)).toMatch(/^\d{4}-\d\d-\d\dT/);
    const [running] = await containersOf(uid);
    const cs = containerStatus(status, 'main');
    expect(cs).toMatchObject({
      name: 'main',
      ready: true,
      started: true,
      restartCount: 0,
      image: env.busyboxImage,
      containerID: `containerd://${running?.id}`,
    });
    expect(String(cs?.imageID)).not.toBe('');
    expect(obj(obj(cs?.state).running).startedAt).toBeDefined();
    // Events for the pod went through the API.
    const reasons = server.store
      .list(events, 'e2e-api')
      .filter((e) => obj(e.involvedObject).name === 'web')
      .map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Created', 'Started']));
  });

  it('flips Ready with the readiness probe, without restarting the container', async () => {
    createPod('e2e-api', 'flip', {
      containers: [
        sleeper('main', {
          command: ['sh', '-c', 'touch /tmp/ready; sleep 3600'],
          readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 },
        }),
      ],
    });
    const ready = (want: 'True' | 'False') =>
      waitFor(`flip Ready=${want}`, () => {
        const s = podStatus('e2e-api', 'flip');
        return condition(s, 'Ready')?.status === want ? s : undefined;
      });
    await ready('True');
    const id = String(containerStatus(podStatus('e2e-api', 'flip'), 'main')?.containerID).replace(
      'containerd://',
      '',
    );
    await cri.execSync({ containerId: id, cmd: ['rm', '/tmp/ready'], timeout: 5 });
    const notReady = await ready('False');
    expect(condition(notReady, 'ContainersReady')?.status).toBe('False');
    await cri.execSync({ containerId: id, cmd: ['touch', '/tmp/ready'], timeout: 5 });
    const again = await ready('True');
    expect(containerStatus(again, 'main')?.restartCount).toBe(0);
  });

  it('reports CrashLoopBackOff and the restart count of a crashing container', async () => {
    createPod('e2e-api', 'crasher', {
      containers: [sleeper('crash', { command: ['sh', '-c', 'exit 3'] })],
    });
    const status = await waitFor(
      'CrashLoopBackOff in the API',
      () => {
        const s = podStatus('e2e-api', 'crasher');
        const cs = containerStatus(s, 'crash');
        return obj(obj(cs?.state).waiting).reason === 'CrashLoopBackOff' ? s : undefined;
      },
      40_000,
    );
    const cs = containerStatus(status, 'crash');
    expect(Number(cs?.restartCount)).toBeGreaterThanOrEqual(1);
    expect(obj(obj(cs?.lastState).terminated)).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(condition(status, 'Ready')?.status).toBe('False');
    server.store.delete(pods, 'e2e-api', 'crasher', { gracePeriodSeconds: 0 });
  });

  it('deletes gracefully: SIGTERM within the grace period, final status, then the object is gone', async () => {
    const created = createPod('e2e-api', 'graceful', {
      terminationGracePeriodSeconds: 10,
      containers: [
        sleeper('main', {
          command: ['sh', '-c', 'trap "echo bye; exit 0" TERM; while true; do sleep 0.2; done'],
        }),
      ],
    });
    const uid = uidOf(created);
    await waitFor('graceful Running', () => podStatus('e2e-api', 'graceful').phase === 'Running');
    const start = Date.now();
    server.store.delete(pods, 'e2e-api', 'graceful');
    // The agent writes the final status, then completes the deletion (grace 0).
    await waitFor('graceful gone', () => getPod('e2e-api', 'graceful') === undefined, 20_000);
    expect(Date.now() - start).toBeLessThan(9_000); // the trap exited at once, not after 10 s
    const patches = server.requests.filter(
      (r) => r.resource === 'pods' && r.name === 'graceful' && r.subresource === 'status',
    );
    const deletes = server.requests.filter(
      (r) => r.resource === 'pods' && r.name === 'graceful' && r.verb === 'delete',
    );
    // Our delete went to the store directly; the HTTP delete is the agent's (grace 0),
    // after its last status write.
    expect(deletes.length).toBeGreaterThanOrEqual(1);
    expect(patches.length).toBeGreaterThanOrEqual(1);
    expect(server.requests.indexOf(patches.at(-1)!)).toBeLessThan(
      server.requests.indexOf(deletes.at(-1)!),
    );
    await waitFor('containers removed', async () => (await containersOf(uid)).length === 0);
  });

  it('keeps a mirror pod for a static pod, and recreates it when deleted', async () => {
    writeFileSync(
      join(manifestDir, 'static.yaml'),
      `apiVersion: v1
kind: Pod
metadata:
  name: static
  namespace: default
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: ${env.busyboxImage}
    command: ["sleep", "3600"]
`,
    );
    const mirrorName = `static-${nodeName}`;
    const mirror = await waitFor(
      'the mirror pod Running',
      () => {
        const p = getPod('default', mirrorName);
        return obj(p?.status).phase === 'Running' ? p : undefined;
      },
      30_000,
    );
    const meta = obj(mirror?.metadata);
    expect(obj(meta.annotations)['kubernetes.io/config.mirror']).toBeTruthy();
    expect(meta.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Node', name: nodeName, controller: true }),
    ]);
    server.store.delete(pods, 'default', mirrorName, { gracePeriodSeconds: 0 });
    const again = await waitFor('the mirror recreated', () => {
      const p = getPod('default', mirrorName);
      return p && uidOf(p) !== uidOf(mirror) ? p : undefined;
    });
    expect(obj(obj(again.metadata).annotations)['kubernetes.io/config.mirror']).toBeTruthy();
    rmSync(join(manifestDir, 'static.yaml'));
    await waitFor('the mirror deleted with its static pod', () => !getPod('default', mirrorName));
  });

  it('a pod with an invalid spec gets a clear status and event; the agent keeps serving', async () => {
    createPod('e2e-api', 'bad-env', {
      containers: [
        sleeper('main', {
          env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'missing', key: 'k' } } }],
        }),
      ],
    });
    createPod('e2e-api', 'bad-volume', {
      containers: [sleeper('main', { volumeMounts: [{ name: 'v', mountPath: '/v' }] })],
      volumes: [{ name: 'v', csi: { driver: 'no.such.driver' } }],
    });
    const envStatus = await waitFor('bad-env waiting', () => {
      const w = obj(obj(containerStatus(podStatus('e2e-api', 'bad-env'), 'main')?.state).waiting);
      return w.reason === 'CreateContainerConfigError' ? w : undefined;
    });
    expect(String(envStatus.message)).toMatch(/configmaps? "missing".* not found/);
    await waitFor('FailedMount for bad-volume', () =>
      server.store
        .list(events, 'e2e-api')
        .some(
          (e) =>
            obj(e.involvedObject).name === 'bad-volume' &&
            e.reason === 'FailedMount' &&
            typeof e.message === 'string' &&
            e.message.includes('no.such.driver'),
        ),
    );
    expect(agent?.exitCode).toBeNull();
    createPod('e2e-api', 'after-bad', { containers: [sleeper('main')] });
    await waitFor('after-bad Running', () => podStatus('e2e-api', 'after-bad').phase === 'Running');
    for (const name of ['bad-env', 'bad-volume', 'after-bad'])
      server.store.delete(pods, 'e2e-api', name, { gracePeriodSeconds: 0 });
  });

  it('goes NotReady when containerd stops and Ready again when it is back', async () => {
    await stopContainerd();
    try {
      const notReady = await waitFor(
        'Node NotReady',
        () => {
          const c = nodeCondition('Ready');
          return c?.status === 'False' ? c : undefined;
        },
        75_000,
      );
      expect(notReady.reason).toBe('KubeletNotReady');
      expect(String(notReady.message)).toContain('container runtime is down');
    } finally {
      await startContainerd();
    }
    await waitFor('Node Ready again', () => nodeCondition('Ready')?.status === 'True', 45_000);
  }, 150_000);
});

describe('API faults', () => {
  it('misses no pod and starts none twice while watches drop every 3 s', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `w${i}`);
    const dropper = setInterval(() => server.faults.dropWatches({ abort: true }), 3_000);
    try {
      for (const [i, name] of names.entries()) {
        createPod('e2e-faults', name, { containers: [sleeper('main')] });
        if (i % 2 === 1) {
          await new Promise((r) => setTimeout(r, 1_500));
          server.store.delete(pods, 'e2e-faults', names[i - 1]!, { gracePeriodSeconds: 0 });
        }
        await new Promise((r) => setTimeout(r, 1_000));
      }
      const kept = names.filter((_, i) => i % 2 === 1);
      for (const name of kept) {
        await waitFor(`${name} Running`, () => podStatus('e2e-faults', name).phase === 'Running');
      }
      for (const name of kept) {
        const uid = uidOf(getPod('e2e-faults', name));
        const cs = await containersOf(uid);
        expect(
          cs.map((c) => c.metadata?.attempt),
          name,
        ).toEqual([0]); // started once
      }
      for (const [i, name] of names.entries()) {
        if (i % 2 === 1) continue;
        await waitFor(`${name} stopped`, async () => {
          const { containers } = await cri.listContainers({
            filter: {
              labelSelector: {
                'io.kubernetes.pod.name': name,
                'io.kubernetes.pod.namespace': 'e2e-faults',
              },
            },
          });
          return containers.every((c) => c.state !== 'CONTAINER_RUNNING');
        });
      }
    } finally {
      clearInterval(dropper);
    }
  }, 90_000);

  it('relists after 410 Gone and still sees new pods', async () => {
    const podLists = (): number =>
      server.requests.filter(
        (r) => r.resource === 'pods' && r.verb === 'list' && r.query.includes('spec.nodeName'),
      ).length;
    const before = podLists();
    // The watch is cut; resuming it from the last version answers 410 Gone: relist.
    server.faults.failRequests({ match: { verb: 'watch', resource: 'pods' }, code: 410, times: 1 });
    server.faults.dropWatches();
    await waitFor('a relist after 410', () => podLists() > before, 20_000);
    createPod('e2e-faults', 'after-gone', { containers: [sleeper('main')] });
    await waitFor(
      'after-gone Running',
      () => podStatus('e2e-faults', 'after-gone').phase === 'Running',
    );
    server.faults.clear();
  });

  it('a pod deleted and recreated with the same name is a new pod', async () => {
    const first = createPod('e2e-faults', 'same', { containers: [sleeper('main')] });
    await waitFor('same Running', () => podStatus('e2e-faults', 'same').phase === 'Running');
    server.store.delete(pods, 'e2e-faults', 'same', { gracePeriodSeconds: 0 });
    const second = createPod('e2e-faults', 'same', { containers: [sleeper('main')] });
    expect(uidOf(second)).not.toBe(uidOf(first));
    await waitFor('the new same Running', () => {
      const p = getPod('e2e-faults', 'same');
      return uidOf(p) === uidOf(second) && obj(p?.status).phase === 'Running';
    });
    await waitFor(
      'the old containers gone',
      async () => (await containersOf(uidOf(first))).length === 0,
    );
    expect((await containersOf(uidOf(second))).length).toBe(1);
  });

  it('keeps pods running while the API server is down 2 min (agent restarted meanwhile), then converges within 15 s', async () => {
    const pod = createPod('e2e-faults', 'steady', {
      containers: [sleeper('main'), sleeper('side', { command: ['sh', '-c', 'sleep 20; exit 1'] })],
    });
    const uid = uidOf(pod);
    await waitFor('steady Running', () => podStatus('e2e-faults', 'steady').phase === 'Running');
    const mainBefore = (await containersOf(uid)).find((c) => c.metadata?.name === 'main');
    await server.faults.goDown();
    const downAt = Date.now();
    try {
      // While it is down the agent restarts: it must run its pods from its checkpoint.
      await new Promise((r) => setTimeout(r, 5_000));
      await stopAgent('SIGKILL');
      agent = startAgent();
      // The side container crashes (exit 1 after 20 s) and is restarted meanwhile.
      await waitFor(
        'side restarted during the outage',
        async () =>
          (await containersOf(uid)).filter((c) => c.metadata?.name === 'side').length >= 2,
        60_000,
      );
      const remaining = 120_000 - (Date.now() - downAt);
      if (remaining > 0) await new Promise((r) => setTimeout(r, remaining));
      const main = (await containersOf(uid)).filter((c) => c.metadata?.name === 'main');
      expect(main.map((c) => c.id)).toEqual([mainBefore?.id]); // never restarted
      expect(main[0]?.state).toBe('CONTAINER_RUNNING');
    } finally {
      await server.faults.comeBack();
    }
    const backAt = Date.now();
    await waitFor(
      'the restart of side in the API',
      () => Number(containerStatus(podStatus('e2e-faults', 'steady'), 'side')?.restartCount) >= 1,
      15_000,
    );
    expect(Date.now() - backAt).toBeLessThanOrEqual(15_000);
    expect(nodeCondition('Ready')?.status).toBe('True');
  }, 240_000);
});
