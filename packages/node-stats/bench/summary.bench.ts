/**
 * Cost of one `summary()` with N running containers (default 20, each in its own
 * host-network pod with an emptyDir and a log file) against the bare CRI calls it
 * cannot avoid — ListContainerStats + ImageFsInfo — made on the same client in the
 * same run. Rounds alternate which goes first; prints medians, p99 and ratios and
 * writes .bench-results/node-stats.json. Needs the real runtime (brought up here).
 *
 *   npm run bench -w @nodeagent/node-stats
 *   BENCH_CONTAINERS=20 BENCH_ROUNDS=15 BENCH_CALLS=20 npm run bench -w @nodeagent/node-stats
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RealClock, type cri } from '@nodeagent/core';
import { createCriClient } from '@nodeagent/cri-client';
import { startRealRuntime, stopRealRuntime } from '@nodeagent/testkit';
import { createStatsProvider } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const containers = Number(process.env.BENCH_CONTAINERS ?? 20);
const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
const callsPerRound = Number(process.env.BENCH_CALLS ?? 20);
const label = { 'nodeagent.bench/suite': `node-stats-${randomUUID().slice(0, 8)}` };
const namespace = 'node-stats-bench';

type Call = () => Promise<unknown>;

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (q === 0.5) {
    const mid = s.length >> 1;
    return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  }
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function timeCalls(call: Call, n: number, out: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out.push(performance.now() - t0);
  }
}

async function compare(name: string, subject: Call, bare: Call) {
  await timeCalls(subject, 5, []);
  await timeCalls(bare, 5, []);
  const s: number[] = [];
  const b: number[] = [];
  const roundRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const rs: number[] = [];
    const rb: number[] = [];
    if (r % 2 === 0) {
      await timeCalls(subject, callsPerRound, rs);
      await timeCalls(bare, callsPerRound, rb);
    } else {
      await timeCalls(bare, callsPerRound, rb);
      await timeCalls(subject, callsPerRound, rs);
    }
    s.push(...rs);
    b.push(...rb);
    roundRatios.push(quantile(rs, 0.5) / quantile(rb, 0.5));
  }
  const r4 = (x: number) => +x.toFixed(4);
  return {
    name,
    calls: s.length,
    summaryMedianMs: r4(quantile(s, 0.5)),
    summaryP99Ms: r4(quantile(s, 0.99)),
    bareMedianMs: r4(quantile(b, 0.5)),
    bareP99Ms: r4(quantile(b, 0.99)),
    ratio: r4(quantile(s, 0.5) / quantile(b, 0.5)),
    p99Ratio: r4(quantile(s, 0.99) / quantile(b, 0.99)),
    medianRoundRatio: r4(quantile(roundRatios, 0.5)),
  };
}

async function main(): Promise<void> {
  const env = await startRealRuntime();
  const client = createCriClient({ endpoint: env.criEndpoint });
  await client.connect();
  await client.pullImage({ image: { image: env.busyboxImage } });
  const rootDir = join(env.runtimeDir, `${label['nodeagent.bench/suite']}-root`);
  const logDirs: string[] = [];
  try {
    for (let i = 0; i < containers; i++) {
      const uid = randomUUID();
      const name = `bench-${i}`;
      const vol = `${rootDir}/pods/${uid}/volumes/kubernetes.io~empty-dir/data`;
      mkdirSync(vol, { recursive: true });
      for (let f = 0; f < 10; f++) writeFileSync(`${vol}/f${f}`, Buffer.alloc(4096, f));
      const logDirectory = `${env.podLogDir}/${namespace}_${name}_${uid}`;
      logDirs.push(logDirectory);
      const config: cri.PodSandboxConfigInput = {
        metadata: { name, namespace, uid, attempt: 0 },
        logDirectory,
        labels: { ...label, 'io.kubernetes.pod.uid': uid },
        linux: {
          cgroupParent: `${env.cgroupRoot}/pod${uid}`,
          securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
        },
      };
      const { podSandboxId } = await client.runPodSandbox({ config });
      const { containerId } = await client.createContainer({
        podSandboxId,
        sandboxConfig: config,
        config: {
          metadata: { name: 'app', attempt: 0 },
          image: { image: env.busyboxImage },
          command: ['sh', '-c', 'echo hello; exec sleep 3600'],
          mounts: [{ containerPath: '/data', hostPath: vol }],
          logPath: 'app/0.log',
          labels: { ...label, 'io.kubernetes.pod.uid': uid },
        },
      });
      await client.startContainer({ containerId });
    }

    const provider = createStatsProvider({
      runtime: client,
      images: client,
      rootDir,
      podLogsDir: env.podLogDir,
      clock: new RealClock(),
    });
    const check = await provider.summary({ updateStats: true });
    const ours = check.pods.filter((p) => p.podRef.namespace === namespace);
    if (ours.length !== containers)
      throw new Error(`summary shows ${ours.length}/${containers} pods`);

    const withSandboxStats = createStatsProvider({
      runtime: client,
      images: client,
      rootDir,
      podLogsDir: env.podLogDir,
      clock: new RealClock(),
      podSandboxStats: true,
    });
    // where the time goes: each CRI call alone
    const breakdown: Record<string, number> = {};
    for (const [name, call] of [
      ['ListPodSandbox', () => client.listPodSandbox({})],
      ['ListContainers', () => client.listContainers({})],
      ['ListContainerStats', () => client.listContainerStats({})],
      ['ListPodSandboxStats', () => client.listPodSandboxStats({})],
      ['ImageFsInfo', () => client.imageFsInfo({})],
    ] as Array<[string, Call]>) {
      const t: number[] = [];
      await timeCalls(call, 3, []);
      await timeCalls(call, 15, t);
      breakdown[name] = +quantile(t, 0.5).toFixed(3);
    }
    console.log('CRI call medians (ms):', JSON.stringify(breakdown));
    const bare: Call = () => Promise.all([client.listContainerStats({}), client.imageFsInfo({})]);
    const results = [
      await compare('summary (updateStats)', () => provider.summary({ updateStats: true }), bare),
      await compare('summary (cached volume walks)', () => provider.summary(), bare),
      await compare(
        'summary + ListPodSandboxStats',
        () => withSandboxStats.summary({ updateStats: true }),
        bare,
      ),
      await compare(
        'summary onlyCpuAndMemory',
        () => provider.summary({ onlyCpuAndMemory: true }),
        bare,
      ),
    ];
    for (const r of results) {
      console.log(
        `${r.name.padEnd(30)} summary median ${r.summaryMedianMs} ms (p99 ${r.summaryP99Ms})  ` +
          `bare median ${r.bareMedianMs} ms (p99 ${r.bareP99Ms})  ratio ${r.ratio} (p99 ${r.p99Ratio}, per-round ${r.medianRoundRatio})`,
      );
    }
    const outDir = join(repoRoot, '.bench-results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(
      join(outDir, 'node-stats.json'),
      `${JSON.stringify(
        {
          benchmark: 'node-stats summary vs bare ListContainerStats+ImageFsInfo',
          containers,
          rounds,
          callsPerRound,
          date: new Date().toISOString(),
          criCallMediansMs: breakdown,
          results,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    const { items } = await client.listPodSandbox({ filter: { labelSelector: label } });
    for (const sb of items) {
      await client.stopPodSandbox({ podSandboxId: sb.id });
      await client.removePodSandbox({ podSandboxId: sb.id });
    }
    client.close();
    rmSync(rootDir, { recursive: true, force: true });
    for (const d of logDirs) rmSync(d, { recursive: true, force: true });
    if (!process.env.NODEAGENT_KEEP_RUNTIME) await stopRealRuntime();
  }
}

await main();
