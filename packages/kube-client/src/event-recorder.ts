import {
  ApiException,
  Observable,
  type CoreV1Event,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import {
  CancelledError,
  RealClock,
  mathRandom,
  noopLogger,
  noopMetrics,
  type Clock,
  type Counter,
  type EventRecorder,
  type EventType,
  type Logger,
  type MetricsRegistry,
  type Random,
  type Timer,
  type k8s,
} from '@nodeagent/core';
import {
  EventCorrelator,
  formatKubeTime,
  uniqueEventName,
  type CoreEvent,
  type EventCorrelation,
  type EventCorrelatorOptions,
} from './event-correlator.js';
import type { KubeApi } from './kube-api.js';
import { TokenBucketRateLimiter } from './rate-limiter.js';

/** Kubelet `eventRecordQPS` default: event writes per second. */
export const defaultEventRecordQps = 50;
/** Kubelet `eventBurst` default: event writes allowed at once above the rate. */
export const defaultEventBurst = 100;
/** client-go `maxQueuedEvents`: events waiting to be written before new ones are dropped. */
export const defaultEventQueueSize = 1000;
/** client-go `maxTriesPerEvent`: write attempts per event before it is dropped. */
export const maxTriesPerEvent = 12;
/** client-go `defaultSleepDuration` (10 s): pause between write attempts, in ms. */
export const defaultEventRetrySleepMs = 10_000;
/** How long {@link ApiEventRecorder.stop} keeps writing queued events, in ms. */
export const defaultEventFlushTimeoutMs = 5_000;

/** Options of {@link ApiEventRecorder}. */
export interface ApiEventRecorderOptions {
  /** The API clients; events are written through `api.core` (its own `kubeAPIQPS` limit applies too). */
  api: KubeApi;
  /** The node's name: `source.host` and `reportingInstance` of every event. */
  nodeName: string;
  /** `source.component` and `reportingComponent`; default `kubelet`. */
  component?: string;
  /**
   * Event writes (creates and patches) per second, kubelet `eventRecordQPS`; default
   * 50. `0` means no limit, as the KubeletConfiguration documents ("If 0, there is no
   * limit enforced"; kubernetes/kubernetes#117101 is the client-go quirk that once
   * made 0 mean 5).
   */
  eventRecordQps?: number;
  /** Kubelet `eventBurst`; default 100. Only used when `eventRecordQps` > 0. */
  eventBurst?: number;
  /** Events waiting to be written before new ones are dropped (client-go 1000). */
  queueSize?: number;
  /** Write attempts per event (client-go `maxTriesPerEvent`, 12). */
  maxTries?: number;
  /** Pause between attempts in ms (client-go 10 s; the first pause is a random fraction of it). */
  retrySleepMs?: number;
  /** How long `stop()` keeps writing queued events before dropping the rest, ms; default 5000. */
  flushTimeoutMs?: number;
  /** Spam filter / aggregation / dedup settings (client-go defaults). */
  correlator?: Omit<EventCorrelatorOptions, 'clock'>;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  metrics?: MetricsRegistry;
}

/** What happened to recorded events so far (also exported as metrics). */
export interface EventRecorderStats {
  /** New Event objects created on the API server. */
  created: number;
  /** Existing Events whose count was patched (dedup and aggregation). */
  patched: number;
  /** Skipped by the per-object spam filter. */
  spamFiltered: number;
  /** Dropped because the queue was full. */
  droppedQueueFull: number;
  /** Dropped after `maxTries` failed attempts. */
  droppedAfterRetries: number;
  /** Rejected by the API server with a permanent error (400, 403, 422…), or already existing. */
  rejected: number;
  /** Dropped because the recorder was stopped (not written within the flush timeout, or recorded after stop). */
  droppedAtStop: number;
  /** Events waiting now. */
  queued: number;
}

type WriteOutcome = 'done' | 'retry';

const strategicMergePatch = 'application/strategic-merge-patch+json';

/** The smallest CoreV1Event model; the request body is replaced by the exact JSON. */
const placeholderEvent: CoreV1Event = { metadata: {}, involvedObject: {} };

/** The reference the kubelet uses for events about its Node: uid = node name, no namespace. */
export function nodeReference(nodeName: string): k8s.ObjectReference {
  return { kind: 'Node', name: nodeName, uid: nodeName, namespace: '' };
}

/**
 * The kubelet's event recorder writing core/v1 Events to the API server (client-go
 * `record.EventBroadcaster` + `StartRecordingToSink`). `event()` never blocks or
 * throws: it stamps the event (`firstTimestamp` = `lastTimestamp` = now, count 1,
 * name `<object>.<hex>`, namespace of the object or `default` for cluster-scoped
 * objects such as the Node; `eventTime` stays unset as with the kubelet's core/v1
 * events) and queues it (at most 1000; further events are dropped and counted). One
 * worker takes events in order through the {@link EventCorrelator} (spam filter 25
 * per object then one per 5 min, aggregation after 10 similar, dedup into PATCHes of
 * `count`/`lastTimestamp`), waits for the `eventRecordQPS`/`eventBurst` limiter and
 * writes. Transport errors, 429 and 5xx are retried up to 12 times, 10 s apart
 * (the first pause randomised), then the event is dropped and logged; other API
 * errors drop it at once (client-go does not retry a rejected event); a PATCH of an
 * Event that is gone becomes a create.
 */
export class ApiEventRecorder implements EventRecorder {
  private readonly api: KubeApi;
  private readonly nodeName: string;
  private readonly component: string;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly correlator: EventCorrelator;
  private readonly limiter: TokenBucketRateLimiter;
  private readonly queueSize: number;
  private readonly maxTries: number;
  private readonly retrySleepMs: number;
  private readonly flushTimeoutMs: number;
  private readonly results: Counter;
  private readonly queue: CoreEvent[] = [];
  private readonly counts: Omit<EventRecorderStats, 'queued'> = {
    created: 0,
    patched: 0,
    spamFiltered: 0,
    droppedQueueFull: 0,
    droppedAfterRetries: 0,
    rejected: 0,
    droppedAtStop: 0,
  };
  /** Aborted when the flush deadline passes: ends limiter waits and requests in flight. */
  private readonly abort = new AbortController();
  /** Aborted as soon as stop() is called: ends retry pauses (client-go's cancelation context). */
  private readonly pauses = new AbortController();
  private wake: (() => void) | undefined;
  private worker: Promise<void> | undefined;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(options: ApiEventRecorderOptions) {
    this.api = options.api;
    this.nodeName = options.nodeName;
    this.component = options.component ?? 'kubelet';
    this.clock = options.clock ?? new RealClock();
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({ component: 'event-recorder' });
    this.correlator = new EventCorrelator({ ...options.correlator, clock: this.clock });
    this.limiter = new TokenBucketRateLimiter(
      this.clock,
      options.eventRecordQps ?? defaultEventRecordQps,
      options.eventBurst ?? defaultEventBurst,
    );
    this.queueSize = options.queueSize ?? defaultEventQueueSize;
    this.maxTries = Math.max(1, options.maxTries ?? maxTriesPerEvent);
    this.retrySleepMs = options.retrySleepMs ?? defaultEventRetrySleepMs;
    this.flushTimeoutMs = options.flushTimeoutMs ?? defaultEventFlushTimeoutMs;
    this.results = (options.metrics ?? noopMetrics).counter({
      name: 'nodeagent_event_recorder_events_total',
      help: 'Events handled by the API event recorder, by result (created, patched, spam_filtered, queue_full, retries_exhausted, rejected, stopped).',
      labelNames: ['result'],
    });
  }

  /** The kubelet's reference to its own Node (kind Node, uid = node name). */
  static nodeReference(nodeName: string): k8s.ObjectReference {
    return nodeReference(nodeName);
  }

  /** Records an event about this recorder's Node (`NodeReady`, `Starting`, `Rebooted`…). */
  nodeEvent(type: EventType, reason: string, message: string): void {
    this.event(nodeReference(this.nodeName), type, reason, message);
  }

  /** Queues an event; never throws, never blocks (client-go `Event`). */
  event(object: k8s.ObjectReference, type: EventType, reason: string, message: string): void {
    try {
      if (this.state === 'stopping' || this.state === 'stopped') {
        this.count('droppedAtStop', 'stopped');
        return;
      }
      if (this.queue.length >= this.queueSize) {
        this.count('droppedQueueFull', 'queue_full');
        this.logger.warn('Event queue full, dropping event', {
          reason,
          object: object.name,
          queueSize: this.queueSize,
        });
        return;
      }
      const nowMs = this.clock.now();
      const now = formatKubeTime(nowMs);
      const name = object.name ?? '';
      this.queue.push({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          name: uniqueEventName(name, nowMs),
          namespace: object.namespace || 'default',
        },
        involvedObject: { ...object },
        reason,
        message,
        type,
        source: { component: this.component, host: this.nodeName },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        reportingComponent: this.component,
        reportingInstance: this.nodeName,
      });
      this.wake?.();
    } catch (err) {
      this.logger.error('Could not queue event', { reason, error: String(err) });
    }
  }

  /** Starts the writer. Idempotent. */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.worker = this.run();
  }

  /**
   * Stops taking events, writes what is queued (one attempt each, no retry pauses)
   * for at most `flushTimeoutMs`, drops the rest, and resolves when nothing is left
   * running: no timers, no requests in flight.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') {
      await this.worker;
      return;
    }
    const started = this.state === 'running';
    this.state = 'stopping';
    this.pauses.abort(new CancelledError('event recorder stopped'));
    let deadline: Timer | undefined;
    if (started) {
      deadline = this.clock.setTimeout(
        () => this.abort.abort(new CancelledError('event recorder stopped')),
        this.flushTimeoutMs,
      );
      this.wake?.();
      await this.worker;
      deadline.cancel();
    }
    this.abort.abort(new CancelledError('event recorder stopped'));
    this.limiter.stop();
    const left = this.queue.splice(0).length;
    if (left > 0) {
      this.count('droppedAtStop', 'stopped', left);
      this.logger.warn('Event recorder stopped with events unwritten', { dropped: left });
    }
    this.state = 'stopped';
  }

  /** Counts of what happened to recorded events. */
  stats(): EventRecorderStats {
    return { ...this.counts, queued: this.queue.length };
  }

  private count(field: keyof typeof this.counts, result: string, n = 1): void {
    this.counts[field] += n;
    this.results.inc({ result }, n);
  }

  private async run(): Promise<void> {
    for (;;) {
      const next = this.queue.shift();
      if (next) {
        await this.process(next);
        continue;
      }
      if (this.state !== 'running') return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  private async process(event: CoreEvent): Promise<void> {
    let correlation: EventCorrelation;
    try {
      correlation = this.correlator.correlate(event);
    } catch (err) {
      this.logger.error('Event correlation failed', { reason: event.reason, error: String(err) });
      return;
    }
    if (correlation.action === 'skip') {
      this.count('spamFiltered', 'spam_filtered');
      this.logger.debug('Event filtered as spam', {
        reason: event.reason,
        object: event.involvedObject.name,
      });
      return;
    }
    const signal = this.abort.signal;
    for (let tries = 0; ;) {
      try {
        await this.limiter.acquire(signal);
      } catch {
        this.count('droppedAtStop', 'stopped');
        return;
      }
      if ((await this.write(correlation, signal)) === 'done') return;
      tries++;
      if (signal.aborted || this.state !== 'running') {
        this.count('droppedAtStop', 'stopped');
        return;
      }
      if (tries >= this.maxTries) {
        this.count('droppedAfterRetries', 'retries_exhausted');
        this.logger.error('Unable to write event (retry limit exceeded)', {
          reason: correlation.event.reason,
          object: correlation.event.involvedObject.name,
          tries,
        });
        return;
      }
      // Randomise the first pause so that agents do not retry in step after an outage.
      const delay = tries === 1 ? this.retrySleepMs * this.random.float() : this.retrySleepMs;
      try {
        await this.clock.sleep(delay, this.pauses.signal);
      } catch {
        this.count('droppedAtStop', 'stopped');
        return;
      }
      if (this.state !== 'running') {
        this.count('droppedAtStop', 'stopped');
        return;
      }
    }
  }

  private async write(
    correlation: Exclude<EventCorrelation, { action: 'skip' }>,
    signal: AbortSignal,
  ): Promise<WriteOutcome> {
    const event = correlation.event;
    /** Per-request options: abort on stop, the patch content type, the exact JSON body. */
    const requestOptions = (contentType: string | undefined, body: unknown) => ({
      middleware: [
        {
          pre: (ctx: RequestContext): Observable<RequestContext> => {
            ctx.setSignal(signal);
            if (contentType) ctx.setHeaderParam('Content-Type', contentType);
            // client-node would write timestamps with milliseconds; send metav1.Time as is.
            if (body !== undefined) ctx.setBody(JSON.stringify(body));
            return new Observable(Promise.resolve(ctx));
          },
          post: (rsp: ResponseContext): Observable<ResponseContext> =>
            new Observable(Promise.resolve(rsp)),
        },
      ],
      middlewareMergeStrategy: 'append' as const,
    });
    try {
      if (correlation.action === 'patch') {
        try {
          const saved = await this.api.core.patchNamespacedEvent(
            {
              name: event.metadata.name,
              namespace: event.metadata.namespace,
              body: correlation.patch,
            },
            requestOptions(strategicMergePatch, undefined),
          );
          this.saved(saved);
          this.count('patched', 'patched');
          return 'done';
        } catch (err) {
          // The Event may have been deleted (or expired by its TTL): create it anew.
          if (!(err instanceof ApiException) || err.code !== 404) throw err;
        }
      }
      const body: CoreEvent = {
        ...event,
        metadata: { name: event.metadata.name, namespace: event.metadata.namespace },
      };
      const saved = await this.api.core.createNamespacedEvent(
        {
          namespace: body.metadata.namespace,
          // The middleware sends `body` itself; client-node only needs a model to serialise.
          body: placeholderEvent,
        },
        requestOptions(undefined, body),
      );
      this.saved(saved);
      this.count('created', 'created');
      return 'done';
    } catch (err) {
      return this.classify(err, event);
    }
  }

  private saved(event: CoreV1Event): void {
    const name = event.metadata.name;
    if (!name) return;
    const kubeTime = (t: Date | undefined): string =>
      formatKubeTime(t instanceof Date ? t.getTime() : this.clock.now());
    const o = event.involvedObject;
    const involvedObject: k8s.ObjectReference = {};
    for (const key of ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'fieldPath'] as const) {
      const v = o[key];
      if (v !== undefined) involvedObject[key] = v;
    }
    this.correlator.updateState({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name,
        namespace: event.metadata.namespace ?? '',
        ...(event.metadata.resourceVersion !== undefined
          ? { resourceVersion: event.metadata.resourceVersion }
          : {}),
      },
      involvedObject,
      reason: event.reason ?? '',
      message: event.message ?? '',
      type: event.type ?? '',
      source: { component: event.source?.component ?? '', host: event.source?.host ?? '' },
      firstTimestamp: kubeTime(event.firstTimestamp),
      lastTimestamp: kubeTime(event.lastTimestamp),
      count: event.count ?? 1,
      reportingComponent: event.reportingComponent ?? '',
      reportingInstance: event.reportingInstance ?? '',
    });
  }

  private classify(err: unknown, event: CoreEvent): WriteOutcome {
    if (err instanceof ApiException) {
      const code = err.code;
      if (code === 429 || code >= 500) {
        this.logger.warn('Unable to write event (may retry)', { reason: event.reason, code });
        return 'retry';
      }
      // 409 AlreadyExists, 403 (e.g. namespace terminating), 400/422: the same request
      // would fail again, so client-go gives up at once.
      this.count('rejected', 'rejected');
      this.logger[code === 409 ? 'debug' : 'error']('Server rejected event (will not retry)', {
        reason: event.reason,
        object: event.involvedObject.name,
        code,
      });
      return 'done';
    }
    this.logger.warn('Unable to write event (may retry)', {
      reason: event.reason,
      error: err instanceof Error ? err.message : String(err),
    });
    return 'retry';
  }
}

/** Creates an {@link ApiEventRecorder} (not started). */
export function createApiEventRecorder(options: ApiEventRecorderOptions): ApiEventRecorder {
  return new ApiEventRecorder(options);
}
