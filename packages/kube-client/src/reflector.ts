import type { ConfigurationOptions } from '@kubernetes/client-node';
import {
  mathRandom,
  noopLogger,
  type Clock,
  type Logger,
  type Random,
  type Timer,
} from '@nodeagent/core';
import { apiFailureOf, isResourceExpired, rawApiCall, type ApiFailure } from './api-call.js';
import type { KubeApi } from './kube-api.js';

/** The metadata a reflector needs from an object. */
export interface KubeObject {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    resourceVersion?: string;
  };
}

/** Options of one list page request. */
export interface ListPageOptions {
  /** Page size (`limit`). */
  limit: number;
  /** The `continue` token of the previous page; never sent together with `resourceVersion`. */
  continue?: string;
  /** `resourceVersion` of the first page (`"0"`: any cached version; unset: a consistent, most recent read). */
  resourceVersion?: string;
}

/** One page of a list response. */
export interface ListPage<T> {
  items: T[];
  /** The list's `metadata.resourceVersion`. */
  resourceVersion: string;
  /** `metadata.continue`; undefined or '' on the last page. */
  continue: string | undefined;
}

/** Options of a watch request. */
export interface WatchRequestOptions {
  /** Start after this resourceVersion. */
  resourceVersion: string;
  /** Server-side timeout of the watch (`timeoutSeconds`). */
  timeoutSeconds: number;
}

/**
 * How a {@link Reflector} lists and watches one collection (client-go
 * `cache.ListerWatcher`). {@link createApiListerWatcher} builds one over a KubeApi.
 */
