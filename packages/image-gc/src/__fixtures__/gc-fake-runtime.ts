import type { ImageService, cri } from '@nodeagent/core';
import { FakeRuntime, type FakeRuntimeOptions } from '@nodeagent/testkit';
import type { ImageFsUsage } from '../image-fs-usage.js';

/** What {@link GcFakeRuntime.addImage} accepts. */
export interface FakeImageInput {
  /** Repo tag; also what FakeRuntime derives the image ID from. */
  ref: string;
  size: number;
  pinned?: boolean;
  repoDigests?: string[];
  /** Tags reported instead of `[ref]` (to test matching by ID only). */
  repoTags?: string[];
}

/**
 * testkit's FakeRuntime plus an image store with sizes, digests and `pinned`, and a
 * simulated image filesystem (capacity, other data, images' sizes). Optional latency
 * on every call, for the benchmark.
 */
export class GcFakeRuntime extends FakeRuntime {
  readonly store = new Map<string, cri.Image>();
  capacityBytes: number;
  otherUsedBytes = 0;
  latencyMs = 0;
  calls = 0;

  constructor(options: FakeRuntimeOptions & { capacityBytes?: number } = {}) {
    super(options);
    this.capacityBytes = options.capacityBytes ?? 100_000_000;
  }

  /** Adds an image with the ID the fake runtime gives containers of `ref`. */
  async addImage(input: FakeImageInput): Promise<string> {
    const { imageRef } = await this.pullImage({ image: { image: input.ref } });
    this.store.set(imageRef, {
      id: imageRef,
      repoTags: input.repoTags ?? [input.ref],
      repoDigests: input.repoDigests ?? [],
      size: input.size,
      uid: null,
      username: '',
      spec: null,
      pinned: input.pinned ?? false,
    });
    return imageRef;
  }

  usedBytes(): number {
    let sum = this.otherUsedBytes;
    for (const img of this.store.values()) sum += img.size;
    return sum;
  }

  /** The simulated image filesystem. */
  fsUsage = (): Promise<ImageFsUsage> => {
    this.calls++;
    const used = this.usedBytes();
    return Promise.resolve({
      capacityBytes: this.capacityBytes,
      availableBytes: this.capacityBytes - used,
      usedBytes: used,
    });
  };

  private async delay(): Promise<void> {
    this.calls++;
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
  }

  override listImages: ImageService['listImages'] = async (req, options) => {
    await this.delay();
    if (options?.signal?.aborted) throw new Error('aborted');
    void req;
    return { images: [...this.store.values()].map((i) => ({ ...i })) };
  };

  override removeImage: ImageService['removeImage'] = async (req) => {
    await this.delay();
    const ref = req?.image?.image ?? '';
    for (const [id, img] of this.store) {
      if (id === ref || img.repoTags.includes(ref)) this.store.delete(id);
    }
    return {};
  };
}
