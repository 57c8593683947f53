/**
 * Call overhead of the typed cri-client against a bare @grpc/grpc-js client
 * (@grpc/proto-loader on the same .proto, same decode options) on the same
 * containerd socket, in the same run: `Version`, and `ListContainers` with 250
 * containers present. Rounds alternate which client goes first; the figures are
 * medians of per-call latency and their ratio (goal: ≤ 1.05).
 *
 *   npm run bench -w @nodeagent/cri-client
 *   BENCH_ROUNDS=21 BENCH_CALLS=200 npm run bench -w @nodeagent/cri-client
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { cri } from '@nodeagent/core';
import { startRealRuntime, stopRealRuntime } from '@nodeagent/testkit';
import { createCriClient } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
const callsPerRound = Number(process.env.BENCH_CALLS ?? 100);
const sandboxes = 25;
const containersPerSandbox = 10;
const label = { 'nodeagent.bench/suite': 'cri-client' };

type Call = () => Promise<unknown>;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function timeCalls(call: Call, n: number, out: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out.push(performance.now() - t0);
  }
}

async function compare(name: string, typed: Call, bare: Call) {
  // warm-up: connections, JIT, codec construction
  await timeCalls(typed, 20, []);
  await timeCalls(bare, 20, []);
  const typedAll: number[] = [];
  const bareAll: number[] = [];
  const roundRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t: number[] = [];
    const b: number[] = [];
    if (r % 2 === 0) {
      await timeCalls(typed, callsPerRound, t);
      await timeCalls(bare, callsPerRound, b);
    } else {
      await timeCalls(bare, callsPerRound, b);
      await timeCalls(typed, callsPerRound, t);
    }
    typedAll.push(...t);
    bareAll.push(...b);
    roundRatios.push(median(t) / median(b));
  }
  const typedMedian = median(typedAll);
  const bareMedian = median(bareAll);
  return {
    name,
    calls: typedAll.length,
    typedMedianMs: +typedMedian.toFixed(4),
    bareMedianMs: +bareMedian.toFixed(4),
    ratio: +(typedMedian / bareMedian).toFixed(4),
    medianRoundRatio: +median(roundRatios).toFixed(4),
  };
}

async function main(): Promise<void> {
  const env = await startRealRuntime();
  const typed = createCriClient({ endpoint: env.criEndpoint });
  await typed.connect();

  const definition = protoLoader.loadSync(join(repoRoot, 'proto/cri/runtime/v1/api.proto'), {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    arrays: true,
    objects: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
  };
  const bare = new loaded.runtime.v1.RuntimeService(
    env.criEndpoint,
    grpc.credentials.createInsecure(),
  );
  const bareCall =
    (method: string, request: object): Call =>
    () =>
      new Promise((resolve, reject) => {
        const fn = bare[method] as (
          req: object,
          cb: (err: grpc.ServiceError | null, res?: unknown) => void,
        ) => void;
        fn.call(bare, request, (err, res) => (err ? reject(err) : resolve(res)));
      });

  const created: string[] = [];
  try {
    process.stderr.write(`bench: creating ${sandboxes * containersPerSandbox} containers…\n`);
    await typed.pullImage({ image: { image: env.busyboxImage } });
    for (let s = 0; s < sandboxes; s++) {
      const config: cri.PodSandboxConfigInput = {
        metadata: { name: `bench-${s}`, namespace: 'bench', uid: `bench-uid-${s}`, attempt: 0 },
        labels: label,
        linux: { securityContext: { namespaceOptions: { network: 'NODE' } } },
      };
      const { podSandboxId } = await typed.runPodSandbox({ config });
      created.push(podSandboxId);
      for (let c = 0; c < containersPerSandbox; c++) {
        const { containerId } = await typed.createContainer({
          podSandboxId,
          sandboxConfig: config,
          config: {
            metadata: { name: `c${c}`, attempt: 0 },
            image: { image: env.busyboxImage },
            command: ['sleep', '3600'],
            labels: label,
          },
        });
        await typed.startContainer({ containerId });
      }
    }
    const listed = await typed.listContainers({});
    const bareListed = (await bareCall('ListContainers', {})()) as { containers: unknown[] };
    if (
      listed.containers.length < 250 ||
      bareListed.containers.length !== listed.containers.length
    ) {
      throw new Error(
        `expected ≥250 containers from both clients, got ${listed.containers.length}/${bareListed.containers.length}`,
      );
    }

    const results = [
      await compare('Version', () => typed.version({}), bareCall('Version', {})),
      await compare(
        `ListContainers (${listed.containers.length} containers)`,
        () => typed.listContainers({}),
        bareCall('ListContainers', {}),
      ),
    ];
    console.log(
      `cri-client call overhead, ${rounds} rounds x ${callsPerRound} calls, node ${process.version}`,
    );
    console.table(results);
    const out = join(repoRoot, '.bench-results');
    mkdirSync(out, { recursive: true });
    writeFileSync(
      join(out, 'cri-client.json'),
      JSON.stringify({ date: new Date().toISOString(), rounds, callsPerRound, results }, null, 2),
    );
  } finally {
    for (const id of created) {
      await typed.stopPodSandbox({ podSandboxId: id }).catch(() => undefined);
      await typed.removePodSandbox({ podSandboxId: id }).catch(() => undefined);
    }
    typed.close();
    bare.close();
    if (process.env.NODEAGENT_KEEP_RUNTIME !== '1') await stopRealRuntime({ keepImages: true });
  }
}

await main();
