import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  InvalidConfigError,
  isNodeAgentError,
  noopLogger,
  parseQuantity,
  quantityValue,
  type Clock,
  type ContainerRuntime,
  type Logger,
  type Timer,
} from '@nodeagent/core';

/** Suffix of a rotated log once compressed (kubelet `compressSuffix`). */
export const compressedLogSuffix = '.gz';
/** Suffix of a log being compressed (kubelet `tmpSuffix`); such files are never in use. */
export const temporaryLogSuffix = '.tmp';
/** The kubelet's `containerLogMonitorInterval` default: 10 s. */
export const defaultContainerLogMonitorIntervalMs = 10_000;
/** The smallest monitor interval the kubelet accepts: 3 s. */
export const minContainerLogMonitorIntervalMs = 3_000;

/** Settings and collaborators of {@link ContainerLogManager}. */
export interface ContainerLogManagerOptions {
  runtime: ContainerRuntime;
  clock: Clock;
  /**
   * Rotate a running container's log once it reaches this size (kubelet
   * `containerLogMaxSize`): a quantity (`10Mi`, `40Ki`) or bytes. Negative disables
   * rotation. Default `10Mi`.
   */
  maxSize?: string | number;
  /**
   * Log files kept per container, the live one included (kubelet
   * `containerLogMaxFiles`); at least 2. Default 5.
   */
  maxFiles?: number;
  /** Period of the rotation passes in ms (kubelet `containerLogMonitorInterval`); ≥ 3 s. Default 10 s. */
  monitorIntervalMs?: number;
  /** Containers rotated at the same time (kubelet `containerLogMaxWorkers`); ≥ 1. Default 1. */
  maxWorkers?: number;
  logger?: Logger;
}

/** What one rotation pass did. */
export interface ContainerLogRotationResult {
  /** IDs of the containers whose live log was rotated. */
  rotated: string[];
  /** Per-container failures (the pass carries on past them). */
  errors: Array<{ containerId: string; error: unknown }>;
}

/**
 * Whether a file next to a container log is still a rotated log (kubelet `isInUse`):
 * temporary files never are, compressed ones always are, and an uncompressed one is
 * not when its compressed copy exists.
 */
function isInUse(file: string, all: readonly string[]): boolean {
  if (file.endsWith(temporaryLogSuffix)) return false;
  if (file.endsWith(compressedLogSuffix)) return true;
  return !all.includes(file + compressedLogSuffix);
}

/** Files named `<log>.<anything>` next to `log`, full paths, sorted (oldest first). */
async function rotatedCandidates(log: string): Promise<string[]> {
  const dir = dirname(log);
  const prefix = `${basename(log)}.`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.startsWith(prefix))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * Every log of a container, oldest first, the live one last (kubelet `GetAllLogs`):
 * the rotated files still in use (`<log>.<timestamp>`, `<log>.<timestamp>.gz`), then `log`.
 */
export async function allContainerLogs(log: string): Promise<string[]> {
  const candidates = await rotatedCandidates(log);
  return [...candidates.filter((f) => isInUse(f, candidates)), log];
}

/** `YYYYMMDD-hhmmss` in local time (Go layout `20060102-150405`, the kubelet's rotation suffix). */
export function rotationTimestamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-` +
    `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
  );
}

