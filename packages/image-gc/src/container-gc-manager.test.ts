import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidConfigError } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { FakeRuntime } from '@nodeagent/testkit';
import {
  ContainerGcManager,
  parsePodUidFromLogsDirectory,
  type ContainerGcManagerOptions,
} from './container-gc-manager.js';
import { validateContainerGcPolicy } from './policy.js';

class Pods {
  deleted = new Set<string>();
  terminated = new Set<string>();
  isPodDeleted = (uid: string): boolean => this.deleted.has(uid);
  isPodTerminated = (uid: string): boolean => this.terminated.has(uid);
}

describe('validateContainerGcPolicy', () => {
  it('fills in the kubelet defaults', () => {
    expect(validateContainerGcPolicy()).toEqual({
      minAgeMs: 0,
      maxPerPodContainer: 1,
      maxContainers: -1,
    });
  });
  it('rejects bad values naming the field', () => {
    expect(() => validateContainerGcPolicy({ minAgeMs: -1 })).toThrow(InvalidConfigError);
    expect(() => validateContainerGcPolicy({ minAgeMs: -1 })).toThrow(/minAgeMs -1/);
    expect(() => validateContainerGcPolicy({ maxContainers: 1.5 })).toThrow(/maxContainers 1.5/);
  });
});

describe('parsePodUidFromLogsDirectory', () => {
  it('takes the last underscore-separated part', () => {
    expect(parsePodUidFromLogsDirectory('default_web-0_1234-abcd')).toBe('1234-abcd');
    expect(parsePodUidFromLogsDirectory('nonsense')).toBeUndefined();
  });
});

