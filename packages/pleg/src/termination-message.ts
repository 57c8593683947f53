import { open } from 'node:fs/promises';
import { parseCriLogLine, type cri } from '@nodeagent/core';

/** Annotation with the container's `terminationMessagePath` (set by the agent at creation). */
export const terminationMessagePathAnnotation = 'io.kubernetes.container.terminationMessagePath';
/** Annotation with the container's `terminationMessagePolicy` (`File`, `FallbackToLogsOnError`). */
export const terminationMessagePolicyAnnotation =
  'io.kubernetes.container.terminationMessagePolicy';
/** Bytes of a termination message file kept, its end (kubelet `MaxContainerTerminationMessageLength`). */
export const maxContainerTerminationMessageLength = 4 * 1024;
/** Log lines a fallback termination message is taken from (kubelet `MaxContainerTerminationMessageLogLines`). */
export const maxContainerTerminationMessageLogLines = 80;
/** Bytes of a fallback termination message, its end (kubelet `MaxContainerTerminationMessageLogLength`). */
export const maxContainerTerminationMessageLogLength = 2 * 1024;

/** File access for termination messages; the node's filesystem by default. */
export interface TerminationMessageFiles {
  /**
   * The last `maxBytes` of a file, or more when `untilNewlines` newlines are wanted
   * (reads backwards until that many are in the result or the file starts).
   * Rejects with an `ENOENT` error for a missing file.
   */
  readTail(path: string, maxBytes: number, untilNewlines?: number): Promise<Buffer>;
}

const chunkSize = 64 * 1024;
/** Never read more than this from a log file's end, however long its lines. */
const maxLogTailBytes = 4 * 1024 * 1024;

/** Reads the end of files on the node. */
export const nodeTerminationMessageFiles: TerminationMessageFiles = {
  async readTail(path, maxBytes, untilNewlines) {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (untilNewlines === undefined) {
        const length = Math.min(size, maxBytes);
        const buf = Buffer.alloc(length);
        await handle.read(buf, 0, length, size - length);
        return buf;
      }
      const chunks: Buffer[] = [];
      let pos = size;
      let newlines = 0;
      let total = 0;
      while (pos > 0 && newlines <= untilNewlines && total < maxLogTailBytes) {
        const length = Math.min(chunkSize, pos);
        pos -= length;
        const buf = Buffer.alloc(length);
        await handle.read(buf, 0, length, pos);
        chunks.unshift(buf);
        total += length;
        for (const b of buf) if (b === 0x0a) newlines++;
      }
      return Buffer.concat(chunks);
    } finally {
      await handle.close();
    }
  },
};

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * The text of the last {@link maxContainerTerminationMessageLogLines} lines of a CRI log
 * file, stdout and stderr alike, cut to its last
 * {@link maxContainerTerminationMessageLogLength} bytes (kubelet
 * `readLastStringFromContainerLogs`).
 */
export async function lastLogText(
  path: string,
  files: TerminationMessageFiles = nodeTerminationMessageFiles,
): Promise<string> {
  const data = await files.readTail(path, 0, maxContainerTerminationMessageLogLines);
  const lines = splitLines(data);
  const out: Buffer[] = [];
  for (const raw of lines.slice(-maxContainerTerminationMessageLogLines)) {
    const line = parseCriLogLine(raw);
    if (!line) continue;
    out.push(line.content);
    if (!line.partial) out.push(Buffer.from('\n'));
  }
  const text = Buffer.concat(out);
  return text
    .subarray(Math.max(0, text.length - maxContainerTerminationMessageLogLength))
    .toString();
}

function splitLines(data: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
    lines.push(data.subarray(start, nl));
    start = nl + 1;
  }
  if (start < data.length) lines.push(data.subarray(start));
  return lines;
}

/**
 * The message of an exited container as the kubelet reports it
 * (`getPodContainerStatuses` + `getTerminationMessage`): the runtime's message, then
 * ": " and what the container wrote to its termination message file (the host file
 * mounted at the path of the `terminationMessagePath` annotation, its last 4 KiB). With
 * policy `FallbackToLogsOnError`, a container that failed (exit code not 0, and not
 * `ContainerCannotRun`) and left no message gets the end of its log instead. Other
 * containers keep the runtime's message.
 */
export async function containerMessage(
  status: cri.ContainerStatus,
  files: TerminationMessageFiles = nodeTerminationMessageFiles,
): Promise<string> {
  if (status.state !== 'CONTAINER_EXITED') return status.message;
  const path = status.annotations[terminationMessagePathAnnotation] ?? '';
  const fallbackToLogs =
    status.annotations[terminationMessagePolicyAnnotation] === 'FallbackToLogsOnError' &&
    status.exitCode !== 0 &&
    status.reason !== 'ContainerCannotRun';
  let text = '';
  let checkLogs = fallbackToLogs;
  const mount = path === '' ? undefined : status.mounts.find((m) => m.containerPath === path);
  if (mount) {
    try {
      const data = await files.readTail(mount.hostPath, maxContainerTerminationMessageLength);
      text = data.toString();
      checkLogs = fallbackToLogs && data.length === 0;
    } catch (err) {
      if (!isNotFound(err)) {
        text = `Error on reading termination log ${mount.hostPath}: ${err instanceof Error ? err.message : String(err)}`;
        checkLogs = false;
      }
    }
  }
  if (checkLogs && status.logPath) {
    try {
      text = await lastLogText(status.logPath, files);
    } catch (err) {
      text = `Error on reading termination message from logs: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  if (text === '') return status.message;
  return status.message === '' ? text : `${status.message}: ${text}`;
}
