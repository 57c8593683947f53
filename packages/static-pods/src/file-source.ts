import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import {
  noopLogger,
  PodSourceName,
  type Logger,
  type PodSource,
  type PodUpdate,
  type Timer,
} from '@nodeagent/core';
import { watch, type FSWatcher } from 'chokidar';
import { decodeStaticPods, MAX_CONFIG_LENGTH } from './decode.js';
import {
  keyPod,
  PodSetPublisher,
  type KeyedPod,
  type StaticPodSourceCommonOptions,
} from './pod-set-publisher.js';

/** How often the kubelet re-reads the whole manifest path (`fileCheckFrequency`), in ms. */
export const DEFAULT_FILE_CHECK_FREQUENCY_MS = 20_000;
/**
 * A watch event is followed, this long after, by one more read of the path, ms.
 * chokidar drops a second `change` of one file within 50 ms, so the read made for
 * the first event (a file truncated, not yet written) might be the last one before
 * the periodic re-read; the follow-up read catches the rest of the write.
 */
export const WATCH_SETTLE_MS = 200;
/** First wait before looking again for a manifest path that does not exist (file_linux.go `retryPeriod`), ms. */
export const WATCH_RETRY_PERIOD_MS = 1_000;
/** Longest wait between looks for a missing manifest path (file_linux.go `maxRetryPeriod`), ms. */
export const WATCH_MAX_RETRY_PERIOD_MS = 20_000;

/** Options of {@link createFileSource}. */
export interface FileSourceOptions extends StaticPodSourceCommonOptions {
  /**
   * The static pod path (kubelet `staticPodPath`): a directory whose files (not
   * subdirectories, not names starting with `.`) are pod manifests, or one manifest
   * file. It need not exist yet.
   */
  path: string;
  /** Period of the full re-read (kubelet `fileCheckFrequency`), ms. Default 20 000. */
  resyncPeriodMs?: number;
  /**
   * Watch the path with chokidar (inotify) for immediate updates. Default true; with
   * false only the periodic re-read finds changes.
   */
  watch?: boolean;
}

interface CachedManifest {
  /** Stat fingerprint: unchanged → the result is reused without reading the file. */
  fingerprint: string;
  /** Digest of the content (for error de-duplication). */
  digest: string;
  result: { ok: true; pod: KeyedPod } | { ok: false; reason: string; silent?: true };
}

