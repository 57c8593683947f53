import { hostname } from 'node:os';
import {
  InternalError,
  isNodeAgentError,
  noopEventRecorder,
  noopLogger,
  noopMetrics,
  ErrorCode,
  type Clock,
  type ContainerRuntime,
  type EventRecorder,
  type ImageService,
  type Logger,
  type MetricsRegistry,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import { criImageFsUsage, type ImageFsUsageProvider } from './image-fs-usage.js';
import { loadImageRecords, saveImageRecords, type ImageRecord } from './image-records.js';
import { imageNames, imagesInUse, normalizeImageRef } from './image-refs.js';
import { createImageGcMetrics, type ImageGcMetrics } from './metrics.js';
import { validateImageGcPolicy, type ImageGcPolicy } from './policy.js';

/** How often images are detected and a GC pass runs: the kubelet's `ImageGCPeriod`, 5 min. */
export const imageGcPeriodMs = 5 * 60_000;

/** Event reasons recorded on the node (kubelet `events` package constants). */
export const ImageGcEventReason = {
  /** A pass could not free the required amount (Warning). */
  FreeDiskSpaceFailed: 'FreeDiskSpaceFailed',
  /** Image GC failed twice or more in a row (Warning). */
  ImageGCFailed: 'ImageGCFailed',
  /** The image filesystem reported a capacity of 0 (Warning). */
  InvalidDiskCapacity: 'InvalidDiskCapacity',
} as const;

/** Collaborators and settings of {@link ImageGcManager}. */
export interface ImageGcManagerOptions {
  /** Lists containers, to know which images are in use. */
  runtime: ContainerRuntime;
  /** Lists and removes images. */
  images: ImageService;
  clock: Clock;
  /** The policy; missing fields take the kubelet defaults. Validated in the constructor. */
  policy?: Partial<ImageGcPolicy>;
  /** Measures the image filesystem; default {@link criImageFsUsage} over `images`. */
  imageFsUsage?: ImageFsUsageProvider;
  /**
   * JSON file keeping each image's first-detected and last-used times across restarts
   * (written atomically after each detection that changed them). Without it the
   * records live in memory only, like the kubelet's.
   */
  statePath?: string;
  /**
   * The sandbox (pause) image the runtime uses; treated as pinned because containerd
   * 1.6 does not always set CRI `Image.pinned` on it.
   */
  sandboxImage?: string;
  /** More image references never to collect. */
  pinnedImages?: readonly string[];
  /** Node name for events (object `Node/<name>`); default the host name. */
  nodeName?: string;
  /** Events `FreeDiskSpaceFailed`, `ImageGCFailed`, `InvalidDiskCapacity` on the node. */
  recorder?: EventRecorder;
  logger?: Logger;
  metrics?: MetricsRegistry;
  /** Period of detection + GC passes started by {@link ImageGcManager.start}; default 5 min. */
  periodMs?: number;
}

/** What one {@link ImageGcManager.garbageCollect} pass did. */
export interface ImageGcResult {
  /** Image-fs usage in percent when the pass measured it (`100 - available*100/capacity`). */
  usagePercent: number;
  /** Bytes the pass set out to free (0 when usage was below the high threshold). */
  bytesToFree: number;
  /** Bytes freed, by the sizes the runtime reported for the deleted images. */
  bytesFreed: number;
  /** IDs of the images deleted, in deletion order. */
  deletedImages: string[];
  /** How many of those were deleted for exceeding the maximum age. */
  deletedForAge: number;
}

interface EvictionCandidate extends ImageRecord {
  id: string;
}

/**
 * The kubelet's image GC manager (`pkg/kubelet/images/image_gc_manager.go`):
 *
 * - detection (every 5 min, and at the start of every pass) records each image's
 *   first-detected time and, while any container — running or exited but not yet
 *   removed — uses it (by image ID, repo tag or digest), its last-used time;
 * - a pass first deletes images unused for longer than `maxAgeMs` (once the manager
 *   has run that long), then, when image-fs usage is at or above the high threshold,
 *   deletes unused, unpinned images at least `minAgeMs` old, least recently used first
 *   (ties: first detected first), until `usage − low% × capacity` bytes are freed;
 * - short of that it records `Warning FreeDiskSpaceFailed` on the node and fails; two
 *   failed periodic passes in a row record `Warning ImageGCFailed`.
 *
 * Unlike the kubelet it keeps its records in a JSON file, so a restart does not make
 * every image look brand new (or unknown-old).
 */
export class ImageGcManager {
  readonly policy: Readonly<ImageGcPolicy>;
  private readonly runtime: ContainerRuntime;
  private readonly images: ImageService;
  private readonly clock: Clock;
  private readonly fsUsage: ImageFsUsageProvider;
  private readonly statePath: string | undefined;
  private readonly pinnedRefs: Set<string>;
  private readonly nodeRef: k8s.ObjectReference;
  private readonly recorder: EventRecorder;
  private readonly logger: Logger;
  private readonly metrics: ImageGcMetrics;
  private readonly periodMs: number;
  private records = new Map<string, ImageRecord>();
  private persisted: Map<string, Pick<ImageRecord, 'firstDetected' | 'lastUsed'>> | undefined;
  private stateLoaded = false;
  private initialized = false;
  private beganGc = 0;
  private timer: Timer | undefined;
  private running = false;
  private prevFailed = false;
  private dirty = false;
  private queue: Promise<unknown> = Promise.resolve();
  private inFlight = new Set<Promise<unknown>>();

  /** @throws InvalidConfigError when the policy is invalid */
  constructor(options: ImageGcManagerOptions) {
    this.policy = Object.freeze(validateImageGcPolicy(options.policy));
    this.runtime = options.runtime;
    this.images = options.images;
    this.clock = options.clock;
    this.fsUsage = options.imageFsUsage ?? criImageFsUsage(options.images);
    this.statePath = options.statePath;
    this.pinnedRefs = new Set<string>();
    for (const ref of [
      ...(options.sandboxImage ? [options.sandboxImage] : []),
      ...(options.pinnedImages ?? []),
    ]) {
      this.pinnedRefs.add(ref);
      this.pinnedRefs.add(normalizeImageRef(ref));
    }
    const nodeName = options.nodeName ?? hostname().toLowerCase();
    this.nodeRef = { kind: 'Node', name: nodeName, uid: nodeName, namespace: '' };
    this.recorder = options.recorder ?? noopEventRecorder;
    this.logger = (options.logger ?? noopLogger).child({ component: 'image-gc' });
    this.metrics = createImageGcMetrics(options.metrics ?? noopMetrics);
    this.periodMs = options.periodMs ?? imageGcPeriodMs;
  }

  /** True when a pass can delete anything: size-based GC on (high < 100) or a maximum age set. */
  get enabled(): boolean {
    return this.policy.highThresholdPercent < 100 || this.policy.maxAgeMs > 0;
  }

  /**
   * Loads the persisted records, runs the initial detection (images not known from
   * the records get an "unknown, long ago" first-detected time, as in the kubelet),
   * then runs a pass at once and every `periodMs` (passes are skipped — only detection
   * runs — when GC is disabled). Errors of the initial detection are logged; the next
   * period retries.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.beganGc = this.clock.now();
    try {
      await this.exclusive(() => this.detectImages(this.clock.now()));
    } catch (err) {
      this.logger.warn('Failed to monitor images', { err: String(err) });
    }
    if (!this.running) return;
    this.timer = this.clock.setInterval(() => this.tick(), this.periodMs);
    this.tick();
  }

  /** Stops the periodic passes and waits for a pass in progress to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await Promise.allSettled([...this.inFlight]);
  }

  /** A copy of the current records by image ID (for status pages and tests). */
  imageRecords(): Map<string, ImageRecord> {
    return new Map([...this.records].map(([id, r]) => [id, { ...r }]));
  }

  /**
   * One GC pass (see the class comment). Resolves with what it did; rejects when it
   * could not free the required amount (after recording `FreeDiskSpaceFailed`), when
   * the image filesystem cannot be measured, or when an image deletion failed.
   * Passes never overlap.
   */
  garbageCollect(): Promise<ImageGcResult> {
    return this.exclusive(() => this.pass());
  }

  /**
   * Deletes every unused, unpinned image at least `minAgeMs` old, whatever the disk
   * usage (kubelet `DeleteUnusedImages`, used by the eviction manager to reclaim
   * image-fs). Resolves with the bytes freed.
   */
  deleteUnusedImages(): Promise<number> {
    return this.exclusive(async () => {
      const started = this.clock.monotonicNow();
      const freeTime = this.clock.now();
      const candidates = await this.imagesInEvictionOrder(freeTime);
      const { freed } = await this.freeSpace(Number.POSITIVE_INFINITY, freeTime, candidates, []);
      await this.saveState();
      this.metrics.duration.observe({ operation: 'delete_unused' }, this.secondsSince(started));
      return freed;
    });
  }

  // ------------------------------------------------------------------ internals

  private tick(): void {
    if (!this.running) return;
    const p = this.enabled
      ? this.garbageCollect().then(
          () => {
            this.prevFailed = false;
          },
          (err: unknown) => this.onPeriodicFailure(err),
        )
      : this.exclusive(() => this.detectImages(this.clock.now())).catch((err: unknown) =>
          this.logger.warn('Failed to monitor images', { err: String(err) }),
        );
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private onPeriodicFailure(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (this.prevFailed) {
      this.logger.error('Image garbage collection failed multiple times in a row', {
        err: message,
      });
      this.recorder.event(this.nodeRef, 'Warning', ImageGcEventReason.ImageGCFailed, message);
    } else {
      this.logger.error('Image garbage collection failed once', { err: message });
    }
    this.prevFailed = true;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private secondsSince(startedMono: number): number {
    return (this.clock.monotonicNow() - startedMono) / 1000;
  }

  private async pass(): Promise<ImageGcResult> {
    const started = this.clock.monotonicNow();
    try {
      const result = await this.passInner();
      this.metrics.passes.inc({ result: 'success' });
      return result;
    } catch (err) {
      this.metrics.passes.inc({ result: 'failure' });
      throw err;
    } finally {
      await this.saveState();
      this.metrics.duration.observe({ operation: 'garbage_collect' }, this.secondsSince(started));
    }
  }

  private async passInner(): Promise<ImageGcResult> {
    const freeTime = this.clock.now();
    let candidates = await this.imagesInEvictionOrder(freeTime);
    const deleted: string[] = [];
    const errors: unknown[] = [];
    const aged = await this.freeOldImages(candidates, freeTime, deleted, errors);
    candidates = aged.remaining;

    const result: ImageGcResult = {
      usagePercent: 0,
      bytesToFree: 0,
      bytesFreed: aged.freed,
      deletedImages: deleted,
      deletedForAge: deleted.length,
    };

    if (this.policy.highThresholdPercent < 100) {
      const fs = await this.fsUsage();
      const capacity = fs.capacityBytes;
      let available = fs.availableBytes;
      if (available > capacity) {
        this.logger.warn('Image filesystem available is larger than capacity', {
          available,
          capacity,
        });
        available = capacity;
      }
      if (capacity <= 0) {
        const message = `invalid capacity ${capacity} on image filesystem${fs.mountpoint ? ` at mount point "${fs.mountpoint}"` : ''}`;
        this.recorder.event(
          this.nodeRef,
          'Warning',
          ImageGcEventReason.InvalidDiskCapacity,
          message,
        );
        throw new InternalError(message);
      }
      result.usagePercent = 100 - Math.floor((available * 100) / capacity);
      this.metrics.usage.set({}, result.usagePercent);
      if (result.usagePercent >= this.policy.highThresholdPercent) {
        const amountToFree = Math.ceil(
          (capacity * (100 - this.policy.lowThresholdPercent)) / 100 - available,
        );
        result.bytesToFree = amountToFree;
        this.logger.info(
          'Disk usage on image filesystem is over the high threshold, trying to free bytes down to the low threshold',
          {
            usage: result.usagePercent,
            highThreshold: this.policy.highThresholdPercent,
            amountToFree,
            lowThreshold: this.policy.lowThresholdPercent,
          },
        );
        const { freed } = await this.freeSpace(amountToFree, freeTime, candidates, errors, deleted);
        result.bytesFreed += freed;
        if (errors.length === 0 && freed < amountToFree) {
          const message = `Failed to garbage collect required amount of images. Attempted to free ${amountToFree} bytes, but only found ${freed} bytes eligible to free.`;
          this.recorder.event(
            this.nodeRef,
            'Warning',
            ImageGcEventReason.FreeDiskSpaceFailed,
            message,
          );
          this.metrics.failures.inc({ reason: 'insufficient' });
          throw new ImageGcFailedError(message, result);
        }
      }
    }
    if (errors.length > 0) {
      const message = `wanted to free ${result.bytesToFree} bytes, but freed ${result.bytesFreed} bytes with errors in image deletion: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`;
      if (result.bytesFreed < result.bytesToFree) {
        this.recorder.event(
          this.nodeRef,
          'Warning',
          ImageGcEventReason.FreeDiskSpaceFailed,
          message,
        );
      }
      this.metrics.failures.inc({ reason: 'delete_error' });
      throw new ImageGcFailedError(message, result, errors[0]);
    }
    return result;
  }

  /** Detects images, then lists the unused, unpinned ones, least recently used first. */
  private async imagesInEvictionOrder(freeTime: number): Promise<EvictionCandidate[]> {
    const inUse = await this.detectImages(freeTime);
    const out: EvictionCandidate[] = [];
    for (const [id, record] of this.records) {
      if (inUse.has(id) || record.pinned) continue;
      out.push({ id, ...record });
    }
    out.sort((a, b) =>
      a.lastUsed === b.lastUsed ? a.firstDetected - b.firstDetected : a.lastUsed - b.lastUsed,
    );
    return out;
  }

  /**
   * Lists images and containers, updates the records (kubelet `detectImages`) and
   * returns the IDs of the images in use. Persists the records when they changed.
   */
  private async detectImages(detectTime: number): Promise<Set<string>> {
    await this.loadStateOnce();
    const [imageList, containerList] = await Promise.all([
      this.images.listImages({}),
      this.runtime.listContainers({}),
    ]);
    const usedRefs = imagesInUse(containerList.containers);
    const now = this.clock.now();
    // The first detection gives images we know nothing about an unknown, old time.
    const firstSeen = this.initialized ? detectTime : 0;
    const current = new Map<string, ImageRecord>();
    const inUseIds = new Set<string>();
    let changed = false;
    for (const image of imageList.images) {
      const names = imageNames(image);
      const used = names.some((n) => usedRefs.has(n));
      const pinned = image.pinned || names.some((n) => this.pinnedRefs.has(n));
      let record = this.records.get(image.id);
      if (!record) {
        const saved = this.persisted?.get(image.id);
        record = {
          firstDetected: saved?.firstDetected ?? firstSeen,
          lastUsed: saved?.lastUsed ?? 0,
          size: image.size,
          pinned,
        };
        changed = true;
      }
      if (used) {
        record.lastUsed = now;
        inUseIds.add(image.id);
        changed = true;
      }
      record.size = image.size;
      record.pinned = pinned;
      current.set(image.id, record);
    }
    if (current.size !== this.records.size) changed = true;
    this.records = current;
    this.persisted = undefined;
    this.initialized = true;
    this.metrics.images.set({}, current.size);
    if (changed) this.dirty = true;
    await this.saveState();
    return inUseIds;
  }

  private async freeOldImages(
    candidates: EvictionCandidate[],
    freeTime: number,
    deleted: string[],
    errors: unknown[],
  ): Promise<{ remaining: EvictionCandidate[]; freed: number }> {
    const maxAge = this.policy.maxAgeMs;
    // Wait until the manager has run for maxAge, or images would go too early.
    if (maxAge === 0 || freeTime - this.beganGc <= maxAge) {
      return { remaining: candidates, freed: 0 };
    }
    const remaining: EvictionCandidate[] = [];
    let freed = 0;
    for (const image of candidates) {
      // A never-used image counts as used when it was first seen.
      const unusedFor = freeTime - Math.max(image.lastUsed, image.firstDetected);
      if (unusedFor > maxAge && freeTime - image.firstDetected >= this.policy.minAgeMs) {
        try {
          await this.freeImage(image, 'age');
          deleted.push(image.id);
          freed += image.size;
        } catch (err) {
          errors.push(err);
          remaining.push(image);
        }
        continue;
      }
      remaining.push(image);
    }
    return { remaining, freed };
  }

  private async freeSpace(
    bytesToFree: number,
    freeTime: number,
    candidates: EvictionCandidate[],
    errors: unknown[],
    deleted: string[] = [],
  ): Promise<{ freed: number }> {
    let freed = 0;
    for (const image of candidates) {
      if (freed >= bytesToFree) break;
      if (image.lastUsed >= freeTime) continue;
      // The image may just have been pulled for a container about to start.
      if (freeTime - image.firstDetected < this.policy.minAgeMs) continue;
      try {
        await this.freeImage(image, 'space');
        deleted.push(image.id);
        freed += image.size;
      } catch (err) {
        errors.push(err);
      }
    }
    return { freed };
  }

  private async freeImage(image: EvictionCandidate, reason: 'age' | 'space'): Promise<void> {
    this.logger.info('Removing image to free bytes', {
      imageID: image.id,
      size: image.size,
      reason,
    });
    try {
      await this.images.removeImage({ image: { image: image.id } });
    } catch (err) {
      if (!isNodeAgentError(err, ErrorCode.NotFound)) {
        this.logger.warn('Failed to remove image', { imageID: image.id, err: String(err) });
        throw err;
      }
    }
    this.records.delete(image.id);
    this.metrics.collected.inc({ reason });
    this.metrics.freedBytes.inc({ reason }, image.size);
    this.dirty = true;
  }

  private async loadStateOnce(): Promise<void> {
    if (this.stateLoaded || !this.statePath) return;
    this.stateLoaded = true;
    this.persisted = await loadImageRecords(this.statePath, (err) =>
      this.logger.warn('Ignoring unreadable image GC state file', {
        path: this.statePath,
        err: String(err),
      }),
    );
  }

  private async saveState(): Promise<void> {
    if (!this.statePath || !this.dirty) return;
    this.dirty = false;
    try {
      await saveImageRecords(this.statePath, this.records);
    } catch (err) {
      this.logger.warn('Failed to persist image GC state', {
        path: this.statePath,
        err: String(err),
      });
    }
  }
}

/**
 * An image GC pass that did not free what it had to; `result` says what it did
 * manage. The message is the kubelet's (`Failed to garbage collect required amount of
 * images. Attempted to free X bytes, but only found Y bytes eligible to free.`) or
 * names the deletion errors.
 */
export class ImageGcFailedError extends InternalError {
  readonly result: ImageGcResult;
  constructor(message: string, result: ImageGcResult, cause?: unknown) {
    super(message, cause === undefined ? {} : { cause });
    this.result = result;
  }
}

/** Creates an {@link ImageGcManager}; throws `InvalidConfigError` for a bad policy. */
export function createImageGcManager(options: ImageGcManagerOptions): ImageGcManager {
  return new ImageGcManager(options);
}