function isNotFoundFs(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function removeIfPresent(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * The kubelet's container log manager (`pkg/kubelet/logs/container_log_manager.go`):
 * rotates the CRI log files of running containers and removes a container's logs
 * when the container is removed.
 *
 * Every `monitorIntervalMs` it lists the runtime's containers and, for each running one
 * whose log has reached `maxSize` (up to `maxWorkers` at a time): removes leftovers of
 * interrupted rotations (`.tmp` files, uncompressed files whose `.gz` exists), removes
 * the oldest rotated files so that at most `maxFiles − 2` remain, gzips the ones not yet
 * compressed, renames the live log to `<log>.<YYYYMMDD-hhmmss>` and asks the runtime to
 * reopen it (CRI `ReopenContainerLog`); when the runtime refuses, the rename is undone so
 * the next pass tries again. A running container whose log file is missing gets it
 * reopened. So a container has at most `maxFiles` log files: the live one, the one just
 * rotated (left uncompressed, readers may still follow it) and `maxFiles − 2` gzipped.
 * Passes and {@link clean} never overlap.
 */
export class ContainerLogManager {
  /** Rotation size in bytes; negative when rotation is off. */
  readonly maxSizeBytes: number;
  readonly maxFiles: number;
  readonly monitorIntervalMs: number;
  readonly maxWorkers: number;
  private readonly runtime: ContainerRuntime;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private timer: Timer | undefined;
  private running = false;
  private queue: Promise<unknown> = Promise.resolve();

  /** @throws InvalidConfigError for a bad size, fewer than 2 files, a short interval or no workers */
  constructor(options: ContainerLogManagerOptions) {
    const maxSize = options.maxSize ?? '10Mi';
    try {
      this.maxSizeBytes = quantityValue(parseQuantity(maxSize, 'containerLogMaxSize'));
    } catch (err) {
      throw new InvalidConfigError(
        `failed to parse container log max size ${JSON.stringify(maxSize)}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.maxFiles = options.maxFiles ?? 5;
    if (!Number.isInteger(this.maxFiles) || this.maxFiles <= 1) {
      throw new InvalidConfigError(`invalid MaxFiles ${this.maxFiles}, must be > 1`);
    }
    this.monitorIntervalMs = options.monitorIntervalMs ?? defaultContainerLogMonitorIntervalMs;
    if (!(this.monitorIntervalMs >= minContainerLogMonitorIntervalMs)) {
      throw new InvalidConfigError(
        `invalid containerLogMonitorInterval ${this.monitorIntervalMs} ms, must be at least 3 s`,
      );
    }
    this.maxWorkers = options.maxWorkers ?? 1;
    if (!Number.isInteger(this.maxWorkers) || this.maxWorkers < 1) {
      throw new InvalidConfigError(
        `invalid containerLogMaxWorkers ${this.maxWorkers}, must be at least 1`,
      );
    }
    this.runtime = options.runtime;
    this.clock = options.clock;
    this.logger = (options.logger ?? noopLogger).child({ component: 'container-log-manager' });
  }

  /** Whether logs are rotated at all (`containerLogMaxSize` not negative). */
  get enabled(): boolean {
    return this.maxSizeBytes >= 0;
  }

  /** Starts the periodic rotation passes (none when rotation is off). */
  start(): void {
    if (this.running || !this.enabled) return;
    this.running = true;
    this.logger.info('Initializing container log rotate workers', {
      workers: this.maxWorkers,
      monitorPeriodMs: this.monitorIntervalMs,
    });
    this.timer = this.clock.setInterval(() => {
      void this.rotateLogs().then(
        (result) => {
          for (const { containerId, error } of result.errors) {
            this.logger.warn('Failed to rotate log for container', {
              containerID: containerId,
              err: String(error),
            });
          }
        },
        (err: unknown) =>
          this.logger.error('Failed to rotate container logs', { err: String(err) }),
      );
    }, this.monitorIntervalMs);
  }

  /** Stops the passes and waits for one in progress. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await this.queue;
  }

  /**
   * One rotation pass over the runtime's running containers. Rejects only when the
   * runtime cannot list its containers; per-container failures are in the result.
   */
  rotateLogs(): Promise<ContainerLogRotationResult> {
    return this.serialized(async () => {
      const result: ContainerLogRotationResult = { rotated: [], errors: [] };
      if (!this.enabled) return result;
      const { containers } = await this.runtime.listContainers({});
      // Non-running containers write nothing more: an empty new live log is no use.
      const ids = containers.filter((c) => c.state === 'CONTAINER_RUNNING').map((c) => c.id);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < ids.length) {
          const id = ids[next++]!;
          try {
            if (await this.rotateIfNeeded(id)) result.rotated.push(id);
          } catch (error) {
            result.errors.push({ containerId: id, error });
          }
        }
      };
      await Promise.all(
        Array.from({ length: Math.min(this.maxWorkers, ids.length) }, () => worker()),
      );
      return result;
    });
  }

  /**
   * Removes every log file of a container, rotated ones included (kubelet `Clean`):
   * called before the container itself is removed. A container the runtime no longer
   * knows has nothing left to clean.
   */
  clean(containerId: string): Promise<void> {
    return this.serialized(async () => {
      let logPath: string;
      try {
        const res = await this.runtime.containerStatus({ containerId });
        logPath = res.status?.logPath ?? '';
      } catch (err) {
        if (isNodeAgentError(err, 'NotFound')) return;
        throw err;
      }
      if (logPath === '') return;
      const dir = dirname(logPath);
      const prefix = basename(logPath);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (isNotFoundFs(err)) return;
        throw err;
      }
      for (const name of names) {
        if (name.startsWith(prefix)) await removeIfPresent(join(dir, name));
      }
    });
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Kubelet `processContainer`: rotates the container's log when it is big enough. */
  private async rotateIfNeeded(containerId: string): Promise<boolean> {
    const res = await this.runtime.containerStatus({ containerId });
    const log = res.status?.logPath ?? '';
    if (log === '') return false;
    let size: number;
    try {
      size = (await stat(log)).size;
    } catch (err) {
      if (!isNotFoundFs(err)) throw err;
      // A rotation whose reopen failed after the rename was undone can still lose the
      // live file (an agent restart at the wrong moment): have the runtime recreate it.
      await this.runtime.reopenContainerLog({ containerId });
      size = (await stat(log)).size;
    }
    if (size < this.maxSizeBytes) return false;
    await this.rotate(containerId, log);
    return true;
  }

  /** Kubelet `rotateLog`. */
  private async rotate(containerId: string, log: string): Promise<void> {
    const candidates = await rotatedCandidates(log);
    // leftovers of interrupted rotations
    const inUse: string[] = [];
    for (const f of candidates) {
      if (isInUse(f, candidates)) inUse.push(f);
      else await removeIfPresent(f);
    }
    // the live log and the one about to be rotated are 2 of the maxFiles
    const keep = Math.max(0, this.maxFiles - 2);
    const excess = inUse.length - keep;
    for (let i = 0; i < excess; i++) await removeIfPresent(inUse[i]!);
    for (const f of inUse.slice(Math.max(0, excess))) {
      if (!f.endsWith(compressedLogSuffix)) await this.compress(f);
    }
    const rotated = `${log}.${rotationTimestamp(this.clock.now())}`;
    await rename(log, rotated);
    try {
      await this.runtime.reopenContainerLog({ containerId });
    } catch (err) {
      // Put it back so the next pass can try again (else the live log is lost).
      await rename(rotated, log).catch((renameErr: unknown) =>
        this.logger.error('Failed to rename rotated log', {
          rotatedLog: rotated,
          newLog: log,
          containerID: containerId,
          err: String(renameErr),
        }),
      );
      throw err;
    }
  }

  /** Kubelet `compressLog`: `f` is gzipped into `f.tmp`, renamed to `f.gz`, then removed. */
  private async compress(file: string): Promise<void> {
    const { mode } = await stat(file);
    const tmp = file + temporaryLogSuffix;
    try {
      await pipeline(createReadStream(file), createGzip(), createWriteStream(tmp, { mode }));
      await rename(tmp, file + compressedLogSuffix);
    } finally {
      await removeIfPresent(tmp);
    }
    await rm(file);
  }
}

/** Creates a {@link ContainerLogManager}. */
export function createContainerLogManager(
  options: ContainerLogManagerOptions,
): ContainerLogManager {
  return new ContainerLogManager(options);
}
