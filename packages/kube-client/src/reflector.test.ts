import { KubeConfig } from '@kubernetes/client-node';
import type { k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeApi, type KubeApi } from './kube-api.js';
import { Reflector, createApiListerWatcher, type ReflectorOptions } from './reflector.js';

const zeroRandom = { float: () => 0 };
let clock: FakeClock;
let server: TestApiServer;
let api: KubeApi;
let reflector: Reflector<k8s.Pod> | undefined;

beforeEach(async () => {
  clock = new FakeClock();
  server = await startTestApiServer({ clock, tls: true });
  const kc = new KubeConfig();
  kc.loadFromString(
    server.kubeconfig(
      server.issueClientCertificate({ name: 'system:node:n1', groups: ['system:nodes'] }),
    ),
  );
  api = createKubeApi(kc, { clock, qps: 0 });
});

afterEach(async () => {
  reflector?.stop();
  reflector = undefined;
  await server.stop();
});

/** Yields to the event loop until `cond` holds (no clock involved). */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

/** Lets pending I/O settle: a fixed number of event-loop turns. */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Advances fake time in steps until `cond` holds. */
async function advanceUntil(cond: () => boolean, what: string, stepMs = 1000): Promise<void> {
  for (let i = 0; i < 600; i++) {
    await settle();
    if (cond()) return;
    await clock.advance(stepMs);
  }
  throw new Error(`never happened: ${what}`);
}

const pods = () => server.store.resource('pods');

function createPod(name: string, nodeName = 'n1'): string {
  const created = server.store.create(pods(), 'default', {
    metadata: { name },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
  });
  return String((created.metadata as { uid: string }).uid);
}

function deletePod(name: string): void {
  server.store.delete(pods(), 'default', name, { gracePeriodSeconds: 0 });
}

function labelPod(name: string, value: string): void {
  const current = server.store.get(pods(), 'default', name);
  const metadata = current.metadata as Record<string, unknown>;
  server.store.update(pods(), 'default', {
    ...current,
    metadata: { ...metadata, labels: { v: value } },
  });
}

/** UIDs of the server's pods on n1. */
function serverUids(): string[] {
  return server.store
    .list(pods(), 'default')
    .filter((p) => (p.spec as { nodeName?: string }).nodeName === 'n1')
    .map((p) => String((p.metadata as { uid: string }).uid))
    .sort();
}

interface Recorded {
  log: string[];
  adds: Map<string, number>;
  syncs: number;
  errors: string[];
}

function startReflector(options: Partial<ReflectorOptions<k8s.Pod>> = {}): Recorded {
  const lw = createApiListerWatcher<k8s.Pod>(api, {
    description: 'pods (spec.nodeName=n1)',
    path: '/api/v1/pods',
    fieldSelector: 'spec.nodeName=n1',
    list: (p, o) => api.core.listPodForAllNamespaces(p, o),
  });
  reflector = new Reflector<k8s.Pod>({ listerWatcher: lw, clock, random: zeroRandom, ...options });
  const rec: Recorded = { log: [], adds: new Map(), syncs: 0, errors: [] };
  reflector.addEventHandler({
    onAdd: (p) => {
      const uid = p.metadata.uid ?? '';
      rec.adds.set(uid, (rec.adds.get(uid) ?? 0) + 1);
      rec.log.push(`add ${p.metadata.name ?? ''} ${uid}`);
    },
    onUpdate: (o, n) => rec.log.push(`update ${n.metadata.name ?? ''} ${o.metadata.uid ?? ''}`),
    onDelete: (p) => rec.log.push(`delete ${p.metadata.name ?? ''} ${p.metadata.uid ?? ''}`),
    onSync: () => rec.syncs++,
    onError: (f) => rec.errors.push(f.message),
  });
  reflector.start();
  return rec;
}

const r = (): Reflector<k8s.Pod> => {
  if (!reflector) throw new Error('no reflector');
  return reflector;
};
const storeUids = (): string[] =>
  r()
    .list()
    .map((p) => p.metadata.uid ?? '')
    .sort();
