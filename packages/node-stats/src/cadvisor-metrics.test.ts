import { FakeClock } from '@nodeagent/core/testing';
import { FakeRuntime } from '@nodeagent/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryFs } from './__fixtures__/memory-fs.js';
import { parseNetDev } from './proc.js';
import {
  cpuTopology,
  createCadvisorMetrics,
  imageFromVerboseInfo,
  type CadvisorMetrics,
} from './cadvisor-metrics.js';

const cg = '/sys/fs/cgroup';
const podCg = '/kubepods/besteffort/poduid-web';
const pauseImage = 'registry.test/pause:3.9';

let clock: FakeClock;
let fs: MemoryFs;
let runtime: FakeRuntime;
let metrics: CadvisorMetrics;
let ids: { sandbox: string; app: string; sidecar: string };
/** PID of each sandbox/container ID, served in verbose status `info`. */
let pids: Map<string, number>;

/**
 * A strict check of the Prometheus text format: HELP then TYPE once per family before
 * its samples, families contiguous, well-formed sample lines, no duplicate series.
 * Returns the samples by family.
 */
function checkExposition(text: string): Map<string, string[]> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, string[]>();
  const seen = new Set<string>();
  let current: string | undefined;
  let help: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      expect(families.has(m[1]!), `family ${m[1]} declared twice`).toBe(false);
      help = m[1];
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line);
    if (m) {
      expect(m[1], 'TYPE right after its HELP').toBe(help);
      current = m[1]!;
      families.set(current, []);
      continue;
    }
    m =
      /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+]+|NaN|[+-]Inf)( -?\d+)?$/.exec(
        line,
      );
    expect(m, `bad line ${line}`).not.toBeNull();
    expect(m?.[1], `sample outside its family: ${line}`).toBe(current);
    const series = `${m?.[1]}${m?.[2] ?? ''}`;
    expect(seen.has(series), `duplicate series ${series}`).toBe(false);
    seen.add(series);
    families.get(current!)!.push(line);
  }
  return families;
}

