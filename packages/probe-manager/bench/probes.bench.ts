/**
 * 110 busybox containers × 3 probes (startup, liveness, readiness) at periodSeconds 1,
 * exec/httpGet/tcpSocket mixed, driven by the real probe manager against the real
 * containerd for BENCH_SECONDS (default 60). Every second it samples the agent's CPU
 * (process.cpuUsage), the runtime's CPU (containerd + shims + their reaped runc
 * children, from /proc), this process's open fds (/proc/self/fd) and TIME_WAIT sockets
 * on the probed ports (/proc/net/tcp{,6} state 06); the CPU of that sampling is measured
 * and reported apart from the agent's (agentCpuCores excludes it, agentCpuGrossCores
 * includes it). Probe latency is timed per attempt
 * around the prober and compared with a bare request loop (plain node:http GET with
 * agent: false, net.connect, ExecSync) on the same targets at the same rate, in the
 * same run, after the manager stopped.
 *
 *   npm run bench -w @nodeagent/probe-manager
 *   BENCH_SECONDS=15 BENCH_BASELINE_SECONDS=5 npm run bench -w @nodeagent/probe-manager
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RealClock, type cri as api, type k8s } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import {
  freeLoopbackPort,
  startRealRuntime,
  stopRealRuntime,
  waitForLoopbackPort,
} from '@nodeagent/testkit';
import {
  createProbeManager,
  DefaultProbeRunner,
  type ProbeRunner,
  type ResolvedProbe,
} from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const seconds = Number(process.env.BENCH_SECONDS ?? 60);
const baselineSeconds = Number(
  process.env.BENCH_BASELINE_SECONDS ?? Math.max(5, Math.round(seconds / 4)),
);
const containers = Number(process.env.BENCH_CONTAINERS ?? 110);
const perSandbox = 11;
const label = { 'nodeagent.bench/suite': 'probe-manager' };
const clkTck = 100;

type Kind = 'exec' | 'httpGet' | 'tcpSocket';

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}
const round = (v: number, d = 3): number => +v.toFixed(d);

/** CPU seconds (user+sys, plus reaped children) of containerd and every containerd-shim. */
function runtimeCpuSeconds(containerdPid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const pid = Number(entry);
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (pid !== containerdPid && !comm.startsWith('containerd-shim')) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields after comm: state(0) … utime(11) stime(12) cutime(13) cstime(14)
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // process went away
    }
  }
  return ticks / clkTck;
}

function timeWait(ports: Set<number>): number {
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '06') continue;
      const lp = parseInt(f[1]?.split(':').pop() ?? '', 16);
      const rp = parseInt(f[2]?.split(':').pop() ?? '', 16);
      if (ports.has(lp) || ports.has(rp)) n++;
    }
  }
  return n;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

interface Target {
  containerId: string;
  name: string;
  httpPort: number;
  tcpPort: number;
}

