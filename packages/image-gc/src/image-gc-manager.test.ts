import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidConfigError, type EventRecorder, type EventType, type k8s } from '@nodeagent/core';
import { FakeClock, InMemoryMetrics } from '@nodeagent/core/testing';
import { GcFakeRuntime } from './__fixtures__/gc-fake-runtime.js';
import {
  ImageGcFailedError,
  ImageGcManager,
  type ImageGcManagerOptions,
} from './image-gc-manager.js';
import { validateImageGcPolicy } from './policy.js';

const MB = 1_000_000;
const minute = 60_000;

interface RecordedEvent {
  object: k8s.ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

function recorder(): EventRecorder & { events: RecordedEvent[] } {
  const events: RecordedEvent[] = [];
  return {
    events,
    event(object, type, reason, message) {
      events.push({ object, type, reason, message });
    },
  };
}

describe('validateImageGcPolicy', () => {
  it('fills in the kubelet defaults', () => {
    expect(validateImageGcPolicy()).toEqual({
      highThresholdPercent: 85,
      lowThresholdPercent: 80,
      minAgeMs: 120_000,
      maxAgeMs: 0,
    });
  });

  it.each([
    [{ highThresholdPercent: 101 }, /highThresholdPercent 101 must be in the range \[0, 100\]/],
    [{ highThresholdPercent: -1 }, /highThresholdPercent -1/],
    [{ lowThresholdPercent: 101, highThresholdPercent: 100 }, /lowThresholdPercent 101/],
    [
      { lowThresholdPercent: 85 },
      /lowThresholdPercent 85 must be lower than highThresholdPercent 85/,
    ],
    [{ lowThresholdPercent: 90 }, /lowThresholdPercent 90 must be lower/],
    [{ minAgeMs: -1 }, /minAgeMs -1 must not be negative/],
    [{ maxAgeMs: -5 }, /maxAgeMs -5 must not be negative/],
    [{ maxAgeMs: 60_000 }, /maxAgeMs 60000 must not be lower than minAgeMs 120000/],
    [{ highThresholdPercent: Number.NaN }, /highThresholdPercent must be a finite number/],
  ])('rejects %j', (policy, message) => {
    expect(() => validateImageGcPolicy(policy)).toThrow(InvalidConfigError);
    expect(() => validateImageGcPolicy(policy)).toThrow(message);
  });

  it('accepts high 100 (size-based GC off) with any low, and maxAge ≥ minAge', () => {
    expect(
      validateImageGcPolicy({ highThresholdPercent: 100, lowThresholdPercent: 100 }),
    ).toMatchObject({ highThresholdPercent: 100 });
    expect(validateImageGcPolicy({ maxAgeMs: 120_000 }).maxAgeMs).toBe(120_000);
  });

  it('makes the manager constructor fail on a bad policy', () => {
    const runtime = new GcFakeRuntime();
    expect(
      () =>
        new ImageGcManager({
          runtime,
          images: runtime,
          clock: new FakeClock(),
          policy: { lowThresholdPercent: 95 },
        }),
    ).toThrow(InvalidConfigError);
  });
});

describe('ImageGcManager', () => {
  let clock: FakeClock;
  let runtime: GcFakeRuntime;
  let dir: string;
  let managers: ImageGcManager[];

  beforeEach(async () => {
    clock = new FakeClock();
    runtime = new GcFakeRuntime({ clock, capacityBytes: 100 * MB });
    dir = await mkdtemp(join(tmpdir(), 'image-gc-test-'));
    managers = [];
  });

  afterEach(async () => {
    for (const m of managers) await m.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function manager(options: Partial<ImageGcManagerOptions> = {}): ImageGcManager {
    const m = new ImageGcManager({
      runtime,
      images: runtime,
      clock,
      imageFsUsage: runtime.fsUsage,
      nodeName: 'node-a',
      ...options,
    });
    managers.push(m);
    return m;
  }

  it('does nothing below the high threshold', async () => {
    await runtime.addImage({ ref: 'registry.test/a:1', size: 10 * MB });
    runtime.otherUsedBytes = 74 * MB; // 84 %
    const m = manager();
    await m.start();
    await clock.advance(10 * minute);
    const result = await m.garbageCollect();
    expect(result).toMatchObject({ usagePercent: 84, bytesToFree: 0, deletedImages: [] });
    expect(runtime.store.size).toBe(1);
  });

  it('frees down to the low threshold, least recently used first (ties: first detected)', async () => {
    const m = manager({ policy: { minAgeMs: 0 } });
    await m.start(); // nothing yet: later images get real detection times
    const sb = runtime.addSandbox({ uid: 'pod-1' });
    const old = await runtime.addImage({ ref: 'registry.test/old:1', size: 5 * MB });
    const c1 = runtime.addContainer(sb, { image: 'registry.test/old:1', name: 'c1' });
    await clock.advance(5 * minute); // detection: old in use
    runtime.deleteContainer(c1);
    const unusedEarly = await runtime.addImage({ ref: 'registry.test/early:1', size: 5 * MB });
    await clock.advance(5 * minute);
    const unusedLate = await runtime.addImage({ ref: 'registry.test/late:1', size: 5 * MB });
    await clock.advance(5 * minute);
    // 15 MB of images + 71 MB other = 86 % ≥ 85 → free 86 - 80 = 6 MB.
    runtime.otherUsedBytes = 71 * MB;
    const result = await m.garbageCollect();
    expect(result.usagePercent).toBe(86);
    expect(result.bytesToFree).toBe(6 * MB);
    // Never-used images go before one used 10 min ago; of those, the earlier detected first.
    expect(result.deletedImages).toEqual([unusedEarly, unusedLate]);
    expect(result.bytesFreed).toBe(10 * MB);
    expect([...runtime.store.keys()]).toEqual([old]);
  });

  it('keeps images in use by running and by exited (not removed) containers, matched by ID, tag or digest', async () => {
    const m = manager();
    const byTag = await runtime.addImage({ ref: 'registry.test/tag:1', size: 10 * MB });
    const byId = await runtime.addImage({
      ref: 'registry.test/id:1',
      repoTags: ['registry.test/id-renamed:1'],
      size: 10 * MB,
    });
    const byDigest = await runtime.addImage({
      ref: 'registry.test/digest:1',
      repoTags: [],
      repoDigests: ['registry.test/digest@sha256:abcd'],
      size: 10 * MB,
    });
    const unused = await runtime.addImage({ ref: 'registry.test/unused:1', size: 10 * MB });
    const sb = runtime.addSandbox({ uid: 'pod-1' });
    runtime.addContainer(sb, { image: 'registry.test/tag:1', state: 'CONTAINER_EXITED' });
    runtime.addContainer(sb, { image: 'registry.test/id:1' });
    runtime.addContainer(sb, {
      image: 'registry.test/digest@sha256:abcd',
      state: 'CONTAINER_EXITED',
    });
    runtime.otherUsedBytes = 55 * MB; // 95 %
    await m.start();
    await clock.advance(10 * minute);
    await expect(m.garbageCollect()).rejects.toThrow(ImageGcFailedError);
    expect([...runtime.store.keys()].sort()).toEqual([byTag, byId, byDigest].sort());
    expect(runtime.store.has(unused)).toBe(false);
  });

  it('never deletes pinned images nor the configured sandbox image', async () => {
    const m = manager({ sandboxImage: 'registry.test/pause:1' });
    await runtime.addImage({ ref: 'registry.test/pinned:1', size: 10 * MB, pinned: true });
    await runtime.addImage({ ref: 'registry.test/pause:1', size: 10 * MB });
    const plain = await runtime.addImage({ ref: 'registry.test/plain:1', size: 10 * MB });
    await m.start();
    await clock.advance(10 * minute);
    runtime.otherUsedBytes = 65 * MB; // 95 %: 15 MB to free, only plain's 10 eligible
    const err = await m.garbageCollect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageGcFailedError);
    expect((err as ImageGcFailedError).result.deletedImages).toEqual([plain]);
    expect(runtime.store.size).toBe(2);
  });

  it('matches a short sandbox image name against normalized repo tags', async () => {
    const m = manager({ sandboxImage: 'pause:3.9' });
    await runtime.addImage({ ref: 'docker.io/library/pause:3.9', size: 20 * MB });
    runtime.otherUsedBytes = 70 * MB;
    await m.start();
    await clock.advance(10 * minute);
    await expect(m.garbageCollect()).rejects.toThrow(/only found 0 bytes eligible/);
    expect(runtime.store.size).toBe(1);
  });

  it('does not delete images younger than minAge', async () => {
    const m = manager();
    await m.start();
    const young = await runtime.addImage({ ref: 'registry.test/young:1', size: 10 * MB });
    await clock.advance(1); // below the 2 min minimum
    runtime.otherUsedBytes = 80 * MB;
    await expect(m.garbageCollect()).rejects.toThrow(ImageGcFailedError);
    expect(runtime.store.has(young)).toBe(true);
    await clock.advance(2 * minute);
    const result = await m.garbageCollect();
    expect(result.deletedImages).toEqual([young]);
  });

  it('records FreeDiskSpaceFailed with the kubelet wording when not enough is eligible', async () => {
    const events = recorder();
    const metrics = new InMemoryMetrics();
    const m = manager({ recorder: events, metrics });
    await runtime.addImage({ ref: 'registry.test/a:1', size: 2 * MB });
    await m.start();
    await clock.advance(6 * minute);
    runtime.otherUsedBytes = 88 * MB; // 90 % → free 10 MB
    await expect(m.garbageCollect()).rejects.toThrow(
      'Failed to garbage collect required amount of images. Attempted to free 10000000 bytes, but only found 2000000 bytes eligible to free.',
    );
    const failed = events.events.filter((e) => e.reason === 'FreeDiskSpaceFailed');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed[0]).toMatchObject({
      type: 'Warning',
      object: { kind: 'Node', name: 'node-a' },
      message:
        'Failed to garbage collect required amount of images. Attempted to free 10000000 bytes, but only found 2000000 bytes eligible to free.',
    });
    expect(metrics.value('kubelet_image_garbage_collected_total', { reason: 'space' })).toBe(1);
    expect(metrics.value('nodeagent_image_gc_freed_bytes_total', { reason: 'space' })).toBe(2 * MB);
  });

  it('records ImageGCFailed when periodic passes fail twice in a row', async () => {
    const events = recorder();
    const m = manager({ recorder: events });
    runtime.otherUsedBytes = 95 * MB; // nothing to delete
    await m.start(); // first pass at once: fails once, no ImageGCFailed
    await clock.advance(0);
    expect(events.events.map((e) => e.reason)).toEqual(['FreeDiskSpaceFailed']);
    await clock.advance(5 * minute);
    expect(events.events.map((e) => e.reason)).toEqual([
      'FreeDiskSpaceFailed',
      'FreeDiskSpaceFailed',
      'ImageGCFailed',
    ]);
    runtime.otherUsedBytes = 10 * MB;
    await clock.advance(5 * minute);
    await clock.advance(5 * minute);
    expect(events.events).toHaveLength(3);
  });

  it('records InvalidDiskCapacity on a zero capacity', async () => {
    const events = recorder();
    runtime.capacityBytes = 0;
    const m = manager({ recorder: events });
    await expect(m.garbageCollect()).rejects.toThrow(/invalid capacity 0/);
    expect(events.events[0]?.reason).toBe('InvalidDiskCapacity');
  });

  it('deletes images unused for longer than maxAge whatever the usage, once running that long', async () => {
    const m = manager({ policy: { minAgeMs: minute, maxAgeMs: 30 * minute } });
    await m.start();
    const sb = runtime.addSandbox({ uid: 'pod-1' });
    const stale = await runtime.addImage({ ref: 'registry.test/stale:1', size: MB });
    const used = await runtime.addImage({ ref: 'registry.test/used:1', size: MB });
    runtime.addContainer(sb, { image: 'registry.test/used:1' });
    await clock.advance(20 * minute);
    expect((await m.garbageCollect()).deletedImages).toEqual([]);
    // 36 min since start; stale unused since its detection by the 5 min pass.
    await clock.advance(16 * minute);
    const result = await m.garbageCollect();
    expect(result).toMatchObject({ deletedImages: [stale], deletedForAge: 1, bytesToFree: 0 });
    expect(runtime.store.has(used)).toBe(true);
  });

  it('persists first-detected and last-used across a new manager', async () => {
    const statePath = join(dir, 'state', 'image-gc.json');
    const first = manager({ statePath });
    await first.start();
    const sb = runtime.addSandbox({ uid: 'pod-1' });
    const a = await runtime.addImage({ ref: 'registry.test/a:1', size: MB });
    const b = await runtime.addImage({ ref: 'registry.test/b:1', size: MB });
    const c = runtime.addContainer(sb, { image: 'registry.test/b:1' });
    await clock.advance(5 * minute);
    const before = first.imageRecords();
    await first.stop();
    const saved = JSON.parse(await readFile(statePath, 'utf8')) as {
      images: Record<string, { firstDetected: number; lastUsed: number }>;
    };
    expect(saved.images[a]).toEqual({ firstDetected: before.get(a)?.firstDetected, lastUsed: 0 });
    expect(saved.images[b]?.lastUsed).toBe(clock.now());
    runtime.deleteContainer(c);

    await clock.advance(60 * minute);
    const second = manager({ statePath });
    await second.start();
    const after = second.imageRecords();
    // Not "unknown, long ago" (0) as for images a first start finds: the saved times.
    expect(after.get(a)?.firstDetected).toBe(before.get(a)?.firstDetected);
    expect(after.get(a)?.firstDetected).toBeGreaterThan(0);
    expect(after.get(b)?.lastUsed).toBe(before.get(b)?.lastUsed);
  });

  it('ignores a corrupt state file', async () => {
    const statePath = join(dir, 'image-gc.json');
    await writeFile(statePath, '{not json');
    await runtime.addImage({ ref: 'registry.test/a:1', size: MB });
    const m = manager({ statePath });
    await m.start();
    expect([...m.imageRecords().values()][0]?.firstDetected).toBe(0);
    const saved = JSON.parse(await readFile(statePath, 'utf8')) as { version: number };
    expect(saved.version).toBe(1);
  });

  it('size-based GC is off at a high threshold of 100', async () => {
    await runtime.addImage({ ref: 'registry.test/a:1', size: 50 * MB });
    runtime.otherUsedBytes = 50 * MB;
    const m = manager({ policy: { highThresholdPercent: 100, lowThresholdPercent: 100 } });
    expect(m.enabled).toBe(false);
    await m.start();
    await clock.advance(10 * minute);
    expect((await m.garbageCollect()).deletedImages).toEqual([]);
    expect(runtime.store.size).toBe(1);
  });

  it('carries on past a failed deletion and reports it', async () => {
    const a = await runtime.addImage({ ref: 'registry.test/a:1', size: 10 * MB });
    const b = await runtime.addImage({ ref: 'registry.test/b:1', size: 10 * MB });
    const m = manager();
    await m.start();
    await clock.advance(10 * minute);
    const original = runtime.removeImage;
    runtime.removeImage = (req, options) =>
      req?.image?.image === a ? Promise.reject(new Error('image is busy')) : original(req, options);
    runtime.otherUsedBytes = 70 * MB; // 90 % → free 10 MB
    const failure = await m.garbageCollect().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ImageGcFailedError);
    expect((failure as Error).message).toMatch(/image is busy/);
    expect((failure as ImageGcFailedError).result.deletedImages).toEqual([b]);
    expect(runtime.store.has(a)).toBe(true);
  });

  it('stop() leaves no timers', async () => {
    const m = manager();
    await m.start();
    expect(clock.pendingTimers()).toBe(1);
    await m.stop();
    expect(clock.pendingTimers()).toBe(0);
  });
});