export interface ListerWatcher<T> {
  /** What is listed, for logs and health messages, e.g. `pods (spec.nodeName=n1)`. */
  readonly description: string;
  list(options: ListPageOptions, signal: AbortSignal): Promise<ListPage<T>>;
  /**
   * Starts a watch with `allowWatchBookmarks=true`; resolves with the controller that
   * ends it. `onEvent` gets each event's type and raw object; `onDone` is called
   * once when the watch ends (with the error, or null for a clean close).
   */
  watch(
    options: WatchRequestOptions,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<AbortController>;
}

/** Query parameters of a typed client-node list call. */
export interface ListCallParams {
  fieldSelector?: string;
  labelSelector?: string;
  limit?: number;
  _continue?: string;
  resourceVersion?: string;
}

/** What {@link createApiListerWatcher} lists and watches. */
export interface ApiCollection {
  /** For logs, e.g. `pods (spec.nodeName=n1)`. */
  description: string;
  /** Collection path for the watch, e.g. `/api/v1/pods`, `/api/v1/namespaces/ns/configmaps`. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  /** The typed list call of the same collection, e.g. `(p, o) => api.core.listPodForAllNamespaces(p, o)`. */
  list: (params: ListCallParams, options: ConfigurationOptions) => Promise<unknown>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A {@link ListerWatcher} over a {@link KubeApi}: lists through the typed client
 * (rate-limited, raw JSON kept) and watches through `KubeApi.startWatch`.
 */
export function createApiListerWatcher<T>(api: KubeApi, c: ApiCollection): ListerWatcher<T> {
  const selectors = {
    ...(c.fieldSelector !== undefined ? { fieldSelector: c.fieldSelector } : {}),
    ...(c.labelSelector !== undefined ? { labelSelector: c.labelSelector } : {}),
  };
  return {
    description: c.description,
    async list(options, signal) {
      // The typed client takes its rate-limit token in the KubeApi middleware.
      const params: ListCallParams = {
        ...selectors,
        limit: options.limit,
        ...(options.continue !== undefined ? { _continue: options.continue } : {}),
        ...(options.resourceVersion !== undefined
          ? { resourceVersion: options.resourceVersion }
          : {}),
      };
      const raw = await rawApiCall((o) => c.list(params, o), signal);
      if (!isRecord(raw) || !Array.isArray(raw.items))
        throw new Error('list response has no items');
      const meta = isRecord(raw.metadata) ? raw.metadata : {};
      return {
        items: raw.items as T[],
        resourceVersion: typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '',
        continue:
          typeof meta.continue === 'string' && meta.continue !== '' ? meta.continue : undefined,
      };
    },
    watch(options, onEvent, onDone) {
      return api.startWatch(
        c.path,
        {
          ...selectors,
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: options.timeoutSeconds,
        },
        onEvent,
        onDone,
      );
    },
  };
}

/** Callbacks of a {@link Reflector} (client-go `ResourceEventHandler`, plus sync and error). */
export interface ReflectorEventHandler<T> {
  /** An object appeared (new UID). */
  onAdd?(object: T): void;
  /** An object's resourceVersion changed. */
  onUpdate?(oldObject: T, newObject: T): void;
  /** An object went away (its last known state; after a relist, the stored one). */
  onDelete?(object: T): void;
  /** A (re)list was applied to the store; the store is complete as of {@link Reflector.lastSyncResourceVersion}. */
  onSync?(): void;
  /** A list or watch failed; the reflector retries after a back-off. */
  onError?(failure: ApiFailure): void;
}

/** Health of a reflector. */
export interface ReflectorHealth {
  ok: boolean;
  message: string;
}

/** client-go reflector back-off: 800 ms initial. */
export const defaultReflectorInitialBackoffMs = 800;
/** A watch that ends sooner than this without any event backs off (client-go "very short watch"). */
const shortWatchMs = 1_000;
/** client-go reflector back-off cap (before jitter): 30 s. */
export const defaultReflectorMaxBackoffMs = 30_000;
/** client-go: the back-off starts over after 2 minutes without a failure. */
export const defaultReflectorBackoffResetMs = 120_000;
/** client-go `minWatchTimeout`: watches ask for a server timeout in [5, 10) minutes. */
export const defaultMinWatchTimeoutSeconds = 300;
/** client-go pager page size. */
export const defaultReflectorPageSize = 500;
/**
 * A watch that has delivered nothing (no event, no BOOKMARK) for this long is
 * considered half-dead and restarted: 150 s, 2.5× the API server's bookmark
 * cadence of about a minute, so a healthy but idle watch is never cut.
 */
export const defaultWatchSilenceTimeoutMs = 150_000;
/** A list with no answer after 60 s is aborted and retried. */
export const defaultListTimeoutMs = 60_000;
/**
 * A reflector failing for longer than 3 minutes (the kubelet's PLEG relist
 * threshold) reports unhealthy; a restarted, idle watch proves itself within one
 * bookmark interval (~1 min).
 */
export const defaultReflectorUnhealthyAfterMs = 180_000;

/** Options of {@link Reflector}. */
export interface ReflectorOptions<T> {
  listerWatcher: ListerWatcher<T>;
  clock: Clock;
  /** Jitter source; default `Math.random`. */
  random?: Random;
  logger?: Logger;
  /** List page size (`limit`); default 500. */
  pageSize?: number;
  /** Watch `timeoutSeconds` is drawn from [min, 2·min); default 300 (5–10 min). */
  minWatchTimeoutSeconds?: number;
  /** Restart a watch silent for this long (ms); default {@link defaultWatchSilenceTimeoutMs}. */
  silenceTimeoutMs?: number;
  /** Abort a list after this long (ms); default 60 000. */
  listTimeoutMs?: number;
  /** First back-off delay (ms, before jitter); default 800. */
  initialBackoffMs?: number;
  /** Largest back-off delay before jitter (ms); default 30 000. Jitter adds up to 100 %. */
  maxBackoffMs?: number;
  /** Start the back-off over after this long without a failure (ms); default 120 000. */
  backoffResetMs?: number;
  /** Report unhealthy after failing for this long (ms); default 180 000. */
  unhealthyAfterMs?: number;
}

const watchClosedFailure: ApiFailure = {
  code: undefined,
  reason: undefined,
  message: 'watch closed by the server',
  retryAfterSeconds: undefined,
};

/**
 * Keeps a local copy of one collection in step with the API server (client-go
 * `cache.Reflector`, hardened): lists in pages, then watches from the list's
 * resourceVersion with bookmarks and a randomized server timeout. Every failure —
 * list error, watch start error, closed or dropped watch, ERROR event, a watch
 * silent for longer than `silenceTimeoutMs` — restarts it after a jittered
 * exponential back-off; it resumes the watch from the last seen resourceVersion
 * (bookmarks advance it) and relists only on `410 Gone`. Objects are keyed by UID,
 * so an object deleted and recreated under the same name is a delete and an add.
 * A relist is diffed against the store into adds, updates and deletes.
 */
export class Reflector<T extends KubeObject> {
  private readonly lw: ListerWatcher<T>;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly logger: Logger;
  private readonly pageSize: number;
  private readonly minWatchTimeoutSeconds: number;
  private readonly silenceTimeoutMs: number;
  private readonly listTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly backoffResetMs: number;
  private readonly unhealthyAfterMs: number;