function writeCgroupV1(path: string, v: { cpu: number; mem: number; procs: string[] }): void {
  const cpu = `${cg}/cpuacct${path}`;
  fs.write(`${cpu}/cpuacct.usage`, `${v.cpu}\n`);
  fs.write(`${cpu}/cpuacct.stat`, `user ${v.cpu / 2e7}\nsystem ${v.cpu / 4e7}\n`);
  fs.write(`${cpu}/cpu.shares`, '2\n');
  fs.write(`${cpu}/cpu.cfs_period_us`, '100000\n');
  fs.write(`${cpu}/cpu.cfs_quota_us`, '-1\n');
  const mem = `${cg}/memory${path}`;
  fs.write(
    `${mem}/memory.stat`,
    [
      `cache ${v.mem / 4}`,
      `rss ${v.mem / 2}`,
      'pgfault 30',
      'pgmajfault 3',
      `total_cache ${v.mem / 4}`,
      `total_rss ${v.mem / 2}`,
      `total_mapped_file ${v.mem / 8}`,
      'total_swap 0',
      'total_pgfault 40',
      'total_pgmajfault 4',
      `total_inactive_file ${v.mem / 8}`,
    ].join('\n') + '\n',
  );
  fs.write(`${mem}/memory.usage_in_bytes`, `${v.mem}\n`);
  fs.write(`${mem}/memory.max_usage_in_bytes`, `${v.mem * 2}\n`);
  fs.write(`${mem}/memory.limit_in_bytes`, '9223372036854771712\n');
  fs.write(`${mem}/memory.failcnt`, '0\n');
  fs.write(`${mem}/memory.oom_control`, 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n');
  const pidsDir = `${cg}/pids${path}`;
  fs.write(`${pidsDir}/pids.current`, `${v.procs.length}\n`);
  fs.write(`${pidsDir}/pids.max`, 'max\n');
  fs.write(`${pidsDir}/cgroup.procs`, v.procs.map((p) => `${p}\n`).join(''));
}

beforeEach(() => {
  clock = new FakeClock(); // 2026-01-01T00:00:00Z = 1767225600000 ms
  fs = new MemoryFs().loadFixture('proc', '/proc').loadFixture('cgroup-v1', cg);
  fs.write(
    '/proc/cpuinfo',
    'processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\nprocessor\t: 1\nphysical id\t: 0\ncore id\t\t: 1\n\n',
  );
  fs.write('/proc/sys/kernel/random/boot_id', 'b00t-1d\n');
  fs.write('/etc/machine-id', 'm4ch1ne\n');
  fs.write('/sys/class/dmi/id/product_uuid', 'UU1D\n');
  runtime = new FakeRuntime({ clock, autoEvents: false });
  const sandbox = runtime.addSandbox({
    name: 'web',
    namespace: 'shop',
    uid: 'uid-web',
    labels: { 'io.kubernetes.pod.name': 'web', 'io.kubernetes.pod.namespace': 'shop' },
  });
  void clock.advance(1000);
  const app = runtime.addContainer(sandbox, {
    name: 'app',
    image: 'registry.test/app:1',
    labels: { 'io.kubernetes.container.name': 'app' },
  });
  const sidecar = runtime.addContainer(sandbox, { name: 'sidecar', image: 'registry.test/side:2' });
  // an exited init container has no cgroup: not reported
  runtime.addContainer(sandbox, { name: 'init', state: 'CONTAINER_EXITED' });
  void clock.advance(60_000);
  ids = { sandbox, app, sidecar };
  pids = new Map([
    [sandbox, 100],
    [app, 101],
    [sidecar, 102],
  ]);
  runtime.podSandboxStatus = (req) => {
    const pid = pids.get(req?.podSandboxId ?? '');
    return Promise.resolve({
      status: null,
      info: pid === undefined ? {} : { info: JSON.stringify({ pid, image: pauseImage }) },
      containersStatuses: [],
      timestamp: 0,
    });
  };
  runtime.containerStatus = (req) => {
    const pid = pids.get(req?.containerId ?? '');
    return Promise.resolve({
      status: null,
      info: pid === undefined ? {} : { info: JSON.stringify({ pid, sandboxID: sandbox }) },
    });
  };
  for (const [id, pid] of pids) {
    fs.write(`/proc/${pid}/cgroup`, `12:pids:${podCg}/${id}\n4:memory:${podCg}/${id}\n`);
  }
  fs.write(
    '/proc/100/net/dev',
    'Inter-| Receive | Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n' +
      '    lo:  10 1 0 0 0 0 0 0  10 1 0 0 0 0 0 0\n' +
      '  eth0: 5000 50 1 2 0 0 0 0 7000 70 3 4 0 0 0 0\n',
  );
  // processes live in the task cgroups: the pod cgroup itself has none
  writeCgroupV1(podCg, { cpu: 6e9, mem: 64 * 1048576, procs: [] });
  writeCgroupV1(`${podCg}/${sandbox}`, { cpu: 1e8, mem: 1048576, procs: ['100'] });
  writeCgroupV1(`${podCg}/${app}`, { cpu: 4e9, mem: 48 * 1048576, procs: ['101', '103'] });
  writeCgroupV1(`${podCg}/${sidecar}`, { cpu: 19e8, mem: 15 * 1048576, procs: ['102'] });
  // the pod cgroup's CPU is limited
  fs.write(`${cg}/cpuacct${podCg}/cpu.cfs_quota_us`, '50000\n');
  fs.write(`${cg}/memory${podCg}/memory.limit_in_bytes`, `${128 * 1048576}\n`);
  writeCgroupV1('/kubepods/besteffort', { cpu: 7e9, mem: 70 * 1048576, procs: [] });
  writeCgroupV1('/kubepods', { cpu: 8e9, mem: 80 * 1048576, procs: [] });
  metrics = createCadvisorMetrics({
    runtime,
    clock,
    fs,
    rawCgroupPrefixes: ['/kubepods'],
  });
});

describe('CadvisorMetrics (cgroup v1)', () => {
  it('renders the app container of a two-container pod exactly as cAdvisor does', async () => {
    const text = await metrics.metrics();
    const ts = clock.now();
    const { app } = ids;
    const l = `container="app",id="${podCg}/${app}",image="registry.test/app:1",name="${app}",namespace="shop",pod="web"`;
    const created = runtime.listContainersNow().find((c) => c.id === app)!.createdAt / 1e9;
    const lines = text.split('\n').filter((x) => x.includes(`name="${app}"`));
    const MiB = 1048576;
    expect(lines).toEqual([
      `container_cpu_system_seconds_total{${l}} 1 ${ts}`,
      `container_cpu_usage_seconds_total{${l.replace(',id=', ',cpu="total",id=')}} 4 ${ts}`,
      `container_cpu_user_seconds_total{${l}} 2 ${ts}`,
      `container_last_seen{${l}} ${ts / 1000} ${ts}`,
      `container_memory_cache{${l}} ${12 * MiB} ${ts}`,
      `container_memory_failcnt{${l}} 0 ${ts}`,
      `container_memory_failures_total{${l.replace(',id=', ',failure_type="pgfault",id=')},scope="container"} 30 ${ts}`,
      `container_memory_failures_total{${l.replace(',id=', ',failure_type="pgfault",id=')},scope="hierarchy"} 40 ${ts}`,
      `container_memory_failures_total{${l.replace(',id=', ',failure_type="pgmajfault",id=')},scope="container"} 3 ${ts}`,
      `container_memory_failures_total{${l.replace(',id=', ',failure_type="pgmajfault",id=')},scope="hierarchy"} 4 ${ts}`,
      `container_memory_mapped_file{${l}} ${6 * MiB} ${ts}`,
      `container_memory_max_usage_bytes{${l}} ${96 * MiB} ${ts}`,
      `container_memory_rss{${l}} ${24 * MiB} ${ts}`,
      `container_memory_swap{${l}} 0 ${ts}`,
      `container_memory_usage_bytes{${l}} ${48 * MiB} ${ts}`,
      `container_memory_working_set_bytes{${l}} ${42 * MiB} ${ts}`,
      `container_oom_events_total{${l}} 0 ${ts}`,
      `container_processes{${l}} 2 ${ts}`,
      `container_spec_cpu_period{${l}} 100000`,
      `container_spec_cpu_shares{${l}} 2`,
      `container_spec_memory_limit_bytes{${l}} 0`,
      `container_start_time_seconds{${l}} ${created}`,
      `container_threads{${l}} 2 ${ts}`,
      `container_threads_max{${l}} 0 ${ts}`,
    ]);
    // the sidecar has no container-name label: its CRI metadata name is used
    expect(text).toContain(
      `container_memory_working_set_bytes{container="sidecar",id="${podCg}/${ids.sidecar}",image="registry.test/side:2",name="${ids.sidecar}",namespace="shop",pod="web"} ${15 * MiB - (15 * MiB) / 8} ${ts}`,
    );
    expect(text).not.toContain('container="init"');
  });

  it('reports the pod cgroup, the pause container with the pod network, QoS cgroups and the root', async () => {
    const text = await metrics.metrics();
    const ts = clock.now();
    const fams = checkExposition(text);
    const pod = `container="",id="${podCg}",image="",name="",namespace="shop",pod="web"`;
    const pause = `container="",id="${podCg}/${ids.sandbox}",image="${pauseImage}",name="${ids.sandbox}",namespace="shop",pod="web"`;
    expect(fams.get('container_cpu_usage_seconds_total')).toEqual(
      [
        `{container="",cpu="total",id="/",image="",name="",namespace="",pod=""} 6955.807325653 ${ts}`,
        `{container="",cpu="total",id="/kubepods",image="",name="",namespace="",pod=""} 8 ${ts}`,
        `{container="",cpu="total",id="/kubepods/besteffort",image="",name="",namespace="",pod=""} 7 ${ts}`,
        `{container="",cpu="total",id="${podCg}",image="",name="",namespace="shop",pod="web"} 6 ${ts}`,
        `{container="",cpu="total",id="${podCg}/${ids.sandbox}",image="${pauseImage}",name="${ids.sandbox}",namespace="shop",pod="web"} 0.1 ${ts}`,
        `{container="app",cpu="total",id="${podCg}/${ids.app}",image="registry.test/app:1",name="${ids.app}",namespace="shop",pod="web"} 4 ${ts}`,
        `{container="sidecar",cpu="total",id="${podCg}/${ids.sidecar}",image="registry.test/side:2",name="${ids.sidecar}",namespace="shop",pod="web"} 1.9 ${ts}`,
      ].map((x) => `container_cpu_usage_seconds_total${x}`),
    );
    expect(fams.get('container_spec_cpu_quota')).toEqual([
      `container_spec_cpu_quota{${pod}} 50000`,
    ]);
    expect(fams.get('container_spec_memory_limit_bytes')).toContain(
      `container_spec_memory_limit_bytes{${pod}} ${128 * 1048576}`,
    );
    expect(fams.get('container_processes')).toContain(`container_processes{${pod}} 0 ${ts}`);
    // the pod cgroup starts with its sandbox
    const sbCreated = runtime.listSandboxesNow()[0]!.createdAt / 1e9;
    expect(fams.get('container_start_time_seconds')).toContain(
      `container_start_time_seconds{${pod}} ${sbCreated}`,
    );
    // the pod's network on the pause container only, loopback left out
    expect(fams.get('container_network_receive_bytes_total')).toEqual([
      // the root reports the host interfaces (fixture /proc/net/dev; lo and veth* left out)
      `container_network_receive_bytes_total{container="",id="/",image="",interface="eth0",name="",namespace="",pod=""} 1967643399 ${ts}`,
      `container_network_receive_bytes_total{container="",id="/",image="",interface="eth1",name="",namespace="",pod=""} 1000 ${ts}`,
      `container_network_receive_bytes_total{${pause.replace(',name=', ',interface="eth0",name=')}} 5000 ${ts}`,
    ]);
    const eth0 = pause.replace(',name=', ',interface="eth0",name=');
    for (const [fam, v] of [
      ['container_network_receive_packets_total', 50],
      ['container_network_receive_errors_total', 1],
      ['container_network_receive_packets_dropped_total', 2],
      ['container_network_transmit_bytes_total', 7000],
      ['container_network_transmit_packets_total', 70],
      ['container_network_transmit_errors_total', 3],
      ['container_network_transmit_packets_dropped_total', 4],
    ] as const) {
      expect(fams.get(fam), fam).toContain(`${fam}{${eth0}} ${v} ${ts}`);
    }
    // root memory from the root memory cgroup (fixture: usage 2e9, inactive file 5e8)
    expect(fams.get('container_memory_working_set_bytes')).toContain(
      `container_memory_working_set_bytes{container="",id="/",image="",name="",namespace="",pod=""} 1500000000 ${ts}`,
    );
    expect(fams.get('container_start_time_seconds')).toContain(
      `container_start_time_seconds{container="",id="/",image="",name="",namespace="",pod=""} 1767225600`,
    );
    const m = 'boot_id="b00t-1d",machine_id="m4ch1ne",system_uuid="UU1D"';
    expect(fams.get('machine_cpu_cores')).toEqual([`machine_cpu_cores{${m}} 2 ${ts}`]);
    expect(fams.get('machine_cpu_physical_cores')).toEqual([
      `machine_cpu_physical_cores{${m}} 2 ${ts}`,
    ]);
    expect(fams.get('machine_cpu_sockets')).toEqual([`machine_cpu_sockets{${m}} 1 ${ts}`]);
    expect(fams.get('machine_memory_bytes')).toEqual([
      `machine_memory_bytes{${m}} ${4030000 * 1024} ${ts}`,
    ]);
    expect(fams.get('container_scrape_error')).toEqual(['container_scrape_error 0']);
    expect(fams.get('machine_scrape_error')).toEqual(['machine_scrape_error 0']);
    expect(text).toContain(
      '# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n# TYPE container_cpu_usage_seconds_total counter\n',
    );
    expect(text).toContain('# TYPE container_memory_working_set_bytes gauge\n');
  });

  it('looks each task up once while it runs, forgets removed ones and skips vanished cgroups', async () => {
    let calls = 0;
    const status = runtime.containerStatus;
    runtime.containerStatus = (req, o) => {
      calls++;
      return status(req, o);
    };
    await metrics.metrics();
    await metrics.metrics();
    expect(calls).toBe(2); // app and sidecar, once each
    // the sidecar exits; its cgroup is removed
    runtime.setContainerState(ids.sidecar, 'CONTAINER_EXITED');
    for (const p of [...fs.files.keys()]) if (p.includes(ids.sidecar)) fs.files.delete(p);
    const text = await metrics.metrics();
    expect(text).not.toContain(`name="${ids.sidecar}"`);
    checkExposition(text);
    // the app's cgroup vanishes between listing and reading: no series, no error
    for (const p of [...fs.files.keys()])
      if (p.includes(`${podCg}/${ids.app}/`)) fs.files.delete(p);
    const t2 = await metrics.metrics();
    expect(t2).not.toContain(`name="${ids.app}"`);
    expect(t2).toContain('container_scrape_error 0\n');
  });

  it('reports container_scrape_error 1 and still the root and machine when the CRI fails', async () => {
    runtime.failNext('listContainers', new Error('runtime down'));
    const text = await metrics.metrics();
    const fams = checkExposition(text);
    expect(fams.get('container_scrape_error')).toEqual(['container_scrape_error 1']);
    expect(fams.get('container_cpu_usage_seconds_total')).toHaveLength(1);
    expect(fams.get('machine_cpu_cores')).toHaveLength(1);
    expect(metrics.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});

describe('CadvisorMetrics (cgroup v2)', () => {
  it('reads the unified hierarchy: weight as shares, cpu.max, memory.max, events and the root fallback', async () => {
    fs = new MemoryFs().loadFixture('proc', '/proc').loadFixture('cgroup-v2', cg);
    fs.write('/proc/cpuinfo', 'processor\t: 0\n');
    const scope = '/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope';
    fs.write('/proc/101/cgroup', `0::${scope}\n`);
    pids = new Map([[ids.app, 101]]);
    const d = `${cg}${scope}`;
    fs.write(`${d}/cpu.stat`, 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n');
    fs.write(`${d}/cpu.weight`, '79\n'); // runc's weight for 2048 shares; back: 2 + 78·262142/9999 → 2046
    fs.write(`${d}/cpu.max`, '25000 100000\n');
    fs.write(
      `${d}/memory.stat`,
      'anon 4096\nfile 8192\nfile_mapped 1024\ninactive_file 2048\npgfault 7\npgmajfault 1\n',
    );
    fs.write(`${d}/memory.current`, '20480\n');
    fs.write(`${d}/memory.max`, '1048576\n');
    fs.write(`${d}/memory.swap.current`, '512\n');
    fs.write(`${d}/memory.events`, 'low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n');
    fs.write(`${d}/pids.current`, '3\n');
    fs.write(`${d}/pids.max`, '1024\n');
    fs.write(`${d}/cgroup.procs`, '101\n');
    const m = createCadvisorMetrics({ runtime, clock, fs });
    const text = await m.metrics();
    const fams = checkExposition(text);
    const ts = clock.now();
    const l = `container="app",id="${scope}",image="registry.test/app:1",name="${ids.app}",namespace="shop",pod="web"`;
    const line = (f: string): string | undefined =>
      fams.get(f)?.find((x) => x.includes(`name="${ids.app}"`));
    expect(line('container_cpu_user_seconds_total')).toBe(
      `container_cpu_user_seconds_total{${l}} 2 ${ts}`,
    );
    expect(line('container_cpu_system_seconds_total')).toBe(
      `container_cpu_system_seconds_total{${l}} 0.5 ${ts}`,
    );
    expect(line('container_spec_cpu_shares')).toBe(`container_spec_cpu_shares{${l}} 2046`);
    expect(line('container_spec_cpu_quota')).toBe(`container_spec_cpu_quota{${l}} 25000`);
    expect(line('container_spec_cpu_period')).toBe(`container_spec_cpu_period{${l}} 100000`);
    expect(line('container_spec_memory_limit_bytes')).toBe(
      `container_spec_memory_limit_bytes{${l}} 1048576`,
    );
    expect(line('container_memory_working_set_bytes')).toBe(
      `container_memory_working_set_bytes{${l}} 18432 ${ts}`,
    );
    expect(line('container_memory_rss')).toBe(`container_memory_rss{${l}} 4096 ${ts}`);
    expect(line('container_memory_cache')).toBe(`container_memory_cache{${l}} 8192 ${ts}`);
    expect(line('container_memory_swap')).toBe(`container_memory_swap{${l}} 512 ${ts}`);
    expect(line('container_memory_failcnt')).toBe(`container_memory_failcnt{${l}} 5 ${ts}`);
    expect(line('container_oom_events_total')).toBe(`container_oom_events_total{${l}} 2 ${ts}`);
    expect(line('container_threads')).toBe(`container_threads{${l}} 3 ${ts}`);
    expect(line('container_threads_max')).toBe(`container_threads_max{${l}} 1024 ${ts}`);
    // the root: cpu.stat of the fixture; memory from /proc/meminfo (no memory.current at the v2 root)
    const root = 'container="",id="/",image="",name="",namespace="",pod=""';
    expect(fams.get('container_memory_usage_bytes')).toContain(
      `container_memory_usage_bytes{${root}} ${(4030000 - 1200000) * 1024} ${ts}`,
    );
    // no sandbox cgroup known (no PID): no pod series, but no error either
    expect(text).not.toContain(`name="${ids.sandbox}"`);
    expect(fams.get('container_scrape_error')).toEqual(['container_scrape_error 0']);
  });
});

describe('helpers', () => {
  it('parses cpuinfo, net/dev and the verbose image', () => {
    expect(cpuTopology('processor : 0\nprocessor : 1\n')).toEqual({
      logical: 2,
      physical: undefined,
      sockets: undefined,
    });
    expect(parseNetDev('  eth0: 1 2 3 4 0 0 0 0 5 6 7 8 0 0 0 0\nbad: 1\n')).toEqual([
      {
        name: 'eth0',
        rxBytes: 1,
        rxPackets: 2,
        rxErrors: 3,
        rxDropped: 4,
        txBytes: 5,
        txPackets: 6,
        txErrors: 7,
        txDropped: 8,
      },
    ]);
    expect(imageFromVerboseInfo({ info: '{"pid":1,"image":"pause:3.9"}' })).toBe('pause:3.9');
    expect(imageFromVerboseInfo({ info: 'x' })).toBeUndefined();
  });
});
