/**
 * Pod start overhead, burst start and footprint of the agent stack (issue 5, "Benchmark"),
 * on the real containerd of the test harness.
 *
 * 1. Single pod, N in sequence (default 50): from "manifest seen" — the moment the
 *    in-process PodSource emits the pod — to "all containers running", through the
 *    agent machinery (cri-client + relisting PLEG + probe-manager + PodLifecycle with
 *    its cgroups), against the bare CRI sequence (ImageStatus/pull-if-needed,
 *    RunPodSandbox, CreateContainer, StartContainer) driven directly with the same
 *    request payloads. Agent and bare runs alternate (who goes first alternates too).
 *    "Running" for the agent is measured two ways:
 *      - status: when the lifecycle's status listener (`manager.onStatus`) first reports
 *        every container running — what the agent knows and reports; needs a PLEG relist.
 *      - cri: when the agent's StartContainer call for the last container returned (a
 *        thin wrapper around the runtime the lifecycle gets) — the container is running.
 *    The bare figure is when its StartContainer returned. Run with the kubelet's default
 *    1 s relist period and with 100 ms.
 * 2. Burst: K pods at once (default 110 and 250), wall time until all running, against
 *    K bare sequences run concurrently.
 * 3. Footprint: the real `nodeagent` process (apps/agent/dist/cli.js) with 110 pods with
 *    liveness+readiness probes (exec / httpGet / tcpSocket on 127.0.0.1, period 10 s):
 *    RSS and CPU over a 60 s window read from /proc/<pid>. The pods come from the static
 *    pod directory when @nodeagent/static-pods is wired into the agent, otherwise from an
 *    in-process source registered into the agent's root tsyringe container by a `--import`
 *    preload (the agent resolves `PodSources` from it); the output says which.
 *
 * The benchmark brings up its OWN harness instance (dir /tmp/na-bench-rt, registry port
 * 5091, bridge nabench0) because the agent's orphan cleanup stops every pod it does not
 * want, and it must not touch other people's test pods. In parts 1-2 the agent also has a
 * second pod source that never reports (so, as in the kubelet, orphan cleanup waits for
 * all sources and never runs): otherwise the agent would stop the bare pods of the same
 * run. Everything created is removed at the end; the harness is stopped unless
 * NODEAGENT_KEEP_RUNTIME=1.
 *
 *   npm run bench -w @nodeagent/pod-lifecycle
 *   BENCH_PARTS=single BENCH_SINGLE_RUNS=20 npm run bench -w @nodeagent/pod-lifecycle
 *   BENCH_PARTS=footprint BENCH_FOOTPRINT_SECONDS=20 npm run bench -w @nodeagent/pod-lifecycle
 *
 * Knobs: BENCH_PARTS (single,burst,footprint), BENCH_SINGLE_RUNS (50),
 * BENCH_RELIST_PERIODS_MS (1000,100), BENCH_BURST_SIZES (110,250), BENCH_BURST_ROUNDS (1),
 * BENCH_BURST_RELIST_MS (1000), BENCH_FOOTPRINT_PODS (110), BENCH_FOOTPRINT_SECONDS (60),
 * BENCH_FOOTPRINT_WARMUP_SECONDS (15), BENCH_PORT_BASE (31000), NODEAGENT_RUNTIME_DIR,
 * NODEAGENT_REGISTRY_PORT, NODEAGENT_CNI_BRIDGE, NODEAGENT_CNI_SUBNET.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PodOperation, RealClock, type PodSource, type PodUpdate, type k8s } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { createPleg } from '@nodeagent/pleg';
import { createProbeManager } from '@nodeagent/probe-manager';
import { startRealRuntime, stopRealRuntime, type RealRuntimeEnv } from '@nodeagent/testkit';
import {
  PodLifecycle,
  createPodContainerManager,
  makeContainerConfig,
  makePodSandboxConfig,
  podLogsDirectory,
  type PodContainerManager,
} from '../src/index.js';

// ----------------------------------------------------------------------- settings

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const agentCli = join(repoRoot, 'apps/agent/dist/cli.js');
const agentSource = join(repoRoot, 'apps/agent/src/agent.ts');

const envNumber = (name: string, fallback: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
};
const envList = (name: string, fallback: string): string[] =>
  (process.env[name] ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

const parts = new Set(envList('BENCH_PARTS', 'single,burst,footprint'));
const singleRuns = envNumber('BENCH_SINGLE_RUNS', 50);
/**
 * Relist periods of part 1. (PodLifecycle itself asks for a relist right after a sync
 * that changed the runtime, so the status is not held up by the period.)
 */
