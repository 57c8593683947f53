/**
 * End to end: the `nodeagent` command as a real process, standalone (static pods),
 * on the real containerd. Every scenario watches the runtime over CRI, as an
 * operator with crictl would, and reads the agent's JSON log for what the runtime
 * cannot show (readiness).
 */
import type { ChildProcess } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import type { cri as api } from '@nodeagent/core';
import { freeLoopbackPort } from '@nodeagent/testkit';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { writeSysctlStandIn } from '../kernel-defaults.js';
import { spawnAgent } from './support/agent-process.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const env = realRuntime();
const nodeName = 'e2e-node';

let cri: CriClient;
let workDir: string;
let manifestDir: string;
let logFile: string;
let agent: ChildProcess | undefined;
let nodeApiPort: number;
let healthzPort: number;

function startAgent(): ChildProcess {
  const config = join(workDir, 'config.yaml');
  writeFileSync(
    config,
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'makeIPTablesUtilChains: false', // tests never change the host firewall
      `staticPodPath: ${manifestDir}`,
      `containerRuntimeEndpoint: ${env.criEndpoint}`,
      `podLogsDir: ${join(workDir, 'logs')}`,
      `cgroupRoot: ${env.cgroupRoot}`,
      'syncFrequency: 1m0s',
      // The node API on a free loopback port (never 0.0.0.0:10250 in tests).
      'address: 127.0.0.1',
      `port: ${nodeApiPort}`,
      `healthzPort: ${healthzPort}`,
      'fileCheckFrequency: 20s',
      // small, fast log rotation for the ContainerLogRotation scenario
      'containerLogMaxSize: 16Ki',
      'containerLogMaxFiles: 3',
      'containerLogMonitorInterval: 3s',
      'logging:',
      '  format: json',
      '',
    ].join('\n'),
  );
  // Kernel tunables go to a stand-in for /proc/sys: tests never change the host's.
  return spawnAgent(
    [
      '--config',
      config,
      '--hostname-override',
      nodeName,
      '--root-dir',
      join(workDir, 'root'),
      // --v 4: debug lines, including every pod status the agent generates.
      '--v',
      '4',
    ],
    { workDir, logFile },
  );
}

async function stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const child = agent;
  agent = undefined;
  if (!child || child.exitCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  child.kill(signal);
  return exited;
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
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}\nagent log tail:\n${readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n')}`,
  );
}

/** Containers of a static pod (`<name>-<node>`), newest first. */
async function containersOf(podName: string): Promise<api.Container[]> {
  const { containers } = await cri.listContainers({
    filter: { labelSelector: { 'io.kubernetes.pod.name': `${podName}-${nodeName}` } },
  });
  return containers.sort((a, b) => b.createdAt - a.createdAt);
}

async function runningContainer(
  podName: string,
  container: string,
): Promise<api.Container | undefined> {
  return (await containersOf(podName)).find(
    (c) => c.metadata?.name === container && c.state === 'CONTAINER_RUNNING',
  );
}

async function sandboxesOf(podName: string): Promise<api.PodSandbox[]> {
  const { items } = await cri.listPodSandbox({
    filter: { labelSelector: { 'io.kubernetes.pod.name': `${podName}-${nodeName}` } },
  });
  return items;
}

function restartCount(c: api.Container | undefined): number {
  return Number(c?.annotations['io.kubernetes.container.restartCount'] ?? -1);
}

function writeManifest(file: string, yaml: string): void {
  writeFileSync(join(manifestDir, file), yaml);
}

