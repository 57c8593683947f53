import type { k8s } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { describe, expect, it } from 'vitest';
import {
  PodWorkers,
  type KillPodOptions,
  type PodSyncHandler,
  type SyncPodContext,
  type SyncPodResult,
  type SyncPodType,
} from './pod-workers.js';

function pod(uid: string, image = 'busybox'): k8s.Pod {
  return {
    metadata: { name: uid, namespace: 'default', uid },
    spec: { containers: [{ name: 'c', image }] },
  };
}

/** A handler that records calls and lets the test decide when each sync finishes. */
class ScriptedHandler implements PodSyncHandler {
  calls: string[] = [];
  results: SyncPodResult[] = [];
  blockers = new Map<string, Promise<void>>();
  failNext = 0;

  async syncPod(p: k8s.Pod, type: SyncPodType, ctx: SyncPodContext): Promise<SyncPodResult> {
    this.calls.push(`sync:${p.metadata?.uid}:${type}:${p.spec?.containers[0]?.image}`);
    const block = this.blockers.get(p.metadata?.uid ?? '');
    if (block) {
      await Promise.race([
        block,
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))),
        ),
      ]);
    }
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('boom');
    }
    return this.results.shift() ?? {};
  }

  async syncTerminatingPod(p: k8s.Pod, options: KillPodOptions): Promise<void> {
    this.calls.push(`terminating:${p.metadata?.uid}:${options.gracePeriodSeconds ?? '-'}`);
  }

  async syncTerminatedPod(p: k8s.Pod): Promise<void> {
    this.calls.push(`terminated:${p.metadata?.uid}`);
  }
}

function setup(handler = new ScriptedHandler()) {
  const clock = new FakeClock();
  const workers = new PodWorkers({
    handler,
    clock,
    random: { float: () => 0 },
    resyncIntervalMs: 60_000,
    backOffPeriodMs: 10_000,
  });
  return { clock, workers, handler };
}

describe('PodWorkers', () => {
  it('syncs a new pod, then resyncs it every resync interval', async () => {
    const { clock, workers, handler } = setup();
    workers.updatePod({ type: 'create', pod: pod('a') });
    await workers.idle();
    expect(handler.calls).toEqual(['sync:a:create:busybox']);
    await clock.advance(60_000);
    await workers.idle();
    expect(handler.calls).toEqual(['sync:a:create:busybox', 'sync:a:sync:busybox']);
    expect(workers.phase('a')).toBe('syncing');
  });

  it('runs pods in parallel but each pod serially; the newest spec wins', async () => {
    const { workers, handler } = setup();
    let release!: () => void;
    handler.blockers.set('a', new Promise<void>((r) => (release = r)));
    workers.updatePod({ type: 'create', pod: pod('a', 'v1') });
    workers.updatePod({ type: 'create', pod: pod('b') });
    workers.updatePod({ type: 'update', pod: pod('a', 'v2') });
    workers.updatePod({ type: 'update', pod: pod('a', 'v3') });
    await new Promise((r) => setImmediate(r));
    expect(handler.calls).toEqual(['sync:a:create:v1', 'sync:b:create:busybox']);
    handler.blockers.delete('a');
    release();
    await workers.idle();
    expect(handler.calls).toEqual([
      'sync:a:create:v1',
      'sync:b:create:busybox',
      'sync:a:update:v3',
    ]);
  });

  it('a kill aborts a sync in flight, terminates with the grace override, then cleans up', async () => {
    const { workers, handler } = setup();
    handler.blockers.set('a', new Promise<void>(() => {}));
    workers.updatePod({ type: 'create', pod: pod('a') });
    await new Promise((r) => setImmediate(r));
    workers.updatePod({ type: 'kill', pod: pod('a'), kill: { gracePeriodSeconds: 5 } });
    await workers.idle();
    expect(handler.calls).toEqual(['sync:a:create:busybox', 'terminating:a:5', 'terminated:a']);
    expect(workers.phase('a')).toBe('terminated');
    expect(workers.isFinished('a')).toBe(true);
    workers.removeWorker('a');
    expect(workers.knownPods()).toEqual([]);
  });

  it('a pod that reaches a terminal phase is terminated and cleaned up', async () => {
    const { workers, handler } = setup();
    handler.results.push({ terminal: true });
    workers.updatePod({ type: 'create', pod: pod('a') });
    await workers.idle();
    expect(handler.calls).toEqual(['sync:a:create:busybox', 'terminating:a:-', 'terminated:a']);
  });

  it('retries a failed sync after the back-off period, and honours retryAfterMs', async () => {
    const { clock, workers, handler } = setup();
    handler.failNext = 1;
    workers.updatePod({ type: 'create', pod: pod('a') });
    await workers.idle();
    await clock.advance(9_999);
    expect(handler.calls).toHaveLength(1);
    await clock.advance(1);
    await workers.idle();
    expect(handler.calls).toHaveLength(2);
    handler.results.push({ retryAfterMs: 20_000 });
    workers.updatePod({ type: 'sync', pod: pod('a') });
    await workers.idle();
    await clock.advance(20_000);
    await workers.idle();
    expect(handler.calls).toHaveLength(4);
  });

  it('a kill for a pod never seen terminates it directly (orphan cleanup)', async () => {
    const { workers, handler } = setup();
    workers.updatePod({ type: 'kill', pod: pod('orphan'), kill: { gracePeriodSeconds: 1 } });
    await workers.idle();
    expect(handler.calls).toEqual(['terminating:orphan:1', 'terminated:orphan']);
  });

  it('the same UID added again while terminating starts anew once terminated', async () => {
    const { workers, handler } = setup();
    workers.updatePod({ type: 'create', pod: pod('a') });
    await workers.idle();
    workers.updatePod({ type: 'kill', pod: pod('a') });
    workers.updatePod({ type: 'create', pod: pod('a', 'v2') });
    await workers.idle();
    expect(handler.calls).toEqual([
      'sync:a:create:busybox',
      'terminating:a:-',
      'terminated:a',
      'sync:a:create:v2',
    ]);
    expect(workers.phase('a')).toBe('syncing');
  });

  it('stop() leaves pods alone: no termination, no more syncs', async () => {
    const { clock, workers, handler } = setup();
    workers.updatePod({ type: 'create', pod: pod('a') });
    await workers.idle();
    await workers.stop();
    await clock.advance(120_000);
    workers.updatePod({ type: 'update', pod: pod('a', 'v2') });
    await workers.idle();
    expect(handler.calls).toEqual(['sync:a:create:busybox']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('passes the end of the previous sync as the status freshness bound', async () => {
    const seen: number[] = [];
    const handler = new ScriptedHandler();
    const orig = handler.syncPod.bind(handler);
    handler.syncPod = (p, t, ctx) => {
      seen.push(ctx.statusNewerThanMs);
      return orig(p, t, ctx);
    };
    const { clock, workers } = setup(handler);
    workers.updatePod({ type: 'create', pod: pod('a') });
    await workers.idle();
    const afterFirst = clock.now();
    await clock.advance(60_000);
    await workers.idle();
    expect(seen).toEqual([0, afterFirst]);
  });
});