const relistVariants = envList('BENCH_RELIST_PERIODS_MS', '1000,100').map((v) => ({
  label: v,
  periodMs: Number(v),
}));
type RelistVariant = (typeof relistVariants)[number];
const burstSizes = envList('BENCH_BURST_SIZES', '110,250').map(Number);
const burstRounds = envNumber('BENCH_BURST_ROUNDS', 1);
const burstRelistMs = envNumber('BENCH_BURST_RELIST_MS', 1000);
const footprintPods = envNumber('BENCH_FOOTPRINT_PODS', 110);
const footprintSeconds = envNumber('BENCH_FOOTPRINT_SECONDS', 60);
const footprintWarmupSeconds = envNumber('BENCH_FOOTPRINT_WARMUP_SECONDS', 15);
const portBase = envNumber('BENCH_PORT_BASE', 31000);
/** Extra node flags for the agent process of part 3, e.g. `--max-semi-space-size=4`. */
const agentNodeArgs = envList('BENCH_AGENT_NODE_ARGS', '').flatMap((a) => a.split(' '));

// A private harness instance unless the caller chose one.
process.env.NODEAGENT_RUNTIME_DIR ??= '/tmp/na-bench-rt';
process.env.NODEAGENT_REGISTRY_PORT ??= '5091';
process.env.NODEAGENT_CNI_BRIDGE ??= 'nabench0';
process.env.NODEAGENT_CNI_SUBNET ??= '10.209.91.0/24';

const runId = randomUUID().slice(0, 8);
const namespace = 'nodeagent-bench';
const nodeName = 'bench-node';
const uidLabel = 'io.kubernetes.pod.uid';
const nsLabel = 'io.kubernetes.pod.namespace';

const goals = { p50: 1.1, p99: 1.25, burst: 1.2, rssMiB: 120, cpuCores: 0.1 };

// ----------------------------------------------------------------------- helpers

const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);

/** Nearest-rank percentile (p99 of 50 samples is the largest). */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1]!;
}
const round = (v: number, digits = 1): number => +v.toFixed(digits);
const ratio = (a: number, b: number): number => +(a / b).toFixed(3);

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  intervalMs = 50,
): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Removes a cgroup subtree in every mounted hierarchy (rmdir, deepest first). */
async function removeCgroupTree(cgroupPath: string): Promise<void> {
  const roots = ['/sys/fs/cgroup'];
  for (const e of await readdir('/sys/fs/cgroup', { withFileTypes: true }).catch(() => [])) {
    if (e.isDirectory()) roots.push(join('/sys/fs/cgroup', e.name));
  }
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name));
    await rmdir(dir).catch(() => undefined);
  };
  for (const root of roots) {
    const dir = join(root, cgroupPath);
    if (existsSync(dir)) await walk(dir);
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

// ----------------------------------------------------------------------- pods

interface ProbeKind {
  kind: 'exec' | 'http' | 'tcp' | 'none';
  port: number;
}

function makePod(
  name: string,
  image: string,
  probe: ProbeKind = { kind: 'none', port: 0 },
): k8s.Pod {
  const container: k8s.Container = {
    name: 'main',
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['sleep', '3600'],
  };
  if (probe.kind !== 'none') {
    let handler: k8s.Probe;
    if (probe.kind === 'exec') {
      // Writes to the container's stdout, so each probe shows in the container log.
      handler = { exec: { command: ['sh', '-c', 'echo probe > /proc/1/fd/1'] } };
    } else {
      // busybox httpd -v logs each request to stderr (the container log).
      container.command = [
        'sh',
        '-c',
        `echo ok > /tmp/index.html && exec httpd -f -v -p 127.0.0.1:${probe.port} -h /tmp`,
      ];
      handler =
        probe.kind === 'http'
          ? { httpGet: { host: '127.0.0.1', port: probe.port, path: '/' } }
          : { tcpSocket: { host: '127.0.0.1', port: probe.port } };
    }
    container.livenessProbe = { ...handler, periodSeconds: 10 };
    container.readinessProbe = { ...handler, periodSeconds: 10 };
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: randomUUID() },
    spec: {
      hostNetwork: true,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 0,
      containers: [container],
    },
  };
}
const uidOf = (pod: k8s.Pod): string => pod.metadata?.uid ?? '';

