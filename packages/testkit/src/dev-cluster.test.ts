import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseDevClusterArgs } from './dev-cluster.js';
import { freeLoopbackPort } from './net.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const entry = fileURLToPath(new URL('./dev-cluster.ts', import.meta.url));

describe('nodeagent-dev-cluster arguments', () => {
  it('parses port, dir, repeated nodes and csr signing; rejects the rest', () => {
    expect(
      parseDevClusterArgs([
        '--port',
        '7443',
        '--dir=/tmp/x',
        '--node',
        'a',
        '--node=b',
        '--csr-signing',
        'auto',
      ]),
    ).toEqual({ help: false, port: 7443, dir: '/tmp/x', nodes: ['a', 'b'], csrSigning: 'auto' });
    expect(parseDevClusterArgs([])).toEqual({ help: false });
    expect(() => parseDevClusterArgs(['--port', 'x'])).toThrow('invalid --port x');
    expect(() => parseDevClusterArgs(['--csr-signing', 'sometimes'])).toThrow('auto or manual');
    expect(() => parseDevClusterArgs(['--node'])).toThrow('--node needs a value');
    expect(() => parseDevClusterArgs(['--bogus'])).toThrow('unknown argument --bogus');
  });
});

describe('nodeagent-dev-cluster command', () => {
  it('writes kubeconfigs that kubectl uses, and exits 0 on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dev-cluster-'));
    const port = await freeLoopbackPort();
    // The command as bin/nodeagent-dev-cluster.js runs it, from the TypeScript source.
    const script = `import { runDevClusterCommand } from ${JSON.stringify(entry)}; process.exitCode = await runDevClusterCommand(process.argv.slice(1));`;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
        '--',
        '--port',
        String(port),
        '--dir',
        dir,
        '--node',
        'n1',
        '--csr-signing',
        'auto',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          if (stdout.includes('TLS bootstrap:')) resolve();
        });
        void exited.then(() => reject(new Error(`exited early: ${stderr}`)));
      });
      expect(stdout).toContain(`API server: https://127.0.0.1:${port}`);
      expect(stdout).toContain(`kubectl --kubeconfig ${join(dir, 'admin.kubeconfig')} get nodes`);
      expect(stdout).toContain(
        `nodeagent --kubeconfig ${join(dir, 'node-n1.kubeconfig')} --hostname-override n1`,
      );
      expect(((await stat(join(dir, 'admin.kubeconfig'))).mode & 0o777).toString(8)).toBe('600');
      expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
      const kubectl = async (kubeconfig: string, ...args: string[]): Promise<string> =>
        (await run('/usr/bin/kubectl', ['--kubeconfig', join(dir, kubeconfig), ...args])).stdout;
      expect(await kubectl('admin.kubeconfig', 'get', 'nodes')).toBe('');
      expect(await kubectl('admin.kubeconfig', 'get', 'namespaces', '-o', 'name')).toContain(
        'namespace/kube-node-lease',
      );
      expect(await kubectl('node-n1.kubeconfig', 'get', 'pods', '-A')).toBe('');
      expect(await kubectl('bootstrap.kubeconfig', 'get', 'csr')).toBe('');
      expect(
        await kubectl('admin.kubeconfig', 'get', 'secrets', '-n', 'kube-system', '-o', 'name'),
      ).toMatch(/secret\/bootstrap-token-[a-z0-9]{6}/);
    } finally {
      child.kill('SIGTERM');
      const code = await exited;
      await rm(dir, { recursive: true, force: true });
      expect(code).toBe(0);
      expect(stdout).toContain('SIGTERM: stopped');
    }
  }, 30_000);
});
