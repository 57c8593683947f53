/**
 * Requests per second of authenticated `/healthz` and `/stats/summary` on the node
 * API server (client certificate → warm SubjectAccessReview cache against the
 * in-process testkit API server) versus a bare Node.js https server on the same
 * certificate answering the same bodies, in the same run. Keep-alive clients, a
 * fixed number of concurrent requests. Prints medians, p99 of per-round throughput
 * and the ratios; writes .bench-results/auth-server.json.
 *
 *   npm run bench -w @nodeagent/auth-server
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { RealClock, type StatsProvider, type Summary } from '@nodeagent/core';
import { createKubeApi } from '@nodeagent/kube-client';
import { startTestApiServer } from '@nodeagent/testkit';
import { NodeApiServer, kubeApiReviewClient } from '../src/index.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 15);
const perRound = Number(process.env.BENCH_REQUESTS ?? 2000);
const concurrency = 16;

const summary: Summary = {
  node: {
    nodeName: 'bench',
    startTime: '2026-01-01T00:00:00Z',
    cpu: { time: '2026-01-01T00:00:00Z', usageCoreNanoSeconds: 1 },
  },
  pods: Array.from({ length: 20 }, (_, i) => ({
    podRef: { name: `pod-${i}`, namespace: 'default', uid: `uid-${i}` },
    startTime: '2026-01-01T00:00:00Z',
    containers: [
      {
        name: 'app',
        startTime: '2026-01-01T00:00:00Z',
        memory: { time: '2026-01-01T00:00:00Z', workingSetBytes: 1000 + i },
      },
    ],
  })),
};
const stats: StatsProvider = {
  summary: () => Promise.resolve(summary),
  listPodStats: () => Promise.resolve(summary.pods),
  nodeFsStats: () => Promise.resolve({ time: '' }),
  imageFsStats: () => Promise.resolve({ time: '' }),
  rlimitStats: () => Promise.resolve({ time: '' }),
};

async function round(port: number, path: string, agent: Agent, ca: string): Promise<number> {
  let next = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (next < perRound) {
      next++;
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path, agent, ca }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return perRound / ((performance.now() - start) / 1000);
}

/** One response's header names (without Date) and body length, to check the comparison is like for like. */
function shape(port: number, path: string, agent: Agent, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, ca }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        const names = Object.keys(res.headers)
          .filter((h) => h !== 'date')
          .sort();
        resolve(`${res.statusCode} ${names.join(',')} ${bytes}B`);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'auth-server-bench-'));
  const api = await startTestApiServer({
    tls: true,
    tokens: { node: { name: 'system:node:bench' } },
    authorize: () => true,
  });
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig({ token: 'node' }));
  const server = new NodeApiServer({
    nodeName: 'bench',
    address: '127.0.0.1',
    port: 0,
    rootDir: tmp,
    tls: { alternateIps: ['127.0.0.1'] },
    authentication: { clientCaPem: api.caPem ?? '', webhook: { enabled: true } },
    authorization: { mode: 'Webhook' },
    reviewClient: kubeApiReviewClient(createKubeApi(kc, { qps: 0 })),
    providers: { stats },
    clock: new RealClock(),
  });
  await server.start();
  const cert = server.servingCertificate ?? { certPem: '', keyPem: '' };
  // The baseline does what any server answering these requests must: the same TLS
  // setup (client certificates requested and checked against the same CA), the same
  // headers and bytes, and the summary serialized per request from the same provider.
  // What it leaves out is exactly the node API's own work (target checks, authn,
  // authz, routing, healthz checks).
  const bare = createServer(
    {
      cert: cert.certPem,
      key: cert.keyPem,
      ca: api.caPem ?? '',
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      if (req.url === '/healthz') {
        res.writeHead(200, {
          'Content-Type': 'text/plain; charset=utf-8',
          'X-Content-Type-Options': 'nosniff',
          'Content-Length': 2,
        });
        res.end('ok');
        return;
      }
      void stats.summary().then((s) => {
        const body = JSON.stringify(s);
        res.writeHead(200, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
        });
        res.end(body);
      });
    },
  );
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', () => r()));
  const barePort = (bare.address() as { port: number }).port;
  const client = api.issueClientCertificate({ name: 'bench-admin', groups: ['system:masters'] });
  const authed = new Agent({
    keepAlive: true,
    maxSockets: concurrency,
    cert: client.certPem,
    key: client.keyPem,
  });
  // Same client setup for both (keep-alive, pool size, client certificate).
  const plain = new Agent({
    keepAlive: true,
    maxSockets: concurrency,
    cert: client.certPem,
    key: client.keyPem,
  });
  const results: Record<string, unknown> = {};
  try {
    for (const path of ['/healthz', '/stats/summary']) {
      const oursShape = await shape(server.address().port, path, authed, cert.certPem);
      const bareShape = await shape(barePort, path, plain, cert.certPem);
      if (oursShape !== bareShape)
        throw new Error(`unfair comparison: ${path} node API ${oursShape}, bare ${bareShape}`);
      // warm-up: fills the SAR cache and the connection pools, lets the JIT settle
      for (let i = 0; i < 2; i++) {
        await round(server.address().port, path, authed, cert.certPem);
        await round(barePort, path, plain, cert.certPem);
      }
      const ours: number[] = [];
      const base: number[] = [];
      for (let i = 0; i < rounds; i++) {
        // alternate which goes first, so neither always runs right after the other's GC
        if (i % 2 === 0) {
          base.push(await round(barePort, path, plain, cert.certPem));
          ours.push(await round(server.address().port, path, authed, cert.certPem));
        } else {
          ours.push(await round(server.address().port, path, authed, cert.certPem));
          base.push(await round(barePort, path, plain, cert.certPem));
        }
      }
      const r = {
        serverMedianRps: Math.round(pct(ours, 50)),
        serverP1Rps: Math.round(pct(ours, 1)),
        serverP99Rps: Math.round(pct(ours, 99)),
        bareMedianRps: Math.round(pct(base, 50)),
        bareP1Rps: Math.round(pct(base, 1)),
        bareP99Rps: Math.round(pct(base, 99)),
        ratio: Number((pct(ours, 50) / pct(base, 50)).toFixed(3)),
      };
      results[path] = r;
      console.log(
        `${path.padEnd(15)} node API ${r.serverMedianRps} req/s (p1 ${r.serverP1Rps}, p99 ${r.serverP99Rps})  bare https ${r.bareMedianRps} req/s (p1 ${r.bareP1Rps}, p99 ${r.bareP99Rps})  ratio ${r.ratio}`,
      );
    }
    console.log(
      `SubjectAccessReviews during the run: ${api.requests.filter((x) => x.resource === 'subjectaccessreviews').length} (warm cache)`,
    );
  } finally {
    authed.destroy();
    plain.destroy();
    await server.stop();
    await new Promise<void>((r) => bare.close(() => r()));
    await api.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const out = join(import.meta.dirname, '../../../.bench-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'auth-server.json'),
    JSON.stringify(
      {
        benchmark: 'auth-server',
        rounds,
        requestsPerRound: perRound,
        concurrency,
        node: process.version,
        results,
      },
      null,
      2,
    ) + '\n',
  );
}

await main();
