/**
 * The agent in API-server mode against the same agent standalone, on the real
 * containerd (brought up here) with testkit's API server in this process:
 *
 *  1. pod created through the API → Running seen through the API server's watch
 *     stream, image already pulled: N pods one after another (p50/p99);
 *  2. a burst of B pods created through the API → all Running, against the standalone
 *     agent's burst of the same B pods as static manifests (Running seen over CRI);
 *  3. API writes with the B pods idle for M minutes, from the request log: lease
 *     renewals, pod status writes, node status writes.
 *
 *   npm run bench -w @nodeagent/agent
 *   BENCH_PODS=50 BENCH_BURST=110 BENCH_IDLE_MINUTES=5 npm run bench -w @nodeagent/agent
 *
 * Writes .bench-results/agent-api-mode.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCriClient } from '@nodeagent/cri-client';
import {
  freeLoopbackPort,
  startRealRuntime,
  startTestApiServer,
  stopRealRuntime,
  type JsonObject,
} from '@nodeagent/testkit';
import { sysctlRootEnv, writeSysctlStandIn } from '../src/kernel-defaults.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const cliPath = join(here, '../dist/cli.js');
const sequential = Number(process.env.BENCH_PODS ?? 50);
const burst = Number(process.env.BENCH_BURST ?? 110);
const idleMinutes = Number(process.env.BENCH_IDLE_MINUTES ?? 5);
const nodeName = 'bench-node';
const namespace = 'bench';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' ? (v as Json) : {});

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  if (q === 0.5) {
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const rt = await startRealRuntime();
const cri = createCriClient({ endpoint: rt.criEndpoint });
const server = await startTestApiServer({ tls: true });
const pods = server.store.resource('pods');
server.store.create(server.store.resource('namespaces'), '', { metadata: { name: namespace } });
const workDir = mkdtempSync(join(tmpdir(), 'na-bench-api-'));
const manifestDir = join(workDir, 'manifests');
mkdirSync(manifestDir);
await writeSysctlStandIn(join(workDir, 'proc-sys'));
writeFileSync(
  join(workDir, 'kubeconfig'),
  server.kubeconfig(
    server.issueClientCertificate({ name: `system:node:${nodeName}`, groups: ['system:nodes'] }),
  ),
);
const nodeApiPort = await freeLoopbackPort();
writeFileSync(
  join(workDir, 'config.yaml'),
  [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    'makeIPTablesUtilChains: false', // benchmarks never change the host firewall
    `staticPodPath: ${manifestDir}`,
    `containerRuntimeEndpoint: ${rt.criEndpoint}`,
    `podLogsDir: ${join(workDir, 'logs')}`,
    `cgroupRoot: ${rt.cgroupRoot}`,
    'address: 127.0.0.1',
    `port: ${nodeApiPort}`,
    '',
  ].join('\n'),
);

function startAgent(apiMode: boolean): ChildProcess {
  const args = [
    cliPath,
    '--config',
    join(workDir, 'config.yaml'),
    '--hostname-override',
    nodeName,
    '--node-ip',
    '127.0.0.1',
    '--root-dir',
    join(workDir, 'root'),
    ...(apiMode ? ['--kubeconfig', join(workDir, 'kubeconfig')] : []),
  ];
  const log = openSync(join(workDir, apiMode ? 'agent-api.log' : 'agent-standalone.log'), 'a');
  return spawn(process.execPath, args, {
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      [sysctlRootEnv]: join(workDir, 'proc-sys'),
      NODE_OPTIONS: '--max-semi-space-size=4',
    },
  });
}

async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await exited;
}

function podObject(name: string): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace },
    spec: {
      nodeName,
      hostNetwork: true,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: rt.busyboxImage, command: ['sleep', '3600'] }],
    },
  };
}

/** Resolves when the API server's watch stream shows the pod Running. */
function runningSeen(names: Set<string>): { done: Promise<Map<string, number>> } {
  const seen = new Map<string, number>();
  let resolve!: (m: Map<string, number>) => void;
  const done = new Promise<Map<string, number>>((r) => (resolve = r));
  const unsubscribe = server.store.subscribe((event) => {
    const o = event.object;
    const rawName = obj(o.metadata).name;
    const name = typeof rawName === 'string' ? rawName : '';
    if (!names.has(name) || seen.has(name)) return;
    if (obj(o.status).phase === 'Running') {
      seen.set(name, performance.now());
      if (seen.size === names.size) {
        unsubscribe();
        resolve(seen);
      }
    }
  });
  return { done };
}

async function runtimeContainersOf(prefix: string): Promise<number> {
  const { containers } = await cri.listContainers({});
  return containers.filter(
    (c) =>
      c.state === 'CONTAINER_RUNNING' &&
      (c.labels['io.kubernetes.pod.name'] ?? '').startsWith(prefix),
  ).length;
}

async function noSandboxesOf(prefix: string): Promise<boolean> {
  const { items } = await cri.listPodSandbox({});
  return !items.some((s) => (s.labels['io.kubernetes.pod.name'] ?? '').startsWith(prefix));
}

