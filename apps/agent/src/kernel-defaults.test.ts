import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FailedPreconditionError, noopLogger, type Logger } from '@nodeagent/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createProcSysctl,
  kubeletKernelTunables,
  setupKernelTunables,
  type Sysctl,
} from './kernel-defaults.js';

/** An in-memory sysctl table; never touches /proc/sys. */
class FakeSysctl implements Sysctl {
  writes: Array<[string, number]> = [];
  readOnly = new Set<string>();
  constructor(public values: Map<string, number>) {}
  async get(name: string): Promise<number> {
    const v = this.values.get(name);
    if (v === undefined)
      throw new Error(`open /proc/sys/${name.replaceAll('.', '/')}: no such file or directory`);
    return v;
  }
  async set(name: string, value: number): Promise<void> {
    if (this.readOnly.has(name)) throw new Error('read-only file system');
    this.writes.push([name, value]);
    this.values.set(name, value);
  }
}

const good = (): Map<string, number> =>
  new Map(kubeletKernelTunables.map((t) => [t.name, t.value]));

function recordingLogger(): { logger: Logger; infos: Array<[string, unknown]> } {
  const infos: Array<[string, unknown]> = [];
  const logger: Logger = { ...noopLogger, info: (m, f) => infos.push([m, f]) };
  return { logger, infos };
}

describe('kubeletKernelTunables', () => {
  it('is the kubelet 1.33 list', () => {
    expect(kubeletKernelTunables.map((t) => `${t.name}=${t.value}`)).toEqual([
      'vm.overcommit_memory=1',
      'vm.panic_on_oom=0',
      'kernel.panic=10',
      'kernel.panic_on_oops=1',
      'kernel.keys.root_maxkeys=1000000',
      'kernel.keys.root_maxbytes=25000000',
    ]);
  });
});

describe('setupKernelTunables', () => {
  it('all as the kubelet wants: nothing written in either mode', async () => {
    const sysctl = new FakeSysctl(good());
    expect(await setupKernelTunables({ sysctl, behavior: 'modify', logger: noopLogger })).toEqual(
      [],
    );
    expect(await setupKernelTunables({ sysctl, behavior: 'error', logger: noopLogger })).toEqual(
      [],
    );
    expect(sysctl.writes).toEqual([]);
  });

  it('protectKernelDefaults (error): fails naming each differing tunable, writes nothing', async () => {
    const values = good();
    values.set('vm.overcommit_memory', 0);
    values.set('kernel.panic', 1);
    values.set('kernel.panic_on_oops', 0);
    const sysctl = new FakeSysctl(values);
    const error = await setupKernelTunables({
      sysctl,
      behavior: 'error',
      logger: noopLogger,
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toBe(
      'protectKernelDefaults is true and kernel tunables differ from what the kubelet needs; set them (e.g. in /etc/sysctl.d/90-kubelet.conf) or set protectKernelDefaults to false to let nodeagent set them:\n' +
        '  vm.overcommit_memory: expected 1, actual 0\n' +
        '  kernel.panic: expected 10, actual 1\n' +
        '  kernel.panic_on_oops: expected 1, actual 0',
    );
    expect(sysctl.writes).toEqual([]);
  });

  it('default (modify): sets each differing tunable and logs what changed', async () => {
    const values = good();
    values.set('vm.overcommit_memory', 0);
    values.set('kernel.keys.root_maxkeys', 200);
    const sysctl = new FakeSysctl(values);
    const { logger, infos } = recordingLogger();
    const changes = await setupKernelTunables({ sysctl, behavior: 'modify', logger });
    expect(changes).toEqual([
      { name: 'vm.overcommit_memory', from: 0, to: 1 },
      { name: 'kernel.keys.root_maxkeys', from: 200, to: 1_000_000 },
    ]);
    expect(sysctl.writes).toEqual([
      ['vm.overcommit_memory', 1],
      ['kernel.keys.root_maxkeys', 1_000_000],
    ]);
    expect(infos).toEqual([
      [
        'Updated kernel tunable',
        { component: 'kernel-tunables', flag: 'vm.overcommit_memory', from: 0, to: 1 },
      ],
      [
        'Updated kernel tunable',
        {
          component: 'kernel-tunables',
          flag: 'kernel.keys.root_maxkeys',
          from: 200,
          to: 1_000_000,
        },
      ],
    ]);
  });

  it('modify: a tunable that cannot be written or read fails the start (as in the kubelet), after trying the rest', async () => {
    const values = good();
    values.set('kernel.panic', 0);
    values.set('vm.panic_on_oom', 1);
    values.delete('kernel.keys.root_maxbytes');
    const sysctl = new FakeSysctl(values);
    sysctl.readOnly.add('kernel.panic');
    const error = await setupKernelTunables({
      sysctl,
      behavior: 'modify',
      logger: noopLogger,
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toBe(
      'cannot set the kernel tunables the kubelet needs:\n' +
        '  kernel.panic: cannot be set to 10 (it is 0): read-only file system\n' +
        '  kernel.keys.root_maxbytes: cannot be read: open /proc/sys/kernel/keys/root_maxbytes: no such file or directory',
    );
    expect(sysctl.writes).toEqual([['vm.panic_on_oom', 0]]);
  });
});

describe('createProcSysctl (on a temporary directory, never /proc/sys)', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sysctl-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });
  const file = (name: string) => join(root, ...name.split('.'));
  async function put(name: string, text: string): Promise<void> {
    await mkdir(dirname(file(name)), { recursive: true });
    await writeFile(file(name), text);
  }

  it('maps dotted names to files, reads trimmed integers and writes decimal text', async () => {
    await put('kernel.keys.root_maxkeys', '200\n');
    const sysctl = createProcSysctl(root);
    expect(await sysctl.get('kernel.keys.root_maxkeys')).toBe(200);
    await sysctl.set('kernel.keys.root_maxkeys', 1_000_000);
    expect(await readFile(file('kernel.keys.root_maxkeys'), 'utf8')).toBe('1000000');
  });

  it('rejects a value that is not an integer, and a missing file', async () => {
    await put('vm.overcommit_memory', 'always\n');
    const sysctl = createProcSysctl(root);
    await expect(sysctl.get('vm.overcommit_memory')).rejects.toThrow(
      'sysctl vm.overcommit_memory: not an integer: "always"',
    );
    await expect(sysctl.get('vm.panic_on_oom')).rejects.toThrow('ENOENT');
  });

  it('drives setupKernelTunables end to end on files', async () => {
    for (const t of kubeletKernelTunables) await put(t.name, `${t.value}\n`);
    await put('kernel.panic_on_oops', '0\n');
    const changes = await setupKernelTunables({
      sysctl: createProcSysctl(root),
      behavior: 'modify',
      logger: noopLogger,
    });
    expect(changes).toEqual([{ name: 'kernel.panic_on_oops', from: 0, to: 1 }]);
    expect(await readFile(file('kernel.panic_on_oops'), 'utf8')).toBe('1');
  });
});
