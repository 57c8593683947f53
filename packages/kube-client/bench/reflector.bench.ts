/**
 * Reflector benchmark against the in-process test API server (loopback, TLS):
 * - sync: a full list of 110 pods through the Reflector vs a bare typed list (baseline);
 * - watch: store change → reflector onAdd latency vs a bare client-node Watch (baseline).
 * Run: `npx tsx bench/reflector.bench.ts` (not in CI). Writes .bench-results/kube-client.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { RealClock, type k8s } from '@nodeagent/core';
import { startTestApiServer } from '@nodeagent/testkit';
import { createKubeApi } from '../src/kube-api.js';
import { Reflector, createApiListerWatcher } from '../src/reflector.js';

const clock = new RealClock();
const server = await startTestApiServer({ tls: true });
const kc = new KubeConfig();
kc.loadFromString(server.kubeconfig(server.issueClientCertificate({ name: 'bench' })));
const api = createKubeApi(kc, { qps: 0, clock });
const podsRes = server.store.resource('pods');
for (let i = 0; i < 110; i++) {
  server.store.create(podsRes, 'default', {
    metadata: { name: `p${i}` },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] },
  });
}
const lw = () =>
  createApiListerWatcher<k8s.Pod>(api, {
    description: 'pods',
    path: '/api/v1/pods',
    fieldSelector: 'spec.nodeName=n1',
    list: (p, o) => api.core.listPodForAllNamespaces(p, o),
  });

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  return { median: q(0.5), p99: q(0.99), n: s.length };
};

const runs = 40;
const bare: number[] = [];
const refl: number[] = [];
for (let i = 0; i < runs; i++) {
  let t = performance.now();
  await api.core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1', limit: 500 });
  bare.push(performance.now() - t);
  t = performance.now();
  const r = new Reflector<k8s.Pod>({ listerWatcher: lw(), clock });
  await new Promise<void>((resolve) => {
    r.addEventHandler({ onSync: () => resolve() });
    r.start();
  });
  refl.push(performance.now() - t);
  r.stop();
}

// Watch latency: one pod created at a time.
const bareWatch: number[] = [];
const reflWatch: number[] = [];
let pending: { name: string; t: number; done: () => void } | undefined;
const arrived = (name: string | undefined, into: number[]) => {
  if (pending && name === pending.name) {
    into.push(performance.now() - pending.t);
    const { done } = pending;
    pending = undefined;
    done();
  }
};
const measure = async (prefix: string, n: number): Promise<void> => {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((done) => {
      pending = { name: `${prefix}${i}`, t: performance.now(), done };
      server.store.create(podsRes, 'default', {
        metadata: { name: `${prefix}${i}` },
        spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }] },
      });
    });
  }
};
const watch = new Watch(kc);
const ctrl = await watch.watch(
  '/api/v1/pods',
  { fieldSelector: 'spec.nodeName=n1', resourceVersion: String(server.store.resourceVersion) },
  (type, obj: k8s.Pod) => {
    if (type === 'ADDED') arrived(obj.metadata.name, bareWatch);
  },
  () => undefined,
);
await measure('bw', 200);
ctrl.abort();
const r = new Reflector<k8s.Pod>({ listerWatcher: lw(), clock });
await new Promise<void>((resolve) => {
  r.addEventHandler({ onSync: () => resolve(), onAdd: (p) => arrived(p.metadata.name, reflWatch) });
  r.start();
});
await new Promise((res) => setTimeout(res, 100));
await measure('rw', 200);
r.stop();
api.limiter.stop();
await server.stop();

const result = {
  sync110: { bareList: stats(bare), reflector: stats(refl) },
  watchAdd: { bareWatch: stats(bareWatch), reflector: stats(reflWatch) },
  ratios: {
    syncMedian: stats(refl).median / stats(bare).median,
    syncP99: stats(refl).p99 / stats(bare).p99,
    watchMedian: stats(reflWatch).median / stats(bareWatch).median,
    watchP99: stats(reflWatch).p99 / stats(bareWatch).p99,
  },
};
console.log(JSON.stringify(result, null, 2));
const out = join(import.meta.dirname, '../../../.bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'kube-client.json'), JSON.stringify(result, null, 2));
