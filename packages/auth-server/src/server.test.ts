/**
 * The node API over real TLS against the in-process testkit API server (TokenReview
 * and SubjectAccessReview webhooks through kube-client's KubeApi), with the server's
 * caches on a FakeClock.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Agent, request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import type { PodStats, StatsProvider, Summary, k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { createKubeApi } from '@nodeagent/kube-client';
import {
  CertificateAuthority,
  startTestApiServer,
  type ApiUser,
  type CertificateAndKey,
  type TestApiServer,
} from '@nodeagent/testkit';
import { Registry, Counter, Gauge } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheusText } from './__fixtures__/prometheus-text.js';
import { syncLoopHealthCheck, pingHealthCheck, logHealthCheck } from './healthz.js';
import { kubeApiReviewClient } from './review-client.js';
import { NodeApiServer, type NodeApiServerOptions } from './server.js';
import { InvalidConfigError, isNodeAgentError } from '@nodeagent/core';

const nodeName = 'node-a';
const admin: ApiUser = { name: 'alice', groups: ['admins'] };
const viewer: ApiUser = { name: 'victor', groups: ['viewers'] };

interface Seen {
  user: string;
  verb: string;
  resource: string;
  subresource: string;
  name: string;
}

let api: TestApiServer;
let seen: Seen[] = [];
/** subresources victor may use */
let viewerAllowed = new Set<string>(['proxy', 'stats', 'metrics', 'log']);
let tmp: string;
let adminCert: CertificateAndKey;

function kubeApi() {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig({ token: 'node-token' }));
  return createKubeApi(kc, { qps: 0 });
}

const summary: Summary = {
  node: {
    nodeName,
    startTime: '2026-01-01T00:00:00Z',
    cpu: { time: '2026-01-01T00:01:00Z', usageCoreNanoSeconds: 5_000_000_000, usageNanoCores: 100 },
    memory: { time: '2026-01-01T00:01:00Z', workingSetBytes: 1024 },
  },
  pods: [
    {
      podRef: { name: 'web', namespace: 'default', uid: 'u1' },
      startTime: '2026-01-01T00:00:10Z',
      cpu: { time: '2026-01-01T00:01:00Z', usageCoreNanoSeconds: 2_000_000_000 },
      memory: { time: '2026-01-01T00:01:00Z', workingSetBytes: 512 },
      containers: [
        {
          name: 'app',
          startTime: '2026-01-01T00:00:11Z',
          cpu: { time: '2026-01-01T00:01:00Z', usageCoreNanoSeconds: 1_500_000_000 },
          memory: { time: '2026-01-01T00:01:00Z', workingSetBytes: 256 },
        },
      ],
    } satisfies PodStats,
  ],
};
const summaryCalls: unknown[] = [];
const fakeStats: StatsProvider = {
  summary: (o) => {
    summaryCalls.push(o);
    return Promise.resolve(summary);
  },
  listPodStats: () => Promise.resolve(summary.pods),
  nodeFsStats: () => Promise.resolve({ time: '2026-01-01T00:00:00Z' }),
  imageFsStats: () => Promise.resolve({ time: '2026-01-01T00:00:00Z' }),
  rlimitStats: () => Promise.resolve({ time: '2026-01-01T00:00:00Z' }),
};
const pods: k8s.Pod[] = [
  {
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: { containers: [{ name: 'app', image: 'busybox' }] },
    status: { phase: 'Running' },
  },
];

let plegOk = true;
const servers: NodeApiServer[] = [];

