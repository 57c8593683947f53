import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidConfigError, UnknownError, type ContainerRuntime } from '@nodeagent/core';
import { FakeClock } from '@nodeagent/core/testing';
import { FakeRuntime } from '@nodeagent/testkit';
import {
  ContainerLogManager,
  allContainerLogs,
  rotationTimestamp,
  type ContainerLogManagerOptions,
} from './container-log-manager.js';

let dir: string;
let clock: FakeClock;
let fake: FakeRuntime;
/** The fake runtime, except that ReopenContainerLog creates the live file as containerd does. */
let runtime: ContainerRuntime;
let reopened: string[];
/** Called after each successful reopen. */
let onReopen: () => void;
let sandbox: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'na-logrot-'));
  clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  fake = new FakeRuntime({ clock });
  reopened = [];
  onReopen = () => undefined;
  runtime = Object.assign(Object.create(fake) as FakeRuntime, {
    reopenContainerLog: async (req: { containerId: string }) => {
      const res = await fake.reopenContainerLog(req);
      const { status } = await fake.containerStatus({ containerId: req.containerId });
      if (status?.state !== 'CONTAINER_RUNNING') throw new UnknownError('container is not running');
      await writeFile(status.logPath, '', { flag: 'a' });
      reopened.push(req.containerId);
      onReopen();
      return res;
    },
  });
  sandbox = fake.addSandbox({ uid: 'uid-1', name: 'web' });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function container(name: string, bytes: number, run = true): Promise<[string, string]> {
  const logPath = join(dir, `${name}.log`);
  await writeFile(logPath, 'x'.repeat(bytes));
  const { containerId } = await fake.createContainer({
    podSandboxId: sandbox,
    config: { metadata: { name }, logPath },
  });
  if (run) await fake.startContainer({ containerId });
  return [containerId, logPath];
}

function manager(options: Partial<ContainerLogManagerOptions> = {}): ContainerLogManager {
  return new ContainerLogManager({ runtime, clock, maxSize: '1Ki', maxFiles: 3, ...options });
}

const files = async (): Promise<string[]> => (await readdir(dir)).sort();

