import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * What the image GC manager knows about one image (kubelet `imageRecord`). Times are
 * wall-clock milliseconds since the epoch; 0 means "unknown, long ago" (the kubelet
 * gives images found by its very first detection a zero first-detected time).
 */
export interface ImageRecord {
  /** When the image was first seen on the node. */
  firstDetected: number;
  /** When a container last used the image; 0 when never seen in use. */
  lastUsed: number;
  /** Size in bytes as the runtime reports it. */
  size: number;
  /** Never garbage collected (CRI `pinned`, or the configured sandbox image). */
  pinned: boolean;
}

/** On-disk format of the records file. */
interface RecordsFile {
  version: 1;
  images: Record<string, { firstDetected: number; lastUsed: number }>;
}

/**
 * Reads the persisted first-seen/last-used times; an absent file gives an empty map,
 * an unreadable or malformed one is reported through `onCorrupt` and ignored (GC then
 * behaves as after a first start).
 */
export async function loadImageRecords(
  path: string,
  onCorrupt: (err: unknown) => void,
): Promise<Map<string, Pick<ImageRecord, 'firstDetected' | 'lastUsed'>> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    onCorrupt(err);
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<RecordsFile>;
    if (parsed.version !== 1 || typeof parsed.images !== 'object' || parsed.images === null) {
      throw new Error('unknown records file format');
    }
    const out = new Map<string, Pick<ImageRecord, 'firstDetected' | 'lastUsed'>>();
    for (const [id, r] of Object.entries(parsed.images)) {
      if (typeof r.firstDetected === 'number' && typeof r.lastUsed === 'number') {
        out.set(id, { firstDetected: r.firstDetected, lastUsed: r.lastUsed });
      }
    }
    return out;
  } catch (err) {
    onCorrupt(err);
    return undefined;
  }
}

let tmpSeq = 0;

/**
 * Writes the records atomically: a temporary file in the same directory, then
 * `rename` over the old one, so a crash leaves either the old or the new file.
 */
export async function saveImageRecords(
  path: string,
  records: ReadonlyMap<string, ImageRecord>,
): Promise<void> {
  const file: RecordsFile = { version: 1, images: {} };
  for (const [id, r] of records) {
    file.images[id] = { firstDetected: r.firstDetected, lastUsed: r.lastUsed };
  }
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${tmpSeq++}`;
  try {
    await writeFile(tmp, JSON.stringify(file), { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
