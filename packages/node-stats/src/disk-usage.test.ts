import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  lstatSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diskUsage } from './disk-usage.js';
import { nodeHostFs } from './host-fs.js';

let dir: string;
const clock = new FakeClock();
const blocksOf = (p: string): number => lstatSync(p).blocks * 512;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'node-stats-du-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('diskUsage', () => {
  it('counts allocated bytes and inodes, hard links once, without following symlinks', async () => {
    const root = join(dir, 'vol');
    mkdirSync(join(root, 'sub'), { recursive: true });
    writeFileSync(join(root, 'a'), Buffer.alloc(64 * 1024, 1));
    writeFileSync(join(root, 'sub', 'b'), Buffer.alloc(8 * 1024, 1));
    linkSync(join(root, 'a'), join(root, 'a-link'));
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'big'), Buffer.alloc(1024 * 1024, 1));
    symlinkSync(outside, join(root, 'to-outside'));

    const u = await diskUsage(root, { fs: nodeHostFs, clock });
    const expected =
      blocksOf(root) +
      blocksOf(join(root, 'sub')) +
      blocksOf(join(root, 'a')) +
      blocksOf(join(root, 'sub', 'b')) +
      blocksOf(join(root, 'to-outside'));
    expect(u).toEqual({ bytes: expected, inodes: 5, truncated: false });
    expect(u.bytes).toBeLessThan(1024 * 1024); // the symlinked megabyte is not counted
  });

  it('stops at its time cap and says so', async () => {
    const root = join(dir, 'many');
    for (let d = 0; d < 3; d++) {
      mkdirSync(join(root, `d${d}`), { recursive: true });
      for (let f = 0; f < 300; f++) writeFileSync(join(root, `d${d}`, `f${f}`), 'x');
    }
    // a clock whose monotonic time jumps 1 s on every read
    let mono = 0;
    class JumpyClock extends FakeClock {
      override monotonicNow(): number {
        return (mono += 1000);
      }
    }
    const jumpy = new JumpyClock();
    const u = await diskUsage(root, { fs: nodeHostFs, clock: jumpy, timeoutMs: 2500 });
    expect(u.truncated).toBe(true);
    expect(u.inodes).toBeLessThan(904);
    const full = await diskUsage(root, { fs: nodeHostFs, clock });
    expect(full).toMatchObject({ inodes: 904, truncated: false });
    const capped = await diskUsage(root, { fs: nodeHostFs, clock, maxEntries: 200 });
    expect(capped.truncated).toBe(true);
  });

  it('rejects with ENOENT for a missing root', async () => {
    await expect(diskUsage(join(dir, 'nope'), { fs: nodeHostFs, clock })).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});
