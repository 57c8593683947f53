/**
 * A local "dev cluster" for people building agents: the test API server on
 * 127.0.0.1 with TLS, plus kubeconfigs for kubectl (admin), for nodes (client
 * certificates `system:node:<name>`) and for TLS bootstrapping (a bootstrap token).
 * `nodeagent-dev-cluster` (bin/) runs it until SIGINT/SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CsrSigningMode } from './apiserver/csr.js';
import { startTestApiServer, type TestApiServer } from './apiserver/test-api-server.js';

/** Options of {@link startDevCluster}. */
export interface DevClusterOptions {
  /** TCP port on 127.0.0.1; default 6443 (kube-apiserver's secure port). */
  port?: number;
  /** Directory for `ca.crt` and the kubeconfigs; default `./.dev-cluster`. Created when missing. */
  dir?: string;
  /** Node names to write `node-<name>.kubeconfig` for. */
  nodes?: readonly string[];
  /** The server's CSR controller mode; default `manual`. */
  csrSigning?: CsrSigningMode;
}

/** Paths of the files a dev cluster writes. */
export interface DevClusterFiles {
  /** The cluster CA certificate (PEM). */
  ca: string;
  /** kubeconfig with an admin client certificate (groups `system:masters`). */
  admin: string;
  /** kubeconfig with the bootstrap token (group `system:bootstrappers`). */
  bootstrap: string;
  /** kubeconfig per node, client certificate CN `system:node:<name>`, O `system:nodes`. */
  nodes: Readonly<Record<string, string>>;
}

/** A running dev cluster. */
export interface DevCluster {
  readonly server: TestApiServer;
  /** Absolute directory of the files. */
  readonly dir: string;
  readonly files: DevClusterFiles;
  /** The bootstrap token, `<id>.<secret>` (user `system:bootstrap:<id>`). */
  readonly bootstrapToken: string;
  /** One line per way to use the cluster (kubectl, nodeagent, bootstrap). */
  readonly usage: readonly string[];
  /** Stops the server (the files stay). */
  stop(): Promise<void>;
}

const tokenAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A bootstrap token part: `[a-z0-9]{n}` from a CSPRNG (tokens are credentials). */
function tokenPart(n: number): string {
  return [...randomBytes(n)].map((b) => tokenAlphabet[b % tokenAlphabet.length]).join('');
}

const nodeNamePattern = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

async function writePrivate(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}

/**
 * Starts the API server with TLS on 127.0.0.1 and writes `ca.crt`,
 * `admin.kubeconfig`, `bootstrap.kubeconfig` and `node-<name>.kubeconfig` into
 * `dir` (kubeconfigs are mode 0600). The bootstrap token is also stored as the
 * Secret `kube-system/bootstrap-token-<id>`, as kubeadm does.
 */