async function startServer(
  extra: Partial<NodeApiServerOptions> = {},
  clock = new FakeClock(),
): Promise<{ server: NodeApiServer; clock: FakeClock; port: number; ca: string }> {
  const registry = new Registry();
  new Counter({
    name: 'kubelet_test_requests_total',
    help: 'Test counter',
    registers: [registry],
    labelNames: ['code'],
  }).inc({ code: '200' }, 3);
  new Gauge({
    name: 'kubelet_running_pods',
    help: 'Number of pods that have a running pod sandbox',
    registers: [registry],
  }).set(1);
  const server = new NodeApiServer({
    nodeName,
    address: '127.0.0.1',
    port: 0,
    rootDir: join(tmp, `root-${servers.length}`),
    tls: { alternateIps: ['127.0.0.1'] },
    authentication: {
      clientCaPem: api.caPem ?? '',
      webhook: { enabled: true },
      anonymous: { enabled: false },
    },
    authorization: { mode: 'Webhook' },
    reviewClient: kubeApiReviewClient(kubeApi()),
    nodeLogDir: join(tmp, 'varlog'),
    headersTimeoutMs: 400,
    providers: {
      pods: () => pods,
      stats: fakeStats,
      metrics: registry,
      configz: () => ({ kind: 'KubeletConfiguration', readOnlyPort: 0 }),
      healthChecks: [
        pingHealthCheck,
        logHealthCheck(),
        syncLoopHealthCheck({
          healthy: () => ({ ok: plegOk, message: plegOk ? '' : 'pleg has yet to be successful' }),
        }),
      ],
    },
    clock,
    ...extra,
  });
  await server.start();
  servers.push(server);
  return {
    server,
    clock,
    port: server.address().port,
    ca: server.servingCertificate?.certPem ?? '',
  };
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function get(
  port: number,
  ca: string,
  path: string,
  creds: { token?: string; cert?: CertificateAndKey } = {},
  extra: RequestOptions = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        ca,
        agent: false,
        ...(creds.cert ? { cert: creds.cert.certPem, key: creds.cert.keyPem } : {}),
        headers: creds.token ? { Authorization: `Bearer ${creds.token}` } : {},
        ...extra,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A GET on a keep-alive agent: the status and whether the request reused a connection. */
function getOn(
  agent: Agent,
  port: number,
  ca: string,
  path: string,
): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

function reviews(resource: string): number {
  return api.requests.filter((r) => r.resource === resource).length;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'auth-server-'));
  mkdirSync(join(tmp, 'varlog', 'apt'), { recursive: true });
  writeFileSync(join(tmp, 'varlog', 'syslog'), 'line one\nline two\n');
  writeFileSync(join(tmp, 'varlog', 'apt', 'history.log'), 'apt\n');
  writeFileSync(join(tmp, 'secret.txt'), 'outside\n');
  symlinkSync(join(tmp, 'secret.txt'), join(tmp, 'varlog', 'escape'));
  symlinkSync(join(tmp, 'varlog', 'syslog'), join(tmp, 'varlog', 'inside'));
  api = await startTestApiServer({
    tls: true,
    tokens: {
      'node-token': { name: `system:node:${nodeName}`, groups: ['system:nodes'] },
      'admin-token': admin,
      'viewer-token': viewer,
    },
    authorize: (a) => {
      if (a.user === `system:node:${nodeName}`) return true;
      if (a.resource === 'nodes')
        seen.push({
          user: a.user,
          verb: a.verb,
          resource: a.resource,
          subresource: a.subresource,
          name: a.name,
        });
      if (a.user === admin.name) return true;
      if (a.user === viewer.name) return viewerAllowed.has(a.subresource);
      if (a.user === 'system:anonymous') return a.subresource === 'healthz';
      return false;
    },
  });
  adminCert = api.issueClientCertificate(admin);
});

