import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from './main.js';
import { agentVersion } from './version.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (into: string[]) =>
    new Writable({
      write(chunk: Buffer, _e, done) {
        into.push(chunk.toString());
        done();
      },
    });
  return {
    io: { stdout: stream(out), stderr: stream(err) },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'nodeagent-main-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nodeagent command', () => {
  it('--help prints the usage', async () => {
    const t = io();
    expect(await runCommand(['--help'], t.io)).toBe(0);
    expect(t.out()).toContain('nodeagent pods [-o wide|json]');
    expect(t.out()).toContain('--container-runtime-endpoint');
    const p = io();
    expect(await runCommand(['pods', '--help'], p.io)).toBe(0);
    expect(p.out()).toContain('Usage: nodeagent pods');
  });

  it('version prints the package version', async () => {
    const t = io();
    expect(await runCommand(['version'], t.io)).toBe(0);
    expect(t.out()).toBe(`nodeagent v${agentVersion()} (node ${process.version})\n`);
    expect(agentVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a bad command line exits 2 with one clear line', async () => {
    const t = io();
    expect(await runCommand(['--v', 'x'], t.io)).toBe(2);
    expect(t.err()).toBe('nodeagent: --v: invalid value "x": expected a number 0 or above\n');
  });

  it('a bad config file exits 1 naming the file and field', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfileCheckFrequency: 20 seconds\n',
    );
    const t = io();
    expect(await runCommand(['--config', file], t.io)).toBe(1);
    expect(t.err()).toContain(`nodeagent: ${file}: invalid KubeletConfiguration:`);
    expect(t.err()).toContain(
      'KubeletConfiguration.fileCheckFrequency: invalid duration "20 seconds"',
    );
  });

  it('a missing runtime socket exits 1 with the reason in the log', async () => {
    const t = io();
    const code = await runCommand(
      [
        '--container-runtime-endpoint',
        join(dir, 'no.sock'),
        '--root-dir',
        join(dir, 'root'),
        '--log-format',
        'json',
      ],
      t.io,
    );
    expect(code).toBe(1);
    const lines = t
      .err()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ level: 'error', msg: 'nodeagent failed to start' });
    expect(String(lines.at(-1)?.err)).toContain(
      `container runtime socket ${join(dir, 'no.sock')} does not exist`,
    );
  });

  it('pods with a missing socket exits 1', async () => {
    const t = io();
    expect(await runCommand(['pods', '--runtime-endpoint', join(dir, 'no.sock')], t.io)).toBe(1);
    expect(t.err()).toContain('nodeagent pods: container runtime socket');
  });
});