  private readonly store = new Map<string, T>();
  private readonly handlers = new Set<ReflectorEventHandler<T>>();
  private state: 'new' | 'running' | 'stopped' = 'new';
  /** Generation of the current list or watch; callbacks of older ones are ignored. */
  private attempt = 0;
  private needRelist = true;
  private resourceVersionUnavailable = false;
  private lastRv = '';
  private synced = false;
  private backoffTimer: Timer | undefined;
  private silenceTimer: Timer | undefined;
  private listTimer: Timer | undefined;
  private listController: AbortController | undefined;
  private watchController: AbortController | undefined;
  private lastActivity = 0;
  private backoffSteps = 0;
  private watchStartedAt = 0;
  private watchEvents = 0;
  private lastBackoffAt: number | undefined;
  private failingSince: number | undefined;
  private lastError: string | undefined;
  private counts = { lists: 0, watches: 0, failures: 0, resumes: 0 };

  constructor(options: ReflectorOptions<T>) {
    this.lw = options.listerWatcher;
    this.clock = options.clock;
    this.random = options.random ?? mathRandom;
    this.logger = (options.logger ?? noopLogger).child({
      component: 'reflector',
      resource: options.listerWatcher.description,
    });
    this.pageSize = options.pageSize ?? defaultReflectorPageSize;
    this.minWatchTimeoutSeconds = options.minWatchTimeoutSeconds ?? defaultMinWatchTimeoutSeconds;
    this.silenceTimeoutMs = options.silenceTimeoutMs ?? defaultWatchSilenceTimeoutMs;
    this.listTimeoutMs = options.listTimeoutMs ?? defaultListTimeoutMs;
    this.initialBackoffMs = options.initialBackoffMs ?? defaultReflectorInitialBackoffMs;
    this.maxBackoffMs = options.maxBackoffMs ?? defaultReflectorMaxBackoffMs;
    this.backoffResetMs = options.backoffResetMs ?? defaultReflectorBackoffResetMs;
    this.unhealthyAfterMs = options.unhealthyAfterMs ?? defaultReflectorUnhealthyAfterMs;
  }

  /** Adds event callbacks; returns the function that removes them. */
  addEventHandler(handler: ReflectorEventHandler<T>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Starts listing and watching (idempotent; a stopped reflector stays stopped). */
  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    this.failingSince = undefined;
    this.run();
  }

  /** Stops: aborts the list or watch in flight and cancels every timer. */
  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.abortCurrent();
    this.backoffTimer?.cancel();
    this.backoffTimer = undefined;
  }

  /** True once a list has been applied (client-go `HasSynced`). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion of the last list, event or bookmark seen ('' before the first list). */
  get lastSyncResourceVersion(): string {
    return this.lastRv;
  }

  /** Lists, watches and failures so far (for tests and metrics). */
  get stats(): {
    readonly lists: number;
    readonly watches: number;
    readonly failures: number;
    readonly resumes: number;
  } {
    return { ...this.counts };
  }

  /** The stored objects, in no particular order. */
  list(): T[] {
    return [...this.store.values()];
  }

  /** The stored object with this UID. */
  getByUid(uid: string): T | undefined {
    return this.store.get(uid);
  }

  /** The stored object `namespace/name` (the newest if, briefly, two UIDs share it). */
  getByName(namespace: string, name: string): T | undefined {
    let found: T | undefined;
    for (const o of this.store.values()) {
      if ((o.metadata?.namespace ?? '') === namespace && o.metadata?.name === name) found = o;
    }
    return found;
  }

  /**
   * Unhealthy when the reflector has been failing (no successful list and no watch
   * event or bookmark) for longer than `unhealthyAfterMs`; the message carries the
   * last error.
   */
  healthy(): ReflectorHealth {
    const what = this.lw.description;
    if (this.state === 'new') return { ok: false, message: `${what}: not started` };
    if (this.state === 'stopped') return { ok: false, message: `${what}: stopped` };
    if (this.failingSince !== undefined) {
      const failingMs = this.clock.monotonicNow() - this.failingSince;
      const detail = `${what}: failing for ${Math.round(failingMs / 1000)}s, last error: ${this.lastError ?? 'unknown'}`;
      return { ok: failingMs <= this.unhealthyAfterMs, message: detail };
    }
    return {
      ok: true,
      message: this.synced
        ? `${what}: watching from resourceVersion ${this.lastRv}`
        : `${what}: listing`,
    };
  }

