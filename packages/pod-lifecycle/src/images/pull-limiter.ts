import { CancelledError, type CallOptions, type ImageService } from '@nodeagent/core';

/**
 * How many image pulls may run at once, from the kubelet settings: `serializeImagePulls`
 * (default true) means one; otherwise `maxParallelImagePulls`, and no limit when that is
 * unset (kubelet `images.NewImageManager` choosing the serial or the parallel puller).
 */
export function imagePullConcurrency(
  serializeImagePulls: boolean,
  maxParallelImagePulls: number | null | undefined,
): number | undefined {
  if (serializeImagePulls) return 1;
  return maxParallelImagePulls != null && maxParallelImagePulls > 0
    ? maxParallelImagePulls
    : undefined;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * An `ImageService` whose `pullImage` calls run at most `maxParallel` at a time, the
 * others waiting their turn in arrival order (the kubelet's serial puller for 1, its
 * parallel puller with `maxParallelImagePulls` otherwise). Every other method passes
 * straight through. A queued pull whose signal aborts leaves the queue and rejects with
 * a `CancelledError`; the call deadline (`timeoutMs`) starts when the pull does.
 */
export function limitImagePulls(images: ImageService, maxParallel: number): ImageService {
  if (!Number.isInteger(maxParallel) || maxParallel < 1) {
    throw new RangeError(`maxParallel must be a positive integer, got ${maxParallel}`);
  }
  let running = 0;
  const queue: Waiter[] = [];

  const acquire = (signal: AbortSignal | undefined): Promise<void> => {
    if (signal?.aborted) return Promise.reject(new CancelledError('image pull cancelled'));
    if (running < maxParallel) {
      running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = queue.indexOf(waiter);
          if (i >= 0) queue.splice(i, 1);
          reject(new CancelledError('image pull cancelled while waiting for its turn'));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      queue.push(waiter);
    });
  };

  const release = (): void => {
    const next = queue.shift();
    if (next) {
      next.signal?.removeEventListener('abort', next.onAbort);
      next.resolve(); // the slot passes on: `running` stays the same
    } else {
      running--;
    }
  };

  const pullImage: ImageService['pullImage'] = async (request, options?: CallOptions) => {
    await acquire(options?.signal);
    try {
      return await images.pullImage(request, options);
    } finally {
      release();
    }
  };

  // An empty target: the CRI client's methods are read-only, non-configurable
  // properties, and a Proxy over it may not answer them with other functions.
  return new Proxy({} as ImageService, {
    get(_target, prop) {
      if (prop === 'pullImage') return pullImage;
      const value: unknown = Reflect.get(images, prop);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(images)
        : value;
    },
  });
}
