import { constants, promises as fs } from 'node:fs';

/**
 * A source of kernel log records for the {@link OomWatcher}. Reads never block: each
 * call returns what is available now.
 */
export interface KernelLogReader {
  /** Opens the log positioned at its end: records logged before this call are never returned. */
  open(): Promise<void>;
  /** Returns the raw records available now (possibly none), oldest first. */
  readAvailable(): Promise<string[]>;
  /** Closes the log; further reads fail. Idempotent. */
  close(): Promise<void>;
}

/** Size of one `/dev/kmsg` read: must hold a whole record (the kernel's limit is 8 KiB incl. dict). */
const kmsgRecordBufferBytes = 16 * 1024;

/** Most records returned by one {@link KernelLogReader.readAvailable} call. */
const maxRecordsPerRead = 4096;

/**
 * Reads `/dev/kmsg` without blocking (`O_NONBLOCK`: a read returns `EAGAIN` when no
 * record is pending, so no read is ever left hanging in the thread pool and `close()`
 * is immediate). Each read returns exactly one record; `EPIPE` means records were
 * overwritten in the ring buffer before being read and is skipped.
 */
export class DevKmsgReader implements KernelLogReader {
  private handle: fs.FileHandle | undefined;
  private readonly buffer = Buffer.alloc(kmsgRecordBufferBytes);

  constructor(private readonly path = '/dev/kmsg') {}

  async open(): Promise<void> {
    if (this.handle) return;
    this.handle = await fs.open(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    // Skip the history: drain what is there now.
    while ((await this.readBatch()).length === maxRecordsPerRead) {
      // keep draining
    }
  }

  readAvailable(): Promise<string[]> {
    return this.readBatch();
  }

  private async readBatch(): Promise<string[]> {
    const handle = this.handle;
    if (!handle) throw new Error('DevKmsgReader: not open');
    const records: string[] = [];
    while (records.length < maxRecordsPerRead) {
      try {
        const { bytesRead } = await handle.read(this.buffer, 0, this.buffer.length, null);
        if (bytesRead === 0) break;
        records.push(this.buffer.toString('utf8', 0, bytesRead));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') break;
        if (code === 'EPIPE') continue;
        throw err;
      }
    }
    return records;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}