/** A programmatic pod source: `set()` emits SET with the given pods. */
class BenchSource implements PodSource {
  private readonly listeners = new Set<(u: PodUpdate) => void>();
  constructor(readonly name: string) {}
  start(): void {}
  stop(): Promise<void> {
    return Promise.resolve();
  }
  subscribe(listener: (u: PodUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(pods: k8s.Pod[]): void {
    for (const l of this.listeners) l({ op: PodOperation.SET, source: this.name, pods });
  }
}

// ----------------------------------------------------------------------- CRI tracing

interface Trace {
  seen?: number;
  runSandboxCall?: number;
  runSandboxDone?: number;
  createCall?: number;
  started: number[];
  statusRunning?: number;
}

/** Wraps the runtime the lifecycle uses, recording when each pod's CRI calls happen. */
function traceRuntime(cri: CriClient, traces: Map<string, Trace>): CriClient {
  const owner = new Map<string, string>();
  const trace = (uid: string): Trace => {
    let t = traces.get(uid);
    if (!t) traces.set(uid, (t = { started: [] }));
    return t;
  };
  return {
    ...cri,
    runPodSandbox: async (req, opts) => {
      const t = trace(req?.config?.metadata?.uid ?? '');
      t.runSandboxCall ??= now();
      const res = await cri.runPodSandbox(req, opts);
      t.runSandboxDone ??= now();
      return res;
    },
    createContainer: async (req, opts) => {
      const uid = req?.sandboxConfig?.metadata?.uid ?? '';
      trace(uid).createCall ??= now();
      const res = await cri.createContainer(req, opts);
      owner.set(res.containerId, uid);
      return res;
    },
    startContainer: async (req, opts) => {
      const res = await cri.startContainer(req, opts);
      trace(owner.get(req?.containerId ?? '') ?? '').started.push(now());
      return res;
    },
  };
}

// ----------------------------------------------------------------------- the agent stack

interface Stack {
  source: BenchSource;
  lifecycle: PodLifecycle;
  cgroups: PodContainerManager;
  traces: Map<string, Trace>;
  waiters: Map<string, () => void>;
  stop(): Promise<void>;
}

interface Ctx {
  env: RealRuntimeEnv;
  cri: CriClient;
  tmp: string;
  rootDir: string;
  podLogsDir: string;
  cgroupRoot: string;
  resolvConf: string;
  /** Every pod UID this run created, agent's and bare. */
  uids: Set<string>;
}

async function startStack(ctx: Ctx, relistPeriodMs: number): Promise<Stack> {
  const clock = new RealClock();
  const cri = createCriClient({ endpoint: ctx.env.criEndpoint });
  await cri.connect();
  const traces = new Map<string, Trace>();
  const runtime = traceRuntime(cri, traces);
  const pleg = createPleg({ runtime: cri, clock, relistPeriodMs });
  const probes = createProbeManager({ runtime: cri, clock });
  const cgroups = createPodContainerManager({ clock, cgroupRoot: ctx.cgroupRoot });
  await cgroups.ensureQosCgroups();
  const source = new BenchSource('bench');
  const lifecycle = new PodLifecycle({
    runtime,
    images: runtime,
    cache: pleg.cache,
    pleg,
    clock,
    probes,
    cgroups,
    // The second source never reports, so orphan cleanup (which would stop the bare
    // pods of this run) never runs — the kubelet waits for all sources the same way.
    sources: [source, new BenchSource('never-ready')],
    nodeName,
    rootDir: ctx.rootDir,
    podLogsDir: ctx.podLogsDir,
    runtimeName: 'containerd',
    dns: { clusterDomain: 'cluster.local', clusterDNS: [], resolvConf: ctx.resolvConf },
    memoryCapacityBytes: totalmem(),
  });
  const waiters = new Map<string, () => void>();
  lifecycle.manager.onStatus((pod, status) => {
    const uid = uidOf(pod);
    const want = pod.spec?.containers.length ?? 0;
    const running = (status.containerStatuses ?? []).filter((c) => c.state?.running).length;
    const t = traces.get(uid);
    if (running < want) return;
    if (t && t.statusRunning === undefined) t.statusRunning = now();
    waiters.get(uid)?.();
  });
  pleg.start();
  probes.start();
  lifecycle.start();
  return {
    source,
    lifecycle,
    cgroups,
    traces,
    waiters,
    async stop() {
      await lifecycle.stop();
      await probes.stop();
      await pleg.stop();
      cri.close();
    },
  };
}

/** Emits the pods and resolves when the status listener saw all of them running. */
async function agentStart(stack: Stack, pods: k8s.Pod[], timeoutMs: number): Promise<void> {
  const pending = new Set(pods.map(uidOf));
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent: ${pending.size} pods not running after ${timeoutMs} ms`)),
      timeoutMs,
    );
    for (const uid of pending) {
      stack.waiters.set(uid, () => {
        stack.waiters.delete(uid);
        pending.delete(uid);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
  const t0 = now();
  for (const pod of pods) stack.traces.set(uidOf(pod), { seen: t0, started: [] });
  stack.source.set(pods);
  await done;
}

/** Removes every pod from the source and waits until the agent removed their sandboxes. */
async function agentRemoveAll(ctx: Ctx, stack: Stack, uids: ReadonlySet<string>): Promise<void> {
  stack.source.set([]);
  await waitFor(
    'the agent to remove its pods',
    180_000,
    async () => {
      const { items } = await ctx.cri.listPodSandbox({
        filter: { labelSelector: { [nsLabel]: namespace } },
      });
      return items.some((s) => uids.has(s.labels[uidLabel] ?? '')) ? undefined : true;
    },
    100,
  );
}

// ----------------------------------------------------------------------- bare CRI sequence

interface BareResult {
  totalMs: number;
  runSandboxMs: number;
  startedAt: number;
}

/** The CRI sequence for one pod, driven directly, with the payloads the agent sends. */
async function bareStart(
  ctx: Ctx,
  cgroups: PodContainerManager,
  pod: k8s.Pod,
): Promise<BareResult> {
  const t0 = now();
  const container = pod.spec.containers[0]!;
  const image = container.image ?? '';
  let { image: present } = await ctx.cri.imageStatus({ image: { image } });
  if (!present) {
    await ctx.cri.pullImage({ image: { image } });
    ({ image: present } = await ctx.cri.imageStatus({ image: { image } }));
  }
  const sandboxConfig = makePodSandboxConfig(pod, {
    attempt: 0,
    podLogsDir: ctx.podLogsDir,
    // The same cgroup path the agent uses; runc creates it (the agent mkdirs it itself).
    cgroupParent: cgroups.podCgroupName(pod),
    dns: { clusterDomain: 'cluster.local', clusterDNS: [], resolvConf: ctx.resolvConf },
  });
  await mkdir(podLogsDirectory(ctx.podLogsDir, pod), { recursive: true });
  const t1 = now();
  const { podSandboxId } = await ctx.cri.runPodSandbox({ config: sandboxConfig });
  const t2 = now();
  const config = makeContainerConfig(pod, container, {
    restartCount: 0,
    podIPs: [],
    hostIP: '',
    nodeName,
    sandboxConfig,
    podDir: join(ctx.rootDir, 'pods', uidOf(pod)),
    memoryCapacityBytes: totalmem(),
    ...(present?.uid ? { imageUser: { uid: present.uid.value } } : {}),
  });
  const { containerId } = await ctx.cri.createContainer({ podSandboxId, config, sandboxConfig });
  await ctx.cri.startContainer({ containerId });
  const t3 = now();
  return { totalMs: t3 - t0, runSandboxMs: t2 - t1, startedAt: t3 };
}

async function bareRemove(ctx: Ctx, cgroups: PodContainerManager, pods: k8s.Pod[]): Promise<void> {
  const uids = new Set(pods.map(uidOf));
  const { items } = await ctx.cri.listPodSandbox({
    filter: { labelSelector: { [nsLabel]: namespace } },
  });
  await Promise.all(
    items
      .filter((s) => uids.has(s.labels[uidLabel] ?? ''))
      .map(async (s) => {
        await ctx.cri.stopPodSandbox({ podSandboxId: s.id }).catch(() => undefined);
        await ctx.cri.removePodSandbox({ podSandboxId: s.id }).catch(() => undefined);
      }),
  );
  for (const pod of pods) {
    await cgroups.destroyPodCgroup(pod).catch(() => undefined);
    await rm(podLogsDirectory(ctx.podLogsDir, pod), { recursive: true, force: true });
  }
}

// ----------------------------------------------------------------------- part 1: single pod

interface SingleResult {
  relistPeriodMs: string;
  runs: number;
  agentStatus: { p50: number; p99: number; mean: number };
  agentCri: { p50: number; p99: number; mean: number };
  bare: { p50: number; p99: number; mean: number };
  ratioStatus: { p50: number; p99: number };
  ratioCri: { p50: number; p99: number };
  /** Medians of the agent's phases (ms): what the overhead is made of. */
  agentPhases: Record<string, number>;
  bareRunSandboxP50: number;
  /** Every sample (ms), in run order. */
  samples: { agentStatus: number[]; agentCri: number[]; bare: number[] };
}

const stats = (v: number[]) => ({
  p50: round(percentile(v, 50)),
  p99: round(percentile(v, 99)),
  mean: round(v.reduce((a, b) => a + b, 0) / v.length),
});

async function singlePod(ctx: Ctx, variant: RelistVariant): Promise<SingleResult> {
  const relistPeriodMs = variant.label;
  const tag = variant.label.replace(/\W/g, '');
  const stack = await startStack(ctx, variant.periodMs);
  const image = ctx.env.busyboxImage;
  const agentStatus: number[] = [];
  const agentCri: number[] = [];
  const bare: number[] = [];
  const bareSandbox: number[] = [];
  const phases: Record<string, number[]> = {
    'manifest→RunPodSandbox call': [],
    RunPodSandbox: [],
    'sandbox→CreateContainer call': [],
    'create+start': [],
    'started→status reports running': [],
  };
  try {
    // Warm-up (JIT, connections, image status cache): one of each, not counted.
    const warm = makePod(`bench-${runId}-warm-${tag}`, image);
    ctx.uids.add(uidOf(warm));
    await agentStart(stack, [warm], 60_000);
    await agentRemoveAll(ctx, stack, new Set([uidOf(warm)]));
    const warmBare = makePod(`bench-${runId}-warmbare-${tag}`, image);
    ctx.uids.add(uidOf(warmBare));
    await bareStart(ctx, stack.cgroups, warmBare);
    await bareRemove(ctx, stack.cgroups, [warmBare]);

    for (let i = 0; i < singleRuns; i++) {
      const runAgent = async (): Promise<void> => {
        const pod = makePod(`bench-${runId}-a${tag}-${i}`, image);
        const uid = uidOf(pod);
        ctx.uids.add(uid);
        await agentStart(stack, [pod], 60_000);
        const t = stack.traces.get(uid)!;
        const seen = t.seen!;
        const started = Math.max(...t.started);
        agentStatus.push(t.statusRunning! - seen);
        agentCri.push(started - seen);
        phases['manifest→RunPodSandbox call']!.push(t.runSandboxCall! - seen);
        phases.RunPodSandbox!.push(t.runSandboxDone! - t.runSandboxCall!);
        phases['sandbox→CreateContainer call']!.push(t.createCall! - t.runSandboxDone!);
        phases['create+start']!.push(started - t.createCall!);
        phases['started→status reports running']!.push(t.statusRunning! - started);
        await agentRemoveAll(ctx, stack, new Set([uid]));
      };
      const runBare = async (): Promise<void> => {
        const pod = makePod(`bench-${runId}-b${tag}-${i}`, image);
        ctx.uids.add(uidOf(pod));
        const r = await bareStart(ctx, stack.cgroups, pod);
        bare.push(r.totalMs);
        bareSandbox.push(r.runSandboxMs);
        await bareRemove(ctx, stack.cgroups, [pod]);
      };
      if (i % 2 === 0) {
        await runAgent();
        await runBare();
      } else {
        await runBare();
        await runAgent();
      }
      if ((i + 1) % 10 === 0)
        log(`single pod, relist ${relistPeriodMs} ms: ${i + 1}/${singleRuns}`);
    }
  } finally {
    await stack.stop();
  }
  const s = stats(agentStatus);
  const c = stats(agentCri);
  const b = stats(bare);
  return {
    relistPeriodMs,
    runs: singleRuns,
    agentStatus: s,
    agentCri: c,
    bare: b,
    ratioStatus: { p50: ratio(s.p50, b.p50), p99: ratio(s.p99, b.p99) },
    ratioCri: { p50: ratio(c.p50, b.p50), p99: ratio(c.p99, b.p99) },
    agentPhases: Object.fromEntries(
      Object.entries(phases).map(([k, v]) => [k, round(percentile(v, 50))]),
    ),
    bareRunSandboxP50: round(percentile(bareSandbox, 50)),
    samples: {
      agentStatus: agentStatus.map((v) => round(v)),
      agentCri: agentCri.map((v) => round(v)),
      bare: bare.map((v) => round(v)),
    },
  };
}

// ----------------------------------------------------------------------- part 2: burst

interface BurstResult {
  pods: number;
  round: number;
  relistPeriodMs: number;
  agentStatusMs: number;
  agentCriMs: number;
  bareMs: number;
  ratioStatus: number;
  ratioCri: number;
}

async function burst(ctx: Ctx, size: number, roundNo: number): Promise<BurstResult> {
  const stack = await startStack(ctx, burstRelistMs);
  const image = ctx.env.busyboxImage;
  try {
    const runAgent = async (): Promise<{ status: number; cri: number }> => {
      const pods = Array.from({ length: size }, (_, i) =>
        makePod(`bench-${runId}-ba${size}r${roundNo}-${i}`, image),
      );
      for (const p of pods) ctx.uids.add(uidOf(p));
      const t0 = now();
      await agentStart(stack, pods, 600_000);
      const status = now() - t0;
      const lastStart = Math.max(
        ...pods.map((p) => Math.max(...stack.traces.get(uidOf(p))!.started)),
      );
      log(`burst ${size}: agent done in ${round(status)} ms; removing`);
      await agentRemoveAll(ctx, stack, new Set(pods.map(uidOf)));
      return { status, cri: lastStart - t0 };
    };
    const runBare = async (): Promise<number> => {
      const pods = Array.from({ length: size }, (_, i) =>
        makePod(`bench-${runId}-bb${size}r${roundNo}-${i}`, image),
      );
      for (const p of pods) ctx.uids.add(uidOf(p));
      const t0 = now();
      await Promise.all(pods.map((p) => bareStart(ctx, stack.cgroups, p)));
      const wall = now() - t0;
      log(`burst ${size}: bare done in ${round(wall)} ms; removing`);
      await bareRemove(ctx, stack.cgroups, pods);
      return wall;
    };
    let a: { status: number; cri: number };
    let b: number;
    if (roundNo % 2 === 0) {
      a = await runAgent();
      await sleep(2000);
      b = await runBare();
    } else {
      b = await runBare();
      await sleep(2000);
      a = await runAgent();
    }
    return {
      pods: size,
      round: roundNo,
      relistPeriodMs: burstRelistMs,
      agentStatusMs: round(a.status),
      agentCriMs: round(a.cri),
      bareMs: round(b),
      ratioStatus: ratio(a.status, b),
      ratioCri: ratio(a.cri, b),
    };
  } finally {
    await stack.stop();
  }
}

// ----------------------------------------------------------------------- part 3: footprint

interface FootprintResult {
  mode: string;
  agentNodeArgs: string[];
  pods: number;
  probes: Record<string, number>;
  windowSeconds: number;
  startupSeconds: number;
  rssMiB: { mean: number; max: number; peakHWM: number };
  cpuCores: { window: number; startup: number };
  probeEvidence: Record<ProbeKind['kind'], number>;
  restarts: number;
  /** process.memoryUsage() inside the agent (sampled by a --import preload). */
  memoryUsageMiB: Record<'atMaxRss' | 'last', Record<string, number>>;
}

function procStat(pid: number): { cpuTicks: number; rssKiB: number; hwmKiB: number } {
  const statText = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = statText.slice(statText.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number =>
    Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuTicks, rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}
const clockTicks = 100; // USER_HZ on Linux

async function staticPodsWired(): Promise<boolean> {
  const text = await readFile(agentSource, 'utf8').catch(() => '');
  return /registerStaticPods\s*\(/.test(text.replace(/\/\/.*$/gm, ''));
}

async function footprint(ctx: Ctx): Promise<FootprintResult> {
  if (!existsSync(agentCli)) throw new Error(`${agentCli} missing: run npm run build first`);
  const dir = await mkdtemp(join(ctx.tmp, 'fp-'));
  const manifests = join(dir, 'manifests');
  const logs = join(dir, 'logs');
  await mkdir(manifests, { recursive: true });
  await mkdir(logs, { recursive: true });
  const kinds: ProbeKind['kind'][] = ['exec', 'http', 'tcp'];
  const pods: k8s.Pod[] = [];
  let port = portBase;
  for (let i = 0; i < footprintPods; i++) {
    const kind = kinds[i % 3]!;
    let p = 0;
    if (kind !== 'exec') {
      while (!(await portFree(port))) port++;
      p = port++;
    }
    pods.push(makePod(`bench-${runId}-fp-${i}`, ctx.env.busyboxImage, { kind, port: p }));
  }
  for (const pod of pods) ctx.uids.add(uidOf(pod));
  const wired = await staticPodsWired();
  let mode: string;
  const nodeArgs: string[] = [...agentNodeArgs];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (wired) {
    // Static pods: the agent names them <name>-<node> with a UID it derives; they are
    // found by namespace for cleanup.
    mode = 'real nodeagent process, pods from the static pod directory';
    for (const pod of pods) {
      const { uid: _uid, ...meta } = pod.metadata ?? {};
      writeFileSync(
        join(manifests, `${meta.name}.json`),
        JSON.stringify({ ...pod, metadata: meta }),
      );
    }
  } else {
    mode =
      'real nodeagent process (apps/agent/dist/cli.js); @nodeagent/static-pods not wired yet, ' +
      'so the pods come from an in-process PodSource injected by a --import preload';
    const podsFile = join(dir, 'pods.json');
    writeFileSync(podsFile, JSON.stringify(pods));
    const preload = join(dir, 'preload.mjs');
    writeFileSync(
      preload,
      `import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const require = createRequire(${JSON.stringify(pathToFileURL(agentCli).href)});
require('reflect-metadata');
const { container } = require('tsyringe');
const pods = JSON.parse(readFileSync(${JSON.stringify(podsFile)}, 'utf8'));
const listeners = new Set();
const source = {
  name: 'bench',
  start() { queueMicrotask(() => { for (const l of listeners) l({ op: 'SET', source: 'bench', pods }); }); },
  async stop() {},
  subscribe(l) { listeners.add(l); return () => listeners.delete(l); },
};
container.register(Symbol.for('nodeagent.PodSources'), { useValue: [source] });
`,
    );
    nodeArgs.push('--import', pathToFileURL(preload).href);
  }
  // Heap diagnostics inside the agent (one timer, a line a second): what the RSS is made of.
  const memFile = join(dir, 'memory.jsonl');
  const diag = join(dir, 'diag.mjs');
  writeFileSync(
    diag,
    `import { appendFileSync } from 'node:fs';
setInterval(() => appendFileSync(${JSON.stringify(memFile)}, JSON.stringify(process.memoryUsage()) + '\\n'), 1000).unref();
`,
  );
  nodeArgs.push('--import', pathToFileURL(diag).href);
  const configFile = join(dir, 'kubelet.yaml');
  const cgroupRoot = `${ctx.cgroupRoot}-fp`;
  writeFileSync(
    configFile,
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      `containerRuntimeEndpoint: ${ctx.env.criEndpoint}`,
      `podLogsDir: ${logs}`,
      `cgroupRoot: ${cgroupRoot}`,
      ...(wired ? [`staticPodPath: ${manifests}`] : []),
      'logging:',
      '  format: json',
      '',
    ].join('\n'),
  );
  const agentLog = join(dir, 'agent.log');
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(agentLog, 'a');
  const t0 = now();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...nodeArgs,
      agentCli,
      '--config',
      configFile,
      '--root-dir',
      join(dir, 'root'),
      '--hostname-override',
      nodeName,
    ],
    { env, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const pid = child.pid!;
  let exited = false;
  child.on('exit', () => (exited = true));
  const countRunning = async (): Promise<number> => {
    const { containers } = await ctx.cri.listContainers({
      filter: { labelSelector: { [nsLabel]: namespace } },
    });
    return containers.filter((c) => c.state === 'CONTAINER_RUNNING').length;
  };
  try {
    const startStat = procStat(pid);
    await waitFor(
      `${footprintPods} pods running under the agent`,
      600_000,
      async () => {
        if (exited) throw new Error(`agent exited; see ${agentLog}`);
        return (await countRunning()) >= footprintPods ? true : undefined;
      },
      500,
    );
    const startupSeconds = (now() - t0) / 1000;
    const afterStart = procStat(pid);
    log(`footprint: ${footprintPods} pods running after ${round(startupSeconds)} s; warming up`);
    await sleep(footprintWarmupSeconds * 1000);
    const begin = procStat(pid);
    const tBegin = now();
    const rss: number[] = [];
    while (now() - tBegin < footprintSeconds * 1000) {
      await sleep(1000);
      if (exited) throw new Error(`agent exited; see ${agentLog}`);
      rss.push(procStat(pid).rssKiB);
    }
    const end = procStat(pid);
    const windowS = (now() - tBegin) / 1000;
    // Evidence that probes ran: exec probes echo into the container log, httpd logs requests.
    const evidence: Record<ProbeKind['kind'], number> = { exec: 0, http: 0, tcp: 0, none: 0 };
    for (const d of await readdir(logs)) {
      const idx = Number(/-fp-(\d+)(?:-[^_]*)?_/.exec(d)?.[1] ?? -1);
      const kind = kinds[idx % 3];
      const file = join(logs, d, 'main', '0.log');
      if (!kind || !existsSync(file)) continue;
      const text = await readFile(file, 'utf8');
      evidence[kind] += text
        .split('\n')
        .filter((l) =>
          kind === 'exec' ? l.endsWith(' probe') : /kube-probe|GET|connect|response|url:/i.test(l),
        ).length;
    }
    const { containers } = await ctx.cri.listContainers({
      filter: { labelSelector: { [nsLabel]: namespace } },
    });
    const mem = (await readFile(memFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as NodeJS.MemoryUsage);
    const atMax = mem.reduce((a, b) => (b.rss > a.rss ? b : a));
    const last = mem[mem.length - 1]!;
    const mibOf = (m: NodeJS.MemoryUsage) => ({
      rss: round(m.rss / 2 ** 20),
      heapTotal: round(m.heapTotal / 2 ** 20),
      heapUsed: round(m.heapUsed / 2 ** 20),
      external: round(m.external / 2 ** 20),
      arrayBuffers: round(m.arrayBuffers / 2 ** 20),
    });
    const restarts = containers.filter((c) => (c.metadata?.attempt ?? 0) > 0).length;
    const mib = (k: number): number => round(k / 1024);
    return {
      mode,
      agentNodeArgs,
      pods: footprintPods,
      probes: countKinds(footprintPods),
      windowSeconds: round(windowS),
      startupSeconds: round(startupSeconds),
      rssMiB: {
        mean: mib(rss.reduce((a, b) => a + b, 0) / rss.length),
        max: mib(Math.max(...rss)),
        peakHWM: mib(end.hwmKiB),
      },
      cpuCores: {
        window: +((end.cpuTicks - begin.cpuTicks) / clockTicks / windowS).toFixed(4),
        startup: +(
          (afterStart.cpuTicks - startStat.cpuTicks) /
          clockTicks /
          startupSeconds
        ).toFixed(4),
      },
      probeEvidence: evidence,
      restarts,
      memoryUsageMiB: { atMaxRss: mibOf(atMax), last: mibOf(last) },
    };
  } finally {
    if (!exited) {
      child.kill('SIGTERM');
      await waitFor('the agent to exit', 30_000, () => (exited ? true : undefined), 100).catch(() =>
        child.kill('SIGKILL'),
      );
    }
    // The agent leaves pods running on shutdown (as the kubelet does): remove them.
    const { items } = await ctx.cri.listPodSandbox({
      filter: { labelSelector: { [nsLabel]: namespace } },
    });
    await Promise.all(
      items.map(async (s) => {
        await ctx.cri.stopPodSandbox({ podSandboxId: s.id }).catch(() => undefined);
        await ctx.cri.removePodSandbox({ podSandboxId: s.id }).catch(() => undefined);
      }),
    );
    await removeCgroupTree(cgroupRoot);
    if ((await stat(agentLog).catch(() => undefined))?.size) {
      const tail = (await readFile(agentLog, 'utf8'))
        .split('\n')
        .filter((l) => /"level":"(error|warn)"/.test(l));
      if (tail.length)
        log(`agent warnings/errors: ${tail.length}; first: ${tail[0]!.slice(0, 300)}`);
    }
  }
}

function countKinds(n: number): Record<string, number> {
  const c = { exec: 0, http: 0, tcp: 0 };
  const kinds = ['exec', 'http', 'tcp'] as const;
  for (let i = 0; i < n; i++) c[kinds[i % 3]!]++;
  return c;
}

// ----------------------------------------------------------------------- main

async function main(): Promise<void> {
  const env = await startRealRuntime();
  const cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  const tmp = await mkdtemp(join(tmpdir(), 'nodeagent-podbench-'));
  const ctx: Ctx = {
    env,
    cri,
    tmp,
    rootDir: join(tmp, 'root'),
    podLogsDir: join(tmp, 'logs'),
    cgroupRoot: `${env.cgroupRoot}/bench-${runId}`,
    resolvConf: await readFile('/etc/resolv.conf', 'utf8').catch(() => ''),
    uids: new Set(),
  };
  await mkdir(join(ctx.rootDir, 'pods'), { recursive: true });
  await mkdir(ctx.podLogsDir, { recursive: true });
  const results: {
    date: string;
    node: string;
    runtime: string;
    single: SingleResult[];
    burst: BurstResult[];
    footprint?: FootprintResult;
    goals: typeof goals;
  } = {
    date: new Date().toISOString(),
    node: process.version,
    runtime: env.criEndpoint,
    single: [],
    burst: [],
    goals,
  };
  try {
    await cri.pullImage({ image: { image: env.busyboxImage } });
    if (parts.has('single')) {
      for (const variant of relistVariants) {
        log(`single pod x${singleRuns}, PLEG relist period ${variant.label} ms`);
        results.single.push(await singlePod(ctx, variant));
      }
    }
    if (parts.has('burst')) {
      for (const size of burstSizes) {
        for (let r = 0; r < burstRounds; r++) {
          log(`burst of ${size} pods, round ${r + 1}/${burstRounds}`);
          results.burst.push(await burst(ctx, size, r));
          await sleep(2000);
        }
      }
    }
    if (parts.has('footprint')) {
      log(`footprint: ${footprintPods} pods with probes, ${footprintSeconds} s window`);
      results.footprint = await footprint(ctx);
    }

    // ---- report
    console.log(`\npod-lifecycle benchmark, node ${process.version}, ${env.criEndpoint}`);
    if (results.single.length) {
      console.log(
        `\n1. Single pod start, ${singleRuns} in sequence (ms; p99 = nearest rank; agent "status" = lifecycle status listener, "cri" = agent's StartContainer returned; bare = direct CRI sequence)`,
      );
      console.table(
        results.single.map((s) => ({
          'relist ms': s.relistPeriodMs,
          'agent status p50': s.agentStatus.p50,
          'agent status p99': s.agentStatus.p99,
          'agent cri p50': s.agentCri.p50,
          'agent cri p99': s.agentCri.p99,
          'bare p50': s.bare.p50,
          'bare p99': s.bare.p99,
          'status/bare p50': s.ratioStatus.p50,
          'status/bare p99': s.ratioStatus.p99,
          'cri/bare p50': s.ratioCri.p50,
          'cri/bare p99': s.ratioCri.p99,
        })),
      );
      console.log('   agent phases (median ms):');
      console.table(
        results.single.map((s) => ({
          'relist ms': s.relistPeriodMs,
          ...s.agentPhases,
          'bare RunPodSandbox': s.bareRunSandboxP50,
        })),
      );
      console.log(`   goals: p50 ≤ ${goals.p50}×, p99 ≤ ${goals.p99}×`);
    }
    if (results.burst.length) {
      console.log('\n2. Burst: wall time until all running (ms)');
      console.table(results.burst);
      console.log(`   goal ≤ ${goals.burst}×`);
    }
    if (results.footprint) {
      const f = results.footprint;
      console.log(
        `\n3. Footprint (${f.mode}${f.agentNodeArgs.length ? `; node ${f.agentNodeArgs.join(' ')}` : ''})`,
      );
      console.table([
        {
          pods: f.pods,
          'window s': f.windowSeconds,
          'RSS mean MiB': f.rssMiB.mean,
          'RSS max MiB': f.rssMiB.max,
          'RSS peak (HWM) MiB': f.rssMiB.peakHWM,
          'CPU cores (window)': f.cpuCores.window,
          'CPU cores (startup)': f.cpuCores.startup,
          'startup s': f.startupSeconds,
          restarts: f.restarts,
        },
      ]);
      console.log(
        `   probe evidence in container logs (exec probes echo, httpd -v logs requests; tcp connects leave no trace): exec ${f.probeEvidence.exec}, http ${f.probeEvidence.http}`,
      );
      console.log(`   agent process.memoryUsage() MiB: ${JSON.stringify(f.memoryUsageMiB)}`);
      console.log(`   goals: RSS ≤ ${goals.rssMiB} MiB, CPU ≤ ${goals.cpuCores} core`);
    }
    const out = join(repoRoot, '.bench-results');
    mkdirSync(out, { recursive: true });
    // A partial run (BENCH_PARTS) does not overwrite the full results.
    const all = ['single', 'burst', 'footprint'].every((p) => parts.has(p));
    const file = join(
      out,
      all ? 'pod-lifecycle.json' : `pod-lifecycle-${[...parts].join('-')}.json`,
    );
    writeFileSync(file, JSON.stringify(results, null, 2));
    log(`wrote ${file}`);
  } finally {
    // Anything of ours still in the runtime (a failed run): stop and remove it.
    const { items } = await cri
      .listPodSandbox({ filter: { labelSelector: { [nsLabel]: namespace } } })
      .catch(() => ({ items: [] }));
    await Promise.all(
      items.map(async (s) => {
        await cri.stopPodSandbox({ podSandboxId: s.id }).catch(() => undefined);
        await cri.removePodSandbox({ podSandboxId: s.id }).catch(() => undefined);
      }),
    );
    cri.close();
    await removeCgroupTree(ctx.cgroupRoot);
    await rm(tmp, { recursive: true, force: true });
    if (process.env.NODEAGENT_KEEP_RUNTIME !== '1') await stopRealRuntime({ keepImages: true });
  }
}

await main();