afterEach(() => {
  seen = [];
  viewerAllowed = new Set(['proxy', 'stats', 'metrics', 'log']);
  plegOk = true;
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  await api.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('authentication', () => {
  it('accepts a client certificate from the client CA (CN user, O groups)', async () => {
    const { port, ca } = await startServer();
    const r = await get(port, ca, '/pods', { cert: adminCert });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({
      kind: 'PodList',
      apiVersion: 'v1',
      items: [{ metadata: { name: 'web' } }],
    });
    expect(seen[0]).toEqual({
      user: 'alice',
      verb: 'get',
      resource: 'nodes',
      subresource: 'pods',
      name: nodeName,
    });
    expect(reviews('tokenreviews')).toBe(0);
  });

  it('refuses certificates from another CA and expired ones with 401, even with anonymous on', async () => {
    const { port, ca } = await startServer({
      authentication: {
        clientCaPem: api.caPem ?? '',
        webhook: { enabled: true },
        anonymous: { enabled: true },
      },
    });
    const other = new CertificateAuthority('other-ca').issue({
      commonName: 'alice',
      organizations: ['admins'],
    });
    expect(await get(port, ca, '/pods', { cert: other })).toMatchObject({
      status: 401,
      body: 'Unauthorized\n',
    });
    const own = new CertificateAuthority('own-ca');
    const expiredCa = own.issue({
      commonName: 'alice',
      notBefore: Date.now() - 7200_000,
      notAfter: Date.now() - 3600_000,
    });
    const kubeletCaServer = await startServer({
      authentication: {
        clientCaPem: own.certPem,
        webhook: { enabled: false },
        anonymous: { enabled: true },
      },
    });
    expect(
      (await get(kubeletCaServer.port, kubeletCaServer.ca, '/healthz', { cert: expiredCa })).status,
    ).toBe(401);
    const fresh = own.issue({ commonName: 'alice' });
    expect(
      (await get(kubeletCaServer.port, kubeletCaServer.ca, '/healthz', { cert: fresh })).status,
    ).toBe(200);
  });

  it('checks the client certificate expiry on every request of a keep-alive connection', async () => {
    const own = new CertificateAuthority('short-lived-ca');
    const notAfter = Math.floor((Date.now() + 3600_000) / 1000) * 1000;
    const cert = own.issue({ commonName: 'alice', organizations: ['admins'], notAfter });
    const clock = new FakeClock(Date.now());
    const { port, ca } = await startServer(
      { authentication: { clientCaPem: own.certPem, webhook: { enabled: false } } },
      clock,
    );
    const agent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      cert: cert.certPem,
      key: cert.keyPem,
    });
    try {
      expect(await getOn(agent, port, ca, '/healthz')).toEqual({ status: 200, reused: false });
      const sars = reviews('subjectaccessreviews');
      expect(await getOn(agent, port, ca, '/healthz')).toEqual({ status: 200, reused: true });
      expect(reviews('subjectaccessreviews')).toBe(sars); // warm: no call
      await clock.advance(notAfter - clock.now() - 1000);
      expect(await getOn(agent, port, ca, '/healthz')).toEqual({ status: 200, reused: true });
      await clock.advance(2000); // past notAfter, same connection
      expect(await getOn(agent, port, ca, '/healthz')).toEqual({ status: 401, reused: true });
      expect(await getOn(agent, port, ca, '/pods')).toEqual({ status: 401, reused: true });
    } finally {
      agent.destroy();
    }
  });

  it('authenticates bearer tokens through a cached TokenReview', async () => {
    const { server, port, ca, clock } = await startServer();
    const before = reviews('tokenreviews');
    expect((await get(port, ca, '/healthz', { token: 'admin-token' })).status).toBe(200);
    expect(reviews('tokenreviews')).toBe(before + 1);
    expect((await get(port, ca, '/healthz', { token: 'admin-token' })).status).toBe(200);
    expect(reviews('tokenreviews')).toBe(before + 1); // cached
    await clock.advance(120_001);
    expect((await get(port, ca, '/healthz', { token: 'admin-token' })).status).toBe(200);
    expect(reviews('tokenreviews')).toBe(before + 2); // TTL (2 min) over
    expect(server.requestAuthenticator.tokenReviews).toBe(2);
  });

  it('refuses a bad token with 401; a review answer carrying status.error is not cached', async () => {
    const { port, ca } = await startServer();
    const before = reviews('tokenreviews');
    expect(await get(port, ca, '/healthz', { token: 'wrong' })).toMatchObject({
      status: 401,
      body: 'Unauthorized\n',
    });
    expect(await get(port, ca, '/healthz', { token: 'wrong' })).toMatchObject({ status: 401 });
    // the testkit server answers with status.error, which the apiserver cache does not keep
    expect(reviews('tokenreviews')).toBe(before + 2);
  });

  it('answers 401 without credentials unless anonymous auth is on', async () => {
    const off = await startServer();
    expect((await get(off.port, off.ca, '/healthz')).status).toBe(401);
    const on = await startServer({
      authentication: {
        clientCaPem: api.caPem ?? '',
        webhook: { enabled: true },
        anonymous: { enabled: true },
      },
    });
    expect((await get(on.port, on.ca, '/healthz')).status).toBe(200);
    expect(seen.at(-1)).toMatchObject({ user: 'system:anonymous', subresource: 'healthz' });
    const r = await get(on.port, on.ca, '/pods');
    expect(r).toMatchObject({
      status: 403,
      body: `Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource(s)=[pods proxy])\n`,
    });
  });
});

