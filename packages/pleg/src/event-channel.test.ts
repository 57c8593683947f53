import { describe, expect, it } from 'vitest';
import type { PodLifecycleEvent } from '@nodeagent/core';
import { PlegEventChannel } from './event-channel.js';

const ev = (n: number): PodLifecycleEvent => ({
  podUid: `pod-${n}`,
  type: 'ContainerStarted',
  containerId: `c-${n}`,
});

describe('PlegEventChannel', () => {
  it('drops and counts events when a subscriber buffer is full, never blocking send', async () => {
    let discarded = 0;
    const channel = new PlegEventChannel({ capacity: 2, onDiscard: () => discarded++ });
    const it = channel.watch()[Symbol.asyncIterator]();
    expect([channel.send(ev(1)), channel.send(ev(2)), channel.send(ev(3))]).toEqual([
      true,
      true,
      false,
    ]);
    expect(discarded).toBe(1);
    expect(channel.isFull()).toBe(true);
    expect((await it.next()).value).toEqual(ev(1));
    expect(channel.isFull()).toBe(false);
    channel.send(ev(4));
    expect((await it.next()).value).toEqual(ev(2));
    expect((await it.next()).value).toEqual(ev(4));
    await it.return?.();
    expect(channel.subscriberCount()).toBe(0);
  });

  it('keeps a backlog for the first subscriber while nobody listens', async () => {
    let discarded = 0;
    const channel = new PlegEventChannel({ capacity: 2, onDiscard: () => discarded++ });
    channel.send(ev(1));
    channel.send(ev(2));
    channel.send(ev(3));
    expect(discarded).toBe(1);
    const seen: PodLifecycleEvent[] = [];
    const unsubscribe = channel.subscribe((e) => {
      seen.push(e);
    });
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([ev(1), ev(2)]);
    unsubscribe();
  });

  it('fans out to every subscriber in order, awaiting async listeners one at a time', async () => {
    const channel = new PlegEventChannel();
    const a: string[] = [];
    const b: string[] = [];
    let release: () => void = () => {};
    channel.subscribe(async (e) => {
      a.push(`start ${e.containerId}`);
      await new Promise<void>((r) => (release = r));
      a.push(`end ${e.containerId}`);
    });
    channel.subscribe((e) => {
      b.push(e.containerId);
    });
    channel.send(ev(1));
    channel.send(ev(2));
    await new Promise((r) => setImmediate(r));
    expect(a).toEqual(['start c-1']);
    expect(b).toEqual(['c-1', 'c-2']);
    release();
    await new Promise((r) => setImmediate(r));
    release();
    await new Promise((r) => setImmediate(r));
    expect(a).toEqual(['start c-1', 'end c-1', 'start c-2', 'end c-2']);
  });

  it('close() ends iterations after their buffered events; a signal ends one iteration', async () => {
    const channel = new PlegEventChannel();
    const ac = new AbortController();
    const collected: string[] = [];
    const loop = (async () => {
      for await (const e of channel.watch()) collected.push(e.containerId);
    })();
    const aborted = (async () => {
      const got: string[] = [];
      for await (const e of channel.watch({ signal: ac.signal })) got.push(e.containerId);
      return got;
    })();
    channel.send(ev(1));
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await expect(aborted).resolves.toEqual(['c-1']);
    channel.send(ev(2));
    channel.close();
    await loop;
    expect(collected).toEqual(['c-1', 'c-2']);
    expect(channel.subscriberCount()).toBe(0);
  });
});
