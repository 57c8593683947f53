/**
 * PodResources `List` with 110 pods × 3 containers (the kubelet's default maxPods)
 * through nodeagent's server and typed client, against a bare @grpc/grpc-js echo
 * baseline in the same run: a server whose one method answers with a pre-encoded
 * buffer of the same size as the List response (no pod mapping, no protobuf work), and
 * a client that takes the bytes as they come. The difference is what the PodResources
 * layers cost: building the response from the pods, encoding, decoding, rate limiter.
 * Rounds alternate which side goes first; figures are per-call latency medians and
 * p99s and their ratios. The rate limit is lifted for the run (qps Infinity): at the
 * kubelet's 100 qps a benchmark would only measure rejections.
 *
 *   npm run bench -w @nodeagent/pod-resources
 *   BENCH_ROUNDS=21 BENCH_CALLS=300 npm run bench -w @nodeagent/pod-resources
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { k8s } from '@nodeagent/core';
import {
  PodResourcesClient,
  createPodResourcesServer,
  podResourcesSocketPath,
} from '../src/index.js';
import { podResourcesCodecs } from '../src/codec.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
const callsPerRound = Number(process.env.BENCH_CALLS ?? 200);
const podCount = 110;
const containersPerPod = 3;

type Call = () => Promise<unknown>;

function quantile(values: readonly number[], q: number): number {
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

function makePods(): k8s.Pod[] {
  return Array.from({ length: podCount }, (_, i) => ({
    metadata: { name: `bench-pod-${i}`, namespace: `bench-ns-${i % 7}`, uid: `uid-${i}` },
    spec: {
      initContainers: [{ name: 'proxy', image: 'busybox', restartPolicy: 'Always' as const }],
      containers: Array.from({ length: containersPerPod - 1 }, (_, j) => ({
        name: `container-${j}`,
        image: 'busybox',
      })),
    },
  }));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'podres-bench-'));
  const pods = makePods();
  const server = createPodResourcesServer({
    socketPath: podResourcesSocketPath(dir),
    activePods: () => pods,
    qps: Infinity,
  });
  await server.start();
  const typed = new PodResourcesClient({ socket: server.socketPath });

  // The baseline: same transport, same payload size, nothing else.
  const payload = podResourcesCodecs().list.encodeResponse(server.list());
  const identity = (b: Buffer): Buffer => b;
  const echoPath = '/bench.Echo/Echo';
  const echoServer = new grpc.Server({ 'grpc.max_send_message_length': -1 });
  echoServer.addService(
    {
      Echo: {
        path: echoPath,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Echo: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
        cb(null, payload),
    },
  );
  const echoSocket = join(dir, 'echo.sock');
  await new Promise<void>((resolve, reject) =>
    echoServer.bindAsync(`unix:${echoSocket}`, grpc.ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  const bare = new grpc.Client(`unix:${echoSocket}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
  const empty = Buffer.alloc(0);
  const bareCall: Call = () =>
    new Promise((resolve, reject) =>
      bare.makeUnaryRequest(echoPath, identity, identity, empty, (err, v) =>
        err ? reject(err) : resolve(v),
      ),
    );
  const typedCall: Call = () => typed.list();

  try {
    const check = await typed.list();
    if (check.podResources.length !== podCount) throw new Error('List returned the wrong pods');
    if (check.podResources.some((p) => p.containers.length !== containersPerPod)) {
      throw new Error('List returned the wrong containers');
    }
    await timeCalls(typedCall, 50, []);
    await timeCalls(bareCall, 50, []);
    const typedAll: number[] = [];
    const bareAll: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        await timeCalls(typedCall, callsPerRound, typedAll);
        await timeCalls(bareCall, callsPerRound, bareAll);
      } else {
        await timeCalls(bareCall, callsPerRound, bareAll);
        await timeCalls(typedCall, callsPerRound, typedAll);
      }
    }
    const typedMedian = quantile(typedAll, 0.5);
    const bareMedian = quantile(bareAll, 0.5);
    const typedP99 = quantile(typedAll, 0.99);
    const bareP99 = quantile(bareAll, 0.99);
    const result = {
      benchmark: 'pod-resources List',
      pods: podCount,
      containersPerPod,
      responseBytes: payload.length,
      calls: typedAll.length,
      list: { medianMs: +typedMedian.toFixed(4), p99Ms: +typedP99.toFixed(4) },
      bareEcho: { medianMs: +bareMedian.toFixed(4), p99Ms: +bareP99.toFixed(4) },
      medianRatio: +(typedMedian / bareMedian).toFixed(3),
      p99Ratio: +(typedP99 / bareP99).toFixed(3),
      node: process.version,
      date: new Date().toISOString(),
    };
    console.log(
      `List ${podCount} pods × ${containersPerPod} containers (${payload.length} bytes), ${typedAll.length} calls each:\n` +
        `  pod-resources  median ${result.list.medianMs} ms  p99 ${result.list.p99Ms} ms\n` +
        `  bare echo      median ${result.bareEcho.medianMs} ms  p99 ${result.bareEcho.p99Ms} ms\n` +
        `  ratio          median ×${result.medianRatio}  p99 ×${result.p99Ratio}`,
    );
    const out = join(repoRoot, '.bench-results', 'pod-resources.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${out}`);
  } finally {
    typed.close();
    bare.close();
    await server.stop();
    echoServer.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