const requests = (verb: string): number =>
  server.requests.filter((q) => q.verb === verb && q.resource === 'pods').length;

describe('Reflector', () => {
  it('lists in pages of `limit` with `continue`, then watches from the list version with bookmarks and a 5–10 min timeout', async () => {
    for (let i = 0; i < 5; i++) createPod(`p${i}`);
    createPod('elsewhere', 'n2');
    const rec = startReflector({ pageSize: 2 });
    await until(() => server.openWatches === 1, 'watch open');
    expect(r().hasSynced()).toBe(true);
    expect(storeUids()).toEqual(serverUids());
    expect(rec.syncs).toBe(1);
    const lists = server.requests.filter((q) => q.verb === 'list');
    expect(lists).toHaveLength(3);
    const q0 = new URLSearchParams(lists[0]?.query);
    expect(q0.get('limit')).toBe('2');
    expect(q0.get('fieldSelector')).toBe('spec.nodeName=n1');
    expect(q0.get('resourceVersion')).toBe('0');
    const q1 = new URLSearchParams(lists[1]?.query);
    expect(q1.get('continue')).not.toBeNull();
    expect(q1.get('resourceVersion')).toBeNull();
    const watchQuery = new URLSearchParams(server.requests.find((q) => q.verb === 'watch')?.query);
    expect(watchQuery.get('allowWatchBookmarks')).toBe('true');
    expect(watchQuery.get('resourceVersion')).toBe(String(server.store.resourceVersion));
    expect(watchQuery.get('timeoutSeconds')).toBe('300');
    expect(r().lastSyncResourceVersion).toBe(String(server.store.resourceVersion));

    createPod('p5');
    await until(() => r().list().length === 6, 'watched add');
    expect(r().healthy()).toMatchObject({ ok: true });
  });

  it('keys by UID: a pod deleted and recreated with the same name is a delete and an add', async () => {
    const oldUid = createPod('web');
    const rec = startReflector();
    await until(() => server.openWatches === 1, 'watch open');
    deletePod('web');
    const newUid = createPod('web');
    await until(() => r().getByUid(newUid) !== undefined, 'new pod');
    expect(r().getByUid(oldUid)).toBeUndefined();
    expect(rec.log).toEqual([`add web ${oldUid}`, `delete web ${oldUid}`, `add web ${newUid}`]);
    expect(r().getByName('default', 'web')?.metadata.uid).toBe(newUid);
  });

  it('after a dropped watch (clean end or network drop) resumes at once from the last resourceVersion, without relisting; a very short watch backs off', async () => {
    createPod('a');
    const rec = startReflector();
    await until(() => server.openWatches === 1, 'watch open');
    for (const abort of [false, true]) {
      await clock.advance(2_000); // the watch has run a while (client-go: ≥ 1 s)
      expect(server.faults.dropWatches({ abort })).toBe(1);
      createPod(`during-${String(abort)}`);
      const before = clock.now();
      await advanceUntil(() => server.openWatches === 1, 'watch resumed at once', 1);
      expect(clock.now() - before).toBeLessThan(50);
      await until(() => r().list().length === (abort ? 3 : 2), 'missed pod delivered');
      expect(rec.errors).toEqual([]);
    }
    // A watch that ends at once without any event is an error: back off (800 ms).
    // (The current watch delivered the last pod, so it resumes once more first.)
    expect(server.faults.dropWatches()).toBe(1);
    await advanceUntil(() => server.openWatches === 1, 'resumed', 1);
    expect(server.faults.dropWatches()).toBe(1);
    await until(() => rec.errors.length === 1, 'short watch seen as a failure');
    await clock.flush();
    expect(server.openWatches).toBe(0);
    await clock.advance(799);
    expect(server.openWatches).toBe(0);
    await clock.advance(1);
    await until(() => server.openWatches === 1, 'watch reopened after the back-off');
    expect(requests('list')).toBe(1);
    const watches = server.requests.filter((q) => q.verb === 'watch');
    expect(watches).toHaveLength(5);
    expect(new URLSearchParams(watches[1]?.query).get('resourceVersion')).not.toBe('0');
    expect([...rec.adds.values()].every((n) => n === 1)).toBe(true);
    expect(storeUids()).toEqual(serverUids());
  });

  it('relists on 410: an ERROR event for a compacted version, and HTTP 410 on watch start; the relist is diffed', async () => {
    const keepUid = createPod('keep');
    const goneUid = createPod('gone');
    const changedUid = createPod('changed');
    const rec = startReflector();
    await until(() => server.openWatches === 1, 'watch open');
    server.faults.failRequests({ match: { verb: 'watch' }, code: 503 });
    server.faults.dropWatches();
    await until(() => rec.errors.length === 1, 'drop seen');
    // While no watch is open: changes, then the history is compacted.
    deletePod('gone');
    const newUid = createPod('new');
    labelPod('changed', 'x');
    server.store.compact();
    server.faults.clear();
    rec.log.length = 0;
    await clock.advance(800); // watch from the old version → ERROR 410 → relist
    await until(() => rec.errors.some((e) => e.includes('410')), 'ERROR 410');
    expect(requests('list')).toBe(1);
    await advanceUntil(() => rec.syncs === 2, 'relisted');
    expect(rec.errors.some((e) => e.includes('410'))).toBe(true);
    expect(rec.log.sort()).toEqual(
      [`delete gone ${goneUid}`, `add new ${newUid}`, `update changed ${changedUid}`].sort(),
    );
    expect(r().getByUid(keepUid)).toBeDefined();
    expect(storeUids()).toEqual(serverUids());

    // HTTP 410 answering the watch request itself.
    server.faults.failRequests({ match: { verb: 'watch' }, code: 410, times: 1 });
    server.faults.dropWatches();
    await advanceUntil(() => rec.syncs === 3, 'relisted after HTTP 410');
    await until(() => server.openWatches === 1, 'watching again');
    expect(requests('list')).toBe(3);
  });

  it('restarts a stalled watch after the silence timeout, while an idle watch kept alive by bookmarks is left alone', async () => {
    const rec = startReflector({ silenceTimeoutMs: 150_000 });
    await until(() => server.openWatches === 1, 'watch open');
    await clock.advance(250_000); // bookmarks every 60 s keep it alive
    expect(server.requests.filter((q) => q.verb === 'watch')).toHaveLength(1);
    expect(rec.errors).toEqual([]);
    const rvBefore = r().lastSyncResourceVersion;
    // A bookmark advanced the version even without object changes.
    expect(rvBefore).toBe(String(server.store.resourceVersion));

    server.faults.dropWatches(); // after 250 s: resumed at once
    await advanceUntil(() => server.openWatches === 1, 'reopened', 1);
    expect(rec.errors).toEqual([]);
    expect(server.faults.stallWatches()).toBe(1);
    createPod('while-stalled');
    await clock.advance(149_000);
    expect(rec.errors).toEqual([]);
    expect(r().list()).toHaveLength(0);
    await clock.advance(1_000);
    expect(rec.errors).toEqual([expect.stringContaining('silent')]);
    await until(() => server.openWatches === 0, 'stalled watch closed, none new yet');
    await clock.advance(800);
    await until(() => r().list().length === 1, 'pod from the restarted watch');
    expect(requests('list')).toBe(1);
  });

  it('backs off exponentially on 500s (800 ms, 1.6 s, 3.2 s…), honours Retry-After on 429, then recovers', async () => {
    const remove = server.faults.failRequests({ match: { verb: 'list' }, code: 500, times: 3 });
    const rec = startReflector();
    await until(() => rec.errors.length === 1, 'first failure');
    const at = (n: number) => until(() => requests('list') === n, `list #${n}`);
    await clock.advance(799);
    expect(requests('list')).toBe(1);
    await clock.advance(1);
    await at(2);
    await until(() => rec.errors.length === 2, 'second failure');
    await clock.advance(1599);
    expect(requests('list')).toBe(2);
    await clock.advance(1);
    await at(3);
    await until(() => rec.errors.length === 3, 'third failure');
    await clock.advance(3200);
    await until(() => r().hasSynced(), 'recovered');
    remove();
    expect(rec.errors[0]).toContain('500');

    await until(() => server.openWatches === 1, 'watching');
  });

  it('waits at least Retry-After (429 TooManyRequests) before retrying', async () => {
    server.faults.failRequests({
      match: { verb: 'list' },
      code: 429,
      retryAfterSeconds: 30,
      times: 1,
    });
    const rec = startReflector();
    await until(() => rec.errors.length === 1, '429');
    expect(rec.errors[0]).toContain('429');
    await clock.advance(29_999);
    expect(requests('list')).toBe(1);
    await clock.advance(1);
    await until(() => server.openWatches === 1, 'listed and watching after Retry-After');
    expect(requests('list')).toBe(2);
  });

  it('survives the API server going down: unhealthy after the threshold with the last error, catches up when it comes back', async () => {
    createPod('a');
    const rec = startReflector({ unhealthyAfterMs: 60_000 });
    await until(() => server.openWatches === 1, 'watch open');
    await server.faults.goDown();
    await until(() => rec.errors.length === 1, 'down seen');
    createPod('made-while-down');
    deletePod('a');
    await clock.advance(59_000);
    await settle();
    expect(r().healthy().ok).toBe(true);
    await advanceUntil(() => !r().healthy().ok, 'unhealthy');
    expect(rec.errors.length).toBeGreaterThan(3);
    const health = r().healthy();
    expect(health.ok).toBe(false);
    expect(health.message).toMatch(/failing for \d+s, last error: .+/);
    await server.faults.comeBack();
    await advanceUntil(() => storeUids().join() === serverUids().join(), 'caught up');
    expect(r().list()[0]?.metadata.name).toBe('made-while-down');
    expect(r().healthy().ok).toBe(true);
  });

  it('delivers every change exactly once across repeated watch drops', async () => {
    const rec = startReflector();
    await until(() => server.openWatches === 1, 'watch open');
    const deleted = new Set<string>();
    for (let round = 0; round < 10; round++) {
      createPod(`r${round}`);
      if (round % 3 === 2) {
        deletePod(`r${round - 1}`);
        deleted.add(`r${round - 1}`);
      }
      server.faults.dropWatches({ abort: round % 2 === 0 });
      createPod(`after-drop-${round}`);
      await until(() => server.openWatches === 0, 'dropped');
      await clock.advance(60_000);
      await until(() => server.openWatches === 1, 'reopened');
    }
    await until(() => storeUids().join() === serverUids().join(), 'converged');
    expect(requests('list')).toBe(1);
    expect([...rec.adds.values()].every((n) => n === 1)).toBe(true);
    expect(rec.adds.size).toBe(20);
    expect(rec.log.filter((l) => l.startsWith('delete'))).toHaveLength(deleted.size);
  });

  it('stop aborts the watch and leaves no timers', async () => {
    startReflector();
    expect(r().healthy()).toMatchObject({ ok: true });
    await until(() => server.openWatches === 1, 'watch open');
    r().stop();
    await until(() => server.openWatches === 0, 'watch closed');
    expect(clock.pendingTimers()).toBe(0);
    expect(r().healthy()).toEqual({ ok: false, message: expect.stringContaining('stopped') });
  });

  it('stop during a back-off cancels it', async () => {
    server.faults.failRequests({ match: { verb: 'list' }, code: 500 });
    const rec = startReflector();
    await until(() => rec.errors.length === 1, 'failure');
    expect(clock.pendingTimers()).toBe(1);
    r().stop();
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(60_000);
    expect(requests('list')).toBe(1);
  });
});