function busyboxPod(name: string, container: string, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 3
${extra}`
    .replace(/__IMAGE__/g, env.busyboxImage)
    .replace(/__CONTAINER__/g, container);
}

/** Lines of the agent's JSON log that mention `text`. */
function logLines(text: string): Array<Record<string, unknown>> {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes(text))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'na-e2e-'));
  nodeApiPort = await freeLoopbackPort();
  healthzPort = await freeLoopbackPort();
  await writeSysctlStandIn(join(workDir, 'proc-sys'));
  manifestDir = join(workDir, 'manifests');
  mkdirSync(manifestDir);
  logFile = join(workDir, 'agent.log');
  writeFileSync(logFile, '');
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  agent = startAgent();
}, 60_000);

afterAll(async () => {
  await stopAgent();
  // The agent leaves pods running on shutdown; remove what this suite started.
  const { items } = await cri.listPodSandbox({});
  for (const sb of items.filter((s) => s.metadata?.name.endsWith(`-${nodeName}`))) {
    await cri.stopPodSandbox({ podSandboxId: sb.id }).catch(() => undefined);
    await cri.removePodSandbox({ podSandboxId: sb.id }).catch(() => undefined);
  }
  cri.close();
  rmSync(workDir, { recursive: true, force: true });
}, 60_000);

describe('nodeagent standalone on real containerd', () => {
  it('runs a dropped-in manifest, replaces it when edited, stops it when removed', async () => {
    writeManifest(
      'sleeper.yaml',
      busyboxPod(
        'sleeper',
        'main',
        `  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sh', '-c', 'trap "exit 0" TERM; echo v1; sleep 3600 & wait']
`,
      ),
    );
    const first = await waitFor('sleeper running', () => runningContainer('sleeper', 'main'));
    const [sb1] = await sandboxesOf('sleeper');
    expect(sb1?.labels['io.kubernetes.pod.namespace']).toBe('default');

    // Edit: a new manifest version is a new static pod (new UID): old one replaced.
    writeManifest(
      'sleeper.yaml',
      busyboxPod(
        'sleeper',
        'main',
        `  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sh', '-c', 'trap "exit 0" TERM; echo v2; sleep 3600 & wait']
`,
      ),
    );
    const second = await waitFor('sleeper replaced', async () => {
      const c = await runningContainer('sleeper', 'main');
      return c && c.id !== first.id ? c : undefined;
    });
    expect(second.labels['io.kubernetes.pod.uid']).not.toBe(first.labels['io.kubernetes.pod.uid']);
    await waitFor('old sandbox gone', async () =>
      (await sandboxesOf('sleeper')).every((s) => s.id !== sb1?.id),
    );

    // Remove: stopped (it exits on SIGTERM) well within its 3 s grace period.
    const removedAt = Date.now();
    unlinkSync(join(manifestDir, 'sleeper.yaml'));
    await waitFor('sleeper gone', async () => (await sandboxesOf('sleeper')).length === 0, 20_000);
    expect(Date.now() - removedAt).toBeLessThan(3_000 + 5_000);
  }, 90_000);

  it('answers ok on the plain-HTTP healthz (http://127.0.0.1:<healthzPort>/healthz)', async () => {
    const res = await waitFor('healthz to answer', () =>
      fetch(`http://127.0.0.1:${healthzPort}/healthz`).catch(() => undefined),
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('rotates a chatty container log, up to containerLogMaxFiles and never more (kubelet ContainerLogRotation)', async () => {
    writeManifest(
      'chatty.yaml',
      busyboxPod(
        'chatty',
        'log',
        `  restartPolicy: Never
  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sh', '-c', 'while true; do seq 1 100; sleep 0.1; done']
`,
      ),
    );
    const c = await waitFor('chatty running', () => runningContainer('chatty', 'log'));
    const logPath = (await cri.containerStatus({ containerId: c.id })).status?.logPath ?? '';
    expect(logPath).not.toBe('');
    const logFiles = (): string[] => {
      const dir = dirname(logPath);
      const base = basename(logPath);
      return readdirSync(dir).filter(
        (n) => n === base || (n.startsWith(`${base}.`) && !n.endsWith('.tmp')),
      );
    };
    const counts: number[] = [];
    await waitFor(
      'the log to be rotated up to 3 files',
      async () => {
        const files = logFiles();
        counts.push(files.length);
        return files.length === 3 && files.some((f) => f.endsWith('.gz')) ? files : undefined;
      },
      40_000,
    );
    // a few more rotation periods: never more than 3 files
    const until = Date.now() + 7_000;
    while (Date.now() < until) {
      counts.push(logFiles().length);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(Math.max(...counts)).toBeLessThanOrEqual(3);
    unlinkSync(join(manifestDir, 'chatty.yaml'));
    await waitFor('chatty gone', async () => (await sandboxesOf('chatty')).length === 0, 20_000);
  }, 90_000);

  it('restarts a container whose liveness probe fails (restart count 1)', async () => {
    writeManifest(
      'liveness.yaml',
      busyboxPod(
        'liveness',
        'probed',
        `  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sh', '-c', 'touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 3600']
      livenessProbe:
        exec:
          command: ['test', '-f', '/tmp/healthy']
        periodSeconds: 1
        failureThreshold: 2
`,
      ),
    );
    const first = await waitFor('liveness pod running', () =>
      runningContainer('liveness', 'probed'),
    );
    expect(restartCount(first)).toBe(0);
    const restarted = await waitFor(
      'liveness restart',
      async () => {
        const c = await runningContainer('liveness', 'probed');
        return c && c.id !== first.id ? c : undefined;
      },
      30_000,
    );
    expect(restartCount(restarted)).toBe(1);
    expect(restarted.metadata?.attempt).toBe(1);
    unlinkSync(join(manifestDir, 'liveness.yaml'));
  }, 60_000);

  it('a failing readiness probe makes the pod not ready and never restarts it', async () => {
    writeManifest(
      'notready.yaml',
      busyboxPod(
        'notready',
        'web',
        `  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sleep', '3600']
      readinessProbe:
        exec:
          command: ['false']
        periodSeconds: 1
`,
      ),
    );
    const c = await waitFor('notready running', () => runningContainer('notready', 'web'));
    await new Promise((r) => setTimeout(r, 5_000));
    const still = await runningContainer('notready', 'web');
    expect(still?.id).toBe(c.id);
    expect(restartCount(still)).toBe(0);
    // The agent logs every status it generates (at --v 4): never Ready for this pod.
    const statusLines = logLines('"Pod status"').filter((l) =>
      String(l.pod as string).startsWith('default/notready-'),
    );
    expect(statusLines.length).toBeGreaterThan(0);
    expect(statusLines.every((l) => l.ready === false)).toBe(true);
    // …and the probe's failures were reported as Unhealthy events.
    const unhealthy = logLines('Readiness probe failed').filter((l) => l.reason === 'Unhealthy');
    expect(unhealthy.length).toBeGreaterThan(0);
    unlinkSync(join(manifestDir, 'notready.yaml'));
  }, 60_000);

  it('backs a crash loop off by 10 s, then 20 s (measured on the real clock)', async () => {
    writeManifest(
      'crash.yaml',
      busyboxPod(
        'crash',
        'boom',
        `  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sh', '-c', 'exit 1']
`,
      ),
    );
    // Starts: #0 at once, #1 at once (first restart is immediate), #2 after 10 s, #3 after 20 s.
    // Container GC (every minute) may remove dead attempts meanwhile, so every attempt is
    // recorded while it can be seen: creation, restart count and, once exited, finish.
    const seen = new Map<string, { createdAt: number; finishedAt: number; restart: number }>();
    const four = await waitFor(
      'four attempts',
      async () => {
        for (const c of await containersOf('crash')) {
          if (c.metadata?.name !== 'boom') continue;
          const entry = seen.get(c.id) ?? {
            createdAt: c.createdAt / 1e6,
            finishedAt: 0,
            restart: restartCount(c),
          };
          seen.set(c.id, entry);
          if (entry.finishedAt === 0 && c.state === 'CONTAINER_EXITED') {
            const st = await cri.containerStatus({ containerId: c.id }).catch(() => undefined);
            entry.finishedAt = (st?.status?.finishedAt ?? 0) / 1e6;
          }
        }
        const list = [...seen.values()].sort((a, b) => a.createdAt - b.createdAt);
        return list.length >= 4 && list.slice(0, 3).every((e) => e.finishedAt > 0)
          ? list.slice(0, 4)
          : undefined;
      },
      60_000,
    );
    const gap2 = four[2]!.createdAt - four[1]!.finishedAt;
    const gap3 = four[3]!.createdAt - four[2]!.finishedAt;
    expect(gap2).toBeGreaterThanOrEqual(9_500);
    expect(gap2).toBeLessThan(13_000);
    expect(gap3).toBeGreaterThanOrEqual(19_500);
    expect(gap3).toBeLessThan(23_000);
    expect(four.map((e) => e.restart)).toEqual([0, 1, 2, 3]);
    unlinkSync(join(manifestDir, 'crash.yaml'));
  }, 90_000);

  it('honours OnFailure and Never restart policies', async () => {
    writeManifest(
      'onfailure.yaml',
      busyboxPod(
        'onfailure',
        'job',
        `  restartPolicy: OnFailure
  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sh', '-c', 'if [ -f /tmp/x ]; then exit 0; fi; exit 1']
`,
      ),
    );
    writeManifest(
      'never.yaml',
      busyboxPod(
        'never',
        'job',
        `  restartPolicy: Never
  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sh', '-c', 'exit 2']
`,
      ),
    );
    // OnFailure: a failing container is restarted (attempt 1 follows attempt 0).
    await waitFor(
      'onfailure restarted',
      async () => (await containersOf('onfailure')).length >= 2,
      30_000,
    );
    // Never: exactly one attempt, which stays exited with its code.
    const never = await waitFor('never exited', async () => {
      const [c] = await containersOf('never');
      return c?.state === 'CONTAINER_EXITED' ? c : undefined;
    });
    await new Promise((r) => setTimeout(r, 3_000));
    const all = await containersOf('never');
    expect(all).toHaveLength(1);
    const { status } = await cri.containerStatus({ containerId: never.id });
    expect(status?.exitCode).toBe(2);
    unlinkSync(join(manifestDir, 'onfailure.yaml'));
    unlinkSync(join(manifestDir, 'never.yaml'));
  }, 60_000);

  it('runs init containers first, and handles an init failure per restart policy', async () => {
    writeManifest(
      'initok.yaml',
      busyboxPod(
        'initok',
        'app',
        `  initContainers:
    - name: init
      image: __IMAGE__
      command: ['sh', '-c', 'sleep 1']
  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sleep', '3600']
`,
      ),
    );
    writeManifest(
      'initfail.yaml',
      busyboxPod(
        'initfail',
        'app',
        `  restartPolicy: Never
  initContainers:
    - name: init
      image: __IMAGE__
      command: ['sh', '-c', 'exit 1']
  containers:
    - name: __CONTAINER__
      image: __IMAGE__
      command: ['sleep', '3600']
`,
      ),
    );
    const app = await waitFor('app after init', () => runningContainer('initok', 'app'));
    const init = (await containersOf('initok')).find((c) => c.metadata?.name === 'init');
    expect(init?.state).toBe('CONTAINER_EXITED');
    expect(app.createdAt).toBeGreaterThan(init!.createdAt);
    // Never + failing init: the app container is never created.
    await waitFor('init failed', async () =>
      (await containersOf('initfail')).some((c) => c.state === 'CONTAINER_EXITED'),
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const names = (await containersOf('initfail')).map((c) => c.metadata?.name);
    expect(names).toEqual(['init']);
    unlinkSync(join(manifestDir, 'initok.yaml'));
    unlinkSync(join(manifestDir, 'initfail.yaml'));
  }, 60_000);

  it('keeps a broken manifest from affecting good ones, and picks it up once fixed', async () => {
    writeManifest('broken.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: [this is not: valid\n');
    writeManifest(
      'good.yaml',
      busyboxPod(
        'good',
        'main',
        `  containers:\n    - name: __CONTAINER__\n      image: __IMAGE__\n      command: ['sleep', '3600']\n`,
      ),
    );
    await waitFor('good running', () => runningContainer('good', 'main'));
    expect(readFileSync(logFile, 'utf8')).toContain('broken.yaml');
    writeManifest(
      'broken.yaml',
      busyboxPod(
        'fixed',
        'main',
        `  containers:\n    - name: __CONTAINER__\n      image: __IMAGE__\n      command: ['sleep', '3600']\n`,
      ),
    );
    await waitFor('fixed running', () => runningContainer('fixed', 'main'));
    unlinkSync(join(manifestDir, 'broken.yaml'));
    unlinkSync(join(manifestDir, 'good.yaml'));
  }, 60_000);

  it('adopts running pods after SIGKILL and restart: no container is restarted', async () => {
    writeManifest(
      'survivor.yaml',
      busyboxPod(
        'survivor',
        'main',
        `  containers:\n    - name: __CONTAINER__\n      image: __IMAGE__\n      command: ['sleep', '3600']\n`,
      ),
    );
    const before = await waitFor('survivor running', () => runningContainer('survivor', 'main'));
    await stopAgent('SIGKILL');
    agent = startAgent();
    // Give the new agent time to relist, sync and run housekeeping several times.
    await waitFor(
      'agent synced again',
      async () =>
        logLines('Pod added').length > 0 &&
        readFileSync(logFile, 'utf8').split('Pod lifecycle started').length > 2,
    );
    await new Promise((r) => setTimeout(r, 6_000));
    const after = await containersOf('survivor');
    expect(after.map((c) => c.id)).toEqual([before.id]);
    expect(after[0]?.state).toBe('CONTAINER_RUNNING');
    unlinkSync(join(manifestDir, 'survivor.yaml'));
  }, 60_000);

  it('shuts down on SIGTERM leaving pods running', async () => {
    writeManifest(
      'stays.yaml',
      busyboxPod(
        'stays',
        'main',
        `  containers:\n    - name: __CONTAINER__\n      image: __IMAGE__\n      command: ['sleep', '3600']\n`,
      ),
    );
    const c = await waitFor('stays running', () => runningContainer('stays', 'main'));
    expect(await stopAgent('SIGTERM')).toBe(0);
    const still = await runningContainer('stays', 'main');
    expect(still?.id).toBe(c.id);
    unlinkSync(join(manifestDir, 'stays.yaml'));
    agent = startAgent();
    await waitFor(
      'stays removed by the restarted agent',
      async () => (await sandboxesOf('stays')).length === 0,
      30_000,
    );
  }, 60_000);
});
