import { describe, expect, it } from 'vitest';
import { CancelledError, type ImageService } from '@nodeagent/core';
import { imagePullConcurrency, limitImagePulls } from './pull-limiter.js';

/** An image service whose pulls finish only when the test says so. */
function slowImages(): {
  images: ImageService;
  started: string[];
  finish: (image: string) => void;
} {
  const started: string[] = [];
  const pending = new Map<string, () => void>();
  const images = {
    pullImage: (req?: { image?: { image?: string } | null }) => {
      const ref = req?.image?.image ?? '';
      started.push(ref);
      return new Promise((resolve) => pending.set(ref, () => resolve({ imageRef: `sha-${ref}` })));
    },
    listImages: () => Promise.resolve({ images: [] }),
  } as unknown as ImageService;
  return { images, started, finish: (ref) => pending.get(ref)?.() };
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('limitImagePulls', () => {
  it('runs one pull at a time in arrival order (serializeImagePulls)', async () => {
    const { images, started, finish } = slowImages();
    const limited = limitImagePulls(images, 1);
    const a = limited.pullImage({ image: { image: 'a' } });
    const b = limited.pullImage({ image: { image: 'b' } });
    const c = limited.pullImage({ image: { image: 'c' } });
    await flush();
    expect(started).toEqual(['a']);
    finish('a');
    await expect(a).resolves.toEqual({ imageRef: 'sha-a' });
    await flush();
    expect(started).toEqual(['a', 'b']);
    finish('b');
    await b;
    await flush();
    finish('c');
    await c;
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('allows maxParallel pulls at once; a failed pull frees its slot', async () => {
    const started: string[] = [];
    const pending = new Map<string, [() => void, (e: Error) => void]>();
    const images = {
      pullImage: (req?: { image?: { image?: string } | null }) => {
        const ref = req?.image?.image ?? '';
        started.push(ref);
        return new Promise((resolve, reject) =>
          pending.set(ref, [() => resolve({ imageRef: ref }), reject]),
        );
      },
    } as unknown as ImageService;
    const limited = limitImagePulls(images, 2);
    const pulls = ['a', 'b', 'c'].map((ref) =>
      limited.pullImage({ image: { image: ref } }).catch((e: Error) => e.message),
    );
    await flush();
    expect(started).toEqual(['a', 'b']);
    pending.get('b')?.[1](new Error('ErrImagePull'));
    await flush();
    expect(started).toEqual(['a', 'b', 'c']);
    pending.get('a')?.[0]();
    pending.get('c')?.[0]();
    expect(await Promise.all(pulls)).toEqual([
      { imageRef: 'a' },
      'ErrImagePull',
      { imageRef: 'c' },
    ]);
  });

  it('a queued pull whose signal aborts leaves the queue with a CancelledError', async () => {
    const { images, started, finish } = slowImages();
    const limited = limitImagePulls(images, 1);
    const a = limited.pullImage({ image: { image: 'a' } });
    const abort = new AbortController();
    const b = limited.pullImage({ image: { image: 'b' } }, { signal: abort.signal });
    const c = limited.pullImage({ image: { image: 'c' } });
    abort.abort();
    await expect(b).rejects.toBeInstanceOf(CancelledError);
    finish('a');
    await a;
    await flush();
    expect(started).toEqual(['a', 'c']);
    finish('c');
    await c;
  });

  it('wraps a service whose methods are frozen, as the CRI client is', async () => {
    const { images } = slowImages();
    const frozen = Object.freeze({ ...images }) as ImageService;
    const limited = limitImagePulls(frozen, 1);
    await expect(limited.listImages({})).resolves.toEqual({ images: [] });
    expect(typeof limited.pullImage).toBe('function');
  });

  it('passes other methods through', async () => {
    const { images } = slowImages();
    await expect(limitImagePulls(images, 1).listImages({})).resolves.toEqual({ images: [] });
    expect(() => limitImagePulls(images, 0)).toThrow(RangeError);
  });
});

describe('imagePullConcurrency', () => {
  it('follows the kubelet: serial = 1, else maxParallelImagePulls, else unlimited', () => {
    expect(imagePullConcurrency(true, null)).toBe(1);
    expect(imagePullConcurrency(true, 1)).toBe(1);
    expect(imagePullConcurrency(false, 5)).toBe(5);
    expect(imagePullConcurrency(false, null)).toBeUndefined();
    expect(imagePullConcurrency(false, undefined)).toBeUndefined();
  });
});