describe('ContainerLogManager', () => {
  it('rotates the logs of running containers at maxSize only; exited ones are left alone', async () => {
    const [big] = await container('big', 1024);
    await container('small', 1023);
    await container('exited', 4096, false);
    const m = manager();
    const result = await m.rotateLogs();
    expect(result).toEqual({ rotated: [big], errors: [] });
    expect(reopened).toEqual([big]);
    expect(await files()).toEqual([
      'big.log',
      'big.log.20260101-120000',
      'exited.log',
      'small.log',
    ]);
    expect(readFileSync(join(dir, 'big.log'), 'utf8')).toBe('');
    expect(readFileSync(join(dir, 'big.log.20260101-120000'), 'utf8')).toBe('x'.repeat(1024));
  });

  it('keeps at most maxFiles per container: the live log, the last rotated one, the rest gzipped', async () => {
    const [id, log] = await container('app', 2000);
    const m = manager({ maxFiles: 3 });
    const contents: string[] = [];
    for (let i = 0; i < 5; i++) {
      const text = `round ${i} `.repeat(200);
      await writeFile(log, text);
      contents.push(text);
      expect((await m.rotateLogs()).rotated).toEqual([id]);
      expect((await allContainerLogs(log)).length).toBeLessThanOrEqual(3);
      await clock.advance(10_000);
    }
    // rounds 0..2 were dropped oldest first; round 3 compressed, round 4 plain
    expect(await files()).toEqual([
      'app.log',
      'app.log.20260101-120030.gz',
      'app.log.20260101-120040',
    ]);
    expect(gunzipSync(readFileSync(join(dir, 'app.log.20260101-120030.gz'))).toString()).toBe(
      contents[3],
    );
    expect(readFileSync(join(dir, 'app.log.20260101-120040'), 'utf8')).toBe(contents[4]);
    expect(await allContainerLogs(log)).toEqual([
      join(dir, 'app.log.20260101-120030.gz'),
      join(dir, 'app.log.20260101-120040'),
      log,
    ]);
  });

  it('maxFiles 2 keeps only the live log and the one just rotated', async () => {
    const [, log] = await container('two', 2000);
    const m = manager({ maxFiles: 2 });
    await m.rotateLogs();
    await clock.advance(10_000);
    await writeFile(log, 'y'.repeat(2000));
    await m.rotateLogs();
    expect(await files()).toEqual(['two.log', 'two.log.20260101-120010']);
  });

  it('removes the leftovers of an interrupted rotation: .tmp files and plain copies of .gz files', async () => {
    const [, log] = await container('left', 2000);
    await writeFile(`${log}.20260101-110000`, 'plain copy');
    await writeFile(`${log}.20260101-110000.gz`, 'compressed');
    await writeFile(`${log}.20260101-110500.tmp`, 'half written');
    expect(await allContainerLogs(log)).toEqual([`${log}.20260101-110000.gz`, log]);
    await manager({ maxFiles: 5 }).rotateLogs();
    expect(await files()).toEqual([
      'left.log',
      'left.log.20260101-110000.gz',
      'left.log.20260101-120000',
    ]);
  });

  it('undoes the rename when the runtime cannot reopen the log, and rotates at the next pass', async () => {
    const [id, log] = await container('flaky', 2000);
    fake.failNext('reopenContainerLog', new UnknownError('reopen refused'));
    const m = manager();
    const first = await m.rotateLogs();
    expect(first.rotated).toEqual([]);
    expect(first.errors.map((e) => [e.containerId, String(e.error)])).toEqual([
      [id, expect.stringContaining('reopen refused')],
    ]);
    expect(await files()).toEqual(['flaky.log']);
    expect(readFileSync(log, 'utf8')).toHaveLength(2000);
    expect((await m.rotateLogs()).rotated).toEqual([id]);
    expect(await files()).toEqual(['flaky.log', 'flaky.log.20260101-120000']);
  });

  it('has the runtime reopen a running container log that is missing', async () => {
    const [id, log] = await container('lost', 0);
    await rm(log);
    const result = await manager().rotateLogs();
    expect(result).toEqual({ rotated: [], errors: [] });
    expect(reopened).toEqual([id]);
    expect(existsSync(log)).toBe(true);
  });

  it('clean removes every log file of a container, and nothing of another', async () => {
    const [id, log] = await container('gone', 10);
    const [, other] = await container('stays', 10);
    await writeFile(`${log}.20260101-110000.gz`, 'old');
    await writeFile(`${log}.20260101-113000`, 'recent');
    const m = manager();
    await m.clean(id);
    expect(await files()).toEqual(['stays.log']);
    expect(existsSync(other)).toBe(true);
    await m.clean('no-such-container'); // the runtime forgot it: nothing to do
  });

  it('runs a pass every monitor interval once started, none after stop', async () => {
    const [id, log] = await container('timed', 10);
    const m = manager({ monitorIntervalMs: 10_000 });
    m.start();
    await writeFile(log, 'z'.repeat(4096));
    await clock.advance(9_999);
    expect(reopened).toEqual([]);
    const rotated = new Promise<void>((r) => (onReopen = r));
    await clock.advance(1);
    await rotated;
    expect(reopened).toEqual([id]);
    await m.stop();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('a negative maxSize turns rotation off', async () => {
    await container('off', 1 << 20);
    const m = manager({ maxSize: '-1' });
    expect(m.enabled).toBe(false);
    m.start();
    expect(clock.pendingTimers()).toBe(0);
    expect(await m.rotateLogs()).toEqual({ rotated: [], errors: [] });
    expect(await files()).toEqual(['off.log']);
  });

  it('refuses the settings the kubelet refuses', () => {
    expect(() => manager({ maxFiles: 1 })).toThrow(InvalidConfigError);
    expect(() => manager({ maxFiles: 1 })).toThrow(/invalid MaxFiles 1, must be > 1/);
    expect(() => manager({ maxSize: '10 MB' })).toThrow(/container log max size "10 MB"/);
    expect(() => manager({ monitorIntervalMs: 2_000 })).toThrow(/at least 3 s/);
    expect(() => manager({ maxWorkers: 0 })).toThrow(/containerLogMaxWorkers 0/);
    expect(manager({ maxSize: '40Ki' }).maxSizeBytes).toBe(40 * 1024);
    expect(manager({ maxSize: 500 }).maxSizeBytes).toBe(500);
  });
});

describe('rotationTimestamp', () => {
  it('is the Go layout 20060102-150405', () => {
    const d = new Date(2026, 1, 3, 4, 5, 6);
    expect(rotationTimestamp(d.getTime())).toBe('20260203-040506');
  });
});
