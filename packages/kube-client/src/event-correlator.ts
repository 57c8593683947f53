import type { Clock, k8s } from '@nodeagent/core';

/**
 * A core/v1 Event in its JSON shape (timestamps as RFC 3339 strings), as the kubelet
 * writes it. Core has no Event type yet, so it is declared here.
 */
export interface CoreEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  involvedObject: k8s.ObjectReference;
  /** Short CamelCase reason (`Pulling`, `Unhealthy`, `BackOff`…). */
  reason: string;
  message: string;
  /** `Normal` or `Warning`. */
  type: string;
  /** Who reported it: component `kubelet`, host = node name. */
  source: { component: string; host: string };
  /** First occurrence (RFC 3339, seconds). */
  firstTimestamp: string;
  /** Latest occurrence (RFC 3339, seconds). */
  lastTimestamp: string;
  /** Occurrences folded into this object. */
  count: number;
  reportingComponent: string;
  reportingInstance: string;
}

/** client-go `maxLruCacheEntries`: entries kept by each of the correlator's caches. */
export const defaultEventCacheSize = 4096;
/** client-go `defaultAggregateMaxEvents`: similar events within the interval before they are combined. */
export const defaultAggregateMaxEvents = 10;
/** client-go `defaultAggregateIntervalInSeconds` (600 s), in ms. */
export const defaultAggregateIntervalMs = 600_000;
/** client-go `defaultSpamBurst`: events a source may send about one object at once. */
export const defaultSpamBurst = 25;
/** client-go `defaultSpamQPS`: refill of the per-object budget, one event every 5 minutes. */
export const defaultSpamQps = 1 / 300;
/** Message prefix of an aggregated event (client-go `EventAggregatorByReasonMessageFunc`). */
export const aggregatedEventMessagePrefix = '(combined from similar events): ';

/** Options of {@link EventCorrelator}; every default is client-go's. */
export interface EventCorrelatorOptions {
  clock: Clock;
  /** Entries per LRU cache (spam filter, aggregator, dedup log); default 4096. */
  cacheSize?: number;
  /** Spam filter bucket size per source+object; default 25. */
  spamBurst?: number;
  /** Spam filter refill per second; default 1/300. */
  spamQps?: number;
  /** Distinct messages of similar events before aggregation; default 10. */
  aggregateMaxEvents?: number;
  /** Quiet time after which similar events start a fresh aggregation window, ms; default 600 000. */
  aggregateIntervalMs?: number;
  /**
   * Builds a new event name at `nowMs` for an aggregated event; default
   * `<involvedObject.name>.<hex ms*1e6>` (client-go uses UnixNano).
   */
  eventName?: (involvedName: string, nowMs: number) => string;
}

/** What to do with one event (client-go `EventCorrelateResult`). */
export type EventCorrelation =
  | { action: 'skip' }
  | { action: 'create'; event: CoreEvent }
  | {
      action: 'patch';
      event: CoreEvent;
      /** Strategic merge patch for the existing object: `count`, `lastTimestamp`, `message`. */
      patch: { count: number; lastTimestamp: string; message: string };
    };

/** A least-recently-used map (groupcache `lru.Cache`). */
class LruCache<V> {
  private readonly map = new Map<string, V>();

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }

  get size(): number {
    return this.map.size;
  }
}

/** client-go's passive token bucket, refilled lazily from the clock at each call. */
class PassiveTokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly clock: Clock,
    private readonly qps: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
    this.lastMs = clock.monotonicNow();
  }

  tryAccept(): boolean {
    const now = this.clock.monotonicNow();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastMs) * this.qps) / 1000);
    this.lastMs = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

interface AggregateRecord {
  messages: Set<string>;
  lastMs: number;
}

interface EventLog {
  count: number;
  firstTimestamp: string;
  name: string;
  resourceVersion: string | undefined;
}

function refKey(e: CoreEvent, withFieldPath: boolean): string[] {
  const o = e.involvedObject;
  return [
    e.source.component,
    e.source.host,
    o.kind ?? '',
    o.namespace ?? '',
    o.name ?? '',
    ...(withFieldPath ? [o.fieldPath ?? ''] : []),
    o.uid ?? '',
    o.apiVersion ?? '',
  ];
}

/** client-go `getEventKey`: source, object (with fieldPath), type, reason, message. */
export function eventKey(e: CoreEvent): string {
  return [...refKey(e, true), e.type, e.reason, e.message].join('\u0000');
}

/** client-go `getSpamKey`: source and involved object. */
export function spamKey(e: CoreEvent): string {
  return refKey(e, false).join('\u0000');
}

/** client-go `EventAggregatorByReasonFunc`: source, object, type, reason, reporting controller/instance. */
export function aggregateKey(e: CoreEvent): string {
  return [...refKey(e, false), e.type, e.reason, e.reportingComponent, e.reportingInstance].join(
    '\u0000',
  );
}

/** Formats `ms` as a Kubernetes `metav1.Time` (RFC 3339, whole seconds, UTC). */
export function formatKubeTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

let nameSeq = 0;
/**
 * `<name>.<hex>` as client-go names events (`%v.%x` of UnixNano); the clock has
 * milliseconds, so a process-wide counter fills the nanoseconds to keep names unique.
 */
