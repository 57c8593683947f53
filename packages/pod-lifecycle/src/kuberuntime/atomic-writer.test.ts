import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@nodeagent/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AtomicWriter } from './atomic-writer.js';
import type { VolumePayload } from './volume-payload.js';

const enc = new TextEncoder();
function payload(files: Record<string, string | [string, number]>): VolumePayload {
  return new Map(
    Object.entries(files).map(([k, v]) => {
      const [data, mode] = typeof v === 'string' ? [v, 0o644] : v;
      return [k, { data: enc.encode(data), mode }];
    }),
  );
}

describe('AtomicWriter (kubelet atomic_writer layout, real filesystem)', () => {
  let dir: string;
  let target: string;
  const clock = new FakeClock(Date.UTC(2026, 2, 4, 5, 6, 7));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atomic-writer-'));
    target = join(dir, 'vol');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes a timestamped data dir, ..data symlink and user-visible links', async () => {
    const w = new AtomicWriter(target, clock);
    expect(await w.write(payload({ a: 'A', 'dir/b': ['B', 0o600] }))).toBe(true);
    const tsDir = await readlink(join(target, '..data'));
    expect(tsDir).toMatch(/^\.\.2026_03_04_05_06_07\.\d+$/);
    expect((await stat(join(target, tsDir))).mode & 0o777).toBe(0o755);
    expect(await readlink(join(target, 'a'))).toBe('..data/a');
    expect(await readlink(join(target, 'dir'))).toBe('..data/dir');
    expect(await readFile(join(target, 'a'), 'utf8')).toBe('A');
    expect(await readFile(join(target, 'dir/b'), 'utf8')).toBe('B');
    expect((await stat(join(target, 'dir/b'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(target, 'a'))).mode & 0o777).toBe(0o644);
    expect((await readdir(target)).sort()).toEqual(['..data', tsDir, 'a', 'dir'].sort());
  });

  it('does not rewrite an unchanged payload; a change swaps ..data and drops the old dir and keys', async () => {
    const w = new AtomicWriter(target, clock);
    await w.write(payload({ a: 'A', b: 'B' }));
    const first = await readlink(join(target, '..data'));
    expect(await w.write(payload({ a: 'A', b: 'B' }))).toBe(false);
    expect(await readlink(join(target, '..data'))).toBe(first);

    expect(await w.write(payload({ a: 'A2', c: 'C' }))).toBe(true);
    const second = await readlink(join(target, '..data'));
    expect(second).not.toBe(first);
    expect(await readFile(join(target, 'a'), 'utf8')).toBe('A2');
    expect(await readFile(join(target, 'c'), 'utf8')).toBe('C');
    await expect(lstat(join(target, 'b'))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(target, first))).rejects.toThrow(/ENOENT/);
    expect((await readdir(target)).sort()).toEqual(['..data', second, 'a', 'c'].sort());
  });

  it('a mode change alone is written', async () => {
    const w = new AtomicWriter(target, clock);
    await w.write(payload({ a: ['A', 0o644] }));
    expect(await w.write(payload({ a: ['A', 0o400] }))).toBe(true);
    expect((await stat(join(target, 'a'))).mode & 0o777).toBe(0o400);
  });

  it('an empty payload gives an empty volume; an invalid path writes nothing', async () => {
    const w = new AtomicWriter(target, clock);
    expect(await w.write(new Map())).toBe(true);
    const ts = await readlink(join(target, '..data'));
    expect(await readdir(join(target, ts))).toEqual([]);
    await expect(w.write(payload({ ok: 'x', '../evil': 'x' }))).rejects.toThrow(
      /must not contain '\.\.'/,
    );
    expect(await readlink(join(target, '..data'))).toBe(ts);
    await expect(lstat(join(dir, 'evil'))).rejects.toThrow(/ENOENT/);
  });
});
