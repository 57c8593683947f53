import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { noopLogger, type Clock, type Logger, type Timer } from '@nodeagent/core';

/** Options of a {@link CheckpointFile}. */
export interface CheckpointFileOptions {
  /** The file (its directory is created 0700, the file is 0600). */
  path: string;
  clock: Clock;
  /** Least time between two writes, ms. */
  minIntervalMs: number;
  logger?: Logger;
  /** What the file holds, for log messages (`pod checkpoint`). */
  description: string;
}

/**
 * A JSON file that keeps the last known state of something the agent learned from the
 * API server (its pods, the Services), so that an agent restarted while the API server
 * is unreachable can go on from it. Writes are throttled (`minIntervalMs`), atomic
 * (temporary file + rename, flushed) and skipped when the content did not change.
 */
export class CheckpointFile<T> {
  private readonly logger: Logger;
  private pending: { body: T; key: string } | undefined;
  private lastWrittenJson: string | undefined;
  private lastWriteAt: number | undefined;
  private timer: Timer | undefined;
  private writing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: CheckpointFileOptions) {
    this.logger = options.logger ?? noopLogger;
  }

  /** The file's text, or undefined when it does not exist or cannot be read (logged). */
  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.options.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn(`Cannot read the ${this.options.description}; ignoring it`, {
          checkpoint: this.options.path,
          error: String(err),
        });
      }
      return undefined;
    }
  }

  /** Tells what the file already holds, so that writing the same again is skipped. */
  markWritten(json: string): void {
    this.lastWrittenJson = json;
  }

  /**
   * Writes `body` as soon as the interval allows, unless `key` (the JSON of what matters
   * in it, without timestamps) equals what was last written.
   */
  schedule(body: T, key: string): void {
    if (this.closed) return;
    this.pending = { body, key };
    if (this.timer !== undefined || this.writing !== undefined) return;
    const now = this.options.clock.monotonicNow();
    const wait =
      this.lastWriteAt === undefined
        ? 0
        : Math.max(0, this.lastWriteAt + this.options.minIntervalMs - now);
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, wait);
  }

  /** Writes what is pending now and stops scheduling (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
    await this.writing;
    if (this.pending !== undefined) await this.write();
  }

  /** Resolves once no write is in flight. */
  async idle(): Promise<void> {
    await this.writing;
  }

  private write(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined) return Promise.resolve();
    const json = pending.key;
    if (json === this.lastWrittenJson) return Promise.resolve();
    this.lastWriteAt = this.options.clock.monotonicNow();
    const path = this.options.path;
    const run = async (): Promise<void> => {
      const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
      try {
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        await writeFile(tmp, JSON.stringify(pending.body), { mode: 0o600, flush: true });
        await chmod(tmp, 0o600);
        await rename(tmp, path);
        this.lastWrittenJson = json;
      } catch (err) {
        this.logger.warn(`Cannot write the ${this.options.description}`, {
          checkpoint: path,
          error: String(err),
        });
        await rm(tmp, { force: true }).catch(() => undefined);
      }
    };
    const p = run().finally(() => {
      if (this.writing === p) this.writing = undefined;
      // Changes that came in during the write go out after the interval.
      if (this.pending !== undefined && !this.closed)
        this.schedule(this.pending.body, this.pending.key);
    });
    this.writing = p;
    return p;
  }
}
