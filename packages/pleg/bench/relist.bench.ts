/**
 * Relist cost on the real containerd with 110 and 250 host-network busybox sleepers
 * (one per pod), against the bare ListPodSandbox + ListContainers calls issued the
 * same way (concurrently) in the same run, interleaved.
 *
 *   npm run bench -w @nodeagent/pleg        (brings the runtime up if needed)
 *
 * Per relist: wall time and process CPU (process.cpuUsage) for the PLEG relist and
 * for the bare calls; the difference is what the PLEG adds. The agent-side work alone
 * (grouping by pod and diffing with the previous relist, no I/O) is also timed.
 * Steady state: nothing changes between relists, as on a quiet node.
 * Goals: p99(relist) ≤ 1.2 × p99(bare); agent-side CPU ≤ 5 ms per relist at 250.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RealClock, type cri as api } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { startRealRuntime } from '@nodeagent/testkit';
import { computePodEvents, GenericPleg, groupByPod } from '../src/index.js';

const sizes = [110, 250];
const iterations = Number(process.env.PLEG_BENCH_ITERATIONS ?? 200);
const label = { 'nodeagent.bench/suite': `pleg-${randomUUID().slice(0, 8)}` };

interface Stats {
  p50: number;
  p99: number;
  mean: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return {
    p50: at(0.5),
    p99: at(0.99),
    mean: values.reduce((s, v) => s + v, 0) / values.length,
  };
}

function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

async function measure(fn: () => Promise<unknown>): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await fn();
  return { wallMs: performance.now() - t, cpuMs: cpuMs(cpu) };
}

async function inParallel<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

async function addSleepers(
  cri: CriClient,
  env: { busyboxImage: string; cgroupRoot: string; podLogDir: string },
  from: number,
  to: number,
): Promise<void> {
  const indexes = Array.from({ length: to - from }, (_, i) => from + i);
  await inParallel(indexes, 6, async (i) => {
    const uid = randomUUID();
    const config: api.PodSandboxConfigInput = {
      metadata: { name: `sleeper-${i}`, namespace: 'pleg-bench', uid, attempt: 0 },
      logDirectory: `${env.podLogDir}/${uid}`,
      labels: { ...label, 'io.kubernetes.pod.uid': uid },
      linux: {
        cgroupParent: `${env.cgroupRoot}/pod${uid}`,
        securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
      },
    };
    const { podSandboxId } = await cri.runPodSandbox({ config });
    const { containerId } = await cri.createContainer({
      podSandboxId,
      sandboxConfig: config,
      config: {
        metadata: { name: 'sleep', attempt: 0 },
        image: { image: env.busyboxImage },
        command: ['sleep', '3600'],
        logPath: 'sleep/0.log',
        labels: { ...label, 'io.kubernetes.pod.uid': uid },
      },
    });
    await cri.startContainer({ containerId });
  });
}

async function cleanup(cri: CriClient): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: label } });
  await inParallel(items, 6, async (sb) => {
    await cri.stopPodSandbox({ podSandboxId: sb.id }, { timeoutMs: 60_000 });
    await cri.removePodSandbox({ podSandboxId: sb.id }, { timeoutMs: 60_000 });
  });
}

async function main(): Promise<void> {
  const env = await startRealRuntime();
  const cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
  const results: Record<string, unknown> = {};
  let created = 0;
  try {
    for (const size of sizes) {
      const t0 = performance.now();
      await addSleepers(cri, env, created, size);
      created = size;
      console.log(
        `${size} sleepers running (${((performance.now() - t0) / 1000).toFixed(1)} s to add)`,
      );

      const pleg = new GenericPleg({ runtime: cri, clock: new RealClock() });
      await pleg.relist(); // first relist: every pod is new and inspected
      const bareWall: number[] = [];
      const bareCpu: number[] = [];
      const plegWall: number[] = [];
      const plegCpu: number[] = [];
      const bare = (): Promise<unknown> =>
        Promise.all([cri.listPodSandbox({}), cri.listContainers({})]);
      for (let i = 0; i < 20; i++) {
        await bare();
        await pleg.relist();
      }
      for (let i = 0; i < iterations; i++) {
        const b = await measure(bare);
        const p = await measure(() => pleg.relist());
        bareWall.push(b.wallMs);
        bareCpu.push(b.cpuMs);
        plegWall.push(p.wallMs);
        plegCpu.push(p.cpuMs);
      }
      await pleg.stop();

      // The agent-side work alone: group by pod and diff against the previous relist.
      const [sbs, ctrs] = await Promise.all([cri.listPodSandbox({}), cri.listContainers({})]);
      const previous = groupByPod(sbs.items, ctrs.containers);
      const diffCpu: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const cpu = process.cpuUsage();
        const t = performance.now();
        const pods = groupByPod(sbs.items, ctrs.containers);
        let n = 0;
        for (const [uid, pod] of pods) n += computePodEvents(uid, previous.get(uid), pod).length;
        if (n !== 0) throw new Error(`steady state produced ${n} events`);
        // cpuUsage has microsecond granularity: also keep the wall time of pure CPU work.
        diffCpu.push(Math.max(cpuMs(cpu), performance.now() - t));
      }

      const r = {
        containers: ctrs.containers.length,
        sandboxes: sbs.items.length,
        iterations,
        bareWallMs: stats(bareWall),
        relistWallMs: stats(plegWall),
        bareCpuMs: stats(bareCpu),
        relistCpuMs: stats(plegCpu),
        agentSideCpuMs: stats(diffCpu),
        ratioP50: stats(plegWall).p50 / stats(bareWall).p50,
        ratioP99: stats(plegWall).p99 / stats(bareWall).p99,
        addedCpuMsMean: stats(plegCpu).mean - stats(bareCpu).mean,
      };
      results[String(size)] = r;
      const f = (s: Stats): string => `p50 ${s.p50.toFixed(2)}  p99 ${s.p99.toFixed(2)}`;
      console.log(
        `\n== ${size} sleepers (${r.containers} containers, ${r.sandboxes} sandboxes in the runtime)`,
      );
      console.log(`  bare lists  wall ms: ${f(r.bareWallMs)}   cpu ms: ${f(r.bareCpuMs)}`);
      console.log(`  pleg relist wall ms: ${f(r.relistWallMs)}   cpu ms: ${f(r.relistCpuMs)}`);
      console.log(
        `  ratio relist/bare: p50 ${r.ratioP50.toFixed(3)}  p99 ${r.ratioP99.toFixed(3)} (goal p99 ≤ 1.2)`,
      );
      console.log(`  agent-side (group + diff) cpu ms: ${f(r.agentSideCpuMs)} (goal ≤ 5)`);
      console.log(`  CPU the PLEG adds per relist (mean): ${r.addedCpuMsMean.toFixed(3)} ms`);
    }
  } finally {
    const t = performance.now();
    await cleanup(cri);
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: label } });
    console.log(
      `\ncleaned up in ${((performance.now() - t) / 1000).toFixed(1)} s; ${items.length} left`,
    );
    cri.close();
  }
  const out = join(dirname(fileURLToPath(import.meta.url)), '../../../.bench-results/pleg.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
  console.log(`results: ${out}`);
}

await main();
