import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@nodeagent/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  parseCriLogLine,
  readContainerLog,
  type ContainerLogReadOptions,
} from './container-log.js';

const dir = mkdtempSync(join(tmpdir(), 'cri-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const log =
  [
    '2026-01-01T00:00:01.5Z stdout F line 1',
    '2026-01-01T00:00:02.000000001Z stderr F line 2',
    'this is not a CRI line',
    '2026-01-01T00:00:03Z stdout P part-a ',
    '2026-01-01T00:00:03.1Z stdout F part-b',
    '2026-01-01T00:00:04+01:00 stdout F line 4',
    '2026-01-01T00:00:05Z stdout F line 5',
  ].join('\n') + '\n';

async function read(path: string, opts: ContainerLogReadOptions): Promise<string> {
  const out: Buffer[] = [];
  await readContainerLog(path, opts, {
    clock: new FakeClock(),
    isRunning: () => Promise.resolve(false),
    sink: { write: (c) => (out.push(c), Promise.resolve()) },
  });
  return Buffer.concat(out).toString();
}

describe('CRI log parsing', () => {
  it('parses lines and rejects malformed ones', () => {
    expect(parseCriLogLine(Buffer.from('2026-01-01T00:00:01.5Z stdout F hi there'))).toMatchObject({
      stream: 'stdout',
      partial: false,
      timeMs: Date.parse('2026-01-01T00:00:01.500Z'),
    });
    expect(parseCriLogLine(Buffer.from('2026-01-01T00:00:01Z stdout P x'))?.partial).toBe(true);
    expect(parseCriLogLine(Buffer.from('2026-01-01T00:00:01Z stdout F'))?.content.length).toBe(0);
    expect(parseCriLogLine(Buffer.from('yesterday stdout F x'))).toBeUndefined();
    expect(parseCriLogLine(Buffer.from('2026-01-01T00:00:01Z stdin F x'))).toBeUndefined();
    expect(parseCriLogLine(Buffer.from('2026-01-01T00:00:01Z stdout X x'))).toBeUndefined();
  });
});

describe('readContainerLog', () => {
  const path = join(dir, '0.log');
  writeFileSync(path, log);

  it('joins partial lines and skips malformed ones', async () => {
    expect(await read(path, {})).toBe('line 1\nline 2\npart-a part-b\nline 4\nline 5\n');
  });

  it('prefixes fixed-width timestamps once per joined line', async () => {
    const out = await read(path, { timestamps: true });
    expect(out.split('\n')[0]).toBe('2026-01-01T00:00:01.500000000Z line 1');
    expect(out.split('\n')[2]).toBe('2026-01-01T00:00:03.000000000Z part-a part-b');
    expect(out.split('\n')[3]).toBe('2026-01-01T00:00:04.000000000+01:00 line 4');
  });

  it('honours tailLines, sinceMs, limitBytes and stream', async () => {
    expect(await read(path, { tailLines: 2 })).toBe('line 4\nline 5\n');
    expect(await read(path, { tailLines: 0 })).toBe('');
    expect(await read(path, { tailLines: 100 })).toBe(
      'line 1\nline 2\npart-a part-b\nline 4\nline 5\n',
    );
    expect(await read(path, { sinceMs: Date.parse('2026-01-01T00:00:03Z') })).toBe(
      'part-a part-b\nline 5\n',
    );
    expect(await read(path, { limitBytes: 10 })).toBe('line 1\nlin');
    expect(await read(path, { stream: 'stderr' })).toBe('line 2\n');
  });

  it('reads an incomplete last line when not following', async () => {
    const p = join(dir, 'incomplete.log');
    writeFileSync(
      p,
      '2026-01-01T00:00:01Z stdout F done\n2026-01-01T00:00:02Z stdout F no newline',
    );
    expect(await read(p, {})).toBe('done\nno newline\n');
  });

  it('follows the file across a rotation and ends when the container stops', async () => {
    const p = join(dir, 'follow.log');
    writeFileSync(p, '2026-01-01T00:00:01Z stdout F first\n');
    const clock = new FakeClock();
    let running = true;
    const out: string[] = [];
    let wrote: () => void = () => undefined;
    const done = readContainerLog(
      p,
      { follow: true },
      {
        clock,
        followPollMs: 100,
        stateCheckMs: 1000,
        isRunning: () => Promise.resolve(running),
        sink: {
          write: (c) => {
            out.push(c.toString());
            wrote();
            return Promise.resolve();
          },
        },
      },
    );
    const next = (): Promise<void> => new Promise((r) => (wrote = r));
    await next();
    expect(out.join('')).toBe('first\n');
    // a line written in two parts (the follower may see the first half alone)
    appendFileSync(p, '2026-01-01T00:00:02Z stdout F sec');
    await pumpUntil(clock, () => true, 1);
    appendFileSync(p, 'ond\n');
    await pumpUntil(clock, () => out.join('').includes('second'));
    expect(out.join('')).toBe('first\nsecond\n');
    // rotation: the runtime renames the file and opens a new one at the path
    appendFileSync(p, '2026-01-01T00:00:03Z stdout F last of old\n');
    renameSync(p, `${p}.20260101-000003`);
    writeFileSync(p, '2026-01-01T00:00:04Z stdout F in new file\n');
    await pumpUntil(clock, () => out.join('').includes('in new file'));
    expect(out.join('')).toBe('first\nsecond\nlast of old\nin new file\n');
    running = false;
    let finished = false;
    void done.then(() => (finished = true));
    await pumpUntil(clock, () => finished);
    await done;
  });
});

/**
 * Lets the follower run until `done()` holds: waits (on the real event loop) while
 * it is busy with file I/O, and moves the fake clock one poll period whenever it is
 * asleep, at least `minPolls` times. Gives up after 100 poll periods, so a broken follower fails, never hangs.
 */
async function pumpUntil(clock: FakeClock, done: () => boolean, minPolls = 0): Promise<void> {
  for (let polls = 0; polls < minPolls || !done();) {
    if (clock.pendingTimers() === 0) {
      await new Promise((r) => setImmediate(r));
      continue;
    }
    if (++polls > 100) throw new Error('follower did not get there in 100 poll periods');
    await clock.advance(100);
  }
}
