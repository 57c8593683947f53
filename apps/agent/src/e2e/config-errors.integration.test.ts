/**
 * End to end: `nodeagent` started with a bad KubeletConfiguration value refuses to
 * start — as the kubelet does when its config fails validation — before it touches
 * anything: it exits non-zero at once with one clear message naming the file and the
 * field, never connects to the container runtime (so never creates a sandbox), never
 * calls the API server, never creates its root directory and logs nothing else.
 *
 * Needs no real runtime: the runtime endpoint is a unix socket this test listens on
 * and counts connections to, and the API server is the in-process testkit one. It is
 * an integration test because it runs the built command (`dist/cli.js`).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort, startTestApiServer, type TestApiServer } from '@nodeagent/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sysctlRootEnv, writeSysctlStandIn } from '../kernel-defaults.js';

const cliPath = join(dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');
const nodeName = 'config-errors-node';
/** Generous bound for "exits at once": only a hang (or a started agent) reaches it. */
const exitBoundMs = 15_000;

let server: TestApiServer;
let workDir: string;
let criServer: Server;
let criConnections: number;
const criSockets = new Set<Socket>();
let caseDir: string;
let caseNo = 0;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process had to be killed because it did not exit by itself. */
  killed: boolean;
}

/** Runs the agent with `fields` appended to an otherwise valid config; resolves when it exits. */
function runAgent(configPath: string, fields: string, until?: () => boolean): Promise<RunResult> {
  const manifests = join(caseDir, 'manifests');
  mkdirSync(manifests, { recursive: true });
  // A static pod the agent would run at once if it started.
  writeFileSync(
    join(manifests, 'static.yaml'),
    [
      'apiVersion: v1',
      'kind: Pod',
      'metadata:',
      '  name: must-not-run',
      'spec:',
      '  hostNetwork: true',
      '  containers:',
      '    - name: main',
      '      image: busybox',
      '',
    ].join('\n'),
  );
  writeFileSync(
    configPath,
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'makeIPTablesUtilChains: false', // tests never change the host firewall
      `containerRuntimeEndpoint: unix://${join(workDir, 'cri.sock')}`,
      `staticPodPath: ${manifests}`,
      `podLogsDir: ${join(caseDir, 'logs')}`,
      'address: 127.0.0.1',
      `port: ${nodeApiPort}`,
      fields,
      '',
    ].join('\n'),
  );
  const kubeconfig = join(caseDir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    server.kubeconfig(
      server.issueClientCertificate({ name: `system:node:${nodeName}`, groups: ['system:nodes'] }),
    ),
    { mode: 0o600 },
  );
  const child = spawn(
    process.execPath,
    [
      cliPath,
      '--config',
      configPath,
      '--kubeconfig',
      kubeconfig,
      '--hostname-override',
      nodeName,
      '--root-dir',
      join(caseDir, 'root'),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, [sysctlRootEnv]: join(workDir, 'proc-sys') },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise<RunResult>((resolve) => {
    let killed = false;
    const kill = (): void => {
      killed = true;
      child.kill('SIGKILL');
    };
    const bound = setTimeout(kill, exitBoundMs);
    const poll = until
      ? setInterval(() => {
          if (until()) kill();
        }, 50)
      : undefined;
    child.once('close', (code, signal) => {
      clearTimeout(bound);
      if (poll) clearInterval(poll);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

let nodeApiPort: number;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'na-config-errors-'));
  await writeSysctlStandIn(join(workDir, 'proc-sys'));
  nodeApiPort = await freeLoopbackPort();
  criConnections = 0;
  criServer = createServer((socket) => {
    criConnections += 1;
    criSockets.add(socket);
    socket.on('close', () => criSockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => criServer.listen(join(workDir, 'cri.sock'), resolve));
  server = await startTestApiServer({ tls: true });
});

afterAll(async () => {
  for (const s of criSockets) s.destroy();
  await new Promise<void>((resolve) => criServer.close(() => resolve()));
  await server.stop();
  rmSync(workDir, { recursive: true, force: true });
});

beforeEach(() => {
  caseNo += 1;
  caseDir = join(workDir, `case-${caseNo}`);
  mkdirSync(caseDir);
  criConnections = 0;
});

afterEach(() => {
  for (const s of criSockets) s.destroy();
});

interface BadCase {
  what: string;
  fields: string;
  /** The field as the message names it. */
  field: string;
  /** What the message says about it. */
  says: RegExp;
}

const badCases: BadCase[] = [
  {
    what: 'imageGCHighThresholdPercent above 100',
    fields: 'imageGCHighThresholdPercent: 101',
    field: 'imageGCHighThresholdPercent',
    says: /between 0 and 100/,
  },
  {
    what: 'imageGCLowThresholdPercent not below imageGCHighThresholdPercent',
    fields: 'imageGCHighThresholdPercent: 80\nimageGCLowThresholdPercent: 80',
    field: 'imageGCLowThresholdPercent',
    says: /less than imageGCHighThresholdPercent/,
  },
  {
    what: 'imageMaximumGCAge not above imageMinimumGCAge',
    fields: 'imageMinimumGCAge: 2m\nimageMaximumGCAge: 1m',
    field: 'imageMaximumGCAge',
    says: /imageMaximumGCAge 1m0s must be greater than imageMinimumGCAge 2m0s/,
  },
  {
    what: 'evictionHard with an unknown signal',
    fields: 'evictionHard:\n  disk.available: "10%"',
    field: 'evictionHard["disk.available"]',
    says: /unsupported eviction signal "disk.available"/,
  },
  {
    what: 'evictionHard with a bad quantity',
    fields: 'evictionHard:\n  memory.available: "100Mx"',
    field: 'evictionHard["memory.available"]',
    says: /quantity "100Mx" is invalid/,
  },
  {
    what: 'evictionHard with a percentage above 100',
    fields: 'evictionHard:\n  nodefs.available: "120%"',
    field: 'evictionHard["nodefs.available"]',
    says: /must be <= 100%/,
  },
  {
    what: 'evictionSoft without a grace period',
    fields: 'evictionSoft:\n  memory.available: "200Mi"',
    field: 'evictionSoft["memory.available"]',
    says: /grace period must be specified.*evictionSoftGracePeriod/,
  },
  {
    what: 'evictionSoftGracePeriod with a bad duration',
    fields:
      'evictionSoft:\n  memory.available: "200Mi"\nevictionSoftGracePeriod:\n  memory.available: "1x"',
    field: 'evictionSoftGracePeriod["memory.available"]',
    says: /invalid duration "1x"/,
  },
  {
    what: 'evictionPressureTransitionPeriod with a bad duration',
    fields: 'evictionPressureTransitionPeriod: 5 minutes',
    field: 'evictionPressureTransitionPeriod',
    says: /invalid duration "5 minutes"/,
  },
  {
    what: 'evictionMinimumReclaim with a bad quantity',
    fields: 'evictionMinimumReclaim:\n  nodefs.available: "abc"',
    field: 'evictionMinimumReclaim["nodefs.available"]',
    says: /quantity "abc" is invalid/,
  },
  {
    what: 'a negative evictionMaxPodGracePeriod',
    fields: 'evictionMaxPodGracePeriod: -5',
    field: 'evictionMaxPodGracePeriod',
    says: /non-negative/,
  },
];

describe('nodeagent with a bad configuration value', () => {
  it('with a valid configuration gets as far as the runtime (the harness sees a start)', async () => {
    const result = await runAgent(
      join(caseDir, 'config.yaml'),
      'evictionHard:\n  nodefs.available: "10%"',
      () => criConnections > 0,
    );
    // It did start: the runtime socket was dialled (the test's socket speaks no gRPC,
    // so the agent would go no further) — what every bad case below must not do.
    expect(criConnections).toBeGreaterThan(0);
    expect(result.stderr + result.stdout).toContain('Starting nodeagent');
  }, 30_000);

  for (const bad of badCases) {
    it(`refuses ${bad.what}: one message naming the file and the field, nothing started`, async () => {
      const configPath = join(caseDir, 'config.yaml');
      const requestsBefore = server.requests.length;
      const result = await runAgent(configPath, bad.fields);

      expect(result.killed, `still running after ${exitBoundMs} ms:\n${result.stderr}`).toBe(false);
      expect(result.code).toBe(1);
      // One message on stderr, nothing logged: the agent never got to start.
      expect(result.stdout).toBe('');
      const message = result.stderr.trim();
      expect(message.match(/nodeagent:/g)).toHaveLength(1);
      expect(message.startsWith(`nodeagent: ${configPath}: invalid KubeletConfiguration:`)).toBe(
        true,
      );
      expect(message).toContain(bad.field);
      expect(message).toMatch(bad.says);
      expect(message).not.toMatch(/^\s+at /m); // no stack trace
      expect(message.split('\n').length).toBeLessThanOrEqual(2);
      // Nothing started: no runtime connection (so no sandbox), no API call, no root dir.
      expect(criConnections).toBe(0);
      expect(server.requests.length).toBe(requestsBefore);
      expect(existsSync(join(caseDir, 'root'))).toBe(false);
      expect(existsSync(join(caseDir, 'logs'))).toBe(false);
    }, 30_000);
  }
});
