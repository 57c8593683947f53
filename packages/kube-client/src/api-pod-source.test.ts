import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { noopLogger, type Logger, type PodUpdate } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiPodSource, podCheckpointKind } from './api-pod-source.js';
import { createKubeApi, type KubeApi } from './kube-api.js';

const zeroRandom = { float: () => 0 };
let clock: FakeClock;
let server: TestApiServer;
let api: KubeApi;
let dir: string;
let source: ApiPodSource | undefined;

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
  dir = mkdtempSync(join(tmpdir(), 'api-pod-source-'));
});

afterEach(async () => {
  await source?.stop();
  source = undefined;
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (cond()) return;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

const podsRes = () => server.store.resource('pods');
function createPod(name: string, nodeName = 'n1'): string {
  const created = server.store.create(podsRes(), 'default', {
    metadata: { name },
    spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
  });
  return String((created.metadata as { uid: string }).uid);
}

function start(options: { checkpointPath?: string; logger?: Logger } = {}): PodUpdate[] {
  source = new ApiPodSource({ nodeName: 'n1', api, clock, random: zeroRandom, ...options });
  const updates: PodUpdate[] = [];
  source.subscribe((u) => updates.push(u));
  source.start();
  return updates;
}

const uidsOf = (u: PodUpdate | undefined): string[] =>
  (u?.pods ?? []).map((p) => p.metadata.uid ?? '').sort();

function warnings(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger: Logger = {
    ...noopLogger,
    warn: (m) => lines.push(m),
    child: () => logger,
  };
  return { logger, lines };
}

describe('ApiPodSource', () => {
  it('emits SET with the node’s pods (JSON strings, config.source api) after the first list, then on changes, one per burst', async () => {
    const a = createPod('a');
    createPod('other-node', 'n2');
    const updates = start();
    await until(() => updates.length === 1, 'first SET');
    const first = updates[0];
    expect(first).toMatchObject({ op: 'SET', source: 'api' });
    expect(uidsOf(first)).toEqual([a]);
    const pod = first?.pods[0];
    expect(pod?.metadata.annotations?.['kubernetes.io/config.source']).toBe('api');
    expect(typeof pod?.metadata.creationTimestamp).toBe('string');
    await until(() => server.openWatches === 1, 'watching');

    const burst = Array.from({ length: 20 }, (_, i) => createPod(`b${i}`));
    await until(() => uidsOf(updates.at(-1)).length === 21, 'burst delivered');
    expect(updates.length).toBeLessThanOrEqual(3);
    expect(uidsOf(updates.at(-1))).toEqual([a, ...burst].sort());
    // Watch bookmarks change nothing: no SET.
    const n = updates.length;
    await clock.advance(61_000);
    expect(updates.length).toBe(n);
    expect(source?.healthy().ok).toBe(true);
  });

  it('a pod recreated with the same name replaces the old UID in the next SET', async () => {
    const old = createPod('web');
    const updates = start();
    await until(() => server.openWatches === 1, 'watching');
    server.store.delete(podsRes(), 'default', 'web', { gracePeriodSeconds: 0 });
    const fresh = createPod('web');
    await until(() => uidsOf(updates.at(-1)).join() === fresh, 'new UID');
    expect(updates.some((u) => uidsOf(u).includes(old))).toBe(true);
  });

  it('writes the checkpoint atomically with mode 0600, at most once a second, and on stop', async () => {
    const path = join(dir, 'state', 'pods.json');
    const a = createPod('a');
    const updates = start({ checkpointPath: path });
    await until(() => updates.length === 1, 'first SET');
    await clock.advance(0);
    await source?.flushCheckpoint();
    const read = () =>
      JSON.parse(readFileSync(path, 'utf8')) as {
        kind: string;
        pods: { metadata: { uid: string } }[];
      };
    expect(read().kind).toBe(podCheckpointKind);
    expect(read().pods.map((p) => p.metadata.uid)).toEqual([a]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await until(() => server.openWatches === 1, 'watching');

    const b = createPod('b');
    await until(() => updates.length === 2, 'SET with b');
    await clock.advance(999);
    await source?.flushCheckpoint();
    expect(read().pods).toHaveLength(1);
    await clock.advance(1);
    await source?.flushCheckpoint();
    expect(
      read()
        .pods.map((p) => p.metadata.uid)
        .sort(),
    ).toEqual([a, b].sort());

    const c = createPod('c');
    await until(() => updates.length === 3, 'SET with c');
    await source?.stop();
    expect(read().pods).toHaveLength(3);
    expect(read().pods.map((p) => p.metadata.uid)).toContain(c);
    expect(readdirSync(join(dir, 'state'))).toEqual(['pods.json']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('with the API server unreachable at start, emits the checkpoint’s pods; the first successful list replaces them', async () => {
    const path = join(dir, 'pods.json');
    const kept = createPod('kept');
    createPod('removed-later');
    const first = start({ checkpointPath: path });
    await until(() => first.length === 1, 'first SET');
    await source?.stop();
    expect(uidsOf(first[0])).toHaveLength(2);

    // The agent restarts while the API server is down.
    server.store.delete(podsRes(), 'default', 'removed-later', { gracePeriodSeconds: 0 });
    await server.faults.goDown();
    const updates = start({ checkpointPath: path });
    await until(() => updates.length === 1, 'SET from the checkpoint');
    expect(uidsOf(updates[0])).toEqual(uidsOf(first[0]));
    expect(updates[0]?.pods[0]?.metadata.annotations?.['kubernetes.io/config.source']).toBe('api');
    expect(source?.hasSynced()).toBe(false);
    // Further failures do not emit it again.
    await clock.advance(5_000);
    expect(updates).toHaveLength(1);

    await server.faults.comeBack();
    // Fake time moves on in 1 s steps until the back-off lets the list through.
    for (let i = 0; i < 60 && updates.length < 2; i++) {
      await clock.advance(1_000);
      for (let j = 0; j < 50; j++) await new Promise<void>((r) => setImmediate(r));
    }
    expect(updates).toHaveLength(2);
    expect(uidsOf(updates[1])).toEqual([kept]);
  });

  it('logs and ignores a corrupt checkpoint', async () => {
    const path = join(dir, 'pods.json');
    writeFileSync(path, '{"kind": "NodeAgentPodCheckpoint", "version": 1, "pods": [tr');
    await server.faults.goDown();
    const { logger, lines } = warnings();
    const updates = start({ checkpointPath: path, logger });
    await until(() => lines.some((l) => l.includes('corrupt')), 'warned');
    await clock.advance(3_000);
    expect(updates).toEqual([]);
    await server.faults.comeBack();
  });

  it('ignores a checkpoint written for another node', async () => {
    const path = join(dir, 'pods.json');
    writeFileSync(
      path,
      JSON.stringify({
        kind: podCheckpointKind,
        version: 1,
        nodeName: 'n2',
        savedAt: '',
        pods: [],
      }),
    );
    await server.faults.goDown();
    const { logger, lines } = warnings();
    const updates = start({ checkpointPath: path, logger });
    await until(() => lines.some((l) => l.includes('corrupt')), 'warned');
    await clock.advance(3_000);
    expect(updates).toEqual([]);
    await server.faults.comeBack();
  });

  it('a SET after a change copies only the changed pod: unchanged pods keep their annotated objects, in namespace/name order', async () => {
    const a = createPod('a');
    const c = createPod('c');
    const b = createPod('b');
    const updates = start();
    await until(() => updates.length === 1, 'first SET');
    await until(() => server.openWatches === 1, 'watching');
    const first = updates[0]?.pods ?? [];
    expect(first.map((p) => p.metadata.uid)).toEqual([a, b, c]);

    const current = server.store.get(podsRes(), 'default', 'b');
    server.store.update(podsRes(), 'default', {
      ...current,
      metadata: { ...(current.metadata as object), labels: { changed: 'yes' } },
    });
    await until(() => updates.length === 2, 'SET after the change');
    const second = updates[1]?.pods ?? [];
    expect(second.map((p) => p.metadata.uid)).toEqual([a, b, c]);
    // Pods a and c did not change: the very same objects as in the first SET.
    expect(second[0]).toBe(first[0]);
    expect(second[2]).toBe(first[2]);
    // Pod b is a new copy with the change and the source annotation.
    expect(second[1]).not.toBe(first[1]);
    expect(second[1]?.metadata.labels).toEqual({ changed: 'yes' });
    expect(second[1]?.metadata.annotations?.['kubernetes.io/config.source']).toBe('api');
    expect(first[1]?.metadata.labels).toBeUndefined();
  });
});