export function uniqueEventName(involvedName: string, nowMs: number): string {
  nameSeq = (nameSeq + 1) % 1_000_000;
  const nanos = BigInt(Math.floor(nowMs)) * 1_000_000n + BigInt(nameSeq);
  return `${involvedName}.${nanos.toString(16)}`;
}

/**
 * client-go's `EventCorrelator` (tools/record/events_cache.go): per event, in this
 * order, (1) aggregation — when a source reports the 10th distinct message of
 * otherwise similar events (same object, type, reason) within 10 minutes of the
 * previous one, the event becomes one aggregate event with the message
 * `(combined from similar events): <msg>`, counted on from then on; (2) dedup — an
 * event seen before (same key) becomes a strategic merge patch of the existing
 * Event's `count`, `lastTimestamp` and `message`; (3) spam filter — a token bucket
 * per source+object (burst 25, one more every 5 minutes) skips the rest. All three
 * caches are LRU with 4096 entries.
 */
export class EventCorrelator {
  private readonly clock: Clock;
  private readonly spamBurst: number;
  private readonly spamQps: number;
  private readonly aggregateMaxEvents: number;
  private readonly aggregateIntervalMs: number;
  private readonly eventName: (involvedName: string, nowMs: number) => string;
  private readonly spam: LruCache<PassiveTokenBucket>;
  private readonly aggregates: LruCache<AggregateRecord>;
  private readonly observations: LruCache<EventLog>;

  constructor(options: EventCorrelatorOptions) {
    const size = options.cacheSize ?? defaultEventCacheSize;
    this.clock = options.clock;
    this.spamBurst = options.spamBurst ?? defaultSpamBurst;
    this.spamQps = options.spamQps ?? defaultSpamQps;
    this.aggregateMaxEvents = options.aggregateMaxEvents ?? defaultAggregateMaxEvents;
    this.aggregateIntervalMs = options.aggregateIntervalMs ?? defaultAggregateIntervalMs;
    this.eventName = options.eventName ?? uniqueEventName;
    this.spam = new LruCache(size);
    this.aggregates = new LruCache(size);
    this.observations = new LruCache(size);
  }

  /** Decides what to write for `event` and updates the caches (client-go `EventCorrelate`). */
  correlate(event: CoreEvent): EventCorrelation {
    const [aggregated, key] = this.aggregate(event);
    const observed = this.observe(aggregated, key);
    if (!this.allow(observed.event)) return { action: 'skip' };
    return observed;
  }

  /**
   * Records the server's copy after a successful write, so later patches use its
   * name, count and resourceVersion (client-go `UpdateState`).
   */
  updateState(event: CoreEvent): void {
    this.observations.set(eventKey(event), {
      count: event.count,
      firstTimestamp: event.firstTimestamp,
      name: event.metadata.name,
      resourceVersion: event.metadata.resourceVersion,
    });
  }

  private aggregate(event: CoreEvent): [CoreEvent, string] {
    const nowMs = this.clock.now();
    const aKey = aggregateKey(event);
    let record = this.aggregates.get(aKey);
    if (!record || nowMs - record.lastMs > this.aggregateIntervalMs) {
      record = { messages: new Set(), lastMs: nowMs };
    }
    record.messages.add(event.message);
    record.lastMs = nowMs;
    this.aggregates.set(aKey, record);
    if (record.messages.size < this.aggregateMaxEvents) return [event, eventKey(event)];
    // Keep the set at its maximum (client-go pops an arbitrary member).
    const first = record.messages.values().next();
    if (!first.done) record.messages.delete(first.value);
    const now = formatKubeTime(nowMs);
    return [
      {
        ...event,
        metadata: {
          name: this.eventName(event.involvedObject.name ?? '', nowMs),
          namespace: event.metadata.namespace,
        },
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        message: aggregatedEventMessagePrefix + event.message,
      },
      aKey,
    ];
  }

  private observe(event: CoreEvent, key: string): Exclude<EventCorrelation, { action: 'skip' }> {
    const last = this.observations.get(key);
    if (last && last.count > 0) {
      const metadata: CoreEvent['metadata'] = {
        name: last.name,
        namespace: event.metadata.namespace,
        ...(last.resourceVersion !== undefined ? { resourceVersion: last.resourceVersion } : {}),
      };
      const patched: CoreEvent = {
        ...event,
        metadata,
        firstTimestamp: last.firstTimestamp,
        count: last.count + 1,
      };
      this.remember(key, patched);
      return {
        action: 'patch',
        event: patched,
        patch: {
          count: patched.count,
          lastTimestamp: patched.lastTimestamp,
          message: patched.message,
        },
      };
    }
    this.remember(key, event);
    return { action: 'create', event };
  }

  private remember(key: string, event: CoreEvent): void {
    this.observations.set(key, {
      count: event.count,
      firstTimestamp: event.firstTimestamp,
      name: event.metadata.name,
      resourceVersion: event.metadata.resourceVersion,
    });
  }

  private allow(event: CoreEvent): boolean {
    const key = spamKey(event);
    let bucket = this.spam.get(key);
    if (!bucket) bucket = new PassiveTokenBucket(this.clock, this.spamQps, this.spamBurst);
    const ok = bucket.tryAccept();
    this.spam.set(key, bucket);
    return ok;
  }
}