describe('authorization', () => {
  it('sends the kubelet attributes per endpoint (fine-grained first, proxy as fallback)', async () => {
    const cases: [string, string[]][] = [
      ['/stats/summary', ['stats']],
      ['/metrics', ['metrics']],
      ['/metrics/resource', ['metrics']],
      ['/metrics/cadvisor', ['metrics']],
      ['/logs/', ['log']],
      ['/pods', ['pods', 'proxy']],
      ['/runningpods/', ['pods', 'proxy']],
      ['/healthz', ['healthz', 'proxy']],
      ['/configz', ['configz', 'proxy']],
      ['/containerLogs/default/web/app', ['proxy']],
    ];
    for (const [path, subs] of cases) {
      // a fresh server each time: one with a warm decision cache would ask nothing
      const { port, ca } = await startServer();
      seen = [];
      await get(port, ca, path, { token: 'viewer-token' });
      expect(
        seen.map((s) => s.subresource),
        path,
      ).toEqual(subs);
      expect(
        seen.every(
          (s) =>
            s.verb === 'get' &&
            s.resource === 'nodes' &&
            s.name === nodeName &&
            s.user === 'victor',
        ),
      ).toBe(true);
    }
    const { port, ca } = await startServer();
    seen = [];
    await get(
      port,
      ca,
      '/exec/default/web/app?command=ls&output=1',
      { token: 'viewer-token' },
      { method: 'POST' },
    );
    expect(seen).toEqual([
      { user: 'victor', verb: 'create', resource: 'nodes', subresource: 'proxy', name: nodeName },
    ]);
  });

  it('answers 403 with the kubelet message and caches denials for 30 s', async () => {
    const { port, ca, clock } = await startServer();
    viewerAllowed = new Set();
    const before = reviews('subjectaccessreviews');
    const r = await get(port, ca, '/stats/summary', { token: 'viewer-token' });
    expect(r).toMatchObject({
      status: 403,
      body: 'Forbidden (user=victor, verb=get, resource=nodes, subresource=stats)\n',
    });
    await get(port, ca, '/stats/summary', { token: 'viewer-token' });
    expect(reviews('subjectaccessreviews')).toBe(before + 1);
    await clock.advance(29_000);
    await get(port, ca, '/stats/summary', { token: 'viewer-token' });
    expect(reviews('subjectaccessreviews')).toBe(before + 1);
    viewerAllowed = new Set(['stats']);
    await clock.advance(1_001);
    expect((await get(port, ca, '/stats/summary', { token: 'viewer-token' })).status).toBe(200);
    expect(reviews('subjectaccessreviews')).toBe(before + 2);
  });

  it('caches allowed decisions for 5 minutes', async () => {
    const { port, ca, clock } = await startServer();
    const before = reviews('subjectaccessreviews');
    await get(port, ca, '/metrics', { cert: adminCert });
    await clock.advance(299_000);
    await get(port, ca, '/metrics', { cert: adminCert });
    expect(reviews('subjectaccessreviews')).toBe(before + 1);
    await clock.advance(1_001);
    await get(port, ca, '/metrics', { cert: adminCert });
    expect(reviews('subjectaccessreviews')).toBe(before + 2);
  });

  it('keeps the cache TTLs for requests on a keep-alive connection', async () => {
    const { port, ca, clock } = await startServer();
    const viewerCert = api.issueClientCertificate(viewer);
    const adminAgent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      cert: adminCert.certPem,
      key: adminCert.keyPem,
    });
    const viewerAgent = new Agent({
      keepAlive: true,
      maxSockets: 1,
      cert: viewerCert.certPem,
      key: viewerCert.keyPem,
    });
    try {
      const before = reviews('subjectaccessreviews');
      expect((await getOn(adminAgent, port, ca, '/metrics')).status).toBe(200);
      await clock.advance(299_000);
      expect(await getOn(adminAgent, port, ca, '/metrics')).toEqual({ status: 200, reused: true });
      expect(reviews('subjectaccessreviews')).toBe(before + 1);
      await clock.advance(1_001);
      expect(await getOn(adminAgent, port, ca, '/metrics')).toEqual({ status: 200, reused: true });
      expect(reviews('subjectaccessreviews')).toBe(before + 2);

      // a cached denial is never answered as allowed; it expires after 30 s
      viewerAllowed = new Set();
      expect((await getOn(viewerAgent, port, ca, '/stats/summary')).status).toBe(403);
      viewerAllowed = new Set(['stats']);
      await clock.advance(29_000);
      expect(await getOn(viewerAgent, port, ca, '/stats/summary')).toEqual({
        status: 403,
        reused: true,
      });
      await clock.advance(1_001);
      expect(await getOn(viewerAgent, port, ca, '/stats/summary')).toEqual({
        status: 200,
        reused: true,
      });
      expect(reviews('subjectaccessreviews')).toBe(before + 4);
    } finally {
      adminAgent.destroy();
      viewerAgent.destroy();
    }
  });

  it('answers 500 when the SubjectAccessReview fails, and recovers', async () => {
    const { port, ca } = await startServer();
    const remove = api.faults.failRequests({
      match: { resource: 'subjectaccessreviews' },
      code: 500,
    });
    const r = await get(port, ca, '/stats/summary', { cert: adminCert });
    remove();
    expect(r).toMatchObject({
      status: 500,
      body: 'Authorization error (user=alice, verb=get, resource=nodes, subresource=stats)\n',
    });
    expect((await get(port, ca, '/stats/summary', { cert: adminCert })).status).toBe(200);
  });

  it('AlwaysAllow lets every authenticated request through without SARs', async () => {
    const { port, ca } = await startServer({ authorization: { mode: 'AlwaysAllow' } });
    const before = reviews('subjectaccessreviews');
    expect((await get(port, ca, '/configz', { cert: adminCert })).status).toBe(200);
    expect(reviews('subjectaccessreviews')).toBe(before);
  });
});