function fingerprintOf(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

/**
 * The kubelet's file pod source (pkg/kubelet/config/file.go, file_linux.go): reads
 * every manifest of the static pod path, gives each pod its static identity, and
 * emits `SET` with all of them whenever the set changes. Changes are seen at once
 * through a chokidar watch, and in any case by the full re-read every
 * `resyncPeriodMs` (the kubelet's `fileCheckFrequency`, 20 s), so none is missed.
 *
 * A manifest that cannot be used (not YAML/JSON, not a v1 Pod, invalid, larger than
 * 10 MiB, a second pod of the same name) is reported with its file name and reason
 * and left out; the other pods are unaffected, and fixing the file brings its pod in
 * on the next event or re-read. An empty file is skipped without an error (a file
 * being written is empty for a moment). A missing path is an empty set, looked for
 * again after 1 s, doubling up to 20 s (file_linux.go's watch retry).
 */
export class StaticPodFileSource implements PodSource {
  readonly name: PodSourceName = PodSourceName.File;

  private readonly path: string;
  private readonly resyncPeriodMs: number;
  private readonly watchEnabled: boolean;
  private readonly logger: Logger;
  private readonly publisher: PodSetPublisher;
  private readonly cache = new Map<string, CachedManifest>();

  private running = false;
  private resyncTimer: Timer | undefined;
  private retryTimer: Timer | undefined;
  private settleTimer: Timer | undefined;
  private retryDelayMs = WATCH_RETRY_PERIOD_MS;
  private watcher: FSWatcher | undefined;
  /** `dev:ino` of the path the watcher watches, to notice a re-created directory. */
  private watchedIdentity: string | undefined;
  private watcherChange: Promise<void> = Promise.resolve();
  private reading: Promise<void> | undefined;
  private dirty = false;

  constructor(private readonly options: FileSourceOptions) {
    // A trailing separator would make `<dir>/` and `<dir>` two UIDs for one file.
    this.path = options.path.length > 1 ? options.path.replace(/[\\/]+$/, '') || sep : options.path;
    this.resyncPeriodMs = options.resyncPeriodMs ?? DEFAULT_FILE_CHECK_FREQUENCY_MS;
    this.watchEnabled = options.watch ?? true;
    this.logger = (options.logger ?? noopLogger).child({
      component: 'static-pods',
      source: 'file',
      path: this.path,
    });
    this.publisher = new PodSetPublisher('file', options, this.logger);
  }

  subscribe(listener: (update: PodUpdate) => void): () => void {
    return this.publisher.subscribe(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.logger.info('Watching static pod path');
    this.resyncTimer = this.options.clock.setInterval(
      () => this.requestRead(),
      this.resyncPeriodMs,
    );
    this.requestRead();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.resyncTimer?.cancel();
    this.resyncTimer = undefined;
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.settleTimer?.cancel();
    this.settleTimer = undefined;
    await this.reading;
    await this.setWatch(undefined);
  }

  /** Files currently rejected, with an error reported (for diagnostics and tests). */
  rejectedFiles(): string[] {
    return this.publisher.reportedFiles();
  }

  /**
   * Reads the path again now (coalesced: a read in progress is followed by exactly
   * one more). Resolves when the reads requested so far are done.
   */
  resync(): Promise<void> {
    this.requestRead();
    return this.reading ?? Promise.resolve();
  }

  private requestRead(): void {
    if (!this.running) return;
    if (this.reading !== undefined) {
      this.dirty = true;
      return;
    }
    this.reading = (async () => {
      do {
        this.dirty = false;
        try {
          await this.readAll();
        } catch (err) {
          this.logger.error('Unable to read static pod path', { err });
        }
      } while (this.dirty && this.running);
    })().finally(() => {
      this.reading = undefined;
    });
  }

  private async readAll(): Promise<void> {
    let stats: Stats;
    try {
      stats = await stat(this.path);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') throw err;
      if (!this.running) return;
      this.logger.debug('Static pod path does not exist, ignoring');
      this.forgetFilesExcept(new Set());
      this.scheduleRetry();
      this.publisher.publish([]);
      await this.setWatch(undefined);
      return;
    }
    this.retryDelayMs = WATCH_RETRY_PERIOD_MS;
    await this.setWatch(`${stats.dev}:${stats.ino}`);

    let pods: KeyedPod[];
    if (stats.isDirectory()) {
      pods = await this.readDirectory();
    } else if (stats.isFile()) {
      const pod = await this.readManifest(this.path, stats);
      pods = pod === undefined ? [] : [pod];
      this.forgetFilesExcept(new Set([this.path]));
    } else {
      this.logger.warn('Static pod path is not a directory or file');
      pods = [];
      this.forgetFilesExcept(new Set());
    }
    if (this.running) this.publisher.publish(pods);
  }

  /** Reads the directory's manifests in name order (kubelet `extractFromDir`). */
  private async readDirectory(): Promise<KeyedPod[]> {
    const names = (await readdir(this.path)).filter((n) => !n.startsWith('.')).sort();
    const pods: KeyedPod[] = [];
    const files = new Set<string>();
    const byKey = new Map<string, string>();
    for (const name of names) {
      const file = join(this.path, name);
      let stats: Stats;
      try {
        stats = await stat(file);
      } catch (err) {
        this.logger.debug('Cannot get metadata of manifest path', { file, err });
        continue;
      }
      if (stats.isDirectory()) {
        this.logger.debug('Not recursing into manifest path', { file });
        continue;
      }
      if (!stats.isFile()) {
        this.logger.debug('Manifest path is not a directory or file', { file });
        continue;
      }
      files.add(file);
      const keyed = await this.readManifest(file, stats);
      if (keyed === undefined) continue;
      const key = `${keyed.pod.metadata.namespace ?? ''}/${keyed.pod.metadata.name ?? ''}`;
      const first = byKey.get(key);
      if (first !== undefined) {
        const digest = this.cache.get(file)?.digest ?? '';
        this.publisher.reportError(
          file,
          `duplicate static pod ${key}: already defined in ${first}`,
          digest,
        );
        continue;
      }
      byKey.set(key, file);
      pods.push(keyed);
    }
    this.forgetFilesExcept(files);
    return pods;
  }

  /** Drops cache entries and reported errors of files that are gone. */
  private forgetFilesExcept(files: ReadonlySet<string>): void {
    for (const file of [...this.cache.keys()]) {
      if (!files.has(file)) this.cache.delete(file);
    }
    for (const file of this.publisher.reportedFiles()) {
      if (!files.has(file)) this.publisher.clearError(file, false);
    }
  }

  /** One manifest file → its pod, or undefined (reported) when it cannot be used. */
  private async readManifest(file: string, stats: Stats): Promise<KeyedPod | undefined> {
    const fingerprint = fingerprintOf(stats);
    let entry = this.cache.get(file);
    if (entry?.fingerprint !== fingerprint) {
      entry = await this.loadManifest(file, stats, fingerprint, entry);
      if (entry === undefined) return undefined;
      this.cache.set(file, entry);
    }
    if (!entry.result.ok) {
      if (entry.result.silent === true) {
        this.logger.debug('Skipping empty manifest file', { file });
      } else {
        this.publisher.reportError(file, entry.result.reason, entry.digest);
      }
      return undefined;
    }
    this.publisher.clearError(file, true);
    return entry.result.pod;
  }

  private async loadManifest(
    file: string,
    stats: Stats,
    fingerprint: string,
    previous: CachedManifest | undefined,
  ): Promise<CachedManifest | undefined> {
    if (stats.size > MAX_CONFIG_LENGTH) {
      const reason = `manifest is ${stats.size} bytes, larger than the limit of ${MAX_CONFIG_LENGTH} bytes`;
      return { fingerprint, digest: `size:${stats.size}`, result: { ok: false, reason } };
    }
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      return {
        fingerprint,
        digest: `error:${errorCode(err) ?? ''}`,
        result: { ok: false, reason: `cannot read manifest: ${(err as Error).message}` },
      };
    }
    const digest = createHash('sha256').update(data).digest('hex');
    if (previous?.digest === digest) return { ...previous, fingerprint };
    if (data.toString('utf8').trim() === '') {
      // A file being created is empty until its content is written (the watch
      // reports the creation first): no pod, and nothing to complain about yet.
      return {
        fingerprint,
        digest,
        result: { ok: false, reason: 'manifest is empty', silent: true },
      };
    }
    const decoded = decodeStaticPods(data, {
      origin: { kind: 'file', path: file },
      nodeName: this.options.nodeName,
    });
    if (!decoded.ok) return { fingerprint, digest, result: { ok: false, reason: decoded.reason } };
    const pod = decoded.pods[0];
    if (pod === undefined) {
      return { fingerprint, digest, result: { ok: false, reason: 'manifest holds no pod' } };
    }
    return { fingerprint, digest, result: { ok: true, pod: keyPod(pod) } };
  }

  private onWatchEvent(): void {
    if (!this.running) return;
    this.requestRead();
    this.settleTimer ??= this.options.clock.setTimeout(() => {
      this.settleTimer = undefined;
      this.requestRead();
    }, WATCH_SETTLE_MS);
  }

  private scheduleRetry(): void {
    if (!this.running || this.retryTimer !== undefined) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, WATCH_MAX_RETRY_PERIOD_MS);
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.requestRead();
    }, delay);
  }

  /**
   * Watches the path whose `dev:ino` is `identity` (undefined: watch nothing). A
   * path that was removed and created again is a new identity and gets a new watcher.
   */
  private setWatch(identity: string | undefined): Promise<void> {
    const wanted = this.watchEnabled && this.running ? identity : undefined;
    this.watcherChange = this.watcherChange.then(async () => {
      if (
        wanted === this.watchedIdentity &&
        (wanted === undefined) === (this.watcher === undefined)
      ) {
        return;
      }
      const old = this.watcher;
      this.watcher = undefined;
      this.watchedIdentity = undefined;
      if (old !== undefined) await old.close();
      if (wanted === undefined || !this.running) return;
      const root = this.path;
      const watcher = watch(root, {
        ignoreInitial: true,
        depth: 0,
        persistent: true,
        ignored: (p: string) => p !== root && basename(p).startsWith('.'),
      });
      watcher.on('all', () => this.onWatchEvent());
      watcher.on('ready', () => this.requestRead());
      watcher.on('error', (err: unknown) => {
        this.logger.warn('Error while watching static pod path', { err });
        this.requestRead();
      });
      this.watcher = watcher;
      this.watchedIdentity = wanted;
    });
    return this.watcherChange;
  }
}

/** Creates the static pod file source (see {@link StaticPodFileSource}). */
export function createFileSource(options: FileSourceOptions): StaticPodFileSource {
  return new StaticPodFileSource(options);
}