async function main(): Promise<void> {
  const env = await startRealRuntime();
  const containerdPid = Number(readFileSync(join(env.runtimeDir, 'containerd.pid'), 'utf8').trim());
  const cri: CriClient = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
  const targets: Target[] = [];
  const ports = new Set<number>();
  const clock = new RealClock();
  try {
    // --- containers: host-network busybox, httpd (HTTP) and a second httpd (TCP) on 127.0.0.1
    console.log(`starting ${containers} containers…`);
    for (let s = 0; s * perSandbox < containers; s++) {
      const uid = randomUUID();
      const config: api.PodSandboxConfigInput = {
        metadata: { name: `bench-${s}`, namespace: 'probe-bench', uid, attempt: 0 },
        logDirectory: `${env.podLogDir}/${uid}`,
        labels: { ...label, 'io.kubernetes.pod.uid': uid },
        linux: {
          cgroupParent: `${env.cgroupRoot}/pod${uid}`,
          securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
        },
      };
      const { podSandboxId } = await cri.runPodSandbox({ config });
      for (let c = 0; c < perSandbox && targets.length < containers; c++) {
        const httpPort = await freeLoopbackPort();
        const tcpPort = await freeLoopbackPort();
        ports.add(httpPort);
        ports.add(tcpPort);
        const name = `c${targets.length}`;
        const script = [
          'mkdir -p /www && echo ok > /www/index.html',
          `httpd -p 127.0.0.1:${tcpPort} -h /www`,
          `exec httpd -f -p 127.0.0.1:${httpPort} -h /www`,
        ].join('\n');
        const { containerId } = await cri.createContainer({
          podSandboxId,
          sandboxConfig: config,
          config: {
            metadata: { name, attempt: 0 },
            image: { image: env.busyboxImage },
            command: ['sh', '-c', script],
            logPath: `${name}/0.log`,
            labels: label,
          },
        });
        await cri.startContainer({ containerId });
        targets.push({ containerId, name, httpPort, tcpPort });
      }
    }
    for (const t of targets) {
      await waitForLoopbackPort(t.httpPort, 300);
      await waitForLoopbackPort(t.tcpPort, 300);
    }

    // --- probe mix: startup exec (once), liveness/readiness cycling over the kinds
    const livenessKinds: Kind[] = ['tcpSocket', 'httpGet', 'exec'];
    const readinessKinds: Kind[] = ['httpGet', 'tcpSocket', 'httpGet'];
    const handler = (kind: Kind, t: Target): k8s.ProbeHandler =>
      kind === 'exec'
        ? { exec: { command: ['true'] } }
        : kind === 'httpGet'
          ? { httpGet: { port: t.httpPort, path: '/index.html' } }
          : { tcpSocket: { port: t.tcpPort } };

    const latencies: Record<Kind, number[]> = { exec: [], httpGet: [], tcpSocket: [] };
    const failures: Record<string, number> = {};
    const inner = new DefaultProbeRunner({ runtime: cri, clock });
    let timing = false;
    const runner: ProbeRunner = {
      async run(probe: ResolvedProbe, target) {
        const t0 = performance.now();
        const out = await inner.run(probe, target);
        if (timing) latencies[probe.handler.kind as Kind].push(performance.now() - t0);
        if (out.result === 'Failure') failures[out.output] = (failures[out.output] ?? 0) + 1;
        return out;
      },
    };
    const manager = createProbeManager({ runner, clock });
    const startedAt = new Date().toISOString();
    for (const [i, t] of targets.entries()) {
      const pod: k8s.Pod = {
        metadata: { name: `p${i}`, namespace: 'probe-bench', uid: `bench-${i}` },
        spec: {
          containers: [
            {
              name: t.name,
              startupProbe: { ...handler('exec', t), periodSeconds: 1 },
              livenessProbe: { ...handler(livenessKinds[i % 3]!, t), periodSeconds: 1 },
              readinessProbe: { ...handler(readinessKinds[i % 3]!, t), periodSeconds: 1 },
            },
          ],
        },
      };
      manager.updatePodStatus(pod, {
        phase: 'Running',
        podIP: '127.0.0.1',
        containerStatuses: [
          {
            name: t.name,
            ready: false,
            restartCount: 0,
            image: env.busyboxImage,
            imageID: '',
            containerID: `containerd://${t.containerId}`,
            state: { running: { startedAt } },
          },
        ],
      });
      manager.addPod(pod);
    }
    // Warm-up: startup probes succeed, jitter spreads the workers.
    await new Promise((r) => setTimeout(r, 3_000));

    // --- measured run
    console.log(`probing for ${seconds} s…`);
    timing = true;
    const fds: number[] = [];
    const tws: number[] = [];
    const cpu0 = process.cpuUsage();
    const rt0 = runtimeCpuSeconds(containerdPid);
    const wall0 = performance.now();
    // The sampling itself (reading /proc/net/tcp{,6} walks the kernel's socket tables)
    // runs in this process; its CPU is measured and reported apart from the agent's.
    let samplerMicros = 0;
    for (let s = 0; s < seconds; s++) {
      await new Promise((r) => setTimeout(r, 1_000));
      const sample0 = process.cpuUsage();
      fds.push(openFds());
      tws.push(timeWait(ports));
      const used = process.cpuUsage(sample0);
      samplerMicros += used.user + used.system;
    }
    const wall = (performance.now() - wall0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const rt = runtimeCpuSeconds(containerdPid) - rt0;
    timing = false;
    await manager.stop();
    const probeCounts = Object.fromEntries(
      Object.entries(latencies).map(([k, v]) => [k, v.length]),
    );
    const probesPerSecond = Object.values(latencies).reduce((a, v) => a + v.length, 0) / wall;

    // --- baseline: the same requests without the manager, at the same rate
    console.log(`bare request loop for ${baselineSeconds} s…`);
    const bare: Record<Kind, number[]> = { exec: [], httpGet: [], tcpSocket: [] };
    const bareGet = (port: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = http.get(
          { host: '127.0.0.1', port, path: '/index.html', agent: false },
          (res) => {
            res.resume();
            res.on('end', () => resolve());
          },
        );
        req.on('error', reject);
      });
    const bareTcp = (port: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.once('connect', () => (s.destroy(), resolve()));
        s.once('error', reject);
      });
    const bareCpu0 = process.cpuUsage();
    const bareWall0 = performance.now();
    const loops = targets.flatMap((t, i) =>
      [livenessKinds[i % 3]!, readinessKinds[i % 3]!].map(async (kind) => {
        const end = performance.now() + baselineSeconds * 1000;
        await new Promise((r) => setTimeout(r, Math.random() * 1000));
        while (performance.now() < end) {
          const t0 = performance.now();
          if (kind === 'exec')
            await cri.execSync({ containerId: t.containerId, cmd: ['true'], timeout: 1 });
          else if (kind === 'httpGet') await bareGet(t.httpPort);
          else await bareTcp(t.tcpPort);
          const dt = performance.now() - t0;
          bare[kind].push(dt);
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 - dt)));
        }
      }),
    );
    await Promise.all(loops);
    const bareWall = (performance.now() - bareWall0) / 1000;
    const bareCpu = process.cpuUsage(bareCpu0);

    const grossCores = (cpu.user + cpu.system) / 1e6 / wall;
    const samplerCores = samplerMicros / 1e6 / wall;
    const agentCores = grossCores - samplerCores;
    const byKind = (Object.keys(latencies) as Kind[]).map((kind) => {
      const m = latencies[kind];
      const b = bare[kind];
      return {
        kind,
        probes: m.length,
        managerMedianMs: round(percentile(m, 50)),
        managerP99Ms: round(percentile(m, 99)),
        bareMedianMs: round(percentile(b, 50)),
        bareP99Ms: round(percentile(b, 99)),
        p99Ratio: round(percentile(m, 99) / percentile(b, 99)),
        medianRatio: round(percentile(m, 50) / percentile(b, 50)),
      };
    });
    const result = {
      containers,
      probesPerContainer: 3,
      periodSeconds: 1,
      seconds: round(wall, 1),
      probesPerSecond: round(probesPerSecond, 1),
      probeCounts,
      failures,
      agentCpuCores: round(agentCores, 4),
      agentCpuGrossCores: round(grossCores, 4),
      samplerCpuCores: round(samplerCores, 4),
      agentCpuUserCores: round(cpu.user / 1e6 / wall, 4),
      agentCpuSystemCores: round(cpu.system / 1e6 / wall, 4),
      runtimeCpuCores: round(rt / wall, 4),
      bareLoopCpuCores: round((bareCpu.user + bareCpu.system) / 1e6 / bareWall, 4),
      fds: { first: fds[0], last: fds.at(-1), min: Math.min(...fds), max: Math.max(...fds) },
      timeWait: { first: tws[0], last: tws.at(-1), min: Math.min(...tws), max: Math.max(...tws) },
      latency: byKind,
    };
    console.log(JSON.stringify(result, null, 2));
    console.table(byKind);
    console.log(
      `agent CPU ${result.agentCpuCores} cores (goal ≤ 0.10; ${result.agentCpuGrossCores} with the bench's own /proc sampling), runtime (containerd+shims+runc) ${result.runtimeCpuCores} cores; ` +
        `fds ${result.fds.min}–${result.fds.max}; TIME_WAIT ${result.timeWait.min}–${result.timeWait.max}`,
    );
    const out = join(repoRoot, '.bench-results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'probe-manager.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    const { items } = await cri.listPodSandbox({ filter: { labelSelector: label } });
    for (const sb of items) {
      await cri.stopPodSandbox({ podSandboxId: sb.id });
      await cri.removePodSandbox({ podSandboxId: sb.id });
    }
    cri.close();
    if (process.env.NODEAGENT_KEEP_RUNTIME !== '1') await stopRealRuntime({ keepImages: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
