/**
 * One image GC pass + one container GC pass over a FakeRuntime with 500 images and
 * 1,000 dead containers (250 pods: 200 living ones with a running container and 4
 * dead instances, 50 deleted ones with 4 dead instances and a dead sandbox), every CRI
 * call delayed by a little simulated latency. The baseline, in the same run on an
 * identical runtime, makes only the bare calls: the three lists and the removals of
 * exactly what GC removes (known in advance). Figures: wall time (median, p99 over
 * rounds), CRI calls, and their ratios (goal ≤ 1.2).
 *
 *   npm run bench -w @nodeagent/image-gc
 *   BENCH_ROUNDS=11 BENCH_LATENCY_MS=1 npm run bench -w @nodeagent/image-gc
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeClock } from '@nodeagent/core/testing';
import { GcFakeRuntime } from '../src/__fixtures__/gc-fake-runtime.js';
import { ContainerGcManager, ImageGcManager } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const latencyMs = Number(process.env.BENCH_LATENCY_MS ?? 1);
const images = 500;
const inUseImages = 50;
const livePods = 200;
const deletedPods = 50;
const deadPerPod = 4;
const MB = 1_000_000;

interface Fixture {
  runtime: GcFakeRuntime;
  counted: GcFakeRuntime;
  calls: () => number;
  clock: FakeClock;
  deleted: Set<string>;
  expect: { images: string[]; containers: string[]; sandboxes: string[] };
}

const criMethods = new Set([
  'listImages',
  'listContainers',
  'listPodSandbox',
  'removeImage',
  'removeContainer',
  'stopContainer',
  'stopPodSandbox',
  'removePodSandbox',
  'imageFsInfo',
  'fsUsage',
]);

/** Wraps every CRI method of `runtime` with a counter and `latencyMs` of delay. */
function withLatency(runtime: GcFakeRuntime): { proxy: GcFakeRuntime; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(runtime, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      if (!criMethods.has(prop)) return value;
      return async (...args: unknown[]) => {
        calls++;
        await new Promise((r) => setTimeout(r, latencyMs));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { proxy, calls: () => calls };
}

async function fixture(): Promise<Fixture> {
  const clock = new FakeClock();
  const runtime = new GcFakeRuntime({ clock, autoEvents: false, capacityBytes: 1000 * MB });
  const imageIds: string[] = [];
  for (let i = 0; i < images; i++) {
    imageIds.push(await runtime.addImage({ ref: `registry.test/img-${i}:1`, size: MB }));
    await clock.advance(1000);
  }
  const expectContainers: string[] = [];
  const expectSandboxes: string[] = [];
  const deleted = new Set<string>();
  for (let p = 0; p < livePods + deletedPods; p++) {
    const uid = `pod-${p}`;
    const live = p < livePods;
    const image = `registry.test/img-${p % inUseImages}:1`;
    const sb = runtime.addSandbox({ uid, state: live ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY' });
    for (let a = 0; a < deadPerPod; a++) {
      const id = runtime.addContainer(sb, {
        name: 'web',
        attempt: a,
        image,
        state: 'CONTAINER_EXITED',
      });
      if (!live || a < deadPerPod - 1) expectContainers.push(id);
      await clock.advance(1);
    }
    if (live) runtime.addContainer(sb, { name: 'web', attempt: deadPerPod, image });
    else {
      deleted.add(uid);
      expectSandboxes.push(sb);
    }
  }
  // 500 MB of images on 1,000 MB with high 50 / low 10: 400 MB to free; the 450 unused
  // images (1 MB each) go oldest first, the first 400.
  const expectImages = imageIds.slice(inUseImages, inUseImages + 400);
  const { proxy, calls } = withLatency(runtime);
  return {
    runtime,
    counted: proxy,
    calls,
    clock,
    deleted,
    expect: { images: expectImages, containers: expectContainers, sandboxes: expectSandboxes },
  };
}

async function gcPass(f: Fixture): Promise<void> {
  const imageGc = new ImageGcManager({
    runtime: f.counted,
    images: f.counted,
    clock: f.clock,
    imageFsUsage: f.counted.fsUsage,
    policy: { highThresholdPercent: 50, lowThresholdPercent: 10, minAgeMs: 0 },
    nodeName: 'bench',
  });
  const containerGc = new ContainerGcManager({
    runtime: f.counted,
    clock: f.clock,
    podStateProvider: {
      isPodDeleted: (uid) => f.deleted.has(uid),
      isPodTerminated: () => false,
    },
    podLogsDir: join(repoRoot, '.bench-results', 'no-such-pod-logs'),
  });
  const img = await imageGc.garbageCollect();
  const ctr = await containerGc.garbageCollect();
  if (img.deletedImages.length !== f.expect.images.length) {
    throw new Error(
      `image GC deleted ${img.deletedImages.length}, expected ${f.expect.images.length}`,
    );
  }
  if (ctr.removedContainers.length !== f.expect.containers.length) {
    throw new Error(
      `container GC removed ${ctr.removedContainers.length}, expected ${f.expect.containers.length}`,
    );
  }
  if (ctr.removedSandboxes.length !== f.expect.sandboxes.length) {
    throw new Error(`container GC removed ${ctr.removedSandboxes.length} sandboxes`);
  }
}

/** The bare calls: list images, containers, sandboxes; remove exactly what GC removes. */
async function bare(f: Fixture): Promise<void> {
  const rt = f.counted;
  await rt.listImages({});
  await rt.listContainers({});
  await rt.listPodSandbox({});
  await rt.fsUsage();
  for (const id of f.expect.images) await rt.removeImage({ image: { image: id } });
  for (const id of f.expect.containers) await rt.removeContainer({ containerId: id });
  for (const id of f.expect.sandboxes) {
    await rt.stopPodSandbox({ podSandboxId: id });
    await rt.removePodSandbox({ podSandboxId: id });
  }
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.ceil(q * s.length) - 1);
  return s[Math.max(0, idx)] ?? Number.NaN;
}

async function measure(fn: (f: Fixture) => Promise<void>): Promise<{ ms: number; calls: number }> {
  const f = await fixture();
  const t0 = performance.now();
  await fn(f);
  return { ms: performance.now() - t0, calls: f.calls() };
}

async function main(): Promise<void> {
  // warm-up
  await measure(gcPass);
  await measure(bare);
  const gcMs: number[] = [];
  const bareMs: number[] = [];
  let gcCalls = 0;
  let bareCalls = 0;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [gcPass, bare] : [bare, gcPass];
    for (const fn of order) {
      const { ms, calls } = await measure(fn);
      if (fn === gcPass) {
        gcMs.push(ms);
        gcCalls = calls;
      } else {
        bareMs.push(ms);
        bareCalls = calls;
      }
    }
  }
  const result = {
    scenario: {
      images,
      inUseImages,
      deadContainers: (livePods + deletedPods) * deadPerPod,
      latencyMs,
      rounds,
    },
    gc: { medianMs: quantile(gcMs, 0.5), p99Ms: quantile(gcMs, 0.99), calls: gcCalls },
    bare: { medianMs: quantile(bareMs, 0.5), p99Ms: quantile(bareMs, 0.99), calls: bareCalls },
    ratio: {
      medianWallTime: quantile(gcMs, 0.5) / quantile(bareMs, 0.5),
      p99WallTime: quantile(gcMs, 0.99) / quantile(bareMs, 0.99),
      calls: gcCalls / bareCalls,
    },
    goal: 1.2,
  };
  console.log(
    `GC pass (500 images, 1,000 dead containers, ${latencyMs} ms per call), ${rounds} rounds:\n` +
      `  gc:   median ${result.gc.medianMs.toFixed(1)} ms, p99 ${result.gc.p99Ms.toFixed(1)} ms, ${gcCalls} calls\n` +
      `  bare: median ${result.bare.medianMs.toFixed(1)} ms, p99 ${result.bare.p99Ms.toFixed(1)} ms, ${bareCalls} calls\n` +
      `  ratio: wall ${result.ratio.medianWallTime.toFixed(3)} (p99 ${result.ratio.p99WallTime.toFixed(3)}), calls ${result.ratio.calls.toFixed(3)} (goal ≤ ${result.goal})`,
  );
  const out = join(repoRoot, '.bench-results', 'image-gc.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}

await main();