const results: Json = { sequential, burst, idleMinutes };
let agent = startAgent(true);
try {
  await until(
    'the node',
    () => server.store.tryGet(server.store.resource('nodes'), '', nodeName) !== undefined,
    30_000,
  );
  // Warm-up: the image is pulled, the first sync paths are compiled.
  for (let i = 0; i < 3; i++) {
    const w = runningSeen(new Set([`warm-${i}`]));
    server.store.create(pods, namespace, podObject(`warm-${i}`));
    await w.done;
    server.store.delete(pods, namespace, `warm-${i}`, { gracePeriodSeconds: 0 });
  }

  // 1. One pod at a time.
  const latencies: number[] = [];
  for (let i = 0; i < sequential; i++) {
    const name = `seq-${i}`;
    const w = runningSeen(new Set([name]));
    const t0 = performance.now();
    server.store.create(pods, namespace, podObject(name));
    const seen = await w.done;
    latencies.push(seen.get(name)! - t0);
  }
  for (let i = 0; i < sequential; i++)
    server.store.delete(pods, namespace, `seq-${i}`, { gracePeriodSeconds: 0 });
  await until('seq pods gone', () => noSandboxesOf('seq-'), 120_000);
  results.singlePod = {
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: Math.max(...latencies),
  };
  console.log(
    `pod created via API → Running (watch), ${sequential} pods: p50 ${quantile(latencies, 0.5).toFixed(0)} ms, p99 ${quantile(latencies, 0.99).toFixed(0)} ms`,
  );

  // 2a. Burst through the API.
  const names = new Set(Array.from({ length: burst }, (_, i) => `burst-${i}`));
  const w = runningSeen(names);
  const tb = performance.now();
  for (const name of names) server.store.create(pods, namespace, podObject(name));
  // The same criterion as the standalone burst too (every container running, seen
  // over CRI), to tell the runtime work from the status reporting.
  const runtimeDone = until(
    'all API burst containers running',
    async () => (await runtimeContainersOf('burst-')) === burst,
    300_000,
  ).then(() => performance.now() - tb);
  const seen = await w.done;
  const apiBurstMs = Math.max(...seen.values()) - tb;
  const apiBurstRuntimeMs = await runtimeDone;
  const perPod = [...seen.values()].map((t) => t - tb);
  console.log(
    `API burst of ${burst} pods → all Running in the API: ${apiBurstMs.toFixed(0)} ms (p50 pod ${quantile(perPod, 0.5).toFixed(0)} ms); all containers running (CRI): ${apiBurstRuntimeMs.toFixed(0)} ms`,
  );

  // 3. Idle: count what the agent writes.
  await sleep(15_000); // let the last statuses settle
  const from = server.requests.length;
  console.log(`idle for ${idleMinutes} min with ${burst} running pods…`);
  await sleep(idleMinutes * 60_000);
  const window = server.requests.slice(from);
  const writes = window.filter((r) => !['get', 'list', 'watch'].includes(r.verb));
  const leaseWrites = writes.filter((r) => r.resource === 'leases').length;
  const podStatusWrites = writes.filter(
    (r) => r.resource === 'pods' && r.subresource === 'status',
  ).length;
  const nodeStatusWrites = writes.filter(
    (r) => r.resource === 'nodes' && r.subresource === 'status',
  ).length;
  const other = writes.length - leaseWrites - podStatusWrites - nodeStatusWrites;
  results.idle = {
    minutes: idleMinutes,
    leaseWrites,
    leaseWritesPerMinute: leaseWrites / idleMinutes,
    podStatusWrites,
    nodeStatusWrites,
    otherWrites: other,
    reads: window.length - writes.length,
  };
  console.log(
    `idle ${idleMinutes} min: lease writes ${leaseWrites} (${(leaseWrites / idleMinutes).toFixed(1)}/min), pod status writes ${podStatusWrites}, node status writes ${nodeStatusWrites}, other writes ${other}, reads ${window.length - writes.length}`,
  );

  for (const name of names) server.store.delete(pods, namespace, name, { gracePeriodSeconds: 0 });
  await until('burst pods gone', () => noSandboxesOf('burst-'), 300_000);
  await stopAgent(agent);

  // 2b. The same burst as static manifests, standalone.
  agent = startAgent(false);
  await sleep(3_000);
  const ts = performance.now();
  for (let i = 0; i < burst; i++) {
    const doc = podObject(`static-${i}`);
    delete obj(doc.spec).nodeName;
    writeFileSync(join(manifestDir, `static-${i}.json`), JSON.stringify(doc));
  }
  await until(
    'all static pods running',
    async () => (await runtimeContainersOf('static-')) === burst,
    300_000,
  );
  const standaloneBurstMs = performance.now() - ts;
  console.log(
    `standalone burst of ${burst} pods → all running: ${standaloneBurstMs.toFixed(0)} ms`,
  );
  results.burst = {
    apiMs: apiBurstMs,
    apiRuntimeMs: apiBurstRuntimeMs,
    standaloneMs: standaloneBurstMs,
    ratio: apiBurstMs / standaloneBurstMs,
    runtimeRatio: apiBurstRuntimeMs / standaloneBurstMs,
  };
  console.log(
    `burst ratio API/standalone: ${(apiBurstMs / standaloneBurstMs).toFixed(2)}x (Running in the API), ${(apiBurstRuntimeMs / standaloneBurstMs).toFixed(2)}x (containers running, CRI)`,
  );
  for (let i = 0; i < burst; i++) rmSync(join(manifestDir, `static-${i}.json`));
  await until('static pods gone', () => noSandboxesOf('static-'), 300_000);
} finally {
  await stopAgent(agent);
  cri.close();
  await server.stop();
  mkdirSync(join(repoRoot, '.bench-results'), { recursive: true });
  writeFileSync(
    join(repoRoot, '.bench-results/agent-api-mode.json'),
    `${JSON.stringify(results, null, 2)}\n`,
  );
  rmSync(workDir, { recursive: true, force: true });
  await stopRealRuntime();
}
