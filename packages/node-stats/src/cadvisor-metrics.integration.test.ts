/**
 * `/metrics/cadvisor` against the real containerd: a busybox pod with two containers
 * (one burning CPU and filling tmpfs) shows up with its cgroup IDs, labels and
 * plausible CPU and memory; the whole output is valid exposition text.
 */
import { randomUUID } from 'node:crypto';
import { RealClock, type cri as api } from '@nodeagent/core';
import { createCriClient, type CriClient } from '@nodeagent/cri-client';
import { realRuntime } from '@nodeagent/testkit/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCadvisorMetrics, type CadvisorMetrics } from './cadvisor-metrics.js';

const env = realRuntime();
const suite = `cadvisor-${randomUUID().slice(0, 8)}`;
const testLabel = { 'nodeagent.test/suite': suite };
const namespace = 'cadvisor-test';
const MiB = 1024 * 1024;
let cri: CriClient;
let metrics: CadvisorMetrics;
let uid: string;
let sandboxId: string;
const containerIds: Record<string, string> = {};

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

interface Line {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestampMs: number | undefined;
}

/** Parses and strictly checks the exposition text: one HELP/TYPE per family, no duplicate series. */
function parse(text: string): Line[] {
  const out: Line[] = [];
  const declared = new Set<string>();
  const series = new Set<string>();
  let current = '';
  for (const line of text.trimEnd().split('\n')) {
    const t = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
    if (t) {
      expect(declared.has(t[1]!), `TYPE twice: ${t[1]}`).toBe(false);
      declared.add(t[1]!);
      current = t[1]!;
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (\d+))?$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(m![1]).toBe(current);
    const key = `${m![1]}{${m![2] ?? ''}}`;
    expect(series.has(key), `duplicate ${key}`).toBe(false);
    series.add(key);
    const labels: Record<string, string> = {};
    for (const l of (m![2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    out.push({
      name: m![1]!,
      labels,
      value: Number(m![3]),
      timestampMs: m![4] === undefined ? undefined : Number(m![4]),
    });
  }
  return out;
}

async function cleanup(): Promise<void> {
  const { items } = await cri.listPodSandbox({ filter: { labelSelector: testLabel } });
  for (const sb of items) {
    await cri.stopPodSandbox({ podSandboxId: sb.id });
    await cri.removePodSandbox({ podSandboxId: sb.id });
  }
}

beforeAll(async () => {
  cri = createCriClient({ endpoint: env.criEndpoint });
  await cri.connect();
  await cri.pullImage({ image: { image: env.busyboxImage } });
  metrics = createCadvisorMetrics({
    runtime: cri,
    clock: new RealClock(),
    rawCgroupPrefixes: [env.cgroupRoot],
  });
  uid = randomUUID();
  const name = 'cadv';
  const config: api.PodSandboxConfigInput = {
    metadata: { name, namespace, uid, attempt: 0 },
    logDirectory: `${env.podLogDir}/${namespace}_${name}_${uid}`,
    labels: {
      ...testLabel,
      'io.kubernetes.pod.uid': uid,
      'io.kubernetes.pod.name': name,
      'io.kubernetes.pod.namespace': namespace,
    },
    linux: {
      cgroupParent: `${env.cgroupRoot}/pod${uid}`,
      securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  ({ podSandboxId: sandboxId } = await cri.runPodSandbox({ config }));
  const commands: Record<string, string> = {
    burner: 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=24 2>/dev/null; while :; do :; done',
    sleeper: 'exec sleep 3600',
  };
  for (const [cname, cmd] of Object.entries(commands)) {
    const { containerId } = await cri.createContainer({
      podSandboxId: sandboxId,
      sandboxConfig: config,
      config: {
        metadata: { name: cname, attempt: 0 },
        image: { image: env.busyboxImage },
        command: ['sh', '-c', cmd],
        logPath: `${cname}/0.log`,
        labels: {
          ...testLabel,
          'io.kubernetes.pod.uid': uid,
          'io.kubernetes.pod.name': name,
          'io.kubernetes.pod.namespace': namespace,
          'io.kubernetes.container.name': cname,
        },
      },
    });
    await cri.startContainer({ containerId });
    containerIds[cname] = containerId;
  }
});

afterAll(async () => {
  await cleanup();
  cri.close();
});

describe('/metrics/cadvisor on containerd', () => {
  it('reports both containers, the pause container and the pod cgroup with cAdvisor labels', async () => {
    await sleep(1500); // let the burner burn and fill its tmpfs
    const text = await metrics.metrics();
    const lines = parse(text);
    const find = (name: string, pred: (l: Line) => boolean): Line[] =>
      lines.filter((l) => l.name === name && pred(l));
    const podCgroup = `${env.cgroupRoot}/pod${uid}`;
    for (const [cname, id] of Object.entries(containerIds)) {
      const cpu = find('container_cpu_usage_seconds_total', (l) => l.labels.name === id);
      expect(cpu, cname).toHaveLength(1);
      expect(cpu[0]!.labels).toEqual({
        container: cname,
        cpu: 'total',
        id: `${podCgroup}/${id}`,
        image: env.busyboxImage,
        name: id,
        namespace,
        pod: 'cadv',
      });
      expect(cpu[0]!.timestampMs).toBeGreaterThan(Date.now() - 60_000);
      const ws = find('container_memory_working_set_bytes', (l) => l.labels.name === id);
      expect(ws, cname).toHaveLength(1);
      expect(ws[0]!.value).toBeGreaterThan(0);
      expect(ws[0]!.value).toBeLessThan(512 * MiB);
    }
    const burnerId = containerIds.burner!;
    const burnerCpu = find('container_cpu_usage_seconds_total', (l) => l.labels.name === burnerId);
    expect(burnerCpu[0]!.value).toBeGreaterThan(0.3); // ~1.5 s of a busy loop
    const burnerWs = find('container_memory_working_set_bytes', (l) => l.labels.name === burnerId);
    expect(burnerWs[0]!.value).toBeGreaterThan(20 * MiB); // 24 MiB in tmpfs
    // the pod cgroup (container="") sums its children
    const podCpu = find('container_cpu_usage_seconds_total', (l) => l.labels.id === podCgroup);
    expect(podCpu).toHaveLength(1);
    expect(podCpu[0]!.labels).toMatchObject({ container: '', name: '', pod: 'cadv', namespace });
    expect(podCpu[0]!.value).toBeGreaterThanOrEqual(burnerCpu[0]!.value);
    // the pause container, named by the sandbox ID, with the pod's network (host network here)
    const pause = find('container_memory_usage_bytes', (l) => l.labels.name === sandboxId);
    expect(pause).toHaveLength(1);
    expect(pause[0]!.labels.id).toBe(`${podCgroup}/${sandboxId}`);
    expect(pause[0]!.labels.image).not.toBe('');
    expect(
      find('container_network_receive_bytes_total', (l) => l.labels.name === sandboxId).length,
    ).toBeGreaterThan(0);
    // the root and the machine
    expect(
      find('container_cpu_usage_seconds_total', (l) => l.labels.id === '/')[0]!.value,
    ).toBeGreaterThan(burnerCpu[0]!.value);
    const cores = find('machine_cpu_cores', () => true);
    expect(cores[0]!.value).toBeGreaterThanOrEqual(1);
    expect(cores[0]!.labels.boot_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(find('container_scrape_error', () => true)[0]!.value).toBe(0);
    // for the report: a few real lines
    console.log(
      text
        .split('\n')
        .filter((l) => l.includes(`pod="cadv"`) || l.startsWith('machine_'))
        .filter((l, i, a) => a.indexOf(l) === i)
        .slice(0, 400)
        .join('\n'),
    );
  });
});
