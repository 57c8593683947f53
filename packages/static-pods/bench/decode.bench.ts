/**
 * What the static pod sources add on top of just reading and parsing manifests.
 *
 * 1. decode: `decodeStaticPods` (YAML parse + zod validation + static identity with
 *    the MD5 deep hash) on a typical manifest (a web server with three probes,
 *    resources, a volume), against a bare `yaml.parse` of the same text.
 * 2. full re-read of a directory of BENCH_PODS (default 110) manifests through the
 *    file source (every file changed, so every file is read and decoded; then
 *    unchanged, so the stat cache answers), against the bare loop
 *    readdir + readFile + yaml.parse over the same directory.
 *
 * Medians and p99 of BENCH_ROUNDS rounds, ratios to the baseline, JSON to
 * .bench-results/static-pods.json. Uses a temporary directory it removes.
 *
 *   npm run bench -w @nodeagent/static-pods
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RealClock } from '@nodeagent/core';
import { parse } from 'yaml';
import { createFileSource, decodeStaticPods } from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '../../..');
const pods = Number(process.env.BENCH_PODS ?? 110);
const rounds = Number(process.env.BENCH_ROUNDS ?? 50);
const decodeIterations = Number(process.env.BENCH_DECODE_ITERATIONS ?? 2000);

const manifest = (name: string): string => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: { app: ${name}, tier: web }
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 10
  volumes:
    - name: cache
      emptyDir: {}
  containers:
    - name: web
      image: registry.local/nginx:1.27
      args: ["-g", "daemon off;"]
      ports:
        - { name: http, containerPort: 8080 }
      env:
        - { name: MODE, value: production }
        - name: POD_NAME
          valueFrom: { fieldRef: { fieldPath: metadata.name } }
      resources:
        requests: { cpu: 100m, memory: 64Mi }
        limits: { cpu: 500m, memory: 128Mi }
      volumeMounts:
        - { name: cache, mountPath: /cache }
      startupProbe: { httpGet: { path: /healthz, port: http }, failureThreshold: 30, periodSeconds: 1 }
      livenessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 10 }
      readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 5 }
`;

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const round = (v: number, d = 3): number => +v.toFixed(d);
const stats = (samples: number[]): { median: number; p99: number } => ({
  median: round(percentile(samples, 50)),
  p99: round(percentile(samples, 99)),
});

async function timeIt(fn: () => unknown, times: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

async function main(): Promise<void> {
  // 1. decode one manifest.
  const text = manifest('web');
  const options = {
    origin: { kind: 'file', path: '/etc/kubernetes/manifests/web.yaml' },
    nodeName: 'node-1',
  } as const;
  await timeIt(() => decodeStaticPods(text, options), 200);
  await timeIt(() => parse(text, { version: '1.1' }), 200);
  const decodeSamples = await timeIt(() => {
    const result = decodeStaticPods(text, options);
    if (!result.ok) throw new Error(result.reason);
  }, decodeIterations);
  const parseSamples = await timeIt(() => parse(text, { version: '1.1' }), decodeIterations);

  // 2. full re-read of a directory.
  const dir = await mkdtemp(join(tmpdir(), 'static-pods-bench-'));
  try {
    for (let i = 0; i < pods; i++)
      await writeFile(join(dir, `pod-${i}.yaml`), manifest(`pod-${i}`));
    const source = createFileSource({
      path: dir,
      nodeName: 'node-1',
      clock: new RealClock(),
      watch: false,
      resyncPeriodMs: 3_600_000,
    });
    let lastCount = -1;
    source.subscribe((u) => {
      lastCount = u.pods.length;
    });
    source.start();
    await source.resync();
    if (lastCount !== pods) throw new Error(`expected ${pods} pods, got ${lastCount}`);

    const changedSamples: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // Every file changed (one label per round): each is read, decoded and hashed.
      await Promise.all(
        Array.from({ length: pods }, (_, i) =>
          writeFile(
            join(dir, `pod-${i}.yaml`),
            manifest(`pod-${i}`).replace('tier: web', `tier: w${r}`),
          ),
        ),
      );
      const start = performance.now();
      await source.resync();
      changedSamples.push(performance.now() - start);
    }
    const unchangedSamples = await timeIt(() => source.resync(), rounds);
    await source.stop();

    const bareSamples = await timeIt(async () => {
      const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
      for (const n of names) parse(await readFile(join(dir, n), 'utf8'), { version: '1.1' });
    }, rounds);

    const decode = stats(decodeSamples);
    const bareParse = stats(parseSamples);
    const changed = stats(changedSamples);
    const unchanged = stats(unchangedSamples);
    const bare = stats(bareSamples);
    const results = {
      pods,
      rounds,
      decodeIterations,
      decodeMs: decode,
      bareYamlParseMs: bareParse,
      decodeRatio: {
        median: round(decode.median / bareParse.median, 2),
        p99: round(decode.p99 / bareParse.p99, 2),
      },
      rereadAllChangedMs: changed,
      rereadUnchangedMs: unchanged,
      bareReadParseMs: bare,
      rereadChangedRatio: {
        median: round(changed.median / bare.median, 2),
        p99: round(changed.p99 / bare.p99, 2),
      },
      rereadUnchangedRatio: {
        median: round(unchanged.median / bare.median, 2),
        p99: round(unchanged.p99 / bare.p99, 2),
      },
    };
    console.log(JSON.stringify(results, null, 2));
    mkdirSync(join(repoRoot, '.bench-results'), { recursive: true });
    writeFileSync(
      join(repoRoot, '.bench-results/static-pods.json'),
      `${JSON.stringify(results, null, 2)}\n`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