export async function startDevCluster(options: DevClusterOptions = {}): Promise<DevCluster> {
  const nodes = options.nodes ?? [];
  for (const n of nodes) {
    if (!nodeNamePattern.test(n)) throw new Error(`invalid node name "${n}" (a DNS subdomain)`);
  }
  const dir = resolve(options.dir ?? './.dev-cluster');
  await mkdir(dir, { recursive: true });
  const tokenId = tokenPart(6);
  const tokenSecret = tokenPart(16);
  const bootstrapToken = `${tokenId}.${tokenSecret}`;
  const server = await startTestApiServer({
    port: options.port ?? 6443,
    tls: true,
    csrSigning: options.csrSigning ?? 'manual',
    tokens: {
      [bootstrapToken]: { name: `system:bootstrap:${tokenId}`, groups: ['system:bootstrappers'] },
    },
  });
  try {
    server.store.create(server.store.resource('secrets'), 'kube-system', {
      metadata: { name: `bootstrap-token-${tokenId}` },
      type: 'bootstrap.kubernetes.io/token',
      stringData: {
        'token-id': tokenId,
        'token-secret': tokenSecret,
        'usage-bootstrap-authentication': 'true',
        'usage-bootstrap-signing': 'true',
        'auth-extra-groups': 'system:bootstrappers',
      },
    });
    const files: DevClusterFiles = {
      ca: join(dir, 'ca.crt'),
      admin: join(dir, 'admin.kubeconfig'),
      bootstrap: join(dir, 'bootstrap.kubeconfig'),
      nodes: Object.fromEntries(nodes.map((n) => [n, join(dir, `node-${n}.kubeconfig`)])),
    };
    await writeFile(files.ca, server.caPem ?? '');
    await writePrivate(
      files.admin,
      server.kubeconfig(
        server.issueClientCertificate({ name: 'kubernetes-admin', groups: ['system:masters'] }),
      ),
    );
    await writePrivate(files.bootstrap, server.kubeconfig({ token: bootstrapToken }));
    for (const n of nodes) {
      await writePrivate(
        files.nodes[n] ?? '',
        server.kubeconfig(
          server.issueClientCertificate({ name: `system:node:${n}`, groups: ['system:nodes'] }),
        ),
      );
    }
    const usage = [
      `API server: ${server.url} (CA ${files.ca}; CSR signing ${options.csrSigning ?? 'manual'})`,
      `kubectl: kubectl --kubeconfig ${files.admin} get nodes   (create/apply need --validate=false)`,
      ...nodes.map(
        (n) =>
          `nodeagent (node ${n}): nodeagent --kubeconfig ${files.nodes[n] ?? ''} --hostname-override ${n}`,
      ),
      `TLS bootstrap: ${files.bootstrap} (token user system:bootstrap:${tokenId}, group system:bootstrappers) as a kubelet's --bootstrap-kubeconfig`,
    ];
    return { server, dir, files, bootstrapToken, usage, stop: () => server.stop() };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** Parses `nodeagent-dev-cluster` arguments; throws an Error with a usage message. */
export function parseDevClusterArgs(
  argv: readonly string[],
): DevClusterOptions & { help: boolean } {
  const out: DevClusterOptions & { help: boolean } = { help: false };
  const nodes: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--port': {
        const v = value();
        const port = Number(v);
        if (!/^\d+$/.test(v) || port < 0 || port > 65535) throw new Error(`invalid --port ${v}`);
        out.port = port;
        break;
      }
      case '--dir':
        out.dir = value();
        break;
      case '--node':
        nodes.push(value());
        break;
      case '--csr-signing': {
        const v = value();
        if (v !== 'auto' && v !== 'manual')
          throw new Error(`--csr-signing must be auto or manual, not ${v}`);
        out.csrSigning = v;
        break;
      }
      case '-h':
      case '--help':
        out.help = true;
        break;
      default:
        throw new Error(`unknown argument ${arg}`);
    }
  }
  if (nodes.length > 0) out.nodes = nodes;
  return out;
}

/** Usage text of `nodeagent-dev-cluster`. */
export const devClusterUsage = `Usage: nodeagent-dev-cluster [--port 6443] [--dir ./.dev-cluster] [--node NAME]... [--csr-signing manual|auto]

Runs a local Kubernetes API server (the @nodeagent/testkit test API server) on
127.0.0.1 with TLS, writes ca.crt, admin.kubeconfig, bootstrap.kubeconfig and
node-NAME.kubeconfig into --dir, and serves until SIGINT or SIGTERM.`;

/** Where {@link runDevClusterCommand} writes and which signals it waits for. */
export interface DevClusterCommandIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Process-like signal source; default `process`. */
  signals: {
    once(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
    off(signal: 'SIGINT' | 'SIGTERM', listener: () => void): unknown;
  };
}

/**
 * The `nodeagent-dev-cluster` command: starts the dev cluster, prints how to use
 * it, waits for SIGINT/SIGTERM, stops. Resolves with the exit code (0 after a
 * clean stop, 2 for bad arguments, 1 when the server cannot start).
 */
export async function runDevClusterCommand(
  argv: readonly string[],
  io: DevClusterCommandIo = { stdout: process.stdout, stderr: process.stderr, signals: process },
): Promise<number> {
  let opts: ReturnType<typeof parseDevClusterArgs>;
  try {
    opts = parseDevClusterArgs(argv);
  } catch (err) {
    io.stderr.write(`nodeagent-dev-cluster: ${(err as Error).message}\n${devClusterUsage}\n`);
    return 2;
  }
  if (opts.help) {
    io.stdout.write(`${devClusterUsage}\n`);
    return 0;
  }
  const { help: _help, ...options } = opts;
  let cluster: DevCluster;
  try {
    cluster = await startDevCluster(options);
  } catch (err) {
    io.stderr.write(`nodeagent-dev-cluster: ${(err as Error).message}\n`);
    return 1;
  }
  for (const line of cluster.usage) io.stdout.write(`${line}\n`);
  const signal = await new Promise<string>((resolveSignal) => {
    const onInt = (): void => done('SIGINT');
    const onTerm = (): void => done('SIGTERM');
    const done = (name: string): void => {
      io.signals.off('SIGINT', onInt);
      io.signals.off('SIGTERM', onTerm);
      resolveSignal(name);
    };
    io.signals.once('SIGINT', onInt);
    io.signals.once('SIGTERM', onTerm);
  });
  await cluster.stop();
  io.stdout.write(`${signal}: stopped\n`);
  return 0;
}
