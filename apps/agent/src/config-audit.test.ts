import 'reflect-metadata';
import { chmod, copyFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  runConfigAuditCommand,
  type AuditCheck,
  type ConfigAuditFlags,
  type FileFacts,
} from './config-audit.js';
import { parseCommandLine } from './config/flags.js';
import { runCommand } from './main.js';

const exampleConfig = fileURLToPath(
  new URL('../../../examples/kubelet-config.yaml', import.meta.url),
);
const deployConfig = fileURLToPath(new URL('../deploy/config.yaml', import.meta.url));
const header = 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

/** Every file owned by root unless listed (tests do not depend on who runs them). */
function statAs(
  owners: Record<string, { uid: number; gid: number }> = {},
): (path: string) => Promise<FileFacts | undefined> {
  return async (path) => {
    // The CA files the crafted configs name exist on a real node, not here.
    if (path === '/etc/ca.crt' || path === '/etc/kubernetes/pki/ca.crt')
      return { mode: 0o600, uid: 0, gid: 0 };
    try {
      const s = await stat(path);
      return { mode: s.mode & 0o7777, ...(owners[path] ?? { uid: 0, gid: 0 }) };
    } catch {
      return undefined;
    }
  };
}

describe('nodeagent config audit', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeagent-audit-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function audit(
    body: string | undefined,
    extra: Partial<ConfigAuditFlags> & {
      owners?: Record<string, { uid: number; gid: number }>;
    } = {},
  ): Promise<{ code: number; checks: AuditCheck[]; byId: Map<string, AuditCheck> }> {
    const path = join(dir, 'config.yaml');
    if (body !== undefined) {
      await writeFile(path, header + body, { mode: 0o600 });
      await chmod(path, 0o600);
    }
    const out = capture();
    const err = capture();
    const code = await runConfigAuditCommand(
      {
        agent: { ...(body !== undefined ? { config: path } : {}), ...extra.agent },
        overrides: extra.overrides ?? {},
        output: 'json',
        ...(extra.bootstrapKubeconfig !== undefined
          ? { bootstrapKubeconfig: extra.bootstrapKubeconfig }
          : {}),
      },
      { stdout: out.stream, stderr: err.stream },
      { stat: statAs(extra.owners), hostname: () => 'node-a' },
    );
    expect(err.text()).toBe('');
    const checks = (JSON.parse(out.text()) as { checks: AuditCheck[] }).checks;
    return { code, checks, byId: new Map(checks.map((c) => [c.id, c])) };
  }

  const hardened = `
authentication: { anonymous: { enabled: false }, x509: { clientCAFile: /etc/ca.crt } }
authorization: { mode: Webhook }
readOnlyPort: 0
serverTLSBootstrap: true
rotateCertificates: true
tlsCipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_128_GCM_SHA256]
podPidsLimit: 1024
seccompDefault: true
`;

  it.each([
    ['the documented example (examples/kubelet-config.yaml)', exampleConfig],
    ['the systemd unit configuration (apps/agent/deploy/config.yaml)', deployConfig],
  ])(
    '%s has no FAIL and no WARN; 4.2.6 passes now that the iptables chains are made',
    async (_name, source) => {
      const path = join(dir, 'kubelet-config.yaml');
      await copyFile(source, path);
      await chmod(path, 0o600);
      const out = capture();
      const code = await runConfigAuditCommand(
        { agent: { config: path }, overrides: {}, output: 'json' },
        { stdout: out.stream, stderr: capture().stream },
        { stat: statAs(), hostname: () => 'node-a' },
      );
      const checks = (JSON.parse(out.text()) as { checks: AuditCheck[] }).checks;
      expect(checks.filter((c) => c.status === 'FAIL')).toEqual([]);
      expect(code).toBe(0);
      expect(checks.filter((c) => c.status === 'WARN').map((c) => c.id)).toEqual([]);
      expect(checks.find((c) => c.id === '4.2.6')).toMatchObject({ status: 'PASS' });
      expect(checks.find((c) => c.id === '4.2.6')?.reason).toMatch(
        /nodeagent creates the kubelet's iptables chains at start \(KUBE-IPTABLES-HINT/,
      );
      const byId = new Map(checks.map((c) => [c.id, c]));
      expect(byId.get('4.2.5')?.reason).toMatch(/^streamingConnectionIdleTimeout is 5m0s:/);
      expect(byId.get('4.2.14')?.status).toBe('PASS');
      expect(byId.get('1.8-4.2.6')?.status).toBe('PASS');
      expect(byId.get('1.8-4.2.6')?.reason).toMatch(/vm\.overcommit_memory=1, vm\.panic_on_oom=0/);
      expect(checks).toHaveLength(21);
    },
  );

  it('seccompDefault, protectKernelDefaults and streamingConnectionIdleTimeout read the effective values', async () => {
    const unset = await audit(hardened.replace('seccompDefault: true\n', ''));
    expect(unset.byId.get('4.2.14')).toMatchObject({ status: 'FAIL' });
    expect(unset.byId.get('4.2.14')?.reason).toMatch(/not set \(false\)/);
    expect(unset.byId.get('4.2.5')).toMatchObject({ status: 'PASS' });
    expect(unset.byId.get('4.2.5')?.reason).toMatch(
      /^streamingConnectionIdleTimeout is 4h0m0s \(the default\)/,
    );
    expect(unset.byId.get('1.8-4.2.6')).toMatchObject({ status: 'WARN' });
    expect(unset.byId.get('1.8-4.2.6')?.reason).toMatch(/nodeagent sets the kernel tunables/);
    const set = await audit(
      `${hardened}protectKernelDefaults: true\nstreamingConnectionIdleTimeout: 90s\n`,
    );
    expect(set.byId.get('1.8-4.2.6')).toMatchObject({ status: 'PASS' });
    expect(set.byId.get('4.2.5')?.reason).toMatch(/^streamingConnectionIdleTimeout is 1m30s:/);
    expect(set.byId.get('4.2.14')).toMatchObject({ status: 'PASS' });
    // A malformed duration is refused by the configuration loader, before the checks.
    const err = capture();
    const path = join(dir, 'bad.yaml');
    await writeFile(path, `${header}streamingConnectionIdleTimeout: 5 minutes\n`, { mode: 0o600 });
    const code = await runConfigAuditCommand(
      { agent: { config: path }, overrides: {}, output: 'json' },
      { stdout: capture().stream, stderr: err.stream },
      { stat: statAs(), hostname: () => 'node-a' },
    );
    expect(code).toBe(1);
    expect(err.text()).toMatch(/KubeletConfiguration\.streamingConnectionIdleTimeout/);
  });

  it('the bare defaults fail what CIS wants set explicitly', async () => {
    const { code, byId } = await audit(undefined);
    expect(code).toBe(1);
    const failed = [...byId.values()].filter((c) => c.status === 'FAIL').map((c) => c.id);
    expect(failed.sort()).toEqual(['4.2.12', '4.2.13', '4.2.14', '4.2.3', '4.2.9']);
    expect(byId.get('4.2.1')?.status).toBe('PASS');
    expect(byId.get('4.2.2')?.status).toBe('PASS');
    expect(byId.get('4.2.4')?.status).toBe('PASS');
    expect(byId.get('4.2.10')?.reason).toMatch(/not set/);
    expect(byId.get('4.2.11')?.status).toBe('WARN');
    expect(byId.get('4.1.9')?.reason).toMatch(/no --config file/);
  });

  it.each([
    ['4.2.1', 'authentication: { anonymous: { enabled: true } }', /anonymous.enabled is true/],
    ['4.2.2', 'authorization: { mode: AlwaysAllow }', /AlwaysAllow/],
    ['4.2.4', 'readOnlyPort: 10255', /readOnlyPort is 10255/],
    ['4.2.5', 'streamingConnectionIdleTimeout: 0s', /is 0/],
    ['4.2.6', 'makeIPTablesUtilChains: false', /makeIPTablesUtilChains is false/],
    ['4.2.9', 'serverTLSBootstrap: false\ntlsCertFile: /x.crt', /only one of/],
    ['4.2.10', 'rotateCertificates: false', /set to false/],
    ['4.2.11', 'featureGates: { RotateKubeletServerCertificate: false }', /is false/],
    [
      '4.2.12',
      'tlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]',
      /outside the CIS list: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA/,
    ],
    ['4.2.13', 'podPidsLimit: -1', /not set/],
    ['4.2.14', 'seccompDefault: false', /seccompDefault is false/],
  ])('%s fails on %s', async (id, line, reason) => {
    // The hardened config with one line changed (YAML: the later key would be a duplicate, so replace).
    const key = line.split(':')[0] ?? '';
    const body = hardened
      .split('\n')
      .filter((l) => !l.startsWith(`${key}:`))
      .join('\n');
    const { code, byId } = await audit(`${body}\n${line}\n`);
    expect(byId.get(id)?.status).toBe('FAIL');
    expect(byId.get(id)?.reason).toMatch(reason);
    expect(code).toBe(1);
  });

  it('passes the hardened settings, and reports hostname override, event QPS 0 and protectKernelDefaults as WARN', async () => {
    const ok = await audit(hardened);
    expect([...ok.byId.values()].filter((c) => c.status === 'FAIL')).toEqual([]);
    expect(ok.code).toBe(0);
    expect(ok.byId.get('4.2.9')?.reason).toMatch(/serverTLSBootstrap/);
    const warned = await audit(`${hardened}eventRecordQPS: 0\n`, {
      agent: { hostnameOverride: 'other' },
    });
    expect(warned.byId.get('4.2.7')).toMatchObject({ status: 'WARN' });
    expect(warned.byId.get('4.2.7')?.reason).toMatch(/node name other/);
    expect(warned.byId.get('4.2.8')).toMatchObject({ status: 'WARN' });
    expect(warned.byId.get('1.8-4.2.6')).toMatchObject({ status: 'WARN' });
    expect(warned.code).toBe(0);
    // TLS files instead of serverTLSBootstrap also pass 4.2.9 and 4.2.11.
    const files = await audit(
      `${hardened.replace('serverTLSBootstrap: true', 'serverTLSBootstrap: false')}tlsCertFile: /a.crt\ntlsPrivateKeyFile: /a.key\n`,
    );
    expect(files.byId.get('4.2.9')?.status).toBe('PASS');
    expect(files.byId.get('4.2.11')?.status).toBe('PASS');
  });

  it('flags override the file as they do for the kubelet', async () => {
    const { byId } = await audit(hardened, {
      overrides: { anonymousAuth: true, readOnlyPort: 10255, rotateCertificates: false },
    });
    expect(byId.get('4.2.1')?.status).toBe('FAIL');
    expect(byId.get('4.2.4')?.status).toBe('FAIL');
    expect(byId.get('4.2.10')?.status).toBe('FAIL');
  });

  it('checks permissions (600 or stricter) and root:root ownership of the config, kubeconfig, CA and bootstrap files', async () => {
    const kubeconfig = join(dir, 'kubelet.conf');
    const ca = join(dir, 'ca.crt');
    const bootstrap = join(dir, 'bootstrap.kubeconfig');
    await writeFile(kubeconfig, 'x', { mode: 0o644 });
    await chmod(kubeconfig, 0o644);
    await writeFile(ca, 'x', { mode: 0o400 });
    await chmod(ca, 0o400);
    await writeFile(bootstrap, 'x');
    await chmod(bootstrap, 0o600);
    const body = hardened.replace('/etc/ca.crt', ca);
    const r = await audit(body, {
      agent: { kubeconfig },
      bootstrapKubeconfig: bootstrap,
      owners: { [bootstrap]: { uid: 1000, gid: 0 } },
    });
    expect(r.byId.get('4.1.5')).toMatchObject({ status: 'FAIL' });
    expect(r.byId.get('4.1.5')?.reason).toMatch(/mode 644; run chmod 600/);
    expect(r.byId.get('4.1.6')?.status).toBe('PASS');
    expect(r.byId.get('4.1.7')?.status).toBe('PASS');
    expect(r.byId.get('4.1.7')?.reason).toMatch(/mode 400/);
    expect(r.byId.get('4.1.8')?.status).toBe('PASS');
    expect(r.byId.get('4.1.9')?.status).toBe('PASS');
    expect(r.byId.get('4.1.10')?.status).toBe('PASS');
    expect(r.byId.get('4.1.5-bootstrap')?.status).toBe('PASS');
    expect(r.byId.get('4.1.6-bootstrap')).toMatchObject({ status: 'FAIL' });
    expect(r.byId.get('4.1.6-bootstrap')?.reason).toMatch(/uid 1000/);
    expect(r.code).toBe(1);
    // A missing kubeconfig named on the command line fails too.
    const missing = await audit(hardened, { agent: { kubeconfig: join(dir, 'nope') } });
    expect(missing.byId.get('4.1.5')?.reason).toMatch(/does not exist/);
  });

  it('prints a table through the command line and exits 1 on a FAIL', async () => {
    const path = join(dir, 'c.yaml');
    await writeFile(path, `${header}readOnlyPort: 10255\n`);
    const out = capture();
    const err = capture();
    const code = await runCommand(['config', 'audit', '--config', path, '--anonymous-auth=false'], {
      stdout: out.stream,
      stderr: err.stream,
    });
    expect(code).toBe(1);
    const text = out.text();
    expect(text.split('\n')[0]).toMatch(/^ID\s+STATUS\s+CHECK$/);
    expect(text).toMatch(
      /4\.2\.4\s+FAIL\s+Verify that the --read-only-port argument is set to 0\n\s+↳ readOnlyPort is 10255/,
    );
    expect(text).toMatch(/4\.2\.1\s+PASS/);
    expect(text).toMatch(/\d+ passed, \d+ failed, \d+ warnings\n$/);
  });

  it('reports an unreadable or invalid configuration with exit code 1', async () => {
    const err = capture();
    const code = await runConfigAuditCommand(
      { agent: { config: join(dir, 'missing.yaml') }, overrides: {}, output: 'table' },
      { stdout: capture().stream, stderr: err.stream },
    );
    expect(code).toBe(1);
    expect(err.text()).toMatch(/cannot read the file: no such file/);
  });

  it('parses the config audit command line', () => {
    expect(
      parseCommandLine([
        'config',
        'audit',
        '--config',
        '/c.yaml',
        '--kubeconfig',
        '/k',
        '--bootstrap-kubeconfig',
        '/b',
        '--rotate-certificates',
        '--rotate-server-certificates=false',
        '--read-only-port',
        '0',
        '--authorization-mode',
        'Webhook',
        '-o',
        'json',
      ]),
    ).toEqual({
      kind: 'config-audit',
      flags: {
        agent: { config: '/c.yaml', kubeconfig: '/k' },
        bootstrapKubeconfig: '/b',
        overrides: {
          rotateCertificates: true,
          serverTLSBootstrap: false,
          readOnlyPort: 0,
          authorizationMode: 'Webhook',
        },
        output: 'json',
      },
    });
    expect(parseCommandLine(['config', 'audit', '--help'])).toEqual({
      kind: 'help',
      topic: 'config-audit',
    });
    expect(() => parseCommandLine(['config', 'audit', '--anonymous-auth=maybe'])).toThrow(
      /--anonymous-auth: invalid value "maybe"/,
    );
    expect(() => parseCommandLine(['config', 'audit', '-o', 'wide'])).toThrow(/--output/);
    expect(() => parseCommandLine(['config', 'show'])).toThrow(/unknown command "config show"/);
    expect(() => parseCommandLine(['config', 'audit', '--read-only-port', 'x'])).toThrow(
      /--read-only-port/,
    );
  });
});