describe('endpoints', () => {
  it('serves healthz with checks, verbose output and single checks', async () => {
    const { port, ca } = await startServer();
    const c = { cert: adminCert };
    expect((await get(port, ca, '/healthz', c)).body).toBe('ok');
    expect((await get(port, ca, '/healthz?verbose', c)).body).toBe(
      '[+]ping ok\n[+]log ok\n[+]syncloop ok\nhealthz check passed\n',
    );
    plegOk = false;
    expect(await get(port, ca, '/healthz', c)).toMatchObject({
      status: 500,
      body: '[+]ping ok\n[+]log ok\n[-]syncloop failed: reason withheld\nhealthz check failed\n',
    });
    expect(await get(port, ca, '/healthz/syncloop', c)).toMatchObject({
      status: 500,
      body: 'internal server error: pleg has yet to be successful\n',
    });
    expect(await get(port, ca, '/healthz/ping', c)).toMatchObject({ status: 200, body: 'ok' });
    expect((await get(port, ca, '/healthz?exclude=syncloop', c)).status).toBe(200);
  });

  it('serves stats/summary and /metrics/resource from the stats provider', async () => {
    const { port, ca } = await startServer();
    summaryCalls.length = 0;
    const s = await get(port, ca, '/stats/summary?only_cpu_and_memory=true', { cert: adminCert });
    expect(JSON.parse(s.body)).toEqual(summary);
    expect(summaryCalls).toEqual([{ onlyCpuAndMemory: true }]);
    expect(
      (await get(port, ca, '/stats/summary?only_cpu_and_memory=maybe', { cert: adminCert })).status,
    ).toBe(400);
    const m = await get(port, ca, '/metrics/resource', { cert: adminCert });
    expect(m.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const fams = parsePrometheusText(m.body);
    expect(fams.get('node_cpu_usage_seconds_total')?.samples).toEqual([
      {
        name: 'node_cpu_usage_seconds_total',
        labels: {},
        value: 5,
        timestampMs: Date.parse('2026-01-01T00:01:00Z'),
      },
    ]);
    expect(fams.get('node_cpu_usage_seconds_total')?.type).toBe('counter');
    expect(fams.get('container_memory_working_set_bytes')?.samples[0]).toMatchObject({
      labels: { container: 'app', namespace: 'default', pod: 'web' },
      value: 256,
    });
    expect(fams.get('pod_cpu_usage_seconds_total')?.samples[0]?.value).toBe(2);
    expect(fams.get('container_start_time_seconds')?.samples[0]?.value).toBe(
      Date.parse('2026-01-01T00:00:11Z') / 1000,
    );
    expect(fams.get('scrape_error')?.samples[0]?.value).toBe(0);
    expect(fams.get('resource_scrape_error')?.samples[0]?.value).toBe(0);
  });

  it('serves /metrics from the registry in valid Prometheus text', async () => {
    const { port, ca } = await startServer();
    const m = await get(port, ca, '/metrics', { cert: adminCert });
    expect(m.status).toBe(200);
    const fams = parsePrometheusText(m.body);
    expect(fams.get('kubelet_running_pods')?.samples[0]?.value).toBe(1);
    expect(fams.get('kubelet_test_requests_total')?.samples[0]).toMatchObject({
      labels: { code: '200' },
      value: 3,
    });
    expect(() => parsePrometheusText('foo 1\n')).toThrow(/without a TYPE/);
  });

  it('serves /metrics/cadvisor from its source as Prometheus text, 404 without one', async () => {
    const cadvisorText =
      '# HELP machine_cpu_cores Number of logical CPU cores.\n# TYPE machine_cpu_cores gauge\n' +
      'machine_cpu_cores{boot_id="b",machine_id="m",system_uuid=""} 2 1767225600000\n';
    const { port, ca } = await startServer({
      providers: {
        cadvisorMetrics: {
          contentType: 'text/plain; version=0.0.4; charset=utf-8',
          metrics: () => Promise.resolve(cadvisorText),
        },
      },
    });
    const m = await get(port, ca, '/metrics/cadvisor', { cert: adminCert });
    expect(m.status).toBe(200);
    expect(m.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(m.body).toBe(cadvisorText);
    expect(parsePrometheusText(m.body).get('machine_cpu_cores')?.samples[0]?.value).toBe(2);
    // a viewer without nodes/metrics is refused
    viewerAllowed = new Set(['proxy', 'stats']);
    const denied = await get(port, ca, '/metrics/cadvisor', { token: 'viewer-token' });
    expect(denied).toMatchObject({
      status: 403,
      body: 'Forbidden (user=victor, verb=get, resource=nodes, subresource=metrics)\n',
    });
    const without = await startServer();
    expect(
      (await get(without.port, without.ca, '/metrics/cadvisor', { cert: adminCert })).status,
    ).toBe(404);
  });

  it('serves configz and the node log directory, and never anything outside it', async () => {
    const { port, ca } = await startServer();
    const c = { cert: adminCert };
    expect(JSON.parse((await get(port, ca, '/configz', c)).body)).toEqual({
      kubeletconfig: { kind: 'KubeletConfiguration', readOnlyPort: 0 },
    });
    const listing = await get(port, ca, '/logs/', c);
    expect(listing.body).toContain('<a href="apt/">apt/</a>');
    expect(listing.body).toContain('<a href="syslog">syslog</a>');
    expect((await get(port, ca, '/logs/syslog', c)).body).toBe('line one\nline two\n');
    expect((await get(port, ca, '/logs/inside', c)).body).toBe('line one\nline two\n');
    expect((await get(port, ca, '/logs/apt', c)).status).toBe(301);
    expect((await get(port, ca, '/logs/apt/history.log', c)).body).toBe('apt\n');
    for (const evil of [
      '/logs/../../etc/shadow',
      '/logs/%2e%2e/%2e%2e/etc/shadow',
      '/logs/..%2f..%2fetc%2fshadow',
      '/logs/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
      '/logs/apt/../../secret.txt',
      '/logs/%zz',
      '/logs/a%00b',
    ]) {
      const r = await get(port, ca, evil, c);
      expect(r.status, evil).toBe(400);
      expect(r.body).not.toMatch(/root:|outside|\/tmp|at .*\.ts/);
    }
    for (const evil of ['/logs/escape', '/logs/%252e%252e/secret.txt', '/logs/nope']) {
      const r = await get(port, ca, evil, c);
      expect(r.status, evil).toBe(404);
      expect(r.body).not.toContain('outside');
    }
    expect((await get(port, ca, '/healthz', c)).status).toBe(200);
  });

  it('switches the debugging handlers off as the kubelet does', async () => {
    const { port, ca } = await startServer({ enableDebuggingHandlers: false });
    const c = { cert: adminCert };
    for (const p of [
      '/logs/',
      '/containerLogs/default/web/app',
      '/runningpods/',
      '/exec/default/web/app',
    ]) {
      expect(await get(port, ca, p, c), p).toMatchObject({
        status: 405,
        body: 'Debug endpoints are disabled.\n',
      });
    }
    expect((await get(port, ca, '/configz', c)).status).toBe(404);
    expect((await get(port, ca, '/pods', c)).status).toBe(200);
    expect((await get(port, ca, '/stats/summary', c)).status).toBe(200);
  });

  it('validates containerLogs queries like the kubelet', async () => {
    const { port, ca } = await startServer();
    const c = { cert: adminCert };
    expect(await get(port, ca, '/containerLogs/default/web/app?tailLines=abc', c)).toMatchObject({
      status: 400,
      body: '{"message": "Unable to decode query."}\n',
    });
    expect(
      await get(port, ca, '/containerLogs/default/web/app?sinceTime=yesterday', c),
    ).toMatchObject({ status: 400 });
    expect(await get(port, ca, '/containerLogs/default/web/app?tailLines=-1', c)).toMatchObject({
      status: 422,
      body: '{"message": "Invalid request."}\n',
    });
    expect((await get(port, ca, '/containerLogs/default/web/app?limitBytes=0', c)).status).toBe(
      422,
    );
    expect(
      (
        await get(
          port,
          ca,
          '/containerLogs/default/web/app?sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z',
          c,
        )
      ).status,
    ).toBe(422);
    expect(await get(port, ca, '/containerLogs/default/nope/app', c)).toMatchObject({
      status: 404,
      body: 'pod "nope" does not exist\n',
    });
    expect(await get(port, ca, '/containerLogs/default/web/other', c)).toMatchObject({
      status: 404,
      body: 'container "other" not found in pod "web"\n',
    });
  });
});

describe('hardening', () => {
  it('answers 431 to headers over 1 MiB and keeps serving', async () => {
    const { port, ca } = await startServer();
    const r = await get(
      port,
      ca,
      '/healthz',
      { cert: adminCert },
      { headers: { 'X-Big': 'a'.repeat(1100 * 1024) } },
    );
    expect(r.status).toBe(431);
    const ok = await get(
      port,
      ca,
      '/healthz',
      { cert: adminCert },
      { headers: { 'X-Big': 'a'.repeat(900 * 1024) } },
    );
    expect(ok.status).toBe(200);
  });

  it('drops a client that does not finish its headers (408) and keeps serving', async () => {
    const { port, ca } = await startServer();
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      ca,
      cert: adminCert.certPem,
      key: adminCert.keyPem,
    });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(answer).toMatch(/^HTTP\/1.1 408/);
    expect((await get(port, ca, '/healthz', { cert: adminCert })).status).toBe(200);
  });

  it('answers malformed request lines with 400 and no internals', async () => {
    const { port, ca } = await startServer();
    const socket = connect({ host: '127.0.0.1', port, ca });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    await new Promise<void>((r) => socket.once('secureConnect', () => r()));
    socket.write('GARBAGE\r\n\r\n');
    await new Promise<void>((r) => socket.once('close', () => r()));
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect(answer).not.toMatch(/\/work|node:internal|Error:/);
  });
});

