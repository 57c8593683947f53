import {
  noopLogger,
  type Logger,
  type PodLifecycleEvent,
  type PlegWatchOptions,
} from '@nodeagent/core';

/** The kubelet's PLEG channel capacity (`plegChannelCapacity`). */
export const defaultPlegChannelCapacity = 1000;

interface Subscriber {
  queue: PodLifecycleEvent[];
  wake: (() => void) | undefined;
  closed: boolean;
}

/** Options of {@link PlegEventChannel}. */
export interface PlegEventChannelOptions {
  /** Buffer size per subscriber; default {@link defaultPlegChannelCapacity}. */
  capacity?: number;
  /** Called once per dropped event (per subscriber that could not take it). */
  onDiscard?: () => void;
  logger?: Logger;
}

/**
 * The PLEG's event channel: the kubelet's buffered `chan *PodLifecycleEvent`, fanned
 * out. Every subscriber (a `watch()` iteration or a `subscribe()` listener) has its
 * own buffer of `capacity` events; `send` never blocks — when a buffer is full the
 * event is dropped for that subscriber and `onDiscard` is called. While nobody is
 * subscribed, events wait in a backlog of the same capacity that the first
 * subscriber receives, as a Go channel would keep them for its first reader.
 */
export class PlegEventChannel {
  readonly capacity: number;
  private readonly onDiscard: () => void;
  private readonly logger: Logger;
  private readonly subscribers = new Set<Subscriber>();
  private backlog: PodLifecycleEvent[] = [];

  constructor(options: PlegEventChannelOptions = {}) {
    this.capacity = Math.max(1, options.capacity ?? defaultPlegChannelCapacity);
    this.onDiscard = options.onDiscard ?? ((): void => {});
    this.logger = options.logger ?? noopLogger;
  }

  /** Delivers `event` to every subscriber's buffer; returns false if it was dropped anywhere. */
  send(event: PodLifecycleEvent): boolean {
    if (this.subscribers.size === 0) {
      if (this.backlog.length >= this.capacity) {
        this.discard(event);
        return false;
      }
      this.backlog.push(event);
      return true;
    }
    let delivered = true;
    for (const s of this.subscribers) {
      if (s.queue.length >= this.capacity) {
        this.discard(event);
        delivered = false;
        continue;
      }
      s.queue.push(event);
      const wake = s.wake;
      s.wake = undefined;
      wake?.();
    }
    return delivered;
  }

  /** True when some subscriber's buffer (or the backlog) is full. */
  isFull(): boolean {
    if (this.subscribers.size === 0) return this.backlog.length >= this.capacity;
    for (const s of this.subscribers) if (s.queue.length >= this.capacity) return true;
    return false;
  }

  /** The longest buffer right now. */
  depth(): number {
    let max = this.subscribers.size === 0 ? this.backlog.length : 0;
    for (const s of this.subscribers) max = Math.max(max, s.queue.length);
    return max;
  }

  /** Number of active subscribers. */
  subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Events as an async iterable; one subscription per iteration. */
  watch(options: PlegWatchOptions = {}): AsyncIterable<PodLifecycleEvent> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<PodLifecycleEvent> => {
        const { signal } = options;
        const sub = this.add();
        const onAbort = (): void => this.remove(sub);
        if (signal?.aborted) this.remove(sub);
        else signal?.addEventListener('abort', onAbort, { once: true });
        const done = (): IteratorResult<PodLifecycleEvent> => {
          signal?.removeEventListener('abort', onAbort);
          return { done: true, value: undefined };
        };
        return {
          next: async (): Promise<IteratorResult<PodLifecycleEvent>> => {
            for (;;) {
              const event = sub.queue.shift();
              if (event) return { done: false, value: event };
              if (sub.closed) return done();
              await new Promise<void>((resolve) => {
                sub.wake = resolve;
              });
            }
          },
          return: (): Promise<IteratorResult<PodLifecycleEvent>> => {
            this.remove(sub);
            return Promise.resolve(done());
          },
        };
      },
    };
  }

  /** Calls `listener` for each event in order, awaiting it; returns the unsubscribe function. */
  subscribe(listener: (event: PodLifecycleEvent) => void | Promise<void>): () => void {
    const sub = this.add();
    const pump = async (): Promise<void> => {
      for (;;) {
        const event = sub.queue.shift();
        if (!event) {
          if (sub.closed) return;
          await new Promise<void>((resolve) => {
            sub.wake = resolve;
          });
          continue;
        }
        try {
          await listener(event);
        } catch (err) {
          this.logger.error('PLEG event listener failed', { err, podUID: event.podUid });
        }
      }
    };
    void pump();
    return () => this.remove(sub);
  }

  /** Ends every subscription (pending events are still delivered to iterations). */
  close(): void {
    for (const s of [...this.subscribers]) this.remove(s, false);
  }

  private add(): Subscriber {
    const sub: Subscriber = { queue: [], wake: undefined, closed: false };
    if (this.subscribers.size === 0 && this.backlog.length > 0) {
      sub.queue = this.backlog;
      this.backlog = [];
    }
    this.subscribers.add(sub);
    return sub;
  }

  private remove(sub: Subscriber, dropQueue = true): void {
    this.subscribers.delete(sub);
    sub.closed = true;
    if (dropQueue) sub.queue = [];
    const wake = sub.wake;
    sub.wake = undefined;
    wake?.();
  }

  private discard(event: PodLifecycleEvent): void {
    this.onDiscard();
    this.logger.error('Event channel is full, discard this relist() cycle event', {
      podUID: event.podUid,
      type: event.type,
      containerID: event.containerId,
    });
  }
}
