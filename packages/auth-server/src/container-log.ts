import { open, stat, type FileHandle } from 'node:fs/promises';
import {
  formatTimestampFixed,
  parseCriLogLine,
  parseRfc3339,
  type Clock,
  type CriLogLine,
} from '@nodeagent/core';

export { formatTimestampFixed, parseCriLogLine, parseRfc3339 };
export type { CriLogLine };

const newline = 0x0a;

/** What to read from a container log (kubelet `PodLogOptions` as the runtime sees them). */
export interface ContainerLogReadOptions {
  /** Start with the last N lines of the file; undefined = all. */
  tailLines?: number;
  /** Stop after this many bytes of output. */
  limitBytes?: number;
  /** Prefix each line with its RFC3339NanoFixed timestamp and a space. */
  timestamps?: boolean;
  /** Skip lines older than this (epoch ms). */
  sinceMs?: number;
  /** Keep reading as the file grows, across rotations, until the container stops. */
  follow?: boolean;
  /** Only one stream (KEP-3288 `stream`); default both. */
  stream?: 'stdout' | 'stderr';
}

/** Where log output goes; `write` resolves once the sink can take more. */
export interface LogSink {
  write(chunk: Buffer): Promise<void>;
}

/** Collaborators of {@link readContainerLog}. */
export interface ContainerLogReadContext {
  clock: Clock;
  /** Polling period of `follow` in ms (the kubelet waits on inotify); default 100. */
  followPollMs?: number;
  /** Period of the running check in ms (kubelet `stateCheckPeriod`); default 1000. */
  stateCheckMs?: number;
  /** Whether the container still runs (follow ends once it does not and the file is drained). */
  isRunning(): Promise<boolean>;
  /** Aborts the read (client went away). */
  signal?: AbortSignal;
  /** Where the output goes. */
  sink: LogSink;
}

const chunkSize = 64 * 1024;

/**
 * Byte offset where the last `n` lines of the file start (kubelet
 * `tail.FindTailLineStartIndex`): a trailing newline does not start an extra line.
 */
export async function tailStartOffset(fh: FileHandle, n: number): Promise<number> {
  const { size } = await fh.stat();
  if (n === 0) return size;
  if (n < 0) return 0;
  let count = 0;
  let pos = size;
  const buf = Buffer.alloc(chunkSize);
  while (pos > 0) {
    const len = Math.min(chunkSize, pos);
    pos -= len;
    await fh.read(buf, 0, len, pos);
    for (let i = len - 1; i >= 0; i--) {
      if (buf[i] !== newline || pos + i === size - 1) continue;
      count++;
      if (count === n) return pos + i + 1;
    }
  }
  return 0;
}

/**
 * Reads a CRI-format container log file into `sink` (the kubelet's `ReadLogs`):
 * tail, since, timestamps, limitBytes, stream filter; partial `P` lines are joined
 * (with one timestamp prefix per joined line); malformed lines are skipped. With
 * `follow` it keeps polling the file, re-opens it when it was rotated (a new inode
 * at the path), and ends when the container has stopped and the file is drained,
 * or when the signal aborts. Resolves when done.
 */
export async function readContainerLog(
  path: string,
  options: ContainerLogReadOptions,
  ctx: ContainerLogReadContext,
): Promise<void> {
  let fh = await open(path, 'r');
  try {
    let pos = options.tailLines === undefined ? 0 : await tailStartOffset(fh, options.tailLines);
    let ino = (await fh.stat()).ino;
    let pending = Buffer.alloc(0);
    let remaining = options.limitBytes ?? Number.POSITIVE_INFINITY;
    let atLineStart = true;
    // set once a rotation is seen: the old file gets one more read before the switch
    let rotationSeen = false;
    let lastStateCheck = ctx.clock.monotonicNow();
    const pollMs = ctx.followPollMs ?? 100;
    const stateMs = ctx.stateCheckMs ?? 1000;
    const buf = Buffer.alloc(chunkSize);

    const emit = async (line: Buffer): Promise<boolean> => {
      const parsed = parseCriLogLine(line);
      if (!parsed) return true;
      if (options.sinceMs !== undefined && parsed.timeMs < options.sinceMs) return true;
      if (options.stream !== undefined && parsed.stream !== options.stream) return true;
      const parts: Buffer[] = [];
      if (options.timestamps === true && atLineStart) {
        parts.push(Buffer.from(`${formatTimestampFixed(parsed.timestamp)} `));
      }
      parts.push(parsed.content);
      if (!parsed.partial) parts.push(Buffer.from('\n'));
      atLineStart = !parsed.partial;
      let out = Buffer.concat(parts);
      if (out.length > remaining) out = out.subarray(0, remaining);
      remaining -= out.length;
      if (out.length > 0) await ctx.sink.write(out);
      return remaining > 0;
    };

    for (;;) {
      if (isAborted(ctx.signal)) return;
      const { bytesRead } = await fh.read(buf, 0, chunkSize, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        let data =
          pending.length > 0
            ? Buffer.concat([pending, buf.subarray(0, bytesRead)])
            : Buffer.from(buf.subarray(0, bytesRead));
        let start = 0;
        for (let nl = data.indexOf(newline); nl >= 0; nl = data.indexOf(newline, start)) {
          const more = await emit(data.subarray(start, nl));
          start = nl + 1;
          if (!more || isAborted(ctx.signal)) return;
        }
        data = data.subarray(start);
        pending = Buffer.from(data);
        continue;
      }
      // end of the file
      if (options.follow !== true) {
        if (pending.length > 0) await emit(pending); // incomplete last line
        return;
      }
      const current = await stat(path).catch(() => undefined);
      if (current !== undefined && current.ino !== ino) {
        if (!rotationSeen) {
          // rotated after our last read: lines written to the old file before the
          // rename are still to be read, so read it to its end once more
          rotationSeen = true;
          continue;
        }
        // the old file is drained; continue with the new one from its start
        rotationSeen = false;
        if (pending.length > 0) {
          if (!(await emit(pending))) return;
          pending = Buffer.alloc(0);
        }
        await fh.close();
        fh = await open(path, 'r');
        ino = (await fh.stat()).ino;
        pos = 0;
        continue;
      }
      if (current !== undefined && current.size < pos) {
        pos = 0; // truncated in place
        pending = Buffer.alloc(0);
        continue;
      }
      if (ctx.clock.monotonicNow() - lastStateCheck >= stateMs || current === undefined) {
        lastStateCheck = ctx.clock.monotonicNow();
        if (!(await ctx.isRunning())) {
          // one last read for anything written before it stopped
          const { bytesRead: last } = await fh.read(buf, 0, 1, pos);
          if (last === 0) {
            if (pending.length > 0) await emit(pending);
            return;
          }
          continue;
        }
      }
      try {
        await ctx.clock.sleep(pollMs, ctx.signal);
      } catch {
        return; // aborted
      }
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
