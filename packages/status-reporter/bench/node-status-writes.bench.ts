/**
 * Node status API writes over 5 idle minutes (simulated on a FakeClock against the
 * in-process test API server), and the wall time of one status tick, against a bare
 * baseline in the same run: a loop that GETs the Node and PATCHes its status every
 * 10 s (what a kubelet without the Lease heartbeat, or without change detection, does).
 *
 * Goal (issue 6): at most one node status write in 5 idle minutes; lease renewals about
 * 6 a minute. Run: `npm run bench -w @nodeagent/status-reporter`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeClock } from '@nodeagent/core/testing';
import { createKubeApi, type KubeApi } from '@nodeagent/kube-client';
import { createFakeRuntime, startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import {
  NodeLeaseController,
  NodeStatusManager,
  formatTime,
  strategicMergePatchOptionsForBench,
  type MachineInfo,
} from './bench-support.js';

const machine: MachineInfo = {
  hostname: 'bench-node',
  machineId: 'm',
  systemUuid: 's',
  bootId: 'b',
  kernelVersion: '6.1.0',
  osImage: 'Debian GNU/Linux 12 (bookworm)',
  operatingSystem: 'linux',
  architecture: 'amd64',
  numCores: 2,
  memoryCapacityBytes: 4 * 1024 ** 3,
  hugePages: [],
  rootFsCapacityBytes: 50 * 1024 ** 3,
  addresses: ['10.0.0.9'],
};

const simulatedMs = 5 * 60_000;
const tickMs = 10_000;

function api(server: TestApiServer, clock: FakeClock): KubeApi {
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: 'system:node:bench-node', groups: ['system:nodes'] }),
    ),
  );
  return createKubeApi(kc, { clock, qps: 0 });
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function stats(samples: number[]): { median: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p99: quantile(s, 0.99) };
}

async function runOurs(): Promise<{ statusWrites: number; leaseWrites: number; tickMs: number[] }> {
  const server = await startTestApiServer({ tls: true });
  const clock = new FakeClock();
  const runtime = createFakeRuntime({ clock, runtimeName: 'containerd' });
  for (let i = 0; i < 20; i++)
    await runtime.pullImage({ image: { image: `registry.local/img-${i}:1` } });
  const kube = api(server, clock);
  const manager = new NodeStatusManager({
    nodeName: 'bench-node',
    api: kube,
    runtime,
    images: runtime,
    machineInfo: { read: () => Promise.resolve(machine) },
    clock,
    random: { float: () => 0 },
  });
  const lease = new NodeLeaseController({
    nodeName: 'bench-node',
    api: kube,
    clock,
    random: { float: () => 0 },
    nodeUid: () => manager.node()?.metadata.uid,
  });
  manager.start();
  lease.start();
  await clock.advance(0);
  await manager.idle();
  await lease.idle();
  const writesAt = server.requests.length;
  const samples: number[] = [];
  for (let t = 0; t < simulatedMs; t += tickMs) {
    const start = performance.now();
    await clock.advance(tickMs);
    await manager.idle();
    await lease.idle();
    samples.push(performance.now() - start);
  }
  const after = server.requests.slice(writesAt);
  const isWrite = (v: string): boolean => ['create', 'update', 'patch', 'delete'].includes(v);
  const statusWrites = after.filter((r) => r.resource === 'nodes' && isWrite(r.verb)).length;
  const leaseWrites = after.filter((r) => r.resource === 'leases' && isWrite(r.verb)).length;
  await lease.stop();
  await manager.stop();
  await server.stop();
  return { statusWrites, leaseWrites, tickMs: samples };
}

async function runBaseline(): Promise<{ statusWrites: number; tickMs: number[] }> {
  const server = await startTestApiServer({ tls: true });
  const clock = new FakeClock();
  const kube = api(server, clock);
  server.store.create(server.store.resource('nodes'), '', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'bench-node' },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
  });
  const writesAt = server.requests.length;
  const samples: number[] = [];
  for (let t = 0; t < simulatedMs; t += tickMs) {
    const start = performance.now();
    await clock.advance(tickMs);
    await kube.core.readNode({ name: 'bench-node' });
    const now = formatTime(clock.now());
    await kube.core.patchNodeStatus(
      {
        name: 'bench-node',
        body: {
          status: {
            conditions: [
              { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now },
            ],
          },
        },
      },
      strategicMergePatchOptionsForBench,
    );
    samples.push(performance.now() - start);
  }
  const statusWrites = server.requests
    .slice(writesAt)
    .filter((r) => r.resource === 'nodes' && r.verb === 'patch').length;
  await server.stop();
  return { statusWrites, tickMs: samples };
}

const baseline = await runBaseline();
const ours = await runOurs();
const b = stats(baseline.tickMs);
const o = stats(ours.tickMs);
const result = {
  simulatedMinutes: simulatedMs / 60_000,
  nodeStatusWrites: {
    ours: ours.statusWrites,
    baselineWriteEveryTick: baseline.statusWrites,
    goal: '<= 1',
  },
  leaseWrites: {
    ours: ours.leaseWrites,
    perMinute: ours.leaseWrites / (simulatedMs / 60_000),
    goal: '~6/min',
  },
  tickWallMs: {
    ours: o,
    baseline: b,
    ratioMedian: b.median > 0 ? o.median / b.median : 0,
    ratioP99: b.p99 > 0 ? o.p99 / b.p99 : 0,
  },
};
console.log(
  `node status writes in ${result.simulatedMinutes} idle min: ours ${ours.statusWrites} (goal <= 1), baseline ${baseline.statusWrites}`,
);
console.log(`lease writes: ${ours.leaseWrites} (${result.leaseWrites.perMinute.toFixed(1)}/min)`);
console.log(
  `tick wall time ms: ours median ${o.median.toFixed(2)} p99 ${o.p99.toFixed(2)}; baseline median ${b.median.toFixed(2)} p99 ${b.p99.toFixed(2)}; ratio median ${result.tickWallMs.ratioMedian.toFixed(2)}x p99 ${result.tickWallMs.ratioP99.toFixed(2)}x`,
);
const out = join(
  dirname(fileURLToPath(import.meta.url)),
  '../../../.bench-results/status-reporter-node.json',
);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}`);