describe('ContainerGcManager', () => {
  let clock: FakeClock;
  let runtime: FakeRuntime;
  let pods: Pods;
  let logDir: string;

  beforeEach(async () => {
    clock = new FakeClock();
    runtime = new FakeRuntime({ clock, autoEvents: false });
    pods = new Pods();
    logDir = await mkdtemp(join(tmpdir(), 'container-gc-test-'));
  });
  afterEach(async () => {
    await rm(logDir, { recursive: true, force: true });
  });

  function manager(options: Partial<ContainerGcManagerOptions> = {}): ContainerGcManager {
    return new ContainerGcManager({
      runtime,
      clock,
      podStateProvider: pods,
      podLogsDir: logDir,
      ...options,
    });
  }

  /** Adds `n` exited instances (attempts 0..n-1, one second apart) of container `name`. */
  async function deadInstances(sandbox: string, name: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let attempt = 0; attempt < n; attempt++) {
      ids.push(runtime.addContainer(sandbox, { name, attempt, state: 'CONTAINER_EXITED' }));
      await clock.advance(1000);
    }
    return ids;
  }

  const ids = (): string[] => runtime.listContainersNow().map((c) => c.id);

  it('keeps the newest dead container per container of a living pod, never a running one', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-a' });
    const web = await deadInstances(sb, 'web', 4);
    const side = await deadInstances(sb, 'side', 1);
    const running = runtime.addContainer(sb, { name: 'web', attempt: 4 });
    const result = await manager().garbageCollect();
    expect(result.removedContainers).toEqual([web[0], web[1], web[2]]); // oldest first
    expect(ids().sort()).toEqual([web[3], side[0], running].sort());
    expect(result.removedSandboxes).toEqual([]);
  });

  it('never removes the latest exited instance of a living pod, even with maxPerPodContainer 0', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-a' });
    const web = await deadInstances(sb, 'web', 3);
    await manager({ policy: { maxPerPodContainer: 0 } }).garbageCollect();
    expect(ids()).toEqual([web[2]]);
  });

  it("removes a dead container's logs before the container; one whose logs cannot go stays", async () => {
    const sb = runtime.addSandbox({ uid: 'pod-a' });
    const web = await deadInstances(sb, 'web', 3);
    const order: string[] = [];
    const cleaned: string[] = [];
    const containerLogs = {
      clean: (id: string): Promise<void> => {
        order.push(`clean ${id}`);
        if (id === web[1]) return Promise.reject(new Error('log directory is read-only'));
        cleaned.push(id);
        return Promise.resolve();
      },
    };
    const removeContainer = runtime.removeContainer;
    runtime.removeContainer = (req, options) => {
      order.push(`remove ${req?.containerId ?? ''}`);
      return removeContainer(req, options);
    };
    const result = await manager({ containerLogs }).garbageCollect();
    expect(order).toEqual([`clean ${web[0]}`, `remove ${web[0]}`, `clean ${web[1]}`]);
    expect(cleaned).toEqual([web[0]]);
    expect(result.removedContainers).toEqual([web[0]]);
    expect(result.errors.map(String)).toEqual(['Error: log directory is read-only']);
    expect(ids().sort()).toEqual([web[1], web[2]].sort());
  });

  it('respects minAge', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-a' });
    const web = await deadInstances(sb, 'web', 3); // created at 0 s, 1 s, 2 s; now 3 s
    const m = manager({ policy: { minAgeMs: 2500, maxPerPodContainer: 0 } });
    await m.garbageCollect();
    // Only the first is old enough; the newest is kept in any case.
    expect(ids()).toEqual([web[1], web[2]]);
  });

  it('removes all dead containers, dead sandboxes and log dirs of deleted pods', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-gone', name: 'gone', namespace: 'ns' });
    await deadInstances(sb, 'web', 2);
    runtime.setSandboxState(sb, 'SANDBOX_NOTREADY');
    const keep = runtime.addSandbox({ uid: 'pod-live', name: 'live', namespace: 'ns' });
    await mkdir(join(logDir, 'ns_gone_pod-gone', 'web'), { recursive: true });
    await writeFile(join(logDir, 'ns_gone_pod-gone', 'web', '0.log'), 'x');
    await mkdir(join(logDir, 'ns_live_pod-live'));
    pods.deleted.add('pod-gone');
    const metrics = new InMemoryMetrics();
    const result = await manager({ metrics }).garbageCollect();
    expect(result.removedContainers).toHaveLength(2);
    expect(result.removedSandboxes).toEqual([sb]);
    expect(result.removedPodLogDirs).toEqual([join(logDir, 'ns_gone_pod-gone')]);
    expect(runtime.listSandboxesNow().map((s) => s.id)).toEqual([keep]);
    expect(await readdir(logDir)).toEqual(['ns_live_pod-live']);
    expect(metrics.value('nodeagent_container_gc_removed_total', { kind: 'container' })).toBe(2);
    expect(metrics.value('nodeagent_container_gc_removed_total', { kind: 'sandbox' })).toBe(1);
  });

  it("keeps a deleted pod's log dir while it still has a sandbox, and running containers", async () => {
    const sb = runtime.addSandbox({ uid: 'pod-gone', name: 'gone', namespace: 'ns' });
    const running = runtime.addContainer(sb, { name: 'web' });
    await mkdir(join(logDir, 'ns_gone_pod-gone'));
    pods.deleted.add('pod-gone');
    const result = await manager().garbageCollect();
    expect(result.removedSandboxes).toEqual([]);
    expect(ids()).toEqual([running]);
    expect(await readdir(logDir)).toEqual(['ns_gone_pod-gone']);
  });

  it('leaves deleted pods alone until all sources are ready', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-gone', name: 'gone', namespace: 'ns' });
    const web = await deadInstances(sb, 'web', 2);
    await mkdir(join(logDir, 'ns_gone_pod-gone'));
    pods.deleted.add('pod-gone');
    await manager({ allSourcesReady: () => false }).garbageCollect();
    expect(ids()).toEqual([web[1]]); // only the per-container limit applied
    expect(await readdir(logDir)).toEqual(['ns_gone_pod-gone']);
  });

  it("removes terminated pods' containers only when asked to evict them", async () => {
    const sb = runtime.addSandbox({ uid: 'pod-done' });
    const web = await deadInstances(sb, 'web', 2);
    runtime.setSandboxState(sb, 'SANDBOX_NOTREADY');
    pods.terminated.add('pod-done');
    const m = manager();
    await m.garbageCollect();
    expect(ids()).toEqual([web[1]]);
    const result = await m.deleteAllUnusedContainers();
    expect(result.removedContainers).toEqual([web[1]]);
    expect(result.removedSandboxes).toEqual([sb]);
  });

  it('keeps the newest sandbox of a living pod and removes older dead empty ones', async () => {
    const uid = 'pod-a';
    const old1 = runtime.addSandbox({ uid, attempt: 0, state: 'SANDBOX_NOTREADY' });
    const old2 = runtime.addSandbox({ uid, attempt: 1, state: 'SANDBOX_NOTREADY' });
    const withContainer = runtime.addSandbox({ uid, attempt: 2, state: 'SANDBOX_NOTREADY' });
    const c = runtime.addContainer(withContainer, { name: 'web', state: 'CONTAINER_EXITED' });
    const newestDead = runtime.addSandbox({ uid, attempt: 3, state: 'SANDBOX_NOTREADY' });
    const result = await manager().garbageCollect();
    expect(result.removedSandboxes.sort()).toEqual([old1, old2].sort());
    expect(
      runtime
        .listSandboxesNow()
        .map((s) => s.id)
        .sort(),
    ).toEqual([withContainer, newestDead].sort());
    expect(ids()).toEqual([c]);
  });

  it('enforces maxContainers: an equal share per unit, then oldest first, keeping what status needs', async () => {
    const sbA = runtime.addSandbox({ uid: 'pod-a' });
    const sbB = runtime.addSandbox({ uid: 'pod-b' });
    const a = await deadInstances(sbA, 'web', 4);
    const b = await deadInstances(sbB, 'web', 4);
    const c = await deadInstances(sbB, 'side', 4);
    const m = manager({ policy: { maxPerPodContainer: -1, maxContainers: 6 } });
    await m.garbageCollect();
    // 6 / 3 units = 2 each.
    expect(ids().sort()).toEqual([a[2], a[3], b[2], b[3], c[2], c[3]].sort());
    const m2 = manager({ policy: { maxPerPodContainer: -1, maxContainers: 2 } });
    await m2.garbageCollect();
    // Share 1 each = 3 > 2; the oldest overall would go next, but it is the newest of its unit.
    expect(ids().sort()).toEqual([a[3], b[3], c[3]].sort());
  });

  it('global cap removes the oldest first across units', async () => {
    const sbA = runtime.addSandbox({ uid: 'pod-a' });
    const sbB = runtime.addSandbox({ uid: 'pod-b' });
    const a = await deadInstances(sbA, 'web', 1);
    const b = await deadInstances(sbB, 'web', 5);
    await manager({ policy: { maxPerPodContainer: -1, maxContainers: 3 } }).garbageCollect();
    // share = 3/2 = 1 each → a[0], b[4] left (2 ≤ 3).
    expect(ids().sort()).toEqual([a[0], b[4]].sort());
  });

  it('stops a container in unknown state before removing it', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-gone' });
    runtime.addContainer(sb, { name: 'web', state: 'CONTAINER_UNKNOWN' });
    pods.deleted.add('pod-gone');
    await manager().garbageCollect();
    expect(runtime.callCount('stopContainer')).toBe(1);
    expect(ids()).toEqual([]);
  });

  it('leaves containers without a pod UID label and outside the label selector alone', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-a', withoutUidLabel: true });
    runtime.addContainer(sb, { name: 'x', state: 'CONTAINER_EXITED' });
    runtime.addContainer(sb, { name: 'x', attempt: 1, state: 'CONTAINER_EXITED' });
    const sb2 = runtime.addSandbox({ uid: 'pod-b' });
    await deadInstances(sb2, 'web', 3);
    await manager({ labelSelector: { suite: 'mine' } }).garbageCollect();
    expect(ids()).toHaveLength(5);
    await manager().garbageCollect();
    expect(ids()).toHaveLength(3); // pod-b trimmed to 1; unlabeled ones untouched
  });

  it('carries on past removal failures and reports them', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-a' });
    await deadInstances(sb, 'web', 3);
    runtime.failNext('removeContainer', new Error('device busy'));
    const result = await manager().garbageCollect();
    expect(result.errors).toHaveLength(1);
    expect(result.removedContainers).toHaveLength(1);
  });

  it('runs every minute after start() and leaves no timers after stop()', async () => {
    const sb = runtime.addSandbox({ uid: 'pod-a' });
    const m = manager();
    m.start();
    await clock.advance(0);
    expect(runtime.callCount('listContainers')).toBe(1);
    await deadInstances(sb, 'web', 3);
    await clock.advance(60_000);
    expect(runtime.callCount('listContainers')).toBe(2);
    expect(ids()).toHaveLength(1);
    await m.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