  private run(): void {
    if (this.state !== 'running') return;
    if (this.needRelist) void this.listAndWatch();
    else this.watch();
  }

  private abortCurrent(): void {
    this.attempt++;
    this.silenceTimer?.cancel();
    this.silenceTimer = undefined;
    this.listTimer?.cancel();
    this.listTimer = undefined;
    this.listController?.abort(new Error('reflector restarted'));
    this.listController = undefined;
    this.watchController?.abort();
    this.watchController = undefined;
  }

  private async listAndWatch(): Promise<void> {
    const gen = ++this.attempt;
    this.counts.lists++;
    const controller = new AbortController();
    this.listController = controller;
    let timedOut = false;
    this.listTimer = this.clock.setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`list timed out after ${this.listTimeoutMs} ms`));
    }, this.listTimeoutMs);
    // client-go relistResourceVersion: "0" (cache) for the first list, the last
    // version seen afterwards, "" (consistent read) after that version expired.
    const firstRv = this.resourceVersionUnavailable
      ? undefined
      : this.lastRv === ''
        ? '0'
        : this.lastRv;
    const items: T[] = [];
    let rv = '';
    try {
      let cont: string | undefined;
      do {
        const page = await this.lw.list(
          {
            limit: this.pageSize,
            ...(cont !== undefined
              ? { continue: cont }
              : firstRv !== undefined
                ? { resourceVersion: firstRv }
                : {}),
          },
          controller.signal,
        );
        if (gen !== this.attempt) return;
        for (const item of page.items) items.push(item);
        rv = page.resourceVersion;
        cont = page.continue;
      } while (cont !== undefined);
    } catch (err) {
      if (gen !== this.attempt) return;
      const failure = timedOut
        ? {
            ...apiFailureOf(err),
            message: `list timed out after ${this.listTimeoutMs} ms`,
          }
        : apiFailureOf(err);
      // A 410 on a list (expired continue token or version): list the latest instead.
      if (isResourceExpired(failure)) this.resourceVersionUnavailable = true;
      this.fail(failure, 'list');
      return;
    }
    this.listTimer?.cancel();
    this.listTimer = undefined;
    this.listController = undefined;
    this.replace(items);
    this.lastRv = rv;
    this.needRelist = false;
    this.resourceVersionUnavailable = false;
    this.synced = true;
    this.recovered();
    for (const h of this.handlers) h.onSync?.();
    if (gen !== this.attempt || this.state !== 'running') return;
    this.watch();
  }

  private watch(): void {
    const gen = ++this.attempt;
    this.counts.watches++;
    this.lastActivity = this.clock.monotonicNow();
    this.watchStartedAt = this.lastActivity;
    this.watchEvents = 0;
    this.armSilence(gen, this.silenceTimeoutMs);
    const timeoutSeconds = Math.floor(this.minWatchTimeoutSeconds * (1 + this.random.float()));
    this.lw
      .watch(
        { resourceVersion: this.lastRv, timeoutSeconds },
        (type, object) => this.onWatchEvent(gen, type, object),
        (err) => {
          if (gen !== this.attempt) return;
          const failure =
            err === null || err === undefined ? watchClosedFailure : apiFailureOf(err);
          // client-go's reflector: a watch that ended (closed by the server or the
          // connection dropped) after it ran a while or delivered events is resumed at
          // once from the last resourceVersion; only errors and very short watches
          // back off.
          const ranMs = this.clock.monotonicNow() - this.watchStartedAt;
          if (failure.code === undefined && (this.watchEvents > 0 || ranMs >= shortWatchMs)) {
            this.resumeWatch(failure);
            return;
          }
          this.fail(failure, 'watch');
        },
      )
      .then(
        (controller) => {
          if (gen !== this.attempt || this.state !== 'running') controller.abort();
          else this.watchController = controller;
        },
        (err: unknown) => {
          if (gen === this.attempt) this.fail(apiFailureOf(err), 'watch');
        },
      );
  }

  private armSilence(gen: number, delayMs: number): void {
    this.silenceTimer = this.clock.setTimeout(() => {
      this.silenceTimer = undefined;
      if (gen !== this.attempt) return;
      const idle = this.clock.monotonicNow() - this.lastActivity;
      if (idle >= this.silenceTimeoutMs) {
        this.fail(
          {
            code: undefined,
            reason: undefined,
            message: `watch silent for ${Math.round(idle / 1000)}s (no event and no bookmark)`,
            retryAfterSeconds: undefined,
          },
          'watch',
        );
      } else {
        this.armSilence(gen, this.silenceTimeoutMs - idle);
      }
    }, delayMs);
  }

  /** Starts a new watch right away after one that ended normally. */
  private resumeWatch(failure: ApiFailure): void {
    if (this.state !== 'running') return;
    this.abortCurrent();
    this.counts.resumes++;
    this.logger.debug('Watch ended; resuming', {
      error: failure.message,
      resourceVersion: this.lastRv,
    });
    this.backoffTimer = this.clock.setTimeout(() => {
      this.backoffTimer = undefined;
      this.run();
    }, 0);
  }

  private onWatchEvent(gen: number, type: string, object: unknown): void {
    if (gen !== this.attempt) return;
    this.lastActivity = this.clock.monotonicNow();
    this.watchEvents++;
    if (type === 'ERROR') {
      this.fail(apiFailureOf(object), 'watch');
      return;
    }
    if (!isRecord(object) || !isRecord(object.metadata)) {
      this.logger.warn('Ignoring a watch event without metadata', { type });
      return;
    }
    const obj = object as T;
    switch (type) {
      case 'ADDED':
      case 'MODIFIED':
        this.upsert(obj);
        break;
      case 'DELETED':
        this.remove(obj);
        break;
      case 'BOOKMARK':
        break;
      default:
        this.logger.warn('Ignoring a watch event of unknown type', { type });
        return;
    }
    const rv = obj.metadata?.resourceVersion;
    if (rv !== undefined && rv !== '') this.lastRv = rv;
    this.recovered();
  }

  private recovered(): void {
    if (this.failingSince !== undefined) {
      this.logger.info('Reflector recovered', { lastError: this.lastError });
    }
    this.failingSince = undefined;
  }

  private fail(failure: ApiFailure, during: 'list' | 'watch'): void {
    if (this.state !== 'running') return;
    this.abortCurrent();
    this.counts.failures++;
    if (during === 'watch' && isResourceExpired(failure)) this.needRelist = true;
    const now = this.clock.monotonicNow();
    this.failingSince ??= now;
    this.lastError = failure.message;
    if (this.lastBackoffAt !== undefined && now - this.lastBackoffAt > this.backoffResetMs) {
      this.backoffSteps = 0;
    }
    this.lastBackoffAt = now;
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** this.backoffSteps);
    if (base < this.maxBackoffMs) this.backoffSteps++;
    let delayMs = base * (1 + this.random.float());
    if (failure.retryAfterSeconds !== undefined) {
      delayMs = Math.max(delayMs, failure.retryAfterSeconds * 1000);
    }
    const fields = {
      during,
      error: failure.message,
      relist: this.needRelist,
      retryInMs: Math.round(delayMs),
    };
    if (failure === watchClosedFailure) this.logger.debug('Watch closed; restarting', fields);
    else this.logger.warn('List/watch failed; retrying', fields);
    for (const h of this.handlers) h.onError?.(failure);
    if (this.state !== 'running') return;
    this.backoffTimer = this.clock.setTimeout(() => {
      this.backoffTimer = undefined;
      this.run();
    }, delayMs);
  }

  private replace(items: readonly T[]): void {
    const fresh = new Map<string, T>();
    for (const item of items) fresh.set(keyOf(item), item);
    const deleted: T[] = [];
    for (const [key, old] of this.store) {
      if (!fresh.has(key)) {
        this.store.delete(key);
        deleted.push(old);
      }
    }
    for (const old of deleted) for (const h of this.handlers) h.onDelete?.(old);
    for (const [key, obj] of fresh) this.upsert(obj, key);
  }

  private upsert(obj: T, key = keyOf(obj)): void {
    const old = this.store.get(key);
    if (old !== undefined && old.metadata?.resourceVersion === obj.metadata?.resourceVersion) {
      return;
    }
    this.store.set(key, obj);
    if (old === undefined) for (const h of this.handlers) h.onAdd?.(obj);
    else for (const h of this.handlers) h.onUpdate?.(old, obj);
  }

  private remove(obj: T): void {
    const key = keyOf(obj);
    if (!this.store.delete(key)) return;
    for (const h of this.handlers) h.onDelete?.(obj);
  }
}

/** The store key: the UID (names are reused by recreated objects); `namespace/name` if there is none. */
function keyOf(obj: KubeObject): string {
  const uid = obj.metadata?.uid;
  if (uid !== undefined && uid !== '') return uid;
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}
