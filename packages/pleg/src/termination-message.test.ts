import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { cri } from '@nodeagent/core';
import { afterAll, describe, expect, it } from 'vitest';
import { containerMessage, lastLogText } from './termination-message.js';

const dir = mkdtempSync(join(tmpdir(), 'tmsg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function exited(opts: {
  exitCode?: number;
  policy?: string;
  hostFile?: string;
  logPath?: string;
  message?: string;
  reason?: string;
}): cri.ContainerStatus {
  return {
    id: 'c1',
    metadata: { name: 'c', attempt: 0 },
    state: 'CONTAINER_EXITED',
    createdAt: 1,
    startedAt: 2,
    finishedAt: 3,
    exitCode: opts.exitCode ?? 1,
    image: null,
    imageRef: '',
    reason: opts.reason ?? 'Error',
    message: opts.message ?? '',
    labels: {},
    annotations: {
      'io.kubernetes.container.terminationMessagePath': '/dev/termination-log',
      'io.kubernetes.container.terminationMessagePolicy': opts.policy ?? 'File',
    },
    mounts: opts.hostFile
      ? [
          {
            containerPath: '/dev/termination-log',
            hostPath: opts.hostFile,
            readonly: false,
            selinuxRelabel: false,
            propagation: 'PROPAGATION_PRIVATE',
            uidMappings: [],
            gidMappings: [],
            recursiveReadOnly: false,
            image: null,
            imageSubPath: '',
          },
        ]
      : [],
    logPath: opts.logPath ?? '',
    resources: null,
    imageId: '',
    user: null,
    stopSignal: 'RUNTIME_DEFAULT',
  };
}

function criLog(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => `2026-01-01T00:00:00.000000001Z ${l}\n`).join(''));
  return path;
}

describe('termination messages (kubelet getTerminationMessage)', () => {
  it('reads the termination message file, after the runtime message', async () => {
    const file = join(dir, 'tlog-1');
    writeFileSync(file, 'all done');
    expect(await containerMessage(exited({ hostFile: file }))).toBe('all done');
    expect(await containerMessage(exited({ hostFile: file, message: 'runtime said' }))).toBe(
      'runtime said: all done',
    );
  });

  it('keeps only the last 4 KiB of the file', async () => {
    const file = join(dir, 'tlog-big');
    writeFileSync(file, 'x'.repeat(5000) + 'END');
    const text = await containerMessage(exited({ hostFile: file }));
    expect(text).toHaveLength(4096);
    expect(text.endsWith('END')).toBe(true);
  });

  it('FallbackToLogsOnError: a failed container with an empty file gets the end of its log', async () => {
    const file = join(dir, 'tlog-empty');
    writeFileSync(file, '');
    const logPath = criLog('log-1', [
      'stdout F first',
      'stderr F oops',
      'stdout P par',
      'stdout F tial',
    ]);
    expect(
      await containerMessage(exited({ hostFile: file, policy: 'FallbackToLogsOnError', logPath })),
    ).toBe('first\noops\npartial\n');
    // Not for a success, nor under the File policy, nor when the file has text.
    expect(
      await containerMessage(
        exited({ hostFile: file, policy: 'FallbackToLogsOnError', logPath, exitCode: 0 }),
      ),
    ).toBe('');
    expect(await containerMessage(exited({ hostFile: file, logPath }))).toBe('');
    const full = join(dir, 'tlog-full');
    writeFileSync(full, 'from file');
    expect(
      await containerMessage(exited({ hostFile: full, policy: 'FallbackToLogsOnError', logPath })),
    ).toBe('from file');
    // A missing file also falls back.
    expect(
      await containerMessage(
        exited({ hostFile: join(dir, 'nope'), policy: 'FallbackToLogsOnError', logPath }),
      ),
    ).toBe('first\noops\npartial\n');
  });

  it('the log fallback keeps the last 80 lines and at most their last 2 KiB', async () => {
    const many = criLog(
      'log-many',
      Array.from({ length: 200 }, (_, i) => `stdout F line-${i}`),
    );
    const text = await lastLogText(many);
    expect(text.split('\n').filter(Boolean)).toHaveLength(80);
    expect(text.startsWith('line-120\n')).toBe(true);
    const wide = criLog(
      'log-wide',
      Array.from({ length: 10 }, (_, i) => `stdout F ${String(i).repeat(500)}`),
    );
    const cut = await lastLogText(wide);
    expect(Buffer.byteLength(cut)).toBe(2048);
    expect(cut.endsWith('9'.repeat(500) + '\n')).toBe(true);
  });

  it('running containers keep the runtime message untouched', async () => {
    const status = { ...exited({ message: 'm' }), state: 'CONTAINER_RUNNING' as const };
    expect(await containerMessage(status)).toBe('m');
  });
});