describe('TLS', () => {
  it('reuses the generated serving certificate across restarts', async () => {
    const rootDir = join(tmp, 'reuse');
    const a = await startServer({ rootDir });
    const first = a.server.servingCertificate?.certPem;
    await a.server.stop();
    const b = await startServer({ rootDir });
    expect(b.server.servingCertificate?.certPem).toBe(first);
    expect((await get(b.port, b.ca, '/healthz', { cert: adminCert })).status).toBe(200);
  });

  it('swaps the serving certificate at runtime while open connections continue', async () => {
    const { server, port, ca } = await startServer();
    const servingCa = new CertificateAuthority('serving-ca');
    const next = servingCa.issue({
      commonName: nodeName,
      ipAddresses: ['127.0.0.1'],
      usages: ['serverAuth'],
    });
    const old: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      ca,
      cert: adminCert.certPem,
      key: adminCert.keyPem,
    });
    await new Promise<void>((r) => old.once('secureConnect', () => r()));
    const oldFingerprint = old.getPeerCertificate().fingerprint256;
    server.setServingCertificate({ certPem: next.certPem, keyPem: next.keyPem });
    // the open connection still works
    let oldAnswer = '';
    old.on('data', (d: Buffer) => (oldAnswer += d.toString()));
    old.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await new Promise<void>((r) => old.once('close', () => r()));
    expect(oldAnswer).toMatch(/^HTTP\/1.1 200/);
    // new connections get the new certificate
    const fresh: TLSSocket = connect({ host: '127.0.0.1', port, ca: servingCa.certPem });
    await new Promise<void>((r) => fresh.once('secureConnect', () => r()));
    expect(fresh.getPeerCertificate().fingerprint256).not.toBe(oldFingerprint);
    expect(fresh.authorized).toBe(true);
    fresh.destroy();
    expect(() => server.setServingCertificate({ certPem: 'junk', keyPem: 'junk' })).toThrow();
  });

  it('honours tlsMinVersion and refuses unknown cipher suites', async () => {
    const { port, ca } = await startServer({
      tls: { alternateIps: ['127.0.0.1'], tlsMinVersion: 'VersionTLS13' },
    });
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, ca, maxVersion: 'TLSv1.2' });
      s.once('secureConnect', () => {
        s.destroy();
        resolve(undefined);
      });
      s.once('error', (e) => resolve(e));
    });
    expect(err).toBeDefined();
    const bad = new NodeApiServer({
      nodeName,
      address: '127.0.0.1',
      port: 0,
      rootDir: join(tmp, 'bad'),
      tls: { tlsCipherSuites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_FANCY_NONSENSE'] },
      authorization: { mode: 'AlwaysAllow' },
      clock: new FakeClock(),
    });
    const e = await bad.start().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isNodeAgentError(e) && e instanceof InvalidConfigError).toBe(true);
    expect(String(e)).toContain('TLS_FANCY_NONSENSE');
    await bad.stop();
    // a valid list works; a TLS 1.2 client using one of the suites gets through
    const good = await startServer({
      tls: {
        alternateIps: ['127.0.0.1'],
        tlsCipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
      },
    });
    const s = connect({ host: '127.0.0.1', port: good.port, ca: good.ca, maxVersion: 'TLSv1.2' });
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    expect(s.getCipher().name).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
    s.destroy();
  });
});
