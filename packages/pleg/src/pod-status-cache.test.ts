import { describe, expect, it } from 'vitest';
import { emptyPodStatus, InMemoryPodStatusCache } from './pod-status-cache.js';

const status = (id: string, name = 'p') => ({ ...emptyPodStatus(id), name });

describe('InMemoryPodStatusCache', () => {
  it('get returns the empty status with timestamp 0 for an unknown pod', () => {
    const cache = new InMemoryPodStatusCache();
    expect(cache.get('a')).toEqual({
      status: emptyPodStatus('a'),
      error: undefined,
      timestampMs: 0,
    });
  });

  it('getNewerThan resolves at once when the entry is newer, else waits for a newer set', async () => {
    const cache = new InMemoryPodStatusCache();
    cache.set('a', status('a', 'old'), undefined, 100);
    await expect(cache.getNewerThan('a', 99)).resolves.toMatchObject({ timestampMs: 100 });
    let got: string | undefined;
    const waiting = cache.getNewerThan('a', 100).then((s) => (got = s.status.name));
    await Promise.resolve();
    expect(got).toBeUndefined();
    cache.set('a', status('a', 'older-still'), undefined, 99);
    await Promise.resolve();
    expect(got).toBeUndefined();
    cache.set('a', status('a', 'new'), undefined, 101);
    await waiting;
    expect(got).toBe('new');
    expect(cache.pendingWaiters()).toBe(0);
  });

  it('updateTime releases waiters of unchanged and of uncached pods', async () => {
    const cache = new InMemoryPodStatusCache();
    cache.set('a', status('a'), undefined, 100);
    const a = cache.getNewerThan('a', 150);
    const b = cache.getNewerThan('b', 150);
    cache.updateTime(149);
    expect(cache.pendingWaiters()).toBe(2);
    cache.updateTime(200);
    await expect(a).resolves.toMatchObject({ timestampMs: 100, status: { name: 'p' } });
    await expect(b).resolves.toMatchObject({ timestampMs: 0, status: { id: 'b' } });
    // Afterwards the global timestamp answers at once.
    await expect(cache.getNewerThan('c', 199)).resolves.toMatchObject({ timestampMs: 0 });
  });

  it('getNewerThan is cancelled by its signal and leaves no waiter', async () => {
    const cache = new InMemoryPodStatusCache();
    const ac = new AbortController();
    const p = cache.getNewerThan('a', 10, { signal: ac.signal });
    ac.abort(new Error('gone'));
    await expect(p).rejects.toThrow('gone');
    expect(cache.pendingWaiters()).toBe(0);
  });

  it('rejects stale updates only when asked to (kubelet with EventedPLEG)', () => {
    const plain = new InMemoryPodStatusCache();
    plain.set('a', status('a', 'new'), undefined, 200);
    expect(plain.set('a', status('a', 'old'), undefined, 100)).toBe(true);
    expect(plain.get('a').status.name).toBe('old');

    const strict = new InMemoryPodStatusCache({ rejectStaleUpdates: true });
    strict.set('a', status('a', 'new'), undefined, 200);
    expect(strict.set('a', status('a', 'old'), undefined, 100)).toBe(false);
    expect(strict.get('a').status.name).toBe('new');
    expect(strict.set('a', status('a', 'same-time'), undefined, 200)).toBe(true);
  });

  it('delete forgets the pod', () => {
    const cache = new InMemoryPodStatusCache();
    cache.set('a', status('a'), new Error('x'), 5);
    expect(cache.get('a').error?.message).toBe('x');
    cache.delete('a');
    expect(cache.get('a').timestampMs).toBe(0);
    expect(cache.podUids()).toEqual([]);
  });
});
